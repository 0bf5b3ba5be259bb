"""``muster training`` and ``muster hours`` against a Tencent Meeting sandbox served on loopback, and its place
in ``muster sandbox serve``."""

import json
import threading
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from pydantic import SecretStr
from rich.console import Console

import state
from connectors._serve import serve
from connectors.tencent_meeting import TencentMeetingConnector, TencentMeetingSandbox
from flows.cli import main
from flows.demo import generate, seed_sandboxes
from flows.sandbox_serve import serve_sandboxes
from mappings.hours import SHANGHAI
from mappings.models import Identity, Person, RoleAssignment

POLICY = """\
version: 1
roles:
  volunteer: {name: 志愿者}
  counsellor: {name: 心理咨询师}
teams:
  community: {name: 社区服务组}
  training: {name: 培训组}
"""
CONFIG = """\
coalition: 测试联盟
services:
  wecom:
    corpid: ww0001
    corpsecret: {{env: MUSTER_WECOM_SECRET}}
    agentid: 1000002
meetings:
  tencent_meeting:
    base_url: {base_url}
    app_id: "{app_id}"
    sdk_id: "{sdk_id}"
    secret_id: {secret_id}
    secret_key: {{env: MUSTER_TM_SECRET}}
    operator_id: admin
    userid_from: wecom
    organiser: 测试联盟培训组
    rate_limit: false
"""
START = datetime(2026, 11, 25, 19, 0, tzinfo=SHANGHAI)


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


@pytest.fixture(scope="module")
def loopback():
    current = {}
    server = serve(lambda request: current["sandbox"](request), 0)
    yield current, f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=lambda: (server.shutdown(), server.server_close()), daemon=True).start()


@pytest.fixture
def tenant(loopback, tmp_path, monkeypatch):
    current, base_url = loopback
    tm = TencentMeetingSandbox(seed=9, rate_limits=False)
    for userid, name in (("wx1", "张三"), ("wx2", "李四"), ("ext9", "访客")):
        tm.add_user(userid, name)
    current["sandbox"] = tm
    creds = tm.credentials
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "muster.yaml").write_text(CONFIG.format(base_url=base_url, **creds), encoding="utf-8")
    monkeypatch.setenv("MUSTER_TM_SECRET", creds["secret_key"])
    monkeypatch.chdir(tmp_path)
    db = state.open_db(tmp_path / "muster.db")
    volunteer = (RoleAssignment(role="volunteer"),)
    state.upsert_people(db, [
        Person(id="P1", name="张三", team="community", roles=volunteer, attributes={"id_number": "110101199003071234"}),
        Person(id="P2", name="李四", team="community", roles=volunteer),
        Person(id="P4", name="赵六", team="community", roles=volunteer),
    ])
    state.link(db, [Identity(service="wecom", external_id="wx1", person_id="P1"),
                    Identity(service="wecom", external_id="wx2", person_id="P2")])
    return tm, db


def schedule(capsys, *extra):
    return run(["training", "schedule", "--subject", "心理援助培训", "--start", "2026-11-25 19:00", "--minutes", "90",
                "--to", "team:社区服务组", *extra], capsys)


def test_schedule_is_idempotent_and_says_who_has_no_account(tenant, capsys):
    tm, db = tenant
    code, out = schedule(capsys)
    assert code == 0, out
    (meeting_id,) = tm.meetings
    assert f"scheduled: meeting {meeting_id} '心理援助培训' 2026-11-25 19:00–20:30 (Asia/Shanghai)" in out
    assert "organiser 测试联盟培训组" in out and "invitees: 2 of 3 people in scope" in out
    assert "in scope but with no meeting account (1): P4 赵六" in out
    assert tm.meetings[meeting_id]["invitees"] == ["wx1", "wx2"]
    assert tm.meetings[meeting_id]["start"] == int(START.timestamp())
    code, out = schedule(capsys)
    assert code == 0 and f"already scheduled: meeting {meeting_id}" in out and len(tm.meetings) == 1
    code, out = run(["training", "list"], capsys)
    assert code == 0 and meeting_id in out and "2026-11-25 19:00   90 min  created" in out
    assert "team:community  心理援助培训" in out and "1 training meeting(s)" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--start", "next tuesday"], "error: --start 'next tuesday': use YYYY-MM-DD HH:MM"),
    (["--to", "team:火星组"], "error: scope 'team:火星组': no team '火星组' in the policy"),
    (["--minutes", "0"], "error: --minutes 0: a training lasts 1 to 1440 minutes"),
    (["--host", "P4"], "error: --host P4 (赵六) has no tencent_meeting account"),
])
def test_bad_schedule_input_is_one_error_line(tenant, capsys, argv, message):
    tm, db = tenant
    base = {"--subject": "培训", "--start": "2026-11-25 19:00", "--minutes": "90", "--to": "all"}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    code, out = run(["training", "schedule", *[x for kv in base.items() for x in kv]], capsys)
    assert code == 1 and message in out
    assert sum(line.startswith("error:") for line in out.splitlines()) == 1
    assert tm.meetings == {} and state.known_meetings(db, created_only=False) == []


def test_hours_collect_confirm_correct_and_export(tenant, capsys, tmp_path):
    tm, db = tenant
    assert schedule(capsys)[0] == 0
    (meeting_id,) = tm.meetings
    for userid, a, b in (("wx1", 0, 30), ("wx1", 20, 60), ("wx2", 0, 35), ("ext9", 0, 50)):
        tm.record_join(meeting_id, userid, START + timedelta(minutes=a), START + timedelta(minutes=b))
    code, out = run(["hours"], capsys)
    assert code == 0, out
    assert "read 1 meeting(s): 4 joins (4 new); records 3 new, 0 updated, 0 unchanged" in out
    assert "linked wx1 to P1 (userid_from:wecom)" in out
    assert "not credited until linked: 访客 (ext9) in meeting" in out and "50 min" in out
    ids = {r["external_id"]: r["id"] for r in state.hours_ledger(db)}
    line = next(x for x in out.splitlines() if x.lstrip().startswith(f"{ids['wx1']}  P1 张三"))
    assert line.split()[-4:] == ["2026-11-25", "60", "1", "computed"]
    assert "2 record(s), 1 unmatched participant(s)" in out

    requests = tm.requests
    code, out = run(["hours", "--no-collect"], capsys)
    assert code == 0 and tm.requests == requests and "read " not in out and "2 record(s)" in out

    code, out = run(["hours", "confirm", "--meeting", meeting_id, "--by", "协调员甲"], capsys)
    assert code == 0 and "confirmed 2 record(s) by 协调员甲" in out
    assert f"record {ids['ext9']} skipped: not credited until linked to a person" in out

    code, out = run(["hours", "correct", str(ids["wx2"]), "--hours", "1", "--reason", " ", "--by", "甲"], capsys)
    assert code == 1 and "error: --reason: say why the hours are corrected" in out
    assert state.hours_corrections(db) == []
    code, out = run(["hours", "correct", str(ids["wx2"]), "--hours", "1", "--reason", "漏记", "--by", "甲"], capsys)
    assert code == 0 and f"record {ids['wx2']}: 1 h credited (computed 0.5 h), by 甲" in out
    code, out = run(["hours", "--no-collect"], capsys)
    assert "1 (was 0.5)" in out and "corrected" in out

    code, out = run(["hours", "export", "--out", "out", "--from", "2026-11-01", "--to", "2026-11-30"], capsys)
    assert code == 0 and "exported 2 record(s)" in out
    (xlsx,) = (tmp_path / "out").glob("hours-*.xlsx")
    rows = list(load_workbook(xlsx)["服务记录 records"].iter_rows(values_only=True))
    assert rows[1:] == [("张三", "110***********1234", "心理援助培训", "2026-11-25", 1, "测试联盟培训组"),
                        ("李四", None, "心理援助培训", "2026-11-25", 1, "测试联盟培训组")]
    actions = [e["action"] for e in state.audit_entries(db)]
    assert actions == ["create meeting", "confirm hours", "confirm hours", "correct hours", "export hours"]


@pytest.mark.parametrize(("argv", "message"), [
    (["hours", "confirm", "--by", "甲"], "error: give record ids or --meeting"),
    (["hours", "confirm", "7", "--by", "甲"], "error: no hours record 7"),
    (["hours", "correct", "7", "--hours", "1", "--reason", "x", "--by", "甲"], "error: no hours record 7"),
    (["hours", "export", "--from", "2026-13-01"], "error: --from '2026-13-01': use YYYY-MM-DD"),
    (["hours", "export", "--from", "2026-12-02", "--to", "2026-12-01"], "error: --from 2026-12-02 is after --to"),
    (["hours", "--meeting", "42"], "error: no training meeting 42 is known"),
])
def test_bad_hours_input_is_one_error_line_and_writes_nothing(tenant, capsys, tmp_path, argv, message):
    tm, db = tenant
    code, out = run(argv, capsys)
    assert code == 1 and message in out
    assert not list(tmp_path.glob("hours-*")) and state.audit_entries(db) == []


def test_sandbox_serve_lists_tencent_meeting_with_the_wecom_users(tmp_path):
    stop, info = threading.Event(), tmp_path / "info.json"
    with open(tmp_path / "serve.log", "w") as log:
        thread = threading.Thread(target=serve_sandboxes, daemon=True, kwargs={
            "console": Console(file=log), "port": 0, "info": info, "people": 6, "seed": 5, "stop": stop})
        thread.start()
        for _ in range(250):
            if info.exists() and info.read_text().strip().endswith("}"):
                break
            threading.Event().wait(0.02)
        try:
            described = json.loads(info.read_text())["tencent_meeting"]
            assert set(described) >= {"base_url", "app_id", "sdk_id", "secret_id", "secret_key", "operator_id"}
            assert described["userid_from"] == "wecom" and described["base_url"].startswith("http://127.0.0.1:")
            creds = {k: described[k] for k in ("base_url", "app_id", "sdk_id", "secret_id", "operator_id")}
            connector = TencentMeetingConnector(**creds, secret_key=SecretStr(described["secret_key"]),
                                                rate_limit=False)
            connector.check()
            wecom_users = seed_sandboxes(generate(6, 5), 5)[0]["wecom"].users
            assert described["users"] == len(wecom_users) + 1  # and the operator
            userid = sorted(wecom_users)[0]
            assert connector.client.get(f"/v1/users/{userid}")["username"] == wecom_users[userid]["name"]
            connector.close()
        finally:
            stop.set()


def test_no_meetings_section_is_a_config_error(tenant, capsys, tmp_path):
    config = (tmp_path / "muster.yaml").read_text()
    (tmp_path / "muster.yaml").write_text(config[: config.index("meetings:")])
    code, out = schedule(capsys)
    assert code == 1 and "error: no meetings.tencent_meeting connection in the config" in out

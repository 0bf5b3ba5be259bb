"""The ``muster`` command: exit codes, bad input, and plan/apply against sandboxes served over HTTP."""

import json
import threading

import pytest
from rich.console import Console

import state
from flows.cli import main
from flows.sandbox_serve import serve_sandboxes


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Both sandboxes on loopback ports, seeded with a 40-person coalition, for the whole module."""
    folder = tmp_path_factory.mktemp("served")
    stop = threading.Event()
    thread = threading.Thread(target=serve_sandboxes, daemon=True, kwargs={
        "console": Console(file=open(folder / "serve.log", "w")), "port": 0, "info": folder / "info.json",
        "people": 40, "seed": 11, "stop": stop})
    thread.start()
    for _ in range(200):
        if (folder / "info.json").exists() and (folder / "info.json").read_text().strip().endswith("}"):
            break
        threading.Event().wait(0.02)
    yield folder / "info.json"
    stop.set()
    thread.join(5)


@pytest.fixture
def tenant(served, tmp_path, capsys, monkeypatch):
    info = json.loads(served.read_text())
    monkeypatch.setenv("MUSTER_WECOM_SECRET", info["wecom"]["corpsecret"])
    monkeypatch.setenv("MUSTER_WECOM_CONTACTS_SECRET", info["wecom"]["contacts_secret"])  # 通讯录同步
    monkeypatch.setenv("MUSTER_DINGTALK_SECRET", info["dingtalk"]["appsecret"])
    monkeypatch.setenv("MUSTER_FEISHU_SECRET", info["feishu"]["app_secret"])
    monkeypatch.setenv("MUSTER_TM_SECRET_KEY", info["tencent_meeting"]["secret_key"])
    monkeypatch.chdir(tmp_path)
    code, out = run(["init", "--sandbox-info", str(served)], capsys)
    assert code == 0 and "wrote muster.yaml" in out
    assert f"export MUSTER_WECOM_CONTACTS_SECRET={info['wecom']['contacts_secret']}" in out
    assert f"export MUSTER_FEISHU_SECRET={info['feishu']['app_secret']}" in out
    code, out = run(["roster", "import", "roster.csv"], capsys)
    assert code == 0 and "40 new" in out
    return tmp_path


def test_plan_apply_exactly_then_nothing_left(tenant, capsys):
    code, out = run(["plan", "--out", "plan.json", "--allow-removals"], capsys)
    assert code == 2 and "saved plan" in out
    plan_id = json.loads((tenant / "plan.json").read_text())["plan"]
    code, out = run(["apply", "plan.json"], capsys)
    assert code == 0, out
    code, out = run(["plan"], capsys)
    assert code == 0 and "no changes" in out
    code, out = run(["apply", "plan.json"], capsys)
    assert code == 1 and "already applied" in out
    code, out = run(["status"], capsys)
    assert code == 0 and "apply" in out and "plan" in out
    assert plan_id


def test_apply_refuses_a_stale_plan(tenant, capsys, served):
    code, _ = run(["plan", "--out", "plan.json"], capsys)
    assert code == 2
    people = tenant / "roster.csv"
    people.write_text(people.read_text(encoding="utf-8-sig").replace("二线", "三线", 1), encoding="utf-8")
    code, _ = run(["roster", "import", "roster.csv"], capsys)
    code, out = run(["apply", "plan.json"], capsys)
    assert code == 1 and "is stale" in out and "roster, policy or identity links changed" in out


@pytest.mark.parametrize("variable", ["MUSTER_DINGTALK_SECRET", "MUSTER_WECOM_CONTACTS_SECRET"])
def test_missing_secret_is_an_error_naming_the_variable(tenant, capsys, monkeypatch, variable):
    monkeypatch.delenv(variable)
    code, out = run(["plan"], capsys)
    assert code == 1 and f"{variable} is not set" in out


def test_no_config_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = run(["plan"], capsys)
    assert code == 1 and "muster.yaml: no such config file" in out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("muster.yaml", "agentid: ", "agentid: x"), "muster.yaml:16: services.wecom.agentid: Input should be a valid integer"),
        (("muster.yaml", "  wecom:", "  slack:"), "unknown service 'slack'"),
        (("policy.yaml", "when: {role: counsellor}", "when: {role: counselor}"), "policy.yaml:57: rules[3].when.role: unknown role 'counselor'"),
        (("policy.yaml", "version: 1", "version: 1\nrules: oops"), "duplicate key 'rules'"),
    ],
)
def test_bad_config_or_policy_names_file_line_and_field(tmp_path, capsys, monkeypatch, edit, message):
    monkeypatch.chdir(tmp_path)
    assert run(["init"], capsys)[0] == 0
    name, old, new = edit
    text = (tmp_path / name).read_text()
    assert old in text
    (tmp_path / name).write_text(text.replace(old, new, 1))
    code, out = run(["plan"], capsys)
    assert code == 1
    assert message in " ".join(out.split()).replace(f"{tmp_path}/", "")


def test_a_bad_spreadsheet_row_imports_nothing(tenant, capsys):
    db = state.open_db(tenant / "muster.db")
    before = len(state.list_people(db))
    bad = tenant / "bad.csv"
    bad.write_text("姓名,手机号,项目组\n张三,13800000001,社区服务组\n李四,1380000,社区服务组\n王五,13800000003,火星组\n",
                   encoding="utf-8")
    code, out = run(["roster", "import", "bad.csv"], capsys)
    assert code == 1
    assert "row 3: mobile" in out and "row 4: team: unknown team '火星组'" in out and "nothing was imported" in out
    assert len(state.list_people(db)) == before


def test_roster_export_and_reimport_round_trip(tenant, capsys):
    db = state.open_db(tenant / "muster.db")
    people = state.list_people(db)
    for name in ("out.csv", "out.xlsx"):
        code, out = run(["roster", "export", name], capsys)
        assert code == 0 and f"exported {len(people)} people" in out
        code, out = run(["roster", "import", name], capsys)
        assert code == 0 and f"0 new, {len(people)} updated" in out
    assert state.list_people(db) == people


def test_init_refuses_to_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["init"], capsys)[0] == 0
    code, out = run(["init"], capsys)
    assert code == 1 and "exists; pass --force" in out


def test_offboard_inbox_and_tasks_commands(tenant, capsys):
    assert run(["apply", "--yes", "--allow-removals"], capsys)[0] == 0
    db = state.open_db(tenant / "muster.db")
    people = state.list_people(db, status="active")
    leaver, heir = people[2], people[0]
    code, out = run(["offboard", leaver.id, "--successor", heir.id], capsys)
    assert code == 0 and f"{leaver.id}: left" in out
    assert state.get_person(db, leaver.id).status == "left"
    code, out = run(["offboard", "P999999"], capsys)
    assert code == 1 and "no person 'P999999'" in out
    code, out = run(["inbox"], capsys)
    assert code == 0 and "0 item(s)" in out
    code, out = run(["tasks"], capsys)
    assert code == 0 and "0 open work item(s)" in out
    code, out = run(["tasks", "done", "7"], capsys)
    assert code == 1 and "no open work item 7" in out


def test_inbox_lists_and_retries_a_signup(tenant, capsys):
    from mappings.models import FormEntry

    db = state.open_db(tenant / "muster.db")
    entry = FormEntry(service="jinshuju", form="x", serial="9",
                      answers={"field_1": "重试志愿者", "field_2": "13955550000", "field_5": "f5o4"})
    item_id, _ = state.receive(db, form="signup", entry=entry, payload={})
    assert [i["id"] for i in state.claim_pending(db)] == [item_id]
    assert state.set_item_status(db, item_id, "failed", error="service was down")
    code, out = run(["inbox", "--status", "failed"], capsys)
    assert code == 0 and "service was down" in out and "1 item(s)" in out
    code, out = run(["inbox", "retry", str(item_id)], capsys)
    assert code == 0 and f"item {item_id}: onboarding" in out
    assert state.get_item(db, item_id)["status"] == "onboarded"
    code, out = run(["inbox", "retry", "999"], capsys)
    assert code == 1 and "no inbox item 999" in out


def test_broadcast_reaches_everyone_once_and_a_rerun_sends_nothing(tenant, capsys):
    assert run(["apply", "--yes", "--allow-removals"], capsys)[0] == 0
    assert run(["pull"], capsys)[0] == 0
    code, out = run(["broadcast", "--to", "all", "--text", "明早九点培训", "--dry-run"], capsys)
    assert code == 0 and "would reach" in out
    code, out = run(["broadcast", "--to", "all", "--text", "明早九点培训"], capsys)
    assert code == 0, out
    assert "reached" in out and "on dingtalk" in out
    bid = out.split()[1]
    db = state.open_db(tenant / "muster.db")
    delivered = [r for r in state.broadcasts.deliveries(db, bid) if r["status"] == "delivered"]
    assert delivered and len({r["person_id"] for r in delivered}) == len(delivered)
    code, out = run(["broadcast", "--to", "all", "--text", "明早九点培训"], capsys)
    assert code == 0 and f"{len(delivered)} already had it" in out and "reached" not in out.split("\n", 1)[1]
    assert state.audit_entries(db)[-1]["action"] == "broadcast"


@pytest.mark.parametrize("argv, message", [
    (["--to", "everyone", "--text", "x"], "--to: scope 'everyone': use all, team:<team>, role:<role> or person:<id>"),
    (["--to", "team:nope", "--text", "x"], "no team 'nope' in the policy"),
    (["--to", "all", "--text", "  "], "the message text is empty"),
])
def test_broadcast_refuses_bad_input_with_exit_1(tenant, capsys, argv, message):
    code, out = run(["broadcast", *argv], capsys)
    assert code == 1 and message in out

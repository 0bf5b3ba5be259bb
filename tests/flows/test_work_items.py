"""Work items for a personal WeChat group and a Shimo folder: issued, not repeated, done, reminded, reassigned."""

from datetime import UTC, datetime, timedelta

import pytest

import state
from connectors import NO_RETRY_WAIT, sandbox_class
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from flows.work_items import WorkItemError, mark_done, remind_and_reassign
from flows.workspace import Workspace
from mappings.models import Person, RoleAssignment

POLICY = """\
version: 1
guards: {max_removal_fraction: 1.0, max_removals: 50}
services: {dingtalk: {leavers: keep}}   # DingTalk only carries the notices
roles: {coordinator: {name: 协调员}, volunteer: {name: 志愿者}}
teams: {med: {name: 医疗组}, hq: {name: 指挥部}}
resources:
  wechat:
    - {key: frontline-1, kind: chat, name: 一线1群}
    - {key: frontline-2, kind: chat, name: 一线2群}
  shimo:
    - {key: cases, kind: folder, name: 个案资料, external_id: 'folder:Cases2020'}
rules:
  - name: frontline
    when: {team: med}
    grant: {resource: wechat/frontline-1}
  - name: case-readers
    when: {team: med}
    grant: {resource: shimo/cases, level: view}
  - name: case-editors
    when: {role: coordinator}
    grant: {resource: shimo/cases, level: edit}
successors: {coordinator: coordinator}
broadcast: {channels: [dingtalk]}
"""

CONFIG = """\
coalition: test
services:
  dingtalk: {{appkey: {appkey}, appsecret: {{env: MUSTER_TEST_DT}}, agentid: {agentid}, sandbox: true}}
  wechat:
    remind_after: 2d
    groups:
      - key: frontline-1
        name: 一线1群
        owner: P1
        members: [P1, P2, {{name: 李四, mobile: '139 0000 0004'}}, {{name: 群友, mobile: '19900000009'}}]
{extra}  shimo:
    groups:
      - key: cases
        name: 个案资料
        owner: P1
        members: [{{id: P2, level: edit}}, {{id: P4, level: view}}]
"""

PEOPLE = [
    Person(id="P1", name="王组长", mobile="+8613800000001", team="hq", roles=(RoleAssignment(role="coordinator"),)),
    Person(id="P2", name="赵医生", mobile="+8613800000002", team="med"),
    Person(id="P3", name="张三", mobile="+8613812345678", team="med"),
    Person(id="P4", name="李四", mobile="+8613900000004", team="med", status="left"),
    Person(id="P5", name="钱五", mobile="+8613800000005", team="hq", roles=(RoleAssignment(role="coordinator"),)),
]
WECHAT_TEXT = "一线1群: add 张三 138****5678; remove 李四 139****0004"
SHIMO_TEXT = ("个案资料: share with 张三 138****5678 (view), 钱五 138****0005 (edit); change 赵医生 138****0002 to view; "
              "remove 李四 139****0004")


@pytest.fixture
def hub(tmp_path):
    """Two coordinators reachable on DingTalk; a WeChat group and a Shimo folder declared in muster.yaml."""

    def make(extra: str = "", people=PEOPLE) -> Workspace:
        sb = sandbox_class("dingtalk")(seed=1)
        sb.rate_limits = False
        sb.add_user("dt1", "王组长", mobile="13800000001")
        sb.add_user("dt5", "钱五", mobile="13800000005")
        (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
        (tmp_path / "muster.yaml").write_text(CONFIG.format(extra=extra, **sb.credentials), encoding="utf-8")
        ws = Workspace.from_config(tmp_path / "muster.yaml", actor="coordinator")
        ws.sandboxes, ws.retry, ws.connector_options = {"dingtalk": sb}, NO_RETRY_WAIT, {"rate_limit": False}
        state.upsert_people(ws.db, list(people))
        return ws

    return make


def sync(ws):
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    observed = pull_all(ws, run_id)
    result = plan_all(ws, observed)
    state.save_plan(ws.db, result.plan, run_id)
    return result, apply_all(ws, result, run_id)


def manual_changes(result):
    return [c for c in result.plan.changes if c.service in ("wechat", "shimo")]


def notices(ws, to="dt1"):
    return [text for uid, text in ws.sandboxes["dingtalk"].messages if uid == to]


def items(ws):
    return {i["service"]: i for i in state.open_work_items(ws.db)}


def test_a_plan_becomes_one_item_per_group_with_masked_text_and_one_notice_to_its_owner(hub):
    ws = hub()
    result, outcomes = sync(ws)
    changes = manual_changes(result)
    assert not [c for c in changes if c.target == "account"]  # nobody gets an account in a manual service
    # the owner (P1, in the group but granted nothing) is never planned away, nor made owner by a rule
    assert {(c.service, c.op, c.object_id) for c in changes} == {
        ("wechat", "add", "P3"), ("wechat", "remove", "P4"),
        ("shimo", "add", "P3"), ("shimo", "add", "P5"), ("shimo", "change", "P2"), ("shimo", "remove", "P4")}
    open_items = items(ws)
    assert open_items["wechat"]["detail"] == WECHAT_TEXT
    assert open_items["shimo"]["detail"] == SHIMO_TEXT
    assert {i["assignee"] for i in open_items.values()} == {"P1"}
    assert {i["group_key"] for i in open_items.values()} == {"frontline-1", "cases"}
    sent = notices(ws)
    assert len(sent) == 2 and all(any(i["detail"] in t and f"W{i['id']}" in t for t in sent)
                                  for i in open_items.values())
    assert {s: o.summary()["applied"] for s, o in outcomes.items() if s != "dingtalk"} == {"wechat": 2, "shimo": 4}
    assert set(state.journal_status(ws.db, result.plan.id).values()) == {"applied"}
    audited = [e for e in state.audit_entries(ws.db) if e["service"] in ("wechat", "shimo")]
    assert len(audited) == 6 and {e["detail"]["work_item"] for e in audited} == {i["id"] for i in open_items.values()}
    assert "kept 1 member(s) of 一线1群" in " ".join(r.reason for r in result.plan.refused)  # the stranger stays


def test_a_rerun_while_the_items_are_open_plans_and_sends_nothing(hub):
    ws = hub()
    sync(ws)
    before = (state.open_work_items(ws.db), list(ws.sandboxes["dingtalk"].messages))
    result, outcomes = sync(ws)
    assert manual_changes(result) == [] and "wechat" not in outcomes
    assert (state.open_work_items(ws.db), list(ws.sandboxes["dingtalk"].messages)) == before
    # the confirmed state did not change: only the read reports what the owner was asked for
    assert set(state.manual_groups(ws.db, "wechat")["frontline-1"]["members"]) == {
        "mp1", "mp2", "mp4", "tel:+8619900000009"}


def test_a_later_change_to_the_same_group_gets_an_item_for_just_that(hub):
    ws = hub()
    sync(ws)
    state.upsert_people(ws.db, [Person(id="P6", name="孙护士", mobile="+8613800000006", team="med")])
    result, _ = sync(ws)
    assert {(c.service, c.op, c.object_id) for c in manual_changes(result)} == {
        ("wechat", "add", "P6"), ("shimo", "add", "P6")}
    wechat = [i for i in state.open_work_items(ws.db) if i["service"] == "wechat"]
    assert [i["detail"] for i in wechat] == [WECHAT_TEXT, "一线1群: add 孙护士 138****0006"]
    assert len(notices(ws)) == 4


def test_done_records_the_changes_so_the_next_plan_has_nothing_for_the_group(hub):
    ws = hub()
    sync(ws)
    item = items(ws)["wechat"]
    mark_done(ws, item["id"], note="added in the app")
    group = state.manual_groups(ws.db, "wechat")["frontline-1"]
    assert set(group["members"]) == {"mp1", "mp2", "mp3", "tel:+8619900000009"}
    assert group["members"]["mp3"]["source"] == f"W{item['id']}"
    assert state.get_work_item(ws.db, item["id"])["status"] == "done"
    assert state.get_work_item(ws.db, item["id"])["done_by"] == "coordinator"
    entry = [e for e in state.audit_entries(ws.db) if e["action"] == "work item done"][-1]
    assert (entry["actor"], entry["object_id"], entry["target"]) == ("coordinator", f"W{item['id']}", "chat:frontline-1")
    result, _ = sync(ws)
    assert manual_changes(result) == []
    assert len(notices(ws)) == 2
    with pytest.raises(WorkItemError, match="no open work item"):
        mark_done(ws, item["id"])


def test_done_checks_an_exported_member_list(hub, tmp_path):
    ws = hub()
    sync(ws)
    item = items(ws)["wechat"]
    listed = tmp_path / "members.txt"
    listed.write_text("# 一线1群 members\n赵医生\n张三 138 1234 5678\n群友\n", encoding="utf-8")
    mark_done(ws, item["id"], members=listed)
    assert state.get_work_item(ws.db, item["id"])["status"] == "done"
    assert "mp3" in state.manual_groups(ws.db, "wechat")["frontline-1"]["members"]


def test_done_refuses_a_member_list_that_contradicts_the_item_and_records_nothing(hub, tmp_path):
    ws = hub()
    sync(ws)
    item = items(ws)["shimo"]
    before = (state.manual_groups(ws.db, "shimo"), len(state.audit_entries(ws.db)))
    listed = tmp_path / "collaborators.csv"
    listed.write_text("姓名,手机号,权限\n赵医生,13800000002,可查看\n张三,13812345678,可查看\n李四,13900000004,可查看\n",
                      encoding="utf-8")
    with pytest.raises(WorkItemError) as info:
        mark_done(ws, item["id"], members=listed)
    assert info.value.problems == ["missing: 钱五 138****0005 (to add)", "still there: 李四 139****0004 (to remove), line 4"]
    assert state.get_work_item(ws.db, item["id"])["status"] == "open"
    assert (state.manual_groups(ws.db, "shimo"), len(state.audit_entries(ws.db))) == before


def test_open_items_are_reminded_after_the_delay_once_per_period(hub):
    ws = hub()
    sync(ws)
    issued = datetime.fromisoformat(items(ws)["wechat"]["created_at"])
    assert remind_and_reassign(ws, None, now=issued + timedelta(days=1))["reminded"] == []
    first = remind_and_reassign(ws, None, now=issued + timedelta(days=2, minutes=1))["reminded"]
    assert sorted(first) == sorted(i["id"] for i in items(ws).values())
    assert remind_and_reassign(ws, None, now=issued + timedelta(days=3))["reminded"] == []
    second = remind_and_reassign(ws, None, now=issued + timedelta(days=4, minutes=2))["reminded"]
    assert sorted(second) == sorted(first)
    wechat = items(ws)["wechat"]
    assert (wechat["reminders"], wechat["notice"]) == (2, "sent on dingtalk")
    reminders = [t for t in notices(ws) if "Reminder" in t]
    assert len(reminders) == 4 and sum(f"W{wechat['id']}" in t and "Reminder 2" in t for t in reminders) == 1


def test_an_owner_who_leaves_hands_groups_and_open_items_to_their_successor(hub):
    ws = hub()
    sync(ws)
    leaver = state.get_person(ws.db, "P1")
    state.upsert_people(ws.db, [leaver.model_copy(update={"status": "leaving", "attributes": {"successor": "P5"}})])
    done = remind_and_reassign(ws, None, now=datetime.now(UTC))
    assert sorted(done["reassigned"]) == sorted(i["id"] for i in items(ws).values())
    assert {i["assignee"] for i in items(ws).values()} == {"P5"}
    assert state.manual_groups(ws.db, "wechat")["frontline-1"]["owner"] == "P5"
    assert state.manual_groups(ws.db, "shimo")["cases"]["owner"] == "P5"
    assert len(notices(ws, "dt5")) == 2 and all("now yours" in t for t in notices(ws, "dt5"))
    actions = [e["action"] for e in state.audit_entries(ws.db)]
    assert actions.count("reassign work item") == 2 and actions.count("change owner") == 2
    assert remind_and_reassign(ws, None, now=datetime.now(UTC))["reassigned"] == []  # once


def test_without_a_named_successor_the_policy_picks_one_by_role(hub):
    ws = hub()
    sync(ws)
    state.upsert_people(ws.db, [state.get_person(ws.db, "P1").model_copy(update={"status": "left"})])
    remind_and_reassign(ws, None, now=datetime.now(UTC))
    assert {i["assignee"] for i in items(ws).values()} == {"P5"}  # successors: {coordinator: coordinator}


def test_a_policy_group_that_is_not_declared_is_refused_not_created(hub):
    ws = hub()
    result, _ = sync(ws)
    refused = [r for r in result.plan.refused if r.target == "chat:frontline-2"]
    assert refused and "not declared in muster.yaml" in refused[0].reason
    assert not [c for c in result.plan.changes if c.target == "chat:frontline-2"]


def test_a_bad_groups_file_stops_the_read_with_its_row_and_nothing_is_removed(hub, tmp_path):
    (tmp_path / "groups.csv").write_text("group,群名,群主,成员编号,姓名,手机号\n"
                                         "frontline-2,一线2群,P1,P3,,\nfrontline-2,,,,王二,12345\n", encoding="utf-8")
    ws = hub(extra="    groups_file: groups.csv\n")
    observed = pull_all(ws, state.start_run(ws.db, "test", actor=ws.actor))
    assert not observed["wechat"].complete
    assert "groups.csv: row 3: mobile:" in observed["wechat"].error
    result = plan_all(ws, observed)
    assert {c.service for c in manual_changes(result)} == {"shimo"}
    assert any(r.service == "wechat" and "could not be read" in r.reason for r in result.plan.refused)


def test_a_groups_file_adds_groups_and_a_changed_declaration_is_taken_in(hub, tmp_path):
    sheet = tmp_path / "groups.csv"
    sheet.write_text("group,群名,群主,成员编号,姓名,手机号\nfrontline-2,一线2群,P1,,,\n"
                     "frontline-2,,,P2,,\nfrontline-2,,,,张三,13812345678\n", encoding="utf-8")
    ws = hub(extra="    groups_file: groups.csv\n")
    sync(ws)
    assert set(state.manual_groups(ws.db, "wechat")["frontline-2"]["members"]) == {"mp2", "mp3"}
    sheet.write_text("group,群名,群主,成员编号\nfrontline-2,一线2群,P5,P2\n", encoding="utf-8")
    sync(ws)
    group = state.manual_groups(ws.db, "wechat")["frontline-2"]
    assert (group["owner"], set(group["members"])) == ("P5", {"mp2"})


def test_muster_tasks_lists_and_done_refuses_a_contradicting_list(hub, tmp_path, capsys, monkeypatch):
    from flows.cli import main

    ws = hub()
    sync(ws)
    ids = {s: i["id"] for s, i in items(ws).items()}
    monkeypatch.setenv("MUSTER_CONFIG", str(tmp_path / "muster.yaml"))

    def run(*argv):
        with pytest.raises(SystemExit) as info:
            main(list(argv))
        out = capsys.readouterr()
        return info.value.code, out.out + out.err

    code, out = run("tasks")
    assert code == 0 and "2 open work item(s)" in out and "frontline-1" in out and "P1" in out
    assert "一线1群: add 张三 138****5678" in out and "13812345678" not in out
    (tmp_path / "list.txt").write_text("赵医生\n李四\n", encoding="utf-8")
    code, out = run("tasks", "done", str(ids["wechat"]), "--members", str(tmp_path / "list.txt"))
    assert code == 1 and "nothing was recorded" in out
    assert "missing: 张三 138****5678 (to add)" in out and "still there: 李四 139****0004 (to remove), line 2" in out
    code, out = run("tasks", "done", str(ids["wechat"]))
    assert code == 0 and f"work item {ids['wechat']} done" in out
    code, out = run("tasks")
    assert "1 open work item(s)" in out
    code, out = run("tasks", "remind")
    assert code == 0 and "0 reminded, 0 reassigned" in out  # nothing has waited two days yet


def test_the_register_shows_what_an_open_item_asked_for_as_pending_until_tasks_done(hub, tmp_path, capsys,
                                                                                    monkeypatch):
    import csv

    from flows.cli import main

    ws = hub()
    sync(ws)
    ids = {s: i["id"] for s, i in items(ws).items()}
    pull_all(ws, state.start_run(ws.db, "test", actor=ws.actor))  # the read now reports what the items asked for
    monkeypatch.setenv("MUSTER_CONFIG", str(tmp_path / "muster.yaml"))

    def register():
        with pytest.raises(SystemExit) as info:
            main(["register", "--format", "csv", "--out", str(tmp_path / "register.csv")])
        assert info.value.code == 0, capsys.readouterr()
        with (tmp_path / "register.csv").open(encoding="utf-8-sig", newline="") as fh:
            # the why's tail: how the member is known (the rules before it are the register's own tests)
            return {(r["service"], r["resource id"], r["account"]): (r["level"], r["why"].split("; ")[-1])
                    for r in csv.DictReader(fh)}

    pending = {"wechat": f"pending by hand (work item W{ids['wechat']})",
               "shimo": f"pending by hand (work item W{ids['shimo']})"}
    rows = register()
    assert rows[("wechat", "frontline-1", "mp3")] == ("member", pending["wechat"])  # 张三, asked to be added
    assert rows[("wechat", "frontline-1", "mp2")] == ("member", "confirmed by hand")
    assert rows[("wechat", "frontline-1", "mp1")] == ("owner", "confirmed by hand")
    assert rows[("shimo", "folder:Cases2020", "mp5")] == ("edit", pending["shimo"])
    assert rows[("shimo", "folder:Cases2020", "mp2")] == ("view", pending["shimo"])  # confirmed at edit, asked view
    assert ("wechat", "frontline-1", "mp4") not in rows  # a removal asked for is already gone from the read

    with pytest.raises(SystemExit) as info:
        main(["tasks", "done", str(ids["wechat"])])
    assert info.value.code == 0
    rows = register()
    assert rows[("wechat", "frontline-1", "mp3")] == ("member", "confirmed by hand")
    assert rows[("shimo", "folder:Cases2020", "mp5")] == ("edit", pending["shimo"])


def test_the_demo_issues_work_items_then_finds_nothing_left(tmp_path):
    from flows.demo_run import build_demo

    sandboxes, _, people = build_demo(tmp_path / "demo", 120, 3, manual=True)
    for sb in sandboxes.values():
        sb.rate_limits = False
    ws = Workspace.from_config(tmp_path / "demo" / "muster.yaml", actor="demo")
    ws.sandboxes, ws.retry, ws.connector_options = sandboxes, NO_RETRY_WAIT, {"rate_limit": False}
    sync(ws)
    issued = [i for i in state.open_work_items(ws.db) if i["kind"] == "manual"]
    assert sorted(i["service"] for i in issued) == ["shimo", "wechat"]
    assert all(i["assignee"] == people[0].pid and i["notice"].startswith("sent on") for i in issued)
    writes = {s: sb.write_calls for s, sb in sandboxes.items()}
    result, outcomes = sync(ws)
    assert result.plan.changes == [] and outcomes == {}
    assert {s: sb.write_calls for s, sb in sandboxes.items()} == writes
    assert [i["id"] for i in state.open_work_items(ws.db) if i["kind"] == "manual"] == [i["id"] for i in issued]


def test_applying_the_same_changes_again_under_another_plan_asks_nothing_twice(hub):
    from mappings.models import Plan

    ws = hub()
    first, _ = sync(ws)
    again = Plan(changes=first.plan.changes, basis="another plan", fingerprints=first.plan.fingerprints)
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    outcomes = apply_all(ws, type(first)(again), run_id)
    assert len(state.open_work_items(ws.db)) == 2 and len(notices(ws)) == 2
    assert len(outcomes["wechat"].skipped) == 2 and outcomes["wechat"].applied == []
    assert set(state.journal_status(ws.db, again.id).values()) == {"applied"}


def test_the_confirmed_state_keeps_done_work_until_the_declaration_itself_changes():
    db = state.open_db(None)
    group = {"key": "g1", "kind": "chat", "name": "一群", "owner": "P1", "declared": "v1",
             "members": [{"member_id": "mp2", "person_id": "P2", "name": "赵医生", "mobile": None, "level": "member"}]}
    assert state.import_manual_groups(db, "wechat", [group]) == ["g1"]
    item = state.add_manual_item(db, service="wechat", group_key="g1", assignee="P1", detail="一群: add 张三",
                                 changes=[{"key": "k", "op": "add", "member_id": "mp3", "person_id": "P3",
                                           "name": "张三", "mobile": None, "level": "member"}],
                                 plan_id="p", run_id=None)
    state.confirm_manual_item(db, item, by="coordinator")
    assert state.import_manual_groups(db, "wechat", [group]) == []  # unchanged: what was confirmed stays
    assert set(state.manual_groups(db, "wechat")["g1"]["members"]) == {"mp2", "mp3"}
    assert state.import_manual_groups(db, "wechat", [{**group, "declared": "v2"}]) == ["g1"]
    assert set(state.manual_groups(db, "wechat")["g1"]["members"]) == {"mp2"}
    assert state.import_manual_groups(db, "wechat", []) == [] and state.manual_groups(db, "wechat") == {}
    with pytest.raises(KeyError):
        state.confirm_manual_item(db, item, by="coordinator")

"""The sync's steps end to end against the in-process sandboxes, without Prefect."""

from collections import Counter

import pytest
from crashkit import Crash, crash_after

import state
from connectors import FaultPlan
from flows.apply_cmd import staleness
from flows.run import apply_all, pull_all
from flows.steps import plan_all


def sync(ws, *, allow_removals=False):
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=allow_removals)
    state.save_plan(ws.db, result.plan, run_id)
    outcomes = apply_all(ws, result, run_id, approved_by=ws.actor if allow_removals else None)
    return result, outcomes


def writes(ws):
    return {s: sb.write_calls for s, sb in ws.sandboxes.items()}


def test_first_sync_converges_and_second_sends_no_write(coalition):
    ws = coalition()
    first, outcomes = sync(ws, allow_removals=True)
    assert first.plan.changes and all(not o.failed for o in outcomes.values())
    before = writes(ws)
    second, outcomes = sync(ws)
    assert second.plan.changes == []
    assert outcomes == {}
    assert writes(ws) == before


def test_every_applied_change_is_journaled_audited_and_linked(coalition):
    ws = coalition()
    result, _ = sync(ws)
    status = state.journal_status(ws.db, result.plan.id)
    assert set(status.values()) == {"applied"} and len(status) == len(result.plan.changes)
    entries = state.audit_entries(ws.db)
    assert len(entries) == len(result.plan.changes)
    assert {e["run_id"] for e in entries} == {state.last_runs(ws.db, 1)[0]["id"]}
    assert all(e["reason"] for e in entries)
    assert state.verify(ws.db) is None
    created = [c for c in result.plan.changes if c.target == "account" and c.op == "add"]
    links = state.identities_for(ws.db, "wecom") | {}
    for c in created:
        ident = state.identities_for(ws.db, c.service)[c.external_id]
        assert (ident.person_id, ident.matched_by) == (c.object_id, "created")
    assert links


def test_leavers_lose_access_and_accounts_after_owners_hand_over(coalition):
    ws = coalition(people=60)
    result, _ = sync(ws, allow_removals=True)
    left = {p.id for p in state.list_people(ws.db, status="left")}
    wecom = ws.sandboxes["wecom"]
    links = {i.person_id: ext for ext, i in state.identities_for(ws.db, "wecom").items()}
    for pid in left & set(links):
        assert wecom.users[links[pid]]["status"] == 2  # disabled
        assert all(links[pid] not in chat["userlist"] for chat in wecom.chats.values())
    order = [(c.phase, c.op, c.target) for c in result.plan.changes]
    assert order == sorted(order, key=lambda t: t[0])


def test_a_crash_mid_apply_resumes_without_duplicates(coalition):
    ws = coalition()
    dingtalk = ws.sandboxes["dingtalk"]
    crash_after(dingtalk, "/topapi/v2/user/create", 3)
    with pytest.raises(Crash):
        sync(ws)
    sent = state.unconfirmed(ws.db)
    assert len(sent) >= 1  # the change in flight when the process died
    dingtalk.dispatch = type(dingtalk).dispatch.__get__(dingtalk)
    sync(ws)
    third, _ = sync(ws)
    assert third.plan.changes == []
    mobiles = Counter(u["mobile"] for u in dingtalk.users.values())
    assert max(mobiles.values()) == 1  # no account created twice
    for chat in dingtalk.chats.values():
        assert len(chat["useridlist"]) == len(set(chat["useridlist"]))


def test_a_lost_answer_after_a_write_does_not_duplicate_it(coalition):
    ws = coalition()
    ws.sandboxes["wecom"].faults = FaultPlan(seed=5, rate=0.15, kinds=("timeout", "drop", "5xx"))
    sync(ws)
    ws.sandboxes["wecom"].faults = FaultPlan()
    sync(ws)
    final, _ = sync(ws)
    assert final.plan.changes == []
    wecom = ws.sandboxes["wecom"]
    assert len({u["mobile"] for u in wecom.users.values()}) == len(wecom.users)


def test_an_unreadable_service_is_reported_and_loses_nothing_while_the_other_syncs(coalition):
    ws = coalition()
    ws.sandboxes["dingtalk"].faults = FaultPlan(rate=1.0, kinds=("5xx",))
    users_before = dict(ws.sandboxes["dingtalk"].users)
    result, outcomes = sync(ws, allow_removals=True)
    assert not result.observed["dingtalk"].complete
    assert result.plan.for_service("dingtalk") == []
    assert any(r.service == "dingtalk" and "could not be read" in r.reason for r in result.plan.refused)
    assert outcomes["wecom"].applied and not outcomes["wecom"].failed
    assert ws.sandboxes["dingtalk"].users == users_before


def test_removal_waves_wait_for_approval(coalition):
    ws = coalition()
    sync(ws)
    people = [p for p in state.list_people(ws.db) if p.status == "active"]
    state.upsert_people(ws.db, [p.model_copy(update={"status": "left"}) for p in people[::3]])
    held, outcomes = sync(ws)
    assert not [c for c in held.plan.changes if c.op == "remove"]
    assert any(r.held for r in held.plan.refused) and held.plan.pending
    approved, _ = sync(ws, allow_removals=True)
    removals = [c for c in approved.plan.changes if c.op == "remove"]
    assert removals
    run_id = state.last_runs(ws.db, 1)[0]["id"]
    audit = [e for e in state.audit_entries(ws.db, run_id=run_id) if e["action"].startswith("remove")]
    assert len(audit) == len(removals) and {e["approved_by"] for e in audit} == {"tester"}


def test_a_saved_plan_goes_stale_when_a_service_changes(coalition):
    ws = coalition()
    run_id = state.start_run(ws.db, "plan", actor="t")
    saved = plan_all(ws, pull_all(ws, run_id)).plan
    fresh = plan_all(ws, pull_all(ws, run_id)).plan
    assert staleness(saved, fresh) is None
    ws.sandboxes["wecom"].add_user("newcomer", "新人", mobile="13700000000")
    changed = plan_all(ws, pull_all(ws, run_id)).plan
    assert staleness(saved, changed) == "wecom changed since it was made"


def test_an_unconfirmed_dingtalk_chat_create_is_not_repeated(coalition):
    ws = coalition()
    crash_after(ws.sandboxes["dingtalk"], "/chat/create", 1)
    with pytest.raises(Crash):
        sync(ws)
    ws.sandboxes["dingtalk"].dispatch = type(ws.sandboxes["dingtalk"]).dispatch.__get__(ws.sandboxes["dingtalk"])
    chats = len(ws.sandboxes["dingtalk"].chats)
    _, outcomes = sync(ws)
    failures = [e for _, e in outcomes["dingtalk"].failed]
    assert any("may have created" in e for e in failures)
    assert len(ws.sandboxes["dingtalk"].chats) == chats + 1  # the other new chat, never the unsure one twice

"""``broadcast``: every active person in scope gets the notice once, through their best channel."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from crashkit import Crash, crash_after

import state
from connectors import FaultPlan
from flows.broadcast import BroadcastError, broadcast, channels
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from mappings.scope import Scope, ScopeError, parse_scope

TEXT = "今晚八点全体志愿者线上会议，请准时参加。"
ASYNCSEND = "/topapi/message/corpconversation/asyncsend_v2"


def synced(coalition, people=40):
    ws = coalition(people)
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=True)
    apply_all(ws, result, run_id, approved_by=ws.actor)
    pull_all(ws, state.start_run(ws.db, "test", actor=ws.actor))  # fresh snapshots after the writes
    return ws


def received(ws):
    """(service, userid) → how many times the text reached that account."""
    out = Counter()
    for service, sandbox in ws.sandboxes.items():
        for userid, text in sandbox.messages:
            if text == TEXT:
                out[(service, userid)] += 1
    return out


def person_of(ws):
    return {(s, ext): i.person_id for s in ws.services for ext, i in state.identities_for(ws.db, s).items()}


def test_everyone_active_gets_it_once_through_the_first_channel_they_have(coalition):
    ws = synced(coalition)
    report = broadcast(ws, TEXT, [Scope("all")])
    got = received(ws)
    assert got and set(got.values()) == {1}
    owners = person_of(ws)
    reached_people = [owners[key] for key in got]
    assert len(reached_people) == len(set(reached_people))  # nobody on two channels
    active = {p.id for p in state.list_people(ws.db) if p.status == "active"}
    assert set(reached_people) <= active
    assert set(reached_people) == {p for ids in report.reached.values() for p in ids}
    assert set(reached_people) | set(report.unreachable) == active
    # DingTalk comes first: whoever has a DingTalk account was reached there
    dingtalk = {i.person_id for i in state.identities_for(ws.db, "dingtalk").values()}
    assert set(report.reached["dingtalk"]) == dingtalk & active
    assert all(p not in dingtalk for p in report.reached.get("wecom", []))
    assert all("no active linked account" in why for why in report.unreachable.values())


def test_a_rerun_sends_nothing_twice(coalition):
    ws = synced(coalition)
    first = broadcast(ws, TEXT, [Scope("all")])
    calls = {s: sb.write_calls for s, sb in ws.sandboxes.items()}
    second = broadcast(ws, TEXT, [Scope("all")])
    assert {s: sb.write_calls for s, sb in ws.sandboxes.items()} == calls
    assert second.broadcast_id == first.broadcast_id
    assert second.already == sum(len(v) for v in first.reached.values())
    assert not any(second.reached.values())
    assert set(received(ws).values()) == {1}


def test_a_team_scope_reaches_only_that_teams_active_people(coalition):
    ws = synced(coalition)
    people = state.list_people(ws.db)
    team = Counter(p.team for p in people if p.status == "active" and p.team).most_common(1)[0][0]
    report = broadcast(ws, TEXT, [parse_scope(f"team:{team}")])
    reached = {p for ids in report.reached.values() for p in ids}
    by_id = {p.id: p for p in people}
    assert reached and all(by_id[p].team == team and by_id[p].status == "active" for p in reached)
    assert report.in_scope == sum(1 for p in people if p.team == team and p.status == "active")


def test_an_account_the_service_rejects_falls_back_to_the_next_channel(coalition):
    ws = synced(coalition)
    both = [i.person_id for i in state.identities_for(ws.db, "dingtalk").values()
            if i.person_id in {j.person_id for j in state.identities_for(ws.db, "wecom").values()}]
    victim = sorted(both)[0]
    ding = next(e for e, i in state.identities_for(ws.db, "dingtalk").items() if i.person_id == victim)
    ws.policy = ws.policy.model_copy(update={"broadcast": ws.policy.broadcast.model_copy(
        update={"channels": ["wecom", "dingtalk"]})})
    wecom_id = next(e for e, i in state.identities_for(ws.db, "wecom").items() if i.person_id == victim)
    ws.sandboxes["wecom"].users[wecom_id]["enable"] = 0  # disabled after the last read: WeCom rejects it
    report = broadcast(ws, TEXT, [Scope("all")])
    assert victim in report.reached["dingtalk"]
    assert victim not in report.reached["wecom"]
    assert received(ws)[("dingtalk", ding)] == 1
    rows = [r for r in state.broadcasts.deliveries(ws.db, report.broadcast_id) if r["person_id"] == victim]
    assert [(r["service"], r["status"]) for r in rows] == [("wecom", "rejected"), ("dingtalk", "delivered")]


def test_a_failed_call_is_retried_by_the_next_run(coalition):
    ws = synced(coalition)
    ws.sandboxes["dingtalk"].faults = FaultPlan(rate=1.0, kinds=("5xx",), apis=(ASYNCSEND,))
    first = broadcast(ws, TEXT, [Scope("all")])
    assert "dingtalk" in first.errors and not first.reached.get("dingtalk")
    ws.sandboxes["dingtalk"].faults = FaultPlan()
    second = broadcast(ws, TEXT, [Scope("all")])
    assert second.reached["dingtalk"]
    assert set(received(ws).values()) == {1}


def test_an_unanswered_send_is_resent_only_while_the_service_drops_duplicates(coalition):
    ws = synced(coalition)
    crash_after(ws.sandboxes["dingtalk"], ASYNCSEND, 1)
    with pytest.raises(Crash):
        broadcast(ws, TEXT, [Scope("all")])
    bid = next(iter(r["id"] for r in ws.db["broadcasts"].rows))
    sent = [r for r in state.broadcasts.deliveries(ws.db, bid) if r["status"] == "sent"]
    assert sent  # the process died between sending and hearing back
    ws.sandboxes["dingtalk"].dispatch = type(ws.sandboxes["dingtalk"]).dispatch.__get__(ws.sandboxes["dingtalk"])
    later = datetime.fromisoformat(sent[0]["sent_at"]) + timedelta(days=2)
    stale = broadcast(ws, TEXT, [Scope("all")], now=lambda: later)
    assert set(stale.uncertain) == {r["person_id"] for r in sent}  # too late to trust DingTalk's dedupe
    assert set(received(ws).values()) == {1}


def test_within_the_window_the_resend_is_dropped_by_the_service(coalition):
    ws = synced(coalition)
    crash_after(ws.sandboxes["dingtalk"], ASYNCSEND, 1)
    with pytest.raises(Crash):
        broadcast(ws, TEXT, [Scope("all")])
    ws.sandboxes["dingtalk"].dispatch = type(ws.sandboxes["dingtalk"]).dispatch.__get__(ws.sandboxes["dingtalk"])
    report = broadcast(ws, TEXT, [Scope("all")], now=lambda: datetime.now(UTC))
    assert not report.uncertain
    assert set(received(ws).values()) == {1}  # DingTalk delivered the resent text once
    rows = state.broadcasts.deliveries(ws.db, report.broadcast_id)
    assert not [r for r in rows if r["status"] == "sent"]


def test_bad_input_is_refused_before_anything_is_sent(coalition):
    ws = synced(coalition)
    with pytest.raises(BroadcastError, match="empty"):
        broadcast(ws, "   ", [Scope("all")])
    with pytest.raises(BroadcastError, match="keep it to 2000"):
        broadcast(ws, "x" * 2001, [Scope("all")])
    broadcast(ws, TEXT, [Scope("all")], broadcast_id="B-weekly")
    with pytest.raises(BroadcastError, match="another text"):
        broadcast(ws, TEXT + "!", [Scope("all")], broadcast_id="B-weekly")
    with pytest.raises(ScopeError, match="use all, team:<team>, role:<role> or person:<id>"):
        parse_scope("everyone")
    with pytest.raises(ScopeError, match="no team 'nope'"):
        parse_scope("team:nope", teams=ws.policy.teams)


def test_a_dry_run_says_who_would_be_reached_and_sends_nothing(coalition):
    ws = synced(coalition)
    calls = {s: sb.write_calls for s, sb in ws.sandboxes.items()}
    report = broadcast(ws, TEXT, [Scope("all")], dry_run=True)
    assert sum(len(v) for v in report.reached.values()) > 0
    assert {s: sb.write_calls for s, sb in ws.sandboxes.items()} == calls
    assert ws.db["broadcasts"].count == 0


def test_channels_follow_the_policy_and_the_connections(coalition):
    ws = coalition(10)
    assert channels(ws) == ["dingtalk", "wecom", "feishu"]
    ws.connections = {s: c for s, c in ws.connections.items() if s != "feishu"}
    assert channels(ws) == ["dingtalk", "wecom"]  # listed by default, but not connected
    ws.policy = ws.policy.model_copy(update={"broadcast": ws.policy.broadcast.model_copy(
        update={"channels": ["wecom", "feishu"]})})
    assert channels(ws) == ["wecom"]

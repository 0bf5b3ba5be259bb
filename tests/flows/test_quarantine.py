"""Quarantine: a service failing three runs in a row is paused, probed each run, and resumed when it answers."""

from __future__ import annotations

import io
import json
import time

import pytest
from rich.console import Console

import state
from connectors import FaultPlan
from flows.apply import Outcome
from flows.apply_cmd import apply_command
from flows.cli import UserError, main
from flows.quarantine import health_lines, note_apply
from flows.run import apply_all, pull_all
from flows.steps import plan_all, pull_service
from flows.sync import finish


def sync(ws, *, allow_removals=True):
    """A sync as the flow runs it, without Prefect: pull, plan, apply, finish."""
    run_id = state.start_run(ws.db, "sync", actor=ws.actor)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=allow_removals)
    state.save_plan(ws.db, result.plan, run_id)
    outcomes = apply_all(ws, result, run_id, approved_by=ws.actor if allow_removals else None)
    finish(ws, run_id, "sync", result, outcomes, time.monotonic())
    return run_id, result


def broken():
    return FaultPlan(rate=1.0, kinds=("5xx",))


def leaver_in(ws, service):
    """An active person with an account in ``service``, now marked as left: the next plan removes the account."""
    active = {p.id for p in state.list_people(ws.db, status="active")}
    external_id, ident = next((e, i) for e, i in sorted(state.identities_for(ws.db, service).items())
                              if i.person_id in active)
    state.set_status(ws.db, ident.person_id, "left")
    return external_id


def actions(ws, action):
    return [e for e in state.audit_entries(ws.db) if e["action"] == action]


def test_three_failing_runs_pause_a_service_which_plans_nothing_until_a_probe_answers(coalition, tmp_path):
    ws = coalition()
    wecom = ws.sandboxes["wecom"]
    sync(ws)  # converge first
    gone = leaver_in(ws, "wecom")
    run_id = state.start_run(ws.db, "plan", actor=ws.actor)
    saved = plan_all(ws, pull_all(ws, run_id), allow_removals=True).plan
    assert any(c.service == "wecom" and c.op == "remove" for c in saved.changes)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({"muster_plan": 1, "allow_removals": True,
                                     "plan": saved.model_dump(mode="json")}), encoding="utf-8")

    wecom.faults = broken()
    writes, status = wecom.write_calls, wecom.users[gone]["status"]
    assert status != 2  # not disabled
    for n in (1, 2, 3):
        _, result = sync(ws)
        assert not result.observed["wecom"].complete
        assert not result.plan.for_service("wecom")
        health = state.get_health(ws.db, "wecom")
        assert health["failures"] == n and (health["paused_at"] is not None) == (n == 3)
    assert [e["service"] for e in actions(ws, "pause service")] == ["wecom"]

    # the fourth run probes instead of reading: only the token and the cheap check are asked for
    before = dict(wecom.calls)
    _, result = sync(ws)
    asked = {path for path, n in wecom.calls.items() if n != before.get(path, 0)}
    assert asked and all(p.endswith(("/gettoken", "/department/simplelist")) for p in asked)
    error = result.observed["wecom"].error
    assert error.startswith("paused since ") and "after 3 failing runs: " in error
    assert error.endswith("; probing each run")
    refusal = next(r for r in result.plan.refused if r.service == "wecom" and r.target == "*")
    assert refusal.reason.startswith("wecom is paused, so nothing is planned for it (no removals): paused since")
    assert state.get_health(ws.db, "wecom")["probe_error"]
    summary = state.get_run(ws.db, state.last_runs(ws.db, 1)[0]["id"])["summary"]
    assert summary["paused"] == {"wecom": error}

    # the removal planned before the pause never happens: the saved plan is refused, the account stays
    with pytest.raises(UserError, match="wecom could not be read now: paused since"):
        apply_command(Console(file=io.StringIO()), ws, plan_file, allow_removals=True, yes=True)
    assert wecom.write_calls == writes
    assert wecom.users[gone]["status"] == status

    # the service answers again: the next run's probe resumes it, reads it, and applies its plan
    wecom.faults = FaultPlan()
    _, result = sync(ws)
    health = state.get_health(ws.db, "wecom")
    assert health["paused_at"] is None and health["failures"] == 0 and health["resumed_at"]
    assert [e["service"] for e in actions(ws, "resume service")] == ["wecom"]
    assert result.observed["wecom"].complete
    assert wecom.users[gone]["status"] == 2  # disabled now
    assert state.verify(ws.db) is None


def test_a_paused_service_is_probed_once_per_run(coalition):
    ws = coalition()
    wecom = ws.sandboxes["wecom"]
    wecom.faults = broken()
    for _ in range(3):
        pull_service(ws, "wecom", state.start_run(ws.db, "pull", actor=ws.actor))
    run_id = state.start_run(ws.db, "pull", actor=ws.actor)
    first = pull_service(ws, "wecom", run_id)
    requests = wecom.requests
    second = pull_service(ws, "wecom", run_id)  # e.g. offboarding and the sync of one run
    assert wecom.requests == requests
    assert first.error == second.error and second.error.startswith("paused since")


def test_reads_that_fail_in_one_run_count_once_and_a_good_read_clears_the_streak(coalition):
    ws = coalition()
    wecom = ws.sandboxes["wecom"]
    wecom.faults = broken()
    run_id = state.start_run(ws.db, "pull", actor=ws.actor)
    pull_service(ws, "wecom", run_id)
    pull_service(ws, "wecom", run_id)
    assert state.get_health(ws.db, "wecom")["failures"] == 1
    pull_service(ws, "wecom", state.start_run(ws.db, "pull", actor=ws.actor))
    assert state.get_health(ws.db, "wecom")["failures"] == 2
    wecom.faults = FaultPlan()
    assert pull_service(ws, "wecom", state.start_run(ws.db, "pull", actor=ws.actor)).complete
    assert state.get_health(ws.db, "wecom")["failures"] == 0
    assert actions(ws, "pause service") == []


def test_failing_applies_pause_a_service_even_though_its_reads_work(coalition):
    ws = coalition()
    for n in (1, 2, 3):
        run_id = state.start_run(ws.db, "sync", actor=ws.actor)
        assert pull_service(ws, "dingtalk", run_id).complete  # a good read does not clear an apply streak
        note_apply(ws, Outcome("dingtalk", error="authentication failed"), run_id)
        assert state.get_health(ws.db, "dingtalk")["failures"] == n
    health = state.get_health(ws.db, "dingtalk")
    assert health["paused_at"] and health["failure_kind"] == "apply"
    assert actions(ws, "pause service")[0]["reason"] == "3 failing runs in a row: authentication failed"
    # the service answers its probe: resumed, read, and a clean apply keeps the count at zero
    run_id = state.start_run(ws.db, "sync", actor=ws.actor)
    assert pull_service(ws, "dingtalk", run_id).complete
    note_apply(ws, Outcome("dingtalk"), run_id)
    assert state.get_health(ws.db, "dingtalk")["failures"] == 0


def test_a_clean_apply_clears_an_apply_streak(coalition):
    ws = coalition()
    run_id = state.start_run(ws.db, "sync", actor=ws.actor)
    note_apply(ws, Outcome("feishu", error="authentication failed"), run_id)
    note_apply(ws, Outcome("feishu"), run_id)  # the same run: it failed, it stays failed
    assert state.get_health(ws.db, "feishu")["failures"] == 1
    note_apply(ws, Outcome("feishu"), state.start_run(ws.db, "sync", actor=ws.actor))
    assert state.get_health(ws.db, "feishu")["failures"] == 0


def test_status_shows_paused_and_failing_services(coalition, capsys, tmp_path):
    ws = coalition()
    for service, runs in (("wecom", 3), ("dingtalk", 1)):
        for _ in range(runs):
            state.record_failure(ws.db, service, run_id=state.start_run(ws.db, "sync", actor="t"),
                                 error="HTTP 503 [x]", kind="read", actor="t")
    assert len(health_lines(ws)) == 2
    with pytest.raises(SystemExit) as info:
        main(["status", "--config", str(tmp_path / "c" / "muster.yaml")])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "wecom: paused since " in out and "after 3 failing runs: HTTP 503 [x]; probing each run" in out
    assert "dingtalk: 1 failing run(s) in a row (paused at 3): HTTP 503 [x]" in out

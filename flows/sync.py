"""The ``sync`` flow: pull → resolve → plan → apply → report, one coarse task per service per step.

The flow only orders plain functions (``flows.run``, ``flows.steps``, ``flows.apply``).
A workspace is handed over by reference: either the path of a config file (deployments)
or the key of a workspace registered in this process (the CLI and the demo, which keep
their sandboxes in memory). Task arguments are small strings; nothing is cached.
"""

from __future__ import annotations

import time
import uuid

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

import state
from flows import quarantine
from flows.apply import Outcome, apply_service
from flows.locking import coalition_lock
from flows.offboard import offboard_leaving
from flows.report import markdown, write_report
from flows.run import summarize
from flows.settle import advance_baseline
from flows.steps import PlanResult, Progress, plan_all, pull_service
from flows.workspace import Workspace

_WORKSPACES: dict[str, Workspace] = {}
_PROGRESS: dict[str, Progress] = {}


def register(ws: Workspace, progress: Progress | None = None) -> str:
    """Make ``ws`` reachable from flow and task runs in this process; returns its key."""
    key = uuid.uuid4().hex[:12]
    _WORKSPACES[key] = ws
    if progress:
        _PROGRESS[key] = progress
    return key


def _ws(ref: str) -> Workspace:
    if ref in _WORKSPACES:
        return _WORKSPACES[ref]
    _WORKSPACES[ref] = Workspace.from_config(ref)
    return _WORKSPACES[ref]


def _progress(ref: str) -> Progress:
    return _PROGRESS.get(ref, lambda what, n: None)


@task(name="pull", cache_policy=NO_CACHE, task_run_name="pull-{service}")
def pull_task(ref: str, service: str, run_id: str):
    """Read one service."""
    return pull_service(_ws(ref), service, run_id, _progress(ref))


@task(name="plan", cache_policy=NO_CACHE)
def plan_task(ref: str, observed: dict, allow_removals: bool) -> PlanResult:
    """Resolve identities and plan every service."""
    return plan_all(_ws(ref), observed, allow_removals=allow_removals)


@task(name="apply", cache_policy=NO_CACHE, task_run_name="apply-{service}")
def apply_task(ref: str, result: PlanResult, service: str, run_id: str, approved_by: str | None) -> Outcome:
    """Apply one service's part of the plan."""
    ws = _ws(ref)
    outcome = apply_service(ws, result.plan, service, run_id, progress=_progress(ref), approved_by=approved_by)
    quarantine.note_apply(ws, outcome, run_id)  # a service-level error counts toward pausing it
    return outcome


@flow(name="sync", persist_result=False, log_prints=False)
def sync_flow(workspace: str, allow_removals: bool = False, kind: str = "sync", wait: float | None = 0.0) -> dict:
    """Sync every connected service with the roster and policy, holding the coalition's lock (``wait`` seconds)."""
    ws, started = _ws(workspace), time.monotonic()
    with coalition_lock(ws, kind, wait=wait):  # one writing run per coalition: applies never interleave
        run_id = state.start_run(ws.db, kind, actor=ws.actor, params={"allow_removals": allow_removals})
        try:
            summary = _sync(ws, workspace, run_id, kind, allow_removals, started)
        except BaseException as exc:
            state.finish_run(ws.db, run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"})
            raise
    create_markdown_artifact(summary["markdown"], key="muster-run", description=f"Muster {kind} {run_id}")
    return summary


@task(name="offboard-leaving", cache_policy=NO_CACHE)
def offboard_task(ref: str, run_id: str) -> list:
    """Hand over and revoke for everyone whose status became leaving (or whose grace ended)."""
    return offboard_leaving(_ws(ref), run_id)


@task(name="follow-up", cache_policy=NO_CACHE)
def follow_up_task(ref: str, run_id: str) -> dict:
    """Reassign and remind work items (WeChat groups, Shimo) and access reviews that wait too long."""
    from flows.access_review import remind_reviews
    from flows.work_items import remind_and_reassign

    ws = _ws(ref)
    items = remind_and_reassign(ws, run_id)
    return {"work_items": {k: len(v) for k, v in items.items()}, "reviews": len(remind_reviews(ws, run_id))}


def _sync(ws: Workspace, workspace: str, run_id: str, kind: str, allow_removals: bool, started: float) -> dict:
    offboard_task(workspace, run_id)
    follow_up_task(workspace, run_id)
    pulls = {s: pull_task.submit(workspace, s, run_id) for s in ws.services}
    observed = {s: f.result() for s, f in pulls.items()}
    result = plan_task(workspace, quote(observed), allow_removals)
    state.save_plan(ws.db, result.plan, run_id)
    approved = ws.actor if allow_removals else None
    applies = {s: apply_task.submit(workspace, quote(result), s, run_id, approved)
               for s in sorted({c.service for c in result.plan.changes})}
    outcomes = {s: f.result() for s, f in applies.items()}
    summary = finish(ws, run_id, kind, result, outcomes, started)
    return {**summary, "markdown": markdown(summary, result.plan)}


@flow(name="onboard", persist_result=False, log_prints=False)
def onboard_flow(workspace: str, item_id: int | None = None) -> dict:
    """Onboard whatever the inbox holds (the receiver starts one run per push; batches absorb bursts)."""
    from flows.forms import process_inbox

    ws = _ws(workspace)
    run_id = state.start_run(ws.db, "onboard", actor=ws.actor, params={"item": item_id})
    batches = process_inbox(ws, run_id)
    admissions = [a for b in batches for a in b.admissions]
    summary = {"items": len(admissions), "onboarded": sum(a.status == "onboarding" for a in admissions),
               "review": sum(a.status == "review" for a in admissions),
               "failed": sum(a.status == "failed" for a in admissions)}
    state.finish_run(ws.db, run_id, "ok" if not summary["failed"] else "partial", summary)
    return summary


def finish(ws: Workspace, run_id: str, kind: str, result: PlanResult, outcomes: dict[str, Outcome],
           started: float) -> dict:
    """Summarise, record the run and plan status, and write the run report."""
    summary = summarize(ws, run_id, kind, result, outcomes, started)
    quarantine.note_run(ws, run_id, result.observed, outcomes)  # a clean run clears a service's failing streak
    advance_baseline(ws, run_id, result, outcomes)  # what Muster did is not drift
    if result.plan.changes:
        state.set_plan_status(ws.db, result.plan.id, "applied" if summary["status"] == "ok" else "partial")
    summary["report"] = str(write_report(ws.reports, summary, result.plan))
    state.finish_run(ws.db, run_id, summary["status"], summary)
    return summary


__all__ = ["finish", "onboard_flow", "register", "sync_flow"]

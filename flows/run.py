"""One sync, as plain functions the Prefect flow and the CLI share.

``pull_all`` and ``apply_all`` fan out one thread per service (their APIs and rate
limits are independent); ``summarize`` turns a run into the dict that the console
report, the saved run report, the runs table and the Prefect artifact all show.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from flows import quarantine
from flows.apply import Outcome, apply_service
from flows.steps import PlanResult, Progress, pull_service
from flows.workspace import Workspace
from mappings.models import Observed


def _quiet(what: str, n: int) -> None:
    pass


def pull_all(ws: Workspace, run_id: str, progress: Progress = _quiet) -> dict[str, Observed]:
    """Read every connected service concurrently."""
    with ThreadPoolExecutor(max_workers=max(1, len(ws.services))) as pool:
        futures = {s: pool.submit(pull_service, ws, s, run_id, progress) for s in ws.services}
        return {s: f.result() for s, f in futures.items()}


def apply_all(ws: Workspace, result: PlanResult, run_id: str, progress: Progress = _quiet,
              approved_by: str | None = None) -> dict[str, Outcome]:
    """Apply the plan to every service concurrently; one failing service does not stop the others."""
    services = sorted({c.service for c in result.plan.changes})
    with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
        futures = {s: pool.submit(apply_service, ws, result.plan, s, run_id, progress=progress,
                                  approved_by=approved_by) for s in services}
        outcomes = {s: f.result() for s, f in futures.items()}
    for outcome in outcomes.values():
        quarantine.note_apply(ws, outcome, run_id)  # a service-level error counts toward pausing it
    return outcomes


def plan_counts(result: PlanResult) -> dict[str, dict[str, int]]:
    """Changes per service per kind, e.g. ``{"wecom": {"add account": 3}}``."""
    out: dict[str, Counter] = {}
    for c in result.plan.changes:
        kind = c.target.split(":", 1)[0]
        verb = "owner" if c.op == "change" and kind in ("chat", "tag") else c.op
        what = f"create {kind}" if c.object_id == "*" else f"{verb} {'member' if kind in ('chat', 'tag') else kind}"
        out.setdefault(c.service, Counter())[what] += 1
    return {s: dict(sorted(v.items())) for s, v in out.items()}


def summarize(ws: Workspace, run_id: str, kind: str, result: PlanResult, outcomes: dict[str, Outcome],
              started: float) -> dict:
    """The run summary: pulled, matched, planned, applied, refused, per service."""
    services = {}
    counts = plan_counts(result)
    for service, obs in sorted(result.observed.items()):
        res = result.resolutions.get(service)
        out = outcomes.get(service)
        services[service] = {
            "pulled": {"complete": obs.complete, "error": obs.error, "accounts": len(obs.accounts),
                       "groups": len(obs.groups), "members": sum(len(m) for m in obs.members.values())},
            "matched": res.counts() if res else {},
            "planned": counts.get(service, {}),
            "applied": out.summary() if out else None,
        }
    failed = any(o.failed or o.error for o in outcomes.values())
    unread = any(not o.complete for o in result.observed.values())
    status = "failed" if failed and not any(o.applied for o in outcomes.values()) else (
        "partial" if failed or unread else "ok")
    return {
        "run_id": run_id, "kind": kind, "coalition": ws.coalition, "status": status,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 2), "people": result.people,
        "plan_id": result.plan.id, "changes": len(result.plan.changes),
        "write_calls": sum(o.calls for o in outcomes.values()),
        "services": services,
        "refused": [r.model_dump() for r in result.plan.refused],
        "paused": {s: o.error for s, o in sorted(result.observed.items()) if quarantine.is_paused(o.error)},
    }


__all__ = ["apply_all", "plan_counts", "pull_all", "summarize"]

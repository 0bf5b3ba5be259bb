"""The service-hours ledger as a Prefect flow: collect attendance of every known meeting, recompute hours.

Deployed daily (``prefect.yaml``, ``muster deploy``); ``muster hours`` does the same from the
command line. The flow takes a coalition's config path (or an in-process workspace key, like
``sync``); the work is ``flows.hours.collect``, which reads each known training meeting's
participants, stores them and recomputes the hours (certified records are never changed).
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

import state
from flows.hours import Collected, collect
from flows.sync import _ws


def summary(got: Collected) -> dict:
    """What a collection did, as counts (small enough for a flow result and the runs table)."""
    return {"meetings": got.meetings, "joins": got.joins, "new_joins": got.new_joins, "added": got.added,
            "updated": got.updated, "unchanged": got.unchanged, "evidence_changed": len(got.evidence_changed),
            "unmatched": len(got.unmatched), "linked": len(got.linked), "errors": dict(got.errors)}


@task(name="hours-collect", cache_policy=NO_CACHE)
def collect_task(ref: str) -> dict:
    """Read attendance of every known meeting and recompute hours; returns the counts."""
    return summary(collect(_ws(ref)))


@flow(name="hours", persist_result=False, log_prints=False)
def hours_flow(workspace: str) -> dict:
    """Collect attendance and recompute service hours for one coalition; the run is recorded (kind ``hours``)."""
    ws = _ws(workspace)
    with ws.lock:
        run_id = state.start_run(ws.db, "hours", actor=ws.actor)
    try:
        result = collect_task(workspace)
    except BaseException as exc:
        with ws.lock:
            state.finish_run(ws.db, run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"})
        raise
    with ws.lock:
        state.finish_run(ws.db, run_id, "partial" if result["errors"] else "ok", result)
    return {"run": run_id, **result}


__all__ = ["collect_task", "hours_flow", "summary"]

"""Applying a few chosen changes of one service, through the same path as a sync.

Settling a drift item or an access-review answer must not bypass anything a sync promises:
the service is read afresh, the whole plan is computed (so exceptions just recorded take
effect), only the chosen changes are kept (plus synthesized ones the planner would never
make itself, such as removing someone the roster does not know), the removal guards judge
them, and apply journals before it sends and audits what it did — with the reason given.
The baseline moves with what was applied, so a settled item is not drift any more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import state
from flows import quarantine
from flows.apply import Outcome, apply_service
from flows.locking import coalition_lock
from flows.steps import PlanResult, plan_all, pull_service
from flows.workspace import Workspace
from mappings.drift import advance
from mappings.guards import guard_plan
from mappings.models import Change, Plan, Refusal


class SettleError(Exception):
    """The service could not be read, so nothing was changed."""


@dataclass
class Settled:
    """What settling did: the changes kept, applied, failed, and refused by the planner or a guard."""

    run_id: str
    planned: list[Change] = field(default_factory=list)
    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def settle(ws: Workspace, service: str, select: Callable[[Change], bool], *, reason: str, kind: str = "settle",
           extra: Sequence[Change] = (), allow_removals: bool = False, wait: float | None = 0.0) -> Settled:
    """Read ``service``, plan it, and apply the changes ``select`` keeps plus ``extra``; see the module doc.

    Holds the coalition's lock (``flows.locking``; ``Busy`` after ``wait`` seconds), like a sync.
    """
    with coalition_lock(ws, kind, wait=wait):
        return _settle(ws, service, select, reason=reason, kind=kind, extra=extra, allow_removals=allow_removals)


def _settle(ws: Workspace, service: str, select: Callable[[Change], bool], *, reason: str, kind: str,
            extra: Sequence[Change], allow_removals: bool) -> Settled:
    started = time.monotonic()
    run_id = state.start_run(ws.db, kind, actor=ws.actor, params={"service": service, "reason": reason})
    obs = pull_service(ws, service, run_id)
    if not obs.complete:
        state.finish_run(ws.db, run_id, "failed", {"error": obs.error})
        raise SettleError(f"{service} could not be read, so nothing was changed: {obs.error}")
    result = plan_all(ws, {service: obs}, allow_removals=True)
    chosen = [c for c in result.plan.changes if select(c)]
    keys = {c.key for c in chosen}
    chosen += [c for c in extra if c.key not in keys]
    chosen = [c.model_copy(update={"reason": f"{c.reason} — {reason}"}) for c in chosen]
    kept, held = guard_plan(chosen, {service: obs}, ws.policy.guards, allow_removals=allow_removals)
    out = Settled(run_id, planned=kept, refused=held + [r for r in result.plan.refused if _about(r, chosen)])
    if kept:
        plan = Plan(changes=sorted(kept, key=Change.sort_key), refused=held, basis=result.plan.basis,
                    fingerprints=result.plan.fingerprints, created_at=datetime.now(UTC))
        state.save_plan(ws.db, plan, run_id)
        outcome = apply_service(ws, plan, service, run_id, approved_by=ws.actor if allow_removals else None)
        quarantine.note_apply(ws, outcome, run_id)
        out.applied, out.failed = outcome.applied, outcome.failed
        advance_baseline(ws, run_id, PlanResult(plan, observed={service: obs}), {service: outcome})
    status = "ok" if not out.failed else "partial"
    state.finish_run(ws.db, run_id, status, {"reason": reason, "changes": len(kept), "applied": len(out.applied),
                                             "failed": len(out.failed), "refused": len(out.refused),
                                             "seconds": round(time.monotonic() - started, 2)})
    return out


def _about(refusal: Refusal, changes: list[Change]) -> bool:
    return any(refusal.target == c.target and refusal.object_id in ("", c.object_id) for c in changes)


def advance_baseline(ws: Workspace, run_id: str, result: PlanResult, outcomes: dict[str, Outcome]) -> None:
    """Move each read service's baseline by what was applied (its first complete read starts it)."""
    for service, obs in result.observed.items():
        if not obs.complete:
            continue
        with ws.lock:
            current = state.get_baseline(ws.db, service)
            outcome = outcomes.get(service)
            applied = outcome.applied if outcome else []
            if current is not None and not applied:
                continue
            base = current[0] if current else obs
            created = state.resource_ids(ws.db, service)
            state.set_baseline(ws.db, advance(base, applied, created), run_id)


__all__ = ["SettleError", "Settled", "advance_baseline", "settle"]

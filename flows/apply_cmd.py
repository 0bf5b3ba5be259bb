"""``muster apply``: apply exactly a saved plan, or re-plan, show and apply.

A saved plan is applied only if nothing it was computed from has changed: the same
roster, policy and identity links (the plan's ``basis``) and the same observed state in
every service it touches (its ``fingerprints``, checked against a fresh read). Anything
else is a stale plan, refused with what changed; a plan already applied is refused too.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

import state
from flows.locking import coalition_lock
from flows.report import render_plan, render_summary
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from flows.sync import finish
from flows.workspace import Workspace
from mappings.models import Plan


def load_plan_file(path: Path) -> tuple[Plan, bool]:
    """The plan and its allow_removals flag from a ``muster plan --out`` file."""
    from flows.cli import UserError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("muster_plan") != 1:
            raise ValueError("not a Muster plan file (no muster_plan: 1)")
        return Plan.model_validate(data["plan"]), bool(data.get("allow_removals"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such plan file") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: cannot read the plan: {str(exc).splitlines()[0]}") from None


def apply_command(console: Console, ws: Workspace, plan_file: Path | None, *, allow_removals: bool,
                  yes: bool, wait: float | None = 0.0) -> str:
    """Run ``muster apply`` holding the coalition's lock (waiting ``wait`` seconds for it); returns the run status."""
    saved = None
    if plan_file is not None:
        saved, allow_removals = load_plan_file(plan_file)
    with coalition_lock(ws, "apply", wait=wait):  # applies never interleave; "already applied" is checked inside
        return _apply(console, ws, saved, allow_removals=allow_removals, yes=yes)


def _apply(console: Console, ws: Workspace, saved: Plan | None, *, allow_removals: bool, yes: bool) -> str:
    from flows.cli import UserError

    started = time.monotonic()
    if saved is not None:
        if state.plan_status(ws.db, saved.id) in ("applied",):
            raise UserError(f"plan {saved.id} was already applied; run `muster plan` for a new one")
    run_id = state.start_run(ws.db, "apply", actor=ws.actor, params={"plan": saved.id if saved else None})
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=allow_removals)
    if saved is not None:
        problem = _unread(saved, result) or staleness(saved, result.plan)
        if problem:
            state.finish_run(ws.db, run_id, "refused", {"stale": problem, "plan_id": saved.id})
            raise UserError(f"plan {saved.id} is stale: {problem}; run `muster plan` again")
        result.plan = saved
    state.save_plan(ws.db, result.plan, run_id)
    render_plan(console, result.plan, title="Applying" if saved else "Plan")
    if not result.plan.changes:
        state.finish_run(ws.db, run_id, "ok", {"changes": 0, "plan_id": result.plan.id})
        return "nochange"
    if saved is None and not yes and sys.stdin.isatty() and not typer.confirm(
            f"Apply these {len(result.plan.changes)} changes?"):
        state.finish_run(ws.db, run_id, "refused", {"declined": True, "plan_id": result.plan.id})
        return "declined"
    outcomes = apply_all(ws, result, run_id, approved_by=ws.actor if allow_removals else None)
    summary = finish(ws, run_id, "apply", result, outcomes, started)
    render_summary(console, summary)
    return summary["status"]


def _unread(saved: Plan, result) -> str | None:
    """A service the saved plan changes that this run could not read (paused, or failing): nothing is applied."""
    for service in sorted({c.service for c in saved.changes}):
        obs = result.observed.get(service)
        if obs is not None and not obs.complete:
            return f"{service} could not be read now: {obs.error}"
    return None


def staleness(saved: Plan, fresh: Plan) -> str | None:
    """Why ``saved`` no longer applies, or None if it still does."""
    if saved.basis != fresh.basis:
        return "the roster, policy or identity links changed since it was made"
    for service, fingerprint in saved.fingerprints.items():
        if fresh.fingerprints.get(service) != fingerprint:
            return f"{service} changed since it was made"
    return None


__all__ = ["apply_command", "load_plan_file", "staleness"]

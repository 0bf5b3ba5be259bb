"""Saved plans, so that what a coordinator reviewed is exactly what gets applied.

A plan is stored whole as JSON under its content id (``Plan.id``, a hash of its change
keys, basis and observed fingerprints), so saving the same plan twice is a no-op and a
plan cannot be edited after review without changing its id. Saving checks that the plan
survives the JSON round trip with the same id: a change whose ``before``/``after`` held a
set would otherwise come back with different journal keys and be sent a second time.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.db import NotFoundError

from mappings.models import Plan
from state.db import StateError, utc_now

PLAN_STATUSES = ("planned", "applied", "partial", "stale")


def save_plan(db: sqlite_utils.Database, plan: Plan, run_id: str | None) -> str:
    """Store a plan (status "planned") unless already stored; returns ``plan.id``."""
    body = plan.model_dump_json()
    plan_id = plan.id
    if Plan.model_validate_json(body).id != plan_id:
        raise StateError(f"plan {plan_id} does not survive a JSON round trip with the same id")
    row = {"id": plan_id, "run_id": run_id, "status": "planned", "basis": plan.basis,
           "created_at": plan.created_at.isoformat() if plan.created_at else None,
           "saved_at": utc_now(), "changes": len(plan.changes), "refused": len(plan.refused),
           "body": body}
    db["plans"].insert(row, pk="id", ignore=True)
    return plan_id


def load_plan(db: sqlite_utils.Database, plan_id: str) -> Plan:
    """A saved plan, exactly as saved; KeyError if absent."""
    row = db.execute("SELECT body FROM plans WHERE id = ?", [plan_id]).fetchone()
    if row is None:
        raise KeyError(plan_id)
    return Plan.model_validate_json(row[0])


def set_plan_status(db: sqlite_utils.Database, plan_id: str, status: str) -> None:
    """Mark a saved plan planned|applied|partial|stale; KeyError if absent."""
    if status not in PLAN_STATUSES:
        raise ValueError(f"unknown plan status {status!r}; expected one of {', '.join(PLAN_STATUSES)}")
    try:
        db["plans"].update(plan_id, {"status": status})
    except NotFoundError:
        raise KeyError(plan_id) from None


def plan_status(db: sqlite_utils.Database, plan_id: str) -> str | None:
    """A saved plan's status, or None if no such plan was saved."""
    row = db.execute("SELECT status FROM plans WHERE id = ?", [plan_id]).fetchone()
    return None if row is None else row[0]

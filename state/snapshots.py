"""What each service looked like at each run, as the connectors read it.

Snapshots let a report say what changed between two runs and let ``apply`` refuse a
saved plan whose observed state has moved on (the fingerprint). They are bulky (every
account and member of a service), so only the last ``KEEP`` per service are kept; the
audit log, not this table, is the long-term record.
"""

from __future__ import annotations

import sqlite_utils

from mappings.models import Observed
from state.db import utc_now

KEEP = 20


def save_snapshot(db: sqlite_utils.Database, run_id: str, observed: Observed) -> None:
    """Store a service's observed state for a run (replacing that run's earlier one); keep the last 20."""
    row = {"service": observed.service, "run_id": run_id, "taken_at": utc_now(),
           "complete": int(observed.complete), "fingerprint": observed.fingerprint(),
           "observed": observed.model_dump_json()}
    with db.atomic():
        db.execute("DELETE FROM snapshots WHERE service = ? AND run_id = ?", [observed.service, run_id])
        db["snapshots"].insert(row, pk="id")
        _prune(db, observed.service)


def latest_snapshot(db: sqlite_utils.Database, service: str) -> Observed | None:
    """The most recently saved observed state of ``service``, or None."""
    row = db.execute(
        "SELECT observed FROM snapshots WHERE service = ? ORDER BY id DESC LIMIT 1", [service]
    ).fetchone()
    return None if row is None else Observed.model_validate_json(row[0])


def snapshot_at(db: sqlite_utils.Database, service: str, run_id: str) -> Observed | None:
    """The observed state of ``service`` that run ``run_id`` saved, or None if it is not kept."""
    row = db.execute("SELECT observed FROM snapshots WHERE service = ? AND run_id = ? ORDER BY id DESC LIMIT 1",
                     [service, run_id]).fetchone()
    return None if row is None else Observed.model_validate_json(row[0])


def snapshot_runs(db: sqlite_utils.Database, service: str) -> list[str]:
    """The run ids that have a kept snapshot of ``service``, newest first."""
    rows = db.execute("SELECT run_id FROM snapshots WHERE service = ? ORDER BY id DESC", [service])
    return [r[0] for r in rows]


def _prune(db: sqlite_utils.Database, service: str) -> None:
    db.execute(
        "DELETE FROM snapshots WHERE service = ? AND id NOT IN"
        " (SELECT id FROM snapshots WHERE service = ? ORDER BY id DESC LIMIT ?)",
        [service, service, KEEP],
    )

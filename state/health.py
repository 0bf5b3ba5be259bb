"""Service health: consecutive failing runs per service, and the pause (quarantine) they lead to.

A run fails for a service when its read comes back incomplete or its apply raises a
service-level error; the count goes up at most once per run (``last_failed_run``). After
``PAUSE_AFTER`` failing runs in a row the service is paused: runs probe it instead of
reading or writing it, and the first probe that answers resumes it with the count reset.
Pausing and resuming are audited in the same transaction as the change of state.

A good read clears only a streak of bad reads (``failure_kind == "read"``): a service whose
applies keep failing reads fine every run, and must still be paused. A run that applies
without a service-level error (or needs no apply) clears any streak.
"""

from __future__ import annotations

import sqlite_utils

from state.audit import append
from state.db import utc_now

PAUSE_AFTER = 3  # failing runs in a row before a service is paused


def service_health(db: sqlite_utils.Database) -> list[dict]:
    """Every service's health row, by service name."""
    return list(db.query("SELECT * FROM service_health ORDER BY service"))


def get_health(db: sqlite_utils.Database, service: str) -> dict | None:
    """One service's health row, or None while nothing failed for it."""
    rows = list(db.query("SELECT * FROM service_health WHERE service = ?", [service]))
    return rows[0] if rows else None


def paused_services(db: sqlite_utils.Database) -> dict[str, dict]:
    """The paused services' health rows, by service."""
    return {r["service"]: r for r in db.query(
        "SELECT * FROM service_health WHERE paused_at IS NOT NULL ORDER BY service")}


def record_failure(db: sqlite_utils.Database, service: str, *, run_id: str, error: str, kind: str, actor: str,
                   pause_after: int = PAUSE_AFTER) -> dict:
    """Count a failing run for ``service`` (once per run); pause it at ``pause_after``. Returns the row.

    The row's ``just_paused`` is True when this call paused the service.
    """
    with db.atomic():
        row = get_health(db, service) or {"service": service, "failures": 0}
        now = utc_now()
        if row.get("last_failed_run") != run_id:
            row["failures"] = (row.get("failures") or 0) + 1
        row.update(failure_kind=kind, last_error=error, last_failed_at=now, last_failed_run=run_id, updated_at=now)
        just_paused = row["failures"] >= pause_after and not row.get("paused_at")
        if just_paused:
            row["paused_at"] = now
            append(db, run_id=run_id, actor=actor, action="pause service", service=service,
                   reason=f"{row['failures']} failing runs in a row: {error}",
                   detail={"failures": row["failures"], "kind": kind, "last_error": error})
        db["service_health"].upsert(row, pk="service")
    return {**row, "just_paused": just_paused}


def record_success(db: sqlite_utils.Database, service: str, *, run_id: str, kind: str) -> None:
    """Clear ``service``'s streak after a good read (``kind="read"``) or apply (``"apply"``); see the module doc."""
    with db.atomic():
        row = get_health(db, service)
        if row is None or not row["failures"] or row["last_failed_run"] == run_id or row["paused_at"]:
            return
        if kind == "read" and row["failure_kind"] != "read":
            return
        db["service_health"].update(service, {"failures": 0, "updated_at": utc_now()})


def record_probe(db: sqlite_utils.Database, service: str, *, run_id: str, error: str | None, actor: str) -> dict:
    """Record a paused service's probe: ``error`` None resumes it (count reset, audited). Returns the row."""
    with db.atomic():
        now = utc_now()
        row = get_health(db, service) or {"service": service, "failures": 0}
        row.update(probed_at=now, probe_error=error, probe_run=run_id, updated_at=now)
        if error is None and row.get("paused_at"):
            append(db, run_id=run_id, actor=actor, action="resume service", service=service,
                   reason=f"the probe answered; paused since {row['paused_at']} after {row['failures']} failing "
                          f"runs: {row.get('last_error')}",
                   detail={"paused_at": row["paused_at"], "failures": row["failures"]})
            row.update(failures=0, paused_at=None, resumed_at=now)
        db["service_health"].upsert(row, pk="service")
    return row


__all__ = ["PAUSE_AFTER", "get_health", "paused_services", "record_failure", "record_probe", "record_success",
           "service_health"]

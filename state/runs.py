"""One row per flow run: what ran, who started it, how it ended.

Every plan, journal row, snapshot and audit entry carries the id of the run that made
it, so "which run did this, and who started it" is one join away. Ids sort by start time
and are readable in logs (``R20261121T203001-3f2a``: UTC start plus 4 random hex digits).
"""

from __future__ import annotations

import secrets
import sqlite3

import sqlite_utils
from sqlite_utils.db import NotFoundError

from state import db as _db
from state.db import dumps, loads, utc_now

FINAL_STATUSES = ("ok", "partial", "failed", "refused")


def start_run(db: sqlite_utils.Database, kind: str, *, actor: str, params: dict | None = None) -> str:
    """Record a run as started (status "running") and return its new id."""
    while True:  # two runs in one second draw the same suffix 1 time in 65,536: draw again
        run_id = f"R{_db.clock():%Y%m%dT%H%M%S}-{_suffix()}"
        row = {"id": run_id, "kind": kind, "actor": actor, "params": dumps(params or {}),
               "status": "running", "started_at": utc_now()}
        try:
            db["runs"].insert(row, pk="id")
            return run_id
        except sqlite3.IntegrityError:
            continue


def finish_run(db: sqlite_utils.Database, run_id: str, status: str, summary: dict) -> None:
    """Close a run with its final status (ok|partial|failed|refused) and summary."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"unknown run status {status!r}; expected one of {', '.join(FINAL_STATUSES)}")
    try:
        db["runs"].update(run_id, {"status": status, "summary": dumps(summary), "finished_at": utc_now()})
    except NotFoundError:
        raise KeyError(run_id) from None


def get_run(db: sqlite_utils.Database, run_id: str) -> dict:
    """One run, params and summary decoded; KeyError if absent."""
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    if not rows:
        raise KeyError(run_id)
    return _run(rows[0])


def last_runs(db: sqlite_utils.Database, limit: int = 10) -> list[dict]:
    """The most recent runs, newest first."""
    rows = db.query("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", [limit])
    return [_run(r) for r in rows]


def _suffix() -> str:
    return secrets.token_hex(2)


def _run(row: dict) -> dict:
    return {**row, "params": loads(row["params"]), "summary": loads(row["summary"])}

"""The write-ahead journal of changes, and the last state Muster applied to each target.

Every change of a plan gets a row keyed by (plan_id, ``Change.key``) *before* it is sent
(kopf's progress records). The row then moves planned → sent → applied or failed, so:

- a re-run of the same plan skips keys already applied and sends nothing twice;
- a crash between sending and hearing back leaves rows that were sent but never answered
  (``unconfirmed``), which the next run must check against the service before resending;
- every attempt is counted, and the last error kept, even after a later retry succeeds.

``applied_state`` is kopf's "diffbase": the value Muster last set on each (target, object).
A service that cannot be read back is compared against it, and a difference between it and
what the service now reports is drift somebody else made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlite_utils

from mappings.models import Change
from state.db import chunked, dumps, loads, paused_gc, placeholders, utc_now

_STATUS_SQL = (
    "CASE WHEN applied_at IS NOT NULL THEN 'applied' WHEN failed_at IS NOT NULL THEN 'failed'"
    " WHEN sent_at IS NOT NULL THEN 'sent' ELSE 'planned' END"
)
_UNCONFIRMED = "sent_at IS NOT NULL AND applied_at IS NULL AND failed_at IS NULL"
_SENT_ORDER = "sent_at, plan_id, key"
_RECORD_APPLIED = (
    "INSERT INTO applied_state (service, target, object_id, value, run_id, applied_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (service, target, object_id) DO UPDATE SET value = excluded.value,"
    " run_id = excluded.run_id, applied_at = excluded.applied_at"
)
_JOURNAL_COLUMNS = ("plan_id", "key", "run_id", "service", "target", "object_id", "op", "change", "planned_at",
                    "attempts")
_RECORD_PLANNED = (f"INSERT OR IGNORE INTO journal ({', '.join(_JOURNAL_COLUMNS)})"
                   f" VALUES ({', '.join('?' * len(_JOURNAL_COLUMNS))})")


def record_planned(db: sqlite_utils.Database, plan_id: str, run_id: str, changes: Sequence[Change]) -> None:
    """Journal changes as planned, in one transaction; rows already journaled are left alone."""
    now = utc_now()
    rows = ((plan_id, c.key, run_id, c.service, c.target, c.object_id, c.op, c.model_dump_json(), now, 0)
            for c in changes)
    with db.atomic():
        db.conn.executemany(_RECORD_PLANNED, rows)


def mark_sent(db: sqlite_utils.Database, plan_id: str, keys: Sequence[str]) -> None:
    """Count an attempt and stamp sent_at (clearing an earlier failure); KeyError for unjournaled keys."""
    _update(db, plan_id, keys, "attempts = attempts + 1, sent_at = ?, failed_at = NULL", [utc_now()])


def mark_applied(
    db: sqlite_utils.Database, plan_id: str, keys: Sequence[str], result: dict | None = None
) -> None:
    """Stamp applied_at and keep what the service answered; KeyError for unjournaled keys."""
    _update(db, plan_id, keys, "applied_at = ?, result = ?", [utc_now(), _json_or_none(result)])


def mark_failed(db: sqlite_utils.Database, plan_id: str, keys: Sequence[str], error: str) -> None:
    """Stamp failed_at and keep the error; KeyError for unjournaled keys."""
    _update(db, plan_id, keys, "failed_at = ?, last_error = ?", [utc_now(), error])


def journal_status(db: sqlite_utils.Database, plan_id: str) -> dict[str, str]:
    """Each journaled key of a plan → planned|sent|applied|failed."""
    rows = db.execute(f"SELECT key, {_STATUS_SQL} FROM journal WHERE plan_id = ? ORDER BY rowid", [plan_id])
    return dict(rows.fetchall())


def unconfirmed(db: sqlite_utils.Database, keys: Sequence[str] | None = None) -> list[dict]:
    """Rows of any plan that were sent but never answered (optionally only these keys)."""
    if keys is None:
        return _rows(db, _UNCONFIRMED, [])
    found: list[dict] = []
    for part in chunked(sorted(set(keys))):
        found += _rows(db, f"{_UNCONFIRMED} AND key IN ({placeholders(part)})", list(part))
    return sorted(found, key=lambda r: (r["sent_at"], r["plan_id"], r["key"]))


def applied_anywhere(db: sqlite_utils.Database, keys: Sequence[str]) -> set[str]:
    """The keys among ``keys`` applied under any plan (for one-off side effects such as messages)."""
    found: set[str] = set()
    for chunk in chunked(list(keys)):
        rows = db.execute(f"SELECT DISTINCT key FROM journal WHERE applied_at IS NOT NULL AND key IN "
                          f"({placeholders(chunk)})", list(chunk)).fetchall()
        found.update(r[0] for r in rows)
    return found


def journal_rows(db: sqlite_utils.Database, plan_id: str) -> list[dict]:
    """A plan's journal in the order it was recorded; ``change`` as a Change, ``result`` decoded."""
    return _rows(db, "plan_id = ?", [plan_id], order="rowid")


def record_applied(
    db: sqlite_utils.Database, service: str, target: str, object_id: str, value: Any, run_id: str
) -> None:
    """Remember the value Muster last applied to (target, object) in a service."""
    record_applied_many(db, [(service, target, object_id, value)], run_id)


def record_applied_many(
    db: sqlite_utils.Database, values: Iterable[tuple[str, str, str, Any]], run_id: str
) -> None:
    """``record_applied`` for many (service, target, object_id, value) at once, in one statement."""
    now = utc_now()
    rows = [(service, target, object_id, dumps(value), run_id, now) for service, target, object_id, value in values]
    if rows:
        with db.atomic():
            db.conn.executemany(_RECORD_APPLIED, rows)


def forget_applied(db: sqlite_utils.Database, service: str, target: str, object_id: str) -> None:
    """Drop the remembered value (the object is gone); forgetting an unknown one is not an error."""
    db.execute(
        "DELETE FROM applied_state WHERE service = ? AND target = ? AND object_id = ?",
        [service, target, object_id],
    )


def applied_state(db: sqlite_utils.Database, service: str) -> dict[tuple[str, str], Any]:
    """Everything Muster last applied in a service: (target, object_id) → value."""
    rows = db.execute("SELECT target, object_id, value FROM applied_state WHERE service = ?", [service])
    return {(target, object_id): loads(value) for target, object_id, value in rows}


def _update(db: sqlite_utils.Database, plan_id: str, keys: Sequence[str], assign: str, values: list) -> None:
    unique = list(dict.fromkeys(keys))
    sql = f"UPDATE journal SET {assign} WHERE plan_id = ? AND key = ?"
    with db.atomic():
        cur = db.conn.executemany(sql, ([*values, plan_id, k] for k in unique))
        if cur.rowcount != len(unique):
            raise KeyError(f"not journaled in plan {plan_id}: {_missing(db, plan_id, unique)}")


def _missing(db: sqlite_utils.Database, plan_id: str, keys: list[str]) -> list[str]:
    present = set(journal_status(db, plan_id))
    return [k for k in keys if k not in present]


def _rows(db: sqlite_utils.Database, where: str, params: list, order: str = _SENT_ORDER) -> list[dict]:
    rows = db.query(f"SELECT *, {_STATUS_SQL} AS status FROM journal WHERE {where} ORDER BY {order}", params)
    with paused_gc():
        return [_decoded(r) for r in rows]


def _decoded(row: dict) -> dict:
    return {**row, "change": Change.model_validate_json(row["change"]), "result": loads(row["result"])}


def _json_or_none(value: Any) -> str | None:
    return None if value is None else dumps(value)

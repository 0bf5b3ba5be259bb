"""The audit log: every permission change explained, append-only and tamper-evident.

The coalition had to explain and log every permission change by hand; this is that log.
Each row stores the hash of the row before it (``prev_hash``) and its own
``hash = sha256(prev_hash + canonical JSON of its content)``, content including its
``seq`` and time. Editing, deleting or reordering any row breaks the chain from that row
on, and ``verify`` names the first row that no longer fits. Triggers make UPDATE and
DELETE fail outright, so only someone dropping them on purpose can rewrite history, and
even then ``verify`` notices unless the whole tail is re-hashed: anchor the head hash
elsewhere (a run summary, a report) to catch that too.

Sequence numbers are assigned here, explicitly, inside the writing transaction, so two
writers racing would collide on the primary key instead of forking the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from state.db import dumps, loads, paused_gc, utc_now

GENESIS = "0" * 64
_CONTENT = ("seq", "at", "run_id", "actor", "action", "service", "target", "object_id", "reason",
            "detail", "approved_by")
_COLUMNS = (*_CONTENT, "prev_hash", "hash")
_INSERT = f"INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def append(
    db: sqlite_utils.Database,
    *,
    run_id: str | None,
    actor: str,
    action: str,
    service: str = "",
    target: str = "",
    object_id: str = "",
    reason: str = "",
    detail: dict | None = None,
    approved_by: str | None = None,
) -> int:
    """Append one entry to the audit log; returns its seq."""
    entry = _entry(run_id=run_id, actor=actor, action=action, service=service, target=target,
                   object_id=object_id, reason=reason, detail=detail, approved_by=approved_by)
    return _write(db, [entry])[-1]["seq"]


def append_many(db: sqlite_utils.Database, entries: Iterable[dict]) -> int:
    """Append entries (each with ``append``'s keyword arguments) in one transaction; returns how many."""
    return len(_write(db, [_entry(**e) for e in entries]))


def verify(db: sqlite_utils.Database) -> int | None:
    """Check the whole hash chain: None if intact, else the seq of the first row that breaks it."""
    expected_seq, prev = 1, GENESIS
    cur = db.execute(f"SELECT {', '.join(_CONTENT)}, prev_hash, hash FROM audit ORDER BY seq")
    for values in cur:
        row = dict(zip((*_CONTENT, "prev_hash", "hash"), values, strict=True))
        if row["seq"] != expected_seq or row["prev_hash"] != prev or row["hash"] != _hash(prev, row):
            return row["seq"]
        expected_seq, prev = expected_seq + 1, row["hash"]
    return None


def audit_entries(
    db: sqlite_utils.Database, *, run_id: str | None = None, limit: int | None = None
) -> list[dict]:
    """Entries oldest first (``detail`` decoded), optionally of one run; ``limit`` keeps the newest N."""
    where, params = ("run_id = ?", [run_id]) if run_id is not None else ("1", [])
    sql = f"SELECT * FROM audit WHERE {where} ORDER BY seq DESC LIMIT ?"
    rows = db.query(f"SELECT * FROM ({sql}) ORDER BY seq", [*params, -1 if limit is None else limit])
    return [{**r, "detail": loads(r["detail"])} for r in rows]


def head(db: sqlite_utils.Database) -> tuple[int, str]:
    """The last seq and its hash ((0, GENESIS) when empty): the value to anchor elsewhere."""
    row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (row[0], row[1])


def _entry(
    *, run_id: str | None, actor: str, action: str, service: str = "", target: str = "",
    object_id: str = "", reason: str = "", detail: dict | None = None, approved_by: str | None = None,
) -> dict[str, Any]:
    return {"run_id": run_id, "actor": actor, "action": action, "service": service, "target": target,
            "object_id": object_id, "reason": reason, "detail": dumps(detail or {}),
            "approved_by": approved_by}


def _write(db: sqlite_utils.Database, entries: list[dict]) -> list[dict]:
    with db.atomic(), paused_gc():
        seq, prev = head(db)
        rows = []
        for entry in entries:
            seq += 1
            row = {"seq": seq, "at": utc_now(), **entry, "prev_hash": prev}
            row["hash"] = prev = _hash(prev, row)
            rows.append(row)
        # prepared SQL, one statement for the batch: sqlite-utils re-reads the schema on every insert_all
        db.conn.executemany(_INSERT, [tuple(row[c] for c in _COLUMNS) for row in rows])
    return rows


def _hash(prev_hash: str, row: dict) -> str:
    content = {k: row[k] for k in _CONTENT}
    return hashlib.sha256((prev_hash + dumps(content)).encode()).hexdigest()

"""Broadcasts and their deliveries: the journal that makes a re-run send nothing twice.

A broadcast is identified by its id (by default a hash of its text and scopes). Every
person in it has one delivery row per channel tried, written *before* the send
(``sent``) and settled after it: ``delivered`` (the service accepted it), ``rejected``
(the service named the account invalid — the next channel is tried) or ``failed`` (the
call failed as a whole; a re-run tries again). A row left ``sent`` means the process died
between sending and hearing back: whether the message went out is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from state.db import chunked, placeholders, utc_now

STATUSES = ("sent", "delivered", "rejected", "failed")


def open_broadcast(db: sqlite_utils.Database, broadcast_id: str, *, text: str, scopes: list[str], by: str) -> str:
    """Record a broadcast unless known; returns the text it is recorded with (an earlier one's if known)."""
    with db.atomic():
        db["broadcasts"].insert({"id": broadcast_id, "text": text, "scopes": ",".join(scopes), "created_by": by,
                                 "created_at": utc_now()}, ignore=True)
        return db.execute("SELECT text FROM broadcasts WHERE id = ?", [broadcast_id]).fetchone()[0]


def deliveries(db: sqlite_utils.Database, broadcast_id: str) -> list[dict]:
    """Every delivery row of a broadcast, by person then attempt."""
    return list(db["deliveries"].rows_where("broadcast_id = ?", [broadcast_id], order_by="person_id, attempt"))


def mark_sending(db: sqlite_utils.Database, broadcast_id: str, service: str,
                 rows: Iterable[tuple[str, str]]) -> None:
    """Journal ``(person_id, external_id)`` pairs as sent on ``service``, before the call."""
    now = utc_now()
    rows = list(rows)
    with db.atomic():
        attempts = _next_attempts(db, broadcast_id, [pid for pid, _ in rows])
        db["deliveries"].insert_all(
            ({"broadcast_id": broadcast_id, "person_id": pid, "attempt": attempts.get(pid, 1), "service": service,
              "external_id": ext, "status": "sent", "sent_at": now} for pid, ext in rows),
            pk=("broadcast_id", "person_id", "attempt"))


def settle(db: sqlite_utils.Database, broadcast_id: str, service: str, person_ids: Iterable[str], status: str,
           detail: str = "") -> None:
    """Settle the open (``sent``) rows of these people on ``service``."""
    if status not in STATUSES[1:]:
        raise ValueError(f"unknown delivery status {status!r}")
    now = utc_now()
    with db.atomic():
        for chunk in chunked(list(person_ids)):
            db.execute(f"UPDATE deliveries SET status = ?, answered_at = ?, detail = ? WHERE broadcast_id = ? "
                       f"AND service = ? AND status = 'sent' AND person_id IN ({placeholders(chunk)})",
                       [status, now, detail[:500], broadcast_id, service, *chunk])


def _next_attempts(db: sqlite_utils.Database, broadcast_id: str, person_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in chunked(person_ids):
        for pid, attempt in db.execute(
                f"SELECT person_id, MAX(attempt) FROM deliveries WHERE broadcast_id = ? "
                f"AND person_id IN ({placeholders(chunk)}) GROUP BY person_id", [broadcast_id, *chunk]):
            out[pid] = attempt + 1
    return out


__all__ = ["STATUSES", "deliveries", "mark_sending", "open_broadcast", "settle"]

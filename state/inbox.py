"""The durable inbox of form submissions, and the quarantine of pushes that were refused.

A form service pushes each submission once and, on a non-2xx answer, maybe again later, so
the receiver stores a push (committed) before it answers 200: after that answer the
submission exists only here. Rows are keyed by (configured form name, entry serial), so a
redelivered push is recognised ("unchanged") and an edited entry, which keeps its serial,
replaces the stored one ("updated") and must be onboarded again.

An item moves received → onboarding (``claim_pending``, atomic, so two workers never take
the same item) → onboarded | review | failed. An edit that arrives while its item is being
onboarded puts it back to received; the worker's result for the old version is then stale
and ``set_item_status`` drops it, so the new version is claimed and onboarded in turn.

Refused pushes (bad token, malformed body …) go to ``quarantine`` with their reason and
the readable part of the body, for a human to look at; nothing there is ever processed.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from mappings.models import FormEntry
from state.db import StateError, dumps, loads, utc_now

STATUSES = ("received", "onboarding", "onboarded", "review", "failed")
RESULTS = ("onboarded", "review", "failed")
QUARANTINE_BODY_LIMIT = 64 * 1024


def receive(db: sqlite_utils.Database, *, form: str, entry: FormEntry, payload: Any) -> tuple[int, str]:
    """Store a pushed entry, upserting by (form, serial), in one transaction.

    Returns:
        ``(item id, outcome)``: ``new``; ``updated`` (the entry changed: back to ``received``,
        attempts reset, to be onboarded again); ``unchanged`` (a redelivery: nothing written).

    Raises:
        StateError: the payload or entry holds text SQLite cannot store (a lone surrogate).
    """
    now = utc_now()
    entry_json, payload_json = _text(entry), _text(payload)
    with db.atomic():
        # The insert comes first so the transaction holds the write lock before it reads.
        cursor = db.execute(
            "INSERT INTO inbox (form, serial, service, payload, entry, received_at, updated_at, status, attempts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'received', 0) ON CONFLICT (form, serial) DO NOTHING",
            [form, entry.serial, entry.service, payload_json, entry_json, now, now],
        )
        if cursor.rowcount == 1:
            return cursor.lastrowid, "new"
        item_id, stored = db.execute(
            "SELECT id, entry FROM inbox WHERE form = ? AND serial = ?", [form, entry.serial]
        ).fetchone()
        if stored == entry_json:
            return item_id, "unchanged"
        db.execute(
            "UPDATE inbox SET service = ?, payload = ?, entry = ?, updated_at = ?, status = 'received',"
            " error = NULL, attempts = 0 WHERE id = ?",
            [entry.service, payload_json, entry_json, now, item_id],
        )
        return item_id, "updated"


def quarantine(
    db: sqlite_utils.Database, *, form: str | None, reason: str, body: bytes | str, remote: str | None
) -> int:
    """Keep a refused push: its reason and the first 64 KiB of its body (bad bytes replaced)."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "replace")
    row = {"form": _clean(form), "received_at": utc_now(), "reason": _clean(reason) or "refused",
           "body": raw[:QUARANTINE_BODY_LIMIT].decode("utf-8", "replace"), "remote": _clean(remote)}
    with db.atomic():
        return db["quarantine"].insert(row).last_pk


def inbox_items(db: sqlite_utils.Database, *, status: str | None = None, limit: int | None = None) -> list[dict]:
    """Inbox items, newest first; ``entry`` as a ``FormEntry``, ``payload`` decoded."""
    where, params = ("", []) if status is None else ("WHERE status = ?", [_status(status)])
    sql = f"SELECT * FROM inbox {where} ORDER BY id DESC"
    if limit is not None:
        sql, params = sql + " LIMIT ?", [*params, limit]
    return [_item(r) for r in _dicts(db.execute(sql, params))]


def get_item(db: sqlite_utils.Database, item_id: int) -> dict:
    """One inbox item; ``KeyError`` if there is none with that id."""
    rows = _dicts(db.execute("SELECT * FROM inbox WHERE id = ?", [item_id]))
    if not rows:
        raise KeyError(item_id)
    return _item(rows[0])


def set_item_status(
    db: sqlite_utils.Database, item_id: int, status: str, *, person_id: str | None = None, error: str | None = None
) -> bool:
    """Record an item's new status (and the person it became, or why it failed).

    A result (``onboarded``, ``review``, ``failed``) for an item that is back in ``received``
    is stale (the entry was edited while it was being onboarded): it is dropped and False
    returned, so the edited entry is onboarded in turn. ``person_id`` is kept when not given.

    Raises:
        KeyError: no such item.  ValueError: not a known status.
    """
    _status(status)
    with db.atomic():
        row = db.execute("SELECT status FROM inbox WHERE id = ?", [item_id]).fetchone()
        if row is None:
            raise KeyError(item_id)
        if status in RESULTS and row[0] == "received":
            return False
        db.execute(
            "UPDATE inbox SET status = ?, person_id = coalesce(?, person_id), error = ?, updated_at = ?"
            " WHERE id = ?",
            [status, person_id, error, utc_now(), item_id],
        )
    return True


def claim_pending(db: sqlite_utils.Database, limit: int = 100) -> list[dict]:
    """Move up to ``limit`` received items to ``onboarding`` (counting an attempt) and return them, oldest first."""
    with db.atomic():
        rows = _dicts(db.execute(
            "UPDATE inbox SET status = 'onboarding', attempts = attempts + 1, updated_at = ?"
            " WHERE id IN (SELECT id FROM inbox WHERE status = 'received' ORDER BY updated_at, id LIMIT ?)"
            " RETURNING *",
            [utc_now(), limit],
        ))
    # RETURNING gives no order; the claim order is the queue order before the update
    return [_item(r) for r in sorted(rows, key=lambda r: r["id"])]


def release_orphans(db: sqlite_utils.Database) -> list[int]:
    """Put items left in ``onboarding`` back to ``received``; returns their ids.

    Only for a caller that holds the coalition's lock (``flows.locking``), under which every
    claim is made: an item still ``onboarding`` then was claimed by a process that died
    mid-batch, and would otherwise never be onboarded. Its attempts keep counting.
    """
    with db.atomic():
        rows = db.execute(
            "UPDATE inbox SET status = 'received', updated_at = ? WHERE status = 'onboarding' RETURNING id",
            [utc_now()],
        ).fetchall()
    return sorted(r[0] for r in rows)


def quarantined(db: sqlite_utils.Database, *, limit: int | None = None) -> list[dict]:
    """Quarantined pushes, newest first."""
    sql, params = "SELECT * FROM quarantine ORDER BY id DESC", []
    if limit is not None:
        sql, params = sql + " LIMIT ?", [limit]
    return _dicts(db.execute(sql, params))


def _text(value: Any) -> str:
    text = dumps(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise StateError("cannot store text that is not valid Unicode (a lone surrogate)") from None
    return text


def _clean(text: str | None) -> str | None:
    return None if text is None else text.encode("utf-8", "replace").decode("utf-8")


def _status(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"unknown inbox status {status!r} (known: {', '.join(STATUSES)})")
    return status


def _dicts(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _item(row: dict) -> dict:
    return {**row, "payload": loads(row["payload"]), "entry": FormEntry.model_validate(loads(row["entry"]))}

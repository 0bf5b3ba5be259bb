"""Access reviews: who has access to what, confirmed or removed by whoever owns it.

A review (``R1``, ``R2`` …) freezes, when it opens, one item per (resource, member) in its
scope, each with its reviewer: the resource's owner, or the coordinator when it has none
that can answer. Items move ``pending`` → ``confirmed`` | ``removed``, or ``pending`` →
``escalated`` (the deadline passed; the coordinator answers) → ``confirmed`` | ``removed``.
An answered item is never answered again; a removal that did not go out (a guard held it,
the service failed) leaves its item open with the attempt's ``outcome``, so it can be
answered again, with approval. The audit log (``state.audit``) records every step; these
rows are the review's working state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import sqlite_utils

from state import db as _db
from state.db import placeholders, utc_now

OPEN_ITEMS = ("pending", "escalated")
ANSWERS = ("confirmed", "removed")
_ITEM_FIELDS = ("service", "kind", "resource_key", "resource_id", "resource_name", "person_id", "account_id",
                "member_name", "member_mobile", "level", "owner_id", "routed")


def start_access_review(db: sqlite_utils.Database, *, scope: str, opened_by: str, deadline: timedelta,
                        remind_after: timedelta, items: Iterable[dict], run_id: str | None = None) -> str:
    """Open a review with ``items`` (numbered 1… in the order given); returns its id (``R<n>``)."""
    opened = _db.clock()
    with db.atomic():
        seq = (db.execute("SELECT MAX(seq) FROM access_reviews").fetchone()[0] or 0) + 1
        review_id = f"R{seq}"
        db["access_reviews"].insert({
            "id": review_id, "seq": seq, "scope": scope, "opened_by": opened_by,
            "opened_at": opened.isoformat(timespec="microseconds"),
            "deadline": (opened + deadline).isoformat(timespec="microseconds"),
            "remind_after": int(remind_after.total_seconds()), "status": "open", "run_id": run_id}, pk="id")
        rows = [{"review_id": review_id, "item": n, **{k: item.get(k) for k in _ITEM_FIELDS},
                 "status": "pending", "reminders": 0} for n, item in enumerate(items, start=1)]
        db["access_review_items"].insert_all(rows, pk=("review_id", "item"))
    return review_id


def get_access_review(db: sqlite_utils.Database, review_id: str) -> dict:
    """One review with its item counts per status (``counts``); KeyError if unknown (``r3`` finds ``R3``)."""
    rows = list(db["access_reviews"].rows_where("id = ? COLLATE NOCASE", [review_id.strip()]))
    if not rows:
        raise KeyError(review_id)
    review = rows[0]
    counts = db.execute("SELECT status, COUNT(*) FROM access_review_items WHERE review_id = ? GROUP BY status",
                        [review["id"]])
    return {**review, "counts": dict(counts.fetchall())}


def access_reviews(db: sqlite_utils.Database, *, status: str | None = None) -> list[dict]:
    """Reviews, oldest first (optionally only ``open`` or ``closed`` ones), each with its ``counts``."""
    where, params = ("status = ?", [status]) if status else ("1", [])
    return [get_access_review(db, r["id"]) for r in db["access_reviews"].rows_where(where, params, order_by="seq")]


def access_review_items(db: sqlite_utils.Database, review_id: str, *, items: Iterable[int] | None = None,
                        status: Iterable[str] | None = None, owner_id: str | None = None) -> list[dict]:
    """A review's items by number, optionally only the numbers, statuses or reviewer given."""
    where, params = ["review_id = ?"], [review_id]
    for column, values in (("item", items), ("status", status)):
        if values is not None:
            values = list(values)
            where.append(f"{column} IN ({placeholders(values)})")
            params += values
    if owner_id is not None:
        where.append("owner_id = ?")
        params.append(owner_id)
    return list(db["access_review_items"].rows_where(" AND ".join(where), params, order_by="item"))


def answer_access_items(db: sqlite_utils.Database, review_id: str, items: Iterable[int], *, status: str, by: str,
                        reason: str = "", outcome: str | None = None) -> None:
    """Record an answer (``confirmed`` or ``removed``) on open items, all or none.

    Raises:
        KeyError: the review or an item does not exist.
        ValueError: the review is closed, or an item was already answered.
    """
    if status not in ANSWERS:
        raise ValueError(f"unknown answer {status!r}")
    numbers = sorted(set(items))
    with db.atomic():
        _check_open(db, review_id, numbers)
        db.execute(f"UPDATE access_review_items SET status = ?, answered_by = ?, answered_at = ?, reason = ?, "
                   f"outcome = ? WHERE review_id = ? AND item IN ({placeholders(numbers)})",
                   [status, by, utc_now(), reason or None, outcome, review_id, *numbers])


def note_access_outcome(db: sqlite_utils.Database, review_id: str, items: Iterable[int], outcome: str, *,
                        reason: str = "") -> None:
    """Remember what a removal attempt did on items that stay open (held by a guard, failed)."""
    numbers = sorted(set(items))
    db.execute(f"UPDATE access_review_items SET outcome = ?, reason = ? WHERE review_id = ? "
               f"AND item IN ({placeholders(numbers)})", [outcome, reason or None, review_id, *numbers])


def mark_reminded(db: sqlite_utils.Database, review_id: str, items: Iterable[int], round_: int) -> None:
    """Items whose reviewer got reminder number ``round_``."""
    numbers = sorted(set(items))
    db.execute(f"UPDATE access_review_items SET reminders = ?, reminded_at = ? WHERE review_id = ? "
               f"AND item IN ({placeholders(numbers)})", [round_, utc_now(), review_id, *numbers])


def escalate_access_items(db: sqlite_utils.Database, review_id: str, items: Iterable[int], *, to: str) -> int:
    """Move pending items to the coordinator ``to``; returns how many moved (escalated ones stay)."""
    numbers = sorted(set(items))
    cur = db.execute(f"UPDATE access_review_items SET status = 'escalated', escalated_to = ?, escalated_at = ? "
                     f"WHERE review_id = ? AND status = 'pending' AND item IN ({placeholders(numbers)})",
                     [to, utc_now(), review_id, *numbers])
    return cur.rowcount


def close_access_review(db: sqlite_utils.Database, review_id: str, *, by: str) -> None:
    """Close an open review (its open items stay as they are); KeyError if unknown, ValueError if closed."""
    review = get_access_review(db, review_id)
    if review["status"] != "open":
        raise ValueError(f"review {review['id']} is already closed")
    db["access_reviews"].update(review["id"], {"status": "closed", "closed_by": by, "closed_at": utc_now()})


def _check_open(db: sqlite_utils.Database, review_id: str, numbers: list[int]) -> None:
    review = get_access_review(db, review_id)
    if review["status"] != "open":
        raise ValueError(f"review {review_id} is closed")
    found = {r["item"]: r["status"] for r in access_review_items(db, review_id, items=numbers)}
    missing = [n for n in numbers if n not in found]
    if missing:
        raise KeyError(missing[0])
    done = [n for n in numbers if found[n] not in OPEN_ITEMS]
    if done:
        raise ValueError(", ".join(f"item {n} is already {found[n]}" for n in done))


__all__ = [
    "ANSWERS",
    "OPEN_ITEMS",
    "access_review_items",
    "access_reviews",
    "answer_access_items",
    "close_access_review",
    "escalate_access_items",
    "get_access_review",
    "mark_reminded",
    "note_access_outcome",
    "start_access_review",
]

"""Which account in which service belongs to which person, and the accounts a human must match.

An identity is keyed by (service, external_id): one account belongs to one person, while a
person may hold accounts in many services. Linking is an upsert, so re-running identity
resolution is harmless. When resolution is not sure (two people share a mobile, no match
at all) it files a review item instead of guessing; a coordinator resolves it. Resolved
items are kept as history, and at most one item is open per account, so a nightly run
that meets the same ambiguity again refreshes the open item instead of piling up copies.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from mappings.models import Identity
from state.db import dumps, loads, utc_now

_IDENTITY_COLUMNS = ("service", "external_id", "person_id", "matched_by")


_LINK = (
    "INSERT INTO identities (service, external_id, person_id, matched_by, linked_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (service, external_id) DO UPDATE SET person_id = excluded.person_id,"
    " matched_by = excluded.matched_by, linked_at = excluded.linked_at"
)


def link(db: sqlite_utils.Database, identities: Iterable[Identity]) -> None:
    """Insert or update identities, keyed by (service, external_id), in one transaction."""
    now = utc_now()
    rows = [(i.service, i.external_id, i.person_id, i.matched_by, now) for i in identities]
    if not rows:
        return
    with db.atomic():  # one prepared statement for the batch (no per-call schema reads)
        db.conn.executemany(_LINK, rows)


def unlink(db: sqlite_utils.Database, service: str, external_id: str) -> None:
    """Forget an identity; forgetting an unknown one is not an error."""
    db.execute("DELETE FROM identities WHERE service = ? AND external_id = ?", [service, external_id])


def identities_for(db: sqlite_utils.Database, service: str) -> dict[str, Identity]:
    """Every identity in ``service``, by external id."""
    rows = db["identities"].rows_where("service = ?", [service], select=", ".join(_IDENTITY_COLUMNS))
    return {r["external_id"]: Identity(**r) for r in rows}


def identities_of(db: sqlite_utils.Database, person_id: str) -> list[Identity]:
    """Every account a person holds, ordered by service and external id."""
    rows = db["identities"].rows_where(
        "person_id = ?", [person_id], select=", ".join(_IDENTITY_COLUMNS), order_by="service, external_id"
    )
    return [Identity(**r) for r in rows]


def add_review(
    db: sqlite_utils.Database, *, service: str, external_id: str, reason: str, candidates: list[str]
) -> None:
    """Open a review item for an account, or refresh the open one (keeping its created_at)."""
    now = utc_now()
    with db.atomic():
        open_id = _open_review_id(db, service, external_id)
        fields = {"reason": reason, "candidates": dumps(list(candidates)), "updated_at": now}
        if open_id is not None:
            db["reviews"].update(open_id, fields)
        else:
            db["reviews"].insert(
                {"service": service, "external_id": external_id, "created_at": now, **fields}, pk="id"
            )


def open_reviews(db: sqlite_utils.Database, service: str | None = None) -> list[dict]:
    """Unresolved review items (candidates decoded), oldest first."""
    where, params = ("resolved_at IS NULL", []) if service is None else (
        "resolved_at IS NULL AND service = ?", [service])
    rows = db["reviews"].rows_where(where, params, order_by="created_at, id")
    return [_review(r) for r in rows]


def resolve_review(db: sqlite_utils.Database, service: str, external_id: str, resolution: str) -> None:
    """Close the open review item of an account; KeyError if none is open."""
    with db.atomic():
        open_id = _open_review_id(db, service, external_id)
        if open_id is None:
            raise KeyError((service, external_id))
        db["reviews"].update(open_id, {"resolution": resolution, "resolved_at": utc_now()})


def _open_review_id(db: sqlite_utils.Database, service: str, external_id: str) -> int | None:
    row = db.execute(
        "SELECT id FROM reviews WHERE service = ? AND external_id = ? AND resolved_at IS NULL",
        [service, external_id],
    ).fetchone()
    return None if row is None else row[0]


def _review(row: dict) -> dict:
    return {
        "id": row["id"], "service": row["service"], "external_id": row["external_id"],
        "reason": row["reason"], "candidates": loads(row["candidates"]),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }

"""Work items: what a coordinator must do by hand, and what waits for it.

A leaver's chat that no API can hand over, a service that could not be read during an
offboarding — each becomes an open item; revocation of the leaver's access waits until
the items about them are done. (Personal WeChat groups will feed the same table.)
"""

from __future__ import annotations

import sqlite_utils

from state.db import utc_now

STATUSES = ("open", "done", "cancelled")


def add_work_item(db: sqlite_utils.Database, *, kind: str, service: str, detail: str,
                  person_id: str | None = None, assignee: str | None = None) -> int:
    """Open a work item; returns its id."""
    row = {"kind": kind, "service": service, "person_id": person_id, "assignee": assignee, "detail": detail,
           "status": "open", "created_at": utc_now()}
    with db.atomic():
        return db["work_items"].insert(row).last_pk


def open_work_items(db: sqlite_utils.Database, *, person_id: str | None = None) -> list[dict]:
    """Open items, oldest first (optionally only those about one person)."""
    where, params = "status = 'open'", []
    if person_id is not None:
        where, params = where + " AND person_id = ?", [person_id]
    return list(db["work_items"].rows_where(where, params, order_by="id"))


def close_work_item(db: sqlite_utils.Database, item_id: int, *, by: str, note: str = "",
                    status: str = "done") -> None:
    """Mark an item done (or cancelled); KeyError if there is no such open item."""
    if status not in STATUSES[1:]:
        raise ValueError(f"unknown work item status {status!r}")
    rows = list(db["work_items"].rows_where("id = ? AND status = 'open'", [item_id]))
    if not rows:
        raise KeyError(item_id)
    with db.atomic():
        db["work_items"].update(item_id, {"status": status, "done_at": utc_now(), "done_by": by, "note": note})


__all__ = ["add_work_item", "close_work_item", "open_work_items"]

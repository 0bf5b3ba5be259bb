"""Work items: what a coordinator must do by hand, and what waits for it.

A leaver's chat that no API can hand over, a service that could not be read during an
offboarding — each becomes an open item; revocation of the leaver's access waits until
the items about them are done.

Services without a membership API (personal WeChat groups, Shimo folders) feed the same
table: a plan's changes for one such group become one item for the group's owner, carrying
the changes themselves. Their groups' state is what people confirmed by hand
(``manual_groups``/``manual_members``): the declaration as last imported, then every item
marked done — recorded in the same transaction that closes the item.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from state.db import dumps, loads, utc_now

STATUSES = ("open", "done", "cancelled")


def add_work_item(db: sqlite_utils.Database, *, kind: str, service: str, detail: str,
                  person_id: str | None = None, assignee: str | None = None) -> int:
    """Open a work item; returns its id."""
    row = {"kind": kind, "service": service, "person_id": person_id, "assignee": assignee, "detail": detail,
           "status": "open", "created_at": utc_now()}
    with db.atomic():
        return db["work_items"].insert(row).last_pk


def open_work_items(db: sqlite_utils.Database, *, person_id: str | None = None,
                    service: str | None = None) -> list[dict]:
    """Open items, oldest first (optionally only those about one person, or of one service)."""
    where, params = "status = 'open'", []
    if person_id is not None:
        where, params = where + " AND person_id = ?", [person_id]
    if service is not None:
        where, params = where + " AND service = ?", [*params, service]
    return [_decoded(r) for r in db["work_items"].rows_where(where, params, order_by="id")]


def get_work_item(db: sqlite_utils.Database, item_id: int) -> dict:
    """One item in any status; KeyError if there is none."""
    rows = list(db["work_items"].rows_where("id = ?", [item_id]))
    if not rows:
        raise KeyError(item_id)
    return _decoded(rows[0])


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


# --- groups confirmed by hand --------------------------------------------------------


def manual_groups(db: sqlite_utils.Database, service: str) -> dict[str, dict]:
    """Key → group (kind, name, owner, declared) with ``members``: member id → person_id, name, mobile, level."""
    groups = {r["key"]: {**r, "members": {}} for r in db["manual_groups"].rows_where("service = ?", [service],
                                                                                    order_by="key")}
    for m in db["manual_members"].rows_where("service = ?", [service], order_by="group_key, member_id"):
        if m["group_key"] in groups:
            groups[m["group_key"]]["members"][m["member_id"]] = {
                k: m[k] for k in ("person_id", "name", "mobile", "level", "source", "confirmed_at")}
    return groups


def import_manual_groups(db: sqlite_utils.Database, service: str, groups: list[dict]) -> list[str]:
    """Take in a service's declared groups; returns the keys (re)imported.

    Each group has key, kind, name, owner, ``declared`` (a digest of its declaration) and
    ``members`` (dicts with member_id, person_id, name, mobile, level). A group whose
    declaration is unchanged keeps what was confirmed since; a changed one is replaced by
    it; a group no longer declared is dropped.
    """
    stored = {r["key"]: r["declared"] for r in db["manual_groups"].rows_where("service = ?", [service])}
    now, changed = utc_now(), []
    with db.atomic():
        for key in sorted(set(stored) - {g["key"] for g in groups}):
            _drop_group(db, service, key)
        for g in groups:
            if stored.get(g["key"]) == g["declared"]:
                continue
            _drop_group(db, service, g["key"])
            db["manual_groups"].insert({"service": service, "key": g["key"], "kind": g["kind"], "name": g["name"],
                                        "owner": g["owner"], "declared": g["declared"], "imported_at": now,
                                        "updated_at": now})
            db["manual_members"].insert_all(
                ({"service": service, "group_key": g["key"], "member_id": m["member_id"],
                  "person_id": m.get("person_id"), "name": m.get("name"), "mobile": m.get("mobile"),
                  "level": m["level"], "source": "declared", "confirmed_at": now} for m in g["members"]),
                pk=("service", "group_key", "member_id"), replace=True)
            changed.append(g["key"])
    return changed


def _drop_group(db: sqlite_utils.Database, service: str, key: str) -> None:
    db.execute("DELETE FROM manual_members WHERE service = ? AND group_key = ?", [service, key])
    db.execute("DELETE FROM manual_groups WHERE service = ? AND key = ?", [service, key])


def set_manual_owner(db: sqlite_utils.Database, service: str, key: str, owner: str) -> None:
    """Make ``owner`` (a person id) the one who changes a manual group; KeyError if it is not declared."""
    with db.atomic():
        cur = db.execute("UPDATE manual_groups SET owner = ?, updated_at = ? WHERE service = ? AND key = ?",
                         [owner, utc_now(), service, key])
        if cur.rowcount != 1:
            raise KeyError(f"{service}/{key}")


def add_manual_item(db: sqlite_utils.Database, *, service: str, group_key: str, assignee: str, detail: str,
                    changes: list[dict], plan_id: str | None, run_id: str | None, at: str | None = None) -> int:
    """Open the work item for one group's changes (each a dict with op, member_id, level …); returns its id."""
    row = {"kind": "manual", "service": service, "person_id": None, "assignee": assignee, "detail": detail,
           "status": "open", "created_at": at or utc_now(), "group_key": group_key, "changes": dumps(changes),
           "plan_id": plan_id, "run_id": run_id, "reminders": 0}
    with db.atomic():
        return db["work_items"].insert(row).last_pk


def confirm_manual_item(db: sqlite_utils.Database, item_id: int, *, by: str, note: str = "") -> dict:
    """Record an open manual item's changes as confirmed and close it, in one transaction; returns the item.

    KeyError if there is no such open item; a group no longer declared just closes.
    """
    item = get_work_item(db, item_id)
    if item["status"] != "open" or item["kind"] != "manual":
        raise KeyError(item_id)
    now, service, key = utc_now(), item["service"], item["group_key"]
    with db.atomic():
        declared = db.execute("SELECT 1 FROM manual_groups WHERE service = ? AND key = ?", [service, key]).fetchone()
        for c in item["changes"] if declared else ():
            if c["op"] == "remove":
                db.execute("DELETE FROM manual_members WHERE service = ? AND group_key = ? AND member_id = ?",
                           [service, key, c["member_id"]])
                continue
            db["manual_members"].upsert({"service": service, "group_key": key, "member_id": c["member_id"],
                                         "person_id": c.get("person_id"), "name": c.get("name"),
                                         "mobile": c.get("mobile"), "level": c["level"], "source": f"W{item_id}",
                                         "confirmed_at": now}, pk=("service", "group_key", "member_id"))
        if declared:
            db.execute("UPDATE manual_groups SET updated_at = ? WHERE service = ? AND key = ?", [now, service, key])
        db["work_items"].update(item_id, {"status": "done", "done_at": now, "done_by": by, "note": note})
    return item


def reassign_work_item(db: sqlite_utils.Database, item_id: int, assignee: str) -> None:
    """Give an open item to someone else."""
    with db.atomic():
        db["work_items"].update(item_id, {"assignee": assignee})


def note_work_item_notice(db: sqlite_utils.Database, item_id: int, notice: str, *, reminder_at: str | None = None
                          ) -> None:
    """Keep where an item's last notice went (or why it did not); a reminder also counts and stamps it."""
    update: dict[str, Any] = {"notice": notice}
    with db.atomic():
        if reminder_at is not None:
            db.execute("UPDATE work_items SET reminders = reminders + 1, reminded_at = ? WHERE id = ?",
                       [reminder_at, item_id])
        db["work_items"].update(item_id, update)


def _decoded(row: dict) -> dict:
    return {**row, "changes": loads(row.get("changes")) or []}


__all__ = ["add_manual_item", "add_work_item", "close_work_item", "confirm_manual_item", "get_work_item",
           "import_manual_groups", "manual_groups", "note_work_item_notice", "open_work_items",
           "reassign_work_item", "set_manual_owner"]

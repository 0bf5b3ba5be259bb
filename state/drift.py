"""Drift bookkeeping: grant exceptions, each service's baseline, and the drift items found.

- **Grant exceptions** are facts the roster/policy took in by hand: a drift adopted, a
  removal from an access review. The planner honours the active ones (``mappings.desired``).
- The **baseline** of a service is what it should look like if nobody but Muster touched it:
  its first complete read, then every change Muster applied on top. Drift is what the
  service shows that differs from both the baseline and the desired state.
- **Drift items** keep a stable id while the difference lasts, so an admin can settle one
  (``adopt`` or ``revert``) by id; settling is recorded with who did it and why.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from mappings.models import Observed
from state.db import dumps, loads, utc_now

EFFECTS = ("grant", "deny")
OPEN = "open"
SETTLED = ("adopted", "reverted")


# --- grant exceptions ------------------------------------------------------------------


def add_exception(db: sqlite_utils.Database, *, service: str, resource: str, person_id: str, effect: str,
                  level: str | None = None, reason: str, source: str, by: str) -> int:
    """Record an exception; an earlier active one for the same (service, resource, person) is revoked by it."""
    if effect not in EFFECTS:
        raise ValueError(f"unknown exception effect {effect!r}")
    if effect == "grant" and not level:
        raise ValueError("a grant exception needs a level")
    now = utc_now()
    with db.atomic():
        db.execute("UPDATE grant_exceptions SET revoked_at = ?, revoked_by = ? WHERE service = ? AND resource = ? "
                   "AND person_id = ? AND revoked_at IS NULL", [now, by, service, resource, person_id])
        return db["grant_exceptions"].insert(
            {"service": service, "resource": resource, "person_id": person_id, "effect": effect,
             "level": level if effect == "grant" else None, "reason": reason, "source": source,
             "created_by": by, "created_at": now}).last_pk


def active_exceptions(db: sqlite_utils.Database, service: str | None = None) -> list[dict]:
    """Exceptions in force, oldest first (optionally of one service)."""
    where, params = "revoked_at IS NULL", []
    if service is not None:
        where, params = where + " AND service = ?", [service]
    return list(db["grant_exceptions"].rows_where(where, params, order_by="id"))


def revoke_exception(db: sqlite_utils.Database, exception_id: int, *, by: str) -> None:
    """Withdraw an exception; KeyError if there is no such active one."""
    with db.atomic():
        cur = db.execute("UPDATE grant_exceptions SET revoked_at = ?, revoked_by = ? WHERE id = ? AND "
                         "revoked_at IS NULL", [utc_now(), by, exception_id])
        if cur.rowcount != 1:
            raise KeyError(exception_id)


# --- baselines --------------------------------------------------------------------------


def get_baseline(db: sqlite_utils.Database, service: str) -> tuple[Observed, str] | None:
    """The service's baseline and when it was last updated, or None before its first sync."""
    row = db.execute("SELECT observed, updated_at FROM baselines WHERE service = ?", [service]).fetchone()
    return None if row is None else (Observed.model_validate_json(row[0]), row[1])


def set_baseline(db: sqlite_utils.Database, observed: Observed, run_id: str | None) -> None:
    """Replace the service's baseline."""
    with db.atomic():
        db["baselines"].upsert({"service": observed.service, "run_id": run_id, "updated_at": utc_now(),
                                "observed": observed.model_dump_json()}, pk="service")


# --- drift items ------------------------------------------------------------------------


def record_drift(db: sqlite_utils.Database, service: str, items: Iterable[dict], run_id: str | None) -> dict:
    """Store what one check of ``service`` found; open items it no longer finds become ``resolved``.

    ``items`` are dicts with id, kind, target, object_id, external_id, group_id, summary,
    detail and made_by. A settled item found again (drift came back) is reopened, except
    ``adopted`` conditions (an owner who left, once acknowledged). Returns counts.
    """
    now, seen, counts = utc_now(), set(), {"new": 0, "open": 0, "resolved": 0}
    with db.atomic():
        known = {r["id"]: r for r in db.query("SELECT id, status, kind FROM drift_items WHERE service = ?",
                                              [service])}
        for item in items:
            seen.add(item["id"])
            row = {**item, "detail": dumps(item.get("detail") or {}), "made_by": dumps(item.get("made_by")),
                   "service": service, "last_seen": now, "run_id": run_id}
            old = known.get(item["id"])
            if old is None:
                db["drift_items"].insert({**row, "first_seen": now, "status": OPEN}, pk="id")
                counts["new"] += 1
            elif old["status"] == "adopted" and old["kind"] == "owner_left":
                continue
            elif old["status"] == OPEN:
                db["drift_items"].update(item["id"], row)
                counts["open"] += 1
            else:
                db["drift_items"].update(item["id"], {**row, "first_seen": now, "status": OPEN, "settled_by": None,
                                                      "settled_at": None, "settle_reason": None})
                counts["new"] += 1
        for item_id, old in known.items():
            if old["status"] == OPEN and item_id not in seen:
                db["drift_items"].update(item_id, {"status": "resolved", "settled_at": now, "run_id": run_id})
                counts["resolved"] += 1
    return counts


def drift_items(db: sqlite_utils.Database, *, status: str | None = OPEN, service: str | None = None) -> list[dict]:
    """Drift items (open ones by default), by service then id; detail and made_by decoded."""
    where, params = ["1"], []
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if service is not None:
        where.append("service = ?")
        params.append(service)
    rows = db["drift_items"].rows_where(" AND ".join(where), params, order_by="service, kind, target, id")
    return [{**r, "detail": loads(r["detail"]), "made_by": loads(r["made_by"])} for r in rows]


def get_drift_item(db: sqlite_utils.Database, item_id: str) -> dict:
    """One item by id (case-insensitive); KeyError if unknown."""
    rows = list(db["drift_items"].rows_where("id = ? COLLATE NOCASE", [item_id.strip()]))
    if not rows:
        raise KeyError(item_id)
    r = rows[0]
    return {**r, "detail": loads(r["detail"]), "made_by": loads(r["made_by"])}


def settle_drift(db: sqlite_utils.Database, item_id: str, status: str, *, by: str, reason: str) -> None:
    """Mark an open item adopted or reverted; KeyError if it is not open."""
    if status not in SETTLED:
        raise ValueError(f"unknown settlement {status!r}")
    with db.atomic():
        cur = db.execute("UPDATE drift_items SET status = ?, settled_by = ?, settled_at = ?, settle_reason = ? "
                         "WHERE id = ? AND status = 'open'", [status, by, utc_now(), reason, item_id])
        if cur.rowcount != 1:
            raise KeyError(item_id)


__all__ = ["active_exceptions", "add_exception", "drift_items", "get_baseline", "get_drift_item", "record_drift",
           "revoke_exception", "set_baseline", "settle_drift"]

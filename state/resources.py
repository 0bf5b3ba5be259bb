"""The ids services gave to the resources our policy names.

Policy refers to a chat group or tag by a stable key (``chat:counsellors``); the service
knows it by an id it assigned when Muster created it. Some services cannot list chats at
all (WeCom's app chats), so once created, this table is the only record of that id: lose
it and the group is orphaned. Rows are therefore only ever upserted, never inferred.
"""

from __future__ import annotations

import sqlite_utils

from state.db import utc_now


def resource_ids(db: sqlite_utils.Database, service: str) -> dict[str, str]:
    """Every known resource of ``service``: policy key → the service's id."""
    rows = db.execute("SELECT key, external_id FROM resources WHERE service = ? ORDER BY key", [service])
    return dict(rows.fetchall())


def set_resource_id(
    db: sqlite_utils.Database,
    service: str,
    key: str,
    external_id: str,
    *,
    kind: str,
    name: str,
    run_id: str | None,
) -> None:
    """Record (or correct) the service's id for a policy resource key."""
    row = {"service": service, "key": key, "external_id": external_id, "kind": kind, "name": name,
           "run_id": run_id, "updated_at": utc_now()}
    db["resources"].upsert(row, pk=("service", "key"))

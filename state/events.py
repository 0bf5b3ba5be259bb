"""Who made a change: membership events a service pushed, kept so drift can name its author.

WeCom and DingTalk do not say who changed a chat or a document; Feishu does, in the
``operator_id`` of its ``im.chat.member.user.*`` and ``drive.file.permission_member_*``
events. The receiver stores one row per (event, subject): an event adding three users to a
chat is three rows sharing its ``event_id``, written together or not at all, so a
redelivered event (Feishu resends until it gets a 200) is recognised by its id and adds
nothing. ``who_changed`` answers the drift report's question for one member of one
resource; ``None`` means the service never told us, so the author is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from state.db import StateError, utc_now

OPERATOR_TYPES = ("user", "app")


def record_event(
    db: sqlite_utils.Database,
    *,
    service: str,
    event_id: str,
    event_type: str,
    resource: str,
    subjects: Iterable[str],
    operator: str,
    operator_type: str,
    happened_at: str,
) -> bool:
    """Store one event about ``subjects`` (account ids) of ``resource``; ``False`` when it was stored before.

    ``happened_at`` is ISO-8601 (any offset; stored as UTC). Idempotent by (service, event_id).

    Raises:
        StateError: an empty id, an unknown ``operator_type`` or an unreadable time.
    """
    if not (service and event_id and event_type and resource):
        raise StateError("an event needs service, event_id, event_type and resource")
    if operator_type not in OPERATOR_TYPES:
        raise StateError(f"operator_type must be one of {', '.join(OPERATOR_TYPES)}, not {operator_type!r}")
    at, now = iso_utc(happened_at), utc_now()
    rows = [(service, event_id, event_type, resource, subject, operator, operator_type, at, now)
            for subject in dict.fromkeys(subjects) if subject]
    with db.atomic():
        # an event's rows are written together, so a redelivery conflicts on every one of them
        cursor = db.conn.executemany(
            "INSERT INTO service_events (service, event_id, event_type, resource, subject, operator, operator_type,"
            " happened_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (service, event_id, subject) DO NOTHING",
            rows,
        )
        return cursor.rowcount > 0


def who_changed(
    db: sqlite_utils.Database, service: str, resource: str, subject: str, *, since: str | None = None
) -> dict[str, Any] | None:
    """The latest event about ``subject`` in ``resource`` at or after ``since``; ``None``: the author is unknown.

    Returns ``{"operator", "operator_type", "event_type", "at"}`` (``at`` ISO UTC).
    """
    sql = ("SELECT operator, operator_type, event_type, happened_at FROM service_events"
           " WHERE service = ? AND resource = ? AND subject = ?")
    params = [service, resource, subject]
    if since is not None:
        sql, params = sql + " AND happened_at >= ?", [*params, iso_utc(since)]
    row = db.execute(sql + " ORDER BY happened_at DESC, id DESC LIMIT 1", params).fetchone()
    if row is None:
        return None
    return {"operator": row[0], "operator_type": row[1], "event_type": row[2], "at": row[3]}


def service_events(db: sqlite_utils.Database, *, service: str | None = None) -> list[dict[str, Any]]:
    """Stored event rows, oldest first (one per subject)."""
    where, params = ("", []) if service is None else (" WHERE service = ?", [service])
    cursor = db.execute(f"SELECT * FROM service_events{where} ORDER BY id", params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def iso_utc(text: str) -> str:
    """ISO-8601 text as stored in every time column (UTC, microseconds); naive times are taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise StateError(f"not an ISO-8601 time: {text!r}") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")


__all__ = ["record_event", "service_events", "who_changed"]

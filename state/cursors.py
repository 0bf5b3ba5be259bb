"""Where each connector's change feed was last read up to.

A cursor must never run ahead of the data it covers: write it in the same ``db.atomic()``
block as the records of the page it ends (dlt's state-with-data), so a crash resumes from
the last committed page. ``set_cursor`` joins an enclosing transaction when there is one.
"""

from __future__ import annotations

import sqlite_utils

from state.db import utc_now


def get_cursor(db: sqlite_utils.Database, connector: str, stream: str) -> str | None:
    """The saved cursor of a connector's stream, or None before its first read."""
    row = db.execute(
        "SELECT value FROM cursors WHERE connector = ? AND stream = ?", [connector, stream]
    ).fetchone()
    return None if row is None else row[0]


def set_cursor(db: sqlite_utils.Database, connector: str, stream: str, value: str) -> None:
    """Save a stream's cursor, stamping updated_at."""
    row = {"connector": connector, "stream": stream, "value": value, "updated_at": utc_now()}
    db["cursors"].upsert(row, pk=("connector", "stream"))

"""Opening the coalition's SQLite file, and the small helpers every state module shares.

The file holds personal data (names, mobiles, emails), so it is created owner-only (0600)
before SQLite first touches it, and tightened if an older file is looser. It runs in WAL
mode with a busy timeout, so a reader (a report, the CLI) never blocks the single writer
for long, and with foreign keys on, so a role or an identity cannot outlive its person.

Opening refuses, with the path in the message, a file that is not SQLite or that is some
other program's SQLite database: applying our migrations to it would corrupt it.
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from mappings.models import canonical_json
from state.migrations import MIGRATIONS

FILE_MODE = 0o600
BUSY_TIMEOUT_MS = 5000


class StateError(Exception):
    """The state store cannot be used: not a Muster database, or data that cannot be stored."""


def open_db(path: str | Path | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) a Muster database and apply pending migrations; None → in-memory."""
    db = _database(":memory:") if path is None else _open_file(Path(path).expanduser())
    db.execute("PRAGMA foreign_keys = ON")
    MIGRATIONS.apply(db)
    return db


def _open_file(path: Path) -> sqlite_utils.Database:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    db = _connect(path)  # refuses a file that is not a Muster database before anything is changed
    # owner only; SQLite made -wal and -shm with the database's mode, so mend those too
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if each.exists() and each.stat().st_mode & 0o777 != FILE_MODE:
            os.chmod(each, FILE_MODE)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.enable_wal()
    # WAL + NORMAL: a commit survives the process dying (the journal's promise) without an fsync each
    db.execute("PRAGMA synchronous = NORMAL")
    return db


class _Database(sqlite_utils.Database):
    """``atomic()`` starts with ``BEGIN IMMEDIATE``: the write lock is taken (waiting up to the busy
    timeout) before the block's first read. A deferred ``BEGIN`` that reads and then writes (the audit
    log reads its head hash first) fails at once with "database is locked" when another process
    committed in between, and the busy timeout cannot help it."""

    @contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        if self.conn.in_transaction:
            with super().atomic() as db:  # a savepoint inside the enclosing transaction
                yield db
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def _database(target: str | Path) -> sqlite_utils.Database:
    # The flows share one connection between the threads of a run, serialising its use
    # with a lock; SQLite itself is built serialized (threadsafety 3), so allow that.
    return _Database(sqlite3.connect(str(target), check_same_thread=False))


def _connect(path: Path) -> sqlite_utils.Database:
    db = _database(path)
    try:
        tables = set(db.table_names())
    except sqlite3.DatabaseError as e:
        db.close()
        raise StateError(f"{path}: not a Muster database ({e})") from None
    if tables and not _is_muster(db, tables):
        db.close()
        raise StateError(f"{path}: not a Muster database (it has tables but no Muster migrations)")
    return db


def _is_muster(db: sqlite_utils.Database, tables: set[str]) -> bool:
    return "_sqlite_migrations" in tables and bool(MIGRATIONS.applied(db))


# --- helpers shared by the state modules ---------------------------------------------


def clock() -> datetime:
    """The current UTC time; the one place state/ reads it (tests freeze it by patching this)."""
    return datetime.now(UTC)


def utc_now() -> str:
    """The current UTC time as an ISO-8601 string, as stored in every time column."""
    return clock().isoformat(timespec="microseconds")


def dumps(value: Any) -> str:
    """Canonical JSON text (sorted keys, no spaces), as stored in every JSON column."""
    try:
        return canonical_json(value)
    except TypeError as exc:
        raise StateError(f"cannot store a {exc} as JSON") from None


def loads(text: str | None) -> Any:
    """Decode a JSON column; NULL stays None."""
    return None if text is None else json.loads(text)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off the cyclic GC while building ~100k models: on 3.11 its passes triple the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def chunked(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """Slices of at most ``size`` items: SQLite caps the number of ``?`` in one statement."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def placeholders(items: Iterable[Any]) -> str:
    """``?, ?, ?`` for an ``IN (...)`` clause."""
    return ", ".join("?" for _ in items)

"""One writing run at a time per coalition: a lock file next to the database, held with ``flock``.

Sync, ``muster apply``, settling (drift revert, review removals) and onboarding's apply
each hold the lock for their whole run, so two applies never interleave. The kernel drops
an ``flock`` when its holder's process dies (however it dies), so a crash leaves no stale
lock; the file only names the holder (pid, host, since when, what it runs) for the message
the next run shows when it refuses. The lock is re-entrant within one call chain (a context
variable, which Prefect carries into the flow and its tasks), so the CLI can take it before
starting a flow that takes it again; separate threads and processes contend for it.

A database in memory (tests, nothing shared between processes) has an in-process lock instead.
"""

from __future__ import annotations

import contextvars
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

POLL = 0.1  # seconds between attempts while waiting
LOCK_MODE = 0o600

_HELD: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("muster_held_locks", default=frozenset())
_MEMORY_GUARD = threading.Lock()
_MEMORY: dict[str, tuple[threading.Lock, dict]] = {}


class Busy(Exception):
    """Another run of this coalition holds the lock; the message names it."""


def lock_path(db: sqlite_utils.Database) -> Path | None:
    """The lock file of a database file (``muster.db`` → ``muster.db.lock``); None for a database in memory."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return Path(file + ".lock") if file else None
    return None


@contextmanager
def coalition_lock(ws, kind: str, *, wait: float | None = 0.0) -> Iterator[None]:
    """Hold ``ws``'s coalition lock for a ``kind`` run (sync, apply, settle, onboard).

    ``wait`` is how many seconds to wait for another holder (None: as long as it takes);
    then ``Busy`` says who holds it.
    """
    path = lock_path(ws.db)
    coalition = ws.coalition or (path.name.removesuffix(".lock") if path else "this coalition")
    with hold(path if path else f"memory:{id(ws.db)}", coalition, kind, wait=wait):
        yield


@contextmanager
def hold(where: Path | str, coalition: str, kind: str, *, wait: float | None = 0.0) -> Iterator[None]:
    """Hold the lock at ``where`` (a lock file, or a ``memory:`` key); see ``coalition_lock``."""
    key = str(where)
    if key in _HELD.get():
        yield  # this call chain holds it already
        return
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "kind": kind,
              "since": datetime.now(UTC).isoformat(timespec="seconds")}
    release = (_memory if key.startswith("memory:") else _file)(key, holder, coalition, wait)
    token = _HELD.set(_HELD.get() | {key})
    try:
        yield
    finally:
        _HELD.reset(token)
        release()


def _deadline(wait: float | None) -> float | None:
    return None if wait is None else time.monotonic() + max(0.0, wait)


def _pause(deadline: float | None) -> bool:
    """Sleep a little; False when the wait is over."""
    if deadline is None:
        time.sleep(POLL)
        return True
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    time.sleep(min(POLL, left))
    return True


def _file(path: str, holder: dict, coalition: str, wait: float | None):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, LOCK_MODE)
    deadline = _deadline(wait)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not _pause(deadline):
                    raise Busy(busy_message(_read_holder(path), coalition)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
    except BaseException:
        os.close(fd)  # closing drops the lock too, if it was taken
        raise

    def release() -> None:
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    return release


def _read_holder(path: str) -> dict:
    for _ in range(10):  # the holder writes its name just after it takes the lock
        try:
            text = Path(path).read_text(encoding="utf-8")
            if text:
                return json.loads(text)
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return {}


def _memory(key: str, holder: dict, coalition: str, wait: float | None):
    with _MEMORY_GUARD:
        lock, _ = _MEMORY.setdefault(key, (threading.Lock(), {}))
    if not lock.acquire(timeout=-1 if wait is None else max(0.0, wait)):
        raise Busy(busy_message(_MEMORY[key][1], coalition))
    _MEMORY[key] = (lock, holder)

    def release() -> None:
        _MEMORY[key] = (lock, {})
        lock.release()

    return release


def busy_message(holder: dict, coalition: str) -> str:
    """'another sync of <coalition> is running (pid N on host H since T); try again later or pass --wait'."""
    since = str(holder.get("since", "?")).replace("T", " ").replace("+00:00", " UTC")
    return (f"another {holder.get('kind', 'run')} of {coalition} is running (pid {holder.get('pid', '?')} on host "
            f"{holder.get('host', '?')} since {since}); try again later or pass --wait")


__all__ = ["Busy", "busy_message", "coalition_lock", "hold", "lock_path"]

from datetime import UTC, datetime, timedelta

import pytest

import state.db
from state import open_db

T0 = datetime(2026, 11, 21, 20, 30, 1, tzinfo=UTC)


@pytest.fixture
def fresh_db():
    db = open_db(None)
    yield db
    db.close()


@pytest.fixture
def clock(monkeypatch):
    """Freeze state's clock: each reading is one second after the previous one, from T0.

    Returns ``at(n)``, the ISO text of the n-th reading (0-based), for literal asserts.
    """
    readings = iter(T0 + timedelta(seconds=i) for i in range(10**6))
    monkeypatch.setattr(state.db, "clock", lambda: next(readings))
    return lambda n: (T0 + timedelta(seconds=n)).isoformat(timespec="microseconds")

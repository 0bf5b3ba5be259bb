import re
from datetime import UTC, datetime

import pytest

import state.db
import state.runs
from state import finish_run, get_run, last_runs, start_run

INSTANT = datetime(2026, 1, 1, tzinfo=UTC)


def test_run_lifecycle(fresh_db, clock):
    run_id = start_run(fresh_db, "sync", actor="scheduler", params={"services": ["wecom"]})
    assert re.fullmatch(r"R20261121T203001-[0-9a-f]{4}", run_id)
    assert get_run(fresh_db, run_id) == {
        "id": run_id, "kind": "sync", "actor": "scheduler", "params": {"services": ["wecom"]},
        "status": "running", "started_at": clock(1), "finished_at": None, "summary": None,
    }
    finish_run(fresh_db, run_id, "partial", {"applied": 3, "failed": 1})
    assert get_run(fresh_db, run_id) | {"id": None} == {
        "id": None, "kind": "sync", "actor": "scheduler", "params": {"services": ["wecom"]},
        "status": "partial", "started_at": clock(1), "finished_at": clock(2),
        "summary": {"applied": 3, "failed": 1},
    }


def test_params_default_to_empty(fresh_db):
    run_id = start_run(fresh_db, "report", actor="alice")
    assert get_run(fresh_db, run_id)["params"] == {}


def test_finish_rejects_unknown_status_and_unknown_run(fresh_db):
    run_id = start_run(fresh_db, "sync", actor="a")
    with pytest.raises(ValueError):
        finish_run(fresh_db, run_id, "running", {})
    with pytest.raises(KeyError):
        finish_run(fresh_db, "R404", "ok", {})
    with pytest.raises(KeyError):
        get_run(fresh_db, "R404")


def test_last_runs_newest_first_with_limit(fresh_db, clock):
    ids = [start_run(fresh_db, "sync", actor="a") for _ in range(4)]
    finish_run(fresh_db, ids[0], "ok", {"n": 0})
    runs = last_runs(fresh_db, limit=3)
    assert [r["id"] for r in runs] == ids[:0:-1]
    assert [r["id"] for r in last_runs(fresh_db)] == ids[::-1]
    assert last_runs(fresh_db)[-1]["summary"] == {"n": 0}


def test_runs_started_in_the_same_instant_keep_their_order(fresh_db, monkeypatch):
    monkeypatch.setattr(state.db, "clock", lambda: INSTANT)
    ids = [start_run(fresh_db, "sync", actor="a") for _ in range(5)]
    assert len(set(ids)) == 5
    assert [r["id"] for r in last_runs(fresh_db)] == ids[::-1]


def test_a_clashing_id_is_redrawn(fresh_db, monkeypatch):
    monkeypatch.setattr(state.db, "clock", lambda: INSTANT)
    draws = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(state.runs, "_suffix", lambda: next(draws))
    first = start_run(fresh_db, "sync", actor="a")
    second = start_run(fresh_db, "sync", actor="a")
    assert (first, second) == ("R20260101T000000-aaaa", "R20260101T000000-bbbb")

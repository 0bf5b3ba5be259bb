from datetime import UTC, datetime

import pytest

from mappings.models import Change, Plan, Refusal
from state import StateError, load_plan, plan_status, save_plan, set_plan_status

CHANGES = [
    Change(op="add", service="wecom", target="chat:counsellors", object_id="*",
           after={"name": "Counsellors", "owner": "P000001"}, reason="rule counsellors-chat",
           rules=("counsellors-chat",), label="Counsellors"),
    Change(op="add", service="wecom", target="chat:counsellors", object_id="P000002",
           after="member", reason="role counsellor", rules=("counsellors-chat",), external_id="bo",
           group_id="wr1", label="Bo"),
    Change(op="change", service="wecom", target="chat:counsellors", object_id="P000001",
           before="member", after="owner", external_id="anna", group_id="wr1"),
]
PLAN = Plan(
    changes=CHANGES,
    refused=[Refusal(service="wecom", target="tag:front", reason="removal wave above 10%", count=14)],
    fingerprints={"wecom": "f" * 64},
    basis="b" * 64,
    created_at=datetime(2026, 11, 21, 20, 30, tzinfo=UTC),
)


def test_plan_round_trip_keeps_its_id(fresh_db):
    assert save_plan(fresh_db, PLAN, "R1") == PLAN.id
    loaded = load_plan(fresh_db, PLAN.id)
    assert loaded == PLAN
    assert loaded.id == PLAN.id
    assert [c.key for c in loaded.changes] == [c.key for c in CHANGES]


def test_plan_row(fresh_db, clock):
    save_plan(fresh_db, PLAN, "R1")
    row = fresh_db.execute(
        "SELECT id, run_id, status, basis, created_at, saved_at, changes, refused FROM plans"
    )
    assert row.fetchall() == [
        (PLAN.id, "R1", "planned", "b" * 64, "2026-11-21T20:30:00+00:00", clock(0), 3, 1),
    ]


def test_saving_twice_is_a_no_op_and_keeps_status(fresh_db):
    save_plan(fresh_db, PLAN, "R1")
    set_plan_status(fresh_db, PLAN.id, "applied")
    assert save_plan(fresh_db, PLAN, "R2") == PLAN.id
    assert plan_status(fresh_db, PLAN.id) == "applied"
    assert fresh_db.execute("SELECT count(*), max(run_id) FROM plans").fetchone() == (1, "R1")


def test_empty_plan_round_trip(fresh_db):
    empty = Plan()
    save_plan(fresh_db, empty, None)
    assert load_plan(fresh_db, empty.id) == empty
    assert plan_status(fresh_db, empty.id) == "planned"


def test_plan_status_lifecycle(fresh_db):
    assert plan_status(fresh_db, PLAN.id) is None
    save_plan(fresh_db, PLAN, None)
    for status in ("partial", "applied", "stale", "planned"):
        set_plan_status(fresh_db, PLAN.id, status)
        assert plan_status(fresh_db, PLAN.id) == status
    with pytest.raises(ValueError):
        set_plan_status(fresh_db, PLAN.id, "done")
    with pytest.raises(KeyError):
        set_plan_status(fresh_db, "nope", "applied")


def test_load_unknown_plan_raises_keyerror(fresh_db):
    with pytest.raises(KeyError):
        load_plan(fresh_db, "0" * 16)


def test_a_plan_whose_keys_would_change_on_reload_is_refused(fresh_db):
    # frozenset({1, 8}) iterates as [8, 1]: stored as [8, 1] but hashed sorted, so a reloaded
    # plan would carry different journal keys and resend its changes.
    shaky = Plan(changes=[Change(op="change", service="wecom", target="tag:t", object_id="*",
                                 after=frozenset({1, 8}))])
    with pytest.raises(StateError, match="JSON round trip"):
        save_plan(fresh_db, shaky, None)
    assert plan_status(fresh_db, shaky.id) is None

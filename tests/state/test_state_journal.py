import pytest

from mappings.models import Change
from state import (
    applied_state,
    forget_applied,
    journal_rows,
    journal_status,
    mark_applied,
    mark_failed,
    mark_sent,
    record_applied,
    record_planned,
    unconfirmed,
)

ADD_BO = Change(op="add", service="wecom", target="chat:c", object_id="P000002", after="member")
ADD_CY = Change(op="add", service="wecom", target="chat:c", object_id="P000003", after="member")
DROP_DU = Change(op="remove", service="wecom", target="tag:front", object_id="P000004", before="member")
CHANGES = [ADD_BO, ADD_CY, DROP_DU]
K1, K2, K3 = (c.key for c in CHANGES)


@pytest.fixture
def db(fresh_db):
    record_planned(fresh_db, "plan1", "R1", CHANGES)
    return fresh_db


def test_planned_rows(fresh_db, clock):
    record_planned(fresh_db, "plan1", "R1", CHANGES)
    assert journal_rows(fresh_db, "plan1")[0] == {
        "plan_id": "plan1", "key": K1, "run_id": "R1", "service": "wecom", "target": "chat:c",
        "object_id": "P000002", "op": "add", "change": ADD_BO, "planned_at": clock(0), "attempts": 0,
        "sent_at": None, "applied_at": None, "failed_at": None, "last_error": None, "result": None,
        "status": "planned",
    }
    assert [r["change"] for r in journal_rows(fresh_db, "plan1")] == CHANGES
    assert journal_status(fresh_db, "plan1") == {K1: "planned", K2: "planned", K3: "planned"}


def test_recording_again_changes_nothing(db, clock):
    mark_sent(db, "plan1", [K1])
    before = journal_rows(db, "plan1")
    record_planned(db, "plan1", "R2", [*CHANGES, ADD_BO])
    assert journal_rows(db, "plan1") == before


def test_same_change_in_two_plans_is_two_rows(db):
    record_planned(db, "plan2", "R2", [ADD_BO])
    mark_applied(db, "plan2", [K1])
    assert journal_status(db, "plan1")[K1] == "planned"
    assert journal_status(db, "plan2") == {K1: "applied"}


def test_lifecycle_sent_failed_resent_applied(db, clock):
    mark_sent(db, "plan1", [K1, K2, K3])
    mark_applied(db, "plan1", [K1], {"calls": 1})
    mark_failed(db, "plan1", [K2], "errcode 60011: no privilege")
    assert journal_status(db, "plan1") == {K1: "applied", K2: "failed", K3: "sent"}
    mark_sent(db, "plan1", [K2])
    assert journal_status(db, "plan1")[K2] == "sent"
    mark_applied(db, "plan1", [K2, K3])
    rows = {r["key"]: r for r in journal_rows(db, "plan1")}
    assert {k: (r["attempts"], r["sent_at"], r["applied_at"], r["failed_at"], r["last_error"], r["result"])
            for k, r in rows.items()} == {
        K1: (1, clock(0), clock(1), None, None, {"calls": 1}),
        K2: (2, clock(3), clock(4), None, "errcode 60011: no privilege", None),
        K3: (1, clock(0), clock(4), None, None, None),
    }
    assert journal_status(db, "plan1") == {K1: "applied", K2: "applied", K3: "applied"}


def test_marking_an_unjournaled_key_raises_and_marks_nothing(db):
    with pytest.raises(KeyError, match="nope"):
        mark_sent(db, "plan1", [K1, "nope"])
    with pytest.raises(KeyError):
        mark_applied(db, "other-plan", [K1])
    assert journal_status(db, "plan1")[K1] == "planned"


def test_repeated_keys_in_one_call_count_once(db):
    mark_sent(db, "plan1", [K1, K1])
    assert journal_rows(db, "plan1")[0]["attempts"] == 1


def test_unconfirmed_finds_sent_but_unanswered_rows_in_any_plan(db, clock):
    record_planned(db, "plan2", "R2", [ADD_BO, DROP_DU])
    mark_sent(db, "plan1", [K1, K2])
    mark_applied(db, "plan1", [K1])
    mark_sent(db, "plan2", [K3])
    mark_sent(db, "plan2", [K1])
    mark_failed(db, "plan2", [K1], "timeout")
    assert [(r["plan_id"], r["key"], r["status"]) for r in unconfirmed(db)] == [
        ("plan1", K2, "sent"), ("plan2", K3, "sent"),
    ]
    assert [(r["plan_id"], r["key"]) for r in unconfirmed(db, [K3, "other"])] == [("plan2", K3)]
    assert unconfirmed(db, [K1]) == []
    assert unconfirmed(db, []) == []
    assert unconfirmed(db)[0]["change"] == ADD_CY


def test_many_changes_journal_in_one_call(fresh_db):
    changes = [Change(op="add", service="wecom", target="tag:all", object_id=f"P{i:06d}")
               for i in range(3000)]
    record_planned(fresh_db, "big", "R1", changes)
    keys = [c.key for c in changes]
    mark_sent(fresh_db, "big", keys)
    assert len(unconfirmed(fresh_db, keys)) == 3000
    mark_applied(fresh_db, "big", keys[:1000])
    assert set(journal_status(fresh_db, "big").values()) == {"applied", "sent"}
    assert len(unconfirmed(fresh_db)) == 2000


def test_applied_state_round_trip(fresh_db, clock):
    record_applied(fresh_db, "wecom", "chat:c", "P000002", "member", "R1")
    record_applied(fresh_db, "wecom", "chat:c", "*", {"name": "C", "owner": "P000001"}, "R1")
    record_applied(fresh_db, "dingtalk", "chat:c", "P000002", "member", "R1")
    record_applied(fresh_db, "wecom", "chat:c", "P000002", "owner", "R2")
    assert applied_state(fresh_db, "wecom") == {
        ("chat:c", "P000002"): "owner",
        ("chat:c", "*"): {"name": "C", "owner": "P000001"},
    }
    row = fresh_db.execute("SELECT * FROM applied_state WHERE service = 'wecom' AND object_id = 'P000002'")
    assert row.fetchall() == [("wecom", "chat:c", "P000002", '"owner"', "R2", clock(3))]
    forget_applied(fresh_db, "wecom", "chat:c", "P000002")
    forget_applied(fresh_db, "wecom", "chat:c", "never")
    assert applied_state(fresh_db, "wecom") == {("chat:c", "*"): {"name": "C", "owner": "P000001"}}
    assert applied_state(fresh_db, "feishu") == {}

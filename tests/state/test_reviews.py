from datetime import timedelta

import pytest

from state import (
    access_review_items,
    access_reviews,
    answer_access_items,
    close_access_review,
    escalate_access_items,
    get_access_review,
    mark_reminded,
    note_access_outcome,
    start_access_review,
)


def item(account, *, person=None, owner="P1", kind="chat", key="frontline"):
    return {"service": "dingtalk", "kind": kind, "resource_key": key, "resource_id": "chat1",
            "resource_name": "一线志愿者群", "person_id": person, "account_id": account, "member_name": account,
            "member_mobile": "138****5678", "level": "member", "owner_id": owner, "routed": "owner"}


def open_review(db, items=None, **kw):
    return start_access_review(db, scope=kw.get("scope", "all"), opened_by="tester", deadline=timedelta(days=7),
                               remind_after=timedelta(days=2),
                               items=items if items is not None else [item("dt1", person="P2"), item("ext9")])


def test_a_review_gets_the_next_id_its_deadline_and_numbered_items(fresh_db, clock):
    assert open_review(fresh_db) == "R1"
    assert open_review(fresh_db, [item("dt3")], scope="service:dingtalk") == "R2"
    review = get_access_review(fresh_db, "r1")
    assert review == {"id": "R1", "seq": 1, "scope": "all", "opened_by": "tester", "opened_at": clock(0),
                      "deadline": "2026-11-28T20:30:01.000000+00:00",
                      "remind_after": 172800, "status": "open", "run_id": None, "closed_by": None, "closed_at": None,
                      "counts": {"pending": 2}}
    rows = access_review_items(fresh_db, "R1")
    assert [(r["item"], r["account_id"], r["person_id"], r["status"], r["reminders"]) for r in rows] == [
        (1, "dt1", "P2", "pending", 0), (2, "ext9", None, "pending", 0)]
    assert [r["id"] for r in access_reviews(fresh_db)] == ["R1", "R2"]


def test_unknown_review_is_a_key_error(fresh_db):
    with pytest.raises(KeyError):
        get_access_review(fresh_db, "R9")


def test_answers_are_all_or_nothing_and_never_twice(fresh_db, clock):
    open_review(fresh_db, [item("a", person="P2"), item("b", person="P3"), item("c")])
    answer_access_items(fresh_db, "R1", [1], status="confirmed", by="P1", reason="still on the front line")
    with pytest.raises(ValueError, match="item 1 is already confirmed"):
        answer_access_items(fresh_db, "R1", [2, 1], status="removed", by="P1", reason="x")
    with pytest.raises(KeyError):
        answer_access_items(fresh_db, "R1", [2, 7], status="removed", by="P1", reason="x")
    assert [r["status"] for r in access_review_items(fresh_db, "R1")] == ["confirmed", "pending", "pending"]
    answer_access_items(fresh_db, "R1", [2, 3], status="removed", by="P1", reason="left the team", outcome="applied")
    rows = access_review_items(fresh_db, "R1")
    assert [(r["status"], r["answered_by"], r["reason"], r["outcome"]) for r in rows] == [
        ("confirmed", "P1", "still on the front line", None),
        ("removed", "P1", "left the team", "applied"), ("removed", "P1", "left the team", "applied")]
    assert rows[0]["answered_at"] == clock(1)
    assert get_access_review(fresh_db, "R1")["counts"] == {"confirmed": 1, "removed": 2}


def test_an_outcome_keeps_the_item_open(fresh_db):
    open_review(fresh_db)
    note_access_outcome(fresh_db, "R1", [1], "held: above the 10% guard", reason="not a counsellor")
    row = access_review_items(fresh_db, "R1", items=[1])[0]
    assert (row["status"], row["outcome"], row["reason"]) == ("pending", "held: above the 10% guard",
                                                             "not a counsellor")
    answer_access_items(fresh_db, "R1", [1], status="removed", by="P1", reason="not a counsellor", outcome="applied")
    assert access_review_items(fresh_db, "R1", items=[1])[0]["status"] == "removed"


def test_filters_by_status_and_reviewer(fresh_db):
    open_review(fresh_db, [item("a", owner="P1"), item("b", owner="P5"), item("c", owner="P5")])
    answer_access_items(fresh_db, "R1", [2], status="confirmed", by="P5")
    assert [r["item"] for r in access_review_items(fresh_db, "R1", owner_id="P5")] == [2, 3]
    assert [r["item"] for r in access_review_items(fresh_db, "R1", status=["pending"])] == [1, 3]
    assert [r["item"] for r in access_review_items(fresh_db, "R1", items=[3, 1])] == [1, 3]


def test_reminders_and_escalation_touch_only_what_is_pending(fresh_db, clock):
    open_review(fresh_db, [item("a"), item("b"), item("c")])
    answer_access_items(fresh_db, "R1", [1], status="confirmed", by="P1")
    mark_reminded(fresh_db, "R1", [2, 3], 1)
    assert [r["reminders"] for r in access_review_items(fresh_db, "R1")] == [0, 1, 1]
    assert escalate_access_items(fresh_db, "R1", [1, 2, 3], to="P9") == 2
    assert escalate_access_items(fresh_db, "R1", [2, 3], to="P9") == 0
    rows = access_review_items(fresh_db, "R1")
    assert [(r["status"], r["escalated_to"]) for r in rows] == [
        ("confirmed", None), ("escalated", "P9"), ("escalated", "P9")]
    answer_access_items(fresh_db, "R1", [2], status="confirmed", by="P9")  # escalated items can be answered


def test_closing_stops_answers(fresh_db):
    open_review(fresh_db)
    close_access_review(fresh_db, "R1", by="tester")
    review = get_access_review(fresh_db, "R1")
    assert (review["status"], review["closed_by"]) == ("closed", "tester")
    assert [r["id"] for r in access_reviews(fresh_db, status="open")] == []
    with pytest.raises(ValueError, match="already closed"):
        close_access_review(fresh_db, "R1", by="tester")
    with pytest.raises(ValueError, match="closed"):
        answer_access_items(fresh_db, "R1", [1], status="confirmed", by="P1")

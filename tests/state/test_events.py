import pytest

import state
from state import StateError, record_event, who_changed


def add(db, event_id, subjects, *, resource="oc_1", operator="ben", operator_type="user",
        at="2026-11-21T10:00:00+00:00", event_type="im.chat.member.user.added_v1"):
    return record_event(db, service="feishu", event_id=event_id, event_type=event_type, resource=resource,
                        subjects=subjects, operator=operator, operator_type=operator_type, happened_at=at)


def test_an_event_about_two_users_is_two_rows_stored_once(fresh_db, clock):
    assert add(fresh_db, "e1", ["amy", "cal", "amy"]) is True
    assert add(fresh_db, "e1", ["amy", "cal"]) is False
    assert state.service_events(fresh_db) == [
        {"id": 1, "service": "feishu", "event_id": "e1", "event_type": "im.chat.member.user.added_v1",
         "resource": "oc_1", "subject": "amy", "operator": "ben", "operator_type": "user",
         "happened_at": "2026-11-21T10:00:00.000000+00:00", "received_at": clock(0)},
        {"id": 2, "service": "feishu", "event_id": "e1", "event_type": "im.chat.member.user.added_v1",
         "resource": "oc_1", "subject": "cal", "operator": "ben", "operator_type": "user",
         "happened_at": "2026-11-21T10:00:00.000000+00:00", "received_at": clock(0)}]


def test_the_same_event_id_of_another_service_is_another_event(fresh_db):
    add(fresh_db, "e1", ["amy"])
    assert record_event(fresh_db, service="other", event_id="e1", event_type="t", resource="oc_1", subjects=["amy"],
                        operator="x", operator_type="user", happened_at="2026-11-21T10:00:00Z") is True
    assert len(state.service_events(fresh_db)) == 2 and len(state.service_events(fresh_db, service="other")) == 1


def test_an_event_about_nobody_stores_nothing(fresh_db):
    assert add(fresh_db, "e1", []) is False
    assert add(fresh_db, "e2", ["", ""]) is False
    assert state.service_events(fresh_db) == []


def test_who_changed_is_the_latest_event_about_that_member_of_that_resource(fresh_db):
    add(fresh_db, "e1", ["cal"], at="2026-11-21T10:00:00Z", operator="ben")
    add(fresh_db, "e2", ["cal"], at="2026-11-21T12:00:00Z", operator="cli_app", operator_type="app",
        event_type="im.chat.member.user.deleted_v1")
    add(fresh_db, "e3", ["cal"], at="2026-11-21T13:00:00Z", operator="dan", resource="oc_2")
    add(fresh_db, "e4", ["amy"], at="2026-11-21T14:00:00Z", operator="dan")
    assert who_changed(fresh_db, "feishu", "oc_1", "cal") == {
        "operator": "cli_app", "operator_type": "app", "event_type": "im.chat.member.user.deleted_v1",
        "at": "2026-11-21T12:00:00.000000+00:00"}


def test_order_is_by_when_it_happened_not_when_it_arrived(fresh_db):
    add(fresh_db, "late", ["cal"], at="2026-11-21T12:00:00Z", operator="newer")
    add(fresh_db, "early", ["cal"], at="2026-11-21T09:00:00Z", operator="older")  # a redelivery arriving last
    assert who_changed(fresh_db, "feishu", "oc_1", "cal")["operator"] == "newer"


def test_since_leaves_out_older_events_and_reads_any_offset(fresh_db):
    add(fresh_db, "e1", ["cal"], at="2026-11-21T10:00:00Z", operator="ben")
    assert who_changed(fresh_db, "feishu", "oc_1", "cal", since="2026-11-21T18:00:00+08:00")["operator"] == "ben"
    assert who_changed(fresh_db, "feishu", "oc_1", "cal", since="2026-11-21T10:00:00.000001Z") is None
    assert who_changed(fresh_db, "feishu", "oc_1", "cal", since="2026-11-21T10:00:00") is not None  # naive = UTC


def test_unknown_is_none(fresh_db):
    assert who_changed(fresh_db, "feishu", "oc_1", "cal") is None
    add(fresh_db, "e1", ["cal"])
    assert who_changed(fresh_db, "wecom", "oc_1", "cal") is None
    assert who_changed(fresh_db, "feishu", "oc_9", "cal") is None


@pytest.mark.parametrize("kw, message", [
    ({"operator_type": "bot"}, "operator_type must be one of user, app"),
    ({"at": "yesterday"}, "not an ISO-8601 time"),
    ({"resource": ""}, "needs service, event_id, event_type and resource"),
])
def test_bad_events_are_refused(fresh_db, kw, message):
    with pytest.raises(StateError, match=message):
        add(fresh_db, "e1", ["cal"], **kw)
    assert state.service_events(fresh_db) == []


def test_a_bad_since_is_refused(fresh_db):
    with pytest.raises(StateError, match="not an ISO-8601 time"):
        who_changed(fresh_db, "feishu", "oc_1", "cal", since="last week")

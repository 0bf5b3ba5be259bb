"""The hours ledger in SQLite: meetings' write-ahead rows, raw attendance, records, confirmations, corrections."""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

import state
from mappings.hours import HoursRecord
from mappings.models import Attendance, Person

T = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


def at(minutes):
    return T + timedelta(minutes=minutes)


@pytest.fixture
def db(fresh_db):
    state.upsert_people(fresh_db, [Person(id="P1", name="张三"), Person(id="P2", name="李四")])
    return fresh_db


def meeting(db, key="k1", **over):
    fields = {"key": key, "service": "tencent_meeting", "subject": "培训", "organiser": "联盟", "organiser_id": None,
              "host": "admin", "start": T.isoformat(), "end": at(90).isoformat(), "scope": ["team:a"],
              "invitees": ["wx1", "wx2"], "run_id": None, **over}
    state.meeting_sent(db, **fields)


def record(ext="wx1", person="P1", minutes=60.0, hours=1.0, spans=((0, 60),), meeting_id="m1"):
    return HoursRecord("tencent_meeting", meeting_id, "培训", "联盟", ext, person, "2026-11-25", minutes, hours,
                       tuple((at(a), at(b)) for a, b in spans))


def test_a_meeting_is_sent_then_created_and_the_create_is_audited(db):
    meeting(db)
    row = state.get_meeting(db, "k1")
    assert (row["status"], row["meeting_id"], row["scope"], row["invitees"]) == ("sent", None, ["team:a"], ["wx1", "wx2"])
    assert state.known_meetings(db) == []  # not created yet
    with pytest.raises(ValueError, match="already sent"):
        meeting(db)
    state.meeting_created(db, "k1", "m1", invitees=["wx1"], actor="tester", run_id=None)
    row = state.find_meeting(db, "tencent_meeting", "m1")
    assert (row["status"], row["key"], row["invitees"]) == ("created", "k1", ["wx1"])
    assert [m["meeting_id"] for m in state.known_meetings(db, "tencent_meeting")] == ["m1"]
    (entry,) = state.audit_entries(db)
    assert (entry["action"], entry["target"], entry["detail"]["invitees"]) == ("create meeting", "meeting:m1", 1)


def test_a_failed_create_may_be_sent_again(db):
    meeting(db)
    state.meeting_failed(db, "k1", "quota")
    assert state.get_meeting(db, "k1")["last_error"] == "quota"
    meeting(db, subject="培训二")
    assert (state.get_meeting(db, "k1")["status"], state.get_meeting(db, "k1")["subject"]) == ("sent", "培训二")
    with pytest.raises(KeyError):
        state.meeting_failed(db, "nope", "x")


def test_attendance_is_upserted_per_join_never_deleted(db):
    rows = [Attendance(service="tencent_meeting", meeting_id="m1", external_id="wx1", joined_at=at(0), left_at=None),
            Attendance(service="tencent_meeting", meeting_id="m1", external_id="wx1", joined_at=at(30), left_at=at(40))]
    assert state.save_attendance(db, rows) == 2
    closed = rows[0].model_copy(update={"left_at": at(20), "name": "张三"})
    assert state.save_attendance(db, [closed]) == 0  # the same join, its leave time now known
    assert state.save_attendance(db, []) == 0
    got = state.attendance_of(db, "tencent_meeting", ["m1", "m2"])
    assert [(a.joined_at, a.left_at, a.name) for a in got] == [(at(0), at(20), "张三"), (at(30), at(40), "")]


def test_store_adds_updates_computed_and_keeps_certified(db):
    assert state.store_hours(db, [record(), record("wx2", "P2", 30, 0.5, ((0, 30),))], {("m1", "wx1"): "张三"}) == {
        "added": 2, "updated": 0, "unchanged": 0, "evidence_changed": []}
    one, two = state.hours_ledger(db)
    assert (one["status"], one["credited"], one["name"], one["intervals"]) == (
        "computed", 1.0, "张三", [[at(0).isoformat(), at(60).isoformat()]])
    state.confirm_hours(db, [one["id"]], by="协调员", actor="tester")
    report = state.store_hours(db, [record(minutes=90, hours=1.5, spans=((0, 90),)),
                                    record("wx2", "P2", 50, 1.0, ((0, 50),))])
    assert report == {"added": 0, "updated": 1, "unchanged": 1, "evidence_changed": [one["id"]]}
    one, two = state.hours_ledger(db)
    assert (one["minutes"], one["hours"], one["credited"], one["status"]) == (60, 1.0, 1.0, "confirmed")
    assert one["evidence_changed"]["minutes"] == 90 and one["evidence_changed"]["hours"] == 1.5
    assert (two["minutes"], two["credited"]) == (50, 1.0)
    # evidence back as certified: the note goes away
    state.store_hours(db, [record()])
    assert state.hours_ledger(db, ids=[one["id"]])[0]["evidence_changed"] is None


def test_confirm_skips_certified_and_unlinked_and_refuses_unknown_ids(db):
    state.store_hours(db, [record(), record("ext9", None, 50, 1.0, ((0, 50),))])
    one, stranger = (r["id"] for r in state.hours_ledger(db))
    with pytest.raises(KeyError, match="no hours record 99"):
        state.confirm_hours(db, [one, 99], by="甲", actor="t")
    assert state.hours_ledger(db, ids=[one])[0]["status"] == "computed"  # nothing written
    done = state.confirm_hours(db, [one, stranger], by="甲", actor="t")
    assert done == {"confirmed": [one], "skipped": {stranger: "not credited until linked to a person"}}
    assert state.confirm_hours(db, [one], by="乙", actor="t")["skipped"] == {one: "already confirmed"}
    row = state.hours_ledger(db, ids=[one])[0]
    assert (row["confirmed_by"], row["status"]) == ("甲", "confirmed")
    (entry,) = state.audit_entries(db)
    assert (entry["action"], entry["object_id"], entry["approved_by"]) == ("confirm hours", "P1", "甲")


def test_a_correction_keeps_the_original_and_the_reason(db):
    state.store_hours(db, [record("wx2", "P2", 35, 0.5, ((0, 35),))])
    (rid,) = (r["id"] for r in state.hours_ledger(db))
    for bad, match in (({"reason": " "}, "needs a reason"), ({"hours": -1}, "negative"), ({"by": ""}, "named")):
        with pytest.raises(ValueError, match=match):
            state.correct_hours(db, rid, **{"hours": 1.0, "reason": "漏记", "by": "甲", "actor": "t", **bad})
    with pytest.raises(KeyError):
        state.correct_hours(db, 42, hours=1, reason="x", by="甲", actor="t")
    row = state.correct_hours(db, rid, hours=1.0, reason="漏记", by="甲", actor="t")
    assert (row["hours"], row["credited"], row["status"], row["confirmed_by"]) == (0.5, 1.0, "corrected", "甲")
    state.correct_hours(db, rid, hours=1.5, reason="再核", by="乙", actor="t")
    got = [(c["original_hours"], c["new_hours"], c["reason"], c["by"]) for c in state.hours_corrections(db, rid)]
    assert got == [(0.5, 1.0, "漏记", "甲"), (1.0, 1.5, "再核", "乙")]
    assert [e["detail"]["original_hours"] for e in state.audit_entries(db)] == [0.5, 1.0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE hours_corrections SET new_hours = 9")
    # a recompute leaves a corrected record alone
    assert state.store_hours(db, [record("wx2", "P2", 35, 0.5, ((0, 35),))])["unchanged"] == 1
    assert state.hours_ledger(db, ids=[rid])[0]["credited"] == 1.5


def test_an_unlinked_record_cannot_be_corrected(db):
    state.store_hours(db, [record("ext9", None)])
    (rid,) = (r["id"] for r in state.hours_ledger(db))
    with pytest.raises(ValueError, match="not credited until linked"):
        state.correct_hours(db, rid, hours=1, reason="x", by="甲", actor="t")
    assert state.hours_corrections(db) == []


def test_ledger_filters(db):
    state.store_hours(db, [record(), record(meeting_id="m2"),
                           HoursRecord("tencent_meeting", "m3", "s", "o", "wx1", "P1", "2026-12-02", 60, 1, ())])
    assert [r["meeting_id"] for r in state.hours_ledger(db, day_from="2026-12-01")] == ["m3"]
    assert [r["meeting_id"] for r in state.hours_ledger(db, day_to="2026-11-30")] == ["m1", "m2"]
    assert [r["meeting_id"] for r in state.hours_ledger(db, meeting_id="m2")] == ["m2"]
    assert state.hours_ledger(db, statuses=["confirmed"]) == []
    assert state.hours_ledger(db, ids=[]) == []

from datetime import UTC, datetime, timedelta

import pytest

from mappings.hours import HoursRule, MeetingInfo, RoundingStep, compute_hours, local_day, merge
from mappings.models import Attendance

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def at(minutes):
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("minutes", "hours"),
    [(0, 0), (15, 0), (15.5, 0.5), (45, 0.5), (46, 1), (60, 1), (75, 1), (76, 1.5), (105, 1.5), (106, 2),
     (210, 3.5)],
)
def test_default_rounding(minutes, hours):
    assert HoursRule().hours(minutes) == hours


def test_rounding_is_the_policys():
    rule = HoursRule(rounding=[RoundingStep(up_to=30, hours=0), RoundingStep(up_to=90, hours=1)],
                     step_minutes=60, step_hours=1)
    assert [rule.hours(m) for m in (30, 31, 90, 120, 121, 151)] == [0, 1, 1, 1, 2, 2]


def test_rounding_rows_must_ascend():
    with pytest.raises(ValueError, match="strictly increasing"):
        HoursRule(rounding=[RoundingStep(up_to=45, hours=0.5), RoundingStep(up_to=15, hours=0)])


@pytest.mark.parametrize(
    ("spans", "merged"),
    [
        ([(0, 10), (5, 20)], [(0, 20)]),            # overlap (two devices)
        ([(0, 10), (10, 20)], [(0, 20)]),           # touching
        ([(30, 40), (0, 10)], [(0, 10), (30, 40)]),  # a rejoin, out of order
        ([(0, 60), (10, 20)], [(0, 60)]),           # contained
    ],
)
def test_merge(spans, merged):
    assert merge([(at(a), at(b)) for a, b in spans]) == [(at(a), at(b)) for a, b in merged]


def row(ext, joined, left, meeting="m1"):
    return Attendance(service="tencent_meeting", meeting_id=meeting, external_id=ext, joined_at=at(joined),
                      left_at=at(left) if left is not None else None)


def test_records_merge_rejoins_and_keep_their_evidence():
    meetings = {"m1": MeetingInfo("m1", "心理援助培训", "organiser-1", at(0), at(120))}
    rows = [row("u1", 0, 20), row("u1", 25, 50), row("u1", 40, 55), row("u2", 0, 10), row("u3", 100, None),
            row("u4", 0, 30, meeting="unknown")]
    records = {r.external_id: r for r in compute_hours(rows, meetings, {"u1": "P1"})}
    assert set(records) == {"u1", "u2", "u3"}
    u1 = records["u1"]
    assert (u1.person_id, u1.minutes, u1.hours, u1.organiser, u1.day) == ("P1", 50.0, 1.0, "organiser-1", "2026-11-21")
    assert u1.intervals == ((at(0), at(20)), (at(25), at(55)))
    assert (records["u2"].hours, records["u2"].person_id) == (0, None)
    assert records["u3"].minutes == 20.0  # an open join is closed at the meeting's end


def test_the_day_is_the_meetings_date_in_shanghai():
    # 07:30 in Shanghai on 22 November is still 21 November in UTC
    early = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    meetings = {"m1": MeetingInfo("m1", "晨会", "org", early, early + timedelta(hours=1))}
    rows = [Attendance(service="tencent_meeting", meeting_id="m1", external_id="u1", joined_at=early,
                       left_at=early + timedelta(minutes=30))]
    assert compute_hours(rows, meetings, {})[0].day == "2026-11-22"
    assert local_day(datetime(2026, 11, 21, 15, 59, tzinfo=UTC)) == "2026-11-21"
    assert local_day(datetime(2026, 11, 21, 16, 0)) == "2026-11-22"  # naive is UTC

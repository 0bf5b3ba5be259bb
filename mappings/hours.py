"""Service hours from meeting participation, as the national volunteer-service rule asks.

Per person per meeting: the union of their join/leave intervals (a rejoin or a second
device overlapping the first counts once), rounded by the coalition's rule set — by
default ≤ 15 min → 0 h, ≤ 45 min → 0.5 h, ≤ 60 min → 1 h, then half hours (a further
half hour counts once more than 15 of its minutes were served). Every record keeps its
evidence — meeting, organiser, the merged intervals — because whoever organises records
and certifies. A record's day is the meeting's date in Asia/Shanghai (a 07:30 session is
on that morning's date, not the previous UTC day).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mappings.models import Attendance

# China has kept UTC+8 without daylight saving since 1991: a fixed offset needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class RoundingStep(BaseModel):
    """Up to ``up_to`` minutes (inclusive) earn ``hours``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    up_to: int = Field(ge=0)
    hours: float = Field(ge=0)


class HoursRule(BaseModel):
    """The rounding table, then ``step_hours`` per further ``step_minutes`` (more than half served)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rounding: list[RoundingStep] = Field(default_factory=lambda: [
        RoundingStep(up_to=15, hours=0), RoundingStep(up_to=45, hours=0.5), RoundingStep(up_to=60, hours=1)])
    step_minutes: int = Field(30, gt=0)
    step_hours: float = Field(0.5, ge=0)

    @model_validator(mode="after")
    def _ascending(self):
        bounds = [s.up_to for s in self.rounding]
        if bounds != sorted(set(bounds)):
            raise ValueError("rounding rows must have strictly increasing up_to minutes")
        return self

    def hours(self, minutes: float) -> float:
        """Hours earned for ``minutes`` of service."""
        for step in self.rounding:
            if minutes <= step.up_to:
                return step.hours
        last = self.rounding[-1] if self.rounding else RoundingStep(up_to=0, hours=0)
        extra = minutes - last.up_to
        half = self.step_minutes / 2
        steps = math.ceil((extra - half) / self.step_minutes) if extra > half else 0
        return last.hours + steps * self.step_hours


@dataclass(frozen=True)
class MeetingInfo:
    """What a record needs to know about its meeting."""

    meeting_id: str
    subject: str
    organiser: str
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class HoursRecord:
    """One person's hours for one meeting, with the evidence behind them."""

    service: str
    meeting_id: str
    subject: str
    organiser: str
    external_id: str
    person_id: str | None
    day: str  # the meeting's date in Asia/Shanghai, ISO
    minutes: float
    hours: float
    intervals: tuple[tuple[datetime, datetime], ...]


def merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The union of closed intervals, sorted; touching or overlapping ones become one."""
    out: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if end < start:
            start, end = end, start
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def local_day(moment: datetime) -> str:
    """The date (ISO) of ``moment`` in Asia/Shanghai, the day a volunteer served; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).date().isoformat()


def compute_hours(rows: Iterable[Attendance], meetings: dict[str, MeetingInfo], links: dict[str, str],
                  rule: HoursRule | None = None) -> list[HoursRecord]:
    """One record per (meeting, participant) with merged intervals and rounded hours.

    A join with no leave time is closed at the meeting's end; without one it is skipped
    (it cannot be certified). ``links`` maps the meeting service's account ids to people.
    """
    rule = rule or HoursRule()
    joins: dict[tuple[str, str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for row in rows:
        meeting = meetings.get(row.meeting_id)
        end = row.left_at or (meeting.end if meeting else None)
        if meeting is None or end is None:
            continue
        joins[(row.service, row.meeting_id, row.external_id)].append((row.joined_at, end))
    records = []
    for (service, meeting_id, ext), spans in sorted(joins.items()):
        meeting = meetings[meeting_id]
        merged = merge(spans)
        minutes = sum((b - a).total_seconds() for a, b in merged) / 60
        records.append(HoursRecord(service, meeting_id, meeting.subject, meeting.organiser, ext, links.get(ext),
                                   local_day(meeting.start), round(minutes, 2), rule.hours(minutes),
                                   tuple(merged)))
    return records


__all__ = ["SHANGHAI", "HoursRecord", "HoursRule", "MeetingInfo", "RoundingStep", "compute_hours", "local_day",
           "merge"]

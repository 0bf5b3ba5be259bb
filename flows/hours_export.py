"""The service-hours export: the national volunteer-service import (CSV and XLSX) and its statistics.

One row per credited record of a person (confirmed only, unless asked), with the identity
number masked; a second sheet counts what coalitions used to count by hand — sessions,
attendances, hours by team, by role and by month. Days are Asia/Shanghai.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any

import state
from flows.hours import CERTIFIED, HoursError
from flows.workspace import Workspace
from mappings.hours import SHANGHAI, local_day
from mappings.models import Person
from state.hours import attendance_counts, iter_hours_ledger

RECORD_HEADER = ["姓名 name", "证件号码 id number", "活动名称 activity", "服务日期 date", "服务时长 hours",
                 "组织方 organiser"]
NOTE_HEADER = "备注 note"
EXPORT_FIELDS = ("id", "service", "meeting_id", "external_id", "person_id", "name", "subject", "organiser", "day",
                 "credited", "hours", "status")
UNCONFIRMED = "未确认 unconfirmed"
NONE = "(无 none)"


# --- export -------------------------------------------------------------------------------


@dataclass
class Exported:
    """The files ``export`` wrote, their record rows and their statistics rows."""

    csv: Path
    xlsx: Path
    rows: list[list]
    stats: list[list]


def mask_id_number(value: str | None) -> str:
    """``110***********1234``: the first 3 and last 4 characters, ``*`` between; empty when unknown."""
    text = (value or "").strip()
    if not text:
        return ""
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def export(ws: Workspace, out_dir: Path, *, day_from: date | None = None, day_to: date | None = None,
           include_unconfirmed: bool = False, today: date | None = None) -> Exported:
    """Write ``hours-<date>.csv`` (UTF-8 with BOM) and ``hours-<date>.xlsx`` (records + statistics)."""
    if day_from and day_to and day_from > day_to:
        raise HoursError(f"--from {day_from} is after --to {day_to}")
    lo, hi = (d.isoformat() if d else None for d in (day_from, day_to))
    statuses = [*CERTIFIED, "computed"] if include_unconfirmed else list(CERTIFIED)
    records = [{k: r[k] for k in EXPORT_FIELDS} for r in iter_hours_ledger(ws.db, day_from=lo, day_to=hi,
                                                                             statuses=statuses)
               if r["person_id"] and r["credited"] > 0]  # a month is 10⁵ records: keep only what is written
    people = {p.id: p for p in state.list_people(ws.db)}
    rows = [_export_row(r, people.get(r["person_id"]), include_unconfirmed) for r in records]
    stats = statistics(ws, records, people, lo, hi, include_unconfirmed)
    header = RECORD_HEADER + ([NOTE_HEADER] if include_unconfirmed else [])
    stamp = (today or datetime.now(SHANGHAI).date()).isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = out_dir / f"hours-{stamp}.csv", out_dir / f"hours-{stamp}.xlsx"
    _write_csv(csv_path, header, rows)
    _write_xlsx(xlsx_path, header, rows, stats)
    state.append(ws.db, run_id=None, actor=ws.actor, action="export hours", target="hours", object_id="*",
                 reason="national volunteer service import",
                 detail={"rows": len(rows), "from": lo, "to": hi, "include_unconfirmed": include_unconfirmed,
                         "files": [csv_path.name, xlsx_path.name]})
    return Exported(csv_path, xlsx_path, rows, stats)


def _export_row(record: dict, person: Person | None, marked: bool) -> list:
    name = person.name if person else record["name"] or record["external_id"]
    id_number = person.attributes.get("id_number") if person else None
    row = [name, mask_id_number(id_number), record["subject"], record["day"], record["credited"],
           record["organiser"]]
    if marked:
        row.append("" if record["status"] in CERTIFIED else UNCONFIRMED)
    return row


def statistics(ws: Workspace, records: list[dict], people: dict[str, Person], day_from: str | None,
               day_to: str | None, include_unconfirmed: bool) -> list[list]:
    """The statistics sheet: sessions, attendances, hours in total, by team, by role and by month."""
    sessions, joins, attendees = _attendance_counts(ws, day_from, day_to)
    by_team: dict[str, float] = defaultdict(float)
    by_role: dict[str, float] = defaultdict(float)
    by_month: dict[str, float] = defaultdict(float)
    for r in records:
        person, hours = people.get(r["person_id"]), r["credited"]
        team = person.team if person else None
        by_team[_label(ws.policy.teams, team)] += hours
        roles = sorted(person.role_names(date.fromisoformat(r["day"]))) if person else []
        for role in roles or [None]:
            by_role[_label(ws.policy.roles, role)] += hours
        by_month[r["day"][:7]] += hours
    basis = "已确认及未确认 confirmed and unconfirmed" if include_unconfirmed else "仅已确认 confirmed only"
    period = f"{day_from or '…'} – {day_to or '…'}"
    rows: list[list] = [
        ["指标 metric", "项目 item", "数值 value"],
        ["统计期间 period", period, ""],
        ["时长口径 hours counted", basis, ""],
        ["场次 sessions", "", sessions],
        ["参会记录 attendances (join rows)", "", joins],
        ["参会人数 attendances (distinct people)", "", attendees],
        ["总时长 total hours", "", _num(sum(r["credited"] for r in records))],
    ]
    rows += [["按组 hours by team", k, _num(v)] for k, v in sorted(by_team.items())]
    rows += [["按岗位 hours by role", k, _num(v)] for k, v in sorted(by_role.items())]
    rows += [["按月 hours by month", k, _num(v)] for k, v in sorted(by_month.items())]
    rows.append(["说明 note", "一人多岗时，其时长计入每个岗位，故按岗位合计可大于总时长 "
                 "a person with several roles counts for each, so hours by role may add up to more than "
                 "the total", ""])
    return rows


def _attendance_counts(ws: Workspace, day_from: str | None, day_to: str | None) -> tuple[int, int, int]:
    """Sessions held (meetings with a join), join rows and distinct participants in the period."""
    sessions, joins, attendees = 0, 0, set()
    by_service: dict[str, list[str]] = defaultdict(list)
    for m in state.known_meetings(ws.db):
        day = local_day(datetime.fromisoformat(m["start"]))
        if (day_from is None or day >= day_from) and (day_to is None or day <= day_to):
            by_service[m["service"]].append(m["meeting_id"])
    for service, ids in by_service.items():
        links = {ext: i.person_id for ext, i in state.identities_for(ws.db, service).items()}
        held, rows, participants = attendance_counts(ws.db, service, ids)  # counted in SQL: no rows in memory
        sessions += held
        joins += rows
        attendees |= {links.get(ext) or f"{service}:{ext}" for ext in participants}
    return sessions, joins, len(attendees)


def _label(table: dict, key: str | None) -> str:
    if key is None:
        return NONE
    named = table.get(key)
    return named.name if named else key


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows([_text(v) for v in row] for row in rows)


def _write_xlsx(path: Path, header: list[str], rows: list[list], stats: list[list]) -> None:
    """Both sheets, streamed (write-only: no cell objects are kept); column widths from the first 50 rows."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    records = ([_num(v) if isinstance(v, float) else v for v in row] for row in rows)
    for title, table in (("服务记录 records", chain([header], records)), ("统计 statistics", iter(stats))):
        sheet = book.create_sheet(title)
        first = list(islice(table, 50))
        for i in range(max(map(len, first), default=0)):
            sheet.column_dimensions[get_column_letter(i + 1)].width = max(
                12, *(len(str((r[i] if i < len(r) else None) or "")) + 4 for r in first))
        for row in chain(first, table):
            sheet.append(row)
    book.save(path)


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = ["Exported", "export", "mask_id_number", "statistics"]

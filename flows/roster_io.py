"""The master table in and out: CSV and XLSX import/export of the roster.

Coalitions keep their people in a spreadsheet; headers may be English or Chinese
(姓名, 手机号, 邮箱, 项目组, 层级, 岗位, 状态). An import is all or nothing: every row is
checked first (mobile, email, team, tier, roles against the policy) and any bad row
fails the whole import with its row number and field, so a half-imported roster never
drives a sync. Rows of the same person (same normalised mobile and name) are merged;
the same mobile under two different names is an error, never a guess.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import state
from mappings.models import Person, RoleAssignment
from mappings.normalize import clean_text, local_mobile, normalize_email, normalize_mobile
from mappings.policy import Policy

HEADERS = {
    "id": ("id", "编号", "person_id"),
    "name": ("name", "姓名", "名字"),
    "mobile": ("mobile", "手机", "手机号", "手机号码", "电话"),
    "email": ("email", "邮箱", "电子邮箱"),
    "team": ("team", "项目组", "组别", "小组"),
    "tier": ("tier", "层级", "线"),
    "roles": ("roles", "role", "岗位", "角色"),
    "status": ("status", "状态"),
}
STATUS = {"active": "active", "在岗": "active", "applicant": "applicant", "申请": "applicant",
          "leaving": "leaving", "离开中": "leaving", "left": "left", "已离开": "left", "离开": "left"}
EXPORT_COLUMNS = ["id", "name", "mobile", "email", "team", "tier", "roles", "status"]
_SPLIT = re.compile(r"[,，、;；/]+")


class RosterImportError(Exception):
    """A spreadsheet that cannot be imported; ``errors`` lists every bad row."""

    def __init__(self, file: Path, errors: list[str]):
        self.file, self.errors = file, errors
        shown = "\n".join(f"  {e}" for e in errors[:20])
        more = f"\n  … and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{file}: {len(errors)} bad row(s); nothing was imported\n{shown}{more}")


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    updated: int = 0
    merged: list[str] = field(default_factory=list)
    rows: int = 0


def read_table(path: Path, column=lambda header: clean_text(str(header or ""))) -> list[tuple[int, dict[str, str]]]:
    """(row number, {column name: text}) for each non-empty data row of a CSV or XLSX; row 1 is the header."""
    suffix = path.suffix.lower()
    try:
        raw = _read_xlsx(path) if suffix in (".xlsx", ".xlsm") else _read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, csv.Error) as exc:  # csv.Error: e.g. a huge field
        raise RosterImportError(path, [f"cannot read the file: {exc}"]) from None
    if not raw:
        raise RosterImportError(path, ["the file is empty"])
    header = [column(h) for h in raw[0]]
    out = []
    for number, cells in enumerate(raw[1:], start=2):
        row = {h: clean_text(c) for h, c in zip(header, cells, strict=False) if h}
        if any(row.values()):
            out.append((number, row))
    return out


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The master table's rows with columns named by ``HEADERS`` (English or Chinese headers)."""
    rows = read_table(path, _column)
    if rows and "name" not in rows[0][1] and not any("name" in r for _, r in rows):
        raise RosterImportError(path, ["row 1: no name column (姓名/name)"])
    return rows


def _column(header: object) -> str:
    text = clean_text(str(header or "")).lower()
    for key, names in HEADERS.items():
        if text in names:
            return key
    return f"attr:{text}" if text else ""


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [row for row in csv.reader(fh)]


def _read_xlsx(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad file
        raise ValueError(f"not an Excel workbook ({type(exc).__name__})") from None
    sheet = book.worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return rows


def parse_person(number: int, row: dict[str, str], policy: Policy, errors: list[str]) -> Person | None:
    """Validate one row into a Person (id filled later); append errors instead of raising."""
    bad = len(errors)
    name = row.get("name", "")
    if not name:
        errors.append(f"row {number}: name: empty")
    mobile = _check(number, "mobile", normalize_mobile, row.get("mobile"), errors)
    email = _check(number, "email", normalize_email, row.get("email"), errors)
    team = _known(number, "team", row.get("team"), policy.team_key, policy.teams, errors)
    tier = row.get("tier") or None
    if tier and tier not in policy.tiers:
        errors.append(f"row {number}: tier: unknown tier {tier!r} (known: {', '.join(policy.tiers)})")
    roles = []
    for label in filter(None, _SPLIT.split(row.get("roles", ""))):
        key = _known(number, "roles", label, policy.role_key, policy.roles, errors)
        if key:
            roles.append(RoleAssignment(role=key))
    status = STATUS.get((row.get("status") or "active").lower())
    if status is None:
        errors.append(f"row {number}: status: {row.get('status')!r} is not one of active, applicant, leaving, left")
    if len(errors) > bad:
        return None
    attrs = {k[5:]: v for k, v in row.items() if k.startswith("attr:") and v}
    return Person(id=row.get("id") or "", name=name, mobile=mobile, email=email, team=team, tier=tier,
                  roles=tuple(roles), status=status, attributes=attrs)


def _check(number: int, name: str, fn, value: str | None, errors: list[str]) -> str | None:
    try:
        return fn(value)
    except ValueError as exc:
        errors.append(f"row {number}: {name}: {exc}")
        return None


def _known(number: int, name: str, label: str | None, lookup, table: dict, errors: list[str]) -> str | None:
    if not label:
        return None
    key = lookup(label)
    if key is None:
        known = ", ".join(f"{k} ({v.name})" for k, v in table.items()) or "none declared in the policy"
        errors.append(f"row {number}: {name}: unknown {name.rstrip('s')} {label!r} (known: {known})")
    return key


def import_roster(db, path: Path, policy: Policy) -> ImportReport:
    """Validate every row, merge duplicates, match existing people, then upsert all at once."""
    path = Path(path)
    rows, errors = read_rows(path), []
    parsed = [(n, parse_person(n, row, policy, errors)) for n, row in rows]
    report = ImportReport(rows=len(rows))
    people = _merge_duplicates(parsed, errors, report)
    if errors:
        raise RosterImportError(path, errors)
    final = _assign_ids(db, people, report)
    state.upsert_people(db, final)
    return report


def _merge_duplicates(parsed, errors: list[str], report: ImportReport) -> list[Person]:
    """Rows sharing an id, mobile or email are one person if the names agree; else an error."""
    seen: dict[str, int] = {}  # "id:…"/"mobile:…"/"email:…" → index in out
    rows: list[int] = []
    out: list[Person] = []
    for number, person in parsed:
        if person is None:
            continue
        keys = [f"{k}:{v}" for k, v in (("id", person.id), ("mobile", person.mobile), ("email", person.email)) if v]
        hits = sorted({seen[k] for k in keys if k in seen})
        if len(hits) > 1 or (hits and clean_text(out[hits[0]].name) != clean_text(person.name)):
            other = out[hits[0]]
            errors.append(f"row {number}: its id, mobile or email also belongs to {other.name} on row "
                          f"{rows[hits[0]]}; fix one of them (two people never share an identity)")
            continue
        if hits:
            i = hits[0]
            first = out[i]
            update = {k: v for k, v in person.model_dump().items() if v and k != "roles"}
            roles = tuple({r.role: r for r in first.roles + person.roles}.values())
            out[i] = first.model_copy(update={**update, "id": first.id or person.id, "roles": roles})
            report.merged.append(f"row {number} merged into row {rows[i]} ({person.name})")
        else:
            i = len(out)
            out.append(person)
            rows.append(number)
        seen.update({k: i for k in keys})
    return out


def _assign_ids(db, people: list[Person], report: ImportReport) -> list[Person]:
    used = [int(p.id[1:]) for p in people if re.fullmatch(r"P\d+", p.id or "")]
    next_n = max([int(state.next_person_id(db)[1:]), *(n + 1 for n in used)])
    final = []
    for p in people:
        existing = None
        if p.id:
            try:
                existing = state.get_person(db, p.id)
            except KeyError:
                existing = None
        if existing is None and (p.mobile or p.email):
            found = state.find_people(db, mobile=p.mobile) if p.mobile else []
            found = found or (state.find_people(db, email=p.email) if p.email else [])
            existing = found[0] if len(found) == 1 else None
        if existing is not None:
            report.updated += 1
            final.append(p.model_copy(update={"id": existing.id}))
            continue
        report.created += 1
        if not p.id:
            p = p.model_copy(update={"id": f"P{next_n:06d}"})
            next_n += 1
        final.append(p)
    return final


def export_roster(db, path: Path) -> int:
    """Write every person to CSV or XLSX (by suffix); returns the number of rows."""
    path = Path(path)
    rows = [[p.id, p.name, local_mobile(p.mobile) or "", p.email or "", p.team or "", p.tier or "",
             ";".join(r.role for r in p.roles), p.status] for p in state.list_people(db)]
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "roster"
        sheet.append(EXPORT_COLUMNS)
        for row in rows:
            sheet.append(row)
        book.save(path)
    else:
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_COLUMNS)
            writer.writerows(rows)
    return len(rows)


__all__ = ["ImportReport", "RosterImportError", "export_roster", "import_roster", "read_rows", "read_table"]

"""``muster register``: the permission register written as an HTML page, a workbook or CSV files.

The register is computed (``mappings.register``) from the latest snapshot of every service,
or, with ``--since RUN``, also from the snapshots that run saved, and the two are compared.
Members of a service kept by hand that only an open work item asked for are marked pending
(``pending_by_hand``), not confirmed. Contacts in the people view are masked unless the reader
may see them (``mappings.privacy``). Every export is audited: it writes who holds what, and possibly contacts, to disk.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path

import state
from flows.html_report import HtmlTable, render_page
from flows.steps import grant_exceptions
from flows.work_items import is_manual
from flows.workspace import Workspace
from mappings.desired import desired_state
from mappings.hours import SHANGHAI
from mappings.models import Observed
from mappings.privacy import Masker, reader_for
from mappings.register import PersonEntry, Register, RegisterDiff, RegisterRow, build_register, diff
from state.snapshots import snapshot_at, snapshot_runs

FORMATS = ("html", "xlsx", "csv")
RESOURCE_COLUMNS = ["kind", "resource", "resource id", "policy key", "person id", "member", "account", "level",
                    "owner", "why"]
PEOPLE_COLUMNS = ["person id", "name", "status", "team", "tier", "mobile", "email", "accounts", "service", "kind",
                  "resource", "level", "why"]
CHANGE_COLUMNS = ["change", "service", "kind", "resource", "member", "account", "before", "after", "why"]
KEPT_RUNS_SHOWN = 20


class RegisterError(Exception):
    """A register request the user can fix (unknown run, unknown format, nothing read yet)."""


@dataclass
class Written:
    """What ``write_register`` wrote and from what."""

    paths: list[Path]
    register: Register
    masker: Masker
    changes: RegisterDiff | None = None
    notes: list[str] = field(default_factory=list)


def write_register(ws: Workspace, *, fmt: str = "html", out: Path | None = None, since: str | None = None,
                   reader: str | None = None, today: date | None = None) -> Written:
    """Compute the register (and the changes since run ``since``) and write it as ``fmt``.

    Raises:
        RegisterError: an unknown format or run, or no service has been read yet.
    """
    if fmt not in FORMATS:
        raise RegisterError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    today = today or datetime.now(SHANGHAI).date()
    latest = latest_observed(ws)
    people = state.list_people(ws.db)
    reg = register_of(ws, latest, people, today)
    notes = [f"{s}: the last read failed ({o.error}); its rows may be incomplete"
             for s, o in sorted(latest.items()) if not o.complete]
    changes = None
    if since is not None:
        old = observed_at_run(ws, since)
        changes = diff(register_of(ws, old, people, today).rows, [r for r in reg.rows if r.service in old])
        notes.append(f"changes since run {since}: services read in both runs ({', '.join(sorted(old))})")
    masker = Masker(ws.policy, reader_for(people, reader if reader is not None else ws.actor))
    out = out or ws.reports / f"register-{today.isoformat()}.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = {"html": _write_html, "xlsx": _write_xlsx, "csv": _write_csv}[fmt]
    paths = writer(out, reg, masker, changes, notes, ws.coalition, today)
    state.append(ws.db, run_id=None, actor=ws.actor, action="export register", target="register", object_id="*",
                 reason="permission register",
                 detail={"format": fmt, "rows": len(reg.rows), "since": since, "contacts": "full" if masker.full
                         else "masked", "reader": masker.reader.id if masker.reader else None,
                         "files": [p.name for p in paths]})
    return Written(paths, reg, masker, changes, notes)


def latest_observed(ws: Workspace) -> dict[str, Observed]:
    """The latest snapshot of every service the config or policy names; ``RegisterError`` when there is none."""
    out = {}
    for service in _services(ws):
        obs = state.latest_snapshot(ws.db, service)
        if obs is not None:
            out[service] = obs
    if not out:
        raise RegisterError("no service has been read yet: run `muster pull` or `muster sync` first")
    return out


def observed_at_run(ws: Workspace, run_id: str) -> dict[str, Observed]:
    """The snapshots run ``run_id`` saved; ``RegisterError`` naming the kept runs when it saved none."""
    run_id = run_id.strip()
    out = {}
    kept: dict[str, None] = {}
    for service in _services(ws):
        runs = snapshot_runs(ws.db, service)
        kept.update(dict.fromkeys(runs))
        if run_id in runs:
            out[service] = snapshot_at(ws.db, service, run_id)
    if not out:
        known = sorted(kept, reverse=True)
        shown = ", ".join(islice(known, KEPT_RUNS_SHOWN)) + (" …" if len(known) > KEPT_RUNS_SHOWN else "")
        raise RegisterError(f"--since {run_id!r}: no snapshot of that run is kept "
                            f"(runs with snapshots: {shown or 'none'})")
    return out


def register_of(ws: Workspace, observed: dict[str, Observed], people: list, today: date) -> Register:
    """The register of ``observed`` with the current roster, identity links, policy and resource ids."""
    identities = {s: {ext: i.person_id for ext, i in state.identities_for(ws.db, s).items()} for s in observed}
    known = {s: state.resource_ids(ws.db, s) for s in observed}
    desired = desired_state(people, ws.policy, today, grant_exceptions(ws))  # adopted drift shows as the why
    return build_register(observed, identities=identities, people=people, policy=ws.policy, known_ids=known,
                          today=today, desired=desired, pending=pending_by_hand(ws, observed))


def pending_by_hand(ws: Workspace, services: Iterable[str]) -> dict[tuple[str, str, str], int]:
    """(service, group id, member id) → the open work item that asked for a member not confirmed by hand.

    The manual connector reports a group's confirmed members plus what open items asked for, the
    last item asking about a member winning (``flows.manual_observed``); these are the members it
    reports that way at a level nobody has confirmed yet.
    """
    out: dict[tuple[str, str, str], int] = {}
    for service in (s for s in services if is_manual(s)):
        groups = state.manual_groups(ws.db, service)
        ids = {r.key: r.external_id for r in ws.policy.resources.get(service, []) if r.external_id}
        for item in state.open_work_items(ws.db, service=service):
            group = groups.get(item["group_key"] or "")
            if item["kind"] != "manual" or group is None:
                continue
            for change in item["changes"]:
                key = (service, ids.get(group["key"], group["key"]), change["member_id"])
                confirmed = group["members"].get(change["member_id"])
                if change["op"] != "remove" and (confirmed is None or confirmed["level"] != change["level"]):
                    out[key] = item["id"]
                else:
                    out.pop(key, None)
    return out


def _services(ws: Workspace) -> list[str]:
    return sorted(set(ws.services) | set(ws.policy.resources))


# --- tables -----------------------------------------------------------------------------


def resource_table(rows: list[RegisterRow]) -> list[list[str]]:
    """Rows of one service's sheet, in ``RESOURCE_COLUMNS`` order."""
    return [[r.kind, r.resource, r.resource_id, r.policy_key, r.person_id, r.member, r.account, r.level,
             "yes" if r.owner else "", r.why] for r in rows]


def people_table(entries: list[PersonEntry], masker: Masker) -> list[list[str]]:
    """The people sheet: one row per person and resource they reach (one row when they reach nothing)."""
    out = []
    for e in entries:
        p = e.person
        head = [p.id, p.name, p.status, p.team or "", p.tier or "", masker.mobile(p.mobile), masker.email(p.email),
                ", ".join(f"{s}:{ext}" for s, ext in e.accounts)]
        if not e.reach:
            out.append(head + ["", "", "", "", ""])
        out += [head + [r.service, r.kind, r.resource, r.level, r.why] for r in e.reach]
    return out


def change_table(changes: RegisterDiff) -> list[list[str]]:
    """The changes sheet: added, removed and level changes, in register order."""
    out = [["added", r.service, r.kind, r.resource, r.member, r.account, "", r.level, r.why] for r in changes.added]
    out += [["removed", r.service, r.kind, r.resource, r.member, r.account, r.level, "", r.why]
            for r in changes.removed]
    out += [["level changed", n.service, n.kind, n.resource, n.member, n.account, _level(o), _level(n), n.why]
            for o, n in changes.changed]
    return out


def _level(row: RegisterRow) -> str:
    return row.level + (" (owner)" if row.owner and row.level != "owner" else "")


def _tables(reg: Register, masker: Masker, changes: RegisterDiff | None) -> list[HtmlTable]:
    tables = []
    if changes is not None:
        tables.append(HtmlTable("changes", f"Changes ({len(changes)})", CHANGE_COLUMNS, change_table(changes)))
    for service in reg.services:
        rows = reg.for_service(service)
        tables.append(HtmlTable(service, f"{service} ({len(rows)})", RESOURCE_COLUMNS, resource_table(rows)))
    tables.append(HtmlTable("people", f"people ({len(reg.people)})", PEOPLE_COLUMNS,
                            people_table(reg.people, masker)))
    return tables


# --- writers ----------------------------------------------------------------------------


def _write_html(out: Path, reg: Register, masker: Masker, changes: RegisterDiff | None, notes: list[str],
                coalition: str, today: date) -> list[Path]:
    title = f"Permission register — {coalition}" if coalition else "Permission register"
    subtitle = f"{today.isoformat()}, {len(reg.rows)} grants in {len(reg.services)} service(s); {masker.describe()}"
    out.write_text(render_page(title=title, subtitle=subtitle, tables=_tables(reg, masker, changes), notes=notes),
                   encoding="utf-8")
    return [out]


def _write_xlsx(out: Path, reg: Register, masker: Masker, changes: RegisterDiff | None, notes: list[str],
                coalition: str, today: date) -> list[Path]:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    for table in _tables(reg, masker, changes):
        sheet = book.create_sheet(table.name[:31])
        sample = [table.columns, *table.rows[:50]]
        for i in range(len(table.columns)):
            sheet.column_dimensions[get_column_letter(i + 1)].width = min(60, max(10, *(len(str(r[i])) + 2
                                                                                      for r in sample)))
        sheet.append(table.columns)
        for row in table.rows:
            sheet.append(row)
    book.save(out)
    return [out]


def _write_csv(out: Path, reg: Register, masker: Masker, changes: RegisterDiff | None, notes: list[str],
               coalition: str, today: date) -> list[Path]:
    rows = [[r.service, *cells] for r, cells in zip(reg.rows, resource_table(reg.rows), strict=True)]
    paths = [out, out.with_name(f"{out.stem}-people.csv")]
    _csv(out, ["service", *RESOURCE_COLUMNS], rows)
    _csv(paths[1], PEOPLE_COLUMNS, people_table(reg.people, masker))
    if changes is not None:
        paths.append(out.with_name(f"{out.stem}-changes.csv"))
        _csv(paths[2], CHANGE_COLUMNS, change_table(changes))
    return paths


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


__all__ = ["FORMATS", "RegisterError", "Written", "latest_observed", "observed_at_run", "pending_by_hand",
           "register_of", "write_register"]

"""``muster training`` and ``muster hours``: training sessions on Tencent Meeting and the hours they earn."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer

from flows.cli import ConfigOption, UserError, _workspace, app, console

training_app = typer.Typer(no_args_is_help=True, help="Training sessions on Tencent Meeting.")
hours_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                        help="Service hours from training attendance: list, confirm, correct, export.")
app.add_typer(training_app, name="training")
app.add_typer(hours_app, name="hours")

TIME_FORMATS = "YYYY-MM-DD HH:MM (Asia/Shanghai)"


def _start(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"--start {text!r}: use {TIME_FORMATS}") from None


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"{option} {text!r}: use YYYY-MM-DD") from None


def _user_errors(call, *args, **kw):
    from flows.hours import HoursError

    try:
        return call(*args, **kw)
    except HoursError as exc:
        raise UserError(str(exc)) from None


def _print(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True, markup=False)


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal cells (a Chinese character takes two)."""
    from rich.cells import cell_len

    return text + " " * max(0, width - cell_len(text))


# --- training ------------------------------------------------------------------------


@training_app.command("schedule")
def training_schedule(
    subject: str = typer.Option(..., "--subject", help="the meeting's subject"),
    start: str = typer.Option(..., "--start", help=f"start time, {TIME_FORMATS}"),
    minutes: int = typer.Option(..., "--minutes", help="how long it lasts"),
    to: list[str] = typer.Option(..., "--to", help="all, team:<team> or role:<role>; repeat for several"),
    host: str | None = typer.Option(None, "--host", help="person id of the host (default: the operator)"),
    resend: bool = typer.Option(False, "--resend", help="an earlier create got no answer and did not create it"),
    adopt: str | None = typer.Option(None, "--adopt", help="an earlier create got no answer but made this meeting"),
    config: Path | None = ConfigOption,
) -> None:
    """Create a Tencent Meeting for the people in scope (once: a re-run finds the meeting already made)."""
    from flows.hours import local_time, schedule_training

    when = _start(start)
    ws = _workspace(config)
    done = _user_errors(schedule_training, ws, subject, when, minutes, to, host, resend=resend, adopt=adopt)
    m = done.meeting
    verb = {"created": "scheduled", "already": "already scheduled", "updated": "invitees updated for",
            "adopted": "adopted"}[done.outcome]
    _print(f"{verb}: meeting {m['meeting_id']} {m['subject']!r} {local_time(m['start'])}–{local_time(m['end'])[11:]}"
           f" (Asia/Shanghai), host {m['host']}, organiser {m['organiser']}")
    _print(f"invitees: {len(done.invited)} of {done.in_scope} people in scope")
    if done.rejected:
        _print(f"not taken by Tencent Meeting (no enterprise account): {', '.join(done.rejected)}")
    if done.without_account:
        _print(f"in scope but with no meeting account ({len(done.without_account)}): "
               + ", ".join(f"{p.id} {p.name}" for p in done.without_account))


@training_app.command("list")
def training_list(config: Path | None = ConfigOption) -> None:
    """List the training meetings Muster scheduled."""
    import state
    from flows.hours import local_time

    ws = _workspace(config)
    meetings = state.known_meetings(ws.db, created_only=False)
    for m in meetings:
        _print(f"{m['meeting_id'] or '-':<20} {local_time(m['start'])} {_minutes(m):>4} min  {m['status']:<8} "
               f"{len(m['invitees']):>4} invited  {','.join(m['scope'])}  {m['subject']}  ({m['organiser']})")
    _print(f"{len(meetings)} training meeting(s)")


def _minutes(m: dict) -> int:
    return int((datetime.fromisoformat(m["end"]) - datetime.fromisoformat(m["start"])).total_seconds() // 60)


# --- hours ---------------------------------------------------------------------------


@hours_app.callback()
def hours(ctx: typer.Context, config: Path | None = ConfigOption,
          no_collect: bool = typer.Option(False, "--no-collect", help="list what is stored; read no meeting"),
          meeting: str | None = typer.Option(None, "--meeting", help="only this meeting")) -> None:
    """Read attendance of the known trainings, compute hours, and list the records."""
    if ctx.invoked_subcommand:
        return
    import state
    from flows.hours import collect

    ws = _workspace(config)
    unmatched: list[dict] = []
    if not no_collect:
        got = _user_errors(collect, ws, [meeting] if meeting else None)
        _print(f"read {got.meetings} meeting(s): {got.joins} joins ({got.new_joins} new); records "
               f"{got.added} new, {got.updated} updated, {got.unchanged} unchanged")
        for meeting_id, error in got.errors.items():
            _print(f"could not read meeting {meeting_id}: {error}")
        for ident in got.linked:
            _print(f"linked {ident.external_id} to {ident.person_id} ({ident.matched_by})")
        for rid in got.evidence_changed:
            _print(f"record {rid} is certified but its evidence changed on recompute: check it")
        unmatched = got.unmatched
    rows = state.hours_ledger(ws.db, meeting_id=meeting)
    people = {p.id: p.name for p in state.list_people(ws.db)}
    _print(f"{'id':>5}  {'person':<16} {'meeting':<20} {'date':<10} {'minutes':>7} {'hours':>5}  status")
    for r in rows:
        if r["person_id"] is None:
            continue
        who = f"{r['person_id']} {people.get(r['person_id'], r['name'] or '')}"
        hours_text = f"{r['credited']:g}" + (f" (was {r['hours']:g})" if r["status"] == "corrected" else "")
        flag = " evidence changed" if r["evidence_changed"] else ""
        _print(f"{r['id']:>5}  {_pad(who, 16)} {r['meeting_id']:<20} {r['day']:<10} {r['minutes']:>7g} "
               f"{hours_text:>5}  {r['status']}{flag}")
    unmatched = unmatched or [r for r in rows if r["person_id"] is None]
    for r in unmatched:
        _print(f"not credited until linked: {r['name'] or '?'} ({r['external_id']}) in meeting {r['meeting_id']}, "
               f"{r['minutes']:g} min")
    _print(f"{sum(1 for r in rows if r['person_id'])} record(s), {len(unmatched)} unmatched participant(s)")


@hours_app.command("confirm")
def hours_confirm(ids: list[int] = typer.Argument(None, help="record ids"),
                  meeting: str | None = typer.Option(None, "--meeting", help="every computed record of a meeting"),
                  by: str = typer.Option(..., "--by", help="the coordinator who certifies"),
                  config: Path | None = ConfigOption) -> None:
    """Certify hours records as computed."""
    from flows.hours import confirm

    ws = _workspace(config)
    done = _user_errors(confirm, ws, ids or None, meeting=meeting, by=by)
    for rid, why in done["skipped"].items():
        _print(f"record {rid} skipped: {why}")
    _print(f"confirmed {len(done['confirmed'])} record(s) by {by.strip()}")


@hours_app.command("correct")
def hours_correct(record: int, hours_: float = typer.Option(..., "--hours", help="the hours to credit"),
                  reason: str = typer.Option(..., "--reason", help="why (kept with the original)"),
                  by: str = typer.Option(..., "--by", help="the coordinator who corrects"),
                  config: Path | None = ConfigOption) -> None:
    """Credit other hours to a record; the computed value and the reason are kept."""
    from flows.hours import correct

    ws = _workspace(config)
    row = _user_errors(correct, ws, record, hours_, reason, by)
    _print(f"record {record}: {row['credited']:g} h credited (computed {row['hours']:g} h), by {row['confirmed_by']}")


@hours_app.command("export")
def hours_export(out: Path = typer.Option(Path("."), "--out", help="folder for hours-<date>.csv and .xlsx"),
                 day_from: str | None = typer.Option(None, "--from", help="first day, YYYY-MM-DD"),
                 day_to: str | None = typer.Option(None, "--to", help="last day, YYYY-MM-DD"),
                 include_unconfirmed: bool = typer.Option(False, "--include-unconfirmed",
                                                          help="add records not yet confirmed, marked"),
                 config: Path | None = ConfigOption) -> None:
    """Write the national volunteer-service import (CSV and XLSX) with a statistics sheet."""
    from flows.hours_export import export

    lo, hi = _day(day_from, "--from"), _day(day_to, "--to")
    ws = _workspace(config)
    done = _user_errors(export, ws, out, day_from=lo, day_to=hi, include_unconfirmed=include_unconfirmed)
    _print(f"exported {len(done.rows)} record(s) to {done.csv} and {done.xlsx}")

"""Training sessions on Tencent Meeting, and the service-hours ledger built from their attendance.

Plain functions (no Prefect): ``schedule_training`` creates a meeting for the people in
scope, ``collect`` reads participants and computes hours, ``confirm``/``correct`` certify
records. ``flows.hours_export`` writes the national volunteer-service import (CSV and
XLSX) with a statistics sheet.

Who a participant is: the ``tencent_meeting`` identity when linked; else, when the
connection names ``userid_from: <sync service>`` (enterprises run Tencent Meeting with
their WeCom userids), the person whose account in that service has that id — the link
is then recorded (``matched_by: userid_from:<service>``). Anyone else is unmatched, listed
as "not credited until linked", and never guessed by name.

Scheduling is idempotent: the meeting's key is (service, subject, start), its row is
written *sent* before the create and *created* after, and a create that was sent but never
answered is refused, not repeated (Tencent Meeting's create is not idempotent), until the
user says what happened (``adopt`` the meeting it made, or ``resend``).

Dates are Asia/Shanghai: the times a user types, a meeting's day, the export's period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import state
from connectors import ConnectorError, NotFound, TransientError
from connectors.tencent_meeting.client import INVITEES_MAX
from flows.workspace import Workspace
from mappings.hours import SHANGHAI, MeetingInfo, compute_hours
from mappings.models import Identity, MeetingSpec, Person, digest
from mappings.policy import Policy
from mappings.scope import Scope, ScopeError, in_scope, parse_scope

SERVICE = "tencent_meeting"
CERTIFIED = ("confirmed", "corrected")  # records a coordinator certified
MAX_MINUTES = 24 * 60
RECOMPUTE_MEETINGS = 20  # meetings whose attendance and records are held in memory at once


class HoursError(Exception):
    """A problem the user can fix: a bad scope, an unknown person or record, an unanswered create."""


# --- who is who ---------------------------------------------------------------------------


@dataclass
class Accounts:
    """Meeting-service userids and people: linked identities first, then ``userid_from``'s accounts."""

    linked: dict[str, str]  # userid → person id (identities of the meeting service)
    via: dict[str, str]  # userid → person id through the ``userid_from`` service, not yet linked
    source: str | None

    def person_of(self, userid: str) -> str | None:
        return self.linked.get(userid) or self.via.get(userid)

    def userid_of(self, person_id: str) -> str | None:
        """The person's userid in the meeting service (their linked one first), or None."""
        for table in (self.linked, self.via):
            found = sorted(u for u, p in table.items() if p == person_id)
            if found:
                return found[0]
        return None

    def userids(self) -> dict[str, str]:
        """Person id → userid for everyone who has one."""
        out: dict[str, str] = {}
        for table in (self.via, self.linked):  # linked wins
            for userid, person in sorted(table.items(), reverse=True):
                out[person] = userid
        return out


def accounts(ws: Workspace, service: str = SERVICE) -> Accounts:
    """The userid ↔ person maps of ``service`` from the identities table and ``userid_from``."""
    conn = ws.meetings.get(service)
    source = conn.userid_from if conn else None
    linked = {ext: i.person_id for ext, i in state.identities_for(ws.db, service).items()}
    via: dict[str, str] = {}
    if source:
        via = {ext: i.person_id for ext, i in state.identities_for(ws.db, source).items() if ext not in linked}
    return Accounts(linked, via, source)


def parse_scopes(policy: Policy, texts: list[str]) -> list[Scope]:
    """``all``, ``team:X``, ``role:Y`` (keys or display names of the policy); HoursError when unknown."""
    if not texts:
        raise HoursError("say who the training is for: --to all, --to team:<team> or --to role:<role>")
    out = []
    for text in texts:
        kind, sep, value = text.strip().partition(":")
        lookup = {"team": policy.team_key, "role": policy.role_key}.get(kind.strip())
        if sep and lookup is not None and value.strip():
            text = f"{kind.strip()}:{lookup(value) or value.strip()}"
        try:
            out.append(parse_scope(text, teams=policy.teams or None, roles=policy.roles or None))
        except ScopeError as exc:
            raise HoursError(str(exc)) from None
    return out


# --- scheduling ---------------------------------------------------------------------------


@dataclass
class Scheduled:
    """What ``schedule_training`` did."""

    meeting: dict  # the meetings row
    invited: list[str]  # userids the service lists as invitees
    rejected: list[str]  # userids asked for that the service did not take (no enterprise account)
    without_account: list[Person]  # in scope, but with no Tencent Meeting userid
    in_scope: int
    outcome: str = "created"  # created | already | updated (invitees) | adopted


def training_key(service: str, subject: str, start: datetime) -> str:
    """The idempotency key of a training: the same subject at the same moment is the same meeting."""
    return digest([service, subject, _utc(start)])[:16]


def schedule_training(
    ws: Workspace, subject: str, start: datetime, minutes: int, scopes: list[str], host: str | None = None, *,
    service: str = SERVICE, resend: bool = False, adopt: str | None = None, today: date | None = None,
) -> Scheduled:
    """Create a meeting for the active people in ``scopes`` (once), hosted by ``host`` or the operator.

    ``start`` without a timezone is Asia/Shanghai. A re-run with the same subject and start
    returns the meeting already made, without a call — or, when the people in scope changed,
    overwrites its invitee list with them (one PUT, as the meeting's creator). HoursError for bad input, a person
    with no meeting account, a create the service refused, or one sent and never answered.
    """
    subject = subject.strip()
    if not subject:
        raise HoursError("--subject is empty")
    if not 0 < minutes <= MAX_MINUTES:
        raise HoursError(f"--minutes {minutes}: a training lasts 1 to {MAX_MINUTES} minutes")
    start = start if start.tzinfo else start.replace(tzinfo=SHANGHAI)
    end = start + timedelta(minutes=minutes)
    parsed = parse_scopes(ws.policy, scopes)
    today = today or datetime.now(SHANGHAI).date()
    targets = in_scope(state.list_people(ws.db, status="active"), parsed, today)
    acc = accounts(ws, service)
    userids = acc.userids()
    invitees = sorted({userids[p.id] for p in targets if p.id in userids})
    without = [p for p in targets if p.id not in userids]
    runner = ws.meeting_connector(service)
    try:
        host_id, organiser, organiser_id = _host(ws, acc, runner.operator_id, host, service)
        key = training_key(service, subject, start)
        wanted = {"end": _utc(end), "host": host_id, "scope": sorted(str(s) for s in parsed)}
        existing = state.get_meeting(ws.db, key)
        if existing is not None and existing["status"] == "created":
            _same_training(existing, wanted, subject, start)
            if set(invitees) == set(existing["requested"]):
                return Scheduled(existing, existing["invitees"], [], without, len(targets), "already")
            return _refresh_invitees(ws, runner, existing, invitees, without, len(targets))
        if existing is not None and existing["status"] == "sent":
            if adopt:
                return _adopt(ws, runner, existing, adopt, without, len(targets))
            if not resend:
                raise HoursError(_unanswered(existing, subject, start))
        if len(invitees) > INVITEES_MAX:
            raise HoursError(f"{len(invitees)} invitees; a meeting takes at most {INVITEES_MAX}: narrow --to")
        run_id = state.start_run(ws.db, "training", actor=ws.actor, params={"key": key, "subject": subject})
        if existing is not None and existing["status"] == "sent":  # --resend: the user checked it was not made
            state.meeting_failed(ws.db, key, "resent: the earlier send was confirmed not to have created it")
        state.meeting_sent(ws.db, key=key, service=service, subject=subject, organiser=organiser,
                           organiser_id=organiser_id, host=host_id, start=_utc(start), end=_utc(end),
                           scope=wanted["scope"], invitees=invitees, run_id=run_id)
        spec = MeetingSpec(subject=subject, start=start, end=end, host=host_id, invitees=tuple(invitees))
        meeting_id = _create(ws, runner, spec, key, run_id)
        try:
            invited = runner.list_invitees(meeting_id)
        except ConnectorError:
            invited = invitees  # created; the read-back can wait
        state.meeting_created(ws.db, key, meeting_id, invitees=invited, actor=ws.actor, run_id=run_id,
                              reason=f"training {subject} for {', '.join(wanted['scope'])}")
        state.finish_run(ws.db, run_id, "ok", {"meeting_id": meeting_id, "invitees": len(invited)})
        rejected = sorted(set(invitees) - set(invited))
        return Scheduled(state.get_meeting(ws.db, key), invited, rejected, without, len(targets))
    finally:
        runner.close()


def _refresh_invitees(ws: Workspace, runner, existing: dict, invitees: list[str], without: list,
                      in_scope_count: int) -> Scheduled:
    """The roster changed since the training was scheduled: overwrite its invitee list (one PUT)."""
    if len(invitees) > INVITEES_MAX:
        raise HoursError(f"{len(invitees)} invitees; a meeting takes at most {INVITEES_MAX}: narrow --to")
    meeting_id = existing["meeting_id"]
    runner.acting_as(meeting_id, existing["host"])  # invitees are read and written as the meeting's creator
    result = runner.set_invitees(meeting_id, invitees)
    run_id = state.start_run(ws.db, "training", actor=ws.actor, params={"key": existing["key"], "invitees": True})
    invited = sorted(set(invitees) - set(result.rejected))
    state.meeting_invitees_set(ws.db, existing["key"], invited, requested=invitees, actor=ws.actor, run_id=run_id,
                               reason=f"the people in scope of training {existing['subject']} changed")
    state.finish_run(ws.db, run_id, "ok", {"meeting_id": meeting_id, "invitees": len(invited)})
    return Scheduled(state.get_meeting(ws.db, existing["key"]), invited, list(result.rejected), without,
                     in_scope_count, "updated")


def _host(ws: Workspace, acc: Accounts, operator: str, host: str | None, service: str) -> tuple[str, str, str | None]:
    """(host userid, organiser name, organiser person id) for ``--host`` or the configured operator."""
    if host is None:
        conn = ws.meetings.get(service)
        return operator, (conn.organiser if conn and conn.organiser else ws.coalition or operator), None
    try:
        person = state.get_person(ws.db, host)
    except KeyError:
        raise HoursError(f"--host {host}: no such person in the roster") from None
    userid = acc.userid_of(person.id)
    if userid is None:
        via = f" and no {acc.source} account" if acc.source else ""
        raise HoursError(f"--host {host} ({person.name}) has no {service} account: no {service} identity{via}")
    return userid, person.name, person.id


def _same_training(existing: dict, wanted: dict, subject: str, start: datetime) -> None:
    differs = [k for k, v in wanted.items() if existing[k] != v]
    if differs:
        raise HoursError(f"training {subject!r} at {_local(start)} is already meeting {existing['meeting_id']} "
                         f"with another {', '.join(differs)}; use another subject or start time")


def _unanswered(existing: dict, subject: str, start: datetime) -> str:
    return (f"training {subject!r} at {_local(start)} was sent to Tencent Meeting at {existing['sent_at'][:19]} UTC "
            "and no answer was recorded, so it may exist already; look in the organiser's meeting list, then "
            "re-run with --adopt <meeting id> if it is there, or --resend if it is not")


def _create(ws: Workspace, runner: Any, spec: MeetingSpec, key: str, run_id: str) -> str:
    try:
        result = runner.create_meeting(spec)
    except TransientError as exc:
        if exc.sent:  # it may have been created: leave the row sent, unanswered
            state.finish_run(ws.db, run_id, "failed", {"error": str(exc), "answered": False})
            raise HoursError(f"Tencent Meeting did not answer the create ({exc}); the meeting may exist now: "
                             "re-run to see how to go on") from None
        state.meeting_failed(ws.db, key, str(exc))
        state.finish_run(ws.db, run_id, "failed", {"error": str(exc)})
        raise HoursError(f"the create was not sent ({exc}); nothing was created, re-run later") from None
    except ConnectorError as exc:
        state.meeting_failed(ws.db, key, str(exc))
        state.finish_run(ws.db, run_id, "failed", {"error": str(exc)})
        raise HoursError(f"Tencent Meeting refused to create the meeting: {exc}") from None
    if not result.created_id:
        state.finish_run(ws.db, run_id, "failed", {"error": "no meeting id in the answer"})
        raise HoursError("Tencent Meeting answered without a meeting id; check the organiser's meeting list")
    return result.created_id


def _adopt(ws: Workspace, runner: Any, existing: dict, meeting_id: str, without: list[Person],
           in_scope_count: int) -> Scheduled:
    try:
        runner.get_group("meeting", meeting_id)
    except NotFound:
        raise HoursError(f"--adopt {meeting_id}: Tencent Meeting has no such meeting") from None
    if state.find_meeting(ws.db, existing["service"], meeting_id) is not None:
        raise HoursError(f"--adopt {meeting_id}: that meeting is already another training's")
    state.meeting_created(ws.db, existing["key"], meeting_id, actor=ws.actor, run_id=existing["run_id"],
                          reason=f"training {existing['subject']}: adopted after an unanswered create")
    row = state.get_meeting(ws.db, existing["key"])
    return Scheduled(row, row["invitees"], [], without, in_scope_count, "adopted")


# --- attendance and hours -----------------------------------------------------------------


@dataclass
class Collected:
    """What ``collect`` read and computed."""

    meetings: int = 0
    joins: int = 0  # participant rows read
    new_joins: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    evidence_changed: list[int] = field(default_factory=list)  # certified records whose evidence moved
    unmatched: list[dict] = field(default_factory=list)  # records of nobody in the roster
    linked: list[Identity] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # meeting id → why it could not be read


def collect(ws: Workspace, meeting_ids: list[str] | None = None, *, service: str = SERVICE) -> Collected:
    """Read the participants of the given (default: every known) meeting, store them, compute hours."""
    known = state.known_meetings(ws.db, service)
    if meeting_ids:
        by_id = {m["meeting_id"]: m for m in known}
        unknown = [m for m in meeting_ids if m not in by_id]
        if unknown:
            raise HoursError(f"no training meeting {', '.join(unknown)} is known (see `muster training list`)")
        known = [by_id[m] for m in dict.fromkeys(meeting_ids)]
    out = Collected(meetings=len(known))
    if not known:
        return out
    runner = ws.meeting_connector(service)
    try:
        for meeting in known:
            try:
                rows = list(runner.list_participants(meeting["meeting_id"]))
            except ConnectorError as exc:
                out.errors[meeting["meeting_id"]] = str(exc)
                continue
            out.joins += len(rows)
            out.new_joins += state.save_attendance(ws.db, rows)
    finally:
        runner.close()
    recompute(ws, known, out, service=service)
    return out


def recompute(ws: Workspace, meetings: list[dict], out: Collected | None = None, *,
              service: str = SERVICE) -> Collected:
    """Hours of these meetings from their stored attendance; certified records are never changed.

    Meetings are done ``RECOMPUTE_MEETINGS`` at a time (each batch in its own transaction), so
    memory follows the batch, not the month.
    """
    out = out or Collected(meetings=len(meetings))
    acc = accounts(ws, service)
    links = dict(acc.linked)
    ordered = sorted(meetings, key=lambda m: m["meeting_id"])
    for i in range(0, len(ordered), RECOMPUTE_MEETINGS):
        _recompute_batch(ws, ordered[i : i + RECOMPUTE_MEETINGS], out, acc, links, service)
    return out


def _recompute_batch(ws: Workspace, meetings: list[dict], out: Collected, acc: Accounts, links: dict[str, str],
                     service: str) -> None:
    rows = state.attendance_of(ws.db, service, [m["meeting_id"] for m in meetings])
    linked = []
    for userid in sorted({r.external_id for r in rows} - set(links)):
        if userid in acc.via:
            links[userid] = acc.via[userid]
            linked.append(Identity(service=service, external_id=userid, person_id=acc.via[userid],
                                   matched_by=f"userid_from:{acc.source}"))
    if linked:
        state.link(ws.db, linked)
        out.linked += linked
    infos = {m["meeting_id"]: MeetingInfo(m["meeting_id"], m["subject"], m["organiser"],
                                          datetime.fromisoformat(m["start"]), datetime.fromisoformat(m["end"]))
             for m in meetings}
    records = compute_hours(rows, infos, links, ws.policy.hours)
    names = {(r.meeting_id, r.external_id): r.name for r in rows if r.name}
    del rows
    report = state.store_hours(ws.db, records, names)
    out.added += report["added"]
    out.updated += report["updated"]
    out.unchanged += report["unchanged"]
    out.evidence_changed += report["evidence_changed"]
    unmatched = [r for r in records if r.person_id is None]
    for meeting_id in sorted({r.meeting_id for r in unmatched}):
        ids = {r["external_id"]: r for r in state.hours_ledger(ws.db, service=service, meeting_id=meeting_id)}
        out.unmatched += [ids[r.external_id] for r in unmatched if r.meeting_id == meeting_id]


def confirm(ws: Workspace, ids: list[int] | None = None, *, meeting: str | None = None, by: str,
            service: str = SERVICE) -> dict:
    """Certify records by id, or every computed record of one meeting; returns confirmed and skipped."""
    if bool(ids) == bool(meeting):
        raise HoursError("give record ids or --meeting <meeting id> (one of the two)")
    if not by.strip():
        raise HoursError("--by: name who confirms (a coordinator)")
    if meeting:
        if state.find_meeting(ws.db, service, meeting) is None:
            raise HoursError(f"no training meeting {meeting} is known (see `muster training list`)")
        ids = [r["id"] for r in state.hours_ledger(ws.db, service=service, meeting_id=meeting,
                                                   statuses=["computed"])]
    try:
        return state.confirm_hours(ws.db, ids or [], by=by.strip(), actor=ws.actor)
    except (KeyError, ValueError) as exc:
        raise HoursError(str(exc).strip("'\"")) from None


def correct(ws: Workspace, record_id: int, hours: float, reason: str, by: str) -> dict:
    """Credit ``hours`` to a record instead, keeping the original and the reason; returns the record."""
    if not 0 <= hours <= 24:
        raise HoursError(f"--hours {hours:g}: give 0 to 24 hours")
    if not reason.strip():
        raise HoursError("--reason: say why the hours are corrected")
    if not by.strip():
        raise HoursError("--by: name who corrects (a coordinator)")
    try:
        return state.correct_hours(ws.db, record_id, hours=hours, reason=reason, by=by.strip(), actor=ws.actor)
    except (KeyError, ValueError) as exc:
        raise HoursError(str(exc).strip("'\"")) from None


# --- display ------------------------------------------------------------------------------


def local_time(iso: str) -> str:
    """A stored UTC time as ``YYYY-MM-DD HH:MM`` in Asia/Shanghai."""
    return _local(datetime.fromisoformat(iso))


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


__all__ = ["CERTIFIED", "Accounts", "Collected", "HoursError", "Scheduled", "accounts", "collect", "confirm",
           "correct", "local_time", "parse_scopes", "recompute", "schedule_training", "training_key"]

"""The service-hours ledger: training meetings, their attendance, hours records and corrections.

Meetings Muster schedules are keyed by a deterministic ``key``; the row is written *sent*
before the create call and *created* (with the service's ``meeting_id``) after it, so a
create that was sent but never answered is visible and is not repeated blindly.

Attendance is kept raw, one row per join, exactly as the participants API reported it:
re-collecting upserts by (service, meeting, participant, join time) and never deletes,
because the API forgets old meetings (a 31-day window) while the evidence must stay.

An hours record is one person's hours for one meeting. ``hours`` is what the policy's
rule computed and ``credited`` what counts. A coordinator confirms a record, or corrects
it: a correction is a new row of ``hours_corrections`` (original value, new value, reason,
who, when) and those rows are append-only, so nothing certified is ever overwritten.
Recomputing updates records still ``computed`` and never touches a confirmed or corrected
one: when its evidence changed, the new evidence is kept beside it in ``evidence_changed``.
Creating a meeting, confirming and correcting are audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlite_utils

from mappings.hours import HoursRecord
from mappings.models import Attendance
from state.audit import append, append_many
from state.db import chunked, dumps, loads, placeholders, utc_now

CERTIFIED = ("confirmed", "corrected")
RECORD_STATUSES = ("computed", *CERTIFIED)


# --- meetings -------------------------------------------------------------------------


def get_meeting(db: sqlite_utils.Database, key: str) -> dict | None:
    """The meeting row with this key (scope and invitees decoded), or None."""
    rows = list(db.query("SELECT * FROM meetings WHERE key = ?", [key]))
    return _meeting(rows[0]) if rows else None


def find_meeting(db: sqlite_utils.Database, service: str, meeting_id: str) -> dict | None:
    """The meeting Muster knows by its id in the service, or None."""
    rows = list(db.query("SELECT * FROM meetings WHERE service = ? AND meeting_id = ?", [service, meeting_id]))
    return _meeting(rows[0]) if rows else None


def known_meetings(db: sqlite_utils.Database, service: str | None = None, *, created_only: bool = True) -> list[dict]:
    """Meetings Muster knows, by start time (only those the service created, unless ``created_only`` is off)."""
    clauses, params = [], []
    if service is not None:
        clauses.append("service = ?")
        params.append(service)
    if created_only:
        clauses.append("status = 'created'")
    where = " AND ".join(clauses) or "1"
    return [_meeting(r) for r in db.query(f"SELECT * FROM meetings WHERE {where} ORDER BY start, key", params)]


def meeting_sent(
    db: sqlite_utils.Database, *, key: str, service: str, subject: str, organiser: str, organiser_id: str | None,
    host: str, start: str, end: str, scope: Sequence[str], invitees: Sequence[str], run_id: str | None,
) -> None:
    """Write-ahead: the create of meeting ``key`` is about to be sent (a failed earlier try is replaced)."""
    now = utc_now()
    row = {"key": key, "service": service, "meeting_id": None, "subject": subject, "organiser": organiser,
           "organiser_id": organiser_id, "host": host, "start": start, "end": end, "scope": dumps(list(scope)),
           "invitees": dumps(list(invitees)), "requested": dumps(list(invitees)), "status": "sent",
           "run_id": run_id, "sent_at": now,
           "created_at": None, "failed_at": None, "last_error": None, "updated_at": now}
    with db.atomic():
        current = get_meeting(db, key)
        if current is not None and current["status"] != "failed":
            raise ValueError(f"meeting {key} is already {current['status']}")
        db["meetings"].upsert(row, pk="key")


def meeting_created(
    db: sqlite_utils.Database, key: str, meeting_id: str, *, invitees: Sequence[str] | None = None,
    actor: str, run_id: str | None, reason: str = "",
) -> None:
    """The service created meeting ``key`` as ``meeting_id``; audited. KeyError for an unknown key."""
    now = utc_now()
    with db.atomic():
        current = get_meeting(db, key)
        if current is None:
            raise KeyError(key)
        fields: dict[str, Any] = {"meeting_id": meeting_id, "status": "created", "created_at": now,
                                  "last_error": None, "updated_at": now}
        if invitees is not None:
            fields["invitees"] = dumps(list(invitees))
        db["meetings"].update(key, fields)
        detail = {"key": key, "subject": current["subject"], "start": current["start"], "end": current["end"],
                  "host": current["host"], "scope": current["scope"],
                  "invitees": len(current["invitees"] if invitees is None else invitees)}
        append(db, run_id=run_id, actor=actor, action="create meeting", service=current["service"],
               target=f"meeting:{meeting_id}", object_id="*", reason=reason or f"training {current['subject']}",
               detail=detail)


def meeting_invitees_set(db: sqlite_utils.Database, key: str, invitees: Sequence[str], *, requested: Sequence[str],
                         actor: str, run_id: str | None, reason: str) -> None:
    """A created meeting's invitee list was overwritten (``requested``; the service kept ``invitees``); audited."""
    with db.atomic():
        current = get_meeting(db, key)
        if current is None or current["status"] != "created":
            raise KeyError(key)
        db["meetings"].update(key, {"invitees": dumps(list(invitees)), "requested": dumps(list(requested)),
                                    "updated_at": utc_now()})
        before = set(current["invitees"])
        append(db, run_id=run_id, actor=actor, action="set invitees", service=current["service"],
               target=f"meeting:{current['meeting_id']}", object_id="*", reason=reason,
               detail={"added": sorted(set(invitees) - before), "removed": sorted(before - set(invitees))})


def meeting_failed(db: sqlite_utils.Database, key: str, error: str) -> None:
    """The service refused the create of meeting ``key``: it may be tried again."""
    now = utc_now()
    with db.atomic():
        if get_meeting(db, key) is None:
            raise KeyError(key)
        db["meetings"].update(key, {"status": "failed", "failed_at": now, "last_error": error, "updated_at": now})


def _meeting(row: dict) -> dict:
    invitees = loads(row["invitees"])
    requested = loads(row["requested"]) if row.get("requested") else invitees
    return {**row, "scope": loads(row["scope"]), "invitees": invitees, "requested": requested}


# --- attendance -------------------------------------------------------------------------


def save_attendance(db: sqlite_utils.Database, rows: Iterable[Attendance]) -> int:
    """Upsert join rows (a leave time seen later fills in); returns how many joins were new."""
    now = utc_now()
    batch: dict[tuple, dict] = {}
    for a in rows:
        row = {"service": a.service, "meeting_id": a.meeting_id, "external_id": a.external_id,
               "joined_at": _iso(a.joined_at), "left_at": _iso(a.left_at) if a.left_at else None,
               "name": a.name, "collected_at": now}
        key = (row["service"], row["meeting_id"], row["external_id"], row["joined_at"])
        kept = batch.get(key)  # two devices joining in the same second: keep the later leave
        if kept is None or (row["left_at"] or "") > (kept["left_at"] or ""):
            batch[key] = row
    if not batch:
        return 0
    meetings = sorted({k[:2] for k in batch})
    with db.atomic():
        before = _count_joins(db, meetings)
        db["attendance"].upsert_all(batch.values(), pk=("service", "meeting_id", "external_id", "joined_at"))
        return _count_joins(db, meetings) - before


def attendance_of(db: sqlite_utils.Database, service: str, meeting_ids: Iterable[str]) -> list[Attendance]:
    """Every stored join of these meetings, by meeting, participant and join time."""
    ids = sorted(set(meeting_ids))
    found: list[Attendance] = []
    for part in chunked(ids):
        sql = (f"SELECT * FROM attendance WHERE service = ? AND meeting_id IN ({placeholders(part)})"
               " ORDER BY meeting_id, external_id, joined_at")
        found += [Attendance(service=r["service"], meeting_id=r["meeting_id"], external_id=r["external_id"],
                             name=r["name"] or "", joined_at=r["joined_at"], left_at=r["left_at"])
                  for r in db.query(sql, [service, *part])]
    return found


def attendance_counts(db: sqlite_utils.Database, service: str, meeting_ids: Iterable[str]) -> tuple[int, int, set[str]]:
    """Of these meetings: how many have a join, how many join rows, and the participants' distinct ids."""
    ids = sorted(set(meeting_ids))
    held, joins, participants = 0, 0, set()
    for part in chunked(ids):
        where = f"service = ? AND meeting_id IN ({placeholders(part)})"
        params = [service, *part]
        found, rows = db.execute(f"SELECT count(DISTINCT meeting_id), count(*) FROM attendance WHERE {where}",
                                 params).fetchone()
        held, joins = held + found, joins + rows
        participants |= {r[0] for r in db.execute(f"SELECT DISTINCT external_id FROM attendance WHERE {where}",
                                                  params)}
    return held, joins, participants


def _count_joins(db: sqlite_utils.Database, meetings: list[tuple[str, str]]) -> int:
    sql = "SELECT count(*) FROM attendance WHERE service = ? AND meeting_id = ?"
    return sum(db.execute(sql, list(m)).fetchone()[0] for m in meetings)


# --- hours records ----------------------------------------------------------------------


def store_hours(
    db: sqlite_utils.Database, records: Iterable[HoursRecord], names: dict[tuple[str, str], str] | None = None,
) -> dict:
    """Insert new records, update computed ones, keep certified ones (noting changed evidence).

    ``names`` gives the participant's display name per (meeting id, external id).

    Returns counts ``added``, ``updated``, ``unchanged`` and the ids in ``evidence_changed``
    (certified records whose recomputed evidence differs from what was certified).
    """
    names = names or {}
    records = list(records)
    now = utc_now()
    report: dict[str, Any] = {"added": 0, "updated": 0, "unchanged": 0, "evidence_changed": []}
    added: list[dict] = []
    changed: list[tuple[int, dict]] = []
    with db.atomic():
        stored = _records_of(db, {(r.service, r.meeting_id) for r in records})
        for rec in records:
            fresh = _record_fields(rec, names.get((rec.meeting_id, rec.external_id)))
            current = stored.get((rec.service, rec.meeting_id, rec.external_id))
            if current is None:
                added.append({"name": None, **fresh, "credited": fresh["hours"], "status": "computed",
                              "computed_at": now})
            elif current["status"] == "computed":
                if all(current[k] == v for k, v in fresh.items()):
                    report["unchanged"] += 1
                else:
                    changed.append((current["id"], {**fresh, "credited": fresh["hours"], "computed_at": now}))
            else:
                report["unchanged"] += 1
                _note_evidence(db, current, fresh, report)
        # one statement per batch, not one sqlite-utils call (a schema look-up each) per record
        if added:
            db["hours_records"].insert_all(added, pk="id")
        _update_records(db, changed)
    report["added"], report["updated"] = len(added), len(changed)
    return report


def _update_records(db: sqlite_utils.Database, changes: Sequence[tuple[int, dict]]) -> None:
    """``UPDATE`` these records by id, one ``executemany`` per set of columns changed."""
    by_columns: dict[tuple[str, ...], list[list]] = {}
    for record_id, fields in changes:
        columns = tuple(sorted(fields))
        by_columns.setdefault(columns, []).append([*(fields[c] for c in columns), record_id])
    for columns, params in by_columns.items():
        sets = ", ".join(f"[{c}] = ?" for c in columns)
        db.conn.executemany(f"UPDATE hours_records SET {sets} WHERE id = ?", params)


def _note_evidence(db: sqlite_utils.Database, current: dict, fresh: dict, report: dict) -> None:
    evidence = {k: fresh[k] for k in ("minutes", "hours", "intervals")}
    same = all(current[k] == v for k, v in evidence.items())
    noted = None if same else dumps({**evidence, "intervals": loads(evidence["intervals"])})
    if noted != current["evidence_changed"]:
        db["hours_records"].update(current["id"], {"evidence_changed": noted})
    if not same:
        report["evidence_changed"].append(current["id"])


def hours_ledger(
    db: sqlite_utils.Database, *, service: str | None = None, meeting_id: str | None = None,
    ids: Sequence[int] | None = None, day_from: str | None = None, day_to: str | None = None,
    statuses: Sequence[str] | None = None,
) -> list[dict]:
    """Hours records (intervals and evidence decoded) by day, meeting and id, filtered as given."""
    return list(iter_hours_ledger(db, service=service, meeting_id=meeting_id, ids=ids, day_from=day_from,
                                  day_to=day_to, statuses=statuses))


def iter_hours_ledger(
    db: sqlite_utils.Database, *, service: str | None = None, meeting_id: str | None = None,
    ids: Sequence[int] | None = None, day_from: str | None = None, day_to: str | None = None,
    statuses: Sequence[str] | None = None,
) -> Iterator[dict]:
    """``hours_ledger`` one record at a time, for callers that keep only part of each (an export)."""
    clauses, params = [], []
    for column, op, value in (("service", "=", service), ("meeting_id", "=", meeting_id),
                              ("day", ">=", day_from), ("day", "<=", day_to)):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            params.append(value)
    for column, values in (("id", ids), ("status", statuses)):
        if values is not None:
            clauses.append(f"{column} IN ({placeholders(values) or 'NULL'})")
            params += list(values)
    where = " AND ".join(clauses) or "1"
    for row in db.query(f"SELECT * FROM hours_records WHERE {where} ORDER BY day, meeting_id, id", params):
        yield _record(row)


def confirm_hours(
    db: sqlite_utils.Database, ids: Sequence[int], *, by: str, actor: str, run_id: str | None = None,
) -> dict:
    """Certify computed records as they stand; audited. KeyError (nothing written) for unknown ids.

    Returns ``confirmed`` (ids) and ``skipped`` (id → why: already certified, or no person linked).
    """
    if not by.strip():
        raise ValueError("who confirms must be named")
    wanted = list(dict.fromkeys(ids))
    now = utc_now()
    out: dict[str, Any] = {"confirmed": [], "skipped": {}}
    with db.atomic():
        rows = {r["id"]: r for r in hours_ledger(db, ids=wanted)}
        missing = [i for i in wanted if i not in rows]
        if missing:
            raise KeyError(f"no hours record {', '.join(map(str, missing))}")
        entries = []
        for rid in wanted:
            row = rows[rid]
            if row["status"] != "computed":
                out["skipped"][rid] = f"already {row['status']}"
                continue
            if row["person_id"] is None:
                out["skipped"][rid] = "not credited until linked to a person"
                continue
            out["confirmed"].append(rid)
            entries.append({"run_id": run_id, "actor": actor, "action": "confirm hours", "service": row["service"],
                            "target": f"meeting:{row['meeting_id']}", "object_id": row["person_id"],
                            "reason": f"{row['subject']} {row['day']}", "approved_by": by,
                            "detail": {"record": rid, "hours": row["credited"], "minutes": row["minutes"]}})
        _update_records(db, [(rid, {"status": "confirmed", "confirmed_by": by, "confirmed_at": now})
                             for rid in out["confirmed"]])
        if entries:
            append_many(db, entries)
    return out


def correct_hours(
    db: sqlite_utils.Database, record_id: int, *, hours: float, reason: str, by: str, actor: str,
    run_id: str | None = None,
) -> dict:
    """Credit ``hours`` instead, keeping the value it replaces and the reason; audited. Returns the record.

    KeyError for an unknown record; ValueError for an empty reason or by, negative hours, or a
    record linked to no person.
    """
    if not reason.strip():
        raise ValueError("a correction needs a reason")
    if not by.strip():
        raise ValueError("who corrects must be named")
    if hours < 0:
        raise ValueError("hours cannot be negative")
    now = utc_now()
    with db.atomic():
        found = hours_ledger(db, ids=[record_id])
        if not found:
            raise KeyError(f"no hours record {record_id}")
        row = found[0]
        if row["person_id"] is None:
            raise ValueError(f"hours record {record_id} is linked to no person: not credited until linked")
        db["hours_corrections"].insert({"record_id": record_id, "original_hours": row["credited"], "new_hours": hours,
                                        "reason": reason.strip(), "by": by, "at": now}, pk="id")
        db["hours_records"].update(record_id, {"credited": hours, "status": "corrected", "confirmed_by": by,
                                               "confirmed_at": now})
        append(db, run_id=run_id, actor=actor, action="correct hours", service=row["service"],
               target=f"meeting:{row['meeting_id']}", object_id=row["person_id"], reason=reason.strip(),
               approved_by=by, detail={"record": record_id, "original_hours": row["credited"], "hours": hours,
                                       "computed_hours": row["hours"]})
    return hours_ledger(db, ids=[record_id])[0]


def hours_corrections(db: sqlite_utils.Database, record_id: int | None = None) -> list[dict]:
    """Corrections, oldest first (of one record, when given)."""
    where, params = ("record_id = ?", [record_id]) if record_id is not None else ("1", [])
    return list(db.query(f"SELECT * FROM hours_corrections WHERE {where} ORDER BY id", params))


def _records_of(db: sqlite_utils.Database, meetings: set[tuple[str, str]]) -> dict[tuple[str, str, str], dict]:
    """The stored records of these (service, meeting id) pairs, by (service, meeting id, external id)."""
    found = {}
    for service, meeting_id in sorted(meetings):
        for row in db.query("SELECT * FROM hours_records WHERE service = ? AND meeting_id = ?", [service, meeting_id]):
            found[(service, meeting_id, row["external_id"])] = row
    return found


def _record_fields(rec: HoursRecord, name: str | None) -> dict:
    fields = {"service": rec.service, "meeting_id": rec.meeting_id, "external_id": rec.external_id,
              "person_id": rec.person_id, "subject": rec.subject, "organiser": rec.organiser, "day": rec.day,
              "minutes": float(rec.minutes), "hours": float(rec.hours),
              "intervals": dumps([[_iso(a), _iso(b)] for a, b in rec.intervals])}
    if name is not None:
        fields["name"] = name
    return fields


def _record(row: dict) -> dict:
    return {**row, "intervals": loads(row["intervals"]), "evidence_changed": loads(row["evidence_changed"])}


def _iso(moment: Any) -> str:
    return moment.isoformat()


__all__ = [
    "CERTIFIED",
    "attendance_counts",
    "attendance_of",
    "confirm_hours",
    "correct_hours",
    "find_meeting",
    "get_meeting",
    "hours_corrections",
    "hours_ledger",
    "iter_hours_ledger",
    "known_meetings",
    "meeting_created",
    "meeting_failed",
    "meeting_sent",
    "save_attendance",
    "store_hours",
]

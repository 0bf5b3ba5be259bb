"""The roster: people and the roles they hold, the source of truth every service follows.

A person is one row of ``people``; their roles are rows of ``role_assignments`` keyed by
(person_id, position), so a person may hold the same role for two periods and the order
the roles were given in survives a round trip. Upserting a person replaces all of their
roles in the same transaction as the person row, so no reader sees half an update.
Reads load people and roles with one query each (never a query per person), because a
coalition's roster runs to tens of thousands of volunteers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any, get_args

import sqlite_utils
from sqlite_utils.db import NotFoundError

from mappings.models import Person, Status, digest
from state.db import dumps, loads, paused_gc, utc_now

STATUSES: tuple[str, ...] = get_args(Status)
_ID_PATTERN = "P[0-9][0-9][0-9][0-9][0-9][0-9]*"


def upsert_people(db: sqlite_utils.Database, people: Iterable[Person]) -> int:
    """Insert or replace people and all their roles in one transaction; returns how many."""
    batch = {p.id: p for p in people}  # a later duplicate wins, as it would one call later
    now = utc_now()
    with db.atomic():
        db["people"].upsert_all((_person_row(p, now) for p in batch.values()), pk="id")
        db.conn.executemany("DELETE FROM role_assignments WHERE person_id = ?", ((i,) for i in batch))
        db["role_assignments"].insert_all(_role_rows(batch.values()), pk=("person_id", "position"))
    return len(batch)


def get_person(db: sqlite_utils.Database, person_id: str) -> Person:
    """One person with their roles; KeyError(person_id) if absent."""
    found = _select(db, "id = ?", [person_id])
    if not found:
        raise KeyError(person_id)
    return found[0]


def list_people(db: sqlite_utils.Database, *, status: str | None = None) -> list[Person]:
    """Every person (or those with ``status``), ordered by id."""
    if status is None:
        return _select(db, "1", [])
    _check_status(status)
    return _select(db, "status = ?", [status])


def find_people(
    db: sqlite_utils.Database, *, mobile: str | None = None, email: str | None = None
) -> list[Person]:
    """People whose mobile equals ``mobile`` OR whose email equals ``email`` (case-insensitive)."""
    clauses = [(c, v) for c, v in (("mobile = ?", mobile), ("email = ? COLLATE NOCASE", email)) if v]
    if not clauses:
        raise ValueError("find_people needs a mobile or an email")
    return _select(db, " OR ".join(c for c, _ in clauses), [v for _, v in clauses])


def next_person_id(db: sqlite_utils.Database) -> str:
    """The next free id of the form P000001: one more than the highest existing one."""
    sql = (
        "SELECT max(CAST(substr(id, 2) AS INTEGER)) FROM people"
        " WHERE id GLOB ? AND NOT substr(id, 2) GLOB '*[^0-9]*'"
    )
    highest = db.execute(sql, [_ID_PATTERN]).fetchone()[0] or 0
    return f"P{highest + 1:06d}"


def set_status(db: sqlite_utils.Database, person_id: str, status: str) -> None:
    """Move a person along their lifecycle; KeyError if absent, ValueError for an unknown status."""
    _check_status(status)
    try:
        db["people"].update(person_id, {"status": status, "updated_at": utc_now()})
    except NotFoundError:
        raise KeyError(person_id) from None


def roster_digest(db: sqlite_utils.Database) -> str:
    """A stable sha256 over all people and their roles, for plans to record their basis."""
    with paused_gc():
        return digest([p.model_dump(mode="json") for p in list_people(db)])


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")


_PEOPLE_COLUMNS = "id, name, mobile, email, status, team, tier, attributes"


def _select(db: sqlite_utils.Database, where: str, params: list[Any]) -> list[Person]:
    # Plain tuples and one validation per person: this is the 100k-row hot path.
    roles: dict[str, list[dict]] = defaultdict(list)
    role_sql = (
        'SELECT person_id, role, start, "end" FROM role_assignments'
        f" WHERE person_id IN (SELECT id FROM people WHERE {where}) ORDER BY person_id, position"
    )
    for person_id, role, start, end in db.execute(role_sql, params):
        roles[person_id].append({"role": role, "start": start, "end": end})
    people = db.execute(f"SELECT {_PEOPLE_COLUMNS} FROM people WHERE {where} ORDER BY id", params)
    with paused_gc():
        return [_person(row, roles.get(row[0], [])) for row in people]


def _person(row: tuple, roles: list[dict]) -> Person:
    pid, name, mobile, email, status, team, tier, attributes = row
    return Person.model_validate({
        "id": pid, "name": name, "mobile": mobile, "email": email, "status": status,
        "team": team, "tier": tier, "roles": roles, "attributes": loads(attributes),
    })


def _person_row(p: Person, now: str) -> dict:
    return {
        "id": p.id, "name": p.name, "mobile": p.mobile, "email": p.email, "status": p.status,
        "team": p.team, "tier": p.tier, "attributes": dumps(p.attributes), "updated_at": now,
    }


def _role_rows(people: Iterable[Person]) -> Iterable[dict]:
    for p in people:
        for position, r in enumerate(p.roles):
            yield {"person_id": p.id, "position": position, "role": r.role,
                   "start": _iso(r.start), "end": _iso(r.end)}


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()

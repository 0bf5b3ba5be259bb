import sqlite3
from datetime import date

import pytest

from mappings.models import Person, RoleAssignment, digest
from state import (
    find_people,
    get_person,
    list_people,
    next_person_id,
    roster_digest,
    set_status,
    upsert_people,
)

ANNA = Person(
    id="P000001", name="Anna", mobile="+8613800000001", email="Anna@Example.org", team="community",
    tier="front", attributes={"city": "Wuhan"},
    roles=(
        RoleAssignment(role="counsellor", start=date(2020, 2, 1), end=date(2020, 4, 30)),
        RoleAssignment(role="liaison"),
        RoleAssignment(role="counsellor", start=date(2020, 6, 1)),
    ),
)
BO = Person(id="P000002", name="Bo", mobile="+8613800000002", status="applicant")
CHEN = Person(id="P000003", name="Chen", email="chen@example.org", status="left")


def test_people_round_trip_with_roles_and_dates(fresh_db):
    assert upsert_people(fresh_db, [CHEN, ANNA, BO]) == 3
    assert get_person(fresh_db, "P000001") == ANNA
    assert list_people(fresh_db) == [ANNA, BO, CHEN]


def test_rows_are_stored_as_declared(fresh_db, clock):
    upsert_people(fresh_db, [ANNA])
    assert list(fresh_db.query("SELECT * FROM people")) == [{
        "id": "P000001", "name": "Anna", "mobile": "+8613800000001", "email": "Anna@Example.org",
        "status": "active", "team": "community", "tier": "front", "attributes": '{"city":"Wuhan"}',
        "updated_at": clock(0),
    }]
    assert fresh_db.execute('SELECT * FROM role_assignments ORDER BY position').fetchall() == [
        ("P000001", 0, "counsellor", "2020-02-01", "2020-04-30"),
        ("P000001", 1, "liaison", None, None),
        ("P000001", 2, "counsellor", "2020-06-01", None),
    ]


def test_upsert_replaces_a_persons_roles_and_fields(fresh_db):
    upsert_people(fresh_db, [ANNA, BO])
    changed = ANNA.model_copy(update={"email": None, "roles": (RoleAssignment(role="trainer"),)})
    assert upsert_people(fresh_db, [changed]) == 1
    assert list_people(fresh_db) == [changed, BO]
    assert fresh_db.execute("SELECT count(*) FROM role_assignments").fetchone() == (1,)


def test_a_later_duplicate_in_one_batch_wins(fresh_db):
    renamed = BO.model_copy(update={"name": "Bo Li"})
    assert upsert_people(fresh_db, [BO, renamed]) == 1
    assert list_people(fresh_db) == [renamed]


def test_upsert_is_one_transaction(fresh_db):
    upsert_people(fresh_db, [ANNA])
    # The people rows go in first; the bad role fails the last statement of the batch.
    bad_role = RoleAssignment.model_construct(role=None, start=None, end=None)
    broken = BO.model_copy(update={"roles": (bad_role,)})
    with pytest.raises(sqlite3.IntegrityError):
        upsert_people(fresh_db, [ANNA.model_copy(update={"roles": ()}), broken])
    assert list_people(fresh_db) == [ANNA]


def test_get_person_raises_keyerror_with_the_id(fresh_db):
    with pytest.raises(KeyError) as e:
        get_person(fresh_db, "P404")
    assert e.value.args == ("P404",)


def test_list_people_filters_by_status(fresh_db):
    upsert_people(fresh_db, [ANNA, BO, CHEN])
    assert list_people(fresh_db, status="active") == [ANNA]
    assert list_people(fresh_db, status="left") == [CHEN]
    assert list_people(fresh_db, status="leaving") == []
    with pytest.raises(ValueError):
        list_people(fresh_db, status="retired")


def test_find_people_by_mobile_or_email(fresh_db):
    upsert_people(fresh_db, [ANNA, BO, CHEN])
    assert find_people(fresh_db, mobile="+8613800000002") == [BO]
    assert find_people(fresh_db, email="anna@example.ORG") == [ANNA]
    assert find_people(fresh_db, mobile="+8613800000002", email="chen@example.org") == [BO, CHEN]
    assert find_people(fresh_db, mobile="+8613899999999") == []
    with pytest.raises(ValueError):
        find_people(fresh_db)


def test_find_people_returns_every_sharer_of_a_mobile(fresh_db):
    twin = BO.model_copy(update={"id": "P000004", "name": "Bo's twin"})
    upsert_people(fresh_db, [BO, twin])
    assert [p.id for p in find_people(fresh_db, mobile=BO.mobile)] == ["P000002", "P000004"]


@pytest.mark.parametrize("ids, expected", [
    ([], "P000001"),
    (["P000001", "P000002"], "P000003"),
    (["P000007", "P000003"], "P000008"),
    (["P000002", "X99", "P12x4", "Pabc"], "P000003"),
    (["P999999"], "P1000000"),
])
def test_next_person_id(fresh_db, ids, expected):
    upsert_people(fresh_db, [Person(id=i, name=i) for i in ids])
    assert next_person_id(fresh_db) == expected


def test_set_status(fresh_db):
    upsert_people(fresh_db, [ANNA])
    set_status(fresh_db, "P000001", "leaving")
    assert get_person(fresh_db, "P000001") == ANNA.model_copy(update={"status": "leaving"})
    with pytest.raises(KeyError):
        set_status(fresh_db, "P404", "left")
    with pytest.raises(ValueError):
        set_status(fresh_db, "P000001", "gone")


def test_roster_digest_is_the_digest_of_people_in_id_order(fresh_db):
    empty = roster_digest(fresh_db)
    upsert_people(fresh_db, [BO, ANNA])
    assert roster_digest(fresh_db) == digest([ANNA.model_dump(mode="json"), BO.model_dump(mode="json")])
    assert roster_digest(fresh_db) != empty


def test_roster_digest_ignores_write_order_and_sees_role_changes(fresh_db):
    upsert_people(fresh_db, [ANNA, BO])
    before = roster_digest(fresh_db)
    upsert_people(fresh_db, [BO, ANNA])
    assert roster_digest(fresh_db) == before
    upsert_people(fresh_db, [ANNA.model_copy(update={"roles": ANNA.roles[:2]})])
    assert roster_digest(fresh_db) != before


def test_many_people_round_trip(fresh_db):
    people = [Person(id=f"P{i:06d}", name=f"v{i}", roles=(RoleAssignment(role="volunteer"),))
              for i in range(1, 2001)]
    assert upsert_people(fresh_db, reversed(people)) == 2000
    assert list_people(fresh_db) == people
    assert next_person_id(fresh_db) == "P002001"

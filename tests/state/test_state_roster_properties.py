from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.models import Person, RoleAssignment
from state import find_people, list_people, open_db, roster_digest, upsert_people
from state.roster import STATUSES

text = st.text(max_size=12)
maybe = st.none() | text
roles = st.builds(RoleAssignment, role=text, start=st.none() | st.dates(), end=st.none() | st.dates())
people = st.builds(
    Person, id=text, name=text, mobile=maybe, email=maybe, status=st.sampled_from(STATUSES), team=maybe,
    tier=maybe, roles=st.lists(roles, max_size=3).map(tuple),
    attributes=st.dictionaries(text, text, max_size=3),
)
rosters = st.lists(people, max_size=8, unique_by=lambda p: p.id)


@settings(max_examples=40, deadline=None)
@given(rosters)
def test_any_roster_round_trips_in_id_order(roster):
    db = open_db(None)
    upsert_people(db, roster)
    assert list_people(db) == sorted(roster, key=lambda p: p.id.encode())
    db.close()


@settings(max_examples=20, deadline=None)
@given(rosters, st.randoms())
def test_digest_does_not_depend_on_write_order(roster, rnd):
    first, second = open_db(None), open_db(None)
    upsert_people(first, roster)
    shuffled = list(roster)
    rnd.shuffle(shuffled)
    upsert_people(second, shuffled)
    assert roster_digest(first) == roster_digest(second)
    first.close()
    second.close()


@settings(max_examples=20, deadline=None)
@given(rosters)
def test_find_by_mobile_returns_exactly_the_holders(roster):
    db = open_db(None)
    upsert_people(db, roster)
    for mobile in {p.mobile for p in roster if p.mobile}:
        found = find_people(db, mobile=mobile)
        assert sorted(p.id for p in found) == sorted(p.id for p in roster if p.mobile == mobile)
    db.close()

import sqlite3

import pytest

from mappings.models import Identity, Person
from state import (
    add_review,
    identities_for,
    link,
    open_reviews,
    resolve_review,
    resource_ids,
    set_resource_id,
    unlink,
    upsert_people,
)
from state.identities import identities_of


@pytest.fixture
def db(fresh_db):
    upsert_people(fresh_db, [Person(id="P000001", name="Anna"), Person(id="P000002", name="Bo")])
    return fresh_db


def test_link_and_read_back_by_service(db, clock):
    a = Identity(service="wecom", external_id="anna", person_id="P000001", matched_by="mobile")
    b = Identity(service="wecom", external_id="bo", person_id="P000002")
    d = Identity(service="dingtalk", external_id="0123", person_id="P000001", matched_by="email")
    link(db, [a, b, d])
    assert identities_for(db, "wecom") == {"anna": a, "bo": b}
    assert identities_for(db, "dingtalk") == {"0123": d}
    assert identities_for(db, "feishu") == {}
    assert identities_of(db, "P000001") == [d, a]
    assert db.execute("SELECT * FROM identities WHERE external_id = 'anna'").fetchall() == [
        ("wecom", "anna", "P000001", "mobile", clock(0)),
    ]


def test_link_upserts_on_service_and_external_id(db):
    link(db, [Identity(service="wecom", external_id="x1", person_id="P000001")])
    moved = Identity(service="wecom", external_id="x1", person_id="P000002", matched_by="union_id")
    link(db, [moved])
    assert identities_for(db, "wecom") == {"x1": moved}
    assert db.execute("SELECT count(*) FROM identities").fetchone() == (1,)


def test_link_to_an_unknown_person_fails_and_writes_nothing(db):
    good = Identity(service="wecom", external_id="a", person_id="P000001")
    bad = Identity(service="wecom", external_id="b", person_id="P404")
    with pytest.raises(sqlite3.IntegrityError):
        link(db, [good, bad])
    assert identities_for(db, "wecom") == {}


def test_unlink(db):
    link(db, [Identity(service="wecom", external_id="a", person_id="P000001"),
              Identity(service="wecom", external_id="b", person_id="P000002")])
    unlink(db, "wecom", "a")
    unlink(db, "wecom", "never-linked")
    assert list(identities_for(db, "wecom")) == ["b"]


def test_review_is_deduplicated_per_account_and_keeps_created_at(db, clock):
    add_review(db, service="wecom", external_id="u9", reason="no match", candidates=[])
    add_review(db, service="dingtalk", external_id="u9", reason="no match", candidates=[])
    add_review(db, service="wecom", external_id="u9", reason="mobile shared",
               candidates=["P000001", "P000002"])
    assert open_reviews(db, "wecom") == [{
        "id": 1, "service": "wecom", "external_id": "u9", "reason": "mobile shared",
        "candidates": ["P000001", "P000002"], "created_at": clock(0), "updated_at": clock(2),
    }]
    assert [(r["service"], r["external_id"]) for r in open_reviews(db)] == [
        ("wecom", "u9"), ("dingtalk", "u9"),
    ]


def test_resolving_closes_the_item_and_a_new_one_can_open(db, clock):
    add_review(db, service="wecom", external_id="u9", reason="no match", candidates=[])
    resolve_review(db, "wecom", "u9", "linked to P000001")
    assert open_reviews(db) == []
    add_review(db, service="wecom", external_id="u9", reason="mobile changed", candidates=["P000002"])
    assert [(r["id"], r["reason"], r["created_at"]) for r in open_reviews(db)] == [
        (2, "mobile changed", clock(2)),
    ]
    assert db.execute("SELECT id, resolution, resolved_at FROM reviews ORDER BY id").fetchall() == [
        (1, "linked to P000001", clock(1)),
        (2, None, None),
    ]


def test_resolving_nothing_open_raises(db):
    with pytest.raises(KeyError):
        resolve_review(db, "wecom", "u9", "whatever")


def test_resource_ids_round_trip_and_update(fresh_db, clock):
    set_resource_id(fresh_db, "wecom", "chat:counsellors", "wrOgAA1", kind="chat", name="Counsellors",
                    run_id="R1")
    set_resource_id(fresh_db, "wecom", "tag:front", "12", kind="tag", name="Front line", run_id=None)
    set_resource_id(fresh_db, "dingtalk", "chat:counsellors", "cid9", kind="chat", name="C", run_id="R1")
    set_resource_id(fresh_db, "wecom", "chat:counsellors", "wrOgAA2", kind="chat", name="Counsellors 2",
                    run_id="R2")
    assert resource_ids(fresh_db, "wecom") == {"chat:counsellors": "wrOgAA2", "tag:front": "12"}
    assert resource_ids(fresh_db, "feishu") == {}
    row = fresh_db.execute("SELECT * FROM resources WHERE service = 'wecom' AND key = 'chat:counsellors'")
    assert row.fetchall() == [
        ("wecom", "chat:counsellors", "wrOgAA2", "chat", "Counsellors 2", "R2", clock(3)),
    ]

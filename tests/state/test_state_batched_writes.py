"""The batched (one prepared statement per batch) writes apply uses: same rows as one-by-one writes."""

from __future__ import annotations

import pytest

from mappings.models import Change, Identity, Person
from state import (
    append_many,
    applied_state,
    audit_entries,
    journal_rows,
    link,
    record_planned,
    upsert_people,
    verify,
)
from state.identities import identities_for
from state.journal import record_applied_many

ADD = Change(op="add", service="wecom", target="chat:c", object_id="P000002", after="member")


def test_record_applied_many_upserts_every_row_and_the_last_value_wins(fresh_db):
    record_applied_many(fresh_db, [("wecom", "chat:c", "P1", "member"), ("wecom", "chat:c", "P2", "member"),
                                   ("wecom", "chat:c", "P1", "owner")], "R1")
    record_applied_many(fresh_db, [("wecom", "chat:c", "P2", {"role": "x"})], "R2")
    record_applied_many(fresh_db, [], "R3")
    assert applied_state(fresh_db, "wecom") == {("chat:c", "P1"): "owner", ("chat:c", "P2"): {"role": "x"}}
    runs = fresh_db.execute("SELECT object_id, run_id FROM applied_state ORDER BY object_id").fetchall()
    assert runs == [("P1", "R1"), ("P2", "R2")]


def test_record_planned_twice_keeps_the_first_row(fresh_db):
    record_planned(fresh_db, "plan1", "R1", [ADD, ADD])
    record_planned(fresh_db, "plan1", "R2", [ADD])
    assert [(r["key"], r["run_id"]) for r in journal_rows(fresh_db, "plan1")] == [(ADD.key, "R1")]


def test_one_transaction_for_marks_audit_values_and_links_rolls_back_together(fresh_db):
    upsert_people(fresh_db, [Person(id="P1", name="A")])
    entry = {"run_id": "R1", "actor": "t", "action": "add account", "service": "wecom", "target": "account",
             "object_id": "P1"}
    with pytest.raises(Exception, match="FOREIGN KEY"), fresh_db.atomic():
        append_many(fresh_db, [entry])
        record_applied_many(fresh_db, [("wecom", "account", "P1", {"name": "A"})], "R1")
        link(fresh_db, [Identity(service="wecom", external_id="a", person_id="nobody", matched_by="created")])
    assert audit_entries(fresh_db) == [] and applied_state(fresh_db, "wecom") == {}

    with fresh_db.atomic():
        append_many(fresh_db, [entry, entry])
        link(fresh_db, [Identity(service="wecom", external_id="a", person_id="P1", matched_by="created")])
    link(fresh_db, [Identity(service="wecom", external_id="a", person_id="P1", matched_by="mobile")])
    assert [e["seq"] for e in audit_entries(fresh_db)] == [1, 2] and verify(fresh_db) is None
    assert identities_for(fresh_db, "wecom")["a"].matched_by == "mobile"

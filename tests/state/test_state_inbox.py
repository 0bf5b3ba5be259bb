import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from mappings.models import FormEntry
from state import (
    StateError,
    claim_pending,
    get_item,
    inbox_items,
    open_db,
    quarantine,
    quarantined,
    receive,
    set_item_status,
)


def entry(serial="1", **answers):
    return FormEntry(service="jinshuju", form="abc123", serial=serial, answers=answers or {"field_1": "Anna"},
                     submitted_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))


def test_a_new_entry_is_stored_with_its_payload(fresh_db, clock):
    e = entry()
    payload = {"form": "abc123", "entry": {"serial_number": 1, "field_1": "Anna"}}
    assert receive(fresh_db, form="signup", entry=e, payload=payload) == (1, "new")
    assert get_item(fresh_db, 1) == {
        "id": 1, "form": "signup", "serial": "1", "service": "jinshuju", "payload": payload, "entry": e,
        "received_at": clock(0), "updated_at": clock(0), "status": "received", "person_id": None,
        "error": None, "attempts": 0,
    }


def test_a_redelivered_entry_is_unchanged_and_writes_nothing(fresh_db, clock):
    receive(fresh_db, form="signup", entry=entry(), payload={"a": 1})
    set_item_status(fresh_db, 1, "onboarded", person_id="P000001")
    before = get_item(fresh_db, 1)
    assert receive(fresh_db, form="signup", entry=entry(), payload={"a": 1, "info_remote_ip": "x"}) == (1, "unchanged")
    assert get_item(fresh_db, 1) == before
    assert fresh_db.execute("SELECT count(*) FROM inbox").fetchone() == (1,)


def test_an_edited_entry_is_updated_and_goes_back_to_received(fresh_db, clock):
    receive(fresh_db, form="signup", entry=entry(), payload={"v": 1})
    claim_pending(fresh_db)
    set_item_status(fresh_db, 1, "failed", error="no mobile")
    edited = entry(field_1="Anna Li")
    assert receive(fresh_db, form="signup", entry=edited, payload={"v": 2}) == (1, "updated")
    item = get_item(fresh_db, 1)
    assert (item["status"], item["entry"], item["payload"], item["error"], item["attempts"]) == (
        "received", edited, {"v": 2}, None, 0)
    assert (item["received_at"], item["updated_at"]) == (clock(0), clock(3))


def test_the_same_serial_in_two_forms_is_two_items(fresh_db):
    assert receive(fresh_db, form="signup", entry=entry(), payload={})[1] == "new"
    assert receive(fresh_db, form="training", entry=entry(), payload={})[1] == "new"
    assert [i["form"] for i in inbox_items(fresh_db)] == ["training", "signup"]


def test_receive_refuses_text_sqlite_cannot_store_and_writes_nothing(fresh_db):
    with pytest.raises(StateError, match="not valid Unicode"):
        receive(fresh_db, form="signup", entry=entry(), payload={"x": "\ud800"})
    assert inbox_items(fresh_db) == []


def test_inbox_items_newest_first_by_status_and_limit(fresh_db):
    for serial in "123":
        receive(fresh_db, form="signup", entry=entry(serial), payload={})
    claim_pending(fresh_db, limit=2)
    set_item_status(fresh_db, 1, "received")
    set_item_status(fresh_db, 2, "review", person_id="P1", error="two people share this mobile")
    assert [i["id"] for i in inbox_items(fresh_db)] == [3, 2, 1]
    assert [i["id"] for i in inbox_items(fresh_db, status="received")] == [3, 1]
    assert [i["id"] for i in inbox_items(fresh_db, limit=1)] == [3]
    with pytest.raises(ValueError, match="unknown inbox status"):
        inbox_items(fresh_db, status="done")


def test_get_item_of_an_unknown_id_is_a_key_error(fresh_db):
    with pytest.raises(KeyError):
        get_item(fresh_db, 42)


def test_claim_pending_takes_received_items_oldest_first_and_counts_attempts(fresh_db):
    for serial in "1234":
        receive(fresh_db, form="signup", entry=entry(serial), payload={})
    fresh_db.execute("UPDATE inbox SET status = 'onboarded' WHERE id = 2")
    claimed = claim_pending(fresh_db, limit=2)
    assert [(i["id"], i["status"], i["attempts"]) for i in claimed] == [(1, "onboarding", 1), (3, "onboarding", 1)]
    assert [i["id"] for i in claim_pending(fresh_db)] == [4]
    assert claim_pending(fresh_db) == []
    assert claimed[0]["entry"] == entry("1")


def test_claims_from_two_connections_never_share_an_item(tmp_path):
    path = tmp_path / "muster.db"
    db = open_db(path)
    for n in range(200):
        receive(db, form="signup", entry=entry(str(n)), payload={})
    results, barrier = [], threading.Barrier(4)

    def worker():
        mine = open_db(path)
        barrier.wait()
        got = []
        while batch := claim_pending(mine, limit=7):
            got += [i["id"] for i in batch]
        results.append(got)
        mine.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for got in results for i in got]
    assert sorted(claimed) == list(range(1, 201))


def test_a_result_needs_a_claim_first(fresh_db):
    receive(fresh_db, form="signup", entry=entry(), payload={})
    assert set_item_status(fresh_db, 1, "onboarded") is False
    assert get_item(fresh_db, 1)["status"] == "received"


def test_set_item_status_records_person_and_error_and_keeps_the_person(fresh_db):
    receive(fresh_db, form="signup", entry=entry(), payload={})
    claim_pending(fresh_db)
    assert set_item_status(fresh_db, 1, "onboarded", person_id="P000007") is True
    assert set_item_status(fresh_db, 1, "received") is True  # a coordinator's retry
    item = get_item(fresh_db, 1)
    assert (item["status"], item["person_id"], item["error"]) == ("received", "P000007", None)


def test_a_result_for_an_entry_edited_while_onboarding_is_dropped(fresh_db):
    receive(fresh_db, form="signup", entry=entry(), payload={})
    [claimed] = claim_pending(fresh_db)
    receive(fresh_db, form="signup", entry=entry(field_1="Anna Li"), payload={})
    assert set_item_status(fresh_db, claimed["id"], "onboarded", person_id="P1") is False
    assert get_item(fresh_db, 1)["status"] == "received"
    assert [i["entry"].answers for i in claim_pending(fresh_db)] == [{"field_1": "Anna Li"}]


def test_set_item_status_refuses_unknown_items_and_statuses(fresh_db):
    with pytest.raises(KeyError):
        set_item_status(fresh_db, 9, "failed")
    receive(fresh_db, form="signup", entry=entry(), payload={})
    with pytest.raises(ValueError, match="unknown inbox status 'done'"):
        set_item_status(fresh_db, 1, "done")


def test_the_form_and_serial_pair_is_unique_in_the_schema(fresh_db):
    receive(fresh_db, form="signup", entry=entry(), payload={})
    with pytest.raises(sqlite3.IntegrityError):
        fresh_db.execute("INSERT INTO inbox (form, serial, service, payload, entry, received_at, updated_at)"
                         " SELECT form, serial, service, payload, entry, received_at, updated_at FROM inbox")


def test_quarantine_keeps_reason_readable_body_and_remote(fresh_db, clock):
    assert quarantine(fresh_db, form="signup", reason="wrong token", body=b'{"a": "\xe5\xbc\xa0\xff"}',
                      remote="203.0.113.9") == 1
    assert quarantine(fresh_db, form=None, reason="unknown form", body="plain \ud800 text", remote=None) == 2
    assert quarantined(fresh_db) == [
        {"id": 2, "form": None, "received_at": clock(1), "reason": "unknown form", "body": "plain ? text",
         "remote": None},
        {"id": 1, "form": "signup", "received_at": clock(0), "reason": "wrong token", "body": '{"a": "张\ufffd"}',
         "remote": "203.0.113.9"},
    ]
    assert [q["id"] for q in quarantined(fresh_db, limit=1)] == [2]


def test_quarantine_truncates_the_body_to_64_kib(fresh_db):
    quarantine(fresh_db, form="signup", reason="too big", body=b"x" * 100_000, remote=None)
    quarantine(fresh_db, form="signup", reason="too big", body="张" * 30_000, remote=None)
    multi, ascii_ = quarantined(fresh_db)
    assert ascii_["body"] == "x" * 65536
    # 64 KiB of 3-byte characters ends mid-character: the tail is replaced, not an error
    assert multi["body"] == "张" * 21845 + "\ufffd"

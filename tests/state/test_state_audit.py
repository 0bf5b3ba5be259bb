import hashlib
import json
import sqlite3

import pytest

import state
from state import append, append_many, audit_entries, verify
from state.audit import GENESIS, head


def canonical(obj):
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def test_append_returns_seq_and_stores_a_hash_chained_row(fresh_db, clock):
    seq = append(fresh_db, run_id="R1", actor="scheduler", action="member.add", service="wecom",
                 target="chat:c", object_id="P000002", reason="role counsellor", detail={"ext": "bo"})
    assert seq == 1
    row = next(fresh_db.query("SELECT * FROM audit"))
    content = {"seq": 1, "at": clock(0), "run_id": "R1", "actor": "scheduler", "action": "member.add",
               "service": "wecom", "target": "chat:c", "object_id": "P000002", "reason": "role counsellor",
               "detail": '{"ext":"bo"}', "approved_by": None}
    expected_hash = hashlib.sha256((GENESIS + canonical(content)).encode()).hexdigest()
    assert row == {**content, "prev_hash": GENESIS, "hash": expected_hash}
    assert append(fresh_db, run_id=None, actor="alice", action="login") == 2
    assert next(fresh_db.query("SELECT prev_hash FROM audit WHERE seq = 2"))["prev_hash"] == expected_hash


def test_entries_decode_detail_and_filter_by_run(fresh_db):
    append(fresh_db, run_id="R1", actor="a", action="x", detail={"n": 1})
    append(fresh_db, run_id="R2", actor="b", action="y", approved_by="coordinator")
    append(fresh_db, run_id="R1", actor="a", action="z")
    assert [(e["seq"], e["action"], e["detail"]) for e in audit_entries(fresh_db)] == [
        (1, "x", {"n": 1}), (2, "y", {}), (3, "z", {}),
    ]
    assert [e["seq"] for e in audit_entries(fresh_db, run_id="R1")] == [1, 3]
    assert [e["seq"] for e in audit_entries(fresh_db, limit=2)] == [2, 3]
    assert audit_entries(fresh_db, run_id="R2")[0]["approved_by"] == "coordinator"


def test_append_many_is_one_chain_in_one_transaction(fresh_db):
    append(fresh_db, run_id="R0", actor="a", action="first")
    n = append_many(fresh_db, [{"run_id": "R1", "actor": "a", "action": f"a{i}", "detail": {"i": i}}
                               for i in range(500)])
    assert n == 500
    assert head(fresh_db)[0] == 501
    assert verify(fresh_db) is None
    assert append_many(fresh_db, []) == 0


def test_append_many_rejects_unknown_keys_and_writes_nothing(fresh_db):
    with pytest.raises(TypeError):
        append_many(fresh_db, [{"run_id": None, "actor": "a", "action": "ok"},
                               {"run_id": None, "actor": "a", "action": "x", "colour": "red"}])
    assert audit_entries(fresh_db) == []


def test_verify_empty_and_intact(fresh_db):
    assert verify(fresh_db) is None
    for i in range(5):
        append(fresh_db, run_id="R1", actor="a", action=f"a{i}")
    assert verify(fresh_db) is None


def test_update_and_delete_are_refused(fresh_db):
    append(fresh_db, run_id="R1", actor="a", action="x")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        fresh_db.execute("UPDATE audit SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        fresh_db.execute("DELETE FROM audit")
    assert verify(fresh_db) is None


def _chain_of(db, n):
    append_many(db, [{"run_id": "R1", "actor": "a", "action": f"a{i}", "reason": "r"} for i in range(n)])
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")


@pytest.mark.parametrize("sql, bad_seq", [
    ("UPDATE audit SET reason = 'covered up' WHERE seq = 3", 3),
    ("UPDATE audit SET detail = '{\"x\":1}' WHERE seq = 5", 5),
    ("UPDATE audit SET at = '2020-01-01' WHERE seq = 1", 1),
    ("UPDATE audit SET approved_by = 'boss' WHERE seq = 4", 4),
    ("DELETE FROM audit WHERE seq = 2", 3),
    ("UPDATE audit SET seq = 99 WHERE seq = 5", 99),
])
def test_verify_names_the_first_tampered_row(fresh_db, sql, bad_seq):
    _chain_of(fresh_db, 5)
    fresh_db.execute(sql)
    assert verify(fresh_db) == bad_seq


def test_rehashing_a_row_still_breaks_the_next_link(fresh_db):
    _chain_of(fresh_db, 4)
    row = next(fresh_db.query("SELECT * FROM audit WHERE seq = 2"))
    content = {k: row[k] for k in row if k not in ("prev_hash", "hash")} | {"reason": "covered up"}
    forged = hashlib.sha256((row["prev_hash"] + canonical(content)).encode()).hexdigest()
    fresh_db.execute("UPDATE audit SET reason = 'covered up', hash = ? WHERE seq = 2", [forged])
    assert verify(fresh_db) == 3


def test_two_processes_appending_at_once_lose_nothing_and_keep_the_chain(tmp_path):
    """Two connections (as two processes would hold) append concurrently: every write waits its turn."""
    import threading

    path = tmp_path / "muster.db"
    first, second = state.open_db(path), state.open_db(path)
    errors = []

    def write(db, n):
        for i in range(n):
            try:
                state.append(db, run_id=None, actor="t", action="x", reason=str(i))
            except Exception as exc:  # noqa: BLE001 - collected and asserted empty
                errors.append(repr(exc))

    threads = [threading.Thread(target=write, args=(db, 200)) for db in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert first.execute("SELECT count(*) FROM audit").fetchone()[0] == 400 and state.verify(first) is None

import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlite_utils

from state import StateError, open_db
from state.migrations import MIGRATIONS

MUSTER_TABLES = {
    "people", "role_assignments", "identities", "reviews", "resources", "snapshots", "cursors",
    "runs", "plans", "journal", "applied_state", "audit",
}


def applied(db):
    return [(r["migration_set"], r["name"], r["applied_at"])
            for r in db.query("SELECT * FROM _sqlite_migrations ORDER BY id")]


def test_in_memory_db_has_every_table_and_every_migration_recorded(fresh_db):
    assert MUSTER_TABLES <= set(fresh_db.table_names())
    names = [name for _, name, _ in applied(fresh_db)]
    assert names == [m.name for m in MIGRATIONS._migrations]
    assert names[0] == "m001_people"
    assert MIGRATIONS.pending(fresh_db) == []


def test_reopening_a_file_does_not_rerun_migrations(tmp_path):
    path = tmp_path / "muster.db"
    db = open_db(path)
    first = applied(db)
    db.close()
    db = open_db(path)
    assert applied(db) == first
    assert len(first) == len(MIGRATIONS._migrations)
    db.close()


def test_reopening_keeps_data(tmp_path):
    path = tmp_path / "muster.db"
    db = open_db(path)
    db.execute("INSERT INTO cursors VALUES ('wecom', 'users', 'c1', 'now')")
    db.close()
    db = open_db(path)
    assert db.execute("SELECT value FROM cursors").fetchall() == [("c1",)]
    db.close()


def test_file_is_created_owner_only_with_parent_dirs(tmp_path):
    path = tmp_path / "a" / "b" / "muster.db"
    open_db(str(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reopening_tightens_a_loose_file(tmp_path):
    path = tmp_path / "muster.db"
    open_db(path).close()
    path.chmod(0o644)
    open_db(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_file_db_runs_wal_with_busy_timeout_and_foreign_keys(tmp_path):
    db = open_db(tmp_path / "muster.db")
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    db.close()


def test_foreign_keys_are_enforced_in_memory_too(fresh_db):
    with pytest.raises(sqlite3.IntegrityError):
        fresh_db.execute("INSERT INTO identities VALUES ('wecom', 'u1', 'P404', 'mobile', 'now')")


def test_a_text_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just notes " * 20)
    path.chmod(0o644)
    with pytest.raises(StateError) as e:
        open_db(path)
    assert str(e.value) == f"{path}: not a Muster database (file is not a database)"
    assert path.read_text() == "not a database, just notes " * 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_another_programs_sqlite_db_is_refused(tmp_path):
    path = tmp_path / "other.db"
    sqlite_utils.Database(path)["things"].insert({"id": 1}, pk="id")
    with pytest.raises(StateError, match="not a Muster database"):
        open_db(path)
    assert sqlite_utils.Database(path).table_names() == ["things"]


def test_an_empty_file_becomes_a_muster_db(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    db = open_db(path)
    assert MUSTER_TABLES <= set(db.table_names())
    db.close()


def test_production_schema_declares_a_primary_key_on_every_table(fresh_db):
    for name in MUSTER_TABLES:
        assert fresh_db[name].pks != ["rowid"], name


def test_lookup_indexes_exist(fresh_db):
    def indexes(table):
        return {i.name: i.columns for i in fresh_db[table].indexes}

    assert indexes("people")["people_mobile"] == ["mobile"]
    assert indexes("people")["people_email"] == ["email"]
    assert indexes("journal")["journal_key"] == ["key"]
    assert indexes("identities")["identities_person"] == ["person_id"]


@pytest.mark.parametrize("in_file", [False, True])
def test_the_connection_may_be_used_from_another_thread(tmp_path, in_file):
    db = open_db(tmp_path / "muster.db" if in_file else None)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(db.execute, "INSERT INTO cursors VALUES ('wecom', 'users', 'c1', 'now')").result()
    assert db.execute("SELECT value FROM cursors").fetchall() == [("c1",)]
    db.close()

"""``muster audit`` lists the log; ``muster audit verify`` finds the first entry tampered with."""

import pytest

import state
from flows.cli import main


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


@pytest.fixture
def logged(tmp_path, capsys, monkeypatch):
    """A tenant (``muster init``) whose audit log holds 5 entries of two runs."""
    monkeypatch.chdir(tmp_path)
    assert run(["init"], capsys)[0] == 0
    db = state.open_db(tmp_path / "muster.db")
    for i in range(5):
        state.append(db, run_id="R1" if i < 3 else "R2", actor="coordinator", action=f"add member{i}",
                     service="wecom", target="chat:c1", object_id=f"P00000{i}", reason=f"rule r{i}")
    yield db
    db.close()


def _no_guard(db):
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")


def test_intact_chain_exits_0(logged, capsys):
    code, out = run(["audit", "verify"], capsys)
    assert code == 0 and "audit log intact: 5 entries" in out


def test_the_log_refuses_edits_while_its_triggers_stand(logged):
    with pytest.raises(Exception, match="append-only"):
        logged.execute("UPDATE audit SET reason = 'x' WHERE seq = 2")


@pytest.mark.parametrize(("tamper", "bad"), [
    ("UPDATE audit SET reason = 'nobody asked' WHERE seq = 3", 3),
    ("DELETE FROM audit WHERE seq = 2", 3),  # seq 3 now follows seq 1
    ("DELETE FROM audit WHERE seq = 1", 2),
    ("UPDATE audit SET actor = 'mallory' WHERE seq = 5", 5),
])
def test_a_tampered_row_is_named(logged, capsys, tamper, bad):
    _no_guard(logged)
    with logged.conn:
        logged.execute(tamper)
    code, out = run(["audit", "verify"], capsys)
    assert code == 1
    text = " ".join(out.split())
    assert f"audit log broken at seq {bad}" in text and "restore it from a backup" in text


def test_a_rehashed_row_still_breaks_the_next_link(logged, capsys):
    """Recomputing an edited row's own hash is not enough: the next row's prev_hash no longer matches."""
    from state.audit import _hash

    _no_guard(logged)
    row = dict(next(logged.query("SELECT * FROM audit WHERE seq = 2")))
    row["reason"] = "forged"
    with logged.conn:
        logged.execute("UPDATE audit SET reason = ?, hash = ? WHERE seq = 2", [row["reason"],
                                                                               _hash(row["prev_hash"], row)])
    code, out = run(["audit", "verify"], capsys)
    assert code == 1 and "broken at seq 3" in out


def test_list_filters_by_run_and_limit(logged, capsys):
    code, out = run(["audit"], capsys)
    assert code == 0 and all(f"add member{i}" in out for i in range(5))
    code, out = run(["audit", "--run", "R1"], capsys)
    assert code == 0 and "add member2" in out and "add member3" not in out
    code, out = run(["audit", "--limit", "2"], capsys)
    lines = [line for line in out.splitlines() if "add member" in line]
    assert code == 0 and len(lines) == 2 and "add member3" in lines[0] and "add member4" in lines[1]
    code, out = run(["audit", "--run", "nope"], capsys)
    assert code == 0 and "no audit entries for run nope" in out

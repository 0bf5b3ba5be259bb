"""One writing run per coalition: a second sync or apply refuses (or waits), across processes and threads."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

import state
from flows.apply_cmd import apply_command
from flows.cli import main
from flows.locking import Busy, coalition_lock, hold, lock_path
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from flows.sync import finish
from flows.workspace import Workspace

# A real second process: opens the coalition's workspace, takes the lock as a sync would, and holds it
# until a line arrives on stdin.
HOLDER = """
import sys
from flows.locking import coalition_lock
from flows.workspace import Workspace

ws = Workspace.from_config(sys.argv[1])
with coalition_lock(ws, "sync"):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


@pytest.fixture
def config(tmp_path):
    return tmp_path / "c" / "muster.yaml"


@pytest.fixture
def holder():
    procs = []

    def start(config_file):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(config_file)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def twin(ws, config_file):
    """A second workspace of the same coalition (its own database connection), on the same sandboxes."""
    other = Workspace.from_config(config_file, actor=ws.actor)
    other.sandboxes, other.retry, other.connector_options = ws.sandboxes, ws.retry, ws.connector_options
    return other


def requests(ws):
    return sum(sb.requests for sb in ws.sandboxes.values())


def test_apply_refuses_while_another_process_holds_the_lock_and_touches_nothing(coalition, config, holder):
    ws = coalition()
    proc = holder(config)
    runs, calls = len(state.last_runs(ws.db, 100)), requests(ws)
    with pytest.raises(Busy) as info:
        apply_command(Console(file=io.StringIO()), ws, None, allow_removals=False, yes=True)
    message = str(info.value)
    assert message.startswith(f"another sync of {ws.coalition} is running (pid {proc.pid} on host "
                              f"{socket.gethostname()} since ")
    assert message.endswith(" UTC); try again later or pass --wait")
    assert len(state.last_runs(ws.db, 100)) == runs and requests(ws) == calls
    db_file = ws.db.execute("PRAGMA database_list").fetchone()[2]
    assert lock_path(ws.db) == Path(db_file + ".lock") and lock_path(ws.db).exists()


@pytest.mark.parametrize("command", [["apply", "--yes"], ["sync", "--wait", "0"]])
def test_cli_refuses_with_one_line_and_exit_1(coalition, config, holder, capsys, command):
    coalition()
    proc = holder(config)
    with pytest.raises(SystemExit) as info:
        main([*command, "--config", str(config)])
    err = capsys.readouterr().err
    assert info.value.code == 1
    assert "error: another sync of " in err and f"is running (pid {proc.pid} on host" in err
    assert "try again later or pass --wait" in err and "Traceback" not in err


def test_a_waiting_run_goes_ahead_once_the_holder_finishes(coalition, config, holder):
    ws = coalition()
    proc = holder(config)
    got = threading.Event()

    def second():
        with coalition_lock(ws, "apply", wait=120):
            got.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not got.is_set()  # it cannot have the lock while the other process holds it
    proc.stdin.write("\n")
    proc.stdin.flush()
    thread.join(120)
    assert got.is_set()
    assert proc.stdout.readline().strip() == "released"


def test_the_lock_goes_when_its_holder_dies(coalition, config, holder):
    ws = coalition()
    proc = holder(config)
    with pytest.raises(Busy):
        with coalition_lock(ws, "apply"):
            pass
    proc.kill()
    proc.wait()
    with coalition_lock(ws, "apply"):  # no stale lock: the kernel dropped it with the process
        assert "pid" in lock_path(ws.db).read_text()
    assert lock_path(ws.db).read_text() == ""  # released: the file names no holder


def test_the_lock_is_reentrant_in_one_call_chain_but_not_across_threads(coalition):
    ws = coalition()
    seen = []

    def other():
        try:
            with coalition_lock(ws, "apply"):
                seen.append("got it")
        except Busy as exc:
            seen.append(str(exc))

    with coalition_lock(ws, "sync"):
        with coalition_lock(ws, "apply"):  # the CLI takes it, then the flow takes it again
            thread = threading.Thread(target=other)
            thread.start()
            thread.join(30)
    assert len(seen) == 1 and seen[0].startswith("another sync of ")
    other()
    assert seen[-1] == "got it"


def test_a_database_in_memory_has_an_in_process_lock():
    first, second = [], []
    with hold("memory:test", "coalition", "sync"):
        thread = threading.Thread(target=lambda: second.append(_try_hold()))
        thread.start()
        thread.join(30)
        first.append("held")
    assert second[0].startswith("another sync of coalition is running (pid ")
    assert _try_hold() == "ok"


def _try_hold() -> str:
    try:
        with hold("memory:test", "coalition", "apply"):
            return "ok"
    except Busy as exc:
        return str(exc)


def test_two_syncs_at_once_run_one_after_the_other(coalition, config):
    """Both start together; one waits for the other, and the journal shows no interleaving."""
    ws = coalition()
    others = [ws, twin(ws, config)]
    active = [p.id for p in state.list_people(ws.db, status="active")]
    start, runs, errors = threading.Barrier(2), {}, []

    def one(n: int) -> None:
        w = others[n]
        try:
            start.wait()
            with coalition_lock(w, "sync", wait=300):
                state.set_status(w.db, active[n], "left")  # so each sync has changes of its own
                run_id = state.start_run(w.db, "sync", actor=w.actor)
                result = plan_all(w, pull_all(w, run_id), allow_removals=True)
                state.save_plan(w.db, result.plan, run_id)
                finish(w, run_id, "sync", result, apply_all(w, result, run_id, approved_by=w.actor),
                       time.monotonic())
                runs[n] = (run_id, result.plan.id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == [] and len(runs) == 2
    (first_run, first_plan), (second_run, second_plan) = sorted(
        runs.values(), key=lambda r: state.get_run(ws.db, r[0])["started_at"])
    first, second = state.journal_rows(ws.db, first_plan), state.journal_rows(ws.db, second_plan)
    assert first and second
    assert max(r["applied_at"] or r["failed_at"] for r in first) < min(r["planned_at"] for r in second)
    assert state.get_run(ws.db, first_run)["finished_at"] <= state.get_run(ws.db, second_run)["started_at"]

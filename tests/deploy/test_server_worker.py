"""A real ``prefect server start`` (SQLite, loopback) and a process worker run a coalition's deployments.

``muster deploy`` registers the four deployments of a tenant whose services are sandboxes served on
loopback; the worker runs the sync deployment (accounts created, the run recorded), then an onboard
and an hours run started together, which the coalition's shared concurrency limit keeps apart.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from rich.console import Console

import state
from flows.cli import main
from flows.sandbox_serve import serve_sandboxes

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_UI_ENABLED": "false",
         "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_LOGGING_TO_API_ENABLED": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, *, env, cwd, log: Path) -> subprocess.Popen:
    """A subprocess in its own process group, SIGINT at its default (a worker stops on SIGINT only)."""
    return subprocess.Popen(argv, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def wait_until(check, what: str, log: Path, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen; log:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``prefect server start`` on a free loopback port with its own home and SQLite database."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {**os.environ, **QUIET, "PREFECT_HOME": str(home),
           "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",  # only the runs the test starts
           "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
           "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "1"}
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    proc = start([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
                 env=env, cwd=home, log=log)
    url = f"http://127.0.0.1:{port}/api"

    def healthy():
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, "the server's health check", log, limit=60)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The sandboxes on loopback ports, seeded with a 30-person coalition."""
    folder = tmp_path_factory.mktemp("served")
    stop_serving = threading.Event()
    thread = threading.Thread(target=serve_sandboxes, daemon=True, kwargs={
        "console": Console(file=open(folder / "serve.log", "w")), "port": 0, "info": folder / "info.json",
        "people": 30, "seed": 5, "stop": stop_serving})
    thread.start()
    info = folder / "info.json"
    wait_until(lambda: info.exists() and info.read_text().strip().endswith("}"), "sandboxes serving",
               folder / "serve.log", limit=20)
    yield info
    stop_serving.set()
    thread.join(10)


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


@pytest.fixture
def tenant(served, tmp_path, capsys, monkeypatch):
    """A coalition configured for the served sandboxes; its secrets as env vars, as a worker would have them."""
    info = json.loads(served.read_text())
    secrets = {"MUSTER_WECOM_SECRET": info["wecom"]["corpsecret"],
               "MUSTER_WECOM_CONTACTS_SECRET": info["wecom"]["contacts_secret"],
               "MUSTER_DINGTALK_SECRET": info["dingtalk"]["appsecret"],
               "MUSTER_FEISHU_SECRET": info["feishu"]["app_secret"],
               "MUSTER_TM_SECRET_KEY": info["tencent_meeting"]["secret_key"]}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert run(["init", "--sandbox-info", str(served)], capsys)[0] == 0
    code, out = run(["roster", "import", "roster.csv"], capsys)
    assert code == 0 and "30 new" in out
    return tmp_path, secrets


@contextmanager
def api(url):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}):
        yield


@contextmanager
def worker(url, secrets, log: Path):
    env = {**os.environ, **QUIET, **secrets, "PREFECT_API_URL": url, "PREFECT_HOME": str(log.parent / "worker-home"),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           "PREFECT_SERVER_EPHEMERAL_ENABLED": "false"}
    # started away from the code: each run's pull step changes into the project folder `muster deploy` recorded
    proc = start([PREFECT, "worker", "start", "-p", "muster", "--type", "process"], env=env, cwd=log.parent, log=log)
    try:
        yield proc
    finally:
        stop(proc)


def states(client, run_id) -> list[str]:
    return [s.name for s in client.read_flow_run_states(run_id)]


def test_deploy_then_a_worker_runs_sync_and_onboard(server, tenant, capsys):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    folder, secrets = tenant
    db = state.open_db(folder / "muster.db")
    code, out = run(["plan"], capsys)
    assert code == 2 and "Plan: no changes" not in out, out  # accounts to create

    with api(server):
        code, out = run(["deploy", "--coalition", "sandbox"], capsys)
        assert code == 0, out
        assert "created work pool muster" in out and "created concurrency limit muster-sandbox (1)" in out
        for kind in ("sync", "onboard", "drift", "hours"):
            assert f"deployed {kind}/{kind}-sandbox" in out
        code, out = run(["deploy", "--coalition", "sandbox"], capsys)  # again: nothing new, the limit still shared
        assert code == 0 and "created" not in out, out

        with get_client(sync_client=True) as client:
            deployments = {d.name: d for d in client.read_deployments()}
            assert set(deployments) == {"sync-sandbox", "onboard-sandbox", "drift-sandbox", "hours-sandbox"}
            for d in deployments.values():
                assert d.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
                assert d.global_concurrency_limit.name == "muster-sandbox" and d.global_concurrency_limit.limit == 1
                assert d.parameters == {"workspace": str(folder / "muster.yaml")}
                assert d.work_pool_name == "muster" and d.work_queue_name == "sandbox"
            assert [s.schedule.cron for s in deployments["sync-sandbox"].schedules] == ["*/30 * * * *"]
            assert not deployments["onboard-sandbox"].schedules
            names = {limit.name for limit in client.read_global_concurrency_limits()}
            assert names == {"muster-sandbox"}  # the per-deployment limits were dropped
        from flows import forms
        from flows.workspace import Workspace

        with pytest.MonkeyPatch.context() as mp:  # the receiver finds this coalition's onboard deployment
            mp.setenv("PREFECT_API_URL", server)
            assert forms._onboard_deployment(Workspace.from_config(folder / "muster.yaml")) == "onboard/onboard-sandbox"

        with worker(server, secrets, folder / "worker.log"):
            synced = run_deployment("sync/sync-sandbox", timeout=90, poll_interval=1)
            assert synced.state.is_completed(), (folder / "worker.log").read_text()[-3000:]

            [sync_run] = [r for r in state.last_runs(db, 10) if r["kind"] == "sync"]
            assert sync_run["status"] == "ok"
            code, out = run(["plan"], capsys)
            assert "Plan: no changes" in out, out  # the sandboxes now match the roster (what is held stays held)

            from mappings.models import FormEntry

            entry = FormEntry(service="jinshuju", form="x", serial="77",
                              answers={"field_1": "部署志愿者", "field_2": "13955557777", "field_5": "f5o4"})
            item_id, _ = state.receive(db, form="signup", entry=entry, payload={})
            onboard = run_deployment("onboard/onboard-sandbox", parameters={"item_id": item_id}, timeout=0)
            hours = run_deployment("hours/hours-sandbox", timeout=0)
            with get_client(sync_client=True) as client:
                done = wait_until(lambda: all(client.read_flow_run(r.id).state.is_final() for r in (onboard, hours))
                                  and [client.read_flow_run(r.id) for r in (onboard, hours)],
                                  "the onboard and hours runs", folder / "worker.log", limit=60)
                assert all(r.state.is_completed() for r in done), [r.state for r in done]
                first, second = sorted(done, key=lambda r: r.start_time)
                assert first.end_time <= second.start_time  # one at a time, across deployments
                assert "AwaitingConcurrencySlot" in states(client, second.id) + states(client, first.id)

    assert state.get_item(db, item_id)["status"] == "onboarded"
    person = next(p for p in state.list_people(db) if p.mobile == "+8613955557777")
    assert person.id in {i.person_id for i in state.identities_for(db, "wecom").values()}
    kinds = {r["kind"]: r["status"] for r in state.last_runs(db, 10)}
    assert kinds["onboard"] == "ok" and kinds["hours"] == "ok"

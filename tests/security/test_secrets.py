"""Secrets stay references: plant every secret the served config uses, run Muster end to end, grep for them.

The sandboxes are served over loopback (``muster sandbox serve`` in a thread), the tenant is
written by ``muster init --sandbox-info``, and the receiver runs as ``muster serve`` runs it
(uvicorn with ``receiver_config``). Roster import, plan and apply with DEBUG logging, drift in
every format, the register in every format, the hours export; then the Feishu sandbox's signed,
encrypted events (collected while apply ran) replayed to the receiver, form pushes through it
(the push token in the URL, and a wrong one), a Jinshuju poll and onboarding, the
run report (the text the sync flow publishes as its Prefect artifact). Afterwards every log
line, every byte of console output, every file under the tenant folder (the database with its
WAL, reports, exports, unzipped XLSX) is searched for each secret, as-is, URL-encoded and base64.

``muster init``'s own output is left out: printing the sandbox's credentials as ``export``
lines to copy is its job (the sandbox-info file it reads holds them too).
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import socket
import threading
import urllib.parse
import zipfile
from pathlib import Path

import httpx
import pytest
import uvicorn
from rich.console import Console

import state
from flows.cli import main
from flows.sandbox_serve import serve_sandboxes

PUSH_TOKEN = "pushTok-PLANTED-9f2c71e4b0d8a6"


def run(argv, capsys, seen: list[str]):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    seen.append(out.out + out.err)
    return info.value.code, out.out + out.err


def encodings(secret: str) -> set[str]:
    """The secret as it could plausibly be written: as-is, URL-encoded, base64."""
    return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
            base64.b64encode(secret.encode()).decode(), base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")}


def leaks(blob: bytes, secrets: dict[str, str]) -> list[str]:
    """Names of the secrets found in ``blob`` (UTF-8 bytes) in any of their encodings."""
    return sorted(name for name, value in secrets.items() if any(e.encode() in blob for e in encodings(value)))


def file_blobs(folder: Path):
    """(path, bytes) of every file under ``folder``; XLSX and other zips are opened and each member read."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield path, data
        if data[:2] == b"PK":
            with zipfile.ZipFile(path) as z:
                for member in z.namelist():
                    yield Path(f"{path}!{member}"), z.read(member)


def test_the_scanner_finds_what_it_looks_for(tmp_path):
    """A guard on the guard: a planted secret is found raw, URL-encoded, base64 and inside an XLSX."""
    import openpyxl

    secrets = {"a": "s3cr3t/+=value", "b": "never-written"}
    (tmp_path / "plain.txt").write_text("x " + urllib.parse.quote("s3cr3t/+=value", safe=""))
    book = openpyxl.Workbook()
    book.active["A1"] = "s3cr3t/+=value"
    book.save(tmp_path / "sheet.xlsx")
    found = {str(p.relative_to(tmp_path)): leaks(b, secrets) for p, b in file_blobs(tmp_path)}
    assert found["plain.txt"] == ["a"]
    assert any(name.startswith("sheet.xlsx!") and hit == ["a"] for name, hit in found.items())
    assert leaks(base64.b64encode(b"s3cr3t/+=value"), secrets) == ["a"]


class _Collector(http.server.BaseHTTPRequestHandler):
    """Keeps each event the Feishu sandbox POSTs (body and headers), to replay to the receiver later."""

    events: list[tuple[bytes, dict[str, str]]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.events.append((body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"code": 0}')

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    """A loopback server collecting the Feishu sandbox's signed, encrypted events.

    They are replayed to the receiver once no command runs: the receiver writing events while
    ``muster apply`` writes in another connection can fail apply with "database is locked"
    (reported to the lead: state's deferred transactions upgrade to write and SQLite will not wait).
    """
    _Collector.events = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver_socket():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


@pytest.fixture
def served(tmp_path_factory, collector):
    folder = tmp_path_factory.mktemp("served")
    port = collector.server_address[1]
    stop = threading.Event()
    thread = threading.Thread(target=serve_sandboxes, daemon=True, kwargs={
        "console": Console(file=open(folder / "serve.log", "w")), "port": 0, "info": folder / "info.json",
        "people": 30, "seed": 5, "stop": stop, "events_to": f"http://127.0.0.1:{port}/events/feishu"})
    thread.start()
    for _ in range(250):
        if (folder / "info.json").exists() and (folder / "info.json").read_text().strip().endswith("}"):
            break
        threading.Event().wait(0.02)
    yield folder / "info.json"
    stop.set()
    thread.join(10)


@pytest.fixture
def restore_logging():
    """uvicorn's dictConfig gives the ``muster`` logger a stderr handler: put the loggers back afterwards."""
    names = ["muster", "uvicorn", "uvicorn.error", "uvicorn.access"]
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    yield
    for n, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def start_receiver(config: Path, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    from flows.serve_cmd import build_receiver, receiver_config
    from flows.workspace import Workspace

    ws = Workspace.from_config(config)
    server = uvicorn.Server(receiver_config(build_receiver(ws), host="127.0.0.1", port=0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(250):
        if server.started:
            break
        threading.Event().wait(0.02)
    assert server.started
    return server, thread


def test_no_secret_reaches_logs_database_reports_or_exports(served, receiver_socket, tmp_path, capsys, caplog,
                                                            monkeypatch, restore_logging):
    info = json.loads(served.read_text())
    events = info["feishu"]["events"]
    secrets = {
        "MUSTER_WECOM_SECRET": info["wecom"]["corpsecret"],
        "MUSTER_WECOM_CONTACTS_SECRET": info["wecom"]["contacts_secret"],
        "MUSTER_DINGTALK_SECRET": info["dingtalk"]["appsecret"],
        "MUSTER_FEISHU_SECRET": info["feishu"]["app_secret"],
        "MUSTER_FEISHU_VERIFICATION_TOKEN": events["verification_token"],
        "MUSTER_FEISHU_ENCRYPT_KEY": events["encrypt_key"],
        "MUSTER_TM_SECRET_KEY": info["tencent_meeting"]["secret_key"],
        "MUSTER_JINSHUJU_SECRET": info["jinshuju"]["api_secret"],
        "MUSTER_WJX_PUSH_SECRET": info["wenjuanxing"]["push_secret"],
        "MUSTER_SIGNUP_PUSH_TOKEN": PUSH_TOKEN,
    }
    assert all(len(v) >= 16 for v in secrets.values())  # distinctive enough not to occur by chance
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MUSTER_ACTOR", "security-test")
    monkeypatch.chdir(tmp_path)
    seen: list[str] = []
    code, out = run(["init", "--sandbox-info", str(served)], capsys, [])  # its export lines are its job
    assert code == 0
    config = tmp_path / "muster.yaml"
    text = config.read_text(encoding="utf-8")
    anchor = "    app_secret: {env: MUSTER_FEISHU_SECRET}\n"
    assert anchor in text
    config.write_text(text.replace(anchor, anchor + "    verification_token: {env: MUSTER_FEISHU_VERIFICATION_TOKEN}\n"
                                            "    encrypt_key: {env: MUSTER_FEISHU_ENCRYPT_KEY}\n"), encoding="utf-8")

    def debug():  # uvicorn's dictConfig resets the muster logger, so again after the receiver starts
        caplog.set_level(logging.DEBUG)
        for name in ("muster", "uvicorn", "uvicorn.error", "connectors", "flows", "state", "mappings"):
            caplog.set_level(logging.DEBUG, logger=name)

    debug()
    assert run(["roster", "import", "roster.csv"], capsys, seen)[0] == 0
    assert run(["plan", "--out", "plan.json", "--allow-removals"], capsys, seen)[0] == 2
    code, out = run(["apply", "plan.json"], capsys, seen)
    assert code == 0, out
    for fmt in ("text", "html", "md", "json"):
        assert run(["drift", "--format", fmt], capsys, seen)[0] in (0, 2)
    for fmt in ("html", "xlsx", "csv"):
        assert run(["register", "--format", fmt], capsys, seen)[0] == 0
    assert run(["hours", "export", "--include-unconfirmed", "--out", "reports"], capsys, seen)[0] == 0
    for _ in range(500):  # the Feishu sandbox posts the events of apply's changes from a background thread
        if _Collector.events:
            break
        threading.Event().wait(0.02)
    assert _Collector.events

    server, thread = start_receiver(config, receiver_socket)
    debug()
    try:
        base = f"http://127.0.0.1:{receiver_socket.getsockname()[1]}"
        jin, wjx = info["jinshuju"], info["wenjuanxing"]
        jf, wf = jin["forms"]["signup"], wjx["forms"]["signup"]
        answers = {jf["fields"]["name"]: "安全测试", jf["fields"]["mobile"]: "13912345678",
                   jf["fields"]["profession"]: next(iter(jf["choices"][jf["fields"]["profession"]]))}
        with httpx.Client(timeout=10) as client:
            for body, headers in list(_Collector.events):  # Feishu's events, signed and encrypted
                replayed = client.post(f"{base}/events/feishu", content=body, headers=headers)
                assert replayed.status_code == 200, replayed.text
            pushed = client.post(f"{jin['base_url']}/_sandbox/forms/{jf['token']}/submit",
                                 json={"answers": answers, "push_to": f"{base}/forms/signup?token={PUSH_TOKEN}"})
            assert pushed.status_code == 200 and pushed.headers["X-Sandbox-Push-Status"] == "200", pushed.text
            wrong = client.post(f"{base}/forms/signup", params={"token": PUSH_TOKEN[::-1]}, json=pushed.json())
            assert wrong.status_code == 403
            wanswers = {wf["fields"]["name"]: "问卷测试", wf["fields"]["mobile"]: "13912345679"}
            pushed = client.post(f"{wjx['base_url']}/_sandbox/surveys/{wf['activity']}/submit",
                                 json={"answers": wanswers,
                                       "push_to": f"{base}/forms/signup-wjx?token={PUSH_TOKEN}"})
            assert pushed.status_code == 200 and pushed.headers["X-Sandbox-Push-Status"] == "200", pushed.text
    finally:
        server.should_exit = True
        thread.join(10)
    assert run(["forms", "poll"], capsys, seen)[0] in (0, 1)
    assert run(["inbox"], capsys, seen)[0] == 0
    assert run(["status"], capsys, seen)[0] == 0
    assert run(["audit", "--limit", "0"], capsys, seen)[0] == 0
    assert run(["roster", "list"], capsys, seen)[0] == 0

    db = state.open_db(tmp_path / "muster.db")
    assert len(state.inbox_items(db)) >= 2  # the pushes arrived (the secrets were used, not just configured)
    assert state.service_events(db, service="feishu")  # Feishu's signed, encrypted events were taken
    runs = state.last_runs(db, 50)
    assert any(r["kind"] == "apply" or r["kind"] == "sync" for r in runs)

    # the run report is the markdown the sync flow publishes as its Prefect artifact
    reports = list((tmp_path / "reports").glob("*"))
    assert any(p.suffix == ".md" for p in reports) and any(p.suffix == ".xlsx" for p in reports)

    found: dict[str, list[str]] = {}
    logs = caplog.text + "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    if hit := leaks(logs.encode(), secrets):
        found["logs"] = hit
    printed = "\n".join(seen)
    if hit := leaks((printed + printed.replace("\n", "")).encode(), secrets):  # rich may wrap a long line
        found["console output"] = hit
    for path, blob in file_blobs(tmp_path):
        if hit := leaks(blob, secrets):
            found[str(path.relative_to(tmp_path))] = hit
    for row in db.query("SELECT name FROM sqlite_master WHERE type = 'table'"):
        dump = json.dumps(list(db.query(f"SELECT * FROM [{row['name']}]")), ensure_ascii=False, default=str)
        if hit := leaks(dump.encode(), secrets):
            found[f"table {row['name']}"] = hit
    db.close()
    assert (tmp_path / "muster.db").exists() and len(caplog.records) > 0
    assert found == {}

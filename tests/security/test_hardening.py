"""The database is its owner's alone (0600, WAL and SHM too); the receiver compares secrets in constant time
and refuses oversized bodies with 413 before reading them whole."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import state
from config.tenant import FeishuConnection, FormConnection, SecretRef
from flows.receiver import create_app

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"PUSH_TOKEN": "t0ken-for-the-413-test", "FEISHU_APP": "app-secret", "FEISHU_VT": "verify-token-x"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the database file --------------------------------------------------------------


def test_a_new_database_and_its_wal_and_shm_are_owner_only(tmp_path):
    old = os.umask(0o022)  # a usual umask would leave new files world-readable
    try:
        db = state.open_db(tmp_path / "muster.db")
        state.append(db, run_id=None, actor="t", action="write something")
        files = [tmp_path / n for n in ("muster.db", "muster.db-wal", "muster.db-shm")]
        assert all(f.exists() for f in files)  # WAL mode: the side files exist while the database is open
        assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
        db.close()
    finally:
        os.umask(old)


@pytest.mark.parametrize("sides", ["absent", "world-readable"])
def test_a_world_readable_database_is_made_owner_only_when_opened(tmp_path, sides):
    path = tmp_path / "muster.db"
    state.open_db(path).close()
    for side in ("muster.db-wal", "muster.db-shm"):
        if sides == "absent":
            (tmp_path / side).unlink(missing_ok=True)
        else:
            (tmp_path / side).touch()
            (tmp_path / side).chmod(0o644)
    path.chmod(0o644)
    db = state.open_db(path)
    state.append(db, run_id=None, actor="t", action="write something")
    assert oct(_mode(path)) == "0o600"
    assert all(oct(_mode(tmp_path / s)) == "0o600" for s in ("muster.db-wal", "muster.db-shm"))
    db.close()


# --- constant-time comparisons ------------------------------------------------------

SECRETISH = ("secret", "token", "sign", "signature", "digest", "expected", "password", "key")
# the receiver's modules (whatever they are split into) and the push-signature check it calls
CHECKED = sorted({*ROOT.glob("flows/receiver*.py"), *ROOT.glob("flows/_receiver*.py"), ROOT / "flows/intake.py",
                  ROOT / "connectors/wenjuanxing/client.py", ROOT / "connectors/feishu/events.py"} & {
    p for p in ROOT.rglob("*.py") if ".venv" not in p.parts})


def _names(node: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id.lower())
        elif isinstance(n, ast.Attribute):
            out.add(n.attr.lower())
    return out


def _plain_comparisons_of_secrets(source: str) -> list[str]:
    """``==``/``!=`` between two computed values where one names a secret, token or signature."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):
            if not isinstance(op, (ast.Eq, ast.NotEq)):
                continue
            if any(isinstance(side, ast.Constant) for side in (left, right)):
                continue  # against a literal (a kind, a schema version): no secret on either side
            if any(word in name for name in _names(left) | _names(right) for word in SECRETISH):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_checker_catches_a_plain_comparison():
    assert _plain_comparisons_of_secrets("def f(token, secret):\n    return token == secret\n") == [
        "line 2: token == secret"]
    assert _plain_comparisons_of_secrets("def f(p, key):\n    return p['sign'] != key.lower()\n")
    assert not _plain_comparisons_of_secrets("def f(p):\n    return p.get('type') == 'url_verification'\n")


def test_no_secret_is_compared_with_eq_in_the_receiver_or_push_checks():
    assert len(CHECKED) >= 3, CHECKED
    found = {str(p.relative_to(ROOT)): hits for p in CHECKED
             if (hits := _plain_comparisons_of_secrets(p.read_text(encoding="utf-8")))}
    assert found == {}
    sources = "".join(p.read_text(encoding="utf-8") for p in CHECKED)
    assert sources.count("hmac.compare_digest(") >= 3  # token, Feishu token, Feishu signature, WJX sign


# --- body limits ---------------------------------------------------------------------


@pytest.fixture
def client(tmp_path):
    db = state.open_db(None)
    forms = {"signup": FormConnection(service="jinshuju", form="abc123", token=SecretRef(env="PUSH_TOKEN"),
                                      max_body=2048)}
    services = {"feishu": FeishuConnection(app_id="cli_x", app_secret=SecretRef(env="FEISHU_APP"),
                                           verification_token=SecretRef(env="FEISHU_VT"))}
    app = create_app(db, forms, resolve_secret=lambda ref: SECRETS[ref.env], services=services)
    with TestClient(app) as c:
        yield c, db
    db.close()


def test_a_push_over_the_forms_limit_is_413_and_nothing_is_stored(client):
    c, db = client
    body = b'{"form": "abc123", "entry": {"field_1": "' + b"x" * 4000 + b'"}}'
    response = c.post("/forms/signup", params={"token": SECRETS["PUSH_TOKEN"]}, content=body,
                      headers={"content-type": "application/json"})
    assert response.status_code == 413 and "2048" in response.text
    assert state.inbox_items(db) == []


def test_a_lying_content_length_does_not_get_past_the_limit(client):
    c, db = client

    def chunks():  # streamed without Content-Length
        for _ in range(10):
            yield b"x" * 1024

    response = c.post("/forms/signup", params={"token": SECRETS["PUSH_TOKEN"]}, content=chunks())
    assert response.status_code == 413
    assert state.inbox_items(db) == []


def test_a_feishu_event_over_the_limit_is_413(client):
    from flows.receiver_feishu import EVENT_MAX_BODY

    c, db = client
    response = c.post("/events/feishu", content=b"{" + b" " * EVENT_MAX_BODY + b"}",
                      headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert state.service_events(db) == []

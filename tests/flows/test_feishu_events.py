"""Feishu events: the sandbox pushes member changes as Feishu does; the receiver checks, stores once, refuses the rest."""

import base64
import hashlib
import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

import state
from config._yaml import ConfigError
from config.tenant import FeishuConnection, SecretRef
from connectors.feishu import FeishuConnector, FeishuSandbox
from flows.receiver import create_app
from flows.sandbox_serve import EventPoster
from mappings.models import AccessDelta, Group, MembershipDelta

APP_SECRET_ENV, TOKEN_ENV, KEY_ENV = "FS_APP_SECRET", "FS_VERIFICATION_TOKEN", "FS_ENCRYPT_KEY"


@pytest.fixture
def sandbox():
    sb = FeishuSandbox(rate_limits=False, seed=11)
    for user in ("amy", "ben", "cal", "dan"):
        sb.add_user(user, user.title())
    sb.add_chat("oc_team", "Team", "amy", ["ben"])
    sb.add_doc("doxTeam", "docx", "Team notes", "amy")
    sb.subscribe_file("doxTeam")
    return sb


@pytest.fixture
def db():
    db = state.open_db(None)
    yield db
    db.close()


def connection(sb, *, encrypted=True):
    return FeishuConnection(app_id=sb.app_id, app_secret=SecretRef(env=APP_SECRET_ENV),
                            verification_token=SecretRef(env=TOKEN_ENV),
                            encrypt_key=SecretRef(env=KEY_ENV) if encrypted else None)


def receiver(db, sb, *, encrypted=True):
    secrets = {APP_SECRET_ENV: sb.app_secret, TOKEN_ENV: sb.verification_token, KEY_ENV: sb.encrypt_key}
    return create_app(db, {}, services={"feishu": connection(sb, encrypted=encrypted)},
                      resolve_secret=lambda ref: secrets[ref.env])


@pytest.fixture
def client(db, sandbox):
    with TestClient(receiver(db, sandbox)) as c:
        yield c


@pytest.fixture
def answers(client, sandbox):
    """Every event the sandbox sends is posted to the receiver; the answers, in order."""
    out = []
    sandbox.event_sink = lambda body, headers: out.append(client.post("/events/feishu", content=body, headers=headers))
    return out


def rows(db):
    return [{k: r[k] for k in ("event_type", "resource", "subject", "operator", "operator_type")}
            for r in state.service_events(db)]


def held(db):
    return [(q["form"], q["reason"]) for q in state.quarantined(db)]


def refused(response, part):
    assert response.status_code == 400, response.text
    reason = response.json()["error"]
    assert part in reason and "\n" not in reason
    return reason


def sign(sb, body, timestamp="1700000000", nonce="n0nce"):
    digest = hashlib.sha256((timestamp + nonce + sb.encrypt_key).encode() + body).hexdigest()
    return {"X-Lark-Request-Timestamp": timestamp, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": digest}


def feishu_connector(sb):
    return FeishuConnector.from_sandbox(sb, rate_limit=False)


# --- url verification ------------------------------------------------------------------------


def test_url_verification_is_answered_with_its_challenge_and_stores_nothing(client, sandbox, db):
    body, headers = sandbox.url_verification("c-8f2e")
    assert json.loads(body).keys() == {"encrypt"}  # the sandbox encrypts like Feishu
    r = client.post("/events/feishu", content=body, headers=headers)
    assert (r.status_code, r.json()) == (200, {"challenge": "c-8f2e"})
    assert rows(db) == [] and held(db) == []


def test_url_verification_with_a_wrong_token_is_refused(client, sandbox, db):
    sandbox.verification_token = "not-the-apps-token"
    body, headers = sandbox.url_verification("c-1")
    refused(client.post("/events/feishu", content=body, headers=headers), "wrong verification token")
    assert held(db) == [("events/feishu", "unauthenticated: wrong verification token")]


# --- events that are stored ------------------------------------------------------------------


def test_a_person_adding_a_chat_member_is_stored_once_with_the_person_as_operator(answers, sandbox, db):
    sandbox.console_add_chat_member("oc_team", "cal", by="ben")
    [r] = answers
    assert (r.status_code, r.json()) == (200, {"msg": "success", "status": "new"})
    assert rows(db) == [{"event_type": "im.chat.member.user.added_v1", "resource": "oc_team", "subject": "cal",
                         "operator": "ben", "operator_type": "user"}]
    created = int(sandbox.events_sent[0]["header"]["create_time"])
    assert state.service_events(db)[0]["happened_at"] == datetime.fromtimestamp(created / 1000, UTC).isoformat(
        timespec="microseconds")


def test_a_redelivered_event_is_answered_200_and_not_stored_again(client, answers, sandbox, db):
    captured = []
    sandbox.event_sink = lambda body, headers: captured.append((body, headers))
    sandbox.console_add_chat_member("oc_team", "cal", by="ben")
    [(body, headers)] = captured
    first = client.post("/events/feishu", content=body, headers=headers)
    again = client.post("/events/feishu", content=body, headers=headers)
    assert [first.json()["status"], again.json()["status"]] == ["new", "duplicate"]
    assert again.status_code == 200 and len(rows(db)) == 1


def test_changes_through_the_api_name_the_app(answers, sandbox, db):
    chat = Group(service="feishu", kind="chat", external_id="oc_team", name="Team")
    feishu_connector(sandbox).apply_membership(chat, MembershipDelta(add=frozenset({"cal", "dan"}),
                                                                     remove=frozenset({"ben"})))
    assert all(r.status_code == 200 for r in answers)
    app = sandbox.app_id
    assert sorted((r["event_type"], r["subject"], r["operator"], r["operator_type"]) for r in rows(db)) == [
        ("im.chat.member.user.added_v1", "cal", app, "app"), ("im.chat.member.user.added_v1", "dan", app, "app"),
        ("im.chat.member.user.deleted_v1", "ben", app, "app")]
    assert state.who_changed(db, "feishu", "oc_team", "ben")["operator_type"] == "app"


def test_leaving_and_withdrawing_are_recorded_with_who_did_it(answers, sandbox, db):
    sandbox.console_add_chat_member("oc_team", "cal", by="ben")
    sandbox.console_withdraw_chat_member("oc_team", "cal", by="ben")
    sandbox.console_remove_chat_member("oc_team", "ben", by="ben")  # ben leaves
    assert [(r["event_type"], r["subject"], r["operator"]) for r in rows(db)] == [
        ("im.chat.member.user.added_v1", "cal", "ben"), ("im.chat.member.user.withdrawn_v1", "cal", "ben"),
        ("im.chat.member.user.deleted_v1", "ben", "ben")]
    assert sandbox.chats["oc_team"]["members"] == ["amy"]


def test_document_collaborators_added_and_removed_are_recorded_under_the_docs_muster_id(answers, sandbox, db):
    sandbox.console_grant("doxTeam", "docx", "ben", "edit", by="amy")
    doc = Group(service="feishu", kind="doc", external_id="docx:doxTeam", name="Team notes")
    feishu_connector(sandbox).apply_access(doc, AccessDelta(revoke=frozenset({"ben"})))
    assert rows(db) == [
        {"event_type": "drive.file.permission_member_added_v1", "resource": "docx:doxTeam", "subject": "ben",
         "operator": "amy", "operator_type": "user"},
        {"event_type": "drive.file.permission_member_removed_v1", "resource": "docx:doxTeam", "subject": "ben",
         "operator": sandbox.app_id, "operator_type": "app"}]


def test_plaintext_mode_without_an_encrypt_key(db, sandbox):
    sandbox.encrypt_key = ""
    with TestClient(receiver(db, sandbox, encrypted=False)) as c:
        out = []
        sandbox.event_sink = lambda body, headers: out.append(c.post("/events/feishu", content=body, headers=headers))
        body, headers = sandbox.url_verification("plain-1")
        assert json.loads(body)["type"] == "url_verification" and "X-Lark-Signature" not in headers
        assert c.post("/events/feishu", content=body, headers=headers).json() == {"challenge": "plain-1"}
        sandbox.console_add_chat_member("oc_team", "dan", by="amy")
    assert [r.status_code for r in out] == [200]
    assert rows(db)[0]["subject"] == "dan" and rows(db)[0]["operator"] == "amy"


def test_other_event_types_are_acknowledged_and_dropped(client, sandbox, db):
    envelope = {"schema": "2.0", "header": {"event_id": "e-msg-1", "event_type": "im.message.receive_v1",
                                            "create_time": "1700000000000", "token": sandbox.verification_token,
                                            "app_id": sandbox.app_id, "tenant_key": sandbox.tenant_key},
                "event": {"message": {"message_id": "om_1"}}}
    body, headers = sandbox.seal(envelope)
    r = client.post("/events/feishu", content=body, headers=headers)
    assert (r.status_code, r.json()["status"]) == (200, "ignored")
    assert rows(db) == [] and held(db) == []


# --- what the sandbox sends, and when --------------------------------------------------------


def test_no_events_for_unsubscribed_files_or_chats_the_bot_is_not_in(answers, sandbox, db):
    sandbox.add_doc("doxOther", "docx", "Other", "amy")
    sandbox.add_chat("oc_nobot", "No bot", "amy", ["ben"])
    sandbox.chats["oc_nobot"]["bot_in"] = False
    sandbox.console_grant("doxOther", "docx", "ben", "view", by="amy")
    sandbox.console_add_chat_member("oc_nobot", "cal", by="ben")
    assert answers == [] and sandbox.events_sent == []
    sdk_style = httpx.Client(transport=sandbox.transport(), base_url="https://open.feishu.cn")
    token = sdk_style.post("/open-apis/auth/v3/tenant_access_token/internal",
                           json=sandbox.credentials).json()["tenant_access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert sdk_style.post("/open-apis/drive/v1/files/doxOther/subscribe", params={"file_type": "sheet"},
                          headers=auth).json()["code"] == 1063001
    assert sdk_style.post("/open-apis/drive/v1/files/doxOther/subscribe", params={"file_type": "docx"},
                          headers=auth).json()["code"] == 0
    sandbox.console_grant("doxOther", "docx", "cal", "view", by="amy")
    assert [r.json()["status"] for r in answers] == ["new"] and rows(db)[0]["resource"] == "docx:doxOther"


def test_adding_a_present_member_sends_nothing_and_console_acts_are_checked(answers, sandbox):
    sandbox.console_add_chat_member("oc_team", "ben", by="amy")
    assert sandbox.events_sent == []
    with pytest.raises(ValueError, match="not in chat"):
        sandbox.console_add_chat_member("oc_team", "dan", by="cal")
    with pytest.raises(ValueError, match="owner cannot be removed"):
        sandbox.console_remove_chat_member("oc_team", "amy", by="ben")
    with pytest.raises(ValueError, match="cannot share"):
        sandbox.console_grant("doxTeam", "docx", "dan", "view", by="ben")


def test_a_failing_sink_does_not_fail_the_api_call(sandbox, caplog):
    def broken(body, headers):
        raise RuntimeError("receiver down")

    sandbox.event_sink = broken
    chat = Group(service="feishu", kind="chat", external_id="oc_team", name="Team")
    result = feishu_connector(sandbox).apply_membership(chat, MembershipDelta(add=frozenset({"dan"})))
    assert result.rejected == () and "dan" in sandbox.chats["oc_team"]["members"]
    assert "event delivery failed: receiver down" in caplog.text


# --- refusals --------------------------------------------------------------------------------


def captured_event(sandbox, user="cal"):
    out = []
    sandbox.event_sink = lambda body, headers: out.append((body, dict(headers)))
    sandbox.console_add_chat_member("oc_team", user, by="ben")
    return out[0]


def test_a_bad_signature_is_refused_and_quarantined(client, sandbox, db):
    body, headers = captured_event(sandbox)
    headers["X-Lark-Signature"] = "0" * 64
    refused(client.post("/events/feishu", content=body, headers=headers), "wrong X-Lark-Signature")
    assert rows(db) == []
    [q] = state.quarantined(db)
    assert (q["form"], q["reason"], q["body"]) == ("events/feishu", "unauthenticated: wrong X-Lark-Signature",
                                                   body.decode())


def test_an_encrypted_event_without_a_signature_is_refused(client, sandbox, db):
    body, headers = captured_event(sandbox)
    del headers["X-Lark-Signature"]
    refused(client.post("/events/feishu", content=body, headers=headers), "has no X-Lark-Signature")
    assert rows(db) == [] and len(held(db)) == 1


def test_a_wrong_verification_token_in_a_signed_event_is_refused(client, sandbox, db):
    sandbox.verification_token = "someone-elses-token"
    body, headers = captured_event(sandbox)
    refused(client.post("/events/feishu", content=body, headers=headers), "wrong verification token")
    assert rows(db) == [] and held(db) == [("events/feishu", "unauthenticated: wrong verification token")]


def test_a_body_that_is_not_json_is_refused(client, sandbox, db):
    body = b"{not json"
    refused(client.post("/events/feishu", content=body, headers=sign(sandbox, body)), "not UTF-8 JSON")
    assert held(db) == [("events/feishu", "body is not UTF-8 JSON (JSONDecodeError)")]


def test_a_signed_body_that_does_not_decrypt_is_refused(client, sandbox, db):
    body = json.dumps({"encrypt": base64.b64encode(b"x" * 48).decode()}).encode()
    refused(client.post("/events/feishu", content=body, headers=sign(sandbox, body)), "cannot decrypt")
    assert len(held(db)) == 1


def test_plaintext_is_refused_when_an_encrypt_key_is_configured(client, sandbox, db):
    sandbox.encrypt_key = ""
    body, headers = captured_event(sandbox)
    refused(client.post("/events/feishu", content=body, headers=headers), "not encrypted")
    assert rows(db) == []


def test_a_member_event_without_its_chat_is_refused(client, sandbox, db):
    envelope = {"schema": "2.0", "header": {"event_id": "e-bad", "event_type": "im.chat.member.user.added_v1",
                                            "create_time": "1700000000000", "token": sandbox.verification_token,
                                            "app_id": sandbox.app_id},
                "event": {"users": [{"user_id": {"user_id": "cal"}}]}}
    body, headers = sandbox.seal(envelope)
    refused(client.post("/events/feishu", content=body, headers=headers), "no chat_id")
    assert rows(db) == [] and len(held(db)) == 1


def test_events_are_404_when_feishu_has_no_verification_token(db, sandbox):
    with TestClient(create_app(db, {})) as c:
        body, headers = sandbox.url_verification("c")
        r = c.post("/events/feishu", content=body, headers=headers)
        assert r.status_code == 404 and "not taken here" in r.json()["error"]
        assert c.get("/healthz").json() == {"ok": True, "forms": []}
    assert held(db)[0][0] == "events/feishu"


def test_an_oversized_event_is_413(client, db):
    r = client.post("/events/feishu", content=b"{" + b" " * (256 * 1024) + b"}")
    assert r.status_code == 413 and len(held(db)) == 1


def test_healthz_names_the_event_source(client):
    assert client.get("/healthz").json() == {"ok": True, "forms": [], "events": ["feishu"]}


def test_no_secret_reaches_the_log(client, answers, sandbox, caplog):
    caplog.set_level(logging.DEBUG, logger="muster")
    sandbox.console_add_chat_member("oc_team", "cal", by="ben")
    body, headers = captured_event(sandbox, "dan")
    headers["X-Lark-Signature"] = "f" * 64
    client.post("/events/feishu", content=body, headers=headers)
    assert "refused" in caplog.text and "im.chat.member.user.added_v1" in caplog.text
    for secret in (sandbox.verification_token, sandbox.encrypt_key, sandbox.app_secret):
        assert secret not in caplog.text


def test_a_secret_that_cannot_be_resolved_is_named(db, sandbox):
    def resolve(ref):
        raise ConfigError(f"environment variable {ref.env} is not set")

    with pytest.raises(ConfigError, match=r"services\.feishu\.verification_token: environment variable"):
        create_app(db, {}, services={"feishu": connection(sandbox)}, resolve_secret=resolve)


# --- the official SDK accepts what the sandbox sends ------------------------------------------


def dispatch(sandbox, body, headers, **handlers):
    lark = pytest.importorskip("lark_oapi")
    from lark_oapi.core.model import RawRequest

    builder = lark.EventDispatcherHandler.builder(sandbox.encrypt_key, sandbox.verification_token)
    for name, fn in handlers.items():
        builder = getattr(builder, f"register_p2_{name}")(fn)
    request = RawRequest()
    request.uri, request.body, request.headers = "/events/feishu", body, headers
    return builder.build().do(request)


def test_lark_oapi_decrypts_verifies_and_parses_the_sandboxs_events(sandbox):
    sent = []
    sandbox.event_sink = lambda body, headers: sent.append((body, headers))
    sandbox.console_add_chat_member("oc_team", "cal", by="ben")
    sandbox.console_grant("doxTeam", "docx", "dan", "view", by="amy")
    chats, files = [], []
    for body, headers in sent:
        response = dispatch(sandbox, body, headers, im_chat_member_user_added_v1=chats.append,
                            drive_file_permission_member_added_v1=files.append)
        assert (response.status_code, response.content) == (200, b'{"msg":"success"}')
    [added], [granted] = chats, files
    assert (added.header.event_type, added.header.app_id, added.header.token) == (
        "im.chat.member.user.added_v1", sandbox.app_id, sandbox.verification_token)
    assert (added.event.chat_id, added.event.operator_id.user_id, added.event.operator_id.open_id) == (
        "oc_team", "ben", sandbox.users["ben"]["open_id"])
    assert [(u.user_id.user_id, u.name) for u in added.event.users] == [("cal", "Cal")]
    assert (granted.event.file_token, granted.event.file_type, granted.event.operator_id.user_id) == (
        "doxTeam", "docx", "amy")
    assert [u.user_id for u in granted.event.user_list] == ["dan"]


def test_lark_oapi_rejects_a_tampered_sandbox_event_and_answers_the_url_check(sandbox):
    sent = []
    sandbox.event_sink = lambda body, headers: sent.append((body, headers))
    sandbox.console_add_chat_member("oc_team", "cal", by="ben")
    body, headers = sent[0]
    response = dispatch(sandbox, body, {**headers, "X-Lark-Signature": "0" * 64},
                        im_chat_member_user_added_v1=lambda e: None)
    assert response.status_code == 500 and b"signature verification failed" in response.content
    body, headers = sandbox.url_verification("sdk-c")
    assert json.loads(dispatch(sandbox, body, headers).content) == {"challenge": "sdk-c"}


# --- muster sandbox serve --events-to, muster serve, the workspace ----------------------------


def test_event_poster_posts_in_order_and_counts_failures(caplog):
    seen = []

    def handler(request):
        seen.append((request.content, request.headers["X-Lark-Signature"]))
        return httpx.Response(200 if len(seen) == 1 else 400, json={"error": "wrong X-Lark-Signature"})

    poster = EventPoster("http://receiver.test/events/feishu", transport=httpx.MockTransport(handler))
    poster(b'{"encrypt":"a"}', {"X-Lark-Signature": "s1"})
    poster(b'{"encrypt":"b"}', {"X-Lark-Signature": "s2"})
    poster.close()
    assert seen == [(b'{"encrypt":"a"}', "s1"), (b'{"encrypt":"b"}', "s2")]
    assert (poster.delivered, poster.failed) == (1, 1)
    assert "refused: HTTP 400" in caplog.text


def test_event_poster_survives_an_unreachable_receiver(caplog):
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    poster = EventPoster("http://receiver.test/events/feishu", transport=httpx.MockTransport(handler))
    poster(b"{}", {})
    poster.close()
    assert poster.failed == 1 and "not delivered: ConnectError" in caplog.text


@pytest.fixture
def feishu_tenant(tmp_path, monkeypatch, sandbox):
    monkeypatch.setenv(APP_SECRET_ENV, sandbox.app_secret)
    monkeypatch.setenv(TOKEN_ENV, sandbox.verification_token)
    monkeypatch.setenv(KEY_ENV, sandbox.encrypt_key)
    (tmp_path / "policy.yaml").write_text("version: 1\n")
    (tmp_path / "muster.yaml").write_text(
        "coalition: test\nservices:\n  feishu:\n"
        f"    app_id: {sandbox.app_id}\n    app_secret: {{env: {APP_SECRET_ENV}}}\n"
        f"    verification_token: {{env: {TOKEN_ENV}}}\n    encrypt_key: {{env: {KEY_ENV}}}\n")
    return tmp_path / "muster.yaml"


def test_muster_serve_takes_feishu_events_without_any_push_form(feishu_tenant, sandbox, monkeypatch, capsys):
    import uvicorn

    from flows.cli import main

    configs = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: configs.append(self.config))
    muster = logging.getLogger("muster")
    before = muster.handlers[:], muster.level
    try:
        with pytest.raises(SystemExit) as info:
            main(["serve", "--config", str(feishu_tenant), "--port", "8812"])
    finally:
        muster.handlers[:], muster.level = before
    out = capsys.readouterr().out
    assert info.value.code == 0, out
    assert "feishu events: POST http://127.0.0.1:8812/events/feishu" in out
    assert sandbox.verification_token not in out and sandbox.encrypt_key not in out
    with TestClient(configs[0].app) as c:
        body, headers = sandbox.url_verification("cli")
        assert c.post("/events/feishu", content=body, headers=headers).json() == {"challenge": "cli"}


def test_the_workspace_does_not_hand_event_secrets_to_the_connector(feishu_tenant, sandbox):
    from flows.workspace import Workspace

    ws = Workspace.from_config(feishu_tenant)
    ws.transports["feishu"] = sandbox.transport()
    runner = ws.connector("feishu")
    assert isinstance(runner.connector, FeishuConnector)
    runner.connector.check()


def test_an_encrypt_key_without_a_verification_token_is_a_config_error(sandbox):
    with pytest.raises(ValueError, match="encrypt_key needs verification_token"):
        FeishuConnection(app_id="cli_x", app_secret=SecretRef(env="A"), encrypt_key=SecretRef(env="B"))


def test_sandbox_serve_posts_feishu_events_to_the_receiver_url(tmp_path, monkeypatch, db):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from rich.console import Console

    from flows.receiver import FeishuEvents
    from flows.sandbox_serve import serve_sandboxes

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    intake, answered = [], threading.Event()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - stdlib name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, answer = intake[0].handle(body, dict(self.headers.items()))
            intake.append((self.path, status, answer))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            answered.set()

        def log_message(self, *args):
            pass

    events_server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=events_server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{events_server.server_address[1]}/events/feishu"
    info, stop = tmp_path / "info.json", threading.Event()
    thread = threading.Thread(target=serve_sandboxes, daemon=True, kwargs={
        "console": Console(file=open(tmp_path / "serve.log", "w")), "port": 0, "info": info, "people": 12,
        "seed": 5, "stop": stop, "events_to": url})
    thread.start()
    try:
        for _ in range(500):
            if info.exists() and info.read_text().strip().endswith("}"):
                break
            threading.Event().wait(0.02)
        feishu = json.loads(info.read_text())["feishu"]
        intake.append(FeishuEvents(db, threading.Lock(), feishu["events"]["verification_token"],
                                   feishu["events"]["encrypt_key"]))
        connector = FeishuConnector(base_url=feishu["base_url"], app_id=feishu["app_id"],
                                    app_secret=feishu["app_secret"], rate_limit=False)
        doc_id = feishu["chats"]["handbook"]  # "docx:<token>"
        doc = Group(service="feishu", kind="doc", external_id=doc_id, name="handbook")
        granted = {m.external_id for m in connector.list_grants(doc)} | {connector.get_group("doc", doc_id).owner}
        newcomer = next(p.external_id for p in connector.list_people() if p.external_id not in granted)
        api = httpx.Client(base_url=feishu["base_url"] + "/open-apis")
        token = api.post("/auth/v3/tenant_access_token/internal", json={
            "app_id": feishu["app_id"], "app_secret": feishu["app_secret"]}).json()["tenant_access_token"]
        doc_type, _, doc_token = doc_id.partition(":")
        assert api.post(f"/drive/v1/files/{doc_token}/subscribe", params={"file_type": doc_type},
                        headers={"Authorization": f"Bearer {token}"}).json()["code"] == 0
        api.close()
        connector.apply_access(doc, AccessDelta(grant={newcomer: "view"}))
        connector.close()
        assert answered.wait(10)
    finally:
        stop.set()
        thread.join(10)
        events_server.shutdown()
        events_server.server_close()
    assert intake[1:] == [("/events/feishu", 200, {"msg": "success", "status": "new"})]
    assert rows(db) == [{"event_type": "drive.file.permission_member_added_v1", "resource": doc_id,
                         "subject": newcomer, "operator": feishu["app_id"], "operator_type": "app"}]
    assert f"feishu events → {url}" in (tmp_path / "serve.log").read_text()

"""The webhook receiver: every answer it gives, what it stores, and what it keeps of refusals."""

import hmac
import json
import logging
import sqlite3
import sys
import time

import pytest
from fastapi.testclient import TestClient
from pushkit import FORMS, JINSHUJU_FORM, SECRETS, encode, jinshuju_push, resolve, wjx_push

import state
from config._yaml import ConfigError
from config.tenant import FormConnection, SecretRef
from flows import intake
from flows.receiver import create_app

TOKEN = SECRETS["SIGNUP_TOKEN"]


@pytest.fixture
def db():
    db = state.open_db(None)
    yield db
    db.close()


@pytest.fixture
def seen():
    return []


@pytest.fixture
def client(db, seen):
    def on_item(item_id):
        seen.append(state.get_item(db, item_id))

    with TestClient(create_app(db, FORMS, on_item=on_item, resolve_secret=resolve)) as c:
        yield c


def post_jinshuju(client, payload, token=TOKEN, form="signup"):
    params = {} if token is None else {"token": token}
    return client.post(f"/forms/{form}", params=params, content=encode(payload))


def refused(response, status, reason_part):
    assert response.status_code == status, response.text
    reason = response.json()["error"]
    assert reason_part in reason and "\n" not in reason
    return reason


# --- accepted pushes ---------------------------------------------------------------------------


def test_a_jinshuju_push_is_stored_and_answered_with_its_item(client, db, seen):
    payload = jinshuju_push(7, field_3=["7oLf", "vQki"])
    r = post_jinshuju(client, payload)
    assert (r.status_code, r.json()) == (200, {"ok": True, "item": 1, "status": "new"})
    item = state.get_item(db, 1)
    assert (item["form"], item["serial"], item["service"], item["payload"], item["status"]) == (
        "signup", "7", "jinshuju", payload, "received")
    assert item["entry"] == intake.parse_push("jinshuju", payload)
    assert [s["id"] for s in seen] == [1]


def test_a_signed_wenjuanxing_push_is_stored(client, db):
    payload = wjx_push("9001", q2="王五 🌸")
    r = client.post("/forms/survey", content=encode(payload))
    assert (r.status_code, r.json()) == (200, {"ok": True, "item": 1, "status": "new"})
    assert state.get_item(db, 1)["payload"] == payload
    assert state.get_item(db, 1)["entry"].answers["q2"] == "王五 🌸"


def test_the_same_push_twice_is_one_row_unchanged(client, db, seen):
    assert post_jinshuju(client, jinshuju_push(3)).json()["status"] == "new"
    assert post_jinshuju(client, jinshuju_push(3)).json() == {"ok": True, "item": 1, "status": "unchanged"}
    assert len(state.inbox_items(db)) == 1
    # an unchanged entry still waiting in the inbox is worth another nudge, an onboarded one is not
    assert [s["id"] for s in seen] == [1, 1]
    state.claim_pending(db)
    state.set_item_status(db, 1, "onboarded", person_id="P000001")
    post_jinshuju(client, jinshuju_push(3))
    assert len(seen) == 2 and state.get_item(db, 1)["status"] == "onboarded"


def test_an_edited_entry_is_updated_and_must_be_onboarded_again(client, db, seen):
    post_jinshuju(client, jinshuju_push(3))
    state.claim_pending(db)
    state.set_item_status(db, 1, "onboarded", person_id="P000001")
    r = post_jinshuju(client, jinshuju_push(3, field_1="张三丰"))
    assert r.json() == {"ok": True, "item": 1, "status": "updated"}
    item = state.get_item(db, 1)
    assert (item["status"], item["person_id"], item["entry"].answers["field_1"]) == ("received", "P000001", "张三丰")
    assert [s["entry"].answers["field_1"] for s in seen] == ["张三", "张三丰"]


def test_the_push_is_committed_before_the_answer_is_sent(tmp_path):
    path = tmp_path / "muster.db"
    app = create_app(state.open_db(path), FORMS, resolve_secret=resolve)
    rows_at_answer = []

    async def watching(scope, receive, send):
        async def send_and_look(message):
            if message["type"] == "http.response.start":
                other = state.open_db(path)  # another connection sees only committed rows
                rows_at_answer.append(len(state.inbox_items(other)))
                other.close()
            await send(message)

        await app(scope, receive, send_and_look)

    with TestClient(watching) as c:
        assert post_jinshuju(c, jinshuju_push(1)).status_code == 200
    assert rows_at_answer == [1]


def test_a_failing_on_item_does_not_turn_into_an_error(db, caplog):
    def on_item(item_id):
        raise RuntimeError("wecom is down")

    with TestClient(create_app(db, FORMS, on_item=on_item, resolve_secret=resolve)) as c:
        r = post_jinshuju(c, jinshuju_push(1))
    assert r.json() == {"ok": True, "item": 1, "status": "new"}
    assert state.get_item(db, 1)["status"] == "received"
    assert "onboarding inbox item 1 failed" in caplog.text


def test_without_on_item_pushes_are_only_stored(db):
    with TestClient(create_app(db, FORMS, resolve_secret=resolve)) as c:
        assert post_jinshuju(c, jinshuju_push(1)).status_code == 200
    assert len(state.inbox_items(db)) == 1


# --- refusals, in the order they are checked ---------------------------------------------------


def test_an_unknown_form_is_404_and_its_body_kept_untrusted(client, db):
    r = post_jinshuju(client, jinshuju_push(1), form="nope")
    refused(r, 404, "no form 'nope' takes pushes here")
    [q] = state.quarantined(db)
    assert (q["form"], q["reason"], json.loads(q["body"]), q["remote"]) == (
        None, "unauthenticated: no form 'nope' takes pushes here", jinshuju_push(1), "testclient")


def test_a_file_form_takes_no_pushes(client):
    refused(post_jinshuju(client, jinshuju_push(1), form="paper"), 404, "no form 'paper'")


def test_a_jinshuju_form_without_a_token_is_polled_not_pushed(db):
    forms = {"polled": FormConnection(service="jinshuju", form="x", api_key="k", api_secret=SecretRef(env="X"))}
    with TestClient(create_app(db, forms, resolve_secret=resolve)) as c:
        refused(c.post("/forms/polled", content=b"{}"), 404, "no form 'polled'")
        assert c.get("/healthz").json() == {"ok": True, "forms": []}


def test_a_body_over_max_body_is_413_and_only_max_body_plus_one_bytes_are_kept(client, db):
    r = post_jinshuju(client, jinshuju_push(1, field_9="x" * 5000))
    refused(r, 413, "over the form's limit of 4096 bytes")
    [q] = state.quarantined(db)
    assert len(q["body"].encode()) == 4097 and q["form"] == "signup"


def test_a_chunked_body_without_content_length_is_counted_too(client):
    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    r = client.post("/forms/signup", params={"token": TOKEN}, content=chunks())
    refused(r, 413, "over the form's limit")


def test_a_body_of_exactly_max_body_is_read(client):
    payload = jinshuju_push(1)
    body = encode(payload)
    payload["entry"]["field_9"] = "x" * (4096 - len(body) - len(', "field_9": ""'))
    assert len(encode(payload)) == 4096
    assert post_jinshuju(client, payload).status_code == 200


def test_the_size_limit_comes_before_authentication(client):
    refused(post_jinshuju(client, jinshuju_push(1, field_9="x" * 5000), token="wrong"), 413, "limit")


def test_a_missing_token_is_401_and_a_wrong_one_403(client, db):
    refused(post_jinshuju(client, jinshuju_push(1), token=None), 401, "has no ?token=")
    refused(post_jinshuju(client, jinshuju_push(1), token=""), 401, "has no ?token=")
    refused(post_jinshuju(client, jinshuju_push(1), token="s3cret-tokem"), 403, "wrong token")
    refused(post_jinshuju(client, jinshuju_push(1), token="令牌"), 403, "wrong token")
    assert state.inbox_items(db) == []
    assert [q["reason"] for q in state.quarantined(db)] == [
        "unauthenticated: wrong token", "unauthenticated: wrong token",
        "unauthenticated: the push URL has no ?token=", "unauthenticated: the push URL has no ?token="]


def test_the_token_is_compared_in_constant_time(client, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    post_jinshuju(client, jinshuju_push(1), token="guess")
    assert post_jinshuju(client, jinshuju_push(1)).status_code == 200
    assert calls[:2] == [(b"guess", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_the_token_is_never_stored(client, db):
    post_jinshuju(client, jinshuju_push(1), token="close-but-wrong")
    post_jinshuju(client, jinshuju_push(2))
    dump = "\n".join(db.iterdump())
    assert TOKEN not in dump and "close-but-wrong" not in dump


def test_a_wenjuanxing_push_without_sign_is_401_with_a_wrong_one_403(client, db):
    refused(client.post("/forms/survey", content=encode(wjx_push(sign=False))), 401, "unsigned push")
    refused(client.post("/forms/survey", content=encode(wjx_push(secret="guessed"))), 403, "wrong signature")
    tampered = {**wjx_push("1"), "joinid": "2", "index": "2"}
    refused(client.post("/forms/survey", content=encode(tampered)), 403, "wrong signature")
    # without the answer's sequence number the sign cannot be checked at all
    refused(client.post("/forms/survey", content=encode({**wjx_push(), "joinid": "", "index": ""})), 401,
            "unsigned push")
    assert state.inbox_items(db) == []
    assert len(state.quarantined(db)) == 4


def test_the_wenjuanxing_signature_is_checked_with_compare_digest(client, monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    client.post("/forms/survey", content=encode(wjx_push(secret="guessed")))
    assert calls


@pytest.mark.parametrize("body, reason", [
    (b"", "not UTF-8 JSON"),
    (b"form=abc&entry=1", "not UTF-8 JSON"),
    (b'{"form": "abc123", "entry": ', "not UTF-8 JSON"),
    (b"\xff\xfe{}", "not UTF-8 JSON"),
    (b'{"a": NaN}', "not UTF-8 JSON"),
    (b'{"a": "\\ud800"}', "not UTF-8 JSON"),
    (b"[" * 100_000, "not UTF-8 JSON"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b'"text"', "a JSON str, not an object"),
    (b"null", "a JSON NoneType, not an object"),
])
def test_a_body_that_is_not_a_json_object_is_400(db, body, reason):
    forms = {"signup": FORMS["signup"].model_copy(update={"max_body": 200_000})}
    with TestClient(create_app(db, forms, resolve_secret=resolve)) as c:
        refused(c.post("/forms/signup", params={"token": TOKEN}, content=body), 400, reason)
    [q] = state.quarantined(db)
    assert q["body"] == body[:65536].decode("utf-8", "replace")


def test_a_wenjuanxing_body_that_is_not_json_is_400_before_its_signature(client):
    refused(client.post("/forms/survey", content=b"activity=1&sign=x"), 400, "not UTF-8 JSON")


def test_a_push_the_connector_cannot_read_is_422(client, db):
    refused(post_jinshuju(client, {"form": JINSHUJU_FORM, "entry": {"field_1": "x"}}), 422,
            "not a valid push: jinshuju: entry.serial_number is missing")
    refused(client.post("/forms/survey", content=encode(wjx_push(submittime="soon"))), 422,
            "not a valid push: wenjuanxing: push submittime is not")
    assert [q["form"] for q in state.quarantined(db)] == ["survey", "signup"]


def test_a_push_for_another_form_is_422(client, db):
    refused(post_jinshuju(client, jinshuju_push(1, form="other-form")), 422,
            "the push is for form 'other-form', not this form's 'abc123'")
    refused(client.post("/forms/survey", content=encode(wjx_push(activity="111"))), 422, "not this form's '5657754'")
    assert state.inbox_items(db) == []


def test_other_methods_and_paths_answer_one_line_errors(client):
    refused(client.get("/forms/signup"), 405, "Method Not Allowed")
    refused(client.post("/elsewhere"), 404, "Not Found")


# --- never a 500 -----------------------------------------------------------------------------


def test_a_connector_bug_is_a_400_and_the_body_is_kept(client, db, monkeypatch):
    monkeypatch.setattr(intake, "parse_push", lambda service, payload: 1 / 0)
    refused(post_jinshuju(client, jinshuju_push(1)), 400, "unreadable push (ZeroDivisionError)")
    assert json.loads(state.quarantined(db)[0]["body"]) == jinshuju_push(1)


def test_a_missing_connector_is_503_and_the_body_is_kept(client, db, monkeypatch):
    monkeypatch.setitem(sys.modules, "connectors.jinshuju", None)
    refused(post_jinshuju(client, jinshuju_push(1)), 503, "the jinshuju connector cannot read pushes")
    assert len(state.quarantined(db)) == 1


def test_a_locked_database_is_503(tmp_path):
    path = tmp_path / "muster.db"
    db = state.open_db(path)
    db.execute("PRAGMA busy_timeout = 50")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with TestClient(create_app(db, FORMS, resolve_secret=resolve)) as c:
            refused(post_jinshuju(c, jinshuju_push(1)), 503, "database unavailable (database is locked)")
            # the quarantine of a refusal needs the database too: 503, so the sender tries again
            refused(post_jinshuju(c, jinshuju_push(1), token="wrong"), 503, "database unavailable")
    finally:
        holder.execute("ROLLBACK")
    assert state.inbox_items(db) == [] and state.quarantined(db) == []


def test_a_broken_database_makes_healthz_503(db):
    with TestClient(create_app(db, FORMS, resolve_secret=resolve)) as c:
        assert c.get("/healthz").json() == {"ok": True, "forms": ["signup", "survey"]}
        db.close()
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["ok"] is False
        refused(post_jinshuju(c, jinshuju_push(1)), 503, "database unavailable")


# --- secrets ---------------------------------------------------------------------------------


def test_secrets_resolve_from_the_environment_by_default(db, monkeypatch):
    monkeypatch.setenv("SIGNUP_TOKEN", TOKEN)
    monkeypatch.setenv("SURVEY_SECRET", SECRETS["SURVEY_SECRET"])
    with TestClient(create_app(db, FORMS)) as c:
        assert post_jinshuju(c, jinshuju_push(1)).status_code == 200


def test_a_secret_that_cannot_be_resolved_fails_at_start_naming_the_form(db, monkeypatch):
    monkeypatch.delenv("SIGNUP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"forms\.signup\.token: environment variable SIGNUP_TOKEN is not set"):
        create_app(db, {"signup": FORMS["signup"]})


# --- muster serve ----------------------------------------------------------------------------


@pytest.fixture
def tenant(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNUP_TOKEN", TOKEN)
    (tmp_path / "policy.yaml").write_text("version: 1\n")
    (tmp_path / "muster.yaml").write_text(
        "coalition: test\nforms:\n"
        "  signup: {service: jinshuju, form: abc123, token: {env: SIGNUP_TOKEN}}\n"
        "  paper: {service: file}\n")
    return tmp_path / "muster.yaml"


@pytest.fixture
def served(monkeypatch):
    import uvicorn

    configs = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: configs.append(self.config))
    muster = logging.getLogger("muster")
    before = muster.handlers[:], muster.level
    yield configs
    muster.handlers[:], muster.level = before  # uvicorn.Config configured logging for the process


def run_cli(argv, capsys):
    from flows.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


def test_muster_serve_runs_uvicorn_without_access_log_on_the_workspace_db(tenant, served, capsys):
    code, out = run_cli(["serve", "--config", str(tenant), "--port", "8811"], capsys)
    assert code == 0, out
    assert "signup (jinshuju): POST http://127.0.0.1:8811/forms/signup?token=<token>" in out
    assert TOKEN not in out and "paper" not in out
    [config] = served
    assert (config.host, config.port, config.access_log) == ("127.0.0.1", 8811, False)
    config.load()  # uvicorn accepts the settings
    with TestClient(config.app) as c:
        assert post_jinshuju(c, jinshuju_push(5)).json() == {"ok": True, "item": 1, "status": "new"}
    db = state.open_db(tenant.parent / "muster.db")
    assert [i["serial"] for i in state.inbox_items(db)] == ["5"]


def test_muster_serve_takes_host_and_port(tenant, served, capsys):
    code, out = run_cli(["serve", "--config", str(tenant), "--host", "0.0.0.0", "--port", "9000"], capsys)
    assert code == 0 and (served[0].host, served[0].port) == ("0.0.0.0", 9000)


def test_muster_serve_without_push_forms_is_one_error_line(tmp_path, served, capsys):
    (tmp_path / "policy.yaml").write_text("version: 1\n")
    (tmp_path / "muster.yaml").write_text("coalition: test\nforms:\n  paper: {service: file}\n")
    code, out = run_cli(["serve", "--config", str(tmp_path / "muster.yaml")], capsys)
    assert code == 1 and "error: no form takes pushes" in out and served == []


def test_muster_serve_with_an_unset_secret_names_it(tenant, served, capsys, monkeypatch):
    monkeypatch.delenv("SIGNUP_TOKEN")
    code, out = run_cli(["serve", "--config", str(tenant)], capsys)
    assert code == 1 and "forms.signup.token: environment variable SIGNUP_TOKEN is not set" in out


def test_serve_receiver_passes_on_item_and_shares_the_workspace_lock(tenant, served, db):
    from flows.serve_cmd import serve_receiver
    from flows.workspace import Workspace

    ws = Workspace.from_config(tenant)
    calls = []
    serve_receiver(ws, host="127.0.0.1", port=0, on_item=calls.append)
    app = served[0].app
    assert app.state.receiver.lock is ws.lock
    with TestClient(app) as c:
        post_jinshuju(c, jinshuju_push(1))
    assert calls == [1]


# --- pushes made by the service sandboxes ------------------------------------------------------


@pytest.mark.parametrize("sequence_field", ["joinid", "index"])
def test_pushes_from_the_sandboxes_are_accepted_and_edits_update(db, sequence_field):
    from connectors.jinshuju import JinshujuSandbox
    from connectors.wenjuanxing import WenjuanxingSandbox

    jsj, wjx = JinshujuSandbox(seed=1), WenjuanxingSandbox(seed=2)
    wjx.SEQUENCE_FIELD = sequence_field
    token = jsj.add_form(None, "志愿者报名", {"field_1": "姓名", "field_2": "手机"})
    activity = wjx.add_survey(None, "心理援助", {"q1": "姓名", "q2": "手机"})
    forms = {"signup": FORMS["signup"].model_copy(update={"form": token}),
             "survey": FORMS["survey"].model_copy(update={"form": activity})}
    secrets = {"SIGNUP_TOKEN": TOKEN, "SURVEY_SECRET": wjx.push_secret}
    with TestClient(create_app(db, forms, resolve_secret=lambda ref: secrets[ref.env])) as c:
        first = jsj.submit(token, {"field_1": "张三", "field_2": "13812345678"})
        assert post_jinshuju(c, first).json()["status"] == "new"
        assert post_jinshuju(c, first).json()["status"] == "unchanged"
        edited = jsj.submit(token, {"field_1": "张三丰"}, serial=first["entry"]["serial_number"])
        assert post_jinshuju(c, edited).json()["status"] == "updated"
        sheet = wjx.submit(activity, {"q1": "李四", "q2": "13900000000"})
        assert c.post("/forms/survey", content=encode(sheet)).json()["status"] == "new"
        forged = {**sheet, "activity": "1" + activity}
        assert c.post("/forms/survey", content=encode(forged)).status_code == 403
    assert sorted((i["form"], i["entry"].answers.get("field_1") or i["entry"].answers["q1"])
                  for i in state.inbox_items(db)) == [("signup", "张三丰"), ("survey", "李四")]


def test_the_wenjuanxing_sign_does_not_cover_the_answers_but_a_url_token_guards_them(db):
    # §6.1: sign = sha1(activity + index + secret); whoever holds one signed push can change its answers
    forms = {"survey": FORMS["survey"], "guarded": FORMS["survey"].model_copy(
        update={"token": SecretRef(env="SIGNUP_TOKEN")})}
    forged = {**wjx_push("77"), "q2": "someone else"}
    with TestClient(create_app(db, forms, resolve_secret=resolve)) as c:
        assert c.post("/forms/survey", content=encode(forged)).status_code == 200
        refused(c.post("/forms/guarded", content=encode(forged)), 401, "has no ?token=")
        refused(c.post("/forms/guarded", params={"token": "guess"}, content=encode(forged)), 403, "wrong token")
        assert c.post("/forms/guarded", params={"token": TOKEN}, content=encode(wjx_push("77"))).status_code == 200
        refused(c.post("/forms/guarded", params={"token": TOKEN}, content=encode(wjx_push(sign=False))), 401,
                "unsigned push")


# --- concurrency ---------------------------------------------------------------------------------


class OneAtATime:
    """A lock that records how many threads ever held it at once."""

    def __init__(self):
        import threading

        self._lock, self.holders, self.most, self.entered = threading.Lock(), 0, 0, 0

    def __enter__(self):
        self._lock.acquire()
        self.holders += 1
        self.entered += 1
        self.most = max(self.most, self.holders)
        time.sleep(0.001)  # widen the window a second holder would need

    def __exit__(self, *exc):
        self.holders -= 1
        self._lock.release()


def test_many_pushes_at_once_go_through_one_lock_and_each_entry_is_stored_once(tmp_path):
    import asyncio

    import httpx

    db, lock = state.open_db(tmp_path / "muster.db"), OneAtATime()
    app = create_app(db, FORMS, resolve_secret=resolve, lock=lock)

    async def burst():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as c:
            pushes = [c.post("/forms/signup", params={"token": TOKEN}, content=encode(jinshuju_push(n % 20 + 1)))
                      for n in range(60)]
            pushes += [c.post("/forms/survey", content=encode(wjx_push(str(n % 10 + 1)))) for n in range(30)]
            pushes += [c.post("/forms/signup", params={"token": "x"}, content=b"{}") for _ in range(10)]
            return await asyncio.gather(*pushes)

    answers = asyncio.run(burst())
    assert sorted(r.status_code for r in answers) == [200] * 90 + [403] * 10
    assert sorted(r.json()["status"] for r in answers[:90]).count("new") == 30
    assert len(state.inbox_items(db)) == 30 and len(state.quarantined(db)) == 10
    assert lock.most == 1 and lock.entered >= 100

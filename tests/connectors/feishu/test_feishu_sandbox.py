"""FeishuSandbox on its own: token rules with a fake clock, paging tokens, rate limits, chat and drive rules."""

from __future__ import annotations

import httpx
import pytest

from connectors._sandbox import FaultPlan
from connectors.feishu import FeishuSandbox

START = 1_700_000_000.0
API = "http://feishu.sandbox/open-apis"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> FeishuSandbox:
    sb = FeishuSandbox(clock=clock)
    for name in ("ou_a", "ou_b", "ou_c"):
        sb.add_user(name, name.upper())
    return sb


@pytest.fixture
def http(sandbox: FeishuSandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport(), base_url=API)


def get_token(http: httpx.Client, sandbox: FeishuSandbox) -> dict:
    return http.post("/auth/v3/tenant_access_token/internal", json=sandbox.credentials).json()


def authed(http: httpx.Client, sandbox: FeishuSandbox) -> httpx.Client:
    http.headers["Authorization"] = "Bearer " + get_token(http, sandbox)["tenant_access_token"]
    return http


def test_same_token_until_30_minutes_left_then_a_new_one_and_the_old_stays_valid(sandbox, http, clock):
    first = get_token(http, sandbox)
    assert first["expire"] == 7200
    clock.now += 3000
    again = get_token(http, sandbox)
    assert (again["tenant_access_token"], again["expire"]) == (first["tenant_access_token"], 4200)
    clock.now += 2500  # 1700 s left: under 30 min
    fresh = get_token(http, sandbox)
    assert fresh["tenant_access_token"] != first["tenant_access_token"] and fresh["expire"] == 7200
    assert sandbox.tokens.check(first["tenant_access_token"]) == "ok"
    clock.now += 1700
    assert sandbox.tokens.check(first["tenant_access_token"]) == "expired"
    assert sandbox.tokens.check(fresh["tenant_access_token"]) == "ok"


def test_bad_secret_and_invalid_token(sandbox, http):
    assert http.post("/auth/v3/tenant_access_token/internal",
                     json={**sandbox.credentials, "app_secret": "x"}).json()["code"] == 10014
    response = http.get("/im/v1/chats", headers={"Authorization": "Bearer t-nope"})
    assert (response.status_code, response.json()["code"]) == (400, 99991663)


def test_page_tokens_are_opaque_and_checked(sandbox, http):
    authed(http, sandbox)
    first = http.get("/contact/v3/users/find_by_department",
                     params={"department_id": "0", "page_size": 2}).json()["data"]
    assert [u["open_id"] for u in first["items"]] == ["ou_a", "ou_b"] and first["has_more"]
    rest = http.get("/contact/v3/users/find_by_department",
                    params={"department_id": "0", "page_size": 2, "page_token": first["page_token"]}).json()
    assert [u["open_id"] for u in rest["data"]["items"]] == ["ou_c"] and not rest["data"]["has_more"]
    bad = http.get("/contact/v3/users/find_by_department", params={"department_id": "0", "page_token": "zz"})
    assert bad.json()["code"] == 40012
    big = http.get("/contact/v3/users/find_by_department", params={"department_id": "0", "page_size": 51})
    assert big.json()["code"] == 40011
    other = http.get("/im/v1/chats", params={"page_token": first["page_token"]})  # another listing's token
    assert other.json()["code"] == 40012


def test_rate_limit_answers_429_with_ogw_headers(sandbox, http):
    authed(http, sandbox)
    answers = [http.get("/contact/v3/departments/0") for _ in range(51)]
    last = answers[-1]
    assert [a.status_code for a in answers[:50]] == [200] * 50
    assert (last.status_code, last.json()["code"]) == (429, 99991400)
    assert last.headers["x-ogw-ratelimit-limit"] == "50" and last.headers["x-ogw-ratelimit-reset"] == "1"


def test_revoke_fault_invalidates_tokens(clock):
    sb = FeishuSandbox(clock=clock, faults=FaultPlan(schedule={2: "revoke"}))
    http = httpx.Client(transport=sb.transport(), base_url=API)
    authed(http, sb)
    assert http.get("/im/v1/chats").json()["code"] == 99991663


def test_member_add_partial_failure_lists_owner_removal_and_bot_not_in_chat(sandbox, http):
    authed(http, sandbox)
    chat = sandbox.add_chat(None, "Night", "ou_a", ["ou_b"])
    url = f"/im/v1/chats/{chat}/members"
    partial = http.post(url, params={"member_id_type": "open_id", "succeed_type": 1},
                        json={"id_list": ["ou_c", "ou_b", "ou_ghost", "junk"]}).json()
    assert partial["data"]["not_existed_id_list"] == ["ou_ghost"] and partial["data"]["invalid_id_list"] == ["junk"]
    assert sandbox.chats[chat]["members"] == ["ou_a", "ou_b", "ou_c"]
    strict = http.post(url, params={"member_id_type": "open_id"}, json={"id_list": ["ou_ghost"]}).json()
    assert strict["code"] == 232007
    owner = http.request("DELETE", url, params={"member_id_type": "open_id"}, json={"id_list": ["ou_a", "ou_b"]})
    assert owner.json()["code"] == 232076 and len(sandbox.chats[chat]["members"]) == 3
    sandbox.chats[chat]["bot_in"] = False
    assert http.post(url, json={"id_list": ["ou_c"]}).json()["code"] == 232011
    assert http.get("/im/v1/chats/oc_nope").json()["code"] == 232006


def test_chat_member_cap(sandbox, http, monkeypatch):
    authed(http, sandbox)
    monkeypatch.setattr("connectors.feishu.sandbox._chats.CHAT_CAP", 2)
    chat = sandbox.add_chat(None, "Tiny", "ou_a", ["ou_b"])
    answer = http.post(f"/im/v1/chats/{chat}/members", json={"id_list": ["ou_c"]})
    assert answer.json()["code"] == 232013


def test_chat_create_and_message_uuid_idempotency(sandbox, http):
    authed(http, sandbox)
    body = {"name": "Intake", "owner_id": "ou_a", "user_id_list": ["ou_a"]}
    one = http.post("/im/v1/chats", params={"uuid": "k1"}, json=body).json()["data"]["chat_id"]
    two = http.post("/im/v1/chats", params={"uuid": "k1"}, json=body).json()["data"]["chat_id"]
    assert one == two and len(sandbox.chats) == 1
    msg = {"receive_id": "ou_b", "msg_type": "text", "content": '{"text":"hi"}', "uuid": "m1"}
    ids = {http.post("/im/v1/messages", params={"receive_id_type": "open_id"}, json=msg).json()["data"]["message_id"]
           for _ in range(2)}
    assert len(ids) == 1 and sandbox.messages == [("ou_b", "hi")]


def test_drive_type_must_match_and_transfer_keeps_old_owner(sandbox, http):
    authed(http, sandbox)
    sandbox.add_doc("doxcn1", "docx", "Register", "ou_a")
    base = "/drive/v1/permissions/doxcn1/members"
    assert http.get(base, params={"type": "sheet"}).json()["code"] == 1063001
    assert http.get(base).json()["code"] == 1063001
    assert http.get("/drive/v1/permissions/nope/members", params={"type": "docx"}).status_code == 404
    http.post(base, params={"type": "docx"}, json={"member_type": "openid", "member_id": "ou_b", "perm": "edit"})
    assert http.get(base, params={"type": "docx"}).json()["data"]["items"][0]["perm"] == "edit"
    http.post(base + "/transfer_owner", params={"type": "docx", "remove_old_owner": "false", "old_owner_perm": "view"},
              json={"member_type": "openid", "member_id": "ou_b"})
    doc = sandbox.docs["doxcn1"]
    assert doc["owner"] == "ou_b" and doc["members"] == {"ou_a": {"member_type": "openid", "perm": "view"}}

"""FeishuSandbox on its own: token rules, paging, rate limits, id types, contact writes, chat and drive rules."""

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
    for i, name in enumerate(("amy", "ben", "cal")):
        sb.add_user(name, name.title(), mobile=f"1380000000{i}")
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


USER_IDS = {"user_id_type": "user_id", "department_id_type": "department_id"}


def new_user(**body) -> dict:
    return {"name": "Dora", "mobile": "13899999999", "employee_type": 1, "department_ids": ["0"], **body}


def test_page_tokens_are_opaque_and_checked(sandbox, http):
    authed(http, sandbox)
    url = "/contact/v3/users/find_by_department"
    first = http.get(url, params={"department_id": "0", "page_size": 2}).json()["data"]
    assert [u["user_id"] for u in first["items"]] == ["amy", "ben"] and first["has_more"]
    rest = http.get(url, params={"department_id": "0", "page_size": 2, "page_token": first["page_token"]}).json()
    assert [u["user_id"] for u in rest["data"]["items"]] == ["cal"] and not rest["data"]["has_more"]
    assert http.get(url, params={"department_id": "0", "page_token": "zz"}).json()["code"] == 40012
    assert http.get(url, params={"department_id": "0", "page_size": 51}).json()["code"] == 40011
    other = http.get("/im/v1/chats", params={"page_token": first["page_token"]})  # another listing's token
    assert other.json()["code"] == 40012


def test_users_carry_all_three_ids_and_paths_read_ids_in_the_asked_type(sandbox, http):
    authed(http, sandbox)
    amy = sandbox.users["amy"]
    assert amy["open_id"].startswith("ou_") and amy["union_id"].startswith("on_")
    by_user_id = http.get("/contact/v3/users/amy", params={"user_id_type": "user_id"}).json()["data"]["user"]
    by_open_id = http.get(f"/contact/v3/users/{amy['open_id']}").json()["data"]["user"]  # default: open_id
    assert by_user_id == by_open_id and by_user_id["user_id"] == "amy"
    wrong_type = http.get("/contact/v3/users/amy")  # a user_id read as an open_id names nobody
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (400, 41050)
    assert http.get(f"/contact/v3/users/{amy['open_id']}", params={"user_id_type": "user_id"}).json()["code"] == 41050
    batch = http.get("/contact/v3/users/batch", params=[("user_ids", amy["open_id"]), ("user_ids", "ou_nobody"),
                                                          ("user_id_type", "open_id")]).json()["data"]
    assert [u["user_id"] for u in batch["items"]] == ["amy"]


def test_department_ids_follow_department_id_type(sandbox, http):
    authed(http, sandbox)
    sandbox.add_department("2", "Night", "0")
    sandbox.users["amy"]["department_ids"] = ["0", "2"]
    open_dept = sandbox.departments["2"]["open_department_id"]
    by_default = http.get(f"/contact/v3/departments/{open_dept}").json()["data"]["department"]
    assert by_default["department_id"] == "2" and by_default["parent_department_id"] == "0"
    assert http.get("/contact/v3/departments/2").json()["code"] == 40015  # "2" is no open_department_id
    user = http.get("/contact/v3/users/amy", params={"user_id_type": "user_id"}).json()["data"]["user"]
    assert user["department_ids"] == ["0", open_dept]
    user = http.get("/contact/v3/users/amy", params=USER_IDS).json()["data"]["user"]
    assert user["department_ids"] == ["0", "2"]


def test_create_user_sets_user_id_and_client_token_answers_the_first_result(sandbox, http):
    authed(http, sandbox)
    params = {**USER_IDS, "client_token": "k1"}
    first = http.post("/contact/v3/users", params=params, json=new_user(user_id="dora")).json()
    again = http.post("/contact/v3/users", params=params, json=new_user(user_id="dora")).json()
    assert first == again and first["data"]["user"]["user_id"] == "dora"
    assert len(sandbox.users) == 4 and sandbox.users["dora"]["status"]["is_activated"] is False
    other_token = http.post("/contact/v3/users", params={**USER_IDS, "client_token": "k2"},
                            json=new_user(user_id="dora")).json()
    assert other_token["code"] == 41011 and len(sandbox.users) == 4


@pytest.mark.parametrize(("body", "code"), [
    (new_user(user_id="x", name=""), 41006),
    (new_user(user_id="x", mobile=None), 41009),
    (new_user(user_id="x", mobile="12-34"), 41004),
    (new_user(user_id="x", email="not-an-email"), 41005),
    (new_user(user_id="x", department_ids=["9"]), 40015),
    (new_user(user_id="x", mobile="13800000000"), 41001),  # amy's
    (new_user(user_id="amy", mobile="13800000001"), 41001),  # amy's id with ben's mobile: the mobile wins
    (new_user(user_id="amy", mobile="13800000000"), 41011),  # amy's id with her own mobile
    (new_user(user_id="x", employee_type=None), 99992402),
])
def test_create_user_errors(sandbox, http, body, code):
    authed(http, sandbox)
    answer = http.post("/contact/v3/users", params=USER_IDS, json=body)
    assert answer.json()["code"] == code and len(sandbox.users) == 3


def test_patch_user_changes_given_fields_and_checks_contacts(sandbox, http):
    authed(http, sandbox)
    sandbox.add_department("2", "Night", "0")
    changed = http.patch("/contact/v3/users/amy", params=USER_IDS, json={"name": "Amy B", "department_ids": ["2"]})
    assert changed.json()["data"]["user"]["department_ids"] == ["2"]
    assert (sandbox.users["amy"]["name"], sandbox.users["amy"]["mobile"]) == ("Amy B", "13800000000")
    taken = http.patch("/contact/v3/users/amy", params=USER_IDS, json={"mobile": "+8613800000001"})
    assert taken.json()["code"] == 41001 and sandbox.users["amy"]["mobile"] == "13800000000"
    assert http.patch("/contact/v3/users/ghost", params=USER_IDS, json={"name": "G"}).json()["code"] == 41050


def test_delete_user_hands_chats_to_the_next_member_and_drops_grants(sandbox, http):
    authed(http, sandbox)
    chat = sandbox.add_chat(None, "Night", "amy", ["ben", "cal"])
    sandbox.add_doc("doxcn1", "docx", "Register", "ben")
    sandbox.grant("doxcn1", "amy", "edit")
    assert http.delete("/contact/v3/users/amy", params={"user_id_type": "user_id"}).json()["code"] == 0
    assert "amy" not in sandbox.users and sandbox.docs["doxcn1"]["members"] == {}
    assert (sandbox.chats[chat]["owner_id"], sandbox.chats[chat]["members"]) == ("ben", ["ben", "cal"])
    assert http.delete("/contact/v3/users/amy", params={"user_id_type": "user_id"}).json()["code"] == 41050


def test_create_department_assigns_an_id_and_refuses_a_sibling_of_the_same_name(sandbox, http):
    authed(http, sandbox)
    body = {"name": "Night", "parent_department_id": "0"}
    params = {**USER_IDS, "client_token": "d1"}
    first = http.post("/contact/v3/departments", params=params, json=body).json()["data"]["department"]
    assert http.post("/contact/v3/departments", params=params, json=body).json()["data"]["department"] == first
    assert first["department_id"] in sandbox.departments and first["parent_department_id"] == "0"
    twin = http.post("/contact/v3/departments", params={**USER_IDS, "client_token": "d2"}, json=body).json()
    assert twin["code"] == 40018
    orphan = http.post("/contact/v3/departments", params=USER_IDS, json={"name": "X", "parent_department_id": "9"})
    assert (orphan.status_code, orphan.json()["code"]) == (403, 40014)
    assert len(sandbox.departments) == 2


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
    chat = sandbox.add_chat(None, "Night", "amy", ["ben"])
    url = f"/im/v1/chats/{chat}/members"
    partial = http.post(url, params={"member_id_type": "user_id", "succeed_type": 1},
                        json={"id_list": ["cal", "ben", "ghost"]}).json()
    assert partial["data"]["not_existed_id_list"] == ["ghost"] and partial["data"]["invalid_id_list"] == []
    assert sandbox.chats[chat]["members"] == ["amy", "ben", "cal"]
    strict = http.post(url, params={"member_id_type": "user_id"}, json={"id_list": ["ghost"]}).json()
    assert strict["code"] == 232007
    owner = http.request("DELETE", url, params={"member_id_type": "user_id"}, json={"id_list": ["amy", "ben"]})
    assert owner.json()["code"] == 232076 and len(sandbox.chats[chat]["members"]) == 3
    sandbox.chats[chat]["bot_in"] = False
    assert http.post(url, params={"member_id_type": "user_id"}, json={"id_list": ["cal"]}).json()["code"] == 232011
    assert http.get("/im/v1/chats/oc_nope").json()["code"] == 232006


def test_chat_ids_are_read_and_written_in_the_asked_type(sandbox, http):
    authed(http, sandbox)
    chat = sandbox.add_chat(None, "Night", "amy", ["ben"])
    url = f"/im/v1/chats/{chat}/members"
    by_default = http.get(url).json()["data"]["items"]  # open_id
    assert [m["member_id"] for m in by_default] == [sandbox.users[u]["open_id"] for u in ("amy", "ben")]
    by_user_id = http.get(url, params={"member_id_type": "user_id"}).json()["data"]["items"]
    assert [(m["member_id_type"], m["member_id"]) for m in by_user_id] == [("user_id", "amy"), ("user_id", "ben")]
    # user_ids sent as open_ids are malformed open_ids; an open_id sent as a user_id names nobody
    partial = http.post(url, params={"succeed_type": 1}, json={"id_list": ["cal"]}).json()["data"]
    assert partial["invalid_id_list"] == ["cal"]
    cal_open = sandbox.users["cal"]["open_id"]
    partial = http.post(url, params={"member_id_type": "user_id", "succeed_type": 1},
                        json={"id_list": [cal_open]}).json()["data"]
    assert partial["not_existed_id_list"] == [cal_open] and "cal" not in sandbox.chats[chat]["members"]
    assert http.get(url, params={"member_id_type": "email"}).json()["code"] == 232015
    got = http.get(f"/im/v1/chats/{chat}", params={"user_id_type": "user_id"}).json()["data"]
    assert (got["owner_id"], got["owner_id_type"]) == ("amy", "user_id")
    wrong_owner = http.put(f"/im/v1/chats/{chat}", params={"user_id_type": "user_id"},
                           json={"owner_id": sandbox.users["ben"]["open_id"]})
    assert wrong_owner.json()["code"] == 232007 and sandbox.chats[chat]["owner_id"] == "amy"


def test_chat_member_cap(sandbox, http, monkeypatch):
    authed(http, sandbox)
    monkeypatch.setattr("connectors.feishu.sandbox._chats.CHAT_CAP", 2)
    chat = sandbox.add_chat(None, "Tiny", "amy", ["ben"])
    answer = http.post(f"/im/v1/chats/{chat}/members", params={"member_id_type": "user_id"}, json={"id_list": ["cal"]})
    assert answer.json()["code"] == 232013


def test_chat_create_and_message_uuid_idempotency(sandbox, http):
    authed(http, sandbox)
    body = {"name": "Intake", "owner_id": "amy", "user_id_list": ["ben"]}
    params = {"uuid": "k1", "user_id_type": "user_id"}
    one = http.post("/im/v1/chats", params=params, json=body).json()["data"]
    two = http.post("/im/v1/chats", params=params, json=body).json()["data"]
    assert one["chat_id"] == two["chat_id"] and len(sandbox.chats) == 1 and one["owner_id"] == "amy"
    assert http.post("/im/v1/chats", params={"uuid": "k2"}, json=body).json()["code"] == 232007  # default open_id
    msg = {"receive_id": "ben", "msg_type": "text", "content": '{"text":"hi"}', "uuid": "m1"}
    ids = {http.post("/im/v1/messages", params={"receive_id_type": "user_id"}, json=msg).json()["data"]["message_id"]
           for _ in range(2)}
    assert len(ids) == 1 and sandbox.messages == [("ben", "hi")]
    assert http.post("/im/v1/messages", params={"receive_id_type": "open_id"}, json=msg).json()["code"] == 230013


def test_drive_type_must_match_and_transfer_keeps_old_owner(sandbox, http):
    authed(http, sandbox)
    sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    base = "/drive/v1/permissions/doxcn1/members"
    assert http.get(base, params={"type": "sheet"}).json()["code"] == 1063001
    assert http.get(base).json()["code"] == 1063001
    assert http.get("/drive/v1/permissions/nope/members", params={"type": "docx"}).status_code == 404
    added = http.post(base, params={"type": "docx"}, json={"member_type": "userid", "member_id": "ben", "perm": "edit"})
    assert added.json()["data"]["member"]["member_id"] == "ben"
    listed = http.get(base, params={"type": "docx"}).json()["data"]["items"]
    assert [(m["member_type"], m["member_id"], m["perm"]) for m in listed] == [
        ("openid", sandbox.users["ben"]["open_id"], "edit")]
    wrong = http.post(base, params={"type": "docx"}, json={"member_type": "openid", "member_id": "cal", "perm": "view"})
    assert wrong.json()["code"] == 1063001
    http.post(base + "/transfer_owner", params={"type": "docx", "remove_old_owner": "false", "old_owner_perm": "view"},
              json={"member_type": "userid", "member_id": "ben"})
    doc = sandbox.docs["doxcn1"]
    assert doc["owner"] == "ben" and doc["members"] == {"amy": {"perm": "view"}}
    gone = http.request("DELETE", base + "/amy", params={"type": "docx", "member_type": "userid"})
    assert gone.json()["code"] == 0 and doc["members"] == {}


def test_the_minute_quota_of_the_tier_holds_even_when_each_second_is_under_50(clock):
    sb = FeishuSandbox(clock=clock)
    http = httpx.Client(transport=sb.transport(), base_url=API)
    authed(http, sb)
    codes = []
    for i in range(1001):
        clock.now += 0.05 if i else 0  # 20 a second: never over the 50/s window
        codes.append(http.get("/contact/v3/departments/0").status_code)
    assert codes[:1000] == [200] * 1000 and codes[1000] == 429

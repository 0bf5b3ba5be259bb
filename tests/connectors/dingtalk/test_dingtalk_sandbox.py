from __future__ import annotations

import httpx
import pytest

from connectors._sandbox import FaultPlan
from connectors.dingtalk import DingTalkSandbox


def post(http: httpx.Client, token: str, path: str, body: dict) -> dict:
    response = http.post(path, params={"access_token": token}, json=body)
    assert response.status_code == 200  # the old API never uses the HTTP status
    return response.json()


def creds_params(sandbox: DingTalkSandbox) -> dict:
    c = sandbox.credentials
    return {"appkey": c["appkey"], "appsecret": c["appsecret"]}


# --- tokens ----------------------------------------------------------------------------


def test_gettoken_envelope_and_same_token_while_valid(http, sandbox, clock):
    first = http.get("/gettoken", params=creds_params(sandbox)).json()
    assert (first["errcode"], first["errmsg"], first["expires_in"]) == (0, "ok", 7200)
    assert first["request_id"]
    clock.advance(3600)
    again = http.get("/gettoken", params=creds_params(sandbox)).json()
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 7200  # extended
    clock.advance(7199)  # valid thanks to the extension
    assert post(http, first["access_token"], "/topapi/v2/department/get", {"dept_id": 1})["errcode"] == 0


def test_token_expires_after_ttl_with_42001_and_a_new_one_is_issued(http, sandbox, clock, token):
    clock.advance(7200)
    assert post(http, token, "/topapi/v2/department/get", {"dept_id": 1})["errcode"] == 42001
    fresh = http.get("/gettoken", params=creds_params(sandbox)).json()["access_token"]
    assert fresh != token
    assert post(http, fresh, "/topapi/v2/department/get", {"dept_id": 1})["errcode"] == 0


@pytest.mark.parametrize("params", [{"access_token": "bogus"}, {}])
def test_unknown_or_missing_token_is_40014(http, params):
    answer = http.post("/topapi/v2/department/get", params=params, json={"dept_id": 1}).json()
    assert answer["errcode"] == 40014


def test_wrong_secret_is_40089_with_http_200(http, sandbox):
    response = http.get("/gettoken", params={**creds_params(sandbox), "appsecret": "nope"})
    assert response.status_code == 200 and response.json()["errcode"] == 40089


def test_revoke_fault_expires_the_token_early(sandbox, clock):
    sandbox.faults = FaultPlan(schedule={2: "revoke"})
    with httpx.Client(transport=sandbox.transport(), base_url="http://dingtalk.sandbox") as http:
        token = http.get("/gettoken", params=creds_params(sandbox)).json()["access_token"]
        assert post(http, token, "/topapi/v2/department/get", {"dept_id": 1})["errcode"] == 42001


def test_new_api_token_is_the_same_app_token(http, sandbox, token):
    c = sandbox.credentials
    answer = http.post("/v1.0/oauth2/accessToken", json={"appKey": c["appkey"], "appSecret": c["appsecret"]})
    assert answer.status_code == 200 and answer.json() == {"accessToken": token, "expireIn": 7200}


def test_new_api_errors_are_non_2xx_json(http, sandbox, token):
    sandbox.add_user("u1", "Li", mobile="13800000001")
    union_id = sandbox.users["u1"]["unionid"]
    good = http.get(f"/v1.0/contact/users/{union_id}", headers={"x-acs-dingtalk-access-token": token})
    assert good.status_code == 200 and good.json()["nick"] == "Li"
    no_token = http.get(f"/v1.0/contact/users/{union_id}")
    assert no_token.status_code == 400 and no_token.json()["code"] == "InvalidAuthentication"
    assert "requestid" in no_token.json()
    missing = http.get("/v1.0/nowhere", headers={"x-acs-dingtalk-access-token": token})
    assert missing.status_code == 404 and missing.json()["code"]
    bad = http.post("/v1.0/oauth2/accessToken", json={"appKey": "x", "appSecret": "y"})
    assert bad.status_code == 400 and set(bad.json()) == {"code", "message", "requestid"}


def test_unknown_old_route_is_errcode_404_in_http_200(http, token):
    response = http.post("/topapi/nothing", params={"access_token": token}, json={})
    assert response.status_code == 200 and response.json()["errcode"] == 404


def test_permission_error_is_88_with_sub_code(http, sandbox, token):
    sandbox.denied.add("/topapi/v2/user/get")
    answer = post(http, token, "/topapi/v2/user/get", {"userid": "u1"})
    assert (answer["errcode"], answer["sub_code"]) == (88, "60011") and answer["sub_msg"]


def test_5xx_fault_is_system_busy(sandbox):
    sandbox.faults = FaultPlan(schedule={1: "5xx"})
    with httpx.Client(transport=sandbox.transport(), base_url="http://dingtalk.sandbox") as http:
        answer = http.get("/gettoken", params=creds_params(sandbox))
    assert answer.status_code == 200 and answer.json()["errcode"] == -1


# --- rate limits -----------------------------------------------------------------------


def test_twenty_calls_per_second_per_api_then_90002(http, token, clock):
    answers = [post(http, token, "/topapi/v2/department/get", {"dept_id": 1})["errcode"] for _ in range(21)]
    assert answers[:20] == [0] * 20 and answers[20] == 90002
    assert post(http, token, "/topapi/v2/department/listsub", {"dept_id": 1})["errcode"] == 0  # other API
    clock.advance(1.0)
    assert post(http, token, "/topapi/v2/department/get", {"dept_id": 1})["errcode"] == 0


def test_rate_limits_can_be_turned_off(clock):
    sandbox = DingTalkSandbox(clock=clock, rate_limits=False)
    with httpx.Client(transport=sandbox.transport(), base_url="http://dingtalk.sandbox") as http:
        token = http.get("/gettoken", params=creds_params(sandbox)).json()["access_token"]
        answers = {
            post(http, token, "/topapi/v2/department/get", {"dept_id": 1})["errcode"] for _ in range(50)
        }
    assert answers == {0}


# --- departments and paging ------------------------------------------------------------


def test_listsub_and_listsubid_go_one_level_deep(http, sandbox, token):
    sandbox.add_department(2, "A")
    sandbox.add_department(3, "A1", parent_id=2)
    rows = post(http, token, "/topapi/v2/department/listsub", {"dept_id": 1})["result"]
    assert [(r["dept_id"], r["name"], r["parent_id"]) for r in rows] == [(2, "A", 1)]
    assert post(http, token, "/topapi/v2/department/listsubid", {"dept_id": 2})["result"] == {
        "dept_id_list": [3]
    }
    assert post(http, token, "/topapi/v2/department/get", {"dept_id": 99})["errcode"] == 60003


def test_user_list_pages_direct_members_with_numeric_cursor(http, sandbox, token):
    sandbox.add_department(2, "A")
    sandbox.add_department(3, "A1", parent_id=2)
    for i in range(250):
        sandbox.add_user(f"u{i:03}", f"U{i}", departments=[2])
    sandbox.add_user("deep", "Deep", departments=[3])
    seen, cursor, pages = [], 0, 0
    while cursor is not None:
        result = post(http, token, "/topapi/v2/user/list", {"dept_id": 2, "cursor": cursor, "size": 100})[
            "result"
        ]
        seen += [row["userid"] for row in result["list"]]
        pages += 1
        cursor = result.get("next_cursor") if result["has_more"] else None
    assert pages == 3 and len(seen) == 250 and "deep" not in seen


@pytest.mark.parametrize("size", [0, 101, "x"])
def test_user_list_rejects_bad_size_with_400002(http, token, size):
    assert (
        post(http, token, "/topapi/v2/user/list", {"dept_id": 1, "cursor": 0, "size": size})["errcode"]
        == 400002
    )


def test_list_rows_say_leader_for_that_department_and_get_says_all(http, sandbox, token):
    sandbox.add_department(2, "A")
    sandbox.add_user("boss", "Boss", departments=[1, 2], leader_of=[2])
    row1 = post(http, token, "/topapi/v2/user/list", {"dept_id": 1, "cursor": 0, "size": 10})["result"][
        "list"
    ][0]
    row2 = post(http, token, "/topapi/v2/user/list", {"dept_id": 2, "cursor": 0, "size": 10})["result"][
        "list"
    ][0]
    assert (row1["leader"], row2["leader"]) == (False, True)
    detail = post(http, token, "/topapi/v2/user/get", {"userid": "boss"})["result"]
    assert detail["leader_in_dept"] == [{"dept_id": 1, "leader": False}, {"dept_id": 2, "leader": True}]


# --- users -----------------------------------------------------------------------------


def test_user_create_rules(http, sandbox, token):
    sandbox.add_user("taken", "T", mobile="13800000001")
    base = {"name": "N", "mobile": "13800000002", "dept_id_list": "1"}
    created = post(http, token, "/topapi/v2/user/create", {**base, "userid": "new"})
    assert created["result"]["userid"] == "new" and sandbox.users["new"]["dept_id_list"] == [1]
    assert post(http, token, "/topapi/v2/user/create", {**base, "userid": "taken"})["errcode"] == 60102
    dup_mobile = {**base, "userid": "x", "mobile": "13800000001"}
    assert post(http, token, "/topapi/v2/user/create", dup_mobile)["errcode"] == 60104
    bad_dept = {**base, "userid": "y", "mobile": "13800000003", "dept_id_list": "9"}
    assert post(http, token, "/topapi/v2/user/create", bad_dept)["errcode"] == 60003
    assert (
        post(http, token, "/topapi/v2/user/create", {"name": "N", "dept_id_list": "1"})["errcode"] == 400002
    )
    assert post(http, token, "/topapi/v2/user/delete", {"userid": "ghost"})["errcode"] == 60121
    assert post(http, token, "/topapi/v2/user/get", {"userid": "ghost"})["errcode"] == 60121


def test_user_update_is_all_or_nothing(http, sandbox, token):
    sandbox.add_user("a", "A", mobile="1")
    sandbox.add_user("b", "B", mobile="2")
    answer = post(http, token, "/topapi/v2/user/update", {"userid": "b", "name": "Bee", "mobile": "1"})
    assert answer["errcode"] == 60104 and sandbox.users["b"]["name"] == "B"


def test_write_calls_count_failures_too(http, sandbox, token):
    post(http, token, "/topapi/v2/user/delete", {"userid": "ghost"})
    post(http, token, "/topapi/v2/user/get", {"userid": "ghost"})
    assert sandbox.write_calls == 1


# --- chats -----------------------------------------------------------------------------


@pytest.fixture
def people(sandbox):
    for i in range(60):
        sandbox.add_user(f"p{i:02}", f"P{i}")
    return [f"p{i:02}" for i in range(60)]


def test_chat_create_limits(http, token, people):
    assert (
        post(http, token, "/chat/create", {"name": "T", "owner": "p00", "useridlist": people[:41]})["errcode"]
        == 400002
    )
    assert (
        post(http, token, "/chat/create", {"name": "T", "owner": "p50", "useridlist": people[:5]})["errcode"]
        == 400002
    )
    assert (
        post(http, token, "/chat/create", {"name": "x" * 21, "owner": "p00", "useridlist": ["p00"]})[
            "errcode"
        ]
        == 400002
    )
    created = post(http, token, "/chat/create", {"name": "T", "owner": "p00", "useridlist": people[:40]})
    assert created["errcode"] == 0 and created["chatid"].startswith("chat") and created["openConversationId"]


def test_chat_update_is_atomic_and_capped(http, sandbox, token, people):
    chatid = sandbox.add_chat(None, "T", "p00", people[:10])
    too_many = post(http, token, "/chat/update", {"chatid": chatid, "add_useridlist": people[10:51]})
    assert too_many["errcode"] == 400002 and len(sandbox.chats[chatid]["useridlist"]) == 10
    orphaned = post(
        http,
        token,
        "/chat/update",
        {"chatid": chatid, "add_useridlist": people[10:20], "del_useridlist": ["p00"]},
    )
    assert orphaned["errcode"] == 400002 and len(sandbox.chats[chatid]["useridlist"]) == 10  # nothing applied
    handover = post(
        http,
        token,
        "/chat/update",
        {"chatid": chatid, "owner": "p10", "add_useridlist": ["p10"], "del_useridlist": ["p00"]},
    )
    assert handover["errcode"] == 0
    chat = http.get("/chat/get", params={"access_token": token, "chatid": chatid}).json()["chat_info"]
    assert chat["owner"] == "p10" and "p00" not in chat["useridlist"] and "p10" in chat["useridlist"]


def test_chat_update_add_present_and_remove_absent_are_noops(http, sandbox, token, people):
    chatid = sandbox.add_chat("chatA", "T", "p00", people[:3])
    answer = post(
        http, token, "/chat/update", {"chatid": chatid, "add_useridlist": ["p01"], "del_useridlist": ["p59"]}
    )
    assert answer["errcode"] == 0 and sandbox.chats[chatid]["useridlist"] == people[:3]


def test_chat_update_accepts_the_sdk_defaults(http, sandbox, token, people):
    chatid = sandbox.add_chat("chatA", "Team", "p00", people[:3])
    body = {
        "chatid": chatid,
        "name": None,
        "owner": None,
        "add_useridlist": [],
        "del_useridlist": [],
        "icon": "",
        "chatBannedType": 0,
        "searchable": 0,
        "validationType": 0,
        "mentionAllAuthority": 0,
        "showHistoryType": 0,
        "managementType": 0,
    }
    assert post(http, token, "/chat/update", body)["errcode"] == 0
    assert sandbox.chats[chatid]["name"] == "Team" and sandbox.chats[chatid]["owner"] == "p00"


def test_chat_member_cap_is_1000(http, sandbox, token):
    for i in range(1010):
        sandbox.add_user(f"m{i}", "M")
    chatid = sandbox.add_chat(None, "Big", "m0", [f"m{i}" for i in range(990)])
    full = post(
        http, token, "/chat/update", {"chatid": chatid, "add_useridlist": [f"m{i}" for i in range(990, 1001)]}
    )
    assert full["errcode"] == 34028
    fits = post(
        http, token, "/chat/update", {"chatid": chatid, "add_useridlist": [f"m{i}" for i in range(990, 1000)]}
    )
    assert fits["errcode"] == 0 and len(sandbox.chats[chatid]["useridlist"]) == 1000


def test_unknown_chat_and_unknown_member(http, sandbox, token, people):
    assert (
        http.get("/chat/get", params={"access_token": token, "chatid": "chatnope"}).json()["errcode"] == 34001
    )
    chatid = sandbox.add_chat(None, "T", "p00", people[:2])
    assert (
        post(http, token, "/chat/update", {"chatid": chatid, "add_useridlist": ["ghost"]})["errcode"] == 60121
    )


# --- work notices ----------------------------------------------------------------------


def notice(sandbox: DingTalkSandbox, users: str, text: str) -> dict:
    return {
        "agent_id": sandbox.credentials["agentid"],
        "userid_list": users,
        "msg": {"msgtype": "text", "text": {"content": text}},
    }


def test_same_text_to_same_user_once_a_day(http, sandbox, token, clock):
    sandbox.add_user("a", "A")
    sandbox.add_user("b", "B")
    first = post(http, token, "/topapi/message/corpconversation/asyncsend_v2", notice(sandbox, "a,b", "hi"))
    again = post(http, token, "/topapi/message/corpconversation/asyncsend_v2", notice(sandbox, "a", "hi"))
    assert first["errcode"] == again["errcode"] == 0 and first["task_id"] and again["task_id"]
    assert sandbox.messages == [("a", "hi"), ("b", "hi")]
    clock.advance(86400)
    token = http.get("/gettoken", params=creds_params(sandbox)).json()["access_token"]
    post(http, token, "/topapi/message/corpconversation/asyncsend_v2", notice(sandbox, "a", "hi"))
    assert sandbox.messages[-1] == ("a", "hi") and len(sandbox.messages) == 3


def test_500_notices_per_user_per_day(http, sandbox, token):
    sandbox.rate_limits = False
    sandbox.add_user("a", "A")
    for i in range(501):
        post(http, token, "/topapi/message/corpconversation/asyncsend_v2", notice(sandbox, "a", f"n{i}"))
    assert len(sandbox.messages) == 500


def test_notice_validation(http, sandbox, token):
    sandbox.add_user("a", "A")
    wrong_agent = {**notice(sandbox, "a", "x"), "agent_id": 1}
    assert (
        post(http, token, "/topapi/message/corpconversation/asyncsend_v2", wrong_agent)["errcode"] == 400002
    )
    as_list = {**notice(sandbox, "a", "x"), "userid_list": ["a"]}
    assert post(http, token, "/topapi/message/corpconversation/asyncsend_v2", as_list)["errcode"] == 400002
    ghost = post(http, token, "/topapi/message/corpconversation/asyncsend_v2", notice(sandbox, "ghost", "x"))
    assert ghost["errcode"] == 0 and sandbox.messages == []  # asynchronous: skipped silently


def test_listid_gives_direct_member_ids(http, sandbox, token):
    sandbox.add_department(2, "A")
    sandbox.add_user("a", "A", departments=[2])
    sandbox.add_user("b", "B", departments=[1])
    assert post(http, token, "/topapi/user/listid", {"dept_id": 2})["result"] == {"userid_list": ["a"]}
    assert post(http, token, "/topapi/user/listid", {"dept_id": 9})["errcode"] == 60003


def test_department_create_assigns_ids_and_refuses_a_taken_name(http, sandbox, token):
    created = post(http, token, "/topapi/v2/department/create", {"name": "Training", "parent_id": 1})
    dept_id = created["result"]["dept_id"]
    assert sandbox.departments[dept_id] == {"dept_id": dept_id, "name": "Training", "parent_id": 1}
    again = post(http, token, "/topapi/v2/department/create", {"name": "Training", "parent_id": 1})
    assert again["errcode"] == 60008
    orphan = post(http, token, "/topapi/v2/department/create", {"name": "X", "parent_id": 42})
    assert orphan["errcode"] == 60003


def test_legacy_user_list_pages_by_offset_for_the_sdk(http, sandbox, token):
    for i in range(3):
        sandbox.add_user(f"u{i}", "U", departments=[1], leader_of=[1] if i == 0 else [])
    first = http.get("/user/list", params={"access_token": token, "department_id": 1, "offset": 0, "size": 2})
    rest = http.get("/user/list", params={"access_token": token, "department_id": 1, "offset": 2, "size": 2})
    assert [u["userid"] for u in first.json()["userlist"]] == ["u0", "u1"] and first.json()["hasMore"] is True
    assert [u["userid"] for u in rest.json()["userlist"]] == ["u2"] and rest.json()["hasMore"] is False
    assert first.json()["userlist"][0]["isLeaderInDepts"] == "{1:true}"


def test_new_api_unknown_user_is_404_json(http, token):
    answer = http.get("/v1.0/contact/users/nobody", headers={"x-acs-dingtalk-access-token": token})
    assert answer.status_code == 404 and answer.json()["code"]


def test_invalid_json_body_is_400002(http, token):
    answer = http.post("/topapi/v2/user/get", params={"access_token": token}, content=b"not json")
    assert answer.status_code == 200 and answer.json()["errcode"] == 400002


def test_state_survives_export_and_import_into_a_sandbox_of_the_same_seed(sandbox, clock):
    import pickle

    sandbox.add_department(2, "A")
    sandbox.add_user("a", "A", departments=[2])
    chatid = sandbox.add_chat(None, "T", "a", [])
    copy = DingTalkSandbox(clock=clock)
    copy.import_state(pickle.loads(pickle.dumps(sandbox.export_state())))
    assert copy.credentials == sandbox.credentials
    assert (copy.users, copy.departments, copy.chats[chatid]["owner"]) == (
        sandbox.users,
        sandbox.departments,
        "a",
    )

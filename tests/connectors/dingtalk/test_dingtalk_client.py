from __future__ import annotations

import json

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors._errors import (
    AlreadyExists,
    AuthError,
    CapacityExceeded,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connectors._http import RetryPolicy
from connectors.dingtalk.client import BASE_URL, DingTalkClient, errcode_error

SECRET = "s3cr3t-app-secret"
TOKEN_OK = {"errcode": 0, "errmsg": "ok", "access_token": "T1", "expires_in": 7200}


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_called=True, using=None)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(router: respx.MockRouter, sleeps: list[float], attempts: int = 3) -> DingTalkClient:
    retry = RetryPolicy(attempts=attempts, backoff=0.0, jitter=0.0, sleep=sleeps.append)
    return DingTalkClient(
        appkey="appk",
        appsecret=SecretStr(SECRET),
        transport=httpx.MockTransport(router.handler),
        retry=retry,
        rate_limit=False,
    )


@pytest.fixture
def client(router: respx.MockRouter, sleeps: list[float]) -> DingTalkClient:
    return make_client(router, sleeps)


def token_route(router: respx.MockRouter, *answers: dict) -> respx.Route:
    route = router.get(f"{BASE_URL}/gettoken", params={"appkey": "appk", "appsecret": SECRET})
    route.side_effect = [httpx.Response(200, json=a) for a in answers] if len(answers) > 1 else None
    if len(answers) == 1:
        route.respond(json=answers[0])
    return route


def ok(**fields) -> httpx.Response:
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "request_id": "r1", **fields})


def err(errcode: int, **extra) -> httpx.Response:
    return httpx.Response(200, json={"errcode": errcode, "errmsg": "boom", "request_id": "r1", **extra})


# --- request shape ---------------------------------------------------------------------


def test_get_user_posts_json_with_token_in_query(router, client):
    token_route(router, TOKEN_OK)
    user = {
        "userid": "u1",
        "name": "Li",
        "mobile": "13800000001",
        "dept_id_list": [1, 2],
        "unionid": "un1",
        "leader_in_dept": [{"dept_id": 2, "leader": True}],
    }
    api = router.post(f"{BASE_URL}/topapi/v2/user/get", params={"access_token": "T1"}).mock(
        return_value=ok(result=user)
    )
    got = client.get_user("u1")
    sent = api.calls.last.request
    assert json.loads(sent.content) == {"userid": "u1"}
    assert sent.headers["content-type"] == "application/json"
    assert (got.userid, got.dept_id_list, got.leader_in_dept[0].leader) == ("u1", [1, 2], True)


def test_token_is_fetched_once_and_reused(router, client):
    tokens = token_route(router, TOKEN_OK)
    router.post(f"{BASE_URL}/topapi/v2/department/get").mock(
        return_value=ok(result={"dept_id": 1, "name": "R"})
    )
    client.get_department(1)
    client.get_department(1)
    assert tokens.call_count == 1
    assert client.auth.fetches == 1


def test_chat_get_is_a_get_with_chatid_and_token(router, client):
    token_route(router, TOKEN_OK)
    api = router.get(f"{BASE_URL}/chat/get", params={"chatid": "chatX", "access_token": "T1"}).mock(
        return_value=ok(chat_info={"name": "N", "owner": "u1", "useridlist": ["u1", "u2"]})
    )
    chat = client.get_chat("chatX")
    assert api.called and (chat.owner, chat.useridlist) == ("u1", ["u1", "u2"])


def test_update_chat_sends_only_what_changes(router, client):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/chat/update").mock(return_value=ok())
    client.update_chat("chatX", add=["a", "b"], owner="a")
    client.update_chat("chatX", remove=["c"])
    bodies = [json.loads(c.request.content) for c in api.calls]
    assert bodies == [
        {"chatid": "chatX", "owner": "a", "add_useridlist": ["a", "b"]},
        {"chatid": "chatX", "del_useridlist": ["c"]},
    ]


def test_create_chat_body_and_answer(router, client):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/chat/create").mock(return_value=ok(chatid="chat123", conversationTag=2))
    assert client.create_chat("Team", "u1", ["u1", "u2"]) == "chat123"
    body = json.loads(api.calls.last.request.content)
    assert (body["name"], body["owner"], body["useridlist"], body["showHistoryType"]) == (
        "Team",
        "u1",
        ["u1", "u2"],
        0,
    )


def test_work_notice_uses_agent_id_and_comma_list(router, client):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/topapi/message/corpconversation/asyncsend_v2").mock(
        return_value=ok(task_id=42)
    )
    assert client.send_work_notice(777, ["u1", "u2"], "hello") == 42
    assert json.loads(api.calls.last.request.content) == {
        "agent_id": 777,
        "userid_list": "u1,u2",
        "msg": {"msgtype": "text", "text": {"content": "hello"}},
    }


def test_new_api_path_gets_token_in_header_not_query(router, client):
    token_route(router, TOKEN_OK)
    api = router.get(f"{BASE_URL}/v1.0/contact/users/un1").respond(json={"nick": "Li"})
    client.request("GET", "/v1.0/contact/users/un1")
    sent = api.calls.last.request
    assert sent.headers["x-acs-dingtalk-access-token"] == "T1"
    assert "access_token" not in sent.url.params


def test_writes_are_counted_apart_from_reads(router, client):
    token_route(router, TOKEN_OK)
    router.post(f"{BASE_URL}/topapi/v2/user/delete").mock(return_value=ok())
    router.post(f"{BASE_URL}/topapi/v2/user/get").mock(return_value=ok(result={"userid": "u1"}))
    client.delete_user("u1")
    client.get_user("u1")
    assert client.writes == 1
    assert sum(client.calls.values()) == 2


# --- paging ----------------------------------------------------------------------------


def test_list_users_follows_numeric_cursor_across_pages(router, client):
    token_route(router, TOKEN_OK)
    pages = [
        ok(result={"has_more": True, "next_cursor": 100, "list": [{"userid": f"a{i}"} for i in range(100)]}),
        ok(result={"has_more": True, "next_cursor": 200, "list": [{"userid": f"b{i}"} for i in range(100)]}),
        ok(result={"has_more": False, "list": [{"userid": "c0", "leader": True}]}),
    ]
    api = router.post(f"{BASE_URL}/topapi/v2/user/list").mock(side_effect=pages)
    users = list(client.list_users(7))
    assert len(users) == 201 and users[-1].leader is True
    bodies = [json.loads(c.request.content) for c in api.calls]
    assert [b["cursor"] for b in bodies] == [0, 100, 200]
    assert all(b["dept_id"] == 7 and b["size"] == 100 for b in bodies)


def test_paging_loop_is_refused(router, client):
    token_route(router, TOKEN_OK)
    page = {"has_more": True, "next_cursor": 100, "list": [{"userid": "a"}]}
    router.post(f"{BASE_URL}/topapi/v2/user/list").mock(side_effect=[ok(result=page), ok(result=page)])
    with pytest.raises(InvalidPayload, match="paging loop"):
        list(client.list_users(1))


# --- error table -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "sub_code", "cls", "code"),
    [
        (-1, None, TransientError, -1),
        (88, 60011, PermissionDenied, "88/60011"),
        (88, None, PermissionDenied, 88),
        (88, 40014, TokenExpired, "88/40014"),
        (60011, None, PermissionDenied, 60011),
        (60020, None, PermissionDenied, 60020),
        (60003, None, NotFound, 60003),
        (60121, None, NotFound, 60121),
        (34001, None, NotFound, 34001),
        (60102, None, AlreadyExists, 60102),
        (60104, None, AlreadyExists, 60104),
        (40009, None, AlreadyExists, 40009),
        (60008, None, AlreadyExists, 60008),
        (34028, None, CapacityExceeded, 34028),
        (90020, None, CapacityExceeded, 90020),
        (90002, None, RateLimited, 90002),
        (90018, None, RateLimited, 90018),
        (90019, None, RateLimited, 90019),
        (40014, None, TokenExpired, 40014),
        (42001, None, TokenExpired, 42001),
        (40089, None, AuthError, 40089),
        (404, None, InvalidPayload, 404),
        (400002, None, InvalidPayload, 400002),
        (123456, None, InvalidPayload, 123456),
    ],
)
def test_errcode_table(errcode, sub_code, cls, code):
    exc = errcode_error(errcode, sub_code, "msg", "/x")
    assert type(exc) is cls
    assert exc.code == code and exc.service == "dingtalk" and exc.api == "/x"


def test_rate_limit_codes_carry_a_one_second_wait():
    assert errcode_error(90002, None, "punished", "/x").retry_after == 1.0


def test_sub_code_and_sub_msg_reach_the_error(router, client):
    token_route(router, TOKEN_OK)
    router.post(f"{BASE_URL}/topapi/v2/user/get").mock(
        return_value=err(88, sub_code="60011", sub_msg="没有调用该接口的权限")
    )
    with pytest.raises(PermissionDenied) as caught:
        client.get_user("u1")
    assert caught.value.code == "88/60011" and "没有调用该接口的权限" in str(caught.value)


# --- retries ---------------------------------------------------------------------------


def test_rate_limit_is_waited_out_then_succeeds(router, client, sleeps):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/topapi/v2/user/get").mock(
        side_effect=[err(90002), ok(result={"userid": "u1"})]
    )
    assert client.get_user("u1").userid == "u1"
    assert api.call_count == 2 and sleeps == [1.0]


@pytest.mark.parametrize("answer", [err(-1), httpx.Response(502, text="<html>bad gateway</html>")])
def test_system_busy_and_5xx_are_retried_n_times(router, client, sleeps, answer):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/topapi/v2/user/get").mock(return_value=answer)
    with pytest.raises(TransientError):
        client.get_user("u1")
    assert api.call_count == 3 and len(sleeps) == 2


@pytest.mark.parametrize("errcode", [60121, 400002, 88, 60102])
def test_permanent_errors_are_not_retried(router, client, sleeps, errcode):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/topapi/v2/user/get").mock(return_value=err(errcode))
    with pytest.raises(Exception) as caught:
        client.get_user("u1")
    assert not isinstance(caught.value, TransientError)
    assert api.call_count == 1 and sleeps == []


def test_chat_create_is_not_resent_after_a_failure_it_may_have_survived(router, client):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/chat/create").mock(return_value=err(-1))
    with pytest.raises(TransientError):
        client.create_chat("T", "u1", ["u1"])
    assert api.call_count == 1


def test_chat_create_is_resent_after_a_rate_limit_refusal(router, client):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/chat/create").mock(side_effect=[err(90002), ok(chatid="c1")])
    assert client.create_chat("T", "u1", ["u1"]) == "c1"
    assert api.call_count == 2


@pytest.mark.parametrize("errcode", [42001, 40014, 33001, 40001])
def test_expired_token_is_refreshed_exactly_once(router, client, errcode):
    tokens = token_route(router, TOKEN_OK, {**TOKEN_OK, "access_token": "T2"})
    api = router.post(f"{BASE_URL}/topapi/v2/user/get").mock(
        side_effect=[err(errcode), ok(result={"userid": "u"})]
    )
    assert client.get_user("u").userid == "u"
    assert tokens.call_count == 2 and api.call_count == 2
    assert api.calls.last.request.url.params["access_token"] == "T2"


def test_token_still_refused_after_refresh_raises_without_looping(router, client):
    tokens = token_route(router, TOKEN_OK, {**TOKEN_OK, "access_token": "T2"})
    api = router.post(f"{BASE_URL}/topapi/v2/user/get").mock(return_value=err(40014))
    with pytest.raises(TokenExpired):
        client.get_user("u")
    assert tokens.call_count == 2 and api.call_count == 2


def test_new_api_invalid_authentication_refreshes_once(router, client):
    token_route(router, TOKEN_OK, {**TOKEN_OK, "access_token": "T2"})
    refused = httpx.Response(400, json={"code": "InvalidAuthentication", "message": "不合法的access_token"})
    api = router.get(f"{BASE_URL}/v1.0/contact/users/un1").mock(
        side_effect=[refused, httpx.Response(200, json={})]
    )
    client.request("GET", "/v1.0/contact/users/un1")
    assert api.calls.last.request.headers["x-acs-dingtalk-access-token"] == "T2"


def test_bad_credentials_fail_fast_without_leaking_the_secret(router, client, sleeps):
    tokens = token_route(router, {"errcode": 40089, "errmsg": "不合法的corpId或corpSecret"})
    with pytest.raises(AuthError) as caught:
        client.get_department(1)
    assert tokens.call_count == 1 and sleeps == []
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.args)


def test_busy_token_endpoint_is_retried(router, client):
    tokens = token_route(router, {"errcode": -1, "errmsg": "系统繁忙"}, TOKEN_OK)
    router.post(f"{BASE_URL}/topapi/v2/department/get").mock(return_value=ok(result={"dept_id": 1}))
    assert client.get_department(1).dept_id == 1
    assert tokens.call_count == 2


def test_connection_errors_become_transient_and_are_retried(router, client):
    token_route(router, TOKEN_OK)
    api = router.post(f"{BASE_URL}/topapi/v2/department/get").mock(
        side_effect=[httpx.ConnectError("refused"), ok(result={"dept_id": 1})]
    )
    assert client.get_department(1).dept_id == 1
    assert api.call_count == 2


def test_calls_to_one_api_are_spaced_under_the_documented_limit(router):
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    client = DingTalkClient(
        appkey="appk",
        appsecret=SecretStr(SECRET),
        transport=httpx.MockTransport(router.handler),
        clock=lambda: now[0],
        sleep=sleep,
    )
    token_route(router, TOKEN_OK)
    router.post(f"{BASE_URL}/topapi/v2/department/get").mock(return_value=ok(result={"dept_id": 1}))
    router.post(f"{BASE_URL}/topapi/v2/user/get").mock(return_value=ok(result={"userid": "u"}))
    for _ in range(3):
        client.get_department(1)
    client.get_user("u")  # another API: its own budget, no wait
    assert waits == pytest.approx([1 / 18, 1 / 18])

"""FeishuClient against respx: request shape, code → error mapping, paging, token refresh, 429 waits."""

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
    Conflict,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransientError,
)
from connectors._http import RetryPolicy
from connectors.feishu.client import BASE_URL, FeishuClient, code_error

SECRET = "s3cr3t-app-secret"
API = f"{BASE_URL}/open-apis"
TOKEN_URL = f"{API}/auth/v3/tenant_access_token/internal"


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_called=True, using=None)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(router: respx.MockRouter, sleeps: list[float]) -> FeishuClient:
    retry = RetryPolicy(attempts=3, backoff=0.0, jitter=0.0, sleep=sleeps.append)
    return FeishuClient(app_id="cli_a", app_secret=SecretStr(SECRET), transport=httpx.MockTransport(router.handler),
                        retry=retry, rate_limit=False)


def token(router: respx.MockRouter, *tokens: str) -> respx.Route:
    route = router.post(TOKEN_URL)
    route.side_effect = [httpx.Response(200, json={"code": 0, "msg": "ok", "tenant_access_token": t,
                                                   "expire": 7200}) for t in tokens]
    return route


def ok(data: dict | None = None) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "msg": "success", "data": data or {}})


def err(code: int, status: int = 400, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": "boom"}, headers=headers)


# --- request shape ---------------------------------------------------------------------


def test_token_request_and_bearer_header(router, client):
    tok = token(router, "t-1")
    route = router.get(f"{API}/contact/v3/departments/0", params={"department_id_type": "department_id"})
    route.respond(json={"code": 0, "data": {"department": {"department_id": "0", "name": "Root"}}})

    assert client.get_department("0").name == "Root"

    assert json.loads(tok.calls[0].request.content) == {"app_id": "cli_a", "app_secret": SECRET}
    assert route.calls[0].request.headers["Authorization"] == "Bearer t-1"


def test_chat_member_writes_carry_member_id_type_and_id_list(router, client):
    token(router, "t-1")
    add = router.post(f"{API}/im/v1/chats/oc_1/members", params={"member_id_type": "user_id", "succeed_type": "1"})
    add.mock(return_value=ok({"invalid_id_list": ["x"], "not_existed_id_list": []}))
    remove = router.delete(f"{API}/im/v1/chats/oc_1/members", params={"member_id_type": "user_id"})
    remove.mock(return_value=ok({"invalid_id_list": []}))
    owner = router.put(f"{API}/im/v1/chats/oc_1", params={"user_id_type": "user_id"}).mock(return_value=ok())
    members = router.get(f"{API}/im/v1/chats/oc_1/members", params={"member_id_type": "user_id"})
    members.mock(return_value=ok({"items": [{"member_id_type": "user_id", "member_id": "amy"}], "has_more": False}))

    assert client.add_chat_members("oc_1", ["amy", "x"])["invalid_id_list"] == ["x"]
    client.remove_chat_members("oc_1", ["ben"])
    client.set_chat_owner("oc_1", "amy")
    assert [m.member_id for m in client.list_chat_members("oc_1")] == ["amy"]

    assert json.loads(add.calls[0].request.content) == {"id_list": ["amy", "x"]}
    assert json.loads(remove.calls[0].request.content) == {"id_list": ["ben"]}
    assert json.loads(owner.calls[0].request.content) == {"owner_id": "amy"}
    assert client.writes == 3


def test_message_content_is_a_json_string_with_uuid(router, client):
    token(router, "t-1")
    route = router.post(f"{API}/im/v1/messages", params={"receive_id_type": "user_id"})
    route.mock(return_value=ok({"message_id": "om_1"}))

    assert client.send_text("amy", "你好", "u-1") == "om_1"

    body = json.loads(route.calls[0].request.content)
    assert body == {"receive_id": "amy", "msg_type": "text", "content": '{"text": "你好"}', "uuid": "u-1"}


def test_drive_calls_carry_type_and_member_type_userid(router, client):
    token(router, "t-1")
    base = f"{API}/drive/v1/permissions/doxcn1/members"
    add = router.post(base, params={"type": "docx", "need_notification": "false"}).mock(return_value=ok())
    put = router.put(f"{base}/amy", params={"type": "docx"}).mock(return_value=ok())
    delete = router.delete(f"{base}/amy", params={"type": "docx", "member_type": "userid"}).mock(return_value=ok())
    transfer = router.post(f"{base}/transfer_owner", params={"type": "docx", "remove_old_owner": "false",
                                                             "old_owner_perm": "view"}).mock(return_value=ok())

    client.add_permission_member("doxcn1", "docx", "amy", "edit")
    client.update_permission_member("doxcn1", "docx", "amy", "full_access")
    client.delete_permission_member("doxcn1", "docx", "amy")
    client.transfer_owner("doxcn1", "docx", "ben")

    assert json.loads(add.calls[0].request.content) == {"member_type": "userid", "member_id": "amy", "perm": "edit"}
    assert json.loads(put.calls[0].request.content) == {"member_type": "userid", "perm": "full_access"}
    assert delete.call_count == 1
    assert json.loads(transfer.calls[0].request.content) == {"member_type": "userid", "member_id": "ben"}


def test_user_writes_name_users_by_user_id_and_creates_carry_client_token(router, client):
    token(router, "t-1")
    ids = {"user_id_type": "user_id", "department_id_type": "department_id"}
    create = router.post(f"{API}/contact/v3/users", params={**ids, "client_token": "k-1"})
    create.mock(return_value=ok({"user": {"user_id": "amy", "open_id": "ou_1"}}))
    patch = router.patch(f"{API}/contact/v3/users/amy", params=ids).mock(return_value=ok({"user": {}}))
    delete = router.delete(f"{API}/contact/v3/users/amy", params={"user_id_type": "user_id"}).mock(return_value=ok())
    dept = router.post(f"{API}/contact/v3/departments", params={**ids, "client_token": "k-2"})
    dept.mock(return_value=ok({"department": {"department_id": "D1", "name": "Night"}}))

    assert client.create_user({"user_id": "amy", "name": "Amy"}, "k-1").open_id == "ou_1"
    client.patch_user("amy", {"name": "Amy B"})
    client.delete_user("amy")
    assert client.create_department("Night", "0", "k-2").department_id == "D1"

    assert json.loads(patch.calls[0].request.content) == {"name": "Amy B"}
    assert json.loads(dept.calls[0].request.content) == {"name": "Night", "parent_department_id": "0"}
    assert delete.call_count == 1 and client.writes == 4


def test_users_by_open_id_batches_of_50_with_repeated_user_ids(router, client):
    token(router, "t-1")
    route = router.get(f"{API}/contact/v3/users/batch")
    route.side_effect = lambda request: ok({"items": [
        {"open_id": i, "user_id": "u" + i[3:]} for i in request.url.params.get_list("user_ids")]})
    open_ids = [f"ou_{i}" for i in range(60)]

    found = client.users_by_open_id([*open_ids, "ou_0"])

    assert len(found) == 60 and found["ou_7"].user_id == "u7"
    assert [len(c.request.url.params.get_list("user_ids")) for c in route.calls] == [50, 10]
    assert route.calls[0].request.url.params["user_id_type"] == "open_id"


# --- paging ------------------------------------------------------------------------------


def test_users_are_paged_by_page_token(router, client):
    token(router, "t-1")
    route = router.get(f"{API}/contact/v3/users/find_by_department")
    route.side_effect = [
        ok({"items": [{"user_id": "u1", "open_id": "ou_1"}], "has_more": True, "page_token": "P2"}),
        ok({"items": [{"user_id": "u2", "open_id": "ou_2"}], "has_more": False}),
    ]

    assert [u.user_id for u in client.list_department_users("0")] == ["u1", "u2"]

    first, second = (c.request.url.params for c in route.calls)
    assert (first["department_id"], first["page_size"], "page_token" in first) == ("0", "50", False)
    assert (first["user_id_type"], first["department_id_type"]) == ("user_id", "department_id")
    assert second["page_token"] == "P2"


def test_a_repeated_page_token_raises(router, client):
    token(router, "t-1")
    router.get(f"{API}/im/v1/chats").side_effect = [
        ok({"items": [], "has_more": True, "page_token": "P"}), ok({"items": [], "has_more": True, "page_token": "P"})]

    with pytest.raises(InvalidPayload, match="paging loop"):
        list(client.list_chats())


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status", "cls"), [
    (232006, 400, NotFound), (232009, 400, NotFound), (232011, 403, PermissionDenied),
    (232014, 400, PermissionDenied), (232017, 400, PermissionDenied), (232013, 400, CapacityExceeded),
    (1063005, 404, NotFound), (1063002, 403, PermissionDenied), (1063004, 403, PermissionDenied),
    (1063001, 400, InvalidPayload), (41050, 400, NotFound), (40004, 403, PermissionDenied),
    (40015, 400, NotFound), (41001, 400, AlreadyExists), (41011, 400, AlreadyExists), (41003, 409, Conflict),
    (99999, 500, TransientError), (99999, 404, NotFound),
])
def test_codes_select_the_error_class(code, status, cls):
    error = code_error(code, "m", "/x", httpx.Response(status))
    assert type(error) is cls and error.code == code


def test_code_is_checked_on_http_200_and_not_retried(router, client, sleeps):
    token(router, "t-1")
    route = router.get(f"{API}/im/v1/chats/oc_1").mock(return_value=httpx.Response(200, json={"code": 232006,
                                                                                                "msg": "bad"}))
    with pytest.raises(NotFound):
        client.get_chat("oc_1")
    assert route.call_count == 1 and sleeps == []


def test_transient_drive_codes_are_retried(router, client, sleeps):
    token(router, "t-1")
    route = router.get(f"{API}/drive/v1/permissions/d/members")
    route.side_effect = [err(1066002, 500), err(1066001, 500), ok({"items": []})]

    assert client.list_permission_members("d", "docx") == []
    assert route.call_count == 3 and len(sleeps) == 2


def test_token_error_refreshes_once_and_resends(router, client):
    tok = token(router, "t-1", "t-2")
    route = router.get(f"{API}/im/v1/chats/oc_1")
    route.side_effect = [err(99991663), ok({"name": "N", "owner_id": "amy"})]

    assert client.get_chat("oc_1").owner_id == "amy"

    assert tok.call_count == 2
    # the auth flow resends the same request object, re-headed
    assert route.call_count == 2 and route.calls[-1].request.headers["Authorization"] == "Bearer t-2"


def test_a_second_token_error_is_not_refreshed_again(router, client):
    tok = token(router, "t-1", "t-2")
    route = router.get(f"{API}/im/v1/chats/oc_1").mock(return_value=err(99991663))

    with pytest.raises(Exception) as info:
        client.get_chat("oc_1")
    assert info.value.code == 99991663
    assert (tok.call_count, route.call_count) == (2, 2)


def test_429_waits_for_x_ogw_ratelimit_reset(router, client, sleeps):
    token(router, "t-1")
    route = router.get(f"{API}/im/v1/chats/oc_1")
    route.side_effect = [err(99991400, 429, {"x-ogw-ratelimit-limit": "50", "x-ogw-ratelimit-reset": "3"}),
                         ok({"name": "N"})]

    assert client.get_chat("oc_1").name == "N"
    assert sleeps == [3.0] and route.call_count == 2


def test_rate_limit_is_raised_after_the_attempts(router, client, sleeps):
    token(router, "t-1")
    router.get(f"{API}/im/v1/chats/oc_1").mock(return_value=err(99991400, 429))

    with pytest.raises(RateLimited) as info:
        client.get_chat("oc_1")
    assert info.value.retry_after == 1.0 and sleeps == [1.0, 1.0]


def test_wrong_secret_is_an_auth_error_without_the_secret(router, client):
    router.post(TOKEN_URL).mock(return_value=err(10014))

    with pytest.raises(AuthError) as info:
        client.get_department("0")
    assert SECRET not in str(info.value)


def test_a_non_idempotent_transfer_is_not_resent_after_a_5xx(router, client, sleeps):
    token(router, "t-1")
    route = router.post(f"{API}/drive/v1/permissions/d/members/transfer_owner").mock(return_value=err(1066001, 500))

    with pytest.raises(TransientError):
        client.transfer_owner("d", "docx", "ben")
    assert route.call_count == 1

import json

import httpx
import pytest
import respx

from connectors._errors import (
    AlreadyExists,
    AuthError,
    CapacityExceeded,
    Conflict,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connectors._http import RetryPolicy
from connectors.wecom.client import API_RATE, ERRCODES, WeComClient, api_error, short_message
from connectors.wecom.connector import WeComConnector
from mappings.models import AccountSpec, GroupSpec

BASE = "https://qyapi.weixin.qq.com"
SECRET = "s3cr3t-value-never-logged"


def ok(**fields):
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", **fields})


def err(code, msg="bad"):
    text = f"{msg}, hint: [1_2_ab], from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
    return httpx.Response(
        200, json={"errcode": code, "errmsg": text}, headers={"error-code": str(code), "error-msg": text}
    )


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def router():
    r = respx.MockRouter(assert_all_called=True, using=None)
    r.get(f"{BASE}/cgi-bin/gettoken", name="token").mock(
        return_value=ok(access_token="TOKEN1", expires_in=7200)
    )
    return r


def connector(router, attempts=3, sleeps=None):
    policy = RetryPolicy(
        attempts=attempts, backoff=0.0, jitter=0.0, sleep=sleeps if sleeps is not None else Sleeps()
    )
    return WeComConnector(
        corpid="ww1",
        corpsecret=SECRET,
        agentid=1000002,
        transport=httpx.MockTransport(router.handler),
        retry=policy,
        rate_limit=False,
    )


# --- request shape ------------------------------------------------------------------------


def test_token_request_and_query_token_on_every_call(router):
    route = router.get(f"{BASE}/cgi-bin/user/get").mock(return_value=ok(userid="alice", name="A", status=1))
    conn = connector(router)
    conn.client.get("user/get", userid="alice")
    conn.client.get("user/get", userid="alice")
    token_req = router["token"].calls[0].request
    assert dict(token_req.url.params) == {"corpid": "ww1", "corpsecret": SECRET}
    assert router["token"].call_count == 1  # cached
    assert [dict(c.request.url.params) for c in route.calls] == [
        {"userid": "alice", "access_token": "TOKEN1"}
    ] * 2


def test_create_account_posts_the_documented_body(router):
    route = router.post(f"{BASE}/cgi-bin/user/create").mock(return_value=ok(errmsg="created"))
    spec = AccountSpec(
        external_id="alice", name="Alice", mobile="+86 13800000000", departments=("2",), leader_of=("3",)
    )
    result = connector(router).create_account(spec)
    request = route.calls[0].request
    assert request.url.params["access_token"] == "TOKEN1"
    assert json.loads(request.content) == {
        "userid": "alice",
        "name": "Alice",
        "mobile": "+86 13800000000",
        "department": [2, 3],
        "is_leader_in_dept": [0, 1],
    }
    assert result.created_id == "alice" and result.calls == 1


def test_send_message_body_and_invaliduser(router):
    route = router.post(f"{BASE}/cgi-bin/message/send").mock(return_value=ok(invaliduser="zed|yan"))
    result = connector(router).send_message(["alice", "zed", "yan"], "hello")
    assert json.loads(route.calls[0].request.content) == {
        "touser": "alice|zed|yan",
        "msgtype": "text",
        "agentid": 1000002,
        "text": {"content": "hello"},
        "safe": 0,
    }
    assert result.rejected == ("yan", "zed") and result.calls == 1


def test_writes_are_counted_reads_are_not(router):
    router.get(f"{BASE}/cgi-bin/tag/list").mock(return_value=ok(taglist=[]))
    router.post(f"{BASE}/cgi-bin/user/update").mock(return_value=ok(errmsg="updated"))
    conn = connector(router)
    conn.client.get("tag/list")
    conn.disable_account("alice")
    assert conn.client.writes == 1 and sum(conn.client.calls.values()) == 2


# --- error mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (-1, TransientError),
        (45009, RateLimited),
        (45033, RateLimited),
        (42001, TokenExpired),
        (40014, TokenExpired),
        (40001, AuthError),
        (60020, AuthError),
        (60111, NotFound),
        (46004, NotFound),
        (60003, NotFound),
        (40068, NotFound),
        (86003, NotFound),
        (40050, NotFound),
        (60102, AlreadyExists),
        (60104, AlreadyExists),
        (60106, AlreadyExists),
        (60008, AlreadyExists),
        (40071, AlreadyExists),
        (86215, AlreadyExists),
        (60011, PermissionDenied),
        (48002, PermissionDenied),
        (50002, PermissionDenied),
        (86008, PermissionDenied),
        (86006, CapacityExceeded),
        (60110, CapacityExceeded),
        (60005, Conflict),
        (40058, InvalidPayload),
        (86216, InvalidPayload),
        (123456, InvalidPayload),
    ],
)
def test_errcode_table(code, cls):
    exc = api_error(
        code, "boom, hint: [x], from ip: 1.1.1.1, more info at https://x?e=1", "/cgi-bin/user/get"
    )
    assert type(exc) is cls
    assert (
        exc.code == code and exc.service == "wecom" and str(exc) == f"wecom /cgi-bin/user/get [{code}]: boom"
    )


def test_table_covers_the_brief_classes():
    assert {RateLimited, TransientError, NotFound, AlreadyExists, PermissionDenied, CapacityExceeded} <= set(
        ERRCODES.values()
    )


def test_rate_limit_errors_carry_a_wait():
    assert api_error(45009, "", "/x").retry_after == 60.0
    assert api_error(45033, "", "/x").retry_after == 1.0


def test_error_read_from_headers_when_body_is_not_json(router):
    router.get(f"{BASE}/cgi-bin/tag/list").mock(
        return_value=httpx.Response(
            200, text="oops", headers={"error-code": "60011", "error-msg": "no privilege"}
        )
    )
    with pytest.raises(PermissionDenied):
        connector(router).client.get("tag/list")


def test_short_message_drops_the_hint_tail():
    assert (
        short_message("userid not found, hint: [123_4_ab], from ip: 1.2.3.4, more info at https://x?e=1")
        == "userid not found"
    )
    assert short_message("plain") == "plain"


# --- retries ------------------------------------------------------------------------------


def test_rate_limited_call_waits_then_succeeds(router):
    route = router.get(f"{BASE}/cgi-bin/tag/list").mock(side_effect=[err(45009), ok(taglist=[])])
    sleeps = Sleeps()
    assert connector(router, sleeps=sleeps).client.get("tag/list") == {
        "errcode": 0,
        "errmsg": "ok",
        "taglist": [],
    }
    assert route.call_count == 2 and sleeps == [60.0]


def test_system_busy_is_retried_exactly_attempts_times(router):
    route = router.get(f"{BASE}/cgi-bin/tag/list").mock(return_value=err(-1, "system busy"))
    with pytest.raises(TransientError):
        connector(router, attempts=3).client.get("tag/list")
    assert route.call_count == 3


def test_http_5xx_is_retried(router):
    route = router.get(f"{BASE}/cgi-bin/tag/list").mock(
        side_effect=[httpx.Response(502, text="Bad Gateway"), httpx.Response(503, text=""), ok(taglist=[])]
    )
    connector(router, attempts=3).client.get("tag/list")
    assert route.call_count == 3


def test_permanent_errors_are_not_retried(router):
    route = router.get(f"{BASE}/cgi-bin/user/get").mock(return_value=err(60111))
    with pytest.raises(NotFound):
        connector(router).client.get("user/get", userid="ghost")
    assert route.call_count == 1


def test_message_send_is_not_resent_after_system_busy(router):
    route = router.post(f"{BASE}/cgi-bin/message/send").mock(return_value=err(-1))
    with pytest.raises(TransientError):
        connector(router).send_message(["alice"], "hi")
    assert route.call_count == 1  # could have been delivered: never sent twice


def test_idempotent_update_is_retried_after_system_busy(router):
    route = router.post(f"{BASE}/cgi-bin/user/update").mock(side_effect=[err(-1), ok(errmsg="updated")])
    connector(router).disable_account("alice")
    assert route.call_count == 2


def test_rate_limited_message_is_resent_because_it_was_never_executed(router):
    route = router.post(f"{BASE}/cgi-bin/message/send").mock(side_effect=[err(45009), ok()])
    assert connector(router).send_message(["alice"], "hi").rejected == ()
    assert route.call_count == 2


def test_transport_errors_become_transient(router):
    route = router.get(f"{BASE}/cgi-bin/tag/list").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError):
        connector(router, attempts=2).client.get("tag/list")
    assert route.call_count == 2


# --- token lifecycle ----------------------------------------------------------------------


def test_expired_token_is_refreshed_exactly_once(router):
    router["token"].mock(
        side_effect=[ok(access_token="OLD", expires_in=7200), ok(access_token="NEW", expires_in=7200)]
    )
    sent = []  # the auth flow resends the same request object: record tokens as they arrive

    def answer(request):
        sent.append(request.url.params["access_token"])
        return err(42001) if len(sent) == 1 else ok(taglist=[])

    router.get(f"{BASE}/cgi-bin/tag/list").mock(side_effect=answer)
    connector(router).client.get("tag/list")
    assert router["token"].call_count == 2 and sent == ["OLD", "NEW"]


def test_token_rejected_twice_raises_token_expired(router):
    route = router.get(f"{BASE}/cgi-bin/tag/list").mock(return_value=err(40014))
    with pytest.raises(TokenExpired):
        connector(router).client.get("tag/list")
    assert route.call_count == 2 and router["token"].call_count == 2


def test_bad_secret_is_an_auth_error_without_the_secret_and_no_call():
    router = respx.MockRouter(assert_all_called=False, using=None)
    router.get(f"{BASE}/cgi-bin/gettoken").mock(return_value=err(40001, "invalid secret"))
    route = router.get(f"{BASE}/cgi-bin/department/simplelist").mock(return_value=ok(department_id=[]))
    with pytest.raises(AuthError) as info:
        connector(router).check()
    assert info.value.code == 40001 and SECRET not in str(info.value)
    assert route.call_count == 0


def test_busy_token_endpoint_retries_even_a_message(router):
    router["token"].mock(side_effect=[err(-1), ok(access_token="T", expires_in=7200)])
    route = router.post(f"{BASE}/cgi-bin/message/send").mock(return_value=ok())
    connector(router).send_message(["alice"], "hi")
    assert route.call_count == 1 and router["token"].call_count == 2


def test_a_short_lived_token_is_reused_for_half_its_remaining_life():
    now = [0.0]
    router = respx.MockRouter(assert_all_called=True, using=None)
    token = router.get(f"{BASE}/cgi-bin/gettoken").mock(return_value=ok(access_token="T", expires_in=200))
    router.get(f"{BASE}/cgi-bin/tag/list").mock(return_value=ok(taglist=[]))
    conn = WeComConnector(
        corpid="ww1",
        corpsecret=SECRET,
        agentid=1,
        transport=httpx.MockTransport(router.handler),
        rate_limit=False,
        clock=lambda: now[0],
    )
    for t in (0, 50, 99):
        now[0] = t
        conn.client.get("tag/list")
    assert token.call_count == 1
    now[0] = 101
    conn.client.get("tag/list")
    assert token.call_count == 2


# --- limiter ------------------------------------------------------------------------------


def test_limiter_spaces_each_api_at_the_minute_rate_and_leaves_messages_alone(router):
    router.get(f"{BASE}/cgi-bin/tag/list").mock(return_value=ok(taglist=[]))
    router.get(f"{BASE}/cgi-bin/department/list").mock(return_value=ok(department=[]))
    router.post(f"{BASE}/cgi-bin/message/send").mock(return_value=ok())
    sleeps = Sleeps()
    client = WeComClient(
        BASE,
        corpid="ww1",
        corpsecret=SECRET,
        transport=httpx.MockTransport(router.handler),
        clock=lambda: 0.0,
        sleep=sleeps,
    )
    for _ in range(3):
        client.get("tag/list")
    client.get("department/list")
    for _ in range(3):
        client.post("message/send", {"touser": "a"})
    assert API_RATE == pytest.approx(10_000 / 60 * 0.98)
    assert sleeps == pytest.approx([1 / API_RATE, 2 / API_RATE])
    assert API_RATE * 60 <= 10_000


# --- paging -------------------------------------------------------------------------------


def test_list_people_falls_back_to_list_id_pages_and_user_get(router):
    router.get(f"{BASE}/cgi-bin/user/list").mock(return_value=err(48002, "api forbidden"))
    pages = router.post(f"{BASE}/cgi-bin/user/list_id").mock(
        side_effect=[
            ok(
                next_cursor="c1",
                dept_user=[{"userid": "a", "department": 1}, {"userid": "b", "department": 1}],
            ),
            ok(
                next_cursor="c2",
                dept_user=[{"userid": "b", "department": 2}, {"userid": "c", "department": 2}],
            ),
            ok(next_cursor="", dept_user=[{"userid": "d", "department": 3}]),
        ]
    )
    router.get(f"{BASE}/cgi-bin/user/get").mock(
        side_effect=lambda request: ok(
            userid=request.url.params["userid"], name="N", department=[1], status=1
        )
    )
    conn = connector(router)
    conn.page_size = 2
    assert [a.external_id for a in conn.list_people()] == ["a", "b", "c", "d"]
    bodies = [json.loads(c.request.content) for c in pages.calls]
    assert bodies == [{"limit": 2}, {"limit": 2, "cursor": "c1"}, {"limit": 2, "cursor": "c2"}]
    assert conn.client.calls["/cgi-bin/user/get"] == 4


def test_paging_loop_is_detected(router):
    router.get(f"{BASE}/cgi-bin/user/list").mock(return_value=err(48002))
    router.post(f"{BASE}/cgi-bin/user/list_id").mock(
        side_effect=[ok(next_cursor="c1", dept_user=[]), ok(next_cursor="c1", dept_user=[])]
    )
    with pytest.raises(InvalidPayload):
        list(connector(router).list_people())


# --- two secrets --------------------------------------------------------------------------

CONTACTS_SECRET = "c0ntacts-sync-secret-never-logged"


def two_secret_connector():
    """Two gettoken answers by secret: APPTOKEN for the app's, CONTACTSTOKEN for the contacts-sync one."""
    router = respx.MockRouter(assert_all_called=False, using=None)
    tokens = {SECRET: "APPTOKEN", CONTACTS_SECRET: "CONTACTSTOKEN"}
    router.get(f"{BASE}/cgi-bin/gettoken", name="token").mock(
        side_effect=lambda request: ok(access_token=tokens[request.url.params["corpsecret"]], expires_in=7200)
    )
    conn = WeComConnector(
        corpid="ww1", corpsecret=SECRET, contacts_secret=CONTACTS_SECRET, agentid=1000002,
        transport=httpx.MockTransport(router.handler), retry=RetryPolicy(attempts=2, backoff=0.0, jitter=0.0),
        rate_limit=False,
    )
    return router, conn


def test_contacts_go_with_the_contacts_token_chats_tags_and_messages_with_the_apps():
    router, conn = two_secret_connector()
    routes = {
        name: getattr(router, method)(f"{BASE}/cgi-bin/{name}").mock(return_value=ok(**answer))
        for method, name, answer in (
            ("post", "user/create", {}),
            ("post", "user/update", {}),
            ("get", "department/get", {"department": {"id": 2, "name": "D", "parentid": 1}}),
            ("post", "department/create", {"id": 5}),
            ("post", "tag/create", {"tagid": 3}),
            ("post", "appchat/create", {"chatid": "c1"}),
            ("post", "message/send", {}),
        )
    }
    conn.create_account(AccountSpec(external_id="alice", name="Alice", mobile="13800000000"))
    conn.disable_account("alice")
    conn.get_group("department", "2")
    conn.create_group(GroupSpec(kind="department", name="Training"))
    conn.create_group(GroupSpec(kind="tag", name="Counsellors"))
    conn.create_group(GroupSpec(kind="chat", name="Night", members=("alice", "bob")))
    conn.send_message(["alice"], "hi")
    used = {name: {c.request.url.params["access_token"] for c in route.calls} for name, route in routes.items()}
    assert used == {
        "user/create": {"CONTACTSTOKEN"},
        "user/update": {"CONTACTSTOKEN"},
        "department/get": {"CONTACTSTOKEN"},
        "department/create": {"CONTACTSTOKEN"},
        "tag/create": {"APPTOKEN"},
        "appchat/create": {"APPTOKEN"},
        "message/send": {"APPTOKEN"},
    }
    asked = [dict(c.request.url.params) for c in router["token"].calls]
    assert asked == [{"corpid": "ww1", "corpsecret": CONTACTS_SECRET}, {"corpid": "ww1", "corpsecret": SECRET}]
    assert conn.client.auth.fetches == 2 and conn.client.writes == 6 and sum(conn.client.calls.values()) == 7


def test_an_expired_token_refetches_only_its_own_secret():
    router, conn = two_secret_connector()
    answers = iter([err(42001), ok(taglist=[])])
    router.get(f"{BASE}/cgi-bin/tag/list").mock(side_effect=lambda request: next(answers))
    router.get(f"{BASE}/cgi-bin/department/simplelist").mock(return_value=ok(department_id=[]))
    conn.check()  # contacts token
    conn.client.get("tag/list")  # app token, expired on first use: refetched once
    conn.check()
    secrets = [c.request.url.params["corpsecret"] for c in router["token"].calls]
    assert secrets == [CONTACTS_SECRET, SECRET, SECRET]
    assert (conn.client.auth.contacts.fetches, conn.client.auth.app.fetches) == (1, 2)


def test_a_48002_on_a_contact_write_without_contacts_secret_says_what_is_missing(router):
    router.post(f"{BASE}/cgi-bin/user/create").mock(return_value=err(48002, "api forbidden"))
    with pytest.raises(PermissionDenied) as info:
        connector(router).create_account(AccountSpec(external_id="alice", name="Alice", mobile="13800000000"))
    assert str(info.value) == ("wecom /cgi-bin/user/create [48002]: api forbidden: contact writes need the "
                               "通讯录同步 (contacts-sync) secret; set contacts_secret")


def test_tokens_are_routed_whatever_prefix_the_base_url_has():
    router = respx.MockRouter(assert_all_called=True, using=None)
    tokens = {SECRET: "APPTOKEN", CONTACTS_SECRET: "CONTACTSTOKEN"}
    router.get("https://proxy.example/wecom/cgi-bin/gettoken").mock(
        side_effect=lambda request: ok(access_token=tokens[request.url.params["corpsecret"]], expires_in=7200)
    )
    user = router.get("https://proxy.example/wecom/cgi-bin/user/get").mock(return_value=ok(userid="a"))
    tags = router.get("https://proxy.example/wecom/cgi-bin/tag/list").mock(return_value=ok(taglist=[]))
    client = WeComClient("https://proxy.example/wecom", corpid="ww1", corpsecret=SECRET,
                         contacts_secret=CONTACTS_SECRET, transport=httpx.MockTransport(router.handler),
                         rate_limit=False)
    client.get("user/get", userid="a")
    client.get("tag/list")
    assert user.calls[0].request.url.params["access_token"] == "CONTACTSTOKEN"
    assert tags.calls[0].request.url.params["access_token"] == "APPTOKEN"

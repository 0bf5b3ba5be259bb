"""The measure of the sandbox: wechatpy's own enterprise client works against it unchanged.

The SDK hard-codes ``https://qyapi.weixin.qq.com``; a requests transport adapter sends
those requests to the sandbox served on loopback instead, so no SDK code is touched.

As against real WeCom, one ``WeChatClient`` per secret: ``sdk`` holds the app's secret
(tags, app chats, messages, reads), ``contacts_sdk`` the contacts-sync (通讯录同步) one for
user and department writes. wechatpy caches each token under corpid + secret.
"""

import pytest

wechatpy = pytest.importorskip("wechatpy", minversion="1.8")
requests_adapters = pytest.importorskip("requests.adapters")

from wechatpy.enterprise import WeChatClient  # noqa: E402
from wechatpy.exceptions import WeChatClientException  # noqa: E402

from connectors._serve import serve  # noqa: E402
from connectors.wecom import WeComSandbox  # noqa: E402

HOST = "https://qyapi.weixin.qq.com"


class Loopback(requests_adapters.HTTPAdapter):
    def __init__(self, port):
        super().__init__()
        self.port = port

    def send(self, request, **kw):
        request.url = request.url.replace(HOST, f"http://127.0.0.1:{self.port}", 1)
        return super().send(request, **kw)


@pytest.fixture(scope="module")
def loopback():
    """One server for the module (shutting one down costs half a second); each test swaps in its sandbox."""
    current = {}
    server = serve(lambda request: current["sandbox"](request), port=0)
    try:
        yield current, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(loopback):
    current, port = loopback
    sandbox = WeComSandbox()
    sandbox.add_department(2, "Counselling")
    sandbox.add_user("alice", "Alice", mobile="13800000001", departments=[2])
    sandbox.add_user("bob", "Bob", email="bob@example.org")
    current["sandbox"] = sandbox
    return sandbox, port


def sdk_client(served, secret_field, session=None):
    sandbox, port = served
    client = WeChatClient(sandbox.credentials["corpid"], sandbox.credentials[secret_field], timeout=5,
                          session=session)
    client._http.mount(HOST, Loopback(port))
    return client


@pytest.fixture
def sdk(served):
    """The self-built app's client."""
    return sdk_client(served, "corpsecret")


@pytest.fixture
def contacts_sdk(served):
    """The contacts-sync (通讯录同步) client: writes users and departments."""
    return sdk_client(served, "contacts_secret")


def test_token_and_user_reads(served, sdk):
    sandbox, _ = served
    assert sdk.user.get("alice")["mobile"] == "13800000001"
    assert [u["userid"] for u in sdk.user.list(1, fetch_child=True)] == ["alice", "bob"]
    assert [u["userid"] for u in sdk.department.get_users(2)] == ["alice"]
    assert [d["id"] for d in sdk.department.get()] == [1, 2]
    assert sandbox.calls["GET /cgi-bin/gettoken"] == 1


def test_chat_create_get_update(served, sdk):
    sandbox, _ = served
    assert (
        sdk.appchat.create(chat_id="night1", name="Night", owner="alice", user_list=["alice", "bob"])[
            "chatid"
        ]
        == "night1"
    )
    sdk.appchat.update("night1", owner="bob", del_user_list=["alice"])
    assert sdk.appchat.get("night1") == {
        "chatid": "night1",
        "name": "Night",
        "owner": "bob",
        "userlist": ["bob"],
        "chat_type": 0,
    }


def test_errors_reach_the_sdk_as_its_exception(sdk):
    with pytest.raises(WeChatClientException) as info:
        sdk.user.get("ghost")
    assert info.value.errcode == 60111
    assert info.value.response.headers["error-code"] == "60111"


def test_sdk_refetches_a_revoked_token(served, sdk):
    sandbox, _ = served
    sdk.tag.create("Counsellors")
    sandbox.revoke_tokens()
    sdk.tag.add_users(1, ["alice", "ghost"])
    assert sandbox.tags[1]["userlist"] == ["alice"]
    assert sandbox.calls["GET /cgi-bin/gettoken"] == 2


def test_sdk_message_send(served, sdk):
    sandbox, _ = served
    answer = sdk.message.send_text(sandbox.agentid, ["alice", "ghost"], "Training at 8")
    assert answer["invaliduser"] == "ghost" and sandbox.messages == [("alice", "Training at 8")]


def test_contact_writes_go_through_the_contacts_sync_secret(served, sdk, contacts_sdk):
    sandbox, _ = served
    contacts_sdk.user.create("carol", "Carol", department=[2], mobile="13800000003")
    contacts_sdk.user.update("carol", name="Carol C")
    assert contacts_sdk.department.create("Night shift", parent_id=2)["id"] == 3
    assert sandbox.users["carol"]["name"] == "Carol C" and 3 in sandbox.departments
    assert [u["userid"] for u in sdk.department.get_users(2)] == ["alice", "carol"]  # the app reads them
    assert sandbox.calls["GET /cgi-bin/gettoken"] == 2  # one token per secret


def test_each_secret_is_refused_the_other_ones_apis(served, sdk, contacts_sdk):
    sandbox, _ = served
    with pytest.raises(WeChatClientException) as app_writes:
        sdk.user.create("carol", "Carol", department=[1], mobile="13800000003")
    with pytest.raises(WeChatClientException) as contacts_chats:
        contacts_sdk.appchat.create(chat_id="night1", user_list=["alice", "bob"])
    with pytest.raises(WeChatClientException) as contacts_messages:
        contacts_sdk.message.send_text(sandbox.agentid, ["alice"], "hi")
    assert {e.value.errcode for e in (app_writes, contacts_chats, contacts_messages)} == {48002}
    assert app_writes.value.response.headers["error-code"] == "48002"
    assert "carol" not in sandbox.users and sandbox.chats == {} and sandbox.messages == []


def test_one_session_store_keeps_a_token_per_secret(served):
    from wechatpy.session.memorystorage import MemoryStorage

    sandbox, _ = served
    store = MemoryStorage()
    app, contacts = sdk_client(served, "corpsecret", store), sdk_client(served, "contacts_secret", store)
    assert app.access_token_key != contacts.access_token_key  # corpid + secret[:10]
    contacts.user.create("carol", "Carol", department=[1], mobile="13800000003")
    app.tag.create("Counsellors")
    assert app.access_token != contacts.access_token
    assert sandbox.calls["GET /cgi-bin/gettoken"] == 2

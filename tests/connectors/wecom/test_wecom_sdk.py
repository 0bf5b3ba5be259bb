"""The measure of the sandbox: wechatpy's own enterprise client works against it unchanged.

The SDK hard-codes ``https://qyapi.weixin.qq.com``; a requests transport adapter sends
those requests to the sandbox served on loopback instead, so no SDK code is touched.
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


@pytest.fixture
def sdk(served):
    sandbox, port = served
    client = WeChatClient(sandbox.credentials["corpid"], sandbox.credentials["corpsecret"], timeout=5)
    client._http.mount(HOST, Loopback(port))
    return client


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

"""Faithfulness: the community SDK (dingtalk-sdk 1.3.8) works against the sandbox unchanged."""

from __future__ import annotations

import pytest

from connectors._serve import serve
from connectors.dingtalk import DingTalkSandbox

dingtalk = pytest.importorskip("dingtalk")
exceptions = pytest.importorskip("dingtalk.core.exceptions")


@pytest.fixture
def served(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    sandbox = DingTalkSandbox(rate_limits=False)
    sandbox.add_department(2, "Counsellors")
    sandbox.add_user("u1", "Li Lei", mobile="13800000001", departments=[1, 2], leader_of=[2])
    sandbox.add_user("u2", "Han Meimei", mobile="13800000002", departments=[2])
    server = serve(sandbox, port=0)
    try:
        yield sandbox, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sdk(served):
    sandbox, url = served
    creds = sandbox.credentials
    client = dingtalk.AppKeyClient(sandbox.corp_id, creds["appkey"], creds["appsecret"], timeout=5)
    client.API_BASE_URL = url
    return client


def test_sdk_token_and_user_reads(served, sdk):
    sandbox, _ = served
    assert sandbox.tokens.check(sdk.access_token) == "ok"
    user = sdk.user.get("u1")
    assert (user["name"], user["department"]) == ("Li Lei", [1, 2])
    page = sdk.user.list(2, offset=0, size=1)
    assert [u["userid"] for u in page["userlist"]] == ["u1"] and page["hasMore"] is True
    detail = sdk.post("/topapi/v2/user/get", {"userid": "u2"})["result"]  # the SDK's generic call
    assert detail["dept_id_list"] == [2]


def test_sdk_chat_create_get_update(served, sdk):
    sandbox, _ = served
    chatid = sdk.chat.create("Night shift", "u1", ["u1", "u2"])
    info = sdk.chat.get(chatid)
    assert (info["owner"], info["useridlist"]) == ("u1", ["u1", "u2"])
    sdk.chat.update(chatid, owner="u2", del_useridlist=["u1"])  # sends name=None, icon="" and settings
    assert sandbox.chats[chatid]["owner"] == "u2" and sandbox.chats[chatid]["useridlist"] == ["u2"]


def test_sdk_sees_errcodes_and_refreshes_a_revoked_token(served, sdk):
    sandbox, _ = served
    with pytest.raises(exceptions.DingTalkClientException) as caught:
        sdk.user.get("nobody")
    assert caught.value.errcode == 60121
    old = sdk.access_token
    sandbox.revoke_tokens()
    assert sdk.user.get("u2")["userid"] == "u2"  # 42001 → the SDK drops its token and retries
    assert sdk.access_token != old

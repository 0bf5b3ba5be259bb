"""Faithfulness: the official SDK (lark-oapi 1.7.5) works against the sandbox served on loopback."""

from __future__ import annotations

import os

import pytest

from connectors._serve import serve
from connectors.feishu import FeishuSandbox

lark = pytest.importorskip("lark_oapi")
contact = pytest.importorskip("lark_oapi.api.contact.v3")
im = pytest.importorskip("lark_oapi.api.im.v1")
drive = pytest.importorskip("lark_oapi.api.drive.v1")



@pytest.fixture(scope="module")
def served():
    """One server for the module (shutting one down takes 0.5 s); tests seed disjoint data."""
    old = os.environ.get("NO_PROXY")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    # the SDK caches tokens per app_id process-wide: a seed no other test uses
    sandbox = FeishuSandbox(rate_limits=False, seed=4242)
    for name in ("ou_a", "ou_b", "ou_c"):
        sandbox.add_user(name, name.upper())
    server = serve(sandbox, port=0)
    try:
        yield sandbox, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        if old is None:
            os.environ.pop("NO_PROXY", None)
        else:
            os.environ["NO_PROXY"] = old


@pytest.fixture
def sdk(served):
    sandbox, url = served
    creds = sandbox.credentials
    return (lark.Client.builder().app_id(creds["app_id"]).app_secret(creds["app_secret"]).domain(url)
            .log_level(lark.LogLevel.ERROR).build())


def test_sdk_lists_users_by_department(sdk):
    request = contact.FindByDepartmentUserRequest.builder().department_id("0").page_size(2).build()
    response = sdk.contact.v3.user.find_by_department(request)
    assert response.success(), response.msg
    assert [u.open_id for u in response.data.items] == ["ou_a", "ou_b"] and response.data.has_more


def test_sdk_chat_members_partial_failure_and_owner_removal(served, sdk):
    sandbox, _ = served
    chat = sandbox.add_chat(None, "Night", "ou_a", ["ou_b"])
    body = im.CreateChatMembersRequestBody.builder().id_list(["ou_c", "ou_ghost"]).build()
    request = (im.CreateChatMembersRequest.builder().chat_id(chat).member_id_type("open_id").succeed_type(1)
               .request_body(body).build())
    response = sdk.im.v1.chat_members.create(request)
    assert response.success() and response.data.not_existed_id_list == ["ou_ghost"]
    delete = (im.DeleteChatMembersRequest.builder().chat_id(chat).member_id_type("open_id")
              .request_body(im.DeleteChatMembersRequestBody.builder().id_list(["ou_a"]).build()).build())
    assert sdk.im.v1.chat_members.delete(delete).code == 232076


def test_sdk_drive_permission_members(served, sdk):
    sandbox, _ = served
    sandbox.add_doc("doxcn1", "docx", "Register", "ou_a")
    member = drive.BaseMember.builder().member_type("openid").member_id("ou_b").perm("edit").build()
    create = drive.CreatePermissionMemberRequest.builder().token("doxcn1").type("docx").request_body(member).build()
    assert sdk.drive.v1.permission_member.create(create).success()
    listed = drive.ListPermissionMemberRequest.builder().token("doxcn1").type("docx").build()
    response = sdk.drive.v1.permission_member.list(listed)
    assert [(m.member_id, m.perm) for m in response.data.items] == [("ou_b", "edit")]
    wrong = drive.ListPermissionMemberRequest.builder().token("doxcn1").type("sheet").build()
    assert sdk.drive.v1.permission_member.list(wrong).code == 1063001

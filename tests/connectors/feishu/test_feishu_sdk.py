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
    for i, name in enumerate(("amy", "ben", "cal")):
        sandbox.add_user(name, name.title(), mobile=f"1380000000{i}")
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


def test_sdk_lists_users_by_department_in_either_id_type(served, sdk):
    sandbox, _ = served
    request = contact.FindByDepartmentUserRequest.builder().department_id("0").page_size(2).build()
    response = sdk.contact.v3.user.find_by_department(request)
    assert response.success(), response.msg
    assert [u.user_id for u in response.data.items] == ["amy", "ben"] and response.data.has_more
    request = contact.GetUserRequest.builder().user_id(sandbox.users["ben"]["open_id"]).build()  # default open_id
    assert sdk.contact.v3.user.get(request).data.user.user_id == "ben"


def test_sdk_creates_patches_and_deletes_a_user_by_user_id(served, sdk):
    sandbox, _ = served
    user = (contact.User.builder().user_id("dora").name("Dora").mobile("13899999999").department_ids(["0"])
            .employee_type(1).build())
    create = (contact.CreateUserRequest.builder().user_id_type("user_id").department_id_type("department_id")
              .client_token("sdk-dora").request_body(user).build())
    first, again = sdk.contact.v3.user.create(create), sdk.contact.v3.user.create(create)
    assert first.success(), first.msg
    assert first.data.user.user_id == again.data.user.user_id == "dora" and len(sandbox.users) == 4
    patch = (contact.PatchUserRequest.builder().user_id("dora").user_id_type("user_id")
             .request_body(contact.User.builder().name("Dora B").build()).build())
    assert sdk.contact.v3.user.patch(patch).data.user.name == "Dora B"
    delete = contact.DeleteUserRequest.builder().user_id("dora").user_id_type("user_id").build()
    assert sdk.contact.v3.user.delete(delete).success() and "dora" not in sandbox.users
    wrong = contact.DeleteUserRequest.builder().user_id("amy").build()  # a user_id read as an open_id
    assert sdk.contact.v3.user.delete(wrong).code == 41050 and "amy" in sandbox.users


def test_sdk_creates_a_department(served, sdk):
    sandbox, _ = served
    body = contact.Department.builder().name("Night shift").parent_department_id("0").build()
    request = (contact.CreateDepartmentRequest.builder().department_id_type("department_id")
               .client_token("sdk-night").request_body(body).build())
    response = sdk.contact.v3.department.create(request)
    assert response.success(), response.msg
    assert sandbox.departments[response.data.department.department_id]["name"] == "Night shift"


def test_sdk_chat_members_partial_failure_and_owner_removal(served, sdk):
    sandbox, _ = served
    chat = sandbox.add_chat(None, "Night", "amy", ["ben"])
    body = im.CreateChatMembersRequestBody.builder().id_list(["cal", "ghost"]).build()
    request = (im.CreateChatMembersRequest.builder().chat_id(chat).member_id_type("user_id").succeed_type(1)
               .request_body(body).build())
    response = sdk.im.v1.chat_members.create(request)
    assert response.success() and response.data.not_existed_id_list == ["ghost"]
    listed = sdk.im.v1.chat_members.get(im.GetChatMembersRequest.builder().chat_id(chat).member_id_type("user_id")
                                        .build())
    assert [m.member_id for m in listed.data.items] == ["amy", "ben", "cal"]
    delete = (im.DeleteChatMembersRequest.builder().chat_id(chat).member_id_type("user_id")
              .request_body(im.DeleteChatMembersRequestBody.builder().id_list(["amy"]).build()).build())
    assert sdk.im.v1.chat_members.delete(delete).code == 232076


def test_sdk_drive_permission_members(served, sdk):
    sandbox, _ = served
    sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    member = drive.BaseMember.builder().member_type("userid").member_id("ben").perm("edit").build()
    create = drive.CreatePermissionMemberRequest.builder().token("doxcn1").type("docx").request_body(member).build()
    assert sdk.drive.v1.permission_member.create(create).success()
    listed = drive.ListPermissionMemberRequest.builder().token("doxcn1").type("docx").build()
    response = sdk.drive.v1.permission_member.list(listed)
    assert [(m.member_type, m.member_id, m.perm) for m in response.data.items] == [
        ("openid", sandbox.users["ben"]["open_id"], "edit")]
    wrong = drive.ListPermissionMemberRequest.builder().token("doxcn1").type("sheet").build()
    assert sdk.drive.v1.permission_member.list(wrong).code == 1063001


def test_sdk_batch_query_meta_names_the_owner_by_user_id_and_lists_failures(served, sdk):
    sandbox, _ = served
    sandbox.add_doc("doxcnmeta", "docx", "Handbook", "amy")
    docs = [drive.RequestDoc.builder().doc_token("doxcnmeta").doc_type("docx").build(),
            drive.RequestDoc.builder().doc_token("doxcngone").doc_type("docx").build()]
    body = drive.MetaRequest.builder().request_docs(docs).with_url(False).build()
    request = drive.BatchQueryMetaRequest.builder().user_id_type("user_id").request_body(body).build()
    response = sdk.drive.v1.meta.batch_query(request)
    assert response.success(), response.msg
    [meta] = response.data.metas
    assert (meta.doc_token, meta.doc_type, meta.title, meta.owner_id) == ("doxcnmeta", "docx", "Handbook", "amy")
    assert [(f.token, f.code) for f in response.data.failed_list] == [("doxcngone", 970005)]


def test_sdk_lists_a_folder_page_by_page(served, sdk):
    sandbox, _ = served
    sandbox.add_doc("fldsdk", "folder", "Rota", "amy")
    for i in range(3):
        sandbox.add_doc(f"doxsdk{i}", "docx", f"Week {i}", "ben", parent="fldsdk")
    tokens, page_token = [], None
    while True:
        builder = drive.ListFileRequest.builder().folder_token("fldsdk").page_size(2).user_id_type("user_id")
        response = sdk.drive.v1.file.list((builder.page_token(page_token) if page_token else builder).build())
        assert response.success(), response.msg
        tokens += [(f.token, f.type, f.owner_id, f.parent_token) for f in response.data.files]
        if not response.data.has_more:
            break
        page_token = response.data.next_page_token
    assert sorted(tokens) == [(f"doxsdk{i}", "docx", "ben", "fldsdk") for i in range(3)]
    bad = sdk.drive.v1.file.list(drive.ListFileRequest.builder().folder_token("fldsdk").page_size(500).build())
    assert bad.code == 1064001

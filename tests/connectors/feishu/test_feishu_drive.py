"""Feishu documents: metadata (title, owner) and folder listings, in the sandbox and through the connector."""

from __future__ import annotations

import httpx
import pytest

from connectors._errors import InvalidPayload, NotFound, PermissionDenied
from connectors._http import RetryPolicy
from connectors.feishu import FeishuConnector, FeishuSandbox
from mappings.models import Group, Member

START = 1_700_000_000.0
API = "/open-apis"
META = "/drive/v1/metas/batch_query"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock) -> FeishuSandbox:
    sb = FeishuSandbox(clock=clock)
    for i, name in enumerate(("amy", "ben", "cal")):
        sb.add_user(name, name.title(), mobile=f"1380000000{i}")
    return sb


@pytest.fixture
def http(sandbox) -> httpx.Client:
    client = httpx.Client(transport=sandbox.transport(), base_url="http://feishu.sandbox" + API)
    token = client.post("/auth/v3/tenant_access_token/internal", json=sandbox.credentials).json()
    client.headers["Authorization"] = "Bearer " + token["tenant_access_token"]
    return client


@pytest.fixture
def connector(sandbox, clock) -> FeishuConnector:
    retry = RetryPolicy(attempts=3, backoff=0.0, jitter=0.0, sleep=clock.sleep)
    c = FeishuConnector.from_sandbox(sandbox, retry=retry, clock=clock, sleep=clock.sleep)
    yield c
    c.close()


def tree(sandbox: FeishuSandbox) -> None:
    """fldr (amy) ─ docx:d1 (amy), sheet:s1 (ben), shortcut → d1, fldsub (amy) ─ bitable:b1 (amy)."""
    sandbox.add_doc("fldr", "folder", "Rota", "amy")
    sandbox.add_doc("d1", "docx", "Handbook", "amy", parent="fldr")
    sandbox.add_doc("s1", "sheet", "Shifts", "ben", parent="fldr")
    sandbox.add_shortcut("sc1", "Handbook (link)", "fldr", "d1")
    sandbox.add_doc("fldsub", "folder", "Archive", "amy", parent="fldr")
    sandbox.add_doc("b1", "bitable", "Old rota", "amy", parent="fldsub")


# --- the sandbox's routes --------------------------------------------------------------


def test_meta_names_users_in_the_asked_id_type_and_lists_failures_without_failing(sandbox, http):
    sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    sandbox.add_doc("shtcn1", "sheet", "Hours", "ben")
    sandbox.docs["shtcn1"]["app_access"] = False
    body = {"request_docs": [{"doc_token": "doxcn1", "doc_type": "docx"}, {"doc_token": "shtcn1", "doc_type": "sheet"},
                             {"doc_token": "gone", "doc_type": "docx"}, {"doc_token": "doxcn1", "doc_type": "sheet"},
                             {"doc_token": "doxcn1", "doc_type": "shortcut"}], "with_url": False}
    answer = http.post(META, params={"user_id_type": "user_id"}, json=body).json()
    assert answer["code"] == 0
    [meta] = answer["data"]["metas"]
    assert (meta["doc_token"], meta["doc_type"], meta["title"], meta["owner_id"]) == ("doxcn1", "docx", "Register", "amy")
    assert meta["create_time"] == str(int(START)) and "url" not in meta
    assert answer["data"]["failed_list"] == [{"token": "shtcn1", "code": 970003}, {"token": "gone", "code": 970005},
                                             {"token": "doxcn1", "code": 970005}, {"token": "doxcn1", "code": 970002}]
    default = http.post(META, json={**body, "with_url": True}).json()["data"]["metas"][0]  # default open_id
    assert default["owner_id"] == sandbox.users["amy"]["open_id"] and default["url"].endswith("/docx/doxcn1")


def test_meta_body_limits_and_it_is_not_counted_as_a_write(sandbox, http):
    sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    too_many = [{"doc_token": f"t{i}", "doc_type": "docx"} for i in range(201)]
    assert http.post(META, json={"request_docs": too_many}).json()["code"] == 99992402
    assert http.post(META, json={"request_docs": []}).json()["code"] == 99992402
    assert http.post(META, json={"request_docs": [{"doc_token": "doxcn1"}]}).json()["code"] == 99992402
    assert http.post(META, params={"user_id_type": "email"}, json={"request_docs": too_many[:1]}).json()["code"] \
        == 99992402
    ok = http.post(META, json={"request_docs": too_many[:200]}).json()["data"]
    assert len(ok["failed_list"]) == 200 and sandbox.write_calls == 0


def test_files_pages_the_direct_children_with_opaque_tokens(sandbox, http):
    tree(sandbox)
    params = {"folder_token": "fldr", "page_size": 3, "user_id_type": "user_id", "order_by": "CreatedTime",
              "direction": "ASC"}
    first = http.get("/drive/v1/files", params=params).json()["data"]
    assert first["has_more"] and first["next_page_token"] and len(first["files"]) == 3
    second = http.get("/drive/v1/files", params={**params, "page_token": first["next_page_token"]}).json()["data"]
    assert not second["has_more"] and "next_page_token" not in second
    rows = {f["token"]: f for f in first["files"] + second["files"]}
    assert sorted(rows) == ["d1", "fldsub", "s1", "sc1"]  # b1 is in the sub-folder: not listed here
    assert (rows["s1"]["type"], rows["s1"]["name"], rows["s1"]["owner_id"], rows["s1"]["parent_token"]) == (
        "sheet", "Shifts", "ben", "fldr")
    assert rows["fldsub"]["type"] == "folder"
    assert rows["sc1"]["type"] == "shortcut" and rows["sc1"]["shortcut_info"] == {"target_type": "docx",
                                                                                  "target_token": "d1"}
    by_open_id = http.get("/drive/v1/files", params={"folder_token": "fldsub"}).json()["data"]["files"]
    assert [(f["token"], f["owner_id"]) for f in by_open_id] == [("b1", sandbox.users["amy"]["open_id"])]


def test_files_errors(sandbox, http):
    tree(sandbox)
    files = "/drive/v1/files"
    assert http.get(files, params={"folder_token": "fldr", "page_size": 201}).json()["code"] == 1064001
    assert http.get(files, params={"folder_token": "fldr", "page_token": "forged"}).json()["code"] == 1061002
    other = http.get(files, params={"folder_token": "fldr", "page_size": 1}).json()["data"]["next_page_token"]
    assert http.get(files, params={"folder_token": "fldsub", "page_token": other}).json()["code"] == 1061002
    missing = http.get(files, params={"folder_token": "nope"})
    assert (missing.status_code, missing.json()["code"]) == (404, 1061003)
    assert http.get(files, params={"folder_token": "d1"}).json()["code"] == 1061002
    sandbox.docs["fldsub"]["app_access"] = False
    hidden = http.get(files, params={"folder_token": "fldsub"})
    assert (hidden.status_code, hidden.json()["code"]) == (403, 1061004)
    root = http.get(files).json()["data"]["files"]
    assert [f["token"] for f in root] == ["fldr"]  # unparented files sit in the app's root


def test_deleting_a_folder_deletes_what_is_in_it(sandbox):
    tree(sandbox)
    sandbox.delete_doc("fldr")
    assert sandbox.docs == {}


# --- the connector ---------------------------------------------------------------------


def test_get_group_gives_the_title_and_owner_in_one_read(connector, sandbox):
    external_id = sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    connector.check()
    before = sandbox.requests
    group = connector.get_group("doc", external_id)
    assert group == Group(service="feishu", kind="doc", external_id="docx:doxcn1", name="Register", owner="amy")
    assert sandbox.requests - before == 1 and sandbox.calls[f"POST {API}{META}"] == 1
    folder = connector.get_group("folder", sandbox.add_doc("fldcn1", "folder", "Shared", "ben"))
    assert (folder.kind, folder.name, folder.owner) == ("folder", "Shared", "ben")
    assert sandbox.write_calls == 0 and connector.client.writes == 0


def test_a_deleted_doc_is_not_found_and_one_out_of_reach_is_permission_denied(connector, sandbox):
    sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    sandbox.add_doc("shtcn1", "sheet", "Hours", "amy")
    sandbox.delete_doc("doxcn1")
    with pytest.raises(NotFound) as gone:
        connector.get_group("doc", "docx:doxcn1")
    assert gone.value.code == 970005 and "not found or deleted" in str(gone.value)
    with pytest.raises(NotFound):
        connector.get_group("doc", "docx:shtcn1")  # the type is not the token's own
    sandbox.docs["shtcn1"]["app_access"] = False
    with pytest.raises(PermissionDenied) as hidden:
        connector.get_group("doc", "sheet:shtcn1")
    assert hidden.value.code == 970003
    with pytest.raises(InvalidPayload):
        connector.get_group("doc", "folder:shtcn1")  # a doc cannot be a folder: refused before any call


def test_transfer_owner_then_get_group_shows_the_new_owner(connector, sandbox):
    external_id = sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    group = connector.get_group("doc", external_id)
    connector.transfer_owner(group, "ben")
    assert connector.get_group("doc", external_id).owner == "ben"
    assert list(connector.list_grants(group)) == [Member(external_id="amy", level="view")]


def test_list_folder_recurses_pages_and_skips_shortcuts(connector, sandbox, monkeypatch):
    tree(sandbox)
    for i in range(5):
        sandbox.add_doc(f"x{i}", "docx", f"Note {i}", "cal", parent="fldsub")
    monkeypatch.setattr("connectors.feishu.client.FILES_PAGE_SIZE", 2)
    found = list(connector.list_folder(Group(service="feishu", kind="folder", external_id="folder:fldr", name="Rota")))
    assert {g.external_id: (g.kind, g.name, g.owner) for g in found} == {
        "docx:d1": ("doc", "Handbook", "amy"), "sheet:s1": ("doc", "Shifts", "ben"),
        "folder:fldsub": ("folder", "Archive", "amy"), "bitable:b1": ("doc", "Old rota", "amy"),
        **{f"docx:x{i}": ("doc", f"Note {i}", "cal") for i in range(5)}}
    assert len(found) == 9
    assert sandbox.calls[f"GET {API}/drive/v1/files"] == 2 + 3  # fldr: 4 rows in 2 pages; fldsub: 6 in 3


def test_list_folder_walks_a_cycle_once(connector, sandbox):
    tree(sandbox)
    sandbox.add_doc("fldloop", "folder", "Loop", "amy", parent="fldsub")
    sandbox.docs["fldr"]["parent"] = "fldloop"  # not possible in Feishu; the walk must still end
    found = [g.external_id for g in connector.list_folder(
        Group(service="feishu", kind="folder", external_id="folder:fldr", name="Rota"))]
    assert sorted(found) == ["bitable:b1", "docx:d1", "folder:fldloop", "folder:fldsub", "sheet:s1"]
    assert sandbox.calls[f"GET {API}/drive/v1/files"] == 3  # fldr, fldsub, fldloop — fldr not again


def test_list_folder_refuses_a_doc_and_reports_a_missing_folder(connector, sandbox):
    with pytest.raises(InvalidPayload):
        list(connector.list_folder(Group(service="feishu", kind="doc", external_id="docx:d1", name="x")))
    with pytest.raises(NotFound):
        list(connector.list_folder(Group(service="feishu", kind="folder", external_id="folder:nope", name="x")))


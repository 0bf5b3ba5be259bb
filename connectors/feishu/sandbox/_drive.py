"""Drive v1 of the Feishu sandbox: permission members, file metadata, folder listings (reference §3.5, §8.3).

Permission members: every call names the file by ``:token`` and its ``type`` query, which is
required and must be the token's own type, else 1063001. A deleted/unknown token answers
1063005 (HTTP 404), a file the app cannot reach 1063002 (403). The member list is
unpaginated and holds collaborators only: the owner is not listed (assumption,
unverified). Users are named as ``member_type`` says: ``userid``, ``openid`` or
``unionid`` (other member types are not served); an id that names no user of that type is
1063001. The listing has no id-type query and reports users as ``openid`` (assumption: the
documented examples show ``openid`` rows), so a client that grants by ``userid`` must map
them back. Adding an existing collaborator sets the given perm (assumed); updating a
non-collaborator or touching the owner is 1063001/1063003; deleting an absent one is a
no-op (assumed). ``transfer_owner`` makes the member the owner; the old owner keeps
``old_owner_perm`` (default ``full_access``) unless ``remove_old_owner=true``.

Metadata (``POST /drive/v1/metas/batch_query``, lark-oapi ``batch_query_meta``): body
``{request_docs: [{doc_token, doc_type}] (1..200), with_url}``; the answer is
``{metas: [{doc_token, doc_type, title, owner_id, create_time, latest_modify_user,
latest_modify_time, url?}], failed_list: [{token, code}]}`` with users in ``user_id_type``
(default ``open_id``). A doc that fails does not fail the call: it is listed with 970005
(not found or deleted; also a ``doc_type`` that is not the token's own — a choice),
970003 (the app has no access) or 970002 (a type metadata is not served for). Times are
seconds as strings, as in the documented examples. A body outside the schema is 99992402.

Folder listing (``GET /drive/v1/files``, lark-oapi ``list_file``): ``folder_token`` (empty:
the app's root, which holds the files seeded without a parent), ``page_size`` 1..200
(default 100, else 1064001), opaque ``page_token`` (forged: 1061002), ``order_by``
``EditedTime``/``CreatedTime``, ``direction`` ``ASC``/``DESC`` (default EditedTime DESC),
``user_id_type`` for ``owner_id``. The answer is ``{files: [{token, name, type,
parent_token, url, created_time, modified_time, owner_id, shortcut_info?}], has_more,
next_page_token?}``: only the direct children, sub-folders among them (``type
"folder"``). A folder token naming nothing is 1061003 (404), one naming a file that is no
folder 1061002 (a choice), one the app cannot reach 1061004 (403).
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors._sandbox import route
from connectors.feishu.sandbox._core import BAD_PAGE_SIZE, FIELD_INVALID, PREFIX, Fail

DOC_TYPES = ("doc", "docx", "sheet", "bitable", "file", "folder", "wiki", "mindnote", "minutes", "slides")
PERMS = ("view", "edit", "full_access")
INVALID_PARAM = 1063001
PERMISSION_DENIED = 1063002
INVALID_OPERATION = 1063003
RESOURCE_DELETED = 1063005
BASE = PREFIX + "/drive/v1/permissions/{token}/members"
MEMBER_TYPES = {"userid": "user_id", "openid": "open_id", "unionid": "union_id"}
META_BATCH = 200  # request_docs per batch_query
META_UNSUPPORTED = 970002  # doc_type metadata is not served for
META_FORBIDDEN = 970003  # no permission to read the meta
META_NOT_FOUND = 970005  # not found, or deleted
FILES_PAGE_MAX = 200
FILES_PAGE_DEFAULT = 100
FILES_BAD_PARAM = 1061002
FILES_NOT_FOUND = 1061003
FILES_FORBIDDEN = 1061004
FILES_PAGE_SIZE = 1064001  # "page size out of limit"
ORDERS = {"EditedTime": "modified", "CreatedTime": "created"}
URL = "https://sandbox.feishu.cn"


class DriveMixin:
    """Permission members (list / add / update / delete, transfer_owner), metas batch_query, folder listing."""

    def add_doc(self, token: str, doc_type: str, title: str, owner: str, *, parent: str | None = None) -> str:
        """Seed a file/folder owned by ``owner`` (a ``user_id``), in folder ``parent`` (a folder token) if given.

        Returns its Muster id ``"<type>:<token>"``. Without a parent it sits in the app's root.
        """
        if doc_type not in DOC_TYPES:
            raise ValueError(f"unknown doc type {doc_type!r}")
        self._check_parent(parent)
        now = int(self.clock())
        self.docs[token] = {"token": token, "type": doc_type, "title": title, "owner": owner, "members": {},
                            "parent": parent, "created": now, "modified": now, "modifier": owner,
                            "app_access": True}
        return f"{doc_type}:{token}"

    def add_shortcut(self, token: str, title: str, parent: str, target: str) -> str:
        """Seed a shortcut in folder ``parent`` pointing at the seeded file ``target``; returns its token."""
        self._check_parent(parent)
        aim = self.docs[target]
        now = int(self.clock())
        self.docs[token] = {"token": token, "type": "shortcut", "title": title, "owner": aim["owner"],
                            "members": {}, "parent": parent, "created": now, "modified": now,
                            "modifier": aim["owner"], "app_access": True,
                            "shortcut_info": {"target_type": aim["type"], "target_token": target}}
        return token

    def delete_doc(self, token: str) -> None:
        """Delete a file (a folder with everything in it), as its owner would in the Feishu client."""
        for child in [t for t, d in self.docs.items() if d.get("parent") == token]:
            self.delete_doc(child)
        self.docs.pop(token, None)

    def _check_parent(self, parent: str | None) -> None:
        if parent is not None and (self.docs.get(parent) or {}).get("type") != "folder":
            raise KeyError(f"no folder {parent}")

    def grant(self, token: str, user_id: str, perm: str) -> None:
        """Seed a collaborator (by ``user_id``)."""
        if perm not in PERMS:
            raise ValueError(f"unknown perm {perm!r}")
        self.docs[token]["members"][user_id] = {"perm": perm}

    @route("GET", BASE)
    def _perm_list(self, request: httpx.Request, token: str) -> httpx.Response:
        doc = self._doc(request, token)
        rows = [{"member_type": "openid", "member_id": self.id_of(uid, "open_id"), "perm": m["perm"],
                 "perm_type": "container", "type": "user", "name": self.users.get(uid, {}).get("name", "")}
                for uid, m in doc["members"].items() if uid in self.users]
        return self.ok({"items": rows})

    @route("POST", BASE)
    def _perm_add(self, request: httpx.Request, token: str) -> httpx.Response:
        doc = self._doc(request, token)
        body = self.payload(request)
        user_id, perm = self._member(body), self._perm(body)
        if user_id == doc["owner"]:
            raise Fail(INVALID_OPERATION, "the owner already has full access")
        if user_id not in doc["members"]:
            self.permission_event("added", doc, [user_id])  # the app is the operator
        doc["members"][user_id] = {"perm": perm}
        return self.ok({"member": {"member_type": body["member_type"], "member_id": body["member_id"], "perm": perm,
                                   "perm_type": "container", "type": "user"}})

    @route("PUT", BASE + "/{member_id}")
    def _perm_update(self, request: httpx.Request, token: str, member_id: str) -> httpx.Response:
        doc = self._doc(request, token)
        body = self.payload(request)
        user_id = self._member({**body, "member_id": member_id})
        perm = self._perm(body)
        if user_id == doc["owner"]:
            raise Fail(INVALID_OPERATION, "the owner's permission cannot be changed")
        if user_id not in doc["members"]:
            raise Fail(INVALID_PARAM, "member is not a collaborator")
        doc["members"][user_id]["perm"] = perm
        return self.ok({"member": {"member_type": body["member_type"], "member_id": member_id, "perm": perm}})

    @route("DELETE", BASE + "/{member_id}")
    def _perm_delete(self, request: httpx.Request, token: str, member_id: str) -> httpx.Response:
        doc = self._doc(request, token)
        user_id = self._member({"member_type": request.url.params.get("member_type"), "member_id": member_id})
        if user_id == doc["owner"]:
            raise Fail(INVALID_OPERATION, "the owner cannot be removed")
        if doc["members"].pop(user_id, None) is not None:
            self.permission_event("removed", doc, [user_id])
        return self.ok({})

    @route("POST", BASE + "/transfer_owner")
    def _perm_transfer(self, request: httpx.Request, token: str) -> httpx.Response:
        doc = self._doc(request, token)
        user_id = self._member(self.payload(request))
        params = request.url.params
        old_perm = params.get("old_owner_perm", "full_access")
        if old_perm not in PERMS:
            raise Fail(INVALID_PARAM, "invalid old_owner_perm")
        old = doc["owner"]
        if user_id != old:
            doc["owner"] = user_id
            doc["members"].pop(user_id, None)
            if params.get("remove_old_owner") != "true":
                doc["members"][old] = {"perm": old_perm}
        return self.ok({})

    # --- metadata and folders -------------------------------------------------------

    @route("POST", PREFIX + "/drive/v1/metas/batch_query")
    def _metas_batch_query(self, request: httpx.Request) -> httpx.Response:
        id_type = self.id_type(request, "user_id_type", FIELD_INVALID)
        body = self.payload(request)
        asked = body.get("request_docs")
        if not isinstance(asked, list) or not 1 <= len(asked) <= META_BATCH:
            raise Fail(FIELD_INVALID, f"field validation failed: request_docs takes 1 to {META_BATCH} docs")
        metas, failed = [], []
        for item in asked:
            if not isinstance(item, dict) or not item.get("doc_token") or not item.get("doc_type"):
                raise Fail(FIELD_INVALID, "field validation failed: every request_doc needs doc_token and doc_type")
            token, doc_type = str(item["doc_token"]), str(item["doc_type"])
            doc = self.docs.get(token)
            if doc_type not in DOC_TYPES:
                failed.append({"token": token, "code": META_UNSUPPORTED})
            elif doc is None or doc["type"] != doc_type:
                failed.append({"token": token, "code": META_NOT_FOUND})
            elif not doc.get("app_access", True):
                failed.append({"token": token, "code": META_FORBIDDEN})
            else:
                metas.append(self._meta_row(doc, id_type, bool(body.get("with_url"))))
        return self.ok({"metas": metas, "failed_list": failed})

    @route("GET", PREFIX + "/drive/v1/files")
    def _files_list(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        id_type = self.id_type(request, "user_id_type", FILES_BAD_PARAM)
        folder = params.get("folder_token") or None
        if folder is not None:
            doc = self.docs.get(folder)
            if doc is None:
                raise Fail(FILES_NOT_FOUND, "not found.", 404)
            if doc["type"] != "folder":
                raise Fail(FILES_BAD_PARAM, "params error: folder_token is not a folder")
            if not doc.get("app_access", True):
                raise Fail(FILES_FORBIDDEN, "forbidden.", 403)
        order = ORDERS.get(params.get("order_by") or "EditedTime")
        direction = params.get("direction") or "DESC"
        if order is None or direction not in ("ASC", "DESC"):
            raise Fail(FILES_BAD_PARAM, "params error: order_by EditedTime|CreatedTime, direction ASC|DESC")
        children = [d for d in self.docs.values() if d.get("parent") == folder]
        children.sort(key=lambda d: (d.get(order, 0), d["token"]), reverse=direction == "DESC")
        rows = [self._file_row(d, id_type) for d in children]
        try:
            data = self.page(request, rows, f"files:{folder or ''}", FILES_PAGE_MAX, FILES_PAGE_DEFAULT)
        except Fail as exc:
            if exc.code == BAD_PAGE_SIZE:
                raise Fail(FILES_PAGE_SIZE, "page size out of limit.") from None
            raise Fail(FILES_BAD_PARAM, "params error: invalid page_token") from None
        out: dict[str, Any] = {"files": data["items"], "has_more": data["has_more"]}
        if data.get("page_token"):
            out["next_page_token"] = data["page_token"]
        return self.ok(out)

    def _meta_row(self, doc: dict[str, Any], id_type: str, with_url: bool) -> dict[str, Any]:
        row = {"doc_token": doc["token"], "doc_type": doc["type"], "title": doc["title"],
               "owner_id": self.id_of(doc["owner"], id_type), "create_time": str(doc.get("created", 0)),
               "latest_modify_user": self.id_of(doc.get("modifier") or doc["owner"], id_type),
               "latest_modify_time": str(doc.get("modified", 0))}
        if with_url:
            row["url"] = _url(doc)
        return row

    def _file_row(self, doc: dict[str, Any], id_type: str) -> dict[str, Any]:
        row = {"token": doc["token"], "name": doc["title"], "type": doc["type"],
               "parent_token": doc.get("parent") or "", "url": _url(doc), "created_time": str(doc.get("created", 0)),
               "modified_time": str(doc.get("modified", 0)), "owner_id": self.id_of(doc["owner"], id_type)}
        if doc.get("shortcut_info"):
            row["shortcut_info"] = dict(doc["shortcut_info"])
        return row

    # --- helpers -------------------------------------------------------------------

    def _doc(self, request: httpx.Request, token: str) -> dict[str, Any]:
        doc_type = request.url.params.get("type")
        if doc_type not in DOC_TYPES:
            raise Fail(INVALID_PARAM, "type is required: doc, docx, sheet, bitable, file, folder, wiki, ...")
        doc = self.docs.get(token)
        if doc is None:
            raise Fail(RESOURCE_DELETED, "resource deleted", 404)
        if doc["type"] != doc_type:
            raise Fail(INVALID_PARAM, f"type {doc_type!r} does not match the token")
        if not doc.get("app_access", True):
            raise Fail(PERMISSION_DENIED, "permission denied", 403)
        return doc

    def _member(self, body: dict[str, Any]) -> str:
        """The ``user_id`` of the user ``member_type``/``member_id`` name (1063001 when none)."""
        id_type = MEMBER_TYPES.get(str(body.get("member_type")))
        if id_type is None:
            raise Fail(INVALID_PARAM, "member_type: the sandbox serves userid, openid and unionid")
        user = self.find_user(str(body.get("member_id") or ""), id_type)
        if user is None:
            raise Fail(INVALID_PARAM, f"member_id is not a {body['member_type']} of this tenant")
        return user["user_id"]

    @staticmethod
    def _perm(body: dict[str, Any]) -> str:
        perm = body.get("perm")
        if perm not in PERMS:
            raise Fail(INVALID_PARAM, "perm must be view, edit or full_access")
        return str(perm)


def _url(doc: dict[str, Any]) -> str:
    shortcut = doc.get("shortcut_info")
    doc_type, token = (shortcut["target_type"], shortcut["target_token"]) if shortcut else (doc["type"], doc["token"])
    return f"{URL}/{'drive/folder' if doc_type == 'folder' else doc_type}/{token}"

"""Drive v1 permission members of the Feishu sandbox (reference §3.5, §8.3).

Every call names the file by ``:token`` and its ``type`` query, which is required and
must be the token's own type, else 1063001. A deleted/unknown token answers 1063005
(HTTP 404). The member list is unpaginated and holds collaborators only: the owner is
not listed (assumption, unverified). Users are named as ``member_type`` says:
``userid``, ``openid`` or ``unionid`` (other member types are not served); an id that
names no user of that type is 1063001. The listing has no id-type query and reports
users as ``openid`` (assumption: the documented examples show ``openid`` rows), so a
client that grants by ``userid`` must map them back. Adding an existing collaborator sets
the given perm (assumed); updating a non-collaborator or touching the owner is
1063001/1063003; deleting an absent one is a no-op (assumed). ``transfer_owner`` makes
the member the owner; the old owner keeps ``old_owner_perm`` (default ``full_access``)
unless ``remove_old_owner=true``.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors._sandbox import route
from connectors.feishu.sandbox._core import PREFIX, Fail

DOC_TYPES = ("doc", "docx", "sheet", "bitable", "file", "folder", "wiki", "mindnote", "minutes", "slides")
PERMS = ("view", "edit", "full_access")
INVALID_PARAM = 1063001
INVALID_OPERATION = 1063003
RESOURCE_DELETED = 1063005
BASE = PREFIX + "/drive/v1/permissions/{token}/members"
MEMBER_TYPES = {"userid": "user_id", "openid": "open_id", "unionid": "union_id"}


class DriveMixin:
    """List / add / update / delete permission members, and transfer_owner."""

    def add_doc(self, token: str, doc_type: str, title: str, owner: str) -> str:
        """Seed a file/folder owned by ``owner`` (a ``user_id``); returns its Muster id ``"<type>:<token>"``."""
        if doc_type not in DOC_TYPES:
            raise ValueError(f"unknown doc type {doc_type!r}")
        self.docs[token] = {"token": token, "type": doc_type, "title": title, "owner": owner, "members": {}}
        return f"{doc_type}:{token}"

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
        doc["members"].pop(user_id, None)
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

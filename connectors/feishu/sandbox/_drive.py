"""Drive v1 permission members of the Feishu sandbox (reference §3.5, §8.3).

Every call names the file by ``:token`` and its ``type`` query, which is required and
must be the token's own type, else 1063001. A deleted/unknown token answers 1063005
(HTTP 404). The member list is unpaginated and holds collaborators only: the owner is
not listed (assumption, unverified). Members are ``member_type=openid`` here.
Adding an existing collaborator sets the given perm (assumed); updating a
non-collaborator or touching the owner is 1063001/1063003; deleting an absent one is a
no-op (assumed). ``transfer_owner`` makes the member the owner; the old owner keeps
``old_owner_perm`` (default ``full_access``) unless ``remove_old_owner=true``.
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


class DriveMixin:
    """List / add / update / delete permission members, and transfer_owner."""

    def add_doc(self, token: str, doc_type: str, title: str, owner: str) -> str:
        """Seed a file/folder owned by ``owner``; returns its Muster id ``"<type>:<token>"``."""
        if doc_type not in DOC_TYPES:
            raise ValueError(f"unknown doc type {doc_type!r}")
        self.docs[token] = {"token": token, "type": doc_type, "title": title, "owner": owner, "members": {}}
        return f"{doc_type}:{token}"

    def grant(self, token: str, open_id: str, perm: str) -> None:
        """Seed a collaborator."""
        if perm not in PERMS:
            raise ValueError(f"unknown perm {perm!r}")
        self.docs[token]["members"][open_id] = {"member_type": "openid", "perm": perm}

    @route("GET", BASE)
    def _perm_list(self, request: httpx.Request, token: str) -> httpx.Response:
        doc = self._doc(request, token)
        rows = [{"member_type": m["member_type"], "member_id": mid, "perm": m["perm"], "perm_type": "container",
                 "type": "user", "name": self.users.get(mid, {}).get("name", "")}
                for mid, m in doc["members"].items()]
        return self.ok({"items": rows})

    @route("POST", BASE)
    def _perm_add(self, request: httpx.Request, token: str) -> httpx.Response:
        doc = self._doc(request, token)
        body = self.payload(request)
        member_id, perm = self._member(body), self._perm(body)
        if member_id == doc["owner"]:
            raise Fail(INVALID_OPERATION, "the owner already has full access")
        doc["members"][member_id] = {"member_type": "openid", "perm": perm}
        return self.ok({"member": {"member_type": "openid", "member_id": member_id, "perm": perm,
                                   "perm_type": "container", "type": "user"}})

    @route("PUT", BASE + "/{member_id}")
    def _perm_update(self, request: httpx.Request, token: str, member_id: str) -> httpx.Response:
        doc = self._doc(request, token)
        body = self.payload(request)
        self._member({**body, "member_id": member_id})
        perm = self._perm(body)
        if member_id == doc["owner"]:
            raise Fail(INVALID_OPERATION, "the owner's permission cannot be changed")
        if member_id not in doc["members"]:
            raise Fail(INVALID_PARAM, "member is not a collaborator")
        doc["members"][member_id]["perm"] = perm
        return self.ok({"member": {"member_type": "openid", "member_id": member_id, "perm": perm}})

    @route("DELETE", BASE + "/{member_id}")
    def _perm_delete(self, request: httpx.Request, token: str, member_id: str) -> httpx.Response:
        doc = self._doc(request, token)
        if request.url.params.get("member_type") != "openid":
            raise Fail(INVALID_PARAM, "member_type is required (the sandbox serves openid)")
        if member_id == doc["owner"]:
            raise Fail(INVALID_OPERATION, "the owner cannot be removed")
        doc["members"].pop(member_id, None)
        return self.ok({})

    @route("POST", BASE + "/transfer_owner")
    def _perm_transfer(self, request: httpx.Request, token: str) -> httpx.Response:
        doc = self._doc(request, token)
        member_id = self._member(self.payload(request))
        params = request.url.params
        old_perm = params.get("old_owner_perm", "full_access")
        if old_perm not in PERMS:
            raise Fail(INVALID_PARAM, "invalid old_owner_perm")
        old = doc["owner"]
        if member_id != old:
            doc["owner"] = member_id
            doc["members"].pop(member_id, None)
            if params.get("remove_old_owner") != "true":
                doc["members"][old] = {"member_type": "openid", "perm": old_perm}
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
        if body.get("member_type") != "openid":
            raise Fail(INVALID_PARAM, "member_type: the sandbox serves openid")
        member_id = str(body.get("member_id") or "")
        if member_id not in self.users:
            raise Fail(INVALID_PARAM, "member_id is not a user of this tenant")
        return member_id

    @staticmethod
    def _perm(body: dict[str, Any]) -> str:
        perm = body.get("perm")
        if perm not in PERMS:
            raise Fail(INVALID_PARAM, "perm must be view, edit or full_access")
        return str(perm)

"""Group chats (im v1) and messages of the Feishu sandbox (reference §3.4, §3.7, §8.3).

The app's bot is a member of every chat it created or was seeded into (``bot_in``); a
chat it is not in answers 232011 (operator not in chat) to member writes and owner
changes. Members are kept by ``user_id`` and named in each request's id type
(``member_id_type`` on member APIs, ``user_id_type`` on chats, ``receive_id_type`` on
messages; default ``open_id``; another value answers 232015 / 232001 / 230001). Adding
members takes ≤50 ids; with ``succeed_type=1`` unusable ids come back in
``invalid_id_list`` (malformed: an ``open_id``/``union_id`` without its ``ou_``/``on_``
prefix) / ``not_existed_id_list`` (no such user of that type) while the rest are added,
otherwise any unusable id fails the call (232007). Chat create and owner transfer take
only ids of the given type (232007 otherwise).
Adding a present member is a silent no-op (undocumented; §8.3 says assume so). The
owner cannot be removed (232076); a chat holds ≤5000 members (232013). ``uuid`` on chat
create and message send de-duplicates: the same uuid answers the first result again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from connectors._sandbox import route
from connectors.feishu.sandbox._core import ID_TYPES, PREFIX, Fail

IM_PAGE_MAX = 100
ID_BATCH = 50
CHAT_CAP = 5000
INVALID_PARAM = 232001
CHAT_NOT_FOUND = 232006
BAD_USER = 232007
CHAT_DISSOLVED = 232009
NOT_IN_CHAT = 232011
CHAT_FULL = 232013
BAD_ID_TYPE = 232015
CANNOT_REMOVE_OWNER = 232076
MESSAGE_BAD_PARAM = 230001
MESSAGE_NO_USER = 230013  # "bot has no availability to this user" (chosen for ids naming nobody)
PREFIXES = {"open_id": "ou_", "union_id": "on_"}  # user_ids are the tenant's own strings


class ChatsMixin:
    """``/im/v1/chats`` (list, get, create, update), chat members, ``/im/v1/messages``."""

    def add_chat(self, chat_id: str | None, name: str, owner: str, members: Sequence[str]) -> str:
        """Seed a chat the bot is in (no caps), members by ``user_id``; returns its id (``oc_`` when new)."""
        ids = list(dict.fromkeys([owner, *members]))
        for user_id in ids:
            if user_id not in self.users:
                raise KeyError(f"no user {user_id}")
        chat_id = chat_id or "oc_" + self.hex(32)
        self.chats[chat_id] = {"chat_id": chat_id, "name": name, "owner_id": owner, "members": ids,
                               "bot_in": True, "dissolved": False, "chat_type": "private"}
        return chat_id

    # --- chats ---------------------------------------------------------------------

    @route("GET", PREFIX + "/im/v1/chats")
    def _chats_list(self, request: httpx.Request) -> httpx.Response:
        id_type = self.id_type(request, "user_id_type", INVALID_PARAM)
        rows = [self._chat_row(c, id_type) for c in self.chats.values() if c["bot_in"] and not c["dissolved"]]
        return self.ok(self.page(request, rows, "chats", IM_PAGE_MAX))

    @route("GET", PREFIX + "/im/v1/chats/{chat_id}")
    def _chat_get(self, request: httpx.Request, chat_id: str) -> httpx.Response:
        chat = self._chat(chat_id)
        row = self._chat_row(chat, self.id_type(request, "user_id_type", INVALID_PARAM))
        del row["chat_id"]
        return self.ok({**row, "chat_mode": "group", "user_count": str(len(chat["members"])), "bot_count": "1"})

    @route("POST", PREFIX + "/im/v1/chats")
    def _chat_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        id_type = self.id_type(request, "user_id_type", INVALID_PARAM)

        def make() -> dict[str, Any]:
            name = str(body.get("name") or "")
            ids = [str(i) for i in body.get("user_id_list") or []]
            if len(ids) > ID_BATCH:
                raise Fail(INVALID_PARAM, f"user_id_list holds at most {ID_BATCH} ids")
            if not body.get("owner_id"):
                raise Fail(INVALID_PARAM, "owner_id is required when the bot creates for a user (sandbox)")
            owner, *members = [self._known(i, id_type) for i in [str(body["owner_id"]), *ids]]
            chat_id = self.add_chat(None, name, owner, members)
            self.note_members(chat_id, (), [owner, *members])
            self.note_group("chat", name)
            return {**self._chat_row(self.chats[chat_id], id_type), "chat_mode": "group"}

        return self.ok(self.once("chat_create", request.url.params.get("uuid"), make))

    @route("PUT", PREFIX + "/im/v1/chats/{chat_id}")
    def _chat_update(self, request: httpx.Request, chat_id: str) -> httpx.Response:
        chat = self._writable(chat_id)
        body = self.payload(request)
        id_type = self.id_type(request, "user_id_type", INVALID_PARAM)
        if body.get("owner_id"):
            owner = self._known(str(body["owner_id"]), id_type)
            if owner not in chat["members"]:
                raise Fail(INVALID_PARAM, "the new owner must be a member of the chat")
            chat["owner_id"] = owner
        if body.get("name"):
            chat["name"] = str(body["name"])
        return self.ok({})

    # --- members -------------------------------------------------------------------

    @route("GET", PREFIX + "/im/v1/chats/{chat_id}/members")
    def _members_list(self, request: httpx.Request, chat_id: str) -> httpx.Response:
        chat = self._chat(chat_id)
        id_type = self.id_type(request, "member_id_type", BAD_ID_TYPE)
        rows = [{"member_id_type": id_type, "member_id": self.id_of(m, id_type),
                 "name": self.users.get(m, {}).get("name", ""), "tenant_key": self.tenant_key}
                for m in chat["members"]]
        data = self.page(request, rows, f"members:{chat_id}", IM_PAGE_MAX)
        return self.ok({**data, "member_total": len(rows)})

    @route("POST", PREFIX + "/im/v1/chats/{chat_id}/members")
    def _members_add(self, request: httpx.Request, chat_id: str) -> httpx.Response:
        chat = self._writable(chat_id)
        id_type = self.id_type(request, "member_id_type", BAD_ID_TYPE)
        ids = self._id_list(request)
        prefix = PREFIXES.get(id_type, "")
        invalid = [i for i in ids if not i.startswith(prefix)]
        found = {i: self.find_user(i, id_type) for i in ids if i not in invalid}
        missing = [i for i, user in found.items() if user is None]
        if (invalid or missing) and request.url.params.get("succeed_type") != "1":
            raise Fail(BAD_USER, "invalid user id", data={"invalid_id_list": invalid + missing})
        known = [user["user_id"] for user in found.values() if user is not None]
        fresh = [u for u in dict.fromkeys(known) if u not in chat["members"]]
        if len(chat["members"]) + len(fresh) > CHAT_CAP:
            raise Fail(CHAT_FULL, "the number of chat members has reached the limit")
        self.note_members(chat_id, chat["members"], known)
        chat["members"] += fresh
        self.chat_member_event("added", chat, fresh)  # the app is the operator
        return self.ok({"invalid_id_list": invalid, "not_existed_id_list": missing,
                        "pending_approval_id_list": []})

    @route("DELETE", PREFIX + "/im/v1/chats/{chat_id}/members")
    def _members_remove(self, request: httpx.Request, chat_id: str) -> httpx.Response:
        chat = self._writable(chat_id)
        id_type = self.id_type(request, "member_id_type", BAD_ID_TYPE)
        ids = self._id_list(request)
        found = {i: self.find_user(i, id_type) for i in ids}
        gone = {user["user_id"] for user in found.values() if user is not None}
        if chat["owner_id"] in gone:
            raise Fail(CANNOT_REMOVE_OWNER, "the chat owner cannot be removed")
        invalid = [i for i, user in found.items() if user is None]
        self.chat_member_event("deleted", chat, [m for m in chat["members"] if m in gone])
        chat["members"] = [m for m in chat["members"] if m not in gone]
        return self.ok({"invalid_id_list": invalid})

    # --- messages ------------------------------------------------------------------

    @route("POST", PREFIX + "/im/v1/messages")
    def _message_send(self, request: httpx.Request) -> httpx.Response:
        id_type = request.url.params.get("receive_id_type")
        if id_type not in ID_TYPES:
            raise Fail(MESSAGE_BAD_PARAM, "receive_id_type: the sandbox serves open_id, user_id and union_id")
        body = self.payload(request)
        receive_id = str(body.get("receive_id") or "")
        if body.get("msg_type") != "text":
            raise Fail(MESSAGE_BAD_PARAM, "msg_type: only text is served by the sandbox")
        try:
            text = json.loads(str(body.get("content")))["text"]
        except (ValueError, TypeError, KeyError):
            raise Fail(MESSAGE_BAD_PARAM, "content must be a JSON string like {\"text\":\"...\"}") from None
        user = self.find_user(receive_id, id_type)
        if user is None:
            raise Fail(MESSAGE_NO_USER, "bot has no availability to this user")

        def make() -> dict[str, Any]:  # once per uuid: Feishu's own de-duplication of a resend
            self.note_sent(user["user_id"], text)
            self.messages.append((user["user_id"], text))
            return {"message_id": "om_" + self.hex(32), "msg_type": "text", "chat_id": "oc_" + self.hex(32),
                    "body": {"content": body["content"]}}

        return self.ok(self.once("message", body.get("uuid"), make))

    # --- helpers -------------------------------------------------------------------

    def _chat_row(self, chat: dict[str, Any], id_type: str) -> dict[str, Any]:
        owner = self.id_of(chat["owner_id"], id_type) if chat["owner_id"] else ""
        return {"chat_id": chat["chat_id"], "name": chat["name"], "owner_id": owner,
                "owner_id_type": id_type, "description": "", "avatar": "", "external": False,
                "tenant_key": self.tenant_key, "chat_status": "normal"}

    def _chat(self, chat_id: str) -> dict[str, Any]:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise Fail(CHAT_NOT_FOUND, "invalid chat_id")
        if chat["dissolved"]:
            raise Fail(CHAT_DISSOLVED, "chat is dissolved")
        return chat

    def _writable(self, chat_id: str) -> dict[str, Any]:
        chat = self._chat(chat_id)
        if not chat["bot_in"]:
            raise Fail(NOT_IN_CHAT, "operator not in chat", 403)
        return chat

    def _known(self, some_id: str, id_type: str) -> str:
        """The ``user_id`` of a user named in ``id_type``; 232007 when there is none."""
        user = self.find_user(some_id, id_type)
        if user is None:
            raise Fail(BAD_USER, f"invalid user id: {some_id} is no {id_type}")
        return user["user_id"]

    def _id_list(self, request: httpx.Request) -> list[str]:
        ids = self.payload(request).get("id_list")
        if not isinstance(ids, list) or not ids or len(ids) > ID_BATCH:
            raise Fail(INVALID_PARAM, f"id_list must hold 1 to {ID_BATCH} ids")
        return [str(i) for i in ids]

"""Group chats and work notifications of the DingTalk sandbox (reference §1.5, §1.8, §8.1).

Chats: ``/chat/create`` takes ≤40 initial users with the owner among them and a 1–20
character name, and answers the new ``chatid``; ``/chat/update`` applies
``add_useridlist``, ``del_useridlist`` (≤40 each) and ``owner`` atomically — all or
nothing — and the owner must be a member afterwards; a chat holds at most 1000 members
(SDK ``dingtalk.client.api.chat`` docstrings). Adding a present member or removing an
absent one is a silent no-op (undocumented; §8.1 says assume so). Settings the community
SDK always sends (``name``/``owner`` as null, ``icon`` as "") mean "unchanged".

Work notices (``asyncsend_v2``) answer a ``task_id`` at once; delivery is decided after:
the same content to the same user is delivered once a (China) day and a user gets at
most 500 a day from one internal app, and an app reaches at most 5000 recipients a minute;
over the limits the call still succeeds and the user receives nothing. Unknown userids are
skipped silently, as the async API does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import httpx

from connectors._sandbox import route
from connectors.dingtalk.sandbox._core import CHAT_FULL, CHAT_NOT_FOUND, Fail, id_list, invalid

CHAT_BATCH = 40
CHAT_CAP = 1000
NAME_MAX = 20
RECIPIENTS_PER_CALL = 5000  # internal app (§1.8)
RECIPIENTS_PER_MINUTE = 5000  # internal app (§1.8)
NOTICES_PER_USER_DAY = 500  # internal app (§1.8)
CHINA_OFFSET = 8 * 3600
SETTINGS = ("showHistoryType", "searchable", "validationType", "mentionAllAuthority", "chatBannedType",
            "managementType")


class ChatsMixin:
    """``/chat/create|update|get`` and ``/topapi/message/corpconversation/asyncsend_v2``."""

    # --- seeding -------------------------------------------------------------------

    def add_chat(self, chatid: str | None, name: str, owner: str, members: Sequence[str]) -> str:
        """Seed a chat (no size caps: seeding may build what many API calls would); returns its id."""
        userids = list(dict.fromkeys([owner, *members]))
        for userid in userids:
            self.user(userid)
        chatid = chatid or "chat" + self._hex(32)
        self.chats[chatid] = {"chatid": chatid, "name": name, "owner": owner, "useridlist": userids,
                              "openConversationId": "cid" + self._hex(22) + "==", "icon": "",
                              **{k: 0 for k in SETTINGS}}
        return chatid

    # --- chats ---------------------------------------------------------------------

    @route("POST", "/chat/create")
    def _chat_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        name, owner = _name(body.get("name")), str(body.get("owner") or "")
        userids = _capped(body.get("useridlist"), "useridlist")
        if owner not in userids:
            raise invalid("owner must be one of useridlist")
        for userid in userids:
            self.user(userid)
        chatid = self.add_chat(None, name, owner, userids)
        self.note_members(chatid, (), userids)
        self.note_group("chat", name)
        self.chats[chatid].update({k: int(body[k]) for k in SETTINGS if body.get(k) is not None})
        chat = self.chats[chatid]
        return self.ok(chatid=chatid, openConversationId=chat["openConversationId"], conversationTag=2)

    @route("POST", "/chat/update")
    def _chat_update(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        chat = self._chat(body.get("chatid"))
        add = _capped(body.get("add_useridlist"), "add_useridlist", required=False)
        remove = set(_capped(body.get("del_useridlist"), "del_useridlist", required=False))
        for userid in add:
            self.user(userid)
        members = [u for u in chat["useridlist"] if u not in remove]
        members += [u for u in dict.fromkeys(add) if u not in members and u not in remove]
        owner = str(body.get("owner") or chat["owner"])
        if owner not in members:
            raise invalid("the owner must be a member of the chat")
        if len(members) > CHAT_CAP:
            raise Fail(CHAT_FULL, f"群成员数量超过上限 {CHAT_CAP}")
        name = _name(body["name"]) if body.get("name") else chat["name"]
        self.note_members(chat["chatid"], chat["useridlist"], [u for u in add if u not in remove])
        chat.update(useridlist=members, owner=owner, name=name)
        chat.update({k: int(body[k]) for k in SETTINGS if body.get(k) is not None})
        return self.ok()

    @route("GET", "/chat/get")
    def _chat_get(self, request: httpx.Request) -> httpx.Response:
        chat = self._chat(request.url.params.get("chatid"))
        info = {k: chat[k] for k in ("name", "owner", "icon", *SETTINGS)}
        return self.ok(chat_info={**info, "useridlist": list(chat["useridlist"]), "chatid": chat["chatid"],
                                  "conversationTag": 2})

    def _chat(self, chatid: Any) -> dict[str, Any]:
        chat = self.chats.get(str(chatid)) if chatid else None
        if chat is None:
            raise Fail(CHAT_NOT_FOUND, "无效的会话id")
        return chat

    # --- work notices --------------------------------------------------------------

    @route("POST", "/topapi/message/corpconversation/asyncsend_v2")
    def _asyncsend(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        if str(body.get("agent_id")) != str(self.agentid):
            raise invalid("agent_id does not belong to this app")
        text = _content(body.get("msg"))
        recipients = self._recipients(body)
        if not recipients:
            raise invalid("one of userid_list, dept_id_list, to_all_user is required")
        if len(recipients) > RECIPIENTS_PER_CALL:
            raise invalid(f"at most {RECIPIENTS_PER_CALL} recipients per call")
        for userid in recipients:
            self.note_sent(userid, text)
            if not self.rate_limits or self.notice_minute.hit("recipients"):
                self._deliver(userid, text)  # past 5000 recipients a minute: dropped, the call still succeeds
        return self.ok(task_id=self.rng.randrange(10**11, 10**12))

    def _recipients(self, body: dict[str, Any]) -> list[str]:
        if not all(isinstance(body.get(k, ""), str) for k in ("userid_list", "dept_id_list")):
            raise invalid("userid_list and dept_id_list are comma-separated strings")
        if str(body.get("to_all_user")).lower() == "true":
            return list(self.users)
        userids = id_list(body.get("userid_list"))
        for dept_id in id_list(body.get("dept_id_list")):
            userids += self._dept_tree_users(self.department(dept_id)["dept_id"])
        return list(dict.fromkeys(userids))

    def _dept_tree_users(self, dept_id: int) -> list[str]:
        tree, frontier = {dept_id}, [dept_id]
        while frontier:
            children = [d for d, row in self.departments.items() if row["parent_id"] in frontier]
            tree.update(children)
            frontier = children
        return [u for u, row in self.users.items() if tree & set(row["dept_id_list"])]

    def _deliver(self, userid: str, text: str) -> None:
        if userid not in self.users:
            return
        day = int((self.clock() + CHINA_OFFSET) // 86400)
        key = (userid, day, hashlib.sha256(text.encode()).hexdigest())
        if key in self.notice_keys or self.notice_counts[(userid, day)] >= NOTICES_PER_USER_DAY:
            return  # silently dropped: the call still succeeds (§1.8)
        self.notice_keys.add(key)
        self.notice_counts[(userid, day)] += 1
        self.messages.append((userid, text))


def _name(value: Any) -> str:
    name = str(value or "")
    if not 1 <= len(name) <= NAME_MAX:
        raise invalid(f"name must be 1 to {NAME_MAX} characters")
    return name


def _capped(value: Any, field: str, *, required: bool = True) -> list[str]:
    if value is None or value == []:
        if required:
            raise invalid(f"{field} is required")
        return []
    if not isinstance(value, list):
        raise invalid(f"{field} must be a list")
    if len(value) > CHAT_BATCH:
        raise invalid(f"{field} takes at most {CHAT_BATCH} ids per call")
    return [str(v) for v in value]


def _content(msg: Any) -> str:
    if not isinstance(msg, dict) or not msg.get("msgtype"):
        raise invalid("msg with a msgtype is required")
    if msg["msgtype"] == "text":
        content = (msg.get("text") or {}).get("content")
        if not content:
            raise invalid("text.content is required")
        return str(content)
    return json.dumps(msg.get(msg["msgtype"]), ensure_ascii=False, sort_keys=True)


__all__ = ["ChatsMixin"]

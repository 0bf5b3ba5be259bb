"""Sandbox tags, app chats and app messages (reference §2.4–2.6, wechatpy tag/appchat/message).

Quirks kept: a tag write names the unknown userids in ``invalidlist`` ("a|b") and fails
(40070) only when every id is invalid; only the app that made a tag may change it (81011).
``appchat/create`` needs 2..2000 members (86006), a chatid of ≤32 [0-9a-zA-Z] (86205/86001)
that is not taken (86215), an app visible to the root department (60011), and at most 1000
creates a corp a day; only chats made by this app may be updated (86008), and removing
someone who is not in the chat is an error (86216). ``message/send`` delivers to the valid
recipients and lists the others in ``invaliduser``, fails with 82001 when none is valid,
and silently drops messages beyond 30 a minute (1000 an hour) to one member.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

import httpx

from connectors._sandbox import route
from connectors.wecom.client import api
from connectors.wecom.sandbox._core import WeComCore, WeComFault

CHATID_RE = re.compile(r"^[0-9a-zA-Z]+$")
CHATID_MAX = 32
CHAT_NAME_MAX = 50  # longer names are truncated
TAG_NAME_MAX = 32


class GroupsMixin(WeComCore):
    """tag/*, appchat/* and message/send routes, and their seeding."""

    # --- seeding --------------------------------------------------------------------

    def add_tag(
        self, tagid: int, name: str, members: Sequence[str] = (), *, created_by_app: bool = True
    ) -> str:
        """Seed a tag with members; ``created_by_app=False`` makes it another app's (81011 on writes)."""
        if tagid in self.tags or any(t["tagname"] == name for t in self.tags.values()):
            raise ValueError(f"tag {tagid} or name {name!r} exists")
        self.tags[tagid] = {
            "tagid": tagid,
            "tagname": name,
            "userlist": self._seed_users(members),
            "partylist": [],
            "created_by_app": created_by_app,
        }
        return str(tagid)

    def add_chat(
        self,
        chatid: str | None,
        name: str,
        owner: str,
        members: Sequence[str],
        *,
        created_by_app: bool = True,
    ) -> str:
        """Seed an app chat (the owner joins it); returns its chatid."""
        chatid = chatid or self._new_chatid()
        if chatid in self.chats:
            raise ValueError(f"chat {chatid} exists")
        users = self._seed_users([owner, *members])
        self.chats[chatid] = {
            "chatid": chatid,
            "name": name,
            "owner": users[0],
            "userlist": users,
            "chat_type": 0,
            "created_by_app": created_by_app,
        }
        return chatid

    def _seed_users(self, ids: Sequence[str]) -> list[str]:
        users = [self.find_user(i) for i in ids]
        if any(u is None for u in users):
            raise ValueError(f"unknown users among {list(ids)}")
        return list(dict.fromkeys(u["userid"] for u in users if u))

    def _new_chatid(self) -> str:
        return "wr" + "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(22))

    # --- tags -----------------------------------------------------------------------

    @route("POST", api("tag/create"))
    def _tag_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        name = body.get("tagname")
        if not isinstance(name, str) or not name.strip() or len(name) > TAG_NAME_MAX:
            raise WeComFault(40072)
        if any(t["tagname"] == name for t in self.tags.values()):
            raise WeComFault(40071)
        tagid = self.int_value(body.get("tagid", max(self.tags, default=0) + 1), 40068)
        if tagid <= 0 or tagid in self.tags:
            raise WeComFault(40068, "invalid tagid, tagid existed")  # code for a taken tagid: unverified
        self.tags[tagid] = {
            "tagid": tagid,
            "tagname": name,
            "userlist": [],
            "partylist": [],
            "created_by_app": True,
        }
        self.note_group("tag", name)
        return self.ok("created", tagid=tagid)

    @route("GET", api("tag/list"))
    def _tag_list(self, request: httpx.Request) -> httpx.Response:
        return self.ok(taglist=[{"tagid": t["tagid"], "tagname": t["tagname"]} for t in self.tags.values()])

    @route("GET", api("tag/get"))
    def _tag_get(self, request: httpx.Request) -> httpx.Response:
        tag = self._tag(self.param(request, "tagid", 41017))
        users = [{"userid": u, "name": self.users[u]["name"]} for u in tag["userlist"]]
        return self.ok(tagname=tag["tagname"], userlist=users, partylist=tag["partylist"])

    def _tag(self, tagid: Any) -> dict[str, Any]:
        tag = self.tags.get(self.int_value(tagid, 40068))
        if tag is None:
            raise WeComFault(40068)
        return tag

    @route("POST", api("tag/addtagusers"))
    def _tag_add_users(self, request: httpx.Request) -> httpx.Response:
        return self._tag_write(request, adding=True)

    @route("POST", api("tag/deltagusers"))
    def _tag_del_users(self, request: httpx.Request) -> httpx.Response:
        return self._tag_write(request, adding=False)

    def _tag_write(self, request: httpx.Request, *, adding: bool) -> httpx.Response:
        body = self.payload(request)
        if body.get("tagid") is None:
            raise WeComFault(41017)
        tag = self._tag(body["tagid"])
        if not tag["created_by_app"]:
            raise WeComFault(81011)
        users, parties = list(body.get("userlist") or []), list(body.get("partylist") or [])
        if not users and not parties:
            raise WeComFault(40031)
        if len(users) > self.limits.tag_users_per_call or len(parties) > self.limits.tag_parties_per_call:
            raise WeComFault(81014)
        found = {u: self.find_user(u) for u in users}
        bad_users = [u for u, rec in found.items() if rec is None]
        bad_parties = [p for p in parties if p not in self.departments]
        if len(bad_users) == len(users) and len(bad_parties) == len(parties):
            raise WeComFault(40070, invalidlist="|".join(bad_users))
        valid = [rec["userid"] for rec in found.values() if rec]
        if adding:
            self.note_members(f"tag:{tag['tagid']}", tag["userlist"], valid)
        _edit(tag["userlist"], valid, adding)
        _edit(tag["partylist"], [p for p in parties if p in self.departments], adding)
        extra: dict[str, Any] = {"invalidlist": "|".join(bad_users)} if bad_users else {}
        if bad_parties:
            extra["invalidparty"] = bad_parties
        return self.ok("ok" if adding else "deleted", **extra)

    # --- app chats ------------------------------------------------------------------

    @route("POST", api("appchat/create"))
    def _appchat_create(self, request: httpx.Request) -> httpx.Response:
        self.require_visible_root()
        body = self.payload(request)
        chatid = self._free_chatid(body.get("chatid"))
        if not body.get("userlist"):
            raise WeComFault(86204)
        users = self._members(body["userlist"], invalid=86007)
        if not 2 <= len(users) <= self.limits.chat_members:
            raise WeComFault(86006)
        owner = self._owner(body.get("owner"), users) if body.get("owner") else self.rng.choice(users)
        if self.rate_limits and not self._chat_day.hit("appchat/create"):
            raise WeComFault(45009)  # ≤1000 creates a day; the code for this quota is unverified
        name = str(body.get("name") or "")[:CHAT_NAME_MAX]
        self.chats[chatid] = {
            "chatid": chatid,
            "name": name,
            "owner": owner,
            "userlist": users,
            "chat_type": 0,
            "created_by_app": True,
        }
        self.note_members(chatid, (), users)
        self.note_group("chat", name)
        return self.ok(chatid=chatid)

    def _free_chatid(self, chatid: Any) -> str:
        if chatid is None or chatid == "":
            return self._new_chatid()
        chatid = str(chatid)
        if len(chatid) > CHATID_MAX:
            raise WeComFault(86205)
        if not CHATID_RE.match(chatid):
            raise WeComFault(86001)
        if chatid in self.chats:
            raise WeComFault(86215)
        return chatid

    def _members(self, ids: Any, *, invalid: int) -> list[str]:
        if not isinstance(ids, list):
            raise WeComFault(40058)
        found = [self.find_user(i) for i in ids]
        if any(u is None for u in found):
            raise WeComFault(invalid)
        return list(dict.fromkeys(u["userid"] for u in found if u))

    def _owner(self, owner: Any, members: list[str]) -> str:
        user = self.find_user(owner)
        if user is None:
            raise WeComFault(86005)
        if user["userid"] not in members:
            raise WeComFault(86207)
        return user["userid"]

    @route("GET", api("appchat/get"))
    def _appchat_get(self, request: httpx.Request) -> httpx.Response:
        self.require_visible_root()
        chat = self._chat(self.param(request, "chatid", 86201))
        keys = ("chatid", "name", "owner", "userlist", "chat_type")
        return self.ok(chat_info={k: chat[k] for k in keys})

    def _chat(self, chatid: str) -> dict[str, Any]:
        chat = self.chats.get(chatid)
        if chat is None:
            raise WeComFault(86003)
        return chat

    @route("POST", api("appchat/update"))
    def _appchat_update(self, request: httpx.Request) -> httpx.Response:
        self.require_visible_root()
        body = self.payload(request)
        if not body.get("chatid"):
            raise WeComFault(86201)
        chat = self._chat(str(body["chatid"]))
        if not chat["created_by_app"]:
            raise WeComFault(86008)
        members = self._updated_members(chat, body)
        owner = self._owner(body["owner"], members) if body.get("owner") else chat["owner"]
        if owner not in members:
            raise WeComFault(86207)
        if "name" in body and not str(body["name"] or "").strip():
            raise WeComFault(86004)
        before = list(chat["userlist"])
        chat.update(userlist=members, owner=owner, name=str(body.get("name") or chat["name"])[:CHAT_NAME_MAX])
        asked = [self.find_user(u) for u in body.get("add_user_list") or []]
        self.note_members(chat["chatid"], before, [u["userid"] for u in asked if u])
        return self.ok()

    def _updated_members(self, chat: dict[str, Any], body: dict[str, Any]) -> list[str]:
        # Adding a member already in the chat is accepted (not documented); removing one who
        # is not in it is 86216 (WeCom's help for that code).
        members = list(chat["userlist"])
        members += [
            u for u in self._members(body.get("add_user_list") or [], invalid=86216) if u not in members
        ]
        removed = self._members(body.get("del_user_list") or [], invalid=86216)
        if any(u not in members for u in removed):
            raise WeComFault(86216)
        members = [u for u in members if u not in removed]
        cap = max(self.limits.chat_members, len(chat["userlist"]))  # an oversized seed may still shrink
        if len(members) > cap:
            raise WeComFault(86006)
        return members

    # --- app messages ---------------------------------------------------------------

    @route("POST", api("message/send"))
    def _message_send(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        if body.get("agentid") in (None, ""):
            raise WeComFault(41011)
        if self.int_value(body["agentid"], 40056) != self.agentid:
            raise WeComFault(40056)
        text = self._content(body)
        users, bad_users, bad_parties, bad_tags = self._recipients(body)
        invalid = {
            "invaliduser": "|".join(bad_users),
            "invalidparty": "|".join(bad_parties),
            "invalidtag": "|".join(bad_tags),
        }
        if not users:
            raise WeComFault(82001, **invalid)
        window = self._duplicate_window(body)
        for userid in users:
            self.note_sent(userid, text)
            if window and not self._first_within(userid, text, window):
                continue  # the duplicate check drops it; the call still succeeds
            if self._member_hour.hit(userid) and self._member_minute.hit(userid):
                self.messages.append((userid, text))  # beyond the per-member limits: dropped silently
        return self.ok(**invalid, unlicenseduser="", msgid=f"{self.rng.getrandbits(96):024x}")

    def _duplicate_window(self, body: dict[str, Any]) -> float:
        """Seconds of the duplicate check (0 when off): default 1800, at most 4 h (§2.6)."""
        if str(body.get("enable_duplicate_check", 0)) != "1":
            return 0.0
        interval = self.int_value(body.get("duplicate_check_interval", 1800), 40058)
        if not 0 < interval <= 14_400:
            raise WeComFault(40058)
        return float(interval)

    def _first_within(self, userid: str, text: str, window: float) -> bool:
        """Record a checked message; False when the same text reached ``userid`` within ``window``."""
        now, key = self.clock(), (userid, text)
        last = self.duplicate_check.get(key)
        if last is not None and now - last < window:
            return False
        self.duplicate_check[key] = now
        return True

    @staticmethod
    def _content(body: dict[str, Any]) -> str:
        msgtype = body.get("msgtype")
        if msgtype not in (
            "text",
            "markdown",
            "textcard",
            "news",
            "mpnews",
            "image",
            "file",
            "video",
            "voice",
        ):
            raise WeComFault(40008)
        part = body.get(msgtype) or {}
        text = part.get("content") or part.get("description") if isinstance(part, dict) else None
        if msgtype == "text" and not text:
            raise WeComFault(44004)
        return str(text or msgtype)

    def _recipients(self, body: dict[str, Any]) -> tuple[list[str], list[str], list[str], list[str]]:
        """(deliverable userids, invalid users, invalid parties, invalid tags); disabled users are invalid."""
        touser, parties, tags = (_ids(body, key) for key in ("touser", "toparty", "totag"))
        if len(touser) > self.limits.message_recipients:
            raise WeComFault(40032)
        if touser == ["@all"]:
            found, bad_users = [u["userid"] for u in self.users.values() if u["enable"]], []
        else:
            found = [self.find_user(u)["userid"] for u in touser if self._enabled(u)]
            bad_users = [u for u in touser if not self._enabled(u)]
        bad_parties = [p for p in parties if not p.isdigit() or int(p) not in self.departments]
        bad_tags = [t for t in tags if not t.isdigit() or int(t) not in self.tags]
        for p in (int(p) for p in parties if p not in bad_parties):
            found += [u["userid"] for u in self.users.values() if p in u["department"] and u["enable"]]
        for t in (int(t) for t in tags if t not in bad_tags):
            found += [u for u in self.tags[t]["userlist"] if self.users[u]["enable"]]
        return list(dict.fromkeys(found)), bad_users, bad_parties, bad_tags

    def _enabled(self, userid: str) -> bool:
        user = self.find_user(userid)
        return bool(user and user["enable"])


def _ids(body: dict[str, Any], key: str) -> list[str]:
    return [i.strip() for i in str(body.get(key) or "").split("|") if i.strip()]


def _edit(values: list[Any], items: list[Any], adding: bool) -> None:
    for item in items:
        if adding and item not in values:
            values.append(item)
        elif not adding and item in values:
            values.remove(item)


__all__ = ["GroupsMixin"]

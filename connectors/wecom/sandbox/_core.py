"""The WeCom sandbox's common ground: envelopes, tokens, limits and dispatch.

WeCom answers HTTP 200 with ``{errcode, errmsg}``; failures repeat the code and message in
``error-code``/``error-msg`` headers, and the message ends with a request hint and a
``more info at https://open.work.weixin.qq.com/devtool/query?e=<code>`` link (a captured
60011 answer, reference §2.2). Handlers raise ``WeComFault`` and ``dispatch`` renders it,
after checking the token (41001 missing, 40014 invalid, 42001 expired or revoked) and the
per-API rate windows (45009). The English message texts are ours: WeCom's exact wording is
not documented, programs must read ``errcode``.

Two secrets, two tokens (reference §2.1): ``gettoken`` with the app secret issues the app's
token, with the contacts-sync (通讯录同步) secret a separate contacts token. User and
department writes with an app token, and app chats or app messages with a contacts token,
are refused with 48002 "api forbidden": which secret may call what follows WeCom's split
of secrets (reference §2.1), the errcode is our modelling (48002 is WeCom's "API not
permitted", reference §2.2). Reads, and tags, take either token.
``contacts_secret_required=False`` lets the app token write contacts too (a single-secret
setup); the contacts token still never acts as the app.
"""

from __future__ import annotations

import base64
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from connectors._sandbox import FaultPlan, Sandbox, SlidingWindow, TokenStore, route
from connectors._userindex import IndexedUsersAttribute
from connectors.wecom.client import (
    API_FORBIDDEN,
    TOKEN_API,
    TOKEN_TTL,
    WRITE_APIS,
    api,
    is_app_only,
    is_contact_write,
)

CONTENT_TYPE = "application/json; charset=UTF-8"
MORE_INFO = "https://open.work.weixin.qq.com/devtool/query?e="
FROM_IP = "127.0.0.1"
SECRET_ALPHABET = string.ascii_letters + string.digits + "-_"

MESSAGES: dict[int, str] = {
    -1: "system busy",
    40001: "invalid secret",
    40003: "invalid userid",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40031: "invalid userid list",
    40032: "invalid userid list size",
    40056: "invalid agentid",
    40058: "invalid parameter",
    40066: "invalid department list",
    40068: "invalid tagid",
    40070: "all users and parties of the tag request are invalid",
    40071: "tag name existed",
    40072: "invalid tag name size",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41009: "userid missing",
    41011: "agentid missing",
    41017: "tagid missing",
    42001: "access_token expired",
    44004: "text content is empty",
    45009: "api freq out of limit",
    48002: "api forbidden",
    60001: "invalid department name size",
    60003: "department not found",
    60004: "parent department not found",
    60008: "department existed",
    60009: "department name contains invalid characters",
    60011: "no privilege to access/modify contact/party/agent",
    60102: "userid existed",
    60103: "invalid mobile",
    60104: "mobile existed",
    60105: "invalid email",
    60106: "email existed",
    60110: "user in too many departments",
    60111: "userid not found",
    60112: "invalid name",
    60123: "invalid department id",
    60127: "department missing",
    60129: "mobile and email are both empty",
    81002: "departments nest too deep",
    81011: "no privilege to modify the tag",
    81014: "too many users or parties in one tag request",
    82001: "all touser, toparty and totag are invalid",
    86001: "invalid chatid",
    86003: "chatid not found",
    86004: "invalid chat name",
    86005: "invalid chat owner",
    86006: "too many or too few chat members",
    86007: "invalid chat member",
    86008: "chat not created by this app",
    86201: "chatid missing",
    86204: "chat members missing",
    86205: "chatid too long",
    86207: "chat owner not in the member list",
    86215: "chatid existed",
    86216: "invalid chat member id",
}


# userids are unique regardless of letter case; mobile and email (any case) are unique too
USER_INDEXES = {
    "key": lambda uid, u: uid.lower(),
    "mobile": lambda uid, u: u.get("mobile") or None,
    "email": lambda uid, u: (u.get("email") or "").lower() or None,
}


@dataclass(frozen=True)
class WeComLimits:
    """WeCom's documented limits (reference §2.3–2.6); tests shrink them."""

    per_minute: int = 10_000  # calls per corp per API
    per_hour: int = 150_000
    chats_per_day: int = 1_000  # appchat/create per corp
    member_messages_per_minute: int = 30  # app messages to one member; excess silently dropped
    member_messages_per_hour: int = 1_000
    chat_members: int = 2_000  # appchat 2..2000 (86006)
    tag_users_per_call: int = 1_000  # tag/addtagusers, deltagusers (81014)
    tag_parties_per_call: int = 100
    message_recipients: int = 1_000  # message/send touser ids (40032 beyond: unverified code)
    list_id_limit: int = 10_000  # user/list_id limit 1..10000
    user_departments: int = 20  # 60110
    department_depth: int = 15  # 81002


class WeComFault(Exception):
    """A WeCom error answer: errcode, optional message, extra body fields."""

    def __init__(self, code: int, message: str | None = None, **extra: Any):
        super().__init__(code)
        self.code, self.message, self.extra = code, message, extra


class WeComCore(Sandbox):
    """State, credentials, token and rate checks shared by the contact and group handlers."""

    service = "wecom"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        faults: FaultPlan | None = None,
        rate_limits: bool = True,
        seed: int = 0,
        limits: WeComLimits | None = None,
        contacts_secret_required: bool = True,
    ):
        super().__init__(clock=clock, faults=faults, rate_limits=rate_limits)
        self.limits = limits or WeComLimits()
        self.rng = random.Random(seed)
        self.corpid = f"ww{self.rng.getrandbits(64):016x}"
        self._secret = "".join(self.rng.choice(SECRET_ALPHABET) for _ in range(43))
        # Its own generator, so adding it left the seeded ids and hints of ``rng`` unchanged.
        contacts_rng = random.Random(f"{seed}:contacts")
        self._contacts_secret = "".join(contacts_rng.choice(SECRET_ALPHABET) for _ in range(43))
        self.agentid = 1000002
        self.contacts_secret_required = contacts_secret_required
        self.tokens = TokenStore(TOKEN_TTL, clock)  # same token while valid, no extension
        self.token_kinds: dict[str, str] = {}  # token → "app" | "contacts", which secret got it
        self.write_calls = 0
        self.legacy_contacts_blocked = False  # the 2022-08-15 user/list restriction (48002)
        self.app_visible_root = True  # appchat needs the app visible to the root department
        self.users: dict[str, dict[str, Any]] = {}
        self.departments: dict[int, dict[str, Any]] = {1: _department(1, "root", 0)}
        self.tags: dict[int, dict[str, Any]] = {}
        self.chats: dict[str, dict[str, Any]] = {}
        self.messages: list[tuple[str, str]] = []
        self.duplicate_check: dict[tuple[str, str], float] = {}  # (userid, text) → when it was last checked in
        lim = self.limits
        self._minute = SlidingWindow(lim.per_minute, 60, clock)
        self._hour = SlidingWindow(lim.per_hour, 3600, clock)
        self._chat_day = SlidingWindow(lim.chats_per_day, 86_400, clock)
        self._member_minute = SlidingWindow(lim.member_messages_per_minute, 60, clock)
        self._member_hour = SlidingWindow(lim.member_messages_per_hour, 3600, clock)

    users = IndexedUsersAttribute(
        USER_INDEXES, "userid → user record, indexed by lower-case userid, mobile and lower-case email (kept in step).")

    @property
    def credentials(self) -> dict[str, Any]:
        """What a connector needs: corpid, corpsecret (the app's), agentid, contacts_secret (通讯录同步)."""
        return {
            "corpid": self.corpid,
            "corpsecret": self._secret,
            "agentid": self.agentid,
            "contacts_secret": self._contacts_secret,
        }

    # --- the handler ----------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if request.url.path in WRITE_APIS:
                self.write_calls += 1
            return super().__call__(request)

    def is_write(self, request: httpx.Request) -> bool:
        """Whether ``request`` is one of the write APIs (those ``write_calls`` counts)."""
        return request.url.path in WRITE_APIS

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        try:
            if path != TOKEN_API:
                self._permit(path, self._authorize(request))
            self._throttle(path)
            return super().dispatch(request)
        except WeComFault as fault:
            return self.fail(fault.code, fault.message, **fault.extra)

    def _authorize(self, request: httpx.Request) -> str:
        """The kind of the request's valid token ("app" or "contacts"), else the token fault."""
        token = request.url.params.get("access_token")
        state = self.tokens.check(token)
        if state != "ok":
            raise WeComFault({"missing": 41001, "expired": 42001}.get(state, 40014))
        return self.token_kinds.get(token or "", "app")

    def _permit(self, path: str, kind: str) -> None:
        # Contacts are written with the contacts-sync token; chats and messages act as the app.
        # Refused either way with 48002 "api forbidden": the errcode is our modelling.
        if kind == "app" and self.contacts_secret_required and is_contact_write(path):
            raise WeComFault(API_FORBIDDEN)
        if kind == "contacts" and is_app_only(path):
            raise WeComFault(API_FORBIDDEN)

    def _throttle(self, path: str) -> None:
        # Per corp per API, minute and hour windows; app messages have their own limits.
        if not self.rate_limits or path == api("message/send"):
            return
        if not (self._hour.hit(path) and self._minute.hit(path)):
            raise WeComFault(45009)

    def error(self, request: httpx.Request, kind: str, **detail: Any) -> httpx.Response:
        """WeCom's answer for a fault kind (5xx, ratelimit, tokenexpired, notfound-route)."""
        # 5xx is WeCom's own "system busy" (-1) unless ``status=`` asks for a gateway error;
        # ratelimit is 45009, tokenexpired 42001; an unknown path is an HTML 404 (unverified).
        if kind == "5xx":
            status = detail.get("status")
            return httpx.Response(status, text="Bad Gateway") if status else self.fail(-1)
        if kind == "ratelimit":
            return self.fail(45009)  # WeCom sends no Retry-After
        if kind == "tokenexpired":
            return self.fail(42001)
        if kind == "notfound-route":
            return httpx.Response(
                404,
                text="<html><body><h1>404 Not Found</h1></body></html>",
                headers={"Content-Type": "text/html"},
            )
        raise ValueError(f"unknown error kind {kind!r}")

    def revoke_tokens(self) -> None:
        """Expire every token now: the next call with one answers 42001."""
        self.tokens.revoke_all()

    # --- envelopes ------------------------------------------------------------------

    def ok(self, errmsg: str = "ok", **fields: Any) -> httpx.Response:
        return self.json({"errcode": 0, "errmsg": errmsg, **fields}, headers={"Content-Type": CONTENT_TYPE})

    def fail(self, code: int, message: str | None = None, **extra: Any) -> httpx.Response:
        hint = f"[{int(self.clock())}_{self.requests}_{self.rng.getrandbits(128):032x}]"
        text = (
            f"{message or MESSAGES.get(code, 'error')}, hint: {hint}, from ip: {FROM_IP}, "
            f"more info at {MORE_INFO}{code}"
        )
        headers = {"Content-Type": CONTENT_TYPE, "error-code": str(code), "error-msg": text}
        return self.json({"errcode": code, "errmsg": text, **extra}, headers=headers)

    # --- gettoken -------------------------------------------------------------------

    @route("GET", TOKEN_API)
    def _gettoken(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if not params.get("corpid"):
            raise WeComFault(41002)
        if params["corpid"] != self.corpid:
            raise WeComFault(40013)
        secret = params.get("corpsecret")
        if not secret:
            raise WeComFault(41004)
        kinds = {self._secret: "app", self._contacts_secret: "contacts"}
        if secret not in kinds:
            raise WeComFault(40001)
        # One token per secret, each kept while valid (TokenStore keys them apart).
        kind = kinds[secret]
        token, left = self.tokens.issue(self.corpid + ":" + (str(self.agentid) if kind == "app" else kind))
        self.token_kinds[token] = kind
        return self.ok(access_token=token, expires_in=left)

    # --- request helpers --------------------------------------------------------------

    @staticmethod
    def param(request: httpx.Request, name: str, missing: int) -> str:
        value = request.url.params.get(name)
        if not value:
            raise WeComFault(missing)
        return value

    @staticmethod
    def int_value(value: Any, invalid: int) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise WeComFault(invalid) from None

    def payload(self, request: httpx.Request) -> dict[str, Any]:
        """The JSON body; WeCom flags unparsable JSON with a "wrong json format" warning."""
        data = self.body(request)
        if data is None:
            raise WeComFault(40058, "invalid parameter, Warning: wrong json format.")
        return data

    def find_user(self, userid: Any) -> dict[str, Any] | None:
        """The user record for ``userid`` in any letter case, or None."""
        return self.users.first("key", str(userid).lower()) if userid else None

    def require_visible_root(self) -> None:
        if not self.app_visible_root:
            raise WeComFault(60011)



def _department(dept_id: int, name: str, parent: int, order: int = 0) -> dict[str, Any]:
    return {"id": dept_id, "name": name, "name_en": "", "parentid": parent, "order": order}


def encode_cursor(offset: int) -> str:
    """An opaque ``next_cursor`` for ``user/list_id``."""
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text[1:]) if text.startswith("o") else -1
    except ValueError:
        return -1


__all__ = ["MESSAGES", "WeComCore", "WeComFault", "WeComLimits", "decode_cursor", "encode_cursor"]

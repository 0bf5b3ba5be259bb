"""The Feishu sandbox's frame: envelope, tenant tokens, rate windows, paging, faults.

Every answer is ``{code, msg, data}`` with the HTTP status the real gateway uses: 200 on
success, 400/403/404/429/500 on errors (§3.2). Tenant tokens live 2 h; asking for one with
less than 30 min left issues a new one while the old one stays valid until it expires;
otherwise the same token comes back with its remaining ``expire`` (§3.1). An unknown,
revoked or expired token answers ``99991663`` (HTTP 400 chosen; 401 is also seen).

Rate limits: each API (route) per app allows ``QPS_PER_API`` calls in any 1 s window and
``QPM_PER_API`` in any minute (the "1000/min & 50/s" tier, §3.2); over it the gateway
answers HTTP 429, ``code 99991400`` and headers ``x-ogw-ratelimit-limit``/``x-ogw-ratelimit-reset``.
Page tokens are opaque; a forged one answers 40012, a page size out of range 40011 (§8.3).

Users are kept by ``user_id`` (the id Muster creates them with) and also carry an
``open_id`` (``ou_``) and a ``union_id`` (``on_``). Every API names users in the id type
its query selects (``user_id_type`` / ``member_id_type`` / ``receive_id_type``, default
``open_id``; drive bodies say ``member_type``), exactly as the real service does: an id of
another type is simply not a user there and fails with that API's own code.
"""

from __future__ import annotations

import base64
import math
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from connectors._sandbox import FaultPlan, Sandbox, SlidingWindow
from connectors._userindex import IndexedUsersAttribute

PREFIX = "/open-apis"
TOKEN_TTL = 7200
REISSUE_BELOW = 1800  # <30 min left → a new token (the old one stays valid)
QPS_PER_API = 50
QPM_PER_API = 1000  # the same tier's minute quota: "1000/min & 50/s" (§3.2)
TOKEN_INVALID = 99991663
RATE_LIMITED = 99991400
BAD_PAGE_SIZE = 40011
BAD_PAGE_TOKEN = 40012
INTERNAL = 1066001  # any 5xx-class answer (drive's "internal error"; chosen for every API)
BAD_CREDENTIALS = 10014  # "app secret invalid" (unverified)
FIELD_INVALID = 99992402  # "field validation failed": a body that fails the schema
ID_TYPES = ("open_id", "user_id", "union_id")

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
READ_POSTS = frozenset({PREFIX + "/drive/v1/metas/batch_query"})  # a POST that only reads: not a write



def phone_key(mobile: Any) -> str:
    """A mobile as the uniqueness check compares it: without ``+86`` or a leading ``+``."""
    text = str(mobile)
    return text[3:] if text.startswith("+86") else text.lstrip("+")


# mobile (41001) and email (41002, any case) are unique; requests name users by open_id or union_id too
USER_INDEXES = {
    "mobile": lambda uid, u: phone_key(u["mobile"]) if u.get("mobile") else None,
    "email": lambda uid, u: (u.get("email") or "").lower() or None,
    "open_id": lambda uid, u: u.get("open_id"),
    "union_id": lambda uid, u: u.get("union_id"),
}


class Fail(Exception):
    """An error answer: HTTP ``status`` with ``{code, msg}`` (and optional ``data``)."""

    def __init__(self, code: int, msg: str, status: int = 400, data: dict[str, Any] | None = None):
        super().__init__(msg)
        self.code, self.msg, self.status, self.data = code, msg, status, data


def public(fn: Callable) -> Callable:
    """Mark a handler that needs no token (the token endpoint)."""
    fn._public = True
    return fn


class TenantTokens:
    """Tenant tokens per app with Feishu's "<30 min left → new token, old one stays" rule."""

    def __init__(self, clock: Callable[[], float], rng: random.Random):
        self.clock, self.rng = clock, rng
        self.valid: dict[str, float] = {}  # token → expires at
        self.latest: dict[str, str] = {}  # app → newest token
        self.known: set[str] = set()
        self.issued = 0

    def issue(self, app: str) -> tuple[str, int]:
        now = self.clock()
        token = self.latest.get(app)
        if token and self.valid.get(token, 0) - now >= REISSUE_BELOW:
            return token, int(self.valid[token] - now)
        token = "t-" + "".join(self.rng.choice("0123456789abcdef") for _ in range(40))
        self.valid[token] = now + TOKEN_TTL
        self.latest[app] = token
        self.known.add(token)
        self.issued += 1
        return token, TOKEN_TTL

    def check(self, token: str | None) -> str:
        """'ok', 'missing', 'expired' or 'invalid'."""
        if not token:
            return "missing"
        if self.valid.get(token, 0) > self.clock():
            return "ok"
        return "expired" if token in self.known else "invalid"

    def revoke_all(self) -> None:
        self.valid.clear()
        self.latest.clear()


class FeishuSandboxCore(Sandbox):
    """Frame of the Feishu sandbox; route handlers live in the mixins."""

    service = "feishu"

    def __init__(self, *, clock: Callable[[], float] = time.time, faults: FaultPlan | None = None,
                 rate_limits: bool = True, seed: int = 0):
        super().__init__(clock=clock, faults=faults, rate_limits=rate_limits)
        self.rng = random.Random(seed)
        self.app_id = "cli_" + self.hex(16)
        self.app_secret = self.hex(32)
        self.tenant_key = self.hex(16)
        self.tokens = TenantTokens(clock, self.rng)
        self.windows = SlidingWindow(QPS_PER_API, 1.0, clock)
        self.minutes = SlidingWindow(QPM_PER_API, 60.0, clock)
        self.write_calls = 0
        self.departments: dict[str, dict[str, Any]] = {
            "0": {"department_id": "0", "open_department_id": "0", "name": "Muster sandbox",
                  "parent_department_id": ""}}
        self.users: dict[str, dict[str, Any]] = {}
        self.chats: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self.messages: list[tuple[str, str]] = []  # (user_id, text) delivered
        self.deleted_users: dict[str, str | None] = {}  # deleted user_id → its docs_acceptor (a user_id) or None
        self.uuids: dict[str, Any] = {}  # "<api>:<uuid>" → the first answer's data
        self.out_of_scope: set[str] = set()  # department ids outside the app's contact scope (40004)
        self.user_id_scope = True  # the app holds "get user_id"; without it users come without user_id
        # literal routes before templated ones: /users/find_by_department is not /users/{user_id}
        self._routes.sort(key=lambda r: r[1].pattern.count("(?P<"))

    users = IndexedUsersAttribute(
        USER_INDEXES, "user_id → user record, indexed by mobile, email, open_id and union_id (kept in step).")

    @property
    def credentials(self) -> dict[str, str]:
        return {"app_id": self.app_id, "app_secret": self.app_secret}

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    # --- envelopes -----------------------------------------------------------------

    def ok(self, data: Any = None) -> httpx.Response:
        body: dict[str, Any] = {"code": 0, "msg": "success"}
        if data is not None:
            body["data"] = data
        return self.json(body, headers={"X-Tt-Logid": self.hex(24)})

    def fail(self, code: int, msg: str, status: int = 400, data: Any = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"code": code, "msg": msg}
        if data is not None:
            body["data"] = data
        return self.json(body, status=status, headers={"X-Tt-Logid": self.hex(24), **(headers or {})})

    def error(self, request: httpx.Request, kind: str, **detail: Any) -> httpx.Response:
        if kind == "notfound-route":
            return httpx.Response(404, text="404 page not found", headers={"Content-Type": "text/plain"})
        if kind == "ratelimit":
            wait = max(1, math.ceil(detail.get("retry_after") or 1))
            return self.fail(RATE_LIMITED, "request trigger frequency limit", 429,
                             headers={"x-ogw-ratelimit-limit": str(QPS_PER_API),
                                      "x-ogw-ratelimit-reset": str(wait)})
        if kind == "tokenexpired":
            return self.fail(TOKEN_INVALID, "Invalid access token for authorization. Please make a request "
                                            "with token attached.")
        if kind == "5xx":
            return self.fail(INTERNAL, "internal error", 500)
        raise ValueError(f"unknown error kind {kind!r}")

    def revoke_tokens(self) -> None:
        self.tokens.revoke_all()

    # --- the frame -----------------------------------------------------------------

    def is_write(self, request: httpx.Request) -> bool:
        """Whether ``request`` changes data: a write method, not a token request nor a POST that only reads."""
        path = request.url.path
        return request.method in WRITE_METHODS and not path.startswith(PREFIX + "/auth/") and path not in READ_POSTS

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.is_write(request):
            with self.lock:
                self.write_calls += 1
        return super().__call__(request)

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        handler, params, key = self._route_for(request)
        if handler is None:
            return self.error(request, "notfound-route")
        if self.rate_limits:
            full = next((w for w in (self.windows, self.minutes) if not w.hit(key)), None)
            if full is not None:
                return self.error(request, "ratelimit", retry_after=full.retry_after(key))
        try:
            if not getattr(handler, "_public", False):
                self._authorize(request)
            return handler(request, **params)
        except Fail as exc:
            return self.fail(exc.code, exc.msg, exc.status, exc.data)

    def _route_for(self, request: httpx.Request) -> tuple[Callable | None, dict[str, str], str]:
        for method, pattern, handler in self._routes:
            match = pattern.match(request.url.path)
            if match and method == request.method:
                return handler, match.groupdict(), f"{method} {pattern.pattern}"
        return None, {}, ""

    def _authorize(self, request: httpx.Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        if self.tokens.check(token) != "ok":
            raise Fail(TOKEN_INVALID, "Invalid access token for authorization. Please make a request with "
                                      "token attached.")

    def payload(self, request: httpx.Request) -> dict[str, Any]:
        body = self.body(request)
        if body is None:
            raise Fail(99992402, "field validation failed: body is not a JSON object")
        return body

    # --- paging --------------------------------------------------------------------

    def page(self, request: httpx.Request, items: list[Any], scope: str, max_size: int,
             default_size: int = 20) -> dict[str, Any]:
        """One page of ``items`` by opaque ``page_token``/``page_size``: ``{items, has_more, page_token?}``."""
        raw_size = request.url.params.get("page_size")
        try:
            size = int(raw_size) if raw_size not in (None, "") else default_size
        except ValueError:
            size = -1
        if not 1 <= size <= max_size:
            raise Fail(BAD_PAGE_SIZE, f"invalid page_size, must be between 1 and {max_size}")
        start = 0
        token = request.url.params.get("page_token")
        if token:
            start = _read_token(token, scope)
            if start is None or start > len(items):
                raise Fail(BAD_PAGE_TOKEN, "invalid page_token")
        chunk = items[start:start + size]
        data: dict[str, Any] = {"items": chunk, "has_more": start + size < len(items)}
        if data["has_more"]:
            data["page_token"] = _make_token(start + size, scope)
        return data

    def once(self, api: str, key: str | None, make: Callable[[], Any]) -> Any:
        """Run ``make`` once per idempotency ``key`` (uuid / client_token); repeats get the first answer."""
        if not key:
            return make()
        slot = f"{api}:{key}"
        if slot not in self.uuids:
            self.uuids[slot] = make()
        return self.uuids[slot]

    # --- lookups -------------------------------------------------------------------

    def find_user(self, some_id: Any, id_type: str) -> dict[str, Any] | None:
        """The user whose ``id_type`` id is ``some_id`` (``None`` when there is none)."""
        if not some_id:
            return None
        if id_type == "user_id":
            return self.users.get(str(some_id))
        return self.users.first(id_type, some_id)

    def id_of(self, user_id: str, id_type: str) -> str:
        """A stored user's id in the type a request asked for."""
        return str(self.users[user_id][id_type]) if user_id in self.users else user_id

    @staticmethod
    def id_type(request: httpx.Request, name: str, code: int) -> str:
        """The ``name`` query (``open_id`` when absent); another value fails with ``code``."""
        value = request.url.params.get(name, "open_id")
        if value not in ID_TYPES:
            raise Fail(code, f"{name} must be one of {', '.join(ID_TYPES)}")
        return value


def _make_token(offset: int, scope: str) -> str:
    return base64.urlsafe_b64encode(f"{scope}|{offset}".encode()).decode().rstrip("=")


def _read_token(token: str, scope: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        got_scope, _, offset = text.rpartition("|")
        return int(offset) if got_scope == scope else None
    except (ValueError, UnicodeDecodeError):
        return None


__all__ = ["FIELD_INVALID", "ID_TYPES", "PREFIX", "QPS_PER_API", "REISSUE_BELOW", "TOKEN_TTL", "FeishuSandboxCore",
           "Fail", "TenantTokens", "public"]

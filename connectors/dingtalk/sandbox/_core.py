"""The DingTalk sandbox's frame: envelopes, tokens, rate windows, routing, faults.

Both of DingTalk's path families are served by one handler, as one base URL:

- the old API (``/gettoken``, ``/topapi/...``, ``/chat/...``, legacy ``/user/...``)
  always answers HTTP 200, with ``{errcode, errmsg, request_id}`` in the body; a
  permission failure is ``errcode 88`` carrying ``sub_code``/``sub_msg`` (§1.2);
- the new API (``/v1.0/...``) answers non-2xx with ``{code, message, requestid}`` and
  takes the token in the ``x-acs-dingtalk-access-token`` header (§1.1, §1.2).

Tokens are app tokens shared by both families: 7200 s, the same token while valid, and
``gettoken`` extends it (§1.1); a revoked or expired token answers 42001, an unknown one
40014. Every API is limited to 20 calls per app in any 1 s window (§1.3), answered with
errcode 90002 in an HTTP 200 body (the per-app code is unconfirmed; 90002 is the one
observed). Handlers raise ``Fail``/``NewFail`` and the frame renders the envelope.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from connectors._sandbox import FaultPlan, Sandbox, SlidingWindow, TokenStore
from connectors._userindex import IndexedUsersAttribute

TOKEN_TTL = 7200
QPS_PER_API = 20
NEW_API_PREFIX = "/v1.0/"

# errcodes the sandbox answers with (sources in reference §1.2 / §8.1; "chosen" = no source)
SYSTEM_BUSY = -1
AUTH_EXCEPTION = 88
URI_NOT_FOUND = 404
TOKEN_INVALID = 40014
TOKEN_EXPIRED = 42001
BAD_CREDENTIALS = 40089  # 不合法的corpId或corpSecret (open-dingtalk/corp_demo_php#3)
NO_PERMISSION = 60011
DEPT_NOT_FOUND = 60003
DEPT_NAME_TAKEN = 60008  # unverified; WeCom's number for the same rule
USER_NOT_FOUND = 60121
USERID_TAKEN = 60102
MOBILE_TAKEN = 60104
CHAT_NOT_FOUND = 34001  # 无效的会话id (unverified)
CHAT_FULL = 34028  # chosen: no source gives the code for the 1000-member cap
RATE_LIMITED = 90002
INVALID_PARAM = 400002

WRITE_PATHS = frozenset({
    "/topapi/v2/user/create", "/topapi/v2/user/update", "/topapi/v2/user/delete",
    "/topapi/v2/department/create", "/chat/create", "/chat/update",
    "/topapi/message/corpconversation/asyncsend_v2",
})

# a mobile is unique in the organisation (60104); the new API finds users by unionid
USER_INDEXES = {
    "mobile": lambda uid, u: u.get("mobile"),
    "unionid": lambda uid, u: u.get("unionid"),
}


class Fail(Exception):
    """An old-API error answer (HTTP 200, errcode ≠ 0)."""

    def __init__(self, errcode: int, errmsg: str, **extra: Any):
        super().__init__(errmsg)
        self.errcode, self.errmsg, self.extra = errcode, errmsg, extra


class NewFail(Exception):
    """A new-API error answer (HTTP status + ``{code, message}``)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def public(fn: Callable) -> Callable:
    """Mark a handler that needs no access token (the token endpoints)."""
    fn._public = True
    return fn


def invalid(message: str) -> Fail:
    """The generic invalid-parameter answer."""
    return Fail(INVALID_PARAM, f"参数错误: {message}")


class DingTalkSandboxCore(Sandbox):
    """Frame of the DingTalk sandbox; the route handlers live in the mixins."""

    service = "dingtalk"

    def __init__(self, *, clock: Callable[[], float] = time.time, faults: FaultPlan | None = None,
                 rate_limits: bool = True, seed: int = 0):
        super().__init__(clock=clock, faults=faults, rate_limits=rate_limits)
        self.rng = random.Random(seed)
        self.appkey = "ding" + self._hex(16)
        self.appsecret = self._hex(64)
        self.agentid = self.rng.randrange(10**9, 4 * 10**9)
        self.corp_id = "ding" + self._hex(32)
        self.tokens = TokenStore(TOKEN_TTL, clock, extend_on_reissue=True)
        self.windows = SlidingWindow(QPS_PER_API, 1.0, clock)
        self.denied: set[str] = set()  # API paths the app has no permission for (→ 88/60011)
        self.write_calls = 0
        root = {"dept_id": 1, "name": "Muster sandbox", "parent_id": None}
        self.departments: dict[int, dict[str, Any]] = {1: root}
        self.users: dict[str, dict[str, Any]] = {}
        self.chats: dict[str, dict[str, Any]] = {}
        self.messages: list[tuple[str, str]] = []
        self.notice_keys: set[tuple[str, int, str]] = set()  # (userid, day, content hash) delivered
        self.notice_counts: Counter[tuple[str, int]] = Counter()  # (userid, day) → notices delivered
        self.notice_minute = SlidingWindow(5000, 60.0, clock)  # work-notice recipients of the app (§1.8)

    users = IndexedUsersAttribute(
        USER_INDEXES, "userid → user record, indexed by mobile and unionid (kept in step with every change).")

    @property
    def credentials(self) -> dict[str, Any]:
        """What an app needs to call this sandbox: appkey, appsecret, agentid."""
        return {"appkey": self.appkey, "appsecret": self.appsecret, "agentid": self.agentid}

    def _hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    # --- envelopes -----------------------------------------------------------------

    def ok(self, **fields: Any) -> httpx.Response:
        """An old-API success: ``{errcode: 0, errmsg: "ok", request_id, ...}``."""
        return self.json({"errcode": 0, "errmsg": "ok", **fields, "request_id": self._hex(12)})

    def fail(self, errcode: int, errmsg: str, **extra: Any) -> httpx.Response:
        """An old-API failure, still HTTP 200."""
        return self.json({"errcode": errcode, "errmsg": errmsg, **extra, "request_id": self._hex(12)})

    def new_fail(self, status: int, code: str, message: str) -> httpx.Response:
        """A new-API failure: non-2xx with ``{code, message, requestid}``."""
        return self.json({"code": code, "message": message, "requestid": self._request_id()}, status=status)

    def _request_id(self) -> str:
        h = self._hex(32).upper()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def error(self, request: httpx.Request, kind: str, **detail: Any) -> httpx.Response:
        """The service's own answer for notfound-route, 5xx, ratelimit and tokenexpired."""
        new = request.url.path.startswith(NEW_API_PREFIX)
        if kind == "notfound-route":
            if new:
                return self.new_fail(404, "InvalidAction.NotFound", "Specified api is not found")
            return self.fail(URI_NOT_FOUND, "请求的URI地址不存在")
        if kind == "ratelimit":
            if new:  # the new API's QPS code string is unverified (§1.2)
                return self.new_fail(403, "Forbidden.AccessDenied.QpsLimitForApi", "api qps limit")
            return self.fail(RATE_LIMITED, f"请求总次数超过了 {QPS_PER_API} 次, 处罚将在 1 秒后结束")
        if kind == "tokenexpired":
            if new:
                return self.new_fail(400, "InvalidAuthentication", "不合法的access_token")
            return self.fail(TOKEN_EXPIRED, "access_token超时")
        if kind == "5xx":  # DingTalk reports a server-side failure as "system busy"
            if new:
                return self.new_fail(503, "ServiceUnavailable", "系统繁忙")
            return self.fail(SYSTEM_BUSY, "系统繁忙")
        raise ValueError(f"unknown error kind {kind!r}")

    def revoke_tokens(self) -> None:
        """Invalidate every token early: the next call answers 42001 (new API: 400)."""
        self.tokens.revoke_all()

    # --- the frame -----------------------------------------------------------------

    def is_write(self, request: httpx.Request) -> bool:
        """Whether ``request`` is one of the write APIs (those ``write_calls`` counts)."""
        return request.url.path in WRITE_PATHS

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.is_write(request):
            with self.lock:
                self.write_calls += 1
        return super().__call__(request)

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        handler, params = self._route_for(request)
        if handler is None:
            return self.error(request, "notfound-route")
        if self.rate_limits and not self.windows.hit(path):
            return self.error(request, "ratelimit")
        try:
            if not getattr(handler, "_public", False):
                self._authorize(request)
            return handler(request, **params)
        except Fail as exc:
            return self.fail(exc.errcode, exc.errmsg, **exc.extra)
        except NewFail as exc:
            return self.new_fail(exc.status, exc.code, exc.message)

    def _route_for(self, request: httpx.Request) -> tuple[Callable | None, dict[str, str]]:
        for method, pattern, handler in self._routes:
            match = pattern.match(request.url.path)
            if match and method == request.method:
                return handler, match.groupdict()
        return None, {}

    def _authorize(self, request: httpx.Request) -> None:
        path = request.url.path
        if path.startswith(NEW_API_PREFIX):
            if self.tokens.check(request.headers.get("x-acs-dingtalk-access-token")) != "ok":
                raise NewFail(400, "InvalidAuthentication", "不合法的access_token")
            return
        state = self.tokens.check(request.url.params.get("access_token"))
        if state == "expired":
            raise Fail(TOKEN_EXPIRED, "access_token超时")
        if state != "ok":
            raise Fail(TOKEN_INVALID, "不合法的access_token")
        if path in self.denied:
            reason = "没有调用该接口的权限"
            raise Fail(AUTH_EXCEPTION, f"ding talk error[subcode={NO_PERMISSION},submsg={reason}]",
                       sub_code=str(NO_PERMISSION), sub_msg=reason)

    def payload(self, request: httpx.Request) -> dict[str, Any]:
        """The JSON body, or the invalid-parameter answer when it is not a JSON object."""
        body = self.body(request)
        if body is None:
            raise invalid("request body is not a JSON object")
        return body

    # --- shared lookups ------------------------------------------------------------

    def user(self, userid: Any) -> dict[str, Any]:
        """The stored user, or 60121."""
        user = self.users.get(str(userid)) if userid else None
        if user is None:
            raise Fail(USER_NOT_FOUND, "找不到该用户")
        return user

    def department(self, dept_id: Any) -> dict[str, Any]:
        """The stored department, or 60003."""
        dept = self.departments.get(_int(dept_id, default=-1))
        if dept is None:
            raise Fail(DEPT_NOT_FOUND, "部门不存在")
        return dept


def _int(value: Any, *, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def id_list(value: Any) -> list[str]:
    """A list given as ``"a,b"`` (the documented form) or as a JSON array."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise invalid("expected a comma-separated string or a list")


__all__ = [
    "CHAT_FULL",
    "CHAT_NOT_FOUND",
    "QPS_PER_API",
    "TOKEN_TTL",
    "WRITE_PATHS",
    "DingTalkSandboxCore",
    "Fail",
    "NewFail",
    "id_list",
    "invalid",
    "public",
]

"""WeCom (企业微信) HTTP client: app and contacts tokens, errcode envelope, per-API limits.

WeCom answers HTTP 200 for almost everything and reports failures as ``{errcode, errmsg}``
in the body, mirrored in ``error-code``/``error-msg`` response headers (reference §2.2), so
our error class is chosen from ``ERRCODES`` and not from the HTTP status. Every business
call carries a token as the ``access_token`` query parameter. WeCom may invalidate a
token before its 7200 s are up, so the auth flow refetches it once on the token codes, as
``wechatpy.client.base`` does (40001, 40014, 42001).

Each app, and the contacts-sync tool (通讯录同步), has its own secret and its own token,
cached per secret (reference §2.1; wechatpy keys its cache by corpid and secret). Contacts
are written with the contacts-sync token — a self-built app's token is refused for them —
while app chats and app messages act as the app and need its token. So with a
``contacts_secret`` the client holds two token caches (``WeComTokens``) and each call takes
the token its API needs (``needs_contacts_token``): ``user/*`` and ``department/*`` the
contacts one — reads too, because since 2022-06-20 new self-built apps no longer get
mobile/email from ``user/get`` (reference §2.4), and Muster links people by them — and
everything else (tags, app chats, app messages) the app's. Without a contacts secret every
call uses the app token, as a single-secret setup did.

Limits are per corp *per API*: 10,000 calls a minute and 150,000 an hour (reference §2.3).
The limiter spaces each API's calls at the minute rate (with 2 % headroom) and holds an
hourly window on top, so a sync's burst goes at full speed and a long run still never
passes the hourly quota. ``message/send`` does not count toward
the basic limit (its limits are per recipient), so it is not spaced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._auth import TokenAuth, set_query_token
from connectors._errors import (
    AlreadyExists,
    AuthError,
    CapacityExceeded,
    Conflict,
    ConnectorError,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connectors._http import ApiClient, RetryPolicy
from connectors._ratelimit import RateLimiter

SERVICE = "wecom"
BASE_URL = "https://qyapi.weixin.qq.com"
API_ROOT = "/cgi-bin/"
TOKEN_API = "/cgi-bin/gettoken"
TOKEN_TTL = 7200  # seconds (reference §2.1)

CALLS_PER_MINUTE = 10_000  # per corp per API (reference §2.3)
CALLS_PER_HOUR = 150_000
API_RATE = CALLS_PER_MINUTE / 60 * 0.98  # calls a second, per API, spaced evenly
API_WINDOWS = ((CALLS_PER_HOUR, 3600.0),)  # and never more than this in any hour

LIST_ID_LIMIT = 10_000  # user/list_id: limit 1..10000 (document/path/96021)
TAG_BATCH = 1000  # tag/addtagusers, deltagusers: ≤1000 userids a call (81014 beyond)
MESSAGE_BATCH = 1000  # message/send: touser ≤1000 ids (wechatpy message.send_text_card doc)
CHAT_MAX_MEMBERS = 2000  # appchat: 2..2000 members (86006); older docs say 500
USER_MAX_DEPARTMENTS = 20  # 60110 beyond


def api(name: str) -> str:
    """The full path of a WeCom API given as ``user/get``."""
    return API_ROOT + name.lstrip("/")


WRITE_APIS = frozenset(
    api(name)
    for name in (
        "user/create",
        "user/update",
        "user/delete",
        "department/create",
        "department/update",
        "tag/create",
        "tag/addtagusers",
        "tag/deltagusers",
        "appchat/create",
        "appchat/update",
        "appchat/send",
        "message/send",
    )
)

# The contacts-sync secret's business: writing users and departments (reference §2.1, §2.4).
CONTACT_WRITE_APIS = frozenset(
    api(name)
    for name in (
        "user/create",
        "user/update",
        "user/delete",
        "user/batchdelete",
        "department/create",
        "department/update",
        "department/delete",
    )
)
CONTACT_PREFIXES = (api("user/"), api("department/"))  # the APIs the contacts token serves
API_FORBIDDEN = 48002  # "api forbidden": our model of a token used for another secret's APIs


def api_path(path: str) -> str:
    """``/cgi-bin/...`` of a request path, whatever prefix the base URL adds."""
    at = path.find(API_ROOT)
    return path[at:] if at >= 0 else path


def is_contact_write(path: str) -> bool:
    """A user or department write: only the contacts-sync token may make it."""
    return api_path(path) in CONTACT_WRITE_APIS


def is_app_only(path: str) -> bool:
    """App chats and app messages act as the app (agentid): only an app token may call them."""
    path = api_path(path)
    return path.startswith(api("appchat/")) or path == api("message/send")


def needs_contacts_token(path: str) -> bool:
    """Whether a client holding both tokens sends this API with the contacts-sync one."""
    return api_path(path).startswith(CONTACT_PREFIXES)


# Codes the auth flow answers by fetching a new token and resending once.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
SYSTEM_BUSY = -1
USERID_EXISTS = 60102
CHATID_EXISTS = 86215

# errcode → error class (reference §2.2, §8.2; WxCpErrorMsgEnum for the wording). Anything
# not listed is InvalidPayload: the request's content was refused.
ERRCODES: dict[int, type[ConnectorError]] = {
    SYSTEM_BUSY: TransientError,  # "system busy, retry ≤3 times"
    45009: RateLimited,  # API frequency limit
    45033: RateLimited,  # concurrent-call limit
    40014: TokenExpired,  # invalid access_token (after the one refresh)
    42001: TokenExpired,  # access_token expired
    40001: AuthError,  # invalid secret
    40013: AuthError,  # invalid corpid
    40056: AuthError,  # invalid agentid
    41001: AuthError,  # access_token missing
    41002: AuthError,  # corpid missing
    41004: AuthError,  # secret missing
    50003: AuthError,  # app disabled
    60020: AuthError,  # caller IP not in the allow-list
    301002: AuthError,  # token of another app than agentid
    48002: PermissionDenied,  # API not permitted (also the 2022-08 contacts restriction)
    50002: PermissionDenied,  # member outside the app's scope
    60011: PermissionDenied,  # no privilege on member/department/tag; appchat needs root scope
    81011: PermissionDenied,  # tag not created by this app
    86008: PermissionDenied,  # chat not created by this app
    46004: NotFound,  # user does not exist
    60111: NotFound,  # userid does not exist
    60003: NotFound,  # department does not exist
    60123: NotFound,  # invalid department id
    40068: NotFound,  # invalid tagid: missing or unknown
    40050: NotFound,  # chatid does not exist
    86003: NotFound,  # chatid does not exist
    USERID_EXISTS: AlreadyExists,
    60104: AlreadyExists,  # mobile already used
    60106: AlreadyExists,  # email already used
    60008: AlreadyExists,  # department id or name already exists
    40071: AlreadyExists,  # tag name already exists
    CHATID_EXISTS: AlreadyExists,  # chatid already exists
    86006: CapacityExceeded,  # chat has too many or too few members
    60110: CapacityExceeded,  # user in more than 20 departments
    45024: CapacityExceeded,  # account quota
    81014: CapacityExceeded,  # too many users for one tag call
    81001: CapacityExceeded,  # too many nodes under a department
    81002: CapacityExceeded,  # departments nest at most 15 deep
    60005: Conflict,  # department still has members
    60006: Conflict,  # department still has sub-departments
    301005: Conflict,  # the corp creator cannot be deleted
}

# WeCom sends no Retry-After: wait out its windows instead. 45009 counts per minute.
RETRY_AFTER: dict[int, float] = {45009: 60.0, 45033: 1.0}


class WeComAuth(TokenAuth):
    """``gettoken?corpid=&corpsecret=``; token in the ``access_token`` query parameter."""

    def __init__(
        self,
        base_url: str,
        *,
        corpid: str,
        corpsecret: SecretStr,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(base_url, clock=clock)
        self._corpid = corpid
        self._secret = corpsecret

    def token_request(self) -> httpx.Request:
        params = {"corpid": self._corpid, "corpsecret": self._secret.get_secret_value()}
        return httpx.Request("GET", self.base_url.join(TOKEN_API.lstrip("/")), params=params)

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        payload = _json(response)
        code, message = envelope(payload, response)
        if response.status_code >= 500 or not isinstance(payload, dict):
            raise TransientError(
                f"token endpoint answered HTTP {response.status_code}",
                service=SERVICE,
                api=TOKEN_API,
                code=response.status_code,
                sent=False,
            )
        if code:
            raise token_error(code, message)
        lifetime = float(payload.get("expires_in") or TOKEN_TTL)
        # WeCom hands out the same token while it is valid, with only its remaining life:
        # renew halfway through that rather than on every call of its last minutes.
        self.margin = min(type(self).margin, lifetime / 2)
        return str(payload["access_token"]), lifetime

    def attach(self, request: httpx.Request, token: str) -> None:
        set_query_token(request, "access_token", token)

    def is_token_error(self, response: httpx.Response) -> bool:
        code, _ = envelope(_json(response), response)
        return code in TOKEN_ERRCODES


class WeComTokens(httpx.Auth):
    """The app's token and the contacts-sync token, cached apart; each call gets the one it needs.

    ``app`` serves tags, app chats and app messages; ``contacts`` (when given) serves
    ``user/*`` and ``department/*``. Each refreshes on its own: a revoked token costs one
    refetch of that token only. ``fetches`` counts both.
    """

    requires_response_body = True

    def __init__(self, app: WeComAuth, contacts: WeComAuth | None = None):
        self.app = app
        self.contacts = contacts

    @property
    def fetches(self) -> int:
        return self.app.fetches + (self.contacts.fetches if self.contacts else 0)

    def for_path(self, path: str) -> WeComAuth:
        """The token cache a call to ``path`` uses."""
        if self.contacts is not None and needs_contacts_token(path):
            return self.contacts
        return self.app

    def invalidate(self) -> None:
        for auth in (self.app, self.contacts):
            if auth is not None:
                auth.invalidate()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield from self.for_path(request.url.path).auth_flow(request)


class WeComClient(ApiClient):
    """The WeCom API: ``get``/``post`` return the checked payload or raise our error classes."""

    service = SERVICE

    def __init__(
        self,
        base_url: str = BASE_URL,
        *,
        corpid: str,
        corpsecret: SecretStr | str,
        contacts_secret: SecretStr | str | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        # One limiter for both tokens: WeCom's limits are per corp per API, whichever secret calls.
        limiter = RateLimiter(
            API_RATE if rate_limit else None, clock=clock, sleep=sleep, overrides={api("message/send"): 0},
            windows=API_WINDOWS,
        )
        app = WeComAuth(base_url, corpid=corpid, corpsecret=_secret(corpsecret), clock=clock)
        contacts = (
            WeComAuth(base_url, corpid=corpid, corpsecret=_secret(contacts_secret), clock=clock)
            if contacts_secret is not None
            else None
        )
        self.auth = WeComTokens(app, contacts)
        super().__init__(base_url, auth=self.auth, transport=transport, retry=retry, limiter=limiter)

    def get(self, name: str, **params: Any) -> dict[str, Any]:
        """GET ``/cgi-bin/<name>`` with query ``params``."""
        return self.request("GET", api(name), params=params or None)

    def post(self, name: str, body: dict[str, Any], *, idempotent: bool = False) -> dict[str, Any]:
        """POST a JSON body; ``idempotent`` lets transient failures be retried after sending."""
        return self.request("POST", api(name), json=body, idempotent=idempotent)

    def is_write(self, api: str) -> bool:
        return api in WRITE_APIS

    def decode(self, response: httpx.Response, api: str) -> Any:
        # An unreadable body that still carries WeCom's error-code header is that error.
        if response.headers.get("error-code") and _json(response) is None:
            return None
        return super().decode(response, api)

    def check_payload(self, payload: Any, response: httpx.Response, api: str) -> None:
        code, message = envelope(payload, response)
        if code == API_FORBIDDEN and self.auth.contacts is None and is_contact_write(api):
            message = (f"{short_message(message) or 'api forbidden'}: contact writes need the "
                       "通讯录同步 (contacts-sync) secret; set contacts_secret")
        if code:
            raise api_error(code, message, api)


def envelope(payload: Any, response: httpx.Response) -> tuple[int, str]:
    """(errcode, errmsg) from the body, else from the ``error-code`` header; 0 = success."""
    if isinstance(payload, dict) and "errcode" in payload:
        try:
            return int(payload["errcode"]), str(payload.get("errmsg", ""))
        except (TypeError, ValueError):
            return 0, ""
    header = response.headers.get("error-code")
    if header and header.lstrip("-").isdigit():
        return int(header), response.headers.get("error-msg", "")
    return 0, ""


def api_error(code: int, message: str, api: str) -> ConnectorError:
    """The error class ``ERRCODES`` selects for ``code``, with the service's message."""
    cls = ERRCODES.get(code, InvalidPayload)
    text = short_message(message) or f"errcode {code}"
    if issubclass(cls, RateLimited):
        return cls(text, service=SERVICE, api=api, code=code, retry_after=RETRY_AFTER.get(code))
    return cls(text, service=SERVICE, api=api, code=code)


def token_error(code: int, message: str) -> ConnectorError:
    """gettoken refused: a config problem, or a passing one; the business call was not sent."""
    text = short_message(message) or f"errcode {code}"
    if code in RETRY_AFTER:
        return RateLimited(text, service=SERVICE, api=TOKEN_API, code=code, retry_after=RETRY_AFTER[code])
    if code == SYSTEM_BUSY:
        return TransientError(text, service=SERVICE, api=TOKEN_API, code=code, sent=False)
    return AuthError(text, service=SERVICE, api=TOKEN_API, code=code)


def short_message(message: str) -> str:
    """errmsg without WeCom's ``, hint: [...] ... more info at <url>`` tail."""
    return message.split(", hint:")[0].split(" more info at")[0].strip(" ,")


def _secret(value: SecretStr | str) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


__all__ = [
    "API_FORBIDDEN",
    "API_RATE",
    "BASE_URL",
    "CONTACT_WRITE_APIS",
    "ERRCODES",
    "TOKEN_ERRCODES",
    "WRITE_APIS",
    "WeComAuth",
    "WeComClient",
    "WeComTokens",
    "api",
    "api_error",
    "envelope",
    "is_app_only",
    "is_contact_write",
    "needs_contacts_token",
]

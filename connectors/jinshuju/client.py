"""HTTP client for Jinshuju's (金数据) API v1, and its quirks.

Sources: ``jinshuju/open-doc`` ``docs/api_v1/`` (authentication, endpoints/get_form_entries,
get_form_entry, get_form, get_me, request_rate) and reference §5.2.

- Auth is HTTP Basic with the API Key as user and the API Secret as password
  (``authentication.md``); ``httpx.BasicAuth`` does exactly that.
- Errors are plain HTTP statuses with a ``{"error", "error_description"}`` body: 400 bad
  request, 401 unauthenticated, 402 "当前套餐不支持 V1 API", 403 frozen, 404 missing or not
  visible, 429 over the hourly quota. 402 is mapped to ``AuthError``, not
  ``PermissionDenied``: no call at all can succeed until the plan changes, so it is a
  configuration problem to fail fast on at ``check()``, exactly like bad credentials.
- The quota is counted per API token *per hour*, shared by every API (free 100,
  professional 1,000, enterprise basic 20,000, collaboration 30,000, advanced 50,000 —
  ``request_rate.md``). So the limiter here keeps one budget for the whole client: calls
  go out at ``BURST_QPS`` until ``hourly_quota`` calls fall inside a trailing hour, then
  wait for the oldest to age out. A 429 "carries the plan, the remaining count and the
  reset time"; the doc names no fields, so the wait is read from (first found)
  ``Retry-After``, a body reset field (``RESET_FIELDS``: ISO-8601 or epoch seconds), or
  an ``X-RateLimit-Reset`` header, relative to the injected wall clock.
- Entries page 50 at a time; ``next`` is the serial number to resume from, sent back as
  ``?next=`` and absent or null on the last page (``get_form_entries.md``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from connectors._errors import AuthError, ConnectorError, InvalidPayload, NotFound, RateLimited, TransientError
from connectors._http import STATUS_ERRORS as HTTP_STATUS_ERRORS
from connectors._http import ApiClient, RetryPolicy, retry_after
from connectors._paging import CursorPaginator, PageRequest
from connectors._ratelimit import RateLimiter
from connectors.jinshuju.models import JinshujuEntryEnvelope, JinshujuEntryPage, JinshujuForm

SERVICE = "jinshuju"
BASE_URL = "https://jinshuju.net"
API_PREFIX = "/api/v1"
PAGE_SIZE = 50  # get_form_entries.md: 每页 50 个
HOURLY_QUOTA = 20_000  # enterprise basic (企业基础版), request_rate.md
PLAN_QUOTAS: dict[str, int] = {  # request_rate.md, calls per token per hour
    "免费版": 100, "专业版": 1000, "专业增强版": 1000, "团队版": 1000,
    "企业基础版": 20_000, "企业协作版": 30_000, "企业高级版": 50_000, "商业合作版": 50_000,
}
QUOTA_WINDOW = 3600.0
BURST_QPS = 10.0  # no per-second limit is documented; stay polite (assumption)
RESET_FIELDS = ("reset_at", "reset_time", "resets_at", "reset")  # 429 body: names undocumented
ACCOUNT_KEY = "account"  # the limiter's one key: the quota is per token, not per API

STATUS_ERRORS: dict[int, type[ConnectorError]] = {**HTTP_STATUS_ERRORS, 402: AuthError}

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


class AccountLimiter(RateLimiter):
    """One budget for all APIs: Jinshuju counts calls per token, whatever the path."""

    def acquire(self, key: str = "") -> None:
        super().acquire(ACCOUNT_KEY)

    def penalize(self, key: str, seconds: float) -> None:
        super().penalize(ACCOUNT_KEY, seconds)


def form_path(form: str) -> str:
    """``/api/v1/forms/<token>``; a token that cannot exist raises ``NotFound`` before any call."""
    if not isinstance(form, str) or not _TOKEN.match(form):
        raise NotFound(f"no form {str(form)[:40]!r}: not a form token", service=SERVICE)
    return f"{API_PREFIX}/forms/{form}"


def entry_path(form: str, serial: int | str) -> str:
    """``/api/v1/forms/<token>/entries/<serial>``; a serial that is no positive integer is ``NotFound``."""
    text = str(serial).strip()
    if isinstance(serial, bool) or not text.isdigit() or int(text) < 1:
        raise NotFound(f"no entry {str(serial)[:40]!r}: serial numbers are positive integers", service=SERVICE)
    return f"{form_path(form)}/entries/{quote(str(int(text)), safe='')}"


class JinshujuClient(ApiClient):
    """The API v1 slice Muster reads: the caller, form definitions and entries."""

    service = SERVICE
    STATUS_ERRORS = STATUS_ERRORS
    TEXT_ERRORS_BY_STATUS = True  # a proxy's page, Rails' "HTTP Basic: Access denied."

    def __init__(self, *, base_url: str = BASE_URL, api_key: str, api_secret: SecretStr,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy | None = None,
                 rate_limit: bool = True, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, hourly_quota: int = HOURLY_QUOTA):
        self.clock = clock  # wall clock: 429 reset times are absolute
        limiter = AccountLimiter(BURST_QPS if rate_limit else None, clock=clock, sleep=sleep,
                                 windows=((int(hourly_quota), QUOTA_WINDOW),))
        auth = httpx.BasicAuth(api_key, api_secret.get_secret_value())
        super().__init__(base_url, auth=auth, transport=transport, retry=retry, limiter=limiter,
                         headers={"Accept": "application/json", "Content-Type": "application/json"})

    # --- reads ---------------------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        """The caller's account (``GET /api/v1/me``): the cheapest authenticated call."""
        return self.request("GET", f"{API_PREFIX}/me") or {}

    def get_form(self, form: str) -> JinshujuForm:
        """A form's definition with its fields (``NotFound`` for a missing or hidden form)."""
        path = form_path(form)
        return _model(JinshujuForm, self.request("GET", path), path)

    def get_entry(self, form: str, serial: int | str) -> JinshujuEntryEnvelope:
        """One entry by serial number, with the form's token and title."""
        path = entry_path(form, serial)
        return _model(JinshujuEntryEnvelope, self.request("GET", path), path)

    def list_entry_pages(self, form: str, start: str | None = None) -> Iterator[JinshujuEntryPage]:
        """Every page of a form's entries from serial ``start`` on (``?next=``), 50 a page."""
        path = f"{form_path(form)}/entries"
        request = PageRequest("GET", path)
        paginator = CursorPaginator("next", ("next",), location="params", start=start or None)
        for (page,) in self.paginate(request, paginator, lambda p: [_model(JinshujuEntryPage, p, path)]):
            yield page

    # --- responses -----------------------------------------------------------------

    def status_error(self, response: httpx.Response, api: str, payload: Any) -> ConnectorError:
        status = response.status_code
        message = _describe(payload) or response.reason_phrase or f"HTTP {status}"
        if status >= 500:
            return TransientError(message, service=SERVICE, api=api, code=status)
        cls = self.STATUS_ERRORS.get(status, InvalidPayload)
        if issubclass(cls, RateLimited):
            return cls(message, service=SERVICE, api=api, code=status, retry_after=self.reset_wait(response, payload))
        return cls(message, service=SERVICE, api=api, code=status)

    def reset_wait(self, response: httpx.Response, payload: Any) -> float | None:
        """Seconds until the quota resets, from whatever the 429 carries (None if nothing)."""
        seconds = retry_after(response)
        if seconds is not None:
            return seconds
        reset = None
        if isinstance(payload, dict):
            reset = next((payload[k] for k in RESET_FIELDS if payload.get(k) not in (None, "")), None)
        if reset is None:
            reset = response.headers.get("X-RateLimit-Reset")
        now = self.clock()
        when = instant(reset, now)
        return None if when is None else max(0.0, when - now)


def instant(value: Any, now: float) -> float | None:
    """Epoch seconds from an ISO-8601 time (UTC unless it says otherwise) or a number.

    A number of 10⁹ or more is epoch seconds; a smaller one, seconds from ``now``.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()):
        number = float(value)
        return number if number >= 1e9 else now + number
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    return None


def _describe(payload: Any) -> str:
    if isinstance(payload, dict):
        for key in ("error_description", "error", "message"):
            if isinstance(payload.get(key), str) and payload[key]:
                return payload[key]
    return ""


def _model(cls: type[BaseModel], payload: Any, api: str) -> Any:
    try:
        return cls.model_validate(payload if payload is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidPayload(f"unreadable answer: {where}: {first['msg']}", service=SERVICE, api=api) from None


__all__ = [
    "ACCOUNT_KEY",
    "API_PREFIX",
    "BASE_URL",
    "BURST_QPS",
    "HOURLY_QUOTA",
    "PAGE_SIZE",
    "PLAN_QUOTAS",
    "QUOTA_WINDOW",
    "RESET_FIELDS",
    "SERVICE",
    "STATUS_ERRORS",
    "AccountLimiter",
    "JinshujuClient",
    "entry_path",
    "form_path",
    "instant",
]

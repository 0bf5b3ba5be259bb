"""HTTP client for any SCIM 2.0 service provider (RFC 7644): bearer token, SCIM errors, index paging.

SCIM answers with HTTP statuses and, on failure, an ``Error`` message
(``{"schemas": [...Error], "status": "409", "scimType": "uniqueness", "detail": ...}``,
reference §7.5). The error class is chosen by status, refined by ``scimType``: a 409
``uniqueness`` is ``AlreadyExists``, any other 409 and a 412 (``If-Match`` mismatch) are
``Conflict``. 501 means the provider does not implement the request at all, so unlike
the other 5xx it is not retried. The error's ``code`` is its ``scimType`` when it has one
(``uniqueness``, ``noTarget``, ``invalidFilter``), else the HTTP status.

Requests carry ``Authorization: Bearer <token>`` and, when they have a body,
``Content-Type: application/scim+json``. SCIM documents no rate limit of its own and
providers differ, so calls are spaced at ``DEFAULT_RATE`` over the whole client (SCIM
paths carry resource ids, so per-path spacing would not limit anything); a 429 pushes
every later call back by its ``Retry-After`` (seconds or an HTTP date).

Lists page by 1-based ``startIndex`` and ``count`` (reference §7.3), with
``ScimPaginator``: it advances by the number of resources actually received (providers
may cap ``count``), stops at ``totalResults``, on an empty page, or on a page shorter than
the provider's page size, and raises when a page repeats one already seen (a provider
ignoring ``startIndex``) instead of looping for ever.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from connectors._auth import BearerAuth
from connectors._errors import (
    AlreadyExists,
    ConnectorError,
    InvalidPayload,
    RateLimited,
    TransientError,
)
from connectors._http import STATUS_ERRORS, WRITE_METHODS, ApiClient, RetryPolicy
from connectors._paging import PageRequest, Paginator
from connectors._ratelimit import RateLimiter
from connectors.scim.models import PATCH_SCHEMA, ListResponse, ScimError

SERVICE = "scim"
MEDIA_TYPE = "application/scim+json"
DEFAULT_RATE = 5.0  # calls a second over the whole client: SCIM sets no limit, providers differ
UNIQUENESS = "uniqueness"
NO_TARGET = "noTarget"

# HTTP status → error class (reference §7.5); 409 is refined by scimType, other 5xx are transient.
SCIM_STATUS_ERRORS: dict[int, type[ConnectorError]] = {**STATUS_ERRORS, 413: InvalidPayload, 501: InvalidPayload}


class _ClientLimiter(RateLimiter):
    """A ``RateLimiter`` with one key for the whole client, whatever path a call goes to."""

    def acquire(self, key: str = "") -> None:
        super().acquire("")

    def penalize(self, key: str, seconds: float) -> None:
        super().penalize("", seconds)


def _scim_media_type(request: httpx.Request) -> None:
    # httpx labels a json= body application/json; SCIM's own type is application/scim+json (RFC 7644 §3.1).
    if request.content:
        request.headers["Content-Type"] = MEDIA_TYPE


class ScimClient(ApiClient):
    """One SCIM service provider: ``get``/``post``/``patch`` return the decoded answer or raise our errors.

    ``writes`` counts POST/PUT/PATCH/DELETE requests sent (retries included): SCIM paths
    cannot tell a read from a write (``GET /Users`` and ``POST /Users``).
    """

    service = SERVICE
    STATUS_ERRORS = SCIM_STATUS_ERRORS
    TEXT_ERRORS_BY_STATUS = True  # a 401/403/404 from a gateway in front of the provider may be HTML

    def __init__(
        self,
        base_url: str,
        *,
        token: SecretStr | str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: bool | float = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        rate = _rate(rate_limit)
        super().__init__(
            base_url,
            auth=BearerAuth(secret),
            transport=transport,
            retry=retry,
            limiter=_ClientLimiter(rate, clock=clock, sleep=sleep),
            headers={"Accept": f"{MEDIA_TYPE}, application/json"},
        )
        self.http.event_hooks = {"request": [_scim_media_type], "response": []}
        self.sent_writes = 0

    @property
    def writes(self) -> int:
        return self.sent_writes

    def _send(self, method: str, path: str, params: Any, json: Any) -> Any:
        if method.upper() in WRITE_METHODS:
            self.sent_writes += 1
        return super()._send(method, path, params, json)

    # --- calls -----------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` (relative to the base URL) with query ``params``."""
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: dict[str, Any], *, idempotent: bool) -> Any:
        """POST a resource; ``idempotent`` lets a call that may have arrived be resent."""
        return self.request("POST", path, json=body, idempotent=idempotent)

    def patch(self, path: str, operations: list[dict[str, Any]]) -> Any:
        """Send one PatchOp; the answer is the resource (200) or None (204).

        Muster's operations are idempotent (replace; add of a present member is a no-op;
        remove by value filter), so a PATCH is retried even after it may have arrived.
        """
        body = {"schemas": [PATCH_SCHEMA], "Operations": operations}
        return self.request("PATCH", path, json=body, idempotent=True)

    def pages(self, path: str, *, count: int, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every resource of a list or search at ``path``, page by page."""
        request = PageRequest("GET", path, params=dict(params or {}))
        for page in self.paginate(request, ScimPaginator(count), lambda p: ListResponse.model_validate(p).resources):
            yield from page

    # --- answers ---------------------------------------------------------------------

    def status_error(self, response: httpx.Response, api: str, payload: Any) -> ConnectorError:
        status = response.status_code
        error = _error(payload)
        scim_type = error.scim_type if error else None
        code: int | str = scim_type or status
        message = (error.detail if error and error.detail else "") or response.reason_phrase or f"HTTP {status}"
        if status == 429:
            return RateLimited(message, service=SERVICE, api=api, code=code, retry_after=retry_after(response))
        if status >= 500 and status != 501:
            return TransientError(message, service=SERVICE, api=api, code=code, retry_after=retry_after(response))
        cls = self.STATUS_ERRORS.get(status, InvalidPayload)
        if status == 409 and (scim_type or "").casefold() == UNIQUENESS.casefold():
            cls = AlreadyExists
        return cls(message, service=SERVICE, api=api, code=code)


class ScimPaginator(Paginator):
    """1-based ``startIndex``/``count`` paging that survives providers which cap, lie or ignore.

    The next ``startIndex`` is the last one plus the resources received, so a provider
    that serves fewer than ``count`` a page (its own cap) is read fully. The list ends at
    ``totalResults``, on an empty page, or on a page shorter than the first one (a
    ``totalResults`` that overstates). A page whose every id was seen before means the
    provider ignored ``startIndex``: that raises ``InvalidPayload`` rather than looping.
    """

    def __init__(self, count: int):
        self.count = max(1, int(count))
        self.has_next = False
        self._start = 1
        self._page_size: int | None = None
        self._seen: set[str] = set()

    def init_request(self, request: PageRequest) -> None:
        self.has_next = True
        self._start = 1
        self._page_size = None
        self._seen = set()
        request.set("params", "startIndex", self._start)
        request.set("params", "count", self.count)

    def update_state(self, payload: Any, items: list) -> None:
        try:
            page = ListResponse.model_validate(payload)
        except ValidationError:
            raise InvalidPayload("answer is not a SCIM ListResponse", service=SERVICE) from None
        if not items:
            self.has_next = False
            return
        ids = {str(r.get("id")) for r in items if isinstance(r, dict) and r.get("id") is not None}
        if ids and ids <= self._seen:
            raise InvalidPayload(
                f"paging loop: the page at startIndex={self._start} repeats resources already read "
                "(the provider ignores startIndex)",
                service=SERVICE,
            )
        self._seen |= ids
        if self._page_size is None:
            self._page_size = len(items)
        self._start += len(items)
        total = page.total_results
        self.has_next = (total is None or self._start - 1 < total) and len(items) >= self._page_size
        if total is None and len(items) < self.count:
            self.has_next = False

    def update_request(self, request: PageRequest) -> None:
        request.set("params", "startIndex", self._start)


def eq_filter(attribute: str, value: str) -> str:
    """``attribute eq "value"`` with the value quoted and escaped as a JSON string (RFC 7644 §3.4.2.2)."""
    return f"{attribute} eq {json.dumps(value, ensure_ascii=False)}"


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from ``Retry-After``: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error(payload: Any) -> ScimError | None:
    if not isinstance(payload, dict):
        return None
    try:
        return ScimError.model_validate(payload)
    except ValidationError:
        return None


def _rate(rate_limit: bool | float) -> float | None:
    if rate_limit is True:
        return DEFAULT_RATE
    if not rate_limit:
        return None
    return float(rate_limit)


__all__ = [
    "DEFAULT_RATE",
    "MEDIA_TYPE",
    "NO_TARGET",
    "SCIM_STATUS_ERRORS",
    "SERVICE",
    "UNIQUENESS",
    "ScimClient",
    "ScimPaginator",
    "eq_filter",
    "retry_after",
]

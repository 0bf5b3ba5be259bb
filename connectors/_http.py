"""The one HTTP client every connector builds on.

``ApiClient`` owns an ``httpx.Client`` with an injected transport (tests and the demo
pass a sandbox through ``httpx.MockTransport``; production passes nothing), explicit
timeouts and a User-Agent. Every call goes through the same path:

    limiter.acquire(api) → httpx request (auth flow adds/refreshes the token)
    → ``parse`` maps HTTP status and the service envelope to our error classes
    → tenacity retries transient errors (rate-limit waits honoured)

Services that answer HTTP 200 with an error code in the body (WeCom, DingTalk) override
``check_payload``. No httpx exception escapes this module.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from connectors._errors import (
    AuthError,
    Conflict,
    ConnectorError,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransientError,
)
from connectors._paging import PageRequest, Paginator
from connectors._ratelimit import RateLimiter

# httpx logs every request URL at INFO, query string included: WeCom's and DingTalk's
# gettoken carry the secret there. Keep it quiet whatever the root level is.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

log = logging.getLogger("muster.http")

USER_AGENT = "muster/0.1 (+volunteer coalition hub)"

STATUS_ERRORS: dict[int, type[ConnectorError]] = {
    400: InvalidPayload,
    401: AuthError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    412: Conflict,
    422: InvalidPayload,
    429: RateLimited,
}

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient errors."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.25
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int, exc: BaseException | None) -> float:
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return max(0.0, float(retry_after))
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * (1 + self.jitter * random.random())


NO_RETRY_WAIT = RetryPolicy(backoff=0.0, jitter=0.0, sleep=lambda s: None)


def retrying(policy: RetryPolicy, *, idempotent: bool) -> tenacity.Retrying:
    """A tenacity loop: transient errors retried; non-idempotent calls only if never sent."""

    def should_retry(exc: BaseException) -> bool:
        return isinstance(exc, TransientError) and (idempotent or not exc.sent)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(should_retry),
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=lambda rs: policy.wait(rs.attempt_number, rs.outcome.exception() if rs.outcome else None),
        sleep=policy.sleep,
        reraise=True,
    )


class ApiClient:
    """Base HTTP client: limiter, retries, error translation, paging, call counts."""

    service = "generic"
    STATUS_ERRORS = STATUS_ERRORS
    # A 4xx body need not be JSON (a gateway's HTML page, "HTTP Basic: Access denied."): where the
    # status alone says what went wrong, such a body is read as empty and ``status_error`` decides.
    TEXT_ERRORS_BY_STATUS = False

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        timeout: float = 15.0,
        headers: dict[str, str] | None = None,
    ):
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or RateLimiter(None)
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=auth,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
        )
        self.calls: Counter[str] = Counter()  # API path → calls sent (retries included)

    @property
    def writes(self) -> int:
        """Calls sent to write APIs (as classified by ``is_write``)."""
        return sum(n for api, n in self.calls.items() if self.is_write(api))

    def is_write(self, api: str) -> bool:
        return False

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- one call ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one API call (retried as allowed) and return its decoded, checked payload."""
        if idempotent is None:
            idempotent = method.upper() not in {"POST", "PATCH"}
        for attempt in retrying(self.retry, idempotent=idempotent):
            with attempt:
                return self._send(method, path, params, json)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, path: str, params: Any, json: Any) -> Any:
        self.limiter.acquire(path)
        self.calls[path] += 1
        try:
            response = self.http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"timed out ({type(exc).__name__})",
                service=self.service,
                api=path,
                sent=not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)),
            ) from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"connection failed ({type(exc).__name__})",
                service=self.service,
                api=path,
                sent=not isinstance(exc, httpx.ConnectError),
            ) from None
        try:
            return self.parse(response, path)
        except RateLimited as exc:
            self.limiter.penalize(path, exc.retry_after or 1.0)
            raise

    # --- response handling ---------------------------------------------------------

    def parse(self, response: httpx.Response, api: str) -> Any:
        """Decode JSON and raise the error class the status and envelope select."""
        payload = self.decode(response, api)
        self.check_payload(payload, response, api)
        if response.status_code >= 400:
            raise self.status_error(response, api, payload)
        return payload

    def decode(self, response: httpx.Response, api: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            if response.status_code >= 500:
                raise TransientError(
                    f"HTTP {response.status_code}", service=self.service, api=api, code=response.status_code
                ) from None
            if response.status_code == 429:
                raise self.status_error(response, api, None) from None
            if response.status_code >= 400 and self.TEXT_ERRORS_BY_STATUS:
                return None
            raise InvalidPayload(
                f"HTTP {response.status_code}: response is not JSON", service=self.service, api=api
            ) from None

    def check_payload(self, payload: Any, response: httpx.Response, api: str) -> None:
        """Hook for envelopes that report errors inside an HTTP 200 (errcode, code)."""

    def status_error(self, response: httpx.Response, api: str, payload: Any) -> ConnectorError:
        status = response.status_code
        message = _message(payload) or response.reason_phrase or f"HTTP {status}"
        if status >= 500:
            return TransientError(message, service=self.service, api=api, code=status)
        cls = self.STATUS_ERRORS.get(status, InvalidPayload)
        if issubclass(cls, RateLimited):
            return cls(message, service=self.service, api=api, code=status, retry_after=retry_after(response))
        return cls(message, service=self.service, api=api, code=status)

    # --- pages ---------------------------------------------------------------------

    def paginate(self, request: PageRequest, paginator: Paginator, items: Callable[[Any], list]) -> Iterator[list]:
        """Yield the item list of every page, following ``paginator``."""
        paginator.init_request(request)
        while True:
            payload = self.request(request.method, request.path, params=request.params, json=request.json,
                                   idempotent=True)
            page = items(payload) or []
            paginator.update_state(payload, page)
            yield page
            if not paginator.has_next:
                return
            paginator.update_request(request)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds form) or a reset header, if any."""
    for header in ("Retry-After", "x-ogw-ratelimit-reset", "X-RateLimit-Reset-After"):
        value = response.headers.get(header)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


def _message(payload: Any) -> str:
    if isinstance(payload, dict):
        for key in ("errmsg", "message", "msg", "detail", "error"):
            if isinstance(payload.get(key), str):
                return payload[key]
    return ""


__all__ = ["ApiClient", "NO_RETRY_WAIT", "RetryPolicy", "STATUS_ERRORS", "USER_AGENT", "retry_after", "retrying"]

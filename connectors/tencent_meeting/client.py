"""Tencent Meeting (腾讯会议) HTTP client: per-request AK/SK signature, ``error_info`` envelope.

There is no token: every request carries HMAC headers computed from the request itself
(reference §4.1, ``wemeet_openapi.core.authenticator.JWTAuthenticator``)::

    METHOD \\n X-TC-Key=<SecretId>&X-TC-Nonce=<nonce>&X-TC-Timestamp=<ts> \\n <path?query> \\n <raw body>

signed with HMAC-SHA256 under the SecretKey; the signature header is base64 of the
*lower-case hex digest* (not of the raw digest bytes — the usual cause of 200003). The
URI is exactly what goes on the wire (``request.url.raw_path``), so the signature is
computed in the ``httpx.Auth`` flow, after the query string is encoded. A retry passes
through the flow again and is signed afresh with a new nonce and timestamp, so a stale
timestamp (skew over 5 minutes → "signature expired") never repeats.

Errors are HTTP 400 (request) or 500 (service) with
``{"error_info": {"error_code", "new_error_code", "message"}}`` (reference §4.2,
``core.exception.ServiceException``); the class comes from ``ERRCODES``, then the status.

Creation quota (9008) is ≤9 a minute and ≤100 a day per user (reference §4.2). The
limiter spaces ``POST /v1/meetings`` at 9 a minute, so a 9008 that still arrives means
the day's quota (or another client on the same account) and is ``CapacityExceeded``, not
retried: waiting a minute cannot help with a day quota. The query throttle (9061) has no
published figure and no Retry-After; it is ``RateLimited`` with a 1 s wait.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._errors import (
    AlreadyExists,
    AuthError,
    CapacityExceeded,
    ConnectorError,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransientError,
)
from connectors._http import ApiClient, RetryPolicy
from connectors._ratelimit import RateLimiter

SERVICE = "tencent_meeting"
BASE_URL = "https://api.meeting.qq.com"
CONTENT_TYPE = "application/json; charset=utf-8"  # core.constants.DEFAULT_CONTENT_TYPE
INSTANCE_PC = 1  # instanceid: the caller's device type, 1 = PC (reference §4.3)
OPERATOR_USERID = 1  # operator_id_type 1 = userid, 2 = openid

MEETINGS_API = "/v1/meetings"
PARTICIPANTS_PAGE = 100  # participants: size ≤ 100 (reference §4.3)
INVITEES_MAX = 2000  # PUT invitees (overwrite) ≤ 2000
CREATE_INVITEES_MAX = 300  # POST /v1/meetings invitees ≤ 300
CREATES_PER_MINUTE = 9  # 9008 beyond, per user
CREATES_PER_DAY = 100
MAX_SKEW = 300  # seconds of timestamp skew before "signature expired"

SIGNATURE_FAILED = 200003
MEETING_NOT_FOUND = 9003
CREATE_QUOTA = 9008
NO_PERMISSION = 9042
QUERY_THROTTLED = 9061
NO_MODIFY_PERMISSION = 9102
USER_NOT_FOUND = 20001
USER_EXISTS = 20002

# error_code → class (reference §4.2, §8.4). Unlisted codes: HTTP 500 → TransientError,
# otherwise InvalidPayload.
ERRCODES: dict[int, type[ConnectorError]] = {
    SIGNATURE_FAILED: AuthError,  # bad signature, wrong key, stale timestamp
    9002: NotFound,  # malformed meeting id
    MEETING_NOT_FOUND: NotFound,
    CREATE_QUOTA: CapacityExceeded,  # see the module docstring
    NO_PERMISSION: PermissionDenied,
    QUERY_THROTTLED: RateLimited,
    9098: CapacityExceeded,  # concurrent meetings over the limit
    9099: PermissionDenied,  # may not enter
    9100: PermissionDenied,  # may not book
    9101: PermissionDenied,  # may not join
    NO_MODIFY_PERMISSION: PermissionDenied,  # may not modify
    USER_NOT_FOUND: NotFound,
    USER_EXISTS: AlreadyExists,
    20003: PermissionDenied,  # user unavailable
    41002: AlreadyExists,  # email in use
    41003: AlreadyExists,  # phone exists
    50000: AuthError,  # invalid enterprise
    50001: AuthError,  # enterprise unavailable
    156009: CapacityExceeded,  # seat limit reached
}
RETRY_AFTER: dict[int, float] = {QUERY_THROTTLED: 1.0}


def string_to_sign(method: str, secret_id: str, nonce: str, timestamp: str, uri: str, body: str) -> str:
    """The text the service signs: method, the three signed headers, path with query, body."""
    headers = f"X-TC-Key={secret_id}&X-TC-Nonce={nonce}&X-TC-Timestamp={timestamp}"
    return f"{method}\n{headers}\n{uri}\n{body}"


def signature(secret_key: str, text: str) -> str:
    """base64 of the lower-case hex HMAC-SHA256 of ``text`` (as the SDK computes it)."""
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def request_uri(request: httpx.Request) -> str:
    """The path and query exactly as sent (``requests``' ``path_url``)."""
    return request.url.raw_path.decode("ascii")


def sdk_nonce() -> int:
    """A positive nonce as the SDK draws it: milliseconds × 10⁶ + six random digits."""
    return int(time.time() * 1000) * 1_000_000 + random.randint(0, 999_999)


class TencentMeetingAuth(httpx.Auth):
    """Signs every request with the AK/SK headers; the secret key never leaves this object."""

    def __init__(
        self,
        *,
        app_id: str,
        sdk_id: str,
        secret_id: str,
        secret_key: SecretStr,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], int] = sdk_nonce,
        registered: str = "1",
    ):
        self.app_id, self.sdk_id, self.secret_id = str(app_id), str(sdk_id), secret_id
        self._key = secret_key
        self.clock, self.nonce, self.registered = clock, nonce, registered

    def __repr__(self) -> str:
        return f"TencentMeetingAuth(app_id={self.app_id!r}, secret_id={self.secret_id!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Set the X-TC headers and the signature over this request as it stands."""
        request.headers.setdefault("Content-Type", CONTENT_TYPE)
        nonce, timestamp = str(self.nonce()), str(int(self.clock()))
        request.headers["X-TC-Key"] = self.secret_id
        request.headers["AppId"] = self.app_id
        request.headers["SdkId"] = self.sdk_id
        request.headers["X-TC-Nonce"] = nonce
        request.headers["X-TC-Timestamp"] = timestamp
        request.headers["X-TC-Registered"] = self.registered
        body = request.content.decode("utf-8") if request.content else ""
        text = string_to_sign(request.method, self.secret_id, nonce, timestamp, request_uri(request), body)
        request.headers["X-TC-Signature"] = signature(self._key.get_secret_value(), text)


class TencentMeetingClient(ApiClient):
    """The Tencent Meeting REST client: signed requests, ``error_info`` mapped by ``ERRCODES``."""

    service = SERVICE

    def __init__(
        self,
        base_url: str = BASE_URL,
        *,
        app_id: str,
        sdk_id: str,
        secret_id: str,
        secret_key: SecretStr | str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: bool = True,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        nonce: Callable[[], int] = sdk_nonce,
    ):
        key = secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key)
        auth = TencentMeetingAuth(
            app_id=app_id, sdk_id=sdk_id, secret_id=secret_id, secret_key=key, clock=clock, nonce=nonce
        )
        limiter = RateLimiter(
            None,
            clock=clock,
            sleep=sleep,
            overrides={MEETINGS_API: CREATES_PER_MINUTE / 60} if rate_limit else {},
        )
        super().__init__(base_url, auth=auth, transport=transport, retry=retry, limiter=limiter)

    def is_write(self, api: str) -> bool:
        return api.endswith(("/invitees", "/cancel")) or api == MEETINGS_API

    def status_error(self, response: httpx.Response, api: str, payload: Any) -> ConnectorError:
        info = payload.get("error_info") if isinstance(payload, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("error_code"), int):
            return super().status_error(response, api, payload)
        code, message = info["error_code"], str(info.get("message") or f"HTTP {response.status_code}")
        cls = ERRCODES.get(code)
        if cls is None:
            cls = TransientError if response.status_code >= 500 else InvalidPayload
        if issubclass(cls, RateLimited):
            return cls(message, service=SERVICE, api=api, code=code, retry_after=RETRY_AFTER.get(code, 1.0))
        return cls(message, service=SERVICE, api=api, code=code)

    # --- calls ----------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PUT", path, json=body)


__all__ = [
    "BASE_URL",
    "ERRCODES",
    "SERVICE",
    "TencentMeetingAuth",
    "TencentMeetingClient",
    "signature",
    "string_to_sign",
]

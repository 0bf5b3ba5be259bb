"""One error hierarchy for every connector.

Connectors never let an ``httpx`` exception escape: transport problems become
``TransientError`` at the client boundary, and every service's own error codes are
translated through one table per service (see ``_http.STATUS_ERRORS`` and each
client's ``ERRCODES``). Callers decide on the class alone: retry a transient error,
fail fast on an auth error, treat ``NotFound``/``AlreadyExists`` per operation.

Messages carry the service, the API path and the service's own code, never a
credential: URLs are stripped of their query string before they reach a message.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error Muster raises on purpose."""


class ConnectorError(HubError):
    """A service call failed.

    Attributes:
        service: the service slug (``wecom``, ``dingtalk`` ...).
        code: the service's own error code (``errcode``, ``code``) or HTTP status.
        api: the API path that failed, without query string.
    """

    def __init__(self, message: str, *, service: str = "", code: int | str | None = None, api: str = ""):
        super().__init__(message)
        self.service = service
        self.code = code
        self.api = api

    def __str__(self) -> str:
        where = " ".join(p for p in (self.service, self.api) if p)
        code = f" [{self.code}]" if self.code is not None else ""
        base = super().__str__()
        return f"{where}{code}: {base}" if where else f"{base}{code}"


class TransientError(ConnectorError):
    """Worth retrying: 5xx, timeouts, dropped connections, "system busy"."""

    def __init__(self, message: str, *, retry_after: float | None = None, sent: bool = True, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after
        # False when the request certainly never reached the service (connect error,
        # rate-limit rejection): then even a non-idempotent call may be retried.
        self.sent = sent

    @property
    def unanswered(self) -> bool:
        """Sent and no answer came back (a read timeout, a connection lost mid-call): it may have acted."""
        return self.sent and self.code is None


class RateLimited(TransientError):
    """The service refused the call for its rate limit; it was not executed."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        kw.setdefault("sent", False)
        super().__init__(message, retry_after=retry_after, **kw)


class AuthError(ConnectorError):
    """Credentials are wrong or lack a scope: a configuration problem, never retried."""


class TokenExpired(ConnectorError):
    """The access token was revoked or expired; the auth flow refreshes it once."""


class PermissionDenied(ConnectorError):
    """The app may not do this (scope, visibility, not the group's creator)."""


class NotFound(ConnectorError):
    """The object does not exist in the service."""


class AlreadyExists(ConnectorError):
    """A create collided with an existing object (user id, mobile, tag name)."""


class Conflict(ConnectorError):
    """A version mismatch or a state the operation cannot apply to."""


class InvalidPayload(ConnectorError):
    """The service rejected the request's content, or answered something unreadable."""


class CapacityExceeded(InvalidPayload):
    """A group or quota size limit of the service would be exceeded."""


__all__ = [
    "AlreadyExists",
    "AuthError",
    "CapacityExceeded",
    "Conflict",
    "ConnectorError",
    "HubError",
    "InvalidPayload",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "TokenExpired",
    "TransientError",
]

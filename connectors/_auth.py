"""Authentication as ``httpx.Auth`` flows.

``TokenAuth`` is the shape of WeCom's, DingTalk's and Feishu's app tokens: fetch a
token from the service's token endpoint, cache it until shortly before it expires,
attach it to each request (query parameter or header), and when the service answers
with one of its "token invalid/expired" codes — tokens can be revoked early — drop it,
fetch a new one and send the request once more. The token request goes through the
same transport as the call it serves (the flow yields it), so sandboxes see it too.

Secrets live in ``SecretStr`` and only leave it to build the token request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import SecretStr

from connectors._errors import AuthError, RateLimited, TransientError


class BearerAuth(httpx.Auth):
    """A fixed bearer token."""

    def __init__(self, token: SecretStr):
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


class TokenAuth(httpx.Auth):
    """Cached app token with refresh-once on the service's expiry codes.

    Subclasses say how to ask for a token, read it, attach it and recognise a
    token error. ``margin`` seconds before the announced expiry the token is renewed.
    """

    requires_response_body = True
    margin = 300.0

    def __init__(self, base_url: str, *, clock: Callable[[], float] = time.monotonic):
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lifetime = 0.0
        self._lock = threading.RLock()
        self.fetches = 0

    # --- subclass hooks -------------------------------------------------------------

    def token_request(self) -> httpx.Request:
        """The request that asks for a token (use ``self.base_url.join(path)``)."""
        raise NotImplementedError

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """Return (token, lifetime seconds) or raise ``AuthError``/``TransientError``."""
        raise NotImplementedError

    def attach(self, request: httpx.Request, token: str) -> None:
        raise NotImplementedError

    def is_token_error(self, response: httpx.Response) -> bool:
        raise NotImplementedError

    # --- the flow -------------------------------------------------------------------

    def invalidate(self, token: str | None = None) -> None:
        with self._lock:
            if token is None or token == self._token:
                self._token = None
                self._expires_at = 0.0

    def _fresh(self) -> str | None:
        # renew `margin` seconds early, but never so early that a token re-issued with little
        # life left (WeCom returns the same token with the remaining seconds) is refetched per call
        margin = min(self.margin, self._lifetime / 2)
        if self._token and self._clock() < self._expires_at - margin:
            return self._token
        return None

    def _obtain(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, str]:
        with self._lock:
            token = self._fresh()
            if token:
                return token
            response = yield self.token_request()
            response.read()
            token, lifetime = self.read_token(response)
            self.fetches += 1
            self._token, self._expires_at = token, self._clock() + float(lifetime)
            self._lifetime = float(lifetime)
            return token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = yield from self._obtain(request)
        self.attach(request, token)
        response = yield request
        if self.is_token_error(response):
            self.invalidate(token)
            token = yield from self._obtain(request)
            self.attach(request, token)
            yield request


def set_query_token(request: httpx.Request, name: str, token: str) -> None:
    """Put the token in the query string (WeCom, DingTalk ``oapi``)."""
    request.url = request.url.copy_set_param(name, token)


def token_failure(service: str, api: str, code: object, message: str, *, transient: bool,
                  retry_after: float | None = None) -> Exception:
    """The error to raise when the token endpoint refuses: config problem or passing fault.

    A transient one is marked not sent: the business call it was fetching a token for never
    went out, so even a non-idempotent call may be retried.
    """
    if retry_after is not None:
        return RateLimited(message, service=service, api=api, code=code, retry_after=retry_after)
    if transient:
        return TransientError(message, service=service, api=api, code=code, sent=False)
    return AuthError(message, service=service, api=api, code=code)


__all__ = ["BearerAuth", "TokenAuth", "set_query_token", "token_failure"]

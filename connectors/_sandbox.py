"""Machinery shared by the service sandboxes.

A sandbox is an in-memory fake of one service's API slice, written as a request handler
(``httpx.Request -> httpx.Response``). Tests and the demo put it behind
``httpx.MockTransport``; ``muster sandbox serve`` puts the same handler behind a
loopback HTTP server (``connectors._serve``). Faithfulness is the point: real paths,
the service's own envelopes and error codes, token lifetime and early revocation,
documented rate limits answered with the service's own rate-limit error, paging.

Faults are injected on a seeded schedule (``FaultPlan``), so a failing run can be
replayed exactly: 5xx/"system busy", timeouts (after the service already acted — the
worst case for idempotency), dropped connections (before it acted), rate-limit
answers, and early token revocation.
"""

from __future__ import annotations

import copy
import json
import random
import re
import secrets
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

FAULT_KINDS = ("5xx", "timeout", "drop", "ratelimit", "revoke")
WINDOW_TRIM = 4096


@dataclass
class FaultPlan:
    """Which requests fail, and how: random at ``rate`` (seeded) or at fixed request numbers.

    ``schedule`` maps the n-th request (1-based, token requests included) to a fault kind;
    ``apis`` restricts random faults to paths starting with one of its prefixes.
    """

    seed: int = 0
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    schedule: dict[int, str] = field(default_factory=dict)
    apis: tuple[str, ...] = ()
    _rng: random.Random = field(init=False, repr=False)
    injected: Counter = field(default_factory=Counter, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        unknown = (set(self.kinds) | set(self.schedule.values())) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")

    def draw(self, n: int, path: str) -> str | None:
        kind = self.schedule.get(n)
        if kind is None and self.rate and (not self.apis or path.startswith(self.apis)):
            if self._rng.random() < self.rate:
                kind = self._rng.choice(self.kinds)
        if kind:
            self.injected[kind] += 1
        return kind


class TokenStore:
    """App access tokens with a lifetime, early revocation and "same token while valid"."""

    def __init__(self, ttl: float, clock: Callable[[], float], *, extend_on_reissue: bool = False):
        self.ttl = ttl
        self.clock = clock
        self.extend = extend_on_reissue
        self._by_app: dict[str, tuple[str, float]] = {}
        self._expired: set[str] = set()
        self.issued = 0

    def issue(self, app: str) -> tuple[str, int]:
        """Return (token, seconds left); the same token while it is valid."""
        now = self.clock()
        current = self._by_app.get(app)
        if current and current[1] > now:
            token, expires = current
            if self.extend:
                expires = now + self.ttl
                self._by_app[app] = (token, expires)
            return token, int(expires - now)
        if current:
            self._expired.add(current[0])
        token = secrets.token_hex(16)
        self._by_app[app] = (token, now + self.ttl)
        self.issued += 1
        return token, int(self.ttl)

    def check(self, token: str | None) -> str:
        """'ok', 'missing', 'expired' (known but past its life or revoked) or 'invalid'."""
        if not token:
            return "missing"
        now = self.clock()
        for app_token, expires in self._by_app.values():
            if app_token == token:
                return "ok" if expires > now else "expired"
        return "expired" if token in self._expired else "invalid"

    def revoke_all(self) -> None:
        for token, _ in self._by_app.values():
            self._expired.add(token)
        self._by_app.clear()


class SlidingWindow:
    """Counts calls per key over a trailing window; ``hit`` says whether one more fits."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float]):
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self._log: dict[str, deque] = defaultdict(deque)

    def hit(self, key: str) -> bool:
        now = self.clock()
        log = self._log[key]
        while log and log[0] <= now - self.seconds:
            log.popleft()
        if len(log) >= self.limit:
            return False
        log.append(now)
        return True

    def retry_after(self, key: str) -> float:
        log = self._log[key]
        return max(0.0, log[0] + self.seconds - self.clock()) if log else 0.0


def route(method: str, path: str):
    """Mark a sandbox method as the handler of ``method path`` (``{name}`` = path param)."""

    def mark(fn):
        fn._route = (method.upper(), path)
        return fn

    return mark


class Sandbox:
    """Base of every service sandbox: routing, counters, faults, rate windows."""

    service = "generic"
    # the attributes holding the service's data; export_state/import_state carry them
    # between processes (the demo keeps its coalition across runs). Tokens are not kept.
    STATE_FIELDS: tuple[str, ...] = ()

    def __init__(self, *, clock: Callable[[], float] = time.time, faults: FaultPlan | None = None,
                 rate_limits: bool = True):
        self.clock = clock
        self.faults = faults or FaultPlan()
        self.rate_limits = rate_limits
        self.lock = threading.RLock()
        self.requests = 0
        self.calls: Counter[str] = Counter()  # "METHOD /path" → count
        self._routes: list[tuple[str, re.Pattern, Callable]] = []
        for name in dir(type(self)):
            fn = getattr(type(self), name)
            spec = getattr(fn, "_route", None)
            if spec:
                method, path = spec
                pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
                self._routes.append((method, pattern, getattr(self, name)))

    def export_state(self) -> dict[str, Any]:
        """A deep copy of the service's data (``STATE_FIELDS``)."""
        with self.lock:
            return copy.deepcopy({name: getattr(self, name) for name in self.STATE_FIELDS})

    def import_state(self, data: dict[str, Any]) -> None:
        """Replace the service's data with an ``export_state`` result."""
        with self.lock:
            for name in self.STATE_FIELDS:
                if name in data:
                    setattr(self, name, copy.deepcopy(data[name]))

    # --- hooks for the service ------------------------------------------------------

    def error(self, request: httpx.Request, kind: str, **detail: Any) -> httpx.Response:
        """The service's own answer for ``kind``: notfound-route, 5xx, ratelimit, tokenexpired."""
        raise NotImplementedError

    def revoke_tokens(self) -> None:
        """Invalidate every issued token before its time (the 'revoke' fault)."""

    # --- the handler ----------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests += 1
            path = request.url.path
            self.calls[f"{request.method} {path}"] += 1
            fault = self.faults.draw(self.requests, path)
            if fault == "drop":  # the connection failed before the service saw the request
                raise httpx.ConnectError("Connection reset before the request was sent", request=request)
            if fault == "5xx":
                return self.error(request, "5xx")
            if fault == "ratelimit":
                return self.error(request, "ratelimit", retry_after=1)
            if fault == "revoke":
                self.revoke_tokens()
            response = self.dispatch(request)
            if fault == "timeout":  # the service acted, the answer never arrived
                raise httpx.ReadTimeout("timed out", request=request)
            return response

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match and method == request.method:
                return handler(request, **match.groupdict())
        return self.error(request, "notfound-route")

    # --- helpers for handlers -------------------------------------------------------

    @staticmethod
    def body(request: httpx.Request) -> dict[str, Any] | None:
        """The JSON body as a dict, or None when it is missing or not a JSON object."""
        try:
            data = json.loads(request.content or b"{}")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.Response(
            status,
            content=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )


__all__ = ["FAULT_KINDS", "FaultPlan", "Sandbox", "SlidingWindow", "TokenStore", "route"]

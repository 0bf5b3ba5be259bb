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
answers, early token revocation, and a listing that fails part-way ("page": the next
request for a later page of a listing fails, and so does every retry of it, until a
new listing of that path starts from its first page).
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

FAULT_KINDS = ("5xx", "timeout", "drop", "ratelimit", "revoke", "page")
# query or body fields that carry the position of a later page, across the services' paging styles
PAGE_FIELDS = ("cursor", "next_cursor", "page_token", "offset", "pos", "next")
WINDOW_TRIM = 4096


@dataclass
class FaultPlan:
    """Which requests fail, and how: random at ``rate`` (seeded) or at fixed request numbers.

    ``schedule`` maps the n-th request (1-based, token requests included) to a fault kind;
    ``apis`` restricts random faults to paths starting with one of its prefixes. A "page" fault
    drawn for a request is armed until a request for a later page of a listing comes: that one
    fails (counted once), and so does that path's every later page until a first page is asked
    for again — the listing cannot be finished, however often it is retried.
    """

    seed: int = 0
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    schedule: dict[int, str] = field(default_factory=dict)
    apis: tuple[str, ...] = ()
    _rng: random.Random = field(init=False, repr=False)
    injected: Counter = field(default_factory=Counter, init=False)
    _page_armed: bool = field(default=False, init=False, repr=False)
    _failing_listings: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        unknown = (set(self.kinds) | set(self.schedule.values())) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")

    def draw(self, n: int, path: str, *, later_page: bool = False) -> str | None:
        """The fault for the n-th request (to ``path``; ``later_page``: it asks for a listing's 2nd+ page)."""
        kind = self.schedule.get(n)
        if kind is None and self.rate and (not self.apis or path.startswith(self.apis)):
            if self._rng.random() < self.rate:
                kind = self._rng.choice(self.kinds)
        if kind == "page":
            self._page_armed, kind = True, None
        if not later_page:
            self._failing_listings.discard(path)  # a new listing of this path starts afresh
        elif path in self._failing_listings:
            return "page"  # the same broken listing: every retry of it fails, counted once
        elif self._page_armed:
            self._page_armed = False
            self._failing_listings.add(path)
            kind = "page"
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
        # side effects as the service saw them, for the chaos test's duplicate checks (not carried
        # by export_state): accounts the API created, and member adds per (group, member) that
        # joined someone new or named someone already in the group
        self.created: Counter[str] = Counter()
        self.groups_created: Counter[tuple[str, str]] = Counter()  # (kind, name) of chats and tags the API made
        # (recipient, text) of every message the API accepted to send, before any silent de-duplication
        self.sent_messages: Counter[tuple[str, str]] = Counter()
        self.joined: Counter[tuple[str, str]] = Counter()
        self.readded: Counter[tuple[str, str]] = Counter()
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

    def later_page(self, request: httpx.Request) -> bool:
        """Whether ``request`` asks for a listing's second or later page (where a "page" fault strikes).

        Reads the position fields of every paging style the sandboxes use (``PAGE_FIELDS`` in
        the query or the JSON body): a non-empty, non-zero value means a later page. A service
        whose paging looks different overrides this.
        """
        values = [request.url.params.get(name) for name in PAGE_FIELDS]
        if request.method in ("POST", "PUT") and request.content:
            body = self.body(request) or {}
            values += [body.get(name) for name in PAGE_FIELDS]
        return any(v not in (None, "", 0, "0") for v in values)

    def note_created(self, account: str) -> None:
        """Count an account the API created (the chaos test: never twice)."""
        self.created[account] += 1

    def note_sent(self, recipient: str, text: str) -> None:
        """Count a message the API accepted for ``recipient`` (the chaos test: never twice)."""
        self.sent_messages[(recipient, text)] += 1

    def note_group(self, kind: str, name: str) -> None:
        """Count a chat or tag the API created, by name (the chaos test: never twice)."""
        self.groups_created[(kind, name)] += 1

    def note_members(self, group: str, before: list[str] | tuple[str, ...], added: list[str]) -> None:
        """Count the members an API call added to ``group``: new ones joined, the others re-added."""
        present = set(before)
        for member in dict.fromkeys(added):
            if member in present:
                self.readded[(group, member)] += 1
            else:
                self.joined[(group, member)] += 1

    def is_write(self, request: httpx.Request) -> bool:
        """Whether ``request`` changes the service's data (services with POST reads override this)."""
        return request.method != "GET"

    # --- the handler ----------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests += 1
            path = request.url.path
            self.calls[f"{request.method} {path}"] += 1
            fault = self.faults.draw(self.requests, path, later_page=self.later_page(request))
            if fault == "drop":  # the connection failed before the service saw the request
                raise httpx.ConnectError("Connection reset before the request was sent", request=request)
            if fault in ("5xx", "page"):
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


__all__ = ["FAULT_KINDS", "PAGE_FIELDS", "FaultPlan", "Sandbox", "SlidingWindow", "TokenStore", "route"]

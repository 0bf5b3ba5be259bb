"""Client-side rate limiting, one limiter per client, keyed by API.

The Chinese enterprise APIs limit calls *per API* (DingTalk: 20 QPS per app per
API; WeCom: 10,000 a minute per corp per API), so the limiter spaces calls per key
(the API path) rather than per client. Calls are spaced evenly at ``1/rate``: a
service counting over a sliding window then never sees more than ``rate`` calls in
any window, where a bursty token bucket would trip it. A 429-style answer with a
wait pushes that key's next slot back (``penalize``), so retries and the next
callers all honour it.

A service with a second, longer quota (WeCom: 10,000 a minute *and* 150,000 an hour)
adds it as a window: calls go out at the short-term spacing until the long window is
full, then wait for its oldest call to age out — full speed for a sync's burst, never
over the hourly quota.

Clock and sleep are injectable so tests never sleep.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    """Evenly spaced calls per key at ``rate`` per second (``None`` = unlimited)."""

    rate: float | None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    overrides: dict[str, float] = field(default_factory=dict)
    windows: tuple[tuple[int, float], ...] = ()  # extra (calls, seconds) quotas per key
    _next: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _sent: dict[tuple[str, int], deque] = field(default_factory=lambda: defaultdict(deque), init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    waited: float = field(default=0.0, init=False)

    def rate_for(self, key: str) -> float | None:
        return self.overrides.get(key, self.rate)

    def acquire(self, key: str = "") -> None:
        """Block until a call on ``key`` may go out, and book its slot."""
        rate = self.rate_for(key)
        if not rate:
            return
        with self._lock:
            now = self.clock()
            slot = max(now, self._next.get(key, now))
            slot = self._fit_windows(key, slot)
            self._next[key] = slot + 1.0 / rate
        delay = slot - now
        if delay > 0:
            self.waited += delay
            self.sleep(delay)

    def _fit_windows(self, key: str, slot: float) -> float:
        for i, (limit, seconds) in enumerate(self.windows):
            sent = self._sent[(key, i)]
            while sent and sent[0] <= slot - seconds:
                sent.popleft()
            if len(sent) >= limit:
                slot = max(slot, sent[0] + seconds)
                while sent and sent[0] <= slot - seconds:
                    sent.popleft()
        for i in range(len(self.windows)):
            self._sent[(key, i)].append(slot)
        return slot

    def penalize(self, key: str, seconds: float) -> None:
        """Push the next slot for ``key`` at least ``seconds`` into the future."""
        with self._lock:
            self._next[key] = max(self._next.get(key, 0.0), self.clock() + seconds)


__all__ = ["RateLimiter"]

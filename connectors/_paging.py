"""Paginators in dlt's three steps: ``init_request``, ``update_state``, ``update_request``.

Each service pages its own way (DingTalk: numeric ``cursor`` in the JSON body with
``has_more``/``next_cursor``; WeCom ``user/list_id``: string ``cursor``, empty
``next_cursor`` at the end; Feishu: ``page_token``; Tencent Meeting: ``pos``). The
classes here cover them by configuration. A cursor seen twice raises instead of looping
for ever (Singer's loop check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors._errors import InvalidPayload


@dataclass
class PageRequest:
    """The mutable request a paginator steers between pages."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] | None = None

    def set(self, location: str, name: str, value: Any) -> None:
        if location == "json":
            self.json = {**(self.json or {}), name: value}
        else:
            self.params = {**self.params, name: value}


def dig(payload: Any, path: tuple[str, ...]) -> Any:
    """``payload[path[0]][path[1]]...``, or None where any step is missing."""
    for step in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(step)
    return payload


class Paginator:
    """Base paginator: one page only."""

    has_next: bool = False

    def init_request(self, request: PageRequest) -> None:
        self.has_next = True

    def update_state(self, payload: Any, items: list) -> None:
        self.has_next = False

    def update_request(self, request: PageRequest) -> None:
        pass


class SinglePage(Paginator):
    """For APIs that return everything at once."""


@dataclass
class CursorPaginator(Paginator):
    """A cursor sent back as ``cursor_param``; ``has_more`` read from the payload if given.

    Without ``has_more_path`` the list ends when the next cursor is empty or missing.
    """

    cursor_param: str
    next_path: tuple[str, ...]
    has_more_path: tuple[str, ...] | None = None
    location: str = "json"  # "json" body or "params" query
    start: Any = None
    _cursor: Any = field(default=None, init=False)
    _seen: set = field(default_factory=set, init=False)

    def init_request(self, request: PageRequest) -> None:
        self.has_next = True
        self._seen = set()
        self._cursor = self.start
        if self.start is not None:
            request.set(self.location, self.cursor_param, self.start)

    def update_state(self, payload: Any, items: list) -> None:
        nxt = dig(payload, self.next_path)
        more = bool(dig(payload, self.has_more_path)) if self.has_more_path else nxt not in (None, "", 0)
        self.has_next = more and nxt not in (None, "")
        if self.has_next:
            if nxt in self._seen or nxt == self._cursor:
                raise InvalidPayload(f"paging loop: cursor {nxt!r} returned twice")
            self._seen.add(nxt)
            self._cursor = nxt

    def update_request(self, request: PageRequest) -> None:
        request.set(self.location, self.cursor_param, self._cursor)


@dataclass
class OffsetPaginator(Paginator):
    """``offset``/``limit`` pages; ends on a short page or at ``total``."""

    offset_param: str
    limit_param: str
    limit: int
    location: str = "params"
    total_path: tuple[str, ...] | None = None
    start: int = 0
    _offset: int = field(default=0, init=False)

    def init_request(self, request: PageRequest) -> None:
        self.has_next = True
        self._offset = self.start
        request.set(self.location, self.offset_param, self._offset)
        request.set(self.location, self.limit_param, self.limit)

    def update_state(self, payload: Any, items: list) -> None:
        self._offset += len(items)
        total = dig(payload, self.total_path) if self.total_path else None
        self.has_next = len(items) >= self.limit and (total is None or self._offset < int(total))
        if self.has_next and not items:
            raise InvalidPayload("paging loop: empty page with more announced")

    def update_request(self, request: PageRequest) -> None:
        request.set(self.location, self.offset_param, self._offset)


@dataclass
class PageNumberPaginator(Paginator):
    """``page``/``page_size`` pages numbered from ``start``; ends on a short or last page."""

    page_param: str
    size_param: str
    size: int
    location: str = "params"
    start: int = 1
    total_pages_path: tuple[str, ...] | None = None
    _page: int = field(default=1, init=False)

    def init_request(self, request: PageRequest) -> None:
        self.has_next = True
        self._page = self.start
        request.set(self.location, self.page_param, self._page)
        request.set(self.location, self.size_param, self.size)

    def update_state(self, payload: Any, items: list) -> None:
        total = dig(payload, self.total_pages_path) if self.total_pages_path else None
        last = (total is not None and self._page - self.start + 1 >= int(total)) or len(items) < self.size
        self.has_next = not last
        self._page += 1

    def update_request(self, request: PageRequest) -> None:
        request.set(self.location, self.page_param, self._page)


__all__ = [
    "CursorPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "SinglePage",
    "dig",
]

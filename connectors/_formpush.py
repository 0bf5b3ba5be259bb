"""Helpers the form services' push parsers share: one-line reasons about untrusted JSON.

A push body comes from the internet; its parser must fail with ``InvalidPayload`` and a
reason short enough for one log line, whatever the body holds (huge integers, deep
nesting, newlines). ``show`` and ``json_kind`` describe a value within those limits.
"""

from __future__ import annotations

from typing import Any

SHOW_CHARS = 40


def json_kind(value: Any) -> str:
    """The JSON name of a decoded value's type: object, array, string, number, boolean, null."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else type(value).__name__)


def show(value: Any) -> str:
    """A value's ``repr``, cut to ``SHOW_CHARS``; ``repr`` escapes newlines, so it stays on one line."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int too long to print, or nesting too deep
        return f"<{json_kind(value)} too long to show>"
    return text if len(text) <= SHOW_CHARS else text[: SHOW_CHARS - 3] + "..."


__all__ = ["SHOW_CHARS", "json_kind", "show"]

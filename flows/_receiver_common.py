"""What the receiver's two intakes (form pushes, Feishu events) share: a refusal and a JSON body.

Both answer every failure with a 4xx and a one-line reason, never a 500, and both read a body
the same way, so a constant like ``NaN`` or a lone surrogate is refused before it is stored.
"""

from __future__ import annotations

import json

REASON_CHARS = 300


class Refused(Exception):
    """A push the receiver answers with ``status`` and a one-line ``reason``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, one_line(reason)


def one_line(text: str) -> str:
    """``text`` on one line, cut to ``REASON_CHARS``."""
    line = " ".join(str(text).split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def json_object(body: bytes) -> dict:
    """The body as a JSON object; ``Refused(400)`` when it is not UTF-8 JSON or not an object."""
    try:
        payload = json.loads(body.decode("utf-8-sig"), parse_constant=_no_constant)
        json.dumps(payload, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be stored
    except (ValueError, RecursionError) as exc:
        raise Refused(400, f"body is not UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise Refused(400, f"body is a JSON {type(payload).__name__}, not an object")
    return payload


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")

"""Wenjuanxing's (问卷星) push protocol: the signature every data push carries.

There is no API client: Wenjuanxing offers no API to list answers, only the data push
(数据推送 API) that POSTs each submitted answer sheet as JSON to a configured URL
(``https://www.showdoc.com.cn/wjxopenapi/7664690808275512``, reference §6.1). What a
receiver must know of the wire is how a push proves it came from Wenjuanxing:

    sign = sha1(activity + index + push_secret)   (lower-case hex)

where ``activity`` is the survey id and ``index`` the answer's sequence number, both as
carried in the push, and the secret comes from Wenjuanxing's premium support. The doc's
text names the sequence field ``index``, but its own sample push has no ``index`` and
carries ``joinid`` instead. Both are accepted: ``index`` when the push has it, else
``joinid`` (``SEQUENCE_FIELDS``). Hex case is not documented; the comparison ignores it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from connectors._errors import InvalidPayload

SERVICE = "wenjuanxing"
SIGN_FIELD = "sign"
SEQUENCE_FIELDS = ("index", "joinid")  # the doc's name first, the sample's second


def sign(activity: str, index: str, secret: str) -> str:
    """``sha1(activity + index + secret)`` as lower-case hex (UTF-8 bytes)."""
    return hashlib.sha1(f"{activity}{index}{secret}".encode("utf-8", "replace")).hexdigest()


def sequence(payload: dict[str, Any]) -> str | None:
    """The answer sequence number the signature covers: ``index`` if present, else ``joinid``."""
    for name in SEQUENCE_FIELDS:
        value = _text(payload.get(name))
        if value:
            return value
    return None


def verify(payload: Any, secret: str) -> bool:
    """Whether the push's ``sign`` is right (constant-time compare).

    A push that cannot be checked at all — not an object, no ``sign``, no ``activity``,
    no ``index``/``joinid`` — raises ``InvalidPayload`` (one-line reason), so a receiver can
    tell an unsigned push from a wrongly signed one.
    """
    if not isinstance(payload, dict):
        raise InvalidPayload("push body is not a JSON object", service=SERVICE)
    given = payload.get(SIGN_FIELD)
    if not isinstance(given, str) or not given.strip():
        raise InvalidPayload("push has no sign", service=SERVICE)
    activity = _text(payload.get("activity"))
    if not activity:
        raise InvalidPayload("push has no activity (the survey id) to check the sign with", service=SERVICE)
    index = sequence(payload)
    if index is None:
        raise InvalidPayload("push has no index or joinid to check the sign with", service=SERVICE)
    expected = sign(activity, index, secret)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))


def _text(value: Any) -> str | None:
    """A push's id-like value as text: strings as they are, integers in decimal."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


__all__ = ["SEQUENCE_FIELDS", "SERVICE", "SIGN_FIELD", "sequence", "sign", "verify"]

"""Wenjuanxing pushes → ``FormEntry``: a pure parser, no HTTP.

Wenjuanxing has no listing API, so this "connector" is the push parser alone; a receiver
checks the signature with ``client.verify`` and then calls ``parse_push``. The entry's
serial is the ``joinid`` (the answer id), or ``index`` when a push has only that; a
re-sent push keeps it, so consumers upsert by (activity, serial). Answers are the
question keys (``q1``, ``q5_1``) and ``sojumpparm``; the rest of the push describes the
submission (``models.METADATA``). Malformed pushes raise ``InvalidPayload`` with a
one-line reason naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors._errors import InvalidPayload
from connectors._formpush import json_kind, show
from connectors.wenjuanxing.client import SERVICE
from connectors.wenjuanxing.models import BEIJING, LINK_PARAM, QUESTION_KEY, TIME_FORMAT
from mappings.models import FormEntry


def parse_push(payload: Any) -> FormEntry:
    """The answer sheet a Wenjuanxing data push carries (``InvalidPayload`` when malformed)."""
    if not isinstance(payload, dict):
        raise _bad(f"push body is a JSON {json_kind(payload)}, not an object")
    activity = _id(payload, "activity", "the survey id")
    serial = _serial(payload)
    name = payload.get("name", "")
    if name is None:
        name = ""
    if not isinstance(name, str):
        raise _bad(f"push name is not a string: {show(name)}")
    answers = {k: v for k, v in payload.items() if isinstance(k, str) and (QUESTION_KEY.match(k) or k == LINK_PARAM)}
    return FormEntry(service=SERVICE, form=activity, serial=serial, answers=answers,
                     submitted_at=_submitted(payload), form_name=name)


def _serial(payload: dict) -> str:
    for field in ("joinid", "index"):
        if payload.get(field) not in (None, ""):
            return _id(payload, field, "the answer id")
    raise _bad("push has no joinid (the answer id) nor index")


def _id(payload: dict, field: str, meaning: str) -> str:
    value = payload.get(field)
    if value in (None, ""):
        raise _bad(f"push has no {field} ({meaning})")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= 64 and value.isprintable():
        return value.strip()
    raise _bad(f"push {field} is not an id: {show(value)}")


def _submitted(payload: dict) -> datetime | None:
    value = payload.get("submittime")
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _bad(f"push submittime is not a 'YYYY-MM-DD hh:mm:ss' time: {show(value)}")
    try:
        return datetime.strptime(value.strip(), TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError:
        raise _bad(f"push submittime is not a 'YYYY-MM-DD hh:mm:ss' time: {show(value)}") from None


def _bad(reason: str) -> InvalidPayload:
    return InvalidPayload(reason, service=SERVICE)



__all__ = ["parse_push"]

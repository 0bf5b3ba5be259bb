"""WenjuanxingSandbox: surveys whose submissions become signed data pushes.

Wenjuanxing serves no API Muster could call, so this fake has no API routes: it keeps
surveys, turns a submission into the push Wenjuanxing would POST (shaped like the
official sample: every value a string, ``q<n>`` answers, choice answers as 1-based option
indexes, ``timetaken``, ``submittime`` in Beijing time, ``joinid``, ``totalvalue`` and
``sign``), and pushes it. It is still a ``Sandbox`` (a request handler), so ``muster
sandbox serve`` serves its control route ``POST /_sandbox/surveys/{activity}/submit``
(``{"answers", "joinid"?, "push_to"?}`` → the push payload).

The signature covers ``joinid`` (``SEQUENCE_FIELD``), because the sample push carries no
``index``; set ``SEQUENCE_FIELD = "index"`` on an instance to push the doc's variant,
which adds ``index`` (the answer's sequence number in its survey) and signs that.

Seeding and inspection: ``credentials``, ``add_survey``, ``submit``, ``push``,
``surveys`` and ``answers`` (activity → joinid → the pushed payload).
"""

from __future__ import annotations

import copy
import random
import string
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from connectors._formsandbox import FormSandbox
from connectors._sandbox import FaultPlan, route
from connectors.wenjuanxing.client import SIGN_FIELD, sign
from connectors.wenjuanxing.models import BEIJING, LINK_PARAM, QUESTION_KEY, TIME_FORMAT


class WenjuanxingSandbox(FormSandbox):
    """The Wenjuanxing fake: surveys, signed pushes, and a served control route."""

    service = "wenjuanxing"
    STATE_FIELDS = ("surveys", "answers")
    SEQUENCE_FIELD = "joinid"

    def __init__(self, *, seed: int = 0, clock: Callable[[], float] = time.time, faults: FaultPlan | None = None):
        super().__init__(clock=clock, faults=faults, rate_limits=False)
        self.rng = random.Random(seed)
        self.push_secret = "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(32))
        self.surveys: dict[str, dict[str, Any]] = {}  # activity → {name, questions: {q: title}, choices: {q: [label]}}
        self.answers: dict[str, dict[str, dict[str, Any]]] = {}  # activity → joinid → push payload

    @property
    def credentials(self) -> dict[str, str]:
        """What a receiver needs to check pushes: ``push_secret``."""
        return {"push_secret": self.push_secret}

    def add_survey(self, activity: str | None, name: str, questions: dict[str, str], *,
                   choices: dict[str, list[str]] | None = None) -> str:
        """Create a survey: ``q<n>`` → title; ``choices`` lists a choice question's option labels in order."""
        with self.lock:
            activity = activity or str(self.rng.randrange(10**7, 10**8))
            if activity in self.surveys:
                raise ValueError(f"survey {activity!r} exists")
            bad = [q for q in questions if not QUESTION_KEY.match(q)] + sorted(set(choices or {}) - set(questions))
            if bad:
                raise ValueError(f"not questions of this survey: {bad}")
            self.surveys[activity] = {"name": name, "questions": dict(questions),
                                      "choices": {q: list(options) for q, options in (choices or {}).items()}}
            self.answers[activity] = {}
            return activity

    def submit(self, activity: str, answers: dict[str, Any], *, joinid: str | None = None) -> dict[str, Any]:
        """Record an answer sheet and return the signed push Wenjuanxing would POST for it."""
        with self.lock:
            survey = self.surveys.get(activity)
            if survey is None:
                raise KeyError(f"no survey {activity!r}")
            values = self._values(survey, answers)
            taken = self.answers[activity]
            joinid = str(joinid) if joinid is not None else self._joinid()
            payload = {"activity": activity, "name": survey["name"], "timetaken": str(self.rng.randrange(30, 900)),
                       "submittime": datetime.fromtimestamp(self.clock(), BEIJING).strftime(TIME_FORMAT),
                       **values, "joinid": joinid, "totalvalue": "0"}
            if self.SEQUENCE_FIELD == "index":
                previous = taken.get(joinid, {}).get("index")
                payload["index"] = previous or str(len(taken) + 1)
            payload[SIGN_FIELD] = sign(activity, payload[self.SEQUENCE_FIELD], self.push_secret)
            taken[joinid] = payload
            return copy.deepcopy(payload)

    def _joinid(self) -> str:
        while True:
            joinid = str(self.rng.randrange(10**11, 10**12))
            if all(joinid not in sheets for sheets in self.answers.values()):
                return joinid

    @staticmethod
    def _values(survey: dict[str, Any], answers: Any) -> dict[str, str]:
        if not isinstance(answers, dict):
            raise ValueError("answers must be an object")
        values = {}
        for key, value in answers.items():
            if key != LINK_PARAM and key not in survey["questions"]:
                raise ValueError(f"no question {key!r} in this survey")
            options = survey["choices"].get(key)
            values[key] = _indexes(key, options, value) if options else _text(value)
        order = [*survey["questions"], LINK_PARAM]
        return {k: values[k] for k in order if k in values}

    # --- the frame -----------------------------------------------------------------

    def error(self, request: httpx.Request, kind: str, **detail: Any) -> httpx.Response:
        """Only the control route is served: anything else is not found."""
        status = {"notfound-route": 404, "5xx": 500, "ratelimit": 429}.get(kind)
        if status is None:
            raise ValueError(f"unknown error kind {kind!r}")
        return self.json({"error": kind, "error_description": f"sandbox: {kind}"}, status)

    @route("POST", "/_sandbox/surveys/{activity}/submit")
    def control_submit_route(self, request: httpx.Request, activity: str) -> httpx.Response:
        def make(answers: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
            joinid = body.get("joinid")
            if joinid is not None and not isinstance(joinid, str | int):
                raise ValueError("joinid must be a string")
            return self.submit(activity, answers, joinid=joinid)

        return self.control_submit(request, make)


def _indexes(key: str, options: list[str], value: Any) -> str:
    """A choice answer as Wenjuanxing pushes it: 1-based option indexes, comma-joined."""
    picked = value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else [value]
    out = []
    for item in picked:
        text = _text(item).strip()
        if text.isdigit() and 1 <= int(text) <= len(options):
            out.append(text)
        elif text in options:
            out.append(str(options.index(text) + 1))
        else:
            raise ValueError(f"{item!r} is not an option of {key}")
    return ",".join(out)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueError(f"answer {value!r} is not text")
    return str(value)


__all__ = ["WenjuanxingSandbox"]

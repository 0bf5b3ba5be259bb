"""JinshujuSandbox: an in-memory fake of Jinshuju's API v1 slice and its data push.

Served paths (``jinshuju/open-doc`` ``docs/api_v1/``): ``GET /api/v1/me``,
``GET /api/v1/forms/:token`` (definition), ``GET /api/v1/forms/:token/entries[?next=]``
(``{total, count, data, next}``, 50 a page, ascending serial numbers) and
``GET /api/v1/forms/:token/entries/:serial`` (``{form, form_name, entry}``).

Every API call is checked in the service's order: HTTP Basic credentials (401), the
plan's API right (402, switch ``api_enabled``), a frozen account (403, switch
``frozen``), then the hourly quota of the API key (429). Errors are ``{"error",
"error_description"}``. The quota window is the clock hour (an assumption: the doc
says only "per hour" and that a 429 carries the plan, the remaining count and the
reset time, without field names); the 429 body carries ``plan``, ``limit``,
``remaining`` and ``reset_at`` (ISO-8601 UTC, like every Jinshuju time) and the
headers ``X-RateLimit-Limit``/``X-RateLimit-Remaining`` that the v4 API documents.

``next`` is the serial number the next page starts at: the doc's sample answers a
first page with ``"next": 51``, so ``?next=51`` includes entry 51. It is null on the
last page.

Seeding and inspection: ``credentials``, ``add_form``, ``submit`` (returns the push
payload), ``push``, ``forms``, ``entries`` (form token → serial → entry dict).
Control route: ``POST /_sandbox/forms/{token}/submit`` with ``{"answers", "serial"?,
"push_to"?}``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import random
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors._formsandbox import FormSandbox
from connectors._sandbox import FaultPlan, route
from connectors.jinshuju.client import API_PREFIX, HOURLY_QUOTA, PAGE_SIZE, PLAN_QUOTAS, QUOTA_WINDOW

PLANS = {quota: plan for plan, quota in reversed(PLAN_QUOTAS.items())}  # first plan per quota wins


class ApiFail(Exception):
    """An API error answer: HTTP status with ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str, **extra: Any):
        super().__init__(description)
        self.status, self.error, self.description, self.extra = status, error, description, extra


def iso(epoch: float) -> str:
    """Jinshuju's time format: UTC with milliseconds, ``2020-08-28T08:00:00.000Z``."""
    when = datetime.fromtimestamp(epoch, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class JinshujuSandbox(FormSandbox):
    """The Jinshuju fake: a request handler (``httpx.Request -> httpx.Response``) with seeding helpers."""

    service = "jinshuju"
    # Kept across demo runs by export_state/import_state; credentials follow from the seed.
    STATE_FIELDS = ("forms", "entries")

    def __init__(self, *, clock: Callable[[], float] = time.time, faults: FaultPlan | None = None,
                 rate_limits: bool = True, seed: int = 0, hourly_quota: int = HOURLY_QUOTA):
        super().__init__(clock=clock, faults=faults, rate_limits=rate_limits)
        self.rng = random.Random(seed)
        self.api_key = self._code(32, string.hexdigits.lower()[:16])
        self.api_secret = self._code(32, string.hexdigits.lower()[:16])
        self.hourly_quota = int(hourly_quota)
        self.api_enabled = True  # False: the plan lacks API v1 → 402
        self.frozen = False  # True: the account is frozen → 403
        self.forms: dict[str, dict[str, Any]] = {}  # token → {name, fields: {code: {label, type, choices}}, next}
        self.entries: dict[str, dict[int, dict[str, Any]]] = {}  # token → serial → entry
        self._quota: dict[str, tuple[int, int]] = {}  # api key → (hour number, calls in it)

    @property
    def credentials(self) -> dict[str, str]:
        """What an API v1 caller needs: ``api_key`` and ``api_secret``."""
        return {"api_key": self.api_key, "api_secret": self.api_secret}

    def _code(self, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    # --- seeding -------------------------------------------------------------------

    def add_form(self, token: str | None, name: str, fields: dict[str, str], *,
                 choices: dict[str, dict[str, str]] | None = None) -> str:
        """Create a form: field code → label; ``choices`` gives a field's option code → label."""
        with self.lock:
            token = token or self._code(6)
            if token in self.forms:
                raise ValueError(f"form {token!r} exists")
            unknown = set(choices or {}) - set(fields)
            if unknown:
                raise ValueError(f"choices for unknown fields: {sorted(unknown)}")
            self.forms[token] = {"name": name, "next": 1, "fields": {
                code: {"label": label, "type": "single_choice" if code in (choices or {}) else "single_line_text",
                       "choices": dict((choices or {}).get(code, {}))} for code, label in fields.items()}}
            self.entries[token] = {}
            return token

    def submit(self, token: str, answers: dict[str, Any], *, serial: int | None = None) -> dict[str, Any]:
        """Create an entry (or update entry ``serial``, keeping its number); return its push payload."""
        with self.lock:
            form = self.forms.get(token)
            if form is None:
                raise KeyError(f"no form {token!r}")
            clean = self._answers(form, answers)
            now = iso(self.clock())
            if serial is None:
                serial, form["next"] = form["next"], form["next"] + 1
                entry = {"serial_number": serial, **clean, "creator_name": "", "created_at": now, "updated_at": now,
                         "info_remote_ip": self._ip(), "info_filling_duration": self.rng.randrange(30, 600)}
            else:
                old = self.entries[token].get(serial)
                if old is None:
                    raise KeyError(f"no entry {serial} in form {token!r}")
                entry = {**old, **clean, "updater_name": "", "updated_at": now}
            self.entries[token][serial] = self._ordered(form, entry)
            return {"form": token, "form_name": form["name"], "entry": copy.deepcopy(self.entries[token][serial])}

    def _ip(self) -> str:
        return f"58.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    @staticmethod
    def _answers(form: dict[str, Any], answers: Any) -> dict[str, Any]:
        if not isinstance(answers, dict):
            raise ValueError("answers must be an object")
        clean = {}
        for code, value in answers.items():
            spec = form["fields"].get(code)
            if spec is None:
                raise ValueError(f"no field {code!r} in this form")
            clean[code] = _choice(code, spec["choices"], value) if spec["choices"] else value
        return clean

    @staticmethod
    def _ordered(form: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        order = ["serial_number", *form["fields"]]
        return {**{k: entry[k] for k in order if k in entry}, **{k: v for k, v in entry.items() if k not in order}}

    # --- the frame -----------------------------------------------------------------

    def error(self, request: httpx.Request, kind: str, **detail: Any) -> httpx.Response:
        """The service's own answer for notfound-route, 5xx and ratelimit."""
        if kind == "notfound-route":
            return self.fail(ApiFail(404, "not_found", "资源不存在"))
        if kind == "5xx":
            return self.fail(ApiFail(500, "internal_server_error", "服务器内部错误"))
        if kind == "ratelimit":
            return self.fail(self._over_quota(self.clock() + float(detail.get("retry_after", 1))))
        raise ValueError(f"unknown error kind {kind!r}")

    def fail(self, exc: ApiFail) -> httpx.Response:
        headers = exc.extra.pop("headers", None)
        body = {"error": exc.error, "error_description": exc.description, **exc.extra}
        if exc.status == 401:
            headers = {"WWW-Authenticate": 'Basic realm="Application"', **(headers or {})}
        return self.json(body, exc.status, headers)

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        try:
            self._authorize(request)
            headers = self._spend(self.api_key)
            response = super().dispatch(request)
        except ApiFail as exc:
            return self.fail(exc)
        response.headers.update(headers)
        return response

    def _authorize(self, request: httpx.Request) -> None:
        user, password = _basic(request.headers.get("Authorization", ""))
        good = hmac.compare_digest(user.encode(), self.api_key.encode()) and hmac.compare_digest(
            password.encode(), self.api_secret.encode())
        if not good:
            raise ApiFail(401, "unauthorized", "API Key 或 API Secret 不正确")
        if not self.api_enabled:
            raise ApiFail(402, "payment_required", "当前套餐不支持 V1 API")
        if self.frozen:
            raise ApiFail(403, "forbidden", "账号已被冻结")

    def _spend(self, key: str) -> dict[str, str]:
        now = self.clock()
        hour = int(now // QUOTA_WINDOW)
        seen, used = self._quota.get(key, (hour, 0))
        used = used if seen == hour else 0
        if self.rate_limits and used >= self.hourly_quota:
            raise self._over_quota((hour + 1) * QUOTA_WINDOW)
        self._quota[key] = (hour, used + 1)
        return {"X-RateLimit-Limit": str(self.hourly_quota),
                "X-RateLimit-Remaining": str(max(0, self.hourly_quota - used - 1))}

    def _over_quota(self, reset: float) -> ApiFail:
        plan = PLANS.get(self.hourly_quota, "企业基础版")
        return ApiFail(429, "too_many_requests", f"已超出每小时 {self.hourly_quota} 次的 API 请求限制",
                       plan=plan, limit=self.hourly_quota, remaining=0, reset_at=iso(reset),
                       headers={"X-RateLimit-Limit": str(self.hourly_quota), "X-RateLimit-Remaining": "0"})

    # --- API routes ----------------------------------------------------------------

    @route("GET", f"{API_PREFIX}/me")
    def get_me(self, request: httpx.Request) -> httpx.Response:
        return self.json({"id": self.api_key[:24], "name": "Muster sandbox", "email": "sandbox@jinshuju.invalid",
                          "mobile": "", "role": "owner", "billing_account_id": self.api_secret[:24],
                          "created_at": iso(0)})

    @route("GET", f"{API_PREFIX}/forms/{{token}}")
    def get_form(self, request: httpx.Request, token: str) -> httpx.Response:
        form = self._form(token)
        fields = [{code: {"label": spec["label"], "type": spec["type"], "notes": "", "private": False,
                          "validation": {},
                          **({"choices": [{"name": label, "value": option} for option, label in
                                          spec["choices"].items()]} if spec["choices"] else {})}}
                  for code, spec in form["fields"].items()]
        setting = {"entry_post_url": None, "post_new_entry": True, "post_updated_entry": False}
        return self.json({"name": form["name"], "description": "", "fields": fields, "setting": setting})

    @route("GET", f"{API_PREFIX}/forms/{{token}}/entries")
    def list_entries(self, request: httpx.Request, token: str) -> httpx.Response:
        self._form(token)
        raw = request.url.params.get("next", "")
        if raw and not raw.isdigit():
            raise ApiFail(400, "bad_request", f"next 参数不合法: {raw[:20]}")
        rows = [e for s, e in sorted(self.entries[token].items()) if not raw or s >= int(raw)]
        page, rest = rows[:PAGE_SIZE], rows[PAGE_SIZE:]
        return self.json({"total": len(self.entries[token]), "count": len(page), "data": page,
                          "next": rest[0]["serial_number"] if rest else None})

    @route("GET", f"{API_PREFIX}/forms/{{token}}/entries/{{serial}}")
    def get_entry(self, request: httpx.Request, token: str, serial: str) -> httpx.Response:
        form = self._form(token)
        entry = self.entries[token].get(int(serial)) if serial.isdigit() else None
        if entry is None:
            raise ApiFail(404, "not_found", "数据不存在")
        return self.json({"form": token, "form_name": form["name"], "entry": entry})

    def _form(self, token: str) -> dict[str, Any]:
        form = self.forms.get(token)
        if form is None:
            raise ApiFail(404, "not_found", "表单不存在或无权访问")
        return form

    # --- control route -------------------------------------------------------------

    @route("POST", "/_sandbox/forms/{token}/submit")
    def control_submit_route(self, request: httpx.Request, token: str) -> httpx.Response:
        def make(answers: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
            serial = body.get("serial")
            if serial is not None and (isinstance(serial, bool) or not isinstance(serial, int)):
                raise ValueError("serial must be an integer")
            return self.submit(token, answers, serial=serial)

        return self.control_submit(request, make)


def _choice(code: str, options: dict[str, str], value: Any) -> Any:
    """An option code for a choice answer given as a code or a label (the API matches the first label)."""
    if isinstance(value, list):
        return [_choice(code, options, v) for v in value]
    if isinstance(value, str) and value in options:
        return value
    for option, label in options.items():
        if label == value:
            return option
    raise ValueError(f"{value!r} is not an option of {code}")


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return user, password


__all__ = ["PLANS", "ApiFail", "JinshujuSandbox", "iso"]

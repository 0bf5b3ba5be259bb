"""The webhook receiver: form services push submissions to ``POST /forms/{name}``.

A push is checked in a fixed order, each failure answered with a 4xx and a one-line
reason (``{"error": "..."}``), never a 500: unknown form 404; body over the form's
``max_body`` 413 (read up to max_body + 1 bytes, whatever Content-Length claims); missing
credential 401, wrong credential 403; not a JSON object 400; not a push the connector can
read 422; a push for another form id 422. Jinshuju pushes carry no signature (reference
§5.1), so their URL carries ``?token=``, compared in constant time; Wenjuanxing signs each
push (``sign``, §6.1), so its body must be parsed before it can be verified and a body that
is not JSON is a 400 there before the signature is checked. That sign covers only the
survey and answer ids, not the answers, so a Wenjuanxing form may also be given a
``token``, checked first, as for Jinshuju.

Every refused push whose body could be read is kept in ``quarantine`` with its reason, so
nothing a sender posted is lost. That includes unauthenticated ones (unknown form, bad
token or signature): they are stored as untrusted evidence, with a reason that says so,
are never processed, and their body is capped at 64 KiB, so a stranger can add rows but
cannot make Muster act on them.

A valid push is committed to the inbox *before* it is answered 200, so a sender that got
a 200 can forget it. Wenjuanxing documents no reply body (only that a failed push is
resent), so every service gets the same JSON answer; what counts is the 200. ``on_item``
(onboarding) then runs after the response; its failure is logged and never reaches the
sender. A database problem (locked, disk full) is a 503, so the sender retries later.
All SQLite access goes through one lock; parsing runs in worker threads.

Feishu events come to ``POST /events/feishu`` when ``services.feishu`` has a
``verification_token``; ``flows.receiver_feishu`` checks and stores them (this module only
reads the body and routes it there).
"""

from __future__ import annotations

import hmac
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

import state
from config._yaml import ConfigError
from config.tenant import Connection, FormConnection, SecretRef
from connectors import InvalidPayload
from flows import intake
from flows._receiver_common import Refused, json_object, one_line
from flows.receiver_feishu import EVENT_MAX_BODY, EVENTS_FEISHU, FeishuEvents, feishu_events
from mappings.models import FormEntry
from state.inbox import QUARANTINE_BODY_LIMIT

log = logging.getLogger("muster.receiver")

UNKNOWN_FORM_READ = QUARANTINE_BODY_LIMIT  # what is kept of a push to an unknown form


@dataclass(frozen=True)
class PushForm:
    """A configured form that takes pushes, with its resolved credentials.

    ``token`` is the secret of the push URL's ``?token=``; ``push_secret`` checks the push's
    own signature (Wenjuanxing). A Wenjuanxing form may have a token as well: its ``sign``
    covers only the survey and answer ids, not the answers, so anyone holding one signed
    push could resend it with other answers; a secret URL closes that.
    """

    name: str
    conn: FormConnection
    token: str | None = None
    push_secret: str | None = None


def push_forms(forms: dict[str, FormConnection], resolve_secret: Callable[[SecretRef], Any]) -> dict[str, PushForm]:
    """The forms that take pushes (Jinshuju with a token, Wenjuanxing), secrets resolved now.

    Raises:
        ConfigError: a form's secret cannot be resolved (named by form and field).
    """
    out = {}
    for name, conn in sorted(forms.items()):
        # file forms come in only by import, a Jinshuju form without a token only by polling
        if conn.service == "wenjuanxing" or (conn.service == "jinshuju" and conn.token is not None):
            signed = conn.service == "wenjuanxing"  # Jinshuju pushes carry no signature
            out[name] = PushForm(name, conn, _resolve(name, conn, "token", resolve_secret),
                                 _resolve(name, conn, "push_secret", resolve_secret) if signed else None)
    return out


def _resolve(name: str, conn: FormConnection, field: str, resolve_secret: Callable[[SecretRef], Any]) -> str | None:
    ref = getattr(conn, field)
    if ref is None:
        return None
    try:
        value = resolve_secret(ref)
    except ConfigError as exc:
        raise ConfigError(exc.message, field=f"forms.{name}.{field}") from None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


def create_app(
    db: sqlite_utils.Database,
    forms: dict[str, FormConnection],
    *,
    on_item: Callable[[int], None] | None = None,
    resolve_secret: Callable[[SecretRef], Any] = lambda ref: ref.resolve(),
    lock: threading.Lock | threading.RLock | None = None,
    services: Mapping[str, Connection] | None = None,
) -> FastAPI:
    """The receiver app for ``forms`` (and Feishu's events, when ``services`` has them); ``on_item(item_id)``
    runs after each push that needs onboarding.

    ``lock`` serialises every use of ``db`` (pass the workspace's, so onboarding shares it).
    """
    lock = lock or threading.Lock()
    feishu = feishu_events(db, services or {}, resolve_secret, lock)
    receiver = _Receiver(db, push_forms(forms, resolve_secret), on_item, lock, feishu)
    app = FastAPI(title="Muster receiver", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_api_route("/forms/{name}", receiver.push, methods=["POST"])
    app.add_api_route("/events/feishu", receiver.feishu_event, methods=["POST"])
    app.add_api_route("/healthz", receiver.healthz, methods=["GET"])
    app.add_exception_handler(HTTPException, _http_error)
    app.state.receiver = receiver
    return app


class _Receiver:
    def __init__(self, db, forms: dict[str, PushForm], on_item, lock, feishu: FeishuEvents | None = None) -> None:
        self.db, self.forms, self.on_item, self.lock, self.feishu = db, forms, on_item, lock, feishu

    async def push(self, name: str, request: Request) -> JSONResponse:
        form = self.forms.get(name)
        body, remote = b"", request.client.host if request.client else None
        try:
            body, too_big = await _read_body(request, form.conn.max_body if form else UNKNOWN_FORM_READ)
            if form is None:
                raise Refused(404, f"unauthenticated: no form {name[:60]!r} takes pushes here")
            if too_big:
                raise Refused(413, f"body over the form's limit of {form.conn.max_body} bytes")
            payload, entry = await run_in_threadpool(_check, form, request.query_params.get("token"), body)
            item_id, outcome, pending = await self._locked(self._store, form.name, entry, payload)
        except Refused as exc:
            return await self._refuse(form.name if form else None, exc, body, remote)
        except ClientDisconnect:
            return _error(400, "the client went away before the body was read")
        except sqlite3.Error as exc:
            log.error("form %r: database unavailable: %s", name[:60], exc)
            return _error(503, f"database unavailable ({exc}); try again later")
        except Exception as exc:  # noqa: BLE001 - a push must never become a 500
            log.warning("form %r: unreadable push", name[:60], exc_info=True)
            return await self._refuse(form.name if form else None, _unexpected(exc), body, remote)
        log.info("form %s: inbox item %s %s", name, item_id, outcome)
        task = BackgroundTask(self._notify, item_id) if self.on_item and pending else None
        return JSONResponse({"ok": True, "item": item_id, "status": outcome}, background=task)

    async def feishu_event(self, request: Request) -> JSONResponse:
        body, remote = b"", request.client.host if request.client else None
        try:
            body, too_big = await _read_body(request, EVENT_MAX_BODY if self.feishu else UNKNOWN_FORM_READ)
            if self.feishu is None:
                raise Refused(404, "unauthenticated: Feishu events are not taken here "
                                   "(services.feishu has no verification_token)")
            if too_big:
                raise Refused(413, f"body over the event limit of {EVENT_MAX_BODY} bytes")
        except Refused as exc:
            return await self._refuse(EVENTS_FEISHU, exc, body, remote)
        except ClientDisconnect:
            return _error(400, "the client went away before the body was read")
        status, answer = await run_in_threadpool(self.feishu.handle, body, request.headers, remote)
        return JSONResponse(answer, status_code=status)

    async def healthz(self) -> JSONResponse:
        try:
            await self._locked(lambda: self.db.execute("SELECT 1").fetchone())
        except sqlite3.Error as exc:
            return JSONResponse({"ok": False, "error": f"database unavailable ({exc})"}, status_code=503)
        events = {"events": ["feishu"]} if self.feishu else {}
        return JSONResponse({"ok": True, "forms": sorted(self.forms), **events})

    def _store(self, form: str, entry: FormEntry, payload: Any) -> tuple[int, str, bool]:
        item_id, outcome = state.receive(self.db, form=form, entry=entry, payload=payload)
        # a redelivery of an entry never onboarded (a crash after the last 200) is worth a nudge too
        pending = outcome != "unchanged" or state.get_item(self.db, item_id)["status"] == "received"
        return item_id, outcome, pending

    async def _refuse(self, form: str | None, exc: Refused, body: bytes, remote: str | None) -> JSONResponse:
        log.warning("form %r: refused (%s): %s", form, exc.status, exc.reason)
        try:
            await self._locked(state.quarantine, self.db, form=form, reason=exc.reason, body=body, remote=remote)
        except sqlite3.Error as db_exc:
            log.error("quarantine unavailable: %s", db_exc)
            return _error(503, f"database unavailable ({db_exc}); try again later")
        return _error(exc.status, exc.reason)

    async def _locked(self, fn: Callable, *args, **kwargs):
        def call():
            with self.lock:
                return fn(*args, **kwargs)

        return await run_in_threadpool(call)

    def _notify(self, item_id: int) -> None:
        try:
            self.on_item(item_id)
        except Exception:  # noqa: BLE001 - the item stays in the inbox, claimable again
            log.error("onboarding inbox item %s failed", item_id, exc_info=True)


def _check(form: PushForm, token: str | None, body: bytes) -> tuple[dict, FormEntry]:
    """Authenticate and parse a push, in the documented order; ``Refused`` says why not."""
    service = form.conn.service
    if form.token is not None:
        _check_token(token, form.token)
    payload = json_object(body)
    if form.push_secret is not None:
        _check_sign(payload, form.push_secret)
    try:
        entry = intake.parse_push(service, payload)
    except InvalidPayload as exc:
        raise Refused(422, f"not a valid push: {exc}") from None
    if str(entry.form) != form.conn.form:
        raise Refused(422, f"the push is for form {str(entry.form)[:60]!r}, not this form's {form.conn.form!r}")
    return payload, entry


def _check_token(token: str | None, secret: str) -> None:
    if not token:
        raise Refused(401, "unauthenticated: the push URL has no ?token=")
    if not hmac.compare_digest(token.encode("utf-8", "replace"), secret.encode("utf-8", "replace")):
        raise Refused(403, "unauthenticated: wrong token")


def _check_sign(payload: dict, secret: str) -> None:
    try:
        good = intake.verify("wenjuanxing", payload, secret)
    except InvalidPayload as exc:
        raise Refused(401, f"unauthenticated: unsigned push ({exc})") from None
    if not good:
        raise Refused(403, "unauthenticated: wrong signature")


async def _read_body(request: Request, limit: int) -> tuple[bytes, bool]:
    """At most ``limit + 1`` bytes of the body, and whether there was more than ``limit``."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[: limit + 1], True
    return b"".join(chunks), False


def _unexpected(exc: Exception) -> Refused:
    if isinstance(exc, state.StateError):
        return Refused(400, f"cannot store this push: {exc}")
    if isinstance(exc, intake.IntakeUnavailable):
        return Refused(503, f"{exc}; try again later")
    return Refused(400, f"unreadable push ({type(exc).__name__})")


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": one_line(reason)}, status_code=status)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": one_line(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


__all__ = ["FeishuEvents", "PushForm", "Refused", "create_app", "feishu_events", "push_forms"]

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
``verification_token`` (reference §3.8). With an ``encrypt_key`` the body must be
``{"encrypt": ...}``: its ``X-Lark-Signature`` is checked (constant time) before it is
decrypted, and every event but the URL check must be signed. The verification token inside
is then compared in constant time; ``url_verification`` is answered with its challenge; a
v2 event about chat members or document collaborators is stored once per ``header.event_id``
(``state.record_event``: who did it, to whom, where, when) before the 200; other event types
are answered 200 and dropped. Every refusal is a 400 with a reason, quarantined under
``events/feishu``. ``FeishuEvents.handle(body, headers)`` does all of it without HTTP (the
in-process sandbox delivers events straight to it). Nothing secret is logged, and of a body
only an authenticated event's id and type.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
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
from mappings.models import FormEntry
from state.inbox import QUARANTINE_BODY_LIMIT

log = logging.getLogger("muster.receiver")

UNKNOWN_FORM_READ = QUARANTINE_BODY_LIMIT  # what is kept of a push to an unknown form
REASON_CHARS = 300
EVENT_MAX_BODY = 256 * 1024
EVENTS_FEISHU = "events/feishu"  # refused events are quarantined under this name (no form can have it)
MEMBER_EVENTS = {  # event type → (resource field, subject list field); file resources are "<type>:<token>"
    "im.chat.member.user.added_v1": ("chat_id", "users"),
    "im.chat.member.user.deleted_v1": ("chat_id", "users"),
    "im.chat.member.user.withdrawn_v1": ("chat_id", "users"),
    "drive.file.permission_member_added_v1": ("file_token", "user_list"),
    "drive.file.permission_member_removed_v1": ("file_token", "user_list"),
}


class Refused(Exception):
    """A push the receiver answers with ``status`` and a one-line ``reason``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, _one_line(reason)


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


def feishu_events(db: sqlite_utils.Database, services: Mapping[str, Connection],
                  resolve_secret: Callable[[SecretRef], Any], lock) -> FeishuEvents | None:
    """Feishu's event intake when ``services.feishu`` has a ``verification_token``, secrets resolved now.

    Raises:
        ConfigError: a secret cannot be resolved (named by field).
    """
    conn = services.get("feishu")
    if conn is None or getattr(conn, "verification_token", None) is None:
        return None
    secrets = {}
    for field in ("verification_token", "encrypt_key"):
        ref = getattr(conn, field)
        try:
            value = None if ref is None else resolve_secret(ref)
        except ConfigError as exc:
            raise ConfigError(exc.message, field=f"services.feishu.{field}") from None
        secrets[field] = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return FeishuEvents(db, lock, secrets["verification_token"], secrets["encrypt_key"] or None)


class FeishuEvents:
    """Feishu's event pushes: decrypted, verified, stored once per event id; no HTTP needed (``handle``)."""

    def __init__(self, db: sqlite_utils.Database, lock, verification_token: str, encrypt_key: str | None) -> None:
        self.db, self.lock = db, lock
        self._token, self._key = verification_token, encrypt_key

    def handle(self, body: bytes, headers: Mapping[str, str], remote: str | None = None) -> tuple[int, dict]:
        """Answer one push: ``(200, {...})``, or ``(400, {"error": reason})`` with the body quarantined.

        Takes the same ``(body, headers)`` a sandbox ``event_sink`` is given, so it can be one.
        """
        try:
            return 200, self._accept(body, {k.lower(): v for k, v in headers.items()})
        except sqlite3.Error as exc:
            log.error("feishu event: database unavailable: %s", exc)
            return 503, {"error": _one_line(f"database unavailable ({exc}); try again later")}
        except Refused as exc:
            refused = exc
        except state.StateError as exc:
            refused = Refused(400, f"cannot store this event: {exc}")
        except Exception as exc:  # noqa: BLE001 - an event must never become a 500
            refused = Refused(400, f"unreadable event ({type(exc).__name__})")
        log.warning("feishu event: refused (%s): %s", refused.status, refused.reason)
        try:
            with self.lock:
                state.quarantine(self.db, form=EVENTS_FEISHU, reason=refused.reason, body=body, remote=remote)
        except sqlite3.Error as exc:
            return 503, {"error": _one_line(f"database unavailable ({exc}); try again later")}
        return refused.status, {"error": refused.reason}

    def _accept(self, body: bytes, headers: dict[str, str]) -> dict:
        payload, signed = self._open(body, headers)
        is_check = payload.get("type") == "url_verification"
        header = payload.get("header") if isinstance(payload.get("header"), dict) else {}
        _check_event_token(payload.get("token") if is_check or not header else header.get("token"), self._token)
        if is_check:
            if not isinstance(payload.get("challenge"), str):
                raise Refused(400, "url_verification without a challenge")
            return {"challenge": payload["challenge"]}
        if self._key and not signed:
            raise Refused(400, "unauthenticated: the event has no X-Lark-Signature")
        if payload.get("schema") != "2.0" or not header:
            raise Refused(400, "not a v2 event (schema 2.0 with a header): set the app's events to v2")
        event_id, event_type = header.get("event_id"), header.get("event_type")
        if not (isinstance(event_id, str) and event_id and isinstance(event_type, str) and event_type):
            raise Refused(400, "the event header has no event_id or event_type")
        if event_type not in MEMBER_EVENTS:
            log.info("feishu event %s (%s): not recorded", event_id[:64], event_type[:80])
            return {"msg": "success", "status": "ignored"}
        row = _member_event(event_type, header, payload.get("event"))
        if not row["subjects"]:
            return {"msg": "success", "status": "ignored"}
        with self.lock:
            new = state.record_event(self.db, service="feishu", event_id=event_id, event_type=event_type, **row)
        status = "new" if new else "duplicate"
        log.info("feishu event %s (%s): %s", event_id[:64], event_type, status)
        return {"msg": "success", "status": status}

    def _open(self, body: bytes, headers: dict[str, str]) -> tuple[dict, bool]:
        """The event's plaintext JSON object, and whether its signature was checked."""
        outer = _json_object(body)
        if "encrypt" not in outer:
            if self._key:
                raise Refused(400, "unauthenticated: the event is not encrypted but services.feishu has an "
                                   "encrypt_key")
            return outer, False
        if not self._key:
            raise Refused(400, "the event is encrypted but services.feishu has no encrypt_key")
        signed = "x-lark-signature" in headers
        if signed:
            _check_signature(headers, body, self._key)
        try:
            plain = _decrypt(outer["encrypt"], self._key)
        except (ValueError, TypeError):
            raise Refused(400, "cannot decrypt the event (wrong encrypt_key?)") from None
        return _json_object(plain), signed


def _check_event_token(token: Any, secret: str) -> None:
    if not isinstance(token, str) or not token:
        raise Refused(400, "unauthenticated: the event has no verification token")
    if not hmac.compare_digest(token.encode("utf-8", "replace"), secret.encode("utf-8", "replace")):
        raise Refused(400, "unauthenticated: wrong verification token")


def _check_signature(headers: dict[str, str], body: bytes, key: str) -> None:
    """X-Lark-Signature = hex SHA-256(timestamp + nonce + encrypt_key + raw body) (§3.8)."""
    stamp, nonce = headers.get("x-lark-request-timestamp", ""), headers.get("x-lark-request-nonce", "")
    expected = hashlib.sha256((stamp + nonce + key).encode("utf-8", "replace") + body).hexdigest()
    if not hmac.compare_digest(expected.encode(), headers["x-lark-signature"].encode("utf-8", "replace")):
        raise Refused(400, "unauthenticated: wrong X-Lark-Signature")


def _decrypt(encrypted: Any, key: str) -> bytes:
    """base64(iv + AES-256-CBC(SHA-256(key))) with PKCS#7 padding (§3.8); ``ValueError`` when it is not."""
    if not isinstance(encrypted, str):
        raise ValueError("encrypt is not a string")
    raw = base64.b64decode(encrypted, validate=True)
    if len(raw) < 32 or len(raw) % 16:
        raise ValueError("bad ciphertext length")
    decryptor = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(raw[:16])).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(raw[16:]) + decryptor.finalize()) + unpadder.finalize()


def _member_event(event_type: str, header: dict, event: Any) -> dict[str, Any]:
    """What ``state.record_event`` keeps of a member event; ``Refused`` when its shape is not Feishu's."""
    where, listed = MEMBER_EVENTS[event_type]
    if not isinstance(event, dict) or not isinstance(event.get(where), str) or not event[where]:
        raise Refused(400, f"not a readable {event_type} event: no {where}")
    resource = event[where]
    if where == "file_token":
        if not isinstance(event.get("file_type"), str) or not event["file_type"]:
            raise Refused(400, f"not a readable {event_type} event: no file_type")
        resource = f"{event['file_type']}:{resource}"  # the doc's id as the Feishu connector names it
    people = event.get(listed) or []
    if not isinstance(people, list) or not all(isinstance(p, dict) for p in people):
        raise Refused(400, f"not a readable {event_type} event: {listed} is not a list of users")
    ids = [p.get("user_id") if listed == "users" else p for p in people]
    operator = _user_key(event.get("operator_id"))
    return {"resource": resource, "subjects": [k for k in map(_user_key, ids) if k],
            "operator": operator or str(header.get("app_id") or ""), "operator_type": "user" if operator else "app",
            "happened_at": _event_time(header.get("create_time"))}


def _user_key(ids: Any) -> str | None:
    """A user's ``user_id`` (Muster's Feishu account id), else their ``open_id``; None when there is neither."""
    if not isinstance(ids, dict):
        return None
    key = ids.get("user_id") or ids.get("open_id")
    return key if isinstance(key, str) and key else None


def _event_time(create_time: Any) -> str:
    """``header.create_time`` (ms since the epoch, as a string) as ISO UTC."""
    try:
        return datetime.fromtimestamp(int(create_time) / 1000, UTC).isoformat(timespec="microseconds")
    except (TypeError, ValueError, OverflowError, OSError):
        raise Refused(400, "the event header has no readable create_time") from None


def _check(form: PushForm, token: str | None, body: bytes) -> tuple[dict, FormEntry]:
    """Authenticate and parse a push, in the documented order; ``Refused`` says why not."""
    service = form.conn.service
    if form.token is not None:
        _check_token(token, form.token)
    payload = _json_object(body)
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


def _json_object(body: bytes) -> dict:
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


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": _one_line(reason)}, status_code=status)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": _one_line(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


__all__ = ["FeishuEvents", "PushForm", "Refused", "create_app", "feishu_events", "push_forms"]

"""Feishu's event intake: ``POST /events/feishu``, when ``services.feishu`` has a ``verification_token`` (§3.8).

With an ``encrypt_key`` the body must be ``{"encrypt": ...}``: its ``X-Lark-Signature`` is checked (constant time)
before it is decrypted, and every event but the URL check must be signed. The verification token inside is then
compared in constant time; ``url_verification`` is answered with its challenge; a v2 event about chat members or
document collaborators is stored once per ``header.event_id`` (``state.record_event``: who did it, to whom, where,
when) before the 200; other event types are answered 200 and dropped. Every refusal is a 400 with a reason,
quarantined under ``events/feishu``. ``FeishuEvents.handle(body, headers)`` does all of it without HTTP (the
in-process sandbox delivers events straight to it; ``flows.receiver`` routes HTTP to it). Nothing secret is logged,
and of a body only an authenticated event's id and type.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import state
from config._yaml import ConfigError
from config.tenant import Connection, SecretRef
from flows._receiver_common import Refused, json_object, one_line

log = logging.getLogger("muster.receiver")

EVENT_MAX_BODY = 256 * 1024
EVENTS_FEISHU = "events/feishu"  # refused events are quarantined under this name (no form can have it)
MEMBER_EVENTS = {  # event type → (resource field, subject list field); file resources are "<type>:<token>"
    "im.chat.member.user.added_v1": ("chat_id", "users"),
    "im.chat.member.user.deleted_v1": ("chat_id", "users"),
    "im.chat.member.user.withdrawn_v1": ("chat_id", "users"),
    "drive.file.permission_member_added_v1": ("file_token", "user_list"),
    "drive.file.permission_member_removed_v1": ("file_token", "user_list"),
}


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
            return 503, {"error": one_line(f"database unavailable ({exc}); try again later")}
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
            return 503, {"error": one_line(f"database unavailable ({exc}); try again later")}
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
        outer = json_object(body)
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
        return json_object(plain), signed


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


__all__ = ["EVENTS_FEISHU", "EVENT_MAX_BODY", "MEMBER_EVENTS", "FeishuEvents", "feishu_events"]

"""Event subscription of the Feishu sandbox: member changes pushed as Feishu pushes them (reference §3.8, §8.3).

When ``event_sink`` is set (``callable(body: bytes, headers: dict)``), a change of a chat's
members or of a document's collaborators is delivered to it as a v2 event
(``{"schema": "2.0", "header": {event_id, event_type, create_time (ms), token, app_id,
tenant_key}, "event": {...}}``) with the payload shapes of lark-oapi's models:
``im.chat.member.user.added_v1|deleted_v1|withdrawn_v1`` (``chat_id``, ``operator_id``,
``users: [{name, tenant_key, user_id: {user_id, open_id, union_id}}]``, ``name`` ...) and
``drive.file.permission_member_added_v1|removed_v1`` (``file_type``, ``file_token``,
``operator_id``, ``user_list`` ...). With an ``encrypt_key`` (the default; ``""`` turns it
off) the body is ``{"encrypt": base64(iv + AES-256-CBC(SHA-256(key), PKCS#7))}`` and the
headers carry ``X-Lark-Request-Timestamp``/``-Nonce`` and ``X-Lark-Signature`` =
hex SHA-256(timestamp + nonce + key + body), so lark-oapi's dispatcher accepts it.

Who operated: the ``console_*`` helpers act as a person in the Feishu client (``by`` = that
person's ``user_id``; ``operator_id`` names them). Changes through the API are the app's:
lark-oapi models ``operator_id`` only as a user (``user_id``/``open_id``/``union_id``, no app
variant), so an app's change carries an empty ``operator_id`` and the app is named by the
envelope's ``header.app_id`` (assumption, unverified against the live service).

What fires (assumptions where marked): chat events only for chats the bot is in (Feishu
pushes them to the bot's chats); adding a present member or removing an absent one sends
nothing; chat creation and owner transfer send nothing (assumed). Drive events only for
files the app subscribed to (``POST /drive/v1/files/:token/subscribe?file_type=``, or
``subscribe_file``; §3.5 "require file subscription"), only for users, and only when a
collaborator is added or removed (a perm change of an existing one sends nothing, assumed).
Events are queued while the sandbox holds its lock and delivered after it lets go, so a sink
that writes to a database never waits on the sandbox; a sink's error is logged, never
returned to the API caller.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import string
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from connectors._sandbox import route
from connectors.feishu.sandbox._core import PREFIX, Fail

log = logging.getLogger("muster.sandbox.feishu")

CHAT_EVENTS = {"added": "im.chat.member.user.added_v1", "deleted": "im.chat.member.user.deleted_v1",
               "withdrawn": "im.chat.member.user.withdrawn_v1"}
DRIVE_EVENTS = {"added": "drive.file.permission_member_added_v1",
                "removed": "drive.file.permission_member_removed_v1"}
SUBSCRIBE_BAD_PARAM = 1063001  # drive's "invalid param" (chosen: the subscribe API's own table is not known)
SUBSCRIBE_NOT_FOUND = 1063005
Sink = Callable[[bytes, dict[str, str]], Any]


class EventsMixin:
    """Feishu's event push: ``event_sink``, ``verification_token``, ``encrypt_key``, and the ``console_*`` acts."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        # a generator of its own, so the seeded ids of users, chats and docs stay what they were
        self._event_rng = random.Random(f"feishu-events:{kw.get('seed', 0)}")
        self.verification_token = _alnum(self._event_rng, 32)
        self.encrypt_key = _alnum(self._event_rng, 32)
        self.event_sink: Sink | None = None
        self.events_sent: list[dict[str, Any]] = []  # the plaintext envelopes handed to the sink, in order
        self._outbox: list[tuple[bytes, dict[str, str]]] = []

    @property
    def event_credentials(self) -> dict[str, str]:
        """The app's event subscription secrets, as its console shows them."""
        return {"verification_token": self.verification_token, "encrypt_key": self.encrypt_key}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().__call__(request)
        finally:  # a timed-out call still acted: its events go out too
            self.deliver_events()

    # --- what a person does in the Feishu client ------------------------------------

    def console_add_chat_member(self, chat_id: str, user_id: str, *, by: str) -> None:
        """``by`` (a member of the chat) adds ``user_id`` to it, as in the Feishu client."""
        with self.lock:
            chat = self._console_chat(chat_id, by)
            self._console_user(user_id)
            if user_id not in chat["members"]:
                chat["members"].append(user_id)
                self.chat_member_event("added", chat, [user_id], by)
        self.deliver_events()

    def console_remove_chat_member(self, chat_id: str, user_id: str, *, by: str) -> None:
        """``by`` removes ``user_id`` from the chat (``by == user_id``: they leave it); not the owner."""
        self._console_drop(chat_id, user_id, by, "deleted")

    def console_withdraw_chat_member(self, chat_id: str, user_id: str, *, by: str) -> None:
        """``by`` withdraws their recent adding of ``user_id`` (Feishu's 撤销拉人), which removes them."""
        self._console_drop(chat_id, user_id, by, "withdrawn")

    def console_grant(self, token: str, doc_type: str, user_id: str, perm: str, *, by: str) -> None:
        """``by`` shares a doc with ``user_id`` at ``perm`` in the Feishu client."""
        with self.lock:
            doc = self._console_doc(token, doc_type, by)
            self._console_user(user_id)
            fresh = user_id not in doc["members"]
            self.grant(token, user_id, perm)
            if fresh:
                self.permission_event("added", doc, [user_id], by)
        self.deliver_events()

    def console_revoke(self, token: str, doc_type: str, user_id: str, *, by: str) -> None:
        """``by`` removes collaborator ``user_id`` from a doc in the Feishu client."""
        with self.lock:
            doc = self._console_doc(token, doc_type, by)
            if doc["members"].pop(user_id, None) is not None:
                self.permission_event("removed", doc, [user_id], by)
        self.deliver_events()

    def subscribe_file(self, token: str) -> None:
        """Seed the app's subscription to a file's events (as the subscribe API does)."""
        self.docs[token]["subscribed"] = True

    @route("POST", PREFIX + "/drive/v1/files/{file_token}/subscribe")
    def _file_subscribe(self, request: httpx.Request, file_token: str) -> httpx.Response:
        doc = self.docs.get(file_token)
        if doc is None:
            raise Fail(SUBSCRIBE_NOT_FOUND, "resource deleted", 404)
        if request.url.params.get("file_type") != doc["type"]:
            raise Fail(SUBSCRIBE_BAD_PARAM, "file_type is required and must be the file's own type")
        doc["subscribed"] = True
        return self.ok({})

    # --- events (called by the handlers with the lock held) --------------------------

    def chat_member_event(self, kind: str, chat: dict[str, Any], user_ids: Sequence[str],
                          operator: str | None = None) -> None:
        """Queue ``im.chat.member.user.<kind>_v1`` for ``user_ids``; ``operator`` None = the app."""
        if not user_ids or not chat.get("bot_in", True):
            return
        users = [{"name": self.users.get(u, {}).get("name", ""), "tenant_key": self.tenant_key,
                  "user_id": self._user_ids(u)} for u in user_ids]
        event = {"chat_id": chat["chat_id"], "operator_id": self._user_ids(operator) if operator else {},
                 "external": False, "users": users, "name": chat["name"], "i18n_names": {"zh_cn": chat["name"]}}
        if operator:
            event["operator_tenant_key"] = self.tenant_key
        self._emit(CHAT_EVENTS[kind], event)

    def permission_event(self, kind: str, doc: dict[str, Any], user_ids: Sequence[str],
                         operator: str | None = None) -> None:
        """Queue ``drive.file.permission_member_<kind>_v1`` if the app subscribed to the file."""
        if not user_ids or not doc.get("subscribed"):
            return
        self._emit(DRIVE_EVENTS[kind], {
            "file_type": doc["type"], "file_token": doc["token"],
            "operator_id": self._user_ids(operator) if operator else {},
            "user_list": [self._user_ids(u) for u in user_ids], "chat_list": [], "open_department_id_list": [],
            "subscriber_id_list": []})

    def url_verification(self, challenge: str) -> tuple[bytes, dict[str, str]]:
        """The request Feishu sends when the event URL is saved in the app's console."""
        return self.seal({"challenge": challenge, "token": self.verification_token, "type": "url_verification"})

    def seal(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """``payload`` as Feishu posts it: encrypted and signed when there is an ``encrypt_key``."""
        plain = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Request-Id": self._event_hex(32)}
        if not self.encrypt_key:
            return plain, headers
        body = json.dumps({"encrypt": self._encrypt(plain)}).encode()
        timestamp, nonce = str(int(self.clock())), self._event_hex(16)
        signed = (timestamp + nonce + self.encrypt_key).encode() + body
        return body, {**headers, "X-Lark-Request-Timestamp": timestamp, "X-Lark-Request-Nonce": nonce,
                      "X-Lark-Signature": hashlib.sha256(signed).hexdigest()}

    def deliver_events(self) -> None:
        """Hand queued events to ``event_sink`` (outside the lock); a failing sink is logged."""
        with self.lock:
            pending, self._outbox = self._outbox, []
        for body, headers in pending:
            sink = self.event_sink
            if sink is None:
                return
            try:
                sink(body, headers)
            except Exception as exc:  # noqa: BLE001 - delivery is best effort, as Feishu's first try is
                log.warning("feishu sandbox: event delivery failed: %s", exc)

    # --- helpers -------------------------------------------------------------------

    def _emit(self, event_type: str, event: dict[str, Any]) -> None:
        if self.event_sink is None:
            return
        envelope = {"schema": "2.0",
                    "header": {"event_id": self._event_hex(32), "event_type": event_type,
                               "create_time": str(int(self.clock() * 1000)), "token": self.verification_token,
                               "app_id": self.app_id, "tenant_key": self.tenant_key},
                    "event": event}
        self.events_sent.append(envelope)
        self._outbox.append(self.seal(envelope))

    def _encrypt(self, plain: bytes) -> str:
        key = hashlib.sha256(self.encrypt_key.encode()).digest()
        iv = self._event_rng.randbytes(16)
        padder = padding.PKCS7(128).padder()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        data = padder.update(plain) + padder.finalize()
        return base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()

    def _event_hex(self, n: int) -> str:
        return "".join(self._event_rng.choice("0123456789abcdef") for _ in range(n))

    def _user_ids(self, user_id: str) -> dict[str, str]:
        user = self.users.get(user_id)
        if user is None:
            return {"user_id": user_id} if self.user_id_scope else {}
        ids = {"union_id": user["union_id"], "open_id": user["open_id"]}
        return {**ids, "user_id": user_id} if self.user_id_scope else ids

    def _console_user(self, user_id: str) -> None:
        if user_id not in self.users:
            raise KeyError(f"no user {user_id}")

    def _console_chat(self, chat_id: str, by: str) -> dict[str, Any]:
        self._console_user(by)
        chat = self.chats[chat_id]
        if by not in chat["members"]:
            raise ValueError(f"{by} is not in chat {chat_id}")
        return chat

    def _console_drop(self, chat_id: str, user_id: str, by: str, kind: str) -> None:
        with self.lock:
            chat = self._console_chat(chat_id, by)
            if user_id == chat["owner_id"]:
                raise ValueError("the chat owner cannot be removed")
            if by not in (user_id, chat["owner_id"]) and kind == "deleted":
                raise ValueError(f"only the owner removes others from chat {chat_id}")
            if user_id in chat["members"]:
                chat["members"].remove(user_id)
                self.chat_member_event(kind, chat, [user_id], by)
        self.deliver_events()

    def _console_doc(self, token: str, doc_type: str, by: str) -> dict[str, Any]:
        self._console_user(by)
        doc = self.docs[token]
        if doc["type"] != doc_type:
            raise ValueError(f"{token} is a {doc['type']}, not a {doc_type}")
        if by != doc["owner"] and (doc["members"].get(by) or {}).get("perm") != "full_access":
            raise ValueError(f"{by} cannot share {token} (owner or full_access only)")
        return doc


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


__all__ = ["CHAT_EVENTS", "DRIVE_EVENTS", "EventsMixin"]

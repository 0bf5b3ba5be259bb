"""Feishu's faithful in-memory fake: contact v3 users/departments, im v1 chats/messages, drive v1 files and perms.

The measure of faithfulness is that the official SDK (``lark-oapi``) and our connector work
against it unchanged. The frame (envelope, tenant tokens, rate limits, paging, faults) is
in ``_core``; contacts, chats and drive are mixins.

Seeding and inspection: ``credentials`` (app_id, app_secret), ``add_department``,
``add_user``, ``add_chat``, ``add_doc`` (``parent=`` a folder token), ``add_shortcut``, ``delete_doc``,
``grant``, ``users``, ``departments``, ``chats``, ``docs`` (``app_access=False`` on one: the app cannot
reach it), ``messages`` (delivered (user_id, text)), ``deleted_users`` (user_id → docs acceptor),
``write_calls``, ``out_of_scope``,
``user_id_scope`` (False: the app lacks "get user_id" and users come without it).
Events (``_events``): ``event_sink``, ``event_credentials`` (verification_token, encrypt_key),
``events_sent``, ``subscribe_file``, ``url_verification``, and a person's acts in the Feishu client:
``console_add_chat_member``, ``console_remove_chat_member``, ``console_withdraw_chat_member``,
``console_grant``, ``console_revoke``.
Users, chat members and doc grants are keyed by ``user_id``.
"""

from __future__ import annotations

from connectors.feishu.sandbox._chats import ChatsMixin
from connectors.feishu.sandbox._contacts import ContactsMixin
from connectors.feishu.sandbox._core import QPS_PER_API, REISSUE_BELOW, TOKEN_TTL, FeishuSandboxCore
from connectors.feishu.sandbox._drive import DriveMixin
from connectors.feishu.sandbox._events import EventsMixin


class FeishuSandbox(EventsMixin, ContactsMixin, ChatsMixin, DriveMixin, FeishuSandboxCore):
    """In-memory Feishu: ``FeishuSandbox(*, clock, faults, rate_limits, seed)``."""

    STATE_FIELDS = ("departments", "users", "chats", "docs", "messages", "uuids", "out_of_scope", "deleted_users")


__all__ = ["QPS_PER_API", "REISSUE_BELOW", "TOKEN_TTL", "FeishuSandbox"]

"""DingTalk's faithful in-memory fake: the API slice Muster uses, both path families.

The measure of faithfulness is that the community SDK (``dingtalk-sdk``) and our own
connector work against it unchanged. The frame (envelopes, tokens, rate limits, faults)
is in ``_core``; contacts, chats/notices and the SDK's legacy reads are mixins.

Seeding and inspection (the demo, the contract suite and the benchmarks use these):
``credentials``, ``add_department``, ``add_user``, ``add_chat``, ``users``,
``departments``, ``chats``, ``messages`` (delivered notices), ``write_calls``,
``denied`` (API paths answered with errcode 88/60011).
"""

from __future__ import annotations

from connectors.dingtalk.sandbox._chats import ChatsMixin
from connectors.dingtalk.sandbox._contacts import ContactsMixin
from connectors.dingtalk.sandbox._core import (
    CHAT_FULL,
    CHAT_NOT_FOUND,
    QPS_PER_API,
    TOKEN_TTL,
    DingTalkSandboxCore,
)
from connectors.dingtalk.sandbox._legacy import LegacyMixin


class DingTalkSandbox(ContactsMixin, ChatsMixin, LegacyMixin, DingTalkSandboxCore):
    """In-memory DingTalk: ``DingTalkSandbox(*, clock, faults, rate_limits, seed)``."""

    # Kept across demo runs by export_state/import_state; credentials follow from the seed.
    STATE_FIELDS = ("departments", "users", "chats", "messages", "notice_keys", "notice_counts", "denied")


__all__ = ["CHAT_FULL", "CHAT_NOT_FOUND", "QPS_PER_API", "TOKEN_TTL", "DingTalkSandbox"]

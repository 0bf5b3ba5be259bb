"""WeComSandbox: an in-memory fake of the WeCom API slice Muster uses.

It serves the real paths under ``/cgi-bin/`` with WeCom's own envelopes, error codes and
headers, token lifetime and early revocation, per-API rate windows and the quirks listed
in reference §8.2, so that wechatpy (the community SDK) works against it unchanged. The
parts live in ``_core`` (envelopes, tokens, limits), ``_contacts`` (users, departments) and
``_groups`` (tags, app chats, app messages).

Two secrets as in real WeCom: the app's ``corpsecret`` and the contacts-sync
``contacts_secret``, each with its own token; contact writes need the contacts token, app
chats and messages the app's (48002 otherwise). ``contacts_secret_required=False`` lets the
app token write contacts as well.

Seeding and inspection (used by the demo, the contract suite and the benchmarks):
``credentials``, ``add_department``, ``add_user``, ``add_chat``, ``add_tag``; the plain dicts
``users`` (userid → record), ``departments`` (id → record), ``chats`` (chatid → record),
``tags`` (tagid → record); ``messages`` (delivered ``(userid, text)``) and ``write_calls``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from connectors._sandbox import FaultPlan
from connectors.wecom.sandbox._contacts import ContactsMixin
from connectors.wecom.sandbox._core import MESSAGES, WeComFault, WeComLimits
from connectors.wecom.sandbox._groups import GroupsMixin


class WeComSandbox(ContactsMixin, GroupsMixin):
    """The WeCom fake: a request handler (``httpx.Request -> httpx.Response``) with seeding helpers."""

    # Kept across demo runs by export_state/import_state; credentials follow from the seed.
    STATE_FIELDS = ("users", "departments", "tags", "chats", "messages")

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        faults: FaultPlan | None = None,
        rate_limits: bool = True,
        seed: int = 0,
        limits: WeComLimits | None = None,
        contacts_secret_required: bool = True,
    ):
        super().__init__(
            clock=clock,
            faults=faults,
            rate_limits=rate_limits,
            seed=seed,
            limits=limits,
            contacts_secret_required=contacts_secret_required,
        )


__all__ = ["MESSAGES", "WeComFault", "WeComLimits", "WeComSandbox"]

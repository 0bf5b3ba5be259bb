"""TencentMeetingSandbox: an in-memory fake of the Tencent Meeting REST slice Muster uses.

It verifies every request's AK/SK signature exactly as the service does and answers with
the service's paths, ``error_info`` envelope and codes (reference §4, §8.4), so that the
official ``wemeet-openapi-sdk-python`` works against it unchanged. ``_core`` holds the
signature check, envelopes, quotas and seeding; ``_meetings`` the routes.

Seeding and inspection: ``credentials`` (app_id, sdk_id, secret_id, secret_key,
operator_id), ``add_user``, ``add_meeting``, ``record_join`` (call again for a rejoin);
the plain dicts ``users`` and ``meetings`` (meeting_id → record with ``invitees`` and
``joins``), and ``write_calls``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from connectors._sandbox import FaultPlan
from connectors.tencent_meeting.sandbox._core import MESSAGES
from connectors.tencent_meeting.sandbox._meetings import MeetingsMixin


class TencentMeetingSandbox(MeetingsMixin):
    """The Tencent Meeting fake: a request handler (``httpx.Request -> httpx.Response``)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        faults: FaultPlan | None = None,
        rate_limits: bool = True,
        seed: int = 0,
    ):
        super().__init__(clock=clock, faults=faults, rate_limits=rate_limits, seed=seed)


__all__ = ["MESSAGES", "TencentMeetingSandbox"]

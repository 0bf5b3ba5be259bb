"""The core of the Tencent Meeting fake: signature check, error envelope, quotas, seeding.

Every request is authenticated as the service does it (reference §4.1, §8.4): the
signature is recomputed from the request as received — method, the three signed headers,
the path with its raw query, the raw body — and compared with ``X-TC-Signature``; a wrong
key, a changed byte or a timestamp more than 5 minutes off is refused with 200003.
Errors are HTTP 400 (request) or 500 (service) with ``{"error_info": {...}}``.

Choices where no source was found (unverified): ``new_error_code`` equals ``error_code``;
a stale timestamp answers 200003 with the message "signature expired"; bad parameters
answer 10001; an unknown path answers HTTP 404 with ``error_info`` code 404; an injected
service fault answers HTTP 500 with code 500; queries are throttled (9061) above
``QUERIES_PER_SECOND`` per app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import string
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from connectors._sandbox import FaultPlan, Sandbox, SlidingWindow

MAX_SKEW = 300
QUERIES_PER_SECOND = 20  # 9061 beyond; the real figure is not published
CREATES_PER_MINUTE, CREATES_PER_DAY = 9, 100  # per user, 9008 beyond (reference §4.2)
PARAM_ERROR = 10001
KEY_ALPHABET = string.ascii_letters + string.digits

MESSAGES = {
    200003: "Signature failed",
    9003: "meeting does not exist",
    9008: "meeting creation quota exceeded",
    9042: "no permission",
    9061: "query too frequent",
    9102: "no permission to modify the meeting",
    20001: "user does not exist",
    20002: "user already exists",
    PARAM_ERROR: "parameter error",
}


def _seconds(value: datetime | float | int | str) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else int(float(value))


class TencentMeetingCore(Sandbox):
    """Authentication, envelopes, quotas and the seeding helpers."""

    service = "tencent_meeting"
    STATE_FIELDS = ("users", "meetings")

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        faults: FaultPlan | None = None,
        rate_limits: bool = True,
        seed: int = 0,
    ):
        super().__init__(clock=clock, faults=faults, rate_limits=rate_limits)
        self.rng = random.Random(seed)
        self.app_id = str(self.rng.randrange(200_000_000, 299_999_999))
        self.sdk_id = str(self.rng.randrange(18_000_000_000, 18_999_999_999))
        self.secret_id = "".join(self.rng.choice(KEY_ALPHABET) for _ in range(32))
        self._secret_key = "".join(self.rng.choice(KEY_ALPHABET) for _ in range(32))
        self.operator_id = "admin"  # an enterprise admin: may read any meeting's attendance
        self.users: dict[str, dict[str, Any]] = {}
        self.meetings: dict[str, dict[str, Any]] = {}
        self.write_calls = 0
        self._queries = SlidingWindow(QUERIES_PER_SECOND, 1.0, clock)
        self._create_minute = SlidingWindow(CREATES_PER_MINUTE, 60, clock)
        self._create_day = SlidingWindow(CREATES_PER_DAY, 86_400, clock)
        self.add_user(self.operator_id, "Admin")

    @property
    def credentials(self) -> dict[str, str]:
        """What a connector needs: app_id, sdk_id, secret_id, secret_key, operator_id."""
        return {
            "app_id": self.app_id,
            "sdk_id": self.sdk_id,
            "secret_id": self.secret_id,
            "secret_key": self._secret_key,
            "operator_id": self.operator_id,
        }

    # --- seeding --------------------------------------------------------------------

    def add_user(self, userid: str, name: str) -> None:
        """An enterprise user (may create, host and be invited to meetings)."""
        self.users[userid] = {"userid": userid, "username": name, "status": "1"}

    def add_meeting(
        self, subject: str, start: datetime | float, end: datetime | float, host: str,
        invitees: tuple[str, ...] = (),
    ) -> str:
        """A scheduled meeting created by ``host``; returns its ``meeting_id``."""
        meeting_id = str(self.rng.randrange(10**18, 10**19))
        self.meetings[meeting_id] = {
            "meeting_id": meeting_id,
            "meeting_code": str(self.rng.randrange(100_000_000, 999_999_999)),
            "subject": subject,
            "start": _seconds(start),
            "end": _seconds(end),
            "creator": host,
            "invitees": list(dict.fromkeys(invitees)),
            "joins": [],
            "cancelled": False,
        }
        return meeting_id

    def record_join(
        self, meeting_id: str, userid: str, joined_at: datetime | float, left_at: datetime | float | None = None,
        *, name: str | None = None,
    ) -> None:
        """One join of ``userid`` (call again for a rejoin: each join is its own row)."""
        if name is None:
            name = self.users.get(userid, {}).get("username", userid)
        self.meetings[meeting_id]["joins"].append({
            "userid": userid,
            "name": name,
            "join": _seconds(joined_at),
            "left": None if left_at is None else _seconds(left_at),
        })

    # --- the handler ----------------------------------------------------------------

    def dispatch(self, request: httpx.Request) -> httpx.Response:
        refused = self.authenticate(request)
        if refused is not None:
            return refused
        if request.method == "GET" and self.rate_limits and not self._queries.hit(self.app_id):
            return self.fail(9061)
        if request.method in {"POST", "PUT", "DELETE"}:
            self.write_calls += 1
        return super().dispatch(request)

    def authenticate(self, request: httpx.Request) -> httpx.Response | None:
        """None when the request is signed by our key within 5 minutes; else the 200003 answer."""
        h = request.headers
        key, nonce, stamp, sig = (h.get(n, "") for n in ("X-TC-Key", "X-TC-Nonce", "X-TC-Timestamp", "X-TC-Signature"))
        if not (key and nonce and stamp and sig) or h.get("AppId") is None:
            return self.fail(200003, "missing signature headers")
        if key != self.secret_id or h.get("AppId") != self.app_id or h.get("SdkId", self.sdk_id) != self.sdk_id:
            return self.fail(200003)
        if not nonce.isdigit() or int(nonce) <= 0 or not stamp.isdigit():
            return self.fail(200003)
        if abs(self.clock() - int(stamp)) > MAX_SKEW:
            return self.fail(200003, "signature expired")
        body = request.content.decode("utf-8", errors="replace")
        uri = request.url.raw_path.decode("ascii")
        text = f"{request.method}\nX-TC-Key={key}&X-TC-Nonce={nonce}&X-TC-Timestamp={stamp}\n{uri}\n{body}"
        digest = hmac.new(self._secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()
        expected = base64.b64encode(digest.encode()).decode()
        return None if hmac.compare_digest(expected, sig) else self.fail(200003)

    def error(self, request: httpx.Request, kind: str, **detail: Any) -> httpx.Response:
        """The service's answer for a fault kind (5xx, ratelimit, notfound-route)."""
        if kind == "5xx":
            return self.fail(500, "internal error", status=500)
        if kind == "ratelimit":
            return self.fail(9061)
        if kind == "notfound-route":
            return self.fail(404, "no such API", status=404)
        raise ValueError(f"unknown error kind {kind!r}")

    # --- envelopes and checks -------------------------------------------------------

    def fail(self, code: int, message: str | None = None, *, status: int = 400) -> httpx.Response:
        info = {"error_code": code, "new_error_code": code, "message": message or MESSAGES.get(code, "error")}
        return self.json({"error_info": info}, status)

    def creation_quota_left(self, userid: str) -> bool:
        """Book one creation for ``userid``; False when the minute or day quota is used up."""
        if not self.rate_limits:
            return True
        return self._create_minute.hit(userid) and self._create_day.hit(userid)

    def meeting_for(self, meeting_id: str) -> dict[str, Any] | None:
        meeting = self.meetings.get(meeting_id)
        return None if meeting is None or meeting["cancelled"] else meeting

    def status_of(self, meeting: dict[str, Any]) -> str:
        if meeting["cancelled"]:
            return "MEETING_STATE_CANCELLED"
        now = self.clock()
        if now < meeting["start"] and not meeting["joins"]:
            return "MEETING_STATE_INIT"
        return "MEETING_STATE_STARTED" if now < meeting["end"] else "MEETING_STATE_ENDED"


__all__ = ["MESSAGES", "TencentMeetingCore"]

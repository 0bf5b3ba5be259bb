"""The Tencent Meeting connector: training sessions, their invitees and their attendance.

Meetings are groups of kind ``meeting``; invitees are their members; participants are the
attendance ledger's source, one ``Attendance`` row per join (a rejoin is another row —
``total_count`` counts participations, reference §4.3).

Who asks matters. Invitees may be read and set only by the meeting's creator; participants
by the creator or an enterprise admin (reference §4.3). Every call names an operator:
the configured ``operator_id`` (an enterprise admin), except for meetings this connector
created, which it remembers by creator (``spec.host``). A meeting created elsewhere by
another user therefore cannot have its invitees managed here (``PermissionDenied``).

``set_invitees`` sends the whole desired list: the PUT *overwrites* (an empty list clears,
≤2000). It reads the current list first and sends nothing when it already holds, so a
re-run makes no write call.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._errors import CapacityExceeded, InvalidPayload, NotFound
from connectors._http import RetryPolicy
from connectors._paging import CursorPaginator, PageRequest
from connectors.tencent_meeting.client import (
    BASE_URL,
    CREATE_INVITEES_MAX,
    INSTANCE_PC,
    INVITEES_MAX,
    MEETINGS_API,
    OPERATOR_USERID,
    PARTICIPANTS_PAGE,
    SERVICE,
    TencentMeetingClient,
)
from connectors.tencent_meeting.models import TencentMeetingInfo, TencentMeetingParticipant
from mappings.models import ApplyResult, Attendance, Group, MeetingSpec

SANDBOX_URL = "http://tencent-meeting.sandbox"
SCHEDULED = 0  # meeting ``type``: 0 scheduled, 1 quick


class TencentMeetingConnector:
    """Meetings, invitees and attendance of one Tencent Meeting enterprise app.

    ``client.calls`` counts calls per path, ``client.writes`` the write calls.
    """

    name = SERVICE

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        app_id: str,
        sdk_id: str,
        secret_id: str,
        secret_key: SecretStr,
        operator_id: str,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: bool = True,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.operator_id = operator_id
        self._creators: dict[str, str] = {}  # meeting id → creator, for meetings made here
        self.client = TencentMeetingClient(
            base_url,
            app_id=app_id,
            sdk_id=sdk_id,
            secret_id=secret_id,
            secret_key=secret_key,
            transport=transport,
            retry=retry,
            rate_limit=rate_limit,
            clock=clock,
            sleep=sleep,
        )

    @classmethod
    def from_sandbox(cls, sandbox: Any, **kw: Any) -> TencentMeetingConnector:
        """A connector wired to ``sandbox`` in-process, with its credentials (``kw`` overrides) and clock."""
        creds: dict[str, Any] = {**sandbox.credentials, **kw}
        creds.setdefault("base_url", SANDBOX_URL)
        creds.setdefault("transport", sandbox.transport())
        creds.setdefault("clock", sandbox.clock)
        if not isinstance(creds["secret_key"], SecretStr):
            creds["secret_key"] = SecretStr(creds["secret_key"])
        return cls(**creds)

    def check(self) -> None:
        """One signed read of the operator's own user record: ``AuthError`` on bad credentials."""
        self.client.get(f"/v1/users/{self.operator_id}")

    def close(self) -> None:
        self.client.close()

    # --- meetings -------------------------------------------------------------------

    def create_meeting(self, spec: MeetingSpec) -> ApplyResult:
        """Schedule a meeting created by ``spec.host``; ``created_id`` is its ``meeting_id``.

        Up to 300 invitees go with the create; a longer list is set by a second call.
        Raises ``CapacityExceeded`` on the day's creation quota (9008, see ``client``).
        """
        invitees = _unique(spec.invitees)
        body: dict[str, Any] = {
            "userid": spec.host,
            "instanceid": INSTANCE_PC,
            "subject": spec.subject,
            "type": SCHEDULED,
            "start_time": _unix(spec.start),
            "end_time": _unix(spec.end),
        }
        if 0 < len(invitees) <= CREATE_INVITEES_MAX:
            body["invitees"] = [{"userid": u} for u in invitees]
        payload = self.client.post(MEETINGS_API, body)
        meeting = TencentMeetingInfo.model_validate(payload["meeting_info_list"][0])
        self._creators[meeting.meeting_id] = spec.host
        if len(invitees) > CREATE_INVITEES_MAX:
            extra = self._put_invitees(meeting.meeting_id, invitees)
            return ApplyResult(created_id=meeting.meeting_id, rejected=extra.rejected, calls=2)
        return ApplyResult(created_id=meeting.meeting_id)

    def get_group(self, kind: str, external_id: str) -> Group:
        """One meeting by id; ``NotFound`` if the service has none (9003)."""
        if kind != "meeting":
            raise NotFound(f"{SERVICE} has meetings only, not {kind!r}", service=SERVICE)
        payload = self.client.get(
            f"{MEETINGS_API}/{external_id}",
            operator_id=self.operator_id,
            operator_id_type=OPERATOR_USERID,
            instanceid=INSTANCE_PC,
        )
        rows = payload.get("meeting_info_list") or []
        if not rows:
            raise NotFound(f"meeting {external_id} not found", service=SERVICE)
        return _group(TencentMeetingInfo.model_validate(rows[0]))

    def list_meetings(self) -> Iterator[Group]:
        """The operator's upcoming and ongoing meetings (the service lists no ended ones)."""
        request = PageRequest(
            "GET", MEETINGS_API, params={"userid": self.operator_id, "instanceid": INSTANCE_PC}
        )
        paginator = CursorPaginator("pos", ("next_pos",), ("remaining",), location="params", start=0)
        for page in self.client.paginate(request, paginator, lambda p: p.get("meeting_info_list")):
            yield from (_group(TencentMeetingInfo.model_validate(m)) for m in page)

    # --- invitees -------------------------------------------------------------------

    def acting_as(self, meeting_id: str, creator: str) -> None:
        """Name the creator of a meeting made earlier (invitees are read and set as its creator)."""
        self._creators[meeting_id] = creator

    def list_invitees(self, meeting_id: str) -> list[str]:
        """The userids invited to the meeting, in the service's order."""
        request = PageRequest(
            "GET",
            f"{MEETINGS_API}/{meeting_id}/invitees",
            params={"userid": self._operator_for(meeting_id), "instanceid": INSTANCE_PC},
        )
        paginator = CursorPaginator("pos", ("next_pos",), ("has_remaining",), location="params", start=0)
        found: list[str] = []
        for page in self.client.paginate(request, paginator, lambda p: p.get("invitees")):
            found.extend(row["userid"] for row in page if row.get("userid"))
        return found

    def set_invitees(self, meeting_id: str, external_ids: Iterable[str]) -> ApplyResult:
        """Make the invitee list exactly ``external_ids`` (overwrite); no call if it already is.

        ``rejected`` lists the ids the service reports as not registered.
        """
        desired = _unique(external_ids)
        if len(desired) > INVITEES_MAX:
            raise CapacityExceeded(
                f"{len(desired)} invitees; a meeting takes at most {INVITEES_MAX}", service=SERVICE
            )
        if set(self.list_invitees(meeting_id)) == set(desired):
            return ApplyResult(calls=0, detail="invitees already as desired")
        return self._put_invitees(meeting_id, desired)

    def _put_invitees(self, meeting_id: str, userids: list[str]) -> ApplyResult:
        body = {
            "userid": self._operator_for(meeting_id),
            "instanceid": INSTANCE_PC,
            "invitees": [{"userid": u} for u in userids],
        }
        payload = self.client.put(f"{MEETINGS_API}/{meeting_id}/invitees", body) or {}
        return ApplyResult(rejected=tuple(payload.get("user_non_registered") or ()))

    # --- attendance -----------------------------------------------------------------

    def list_participants(self, meeting_id: str) -> Iterator[Attendance]:
        """Every join to the meeting, one row per join; empty before the meeting starts."""
        request = PageRequest(
            "GET",
            f"{MEETINGS_API}/{meeting_id}/participants",
            params={"userid": self._operator_for(meeting_id), "size": PARTICIPANTS_PAGE},
        )
        paginator = CursorPaginator("pos", ("next_pos",), ("has_remaining",), location="params", start=0)
        for page in self.client.paginate(request, paginator, lambda p: p.get("participants")):
            for row in page:
                yield _attendance(meeting_id, TencentMeetingParticipant.model_validate(row))

    def list_attendance(self, meeting_id: str) -> Iterator[Attendance]:
        """The ``list_attendance`` capability of the design: the same rows as ``list_participants``."""
        return self.list_participants(meeting_id)

    def _operator_for(self, meeting_id: str) -> str:
        return self._creators.get(meeting_id, self.operator_id)


# --- mapping ----------------------------------------------------------------------------


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i.strip() for i in ids if i and i.strip()))


def _unix(moment: datetime) -> str:
    """Unix seconds as a string; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(int(moment.timestamp()))


def _moment(value: str) -> datetime | None:
    """An aware UTC datetime from unix seconds as a string; None for empty or zero."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def decode_name(value: str) -> str:
    """A participant's ``user_name``: base64 of UTF-8; kept as is when it is not base64."""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return value


def _attendance(meeting_id: str, row: TencentMeetingParticipant) -> Attendance:
    joined = _moment(row.join_time)
    if joined is None:
        raise InvalidPayload(f"participant row without join_time in meeting {meeting_id}", service=SERVICE)
    return Attendance(
        service=SERVICE,
        meeting_id=meeting_id,
        external_id=row.userid or row.open_id or row.ms_open_id,
        name=decode_name(row.user_name),
        joined_at=joined,
        left_at=_moment(row.left_time),
    )


def _group(meeting: TencentMeetingInfo) -> Group:
    host = meeting.hosts[0].userid if meeting.hosts else None
    return Group(service=SERVICE, kind="meeting", external_id=meeting.meeting_id, name=meeting.subject, owner=host)


__all__ = ["SANDBOX_URL", "TencentMeetingConnector", "decode_name"]

"""Meetings, invitees, participants and users of the Tencent Meeting fake (reference §4.3, §4.4).

Permissions as documented: invitees are read and set by the meeting's creator only
(9042 on read, 9102 on write); participants by the creator or an enterprise admin
(``operator_id`` of the credentials). The invitee PUT overwrites the list (an empty list
clears it), at most 2000; a create takes at most 300. Ids that are no enterprise user are
left out and reported in ``user_non_registered``. Participants are one row per join, empty
while the meeting has not started, ``user_name`` in base64, times as unix-second strings.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx

from connectors._sandbox import route
from connectors.tencent_meeting.sandbox._core import PARAM_ERROR, TencentMeetingCore

INVITEES_MAX, CREATE_INVITEES_MAX = 2000, 300
INVITEES_PAGE = 100  # page size of GET invitees (not documented)
MEETINGS_PAGE = 20  # GET /v1/meetings returns at most 20 (SDK model doc of ``remaining``)
PARTICIPANTS_MAX_SIZE = 100


def _int(value: str | None, default: int = 0) -> int | None:
    if value in (None, ""):
        return default
    return int(value) if value.lstrip("-").isdigit() else None


class MeetingsMixin(TencentMeetingCore):
    """The routes: users, meetings, invitees, participants."""

    # --- users ----------------------------------------------------------------------

    @route("GET", "/v1/users/{userid}")
    def get_user(self, request: httpx.Request, userid: str) -> httpx.Response:
        user = self.users.get(userid)
        return self.json(user) if user else self.fail(20001)

    @route("POST", "/v1/users")
    def create_user(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request) or {}
        userid, name = body.get("userid"), body.get("username")
        if not userid or not name:
            return self.fail(PARAM_ERROR, "userid and username are required")
        if userid in self.users:
            return self.fail(20002)
        self.add_user(userid, name)
        return self.json({})

    # --- meetings -------------------------------------------------------------------

    @route("POST", "/v1/meetings")
    def create_meeting(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request) or {}
        missing = [k for k in ("userid", "instanceid", "subject", "type", "start_time", "end_time") if k not in body]
        if missing:
            return self.fail(PARAM_ERROR, f"missing {', '.join(missing)}")
        if body["userid"] not in self.users:
            return self.fail(20001)
        invitees = [i.get("userid") for i in body.get("invitees") or [] if isinstance(i, dict)]
        if len(invitees) > CREATE_INVITEES_MAX:
            return self.fail(PARAM_ERROR, f"at most {CREATE_INVITEES_MAX} invitees")
        if not self.creation_quota_left(body["userid"]):
            return self.fail(9008)
        known = [u for u in invitees if u in self.users]
        meeting_id = self.add_meeting(
            body["subject"], body["start_time"], body["end_time"], body["userid"], tuple(known)
        )
        return self.json({"meeting_number": 1, "meeting_info_list": [self.info(self.meetings[meeting_id])]})

    @route("GET", "/v1/meetings/{meeting_id}")
    def get_meeting(self, request: httpx.Request, meeting_id: str) -> httpx.Response:
        operator = request.url.params.get("operator_id") or request.url.params.get("userid")
        if operator not in self.users:
            return self.fail(20001)
        meeting = self.meetings.get(meeting_id)
        if meeting is None:
            return self.fail(9003)
        if operator not in (meeting["creator"], self.operator_id):
            return self.fail(9042)
        return self.json({"meeting_number": 1, "meeting_info_list": [self.info(meeting)]})

    @route("GET", "/v1/meetings")
    def list_meetings(self, request: httpx.Request) -> httpx.Response:
        userid = request.url.params.get("userid") or request.url.params.get("operator_id")
        pos = _int(request.url.params.get("pos"))
        if userid not in self.users:
            return self.fail(20001)
        if pos is None or pos < 0:
            return self.fail(PARAM_ERROR, "pos")
        rows = [m for m in self.meetings.values() if m["creator"] == userid
                and self.status_of(m) in ("MEETING_STATE_INIT", "MEETING_STATE_STARTED")]
        rows.sort(key=lambda m: (m["start"], m["meeting_id"]))
        page = rows[pos : pos + MEETINGS_PAGE]
        remaining = len(rows) - pos - len(page)
        return self.json({
            "meeting_number": len(page),
            "meeting_info_list": [self.info(m) for m in page],
            "remaining": max(0, remaining),
            "next_pos": pos + len(page),
            "next_cursory": 0,
        })

    @route("POST", "/v1/meetings/{meeting_id}/cancel")
    def cancel_meeting(self, request: httpx.Request, meeting_id: str) -> httpx.Response:
        body = self.body(request) or {}
        meeting = self.meeting_for(meeting_id)
        if meeting is None:
            return self.fail(9003)
        if body.get("userid") != meeting["creator"]:
            return self.fail(9102)
        meeting["cancelled"] = True
        return self.json({})

    def info(self, meeting: dict[str, Any]) -> dict[str, Any]:
        """A ``meeting_info_list`` entry."""
        return {
            "subject": meeting["subject"],
            "meeting_id": meeting["meeting_id"],
            "meeting_code": meeting["meeting_code"],
            "type": 0,
            "status": self.status_of(meeting),
            "start_time": str(meeting["start"]),
            "end_time": str(meeting["end"]),
            "hosts": [{"userid": meeting["creator"]}],
            "participants": [{"userid": u} for u in meeting["invitees"]],
            "join_url": f"https://meeting.tencent.com/dm/{meeting['meeting_code']}",
        }

    # --- invitees -------------------------------------------------------------------

    @route("GET", "/v1/meetings/{meeting_id}/invitees")
    def get_invitees(self, request: httpx.Request, meeting_id: str) -> httpx.Response:
        params = request.url.params
        pos = _int(params.get("pos"))
        if not params.get("userid") or not params.get("instanceid") or pos is None or pos < 0:
            return self.fail(PARAM_ERROR, "userid, instanceid and pos")
        meeting = self.meeting_for(meeting_id)
        if meeting is None:
            return self.fail(9003)
        if params["userid"] != meeting["creator"]:
            return self.fail(9042)
        ids = meeting["invitees"]
        page = ids[pos : pos + INVITEES_PAGE]
        rows = [{"userid": u, "nick_name": self.users.get(u, {}).get("username", "")} for u in page]
        more = pos + len(page) < len(ids)
        return self.json({"invitees": rows, "has_remaining": more, "next_pos": pos + len(page)})

    @route("PUT", "/v1/meetings/{meeting_id}/invitees")
    def set_invitees(self, request: httpx.Request, meeting_id: str) -> httpx.Response:
        body = self.body(request)
        if body is None or not body.get("userid") or "instanceid" not in body:
            return self.fail(PARAM_ERROR, "userid and instanceid are required")
        meeting = self.meeting_for(meeting_id)
        if meeting is None:
            return self.fail(9003)
        if body["userid"] != meeting["creator"]:
            return self.fail(9102)
        wanted = [i.get("userid") for i in body.get("invitees") or [] if isinstance(i, dict) and i.get("userid")]
        if len(wanted) > INVITEES_MAX:
            return self.fail(PARAM_ERROR, f"at most {INVITEES_MAX} invitees")
        meeting["invitees"] = list(dict.fromkeys(u for u in wanted if u in self.users))
        unknown = [u for u in wanted if u not in self.users]
        return self.json({"user_non_registered": unknown} if unknown else {})

    # --- participants ---------------------------------------------------------------

    @route("GET", "/v1/meetings/{meeting_id}/participants")
    def get_participants(self, request: httpx.Request, meeting_id: str) -> httpx.Response:
        params = request.url.params
        operator = params.get("userid") or params.get("operator_id")
        pos, size = _int(params.get("pos")), _int(params.get("size"), 20)
        if not operator or pos is None or pos < 0 or size is None or not 0 < size <= PARTICIPANTS_MAX_SIZE:
            return self.fail(PARAM_ERROR, "userid, pos, size (1..100)")
        meeting = self.meeting_for(meeting_id)
        if meeting is None:
            return self.fail(9003)
        if operator not in (meeting["creator"], self.operator_id):
            return self.fail(9042)
        joins = [] if self.status_of(meeting) == "MEETING_STATE_INIT" else meeting["joins"]
        joins = sorted(joins, key=lambda j: j["join"])
        page = joins[pos : pos + size]
        return self.json({
            "meeting_id": meeting_id,
            "meeting_code": meeting["meeting_code"],
            "subject": meeting["subject"],
            "schedule_start_time": str(meeting["start"]),
            "schedule_end_time": str(meeting["end"]),
            "total_count": len(joins),
            "has_remaining": pos + len(page) < len(joins),
            "next_pos": pos + len(page),
            "participants": [self.participant(meeting, j) for j in page],
        })

    def participant(self, meeting: dict[str, Any], join: dict[str, Any]) -> dict[str, Any]:
        userid = join["userid"]
        return {
            "userid": userid,
            "open_id": "",
            "ms_open_id": hashlib.sha1(f"{meeting['meeting_id']}:{userid}".encode()).hexdigest()[:16],
            "user_name": base64.b64encode(join["name"].encode()).decode(),
            "join_time": str(join["join"]),
            "left_time": "" if join["left"] is None else str(join["left"]),
            "instanceid": 1,
            "user_role": 1 if userid == meeting["creator"] else 0,
            "is_enterprise_user": userid in self.users,
        }


__all__ = ["MeetingsMixin"]

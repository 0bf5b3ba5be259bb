"""Raw Tencent Meeting payloads, holding only the fields the connector reads.

Field names are the API's own (reference §4.3, ``wemeet_openapi.service.meetings.model``):
times are unix seconds *as strings*, ``user_name`` of a participant is base64, and paged
answers carry ``has_remaining``/``next_pos`` (meetings list: ``remaining``/``next_pos``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TencentMeetingUserRef(_Raw):
    """``{userid}`` as in ``hosts``, ``participants`` and ``invitees`` of a meeting."""

    userid: str = ""
    nick_name: str = ""


class TencentMeetingInfo(_Raw):
    """One entry of ``meeting_info_list`` (create, get, list)."""

    meeting_id: str
    meeting_code: str = ""
    subject: str = ""
    start_time: str = ""
    end_time: str = ""
    status: str = ""  # MEETING_STATE_INIT, _STARTED, _ENDED, _CANCELLED ...
    hosts: list[TencentMeetingUserRef] = Field(default_factory=list)


class TencentMeetingParticipant(_Raw):
    """One join of one participant (``participants`` of ``/participants``)."""

    userid: str = ""
    open_id: str = ""
    ms_open_id: str = ""
    user_name: str = ""  # base64
    join_time: str = ""
    left_time: str = ""
    user_role: int = 0


__all__ = ["TencentMeetingInfo", "TencentMeetingParticipant", "TencentMeetingUserRef"]

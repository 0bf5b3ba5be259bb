"""Tencent Meeting (腾讯会议): training sessions, their invitees and their attendance.

``TencentMeetingConnector`` talks to the real service (``api.meeting.qq.com``), signing
every request with the enterprise app's AK/SK; ``TencentMeetingSandbox`` is its faithful
in-memory fake, which the tests and the demo run against.
"""

from connectors.tencent_meeting.client import BASE_URL, ERRCODES, TencentMeetingAuth, TencentMeetingClient
from connectors.tencent_meeting.connector import TencentMeetingConnector
from connectors.tencent_meeting.sandbox import TencentMeetingSandbox

__all__ = [
    "BASE_URL",
    "ERRCODES",
    "TencentMeetingAuth",
    "TencentMeetingClient",
    "TencentMeetingConnector",
    "TencentMeetingSandbox",
]

import base64
from datetime import UTC, datetime

import httpx
import pytest

from connectors import MEETING_SERVICES, meeting_connector_class, meeting_sandbox_class
from connectors._errors import AuthError, CapacityExceeded, NotFound, PermissionDenied
from connectors._http import NO_RETRY_WAIT
from connectors.tencent_meeting import TencentMeetingConnector, TencentMeetingSandbox
from connectors.tencent_meeting.connector import decode_name
from mappings.models import MeetingSpec

NOW = 1_772_000_000


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sandbox(clock):
    sb = TencentMeetingSandbox(clock=clock)
    for userid, name in [("alice", "Alice"), ("bob", "鲍勃"), ("carol", "Carol")]:
        sb.add_user(userid, name)
    return sb


@pytest.fixture
def conn(sandbox, clock):
    return TencentMeetingConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, sleep=clock.sleep)


def at(seconds):
    return datetime.fromtimestamp(seconds, UTC)


def test_registry_names_the_meeting_service():
    assert "tencent_meeting" in MEETING_SERVICES
    assert meeting_connector_class("tencent_meeting") is TencentMeetingConnector
    assert meeting_sandbox_class("tencent_meeting") is TencentMeetingSandbox
    with pytest.raises(KeyError):
        meeting_sandbox_class("zoom")


def test_check_passes_with_the_sandbox_credentials(conn):
    conn.check()


def test_check_fails_fast_with_a_wrong_key(sandbox):
    bad = TencentMeetingConnector.from_sandbox(sandbox, secret_key="wrong", retry=NO_RETRY_WAIT)
    with pytest.raises(AuthError) as info:
        bad.check()
    assert info.value.code == 200003 and "wrong" not in str(info.value)


def test_create_then_get_meeting(conn, sandbox):
    spec = MeetingSpec(subject="心理援助培训", start=at(NOW + 3600), end=at(NOW + 7200), host="alice",
                       invitees=("bob",))
    result = conn.create_meeting(spec)
    assert result.created_id in sandbox.meetings
    group = conn.get_group("meeting", result.created_id)
    assert (group.kind, group.name, group.owner) == ("meeting", "心理援助培训", "alice")
    assert conn.list_invitees(result.created_id) == ["bob"]


def test_create_with_more_than_300_invitees_sets_them_in_a_second_call(conn, sandbox):
    for i in range(350):
        sandbox.add_user(f"v{i}", f"V{i}")
    ids = tuple(f"v{i}" for i in range(350))
    result = conn.create_meeting(MeetingSpec(subject="big", start=at(NOW + 60), end=at(NOW + 120),
                                             host="admin", invitees=ids))
    assert result.calls == 2
    assert sandbox.meetings[result.created_id]["invitees"] == list(ids)


def test_unknown_meeting_is_not_found(conn):
    with pytest.raises(NotFound) as info:
        conn.get_group("meeting", "404404")
    assert info.value.code == 9003


def test_create_quota_9008_is_capacity_exceeded(conn, clock):
    spec = MeetingSpec(subject="s", start=at(NOW + 60), end=at(NOW + 120), host="alice")
    conn.client.limiter.overrides.clear()  # as if another client had used the quota
    for _ in range(9):
        conn.create_meeting(spec)
    with pytest.raises(CapacityExceeded) as info:
        conn.create_meeting(spec)
    assert info.value.code == 9008


def test_client_limiter_keeps_creates_under_nine_a_minute(conn, clock):
    spec = MeetingSpec(subject="s", start=at(NOW + 60), end=at(NOW + 120), host="alice")
    for _ in range(12):
        conn.create_meeting(spec)
    assert clock.now - NOW >= 60


def test_list_meetings(conn, sandbox):
    ids = {sandbox.add_meeting(f"m{i}", NOW + 60, NOW + 3600, "admin") for i in range(25)}
    sandbox.add_meeting("other's", NOW + 60, NOW + 3600, "alice")
    assert {g.external_id for g in conn.list_meetings()} == ids


# --- invitees ---------------------------------------------------------------------------


def test_set_invitees_sends_the_whole_list(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 3600, "admin", invitees=("alice",))
    result = conn.set_invitees(mid, ["alice", "bob"])
    assert result.rejected == () and sandbox.meetings[mid]["invitees"] == ["alice", "bob"]
    conn.set_invitees(mid, ["carol"])
    assert sandbox.meetings[mid]["invitees"] == ["carol"]


def test_set_invitees_same_list_sends_no_write(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 3600, "admin", invitees=("alice", "bob"))
    before = sandbox.write_calls
    result = conn.set_invitees(mid, ["bob", "alice", "bob"])
    assert result.calls == 0 and sandbox.write_calls == before


def test_set_invitees_empty_clears(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 3600, "admin", invitees=("alice",))
    conn.set_invitees(mid, [])
    assert sandbox.meetings[mid]["invitees"] == [] and conn.list_invitees(mid) == []


def test_set_invitees_reports_unregistered_ids(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 3600, "admin")
    assert conn.set_invitees(mid, ["alice", "ghost"]).rejected == ("ghost",)


def test_set_invitees_over_2000_is_refused_before_sending(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 3600, "admin")
    with pytest.raises(CapacityExceeded):
        conn.set_invitees(mid, [f"u{i}" for i in range(2001)])
    assert sandbox.write_calls == 0


def test_invitees_of_someone_elses_meeting_are_refused(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 3600, "alice")
    with pytest.raises(PermissionDenied) as info:
        conn.list_invitees(mid)
    assert info.value.code == 9042


def test_invitee_list_pages(conn, sandbox):
    ids = [f"v{i}" for i in range(230)]
    for u in ids:
        sandbox.add_user(u, u)
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 3600, "admin", invitees=tuple(ids))
    assert conn.list_invitees(mid) == ids
    assert conn.client.calls[f"/v1/meetings/{mid}/invitees"] == 3


# --- participants -----------------------------------------------------------------------


def test_participants_page_250_rows_across_three_pages(conn, sandbox, clock):
    mid = sandbox.add_meeting("t", NOW - 3600, NOW, "admin")
    for i in range(250):
        sandbox.record_join(mid, f"p{i:03}", NOW - 3600 + i, NOW - 60)
    rows = list(conn.list_participants(mid))
    assert len(rows) == 250 and len({r.external_id for r in rows}) == 250
    assert conn.client.calls[f"/v1/meetings/{mid}/participants"] == 3


def test_participant_names_are_base64_decoded_and_times_are_utc(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW - 3600, NOW, "admin")
    sandbox.record_join(mid, "bob", NOW - 3000, NOW - 100)
    (row,) = conn.list_participants(mid)
    assert row.name == "鲍勃"
    assert row.joined_at == at(NOW - 3000) and row.joined_at.tzinfo is UTC
    assert row.left_at == at(NOW - 100)


def test_rejoins_are_separate_rows(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW - 3600, NOW + 3600, "admin")
    sandbox.record_join(mid, "bob", NOW - 3000, NOW - 2000)
    sandbox.record_join(mid, "bob", NOW - 1000)
    rows = list(conn.list_participants(mid))
    assert [(r.external_id, r.left_at) for r in rows] == [("bob", at(NOW - 2000)), ("bob", None)]


def test_participants_empty_before_the_meeting_starts(conn, sandbox):
    mid = sandbox.add_meeting("t", NOW + 600, NOW + 3600, "alice")
    assert list(conn.list_participants(mid)) == []


def test_decode_name_keeps_non_base64():
    assert decode_name(base64.b64encode("张三".encode()).decode()) == "张三"
    assert decode_name("not base64!") == "not base64!"


def test_sandbox_faults_are_retried(sandbox, clock):
    from connectors._sandbox import FaultPlan

    sandbox.faults = FaultPlan(schedule={1: "5xx", 2: "drop"})
    conn = TencentMeetingConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, sleep=clock.sleep)
    conn.check()
    assert sandbox.requests == 3


def test_transport_is_injected_not_patched(sandbox):
    conn = TencentMeetingConnector.from_sandbox(sandbox)
    assert isinstance(conn.client.http._transport, httpx.MockTransport)

"""The measure of the sandbox: the official wemeet-openapi-sdk-python works against it unchanged.

The SDK's own ``xhttp.Client`` takes a host and protocol, so it is pointed at the sandbox
served on loopback; no SDK code is touched. Its ``JWTAuthenticator`` caches nonce,
timestamp and signature on the instance, so — as in the SDK's examples — each call gets a
new authenticator.
"""

import time

import pytest

pytest.importorskip("wemeet_openapi")
requests = pytest.importorskip("requests")

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from wemeet_openapi import Client  # noqa: E402
from wemeet_openapi.core import xhttp  # noqa: E402
from wemeet_openapi.core.authenticator import JWTAuthenticator  # noqa: E402
from wemeet_openapi.core.config import Config  # noqa: E402
from wemeet_openapi.core.constants import DEFAULT_SERIALIZER  # noqa: E402
from wemeet_openapi.core.exception import ServiceException  # noqa: E402
from wemeet_openapi.service.meetings import (  # noqa: E402
    ApiV1MeetingsMeetingIdInviteesGetRequest,
    ApiV1MeetingsMeetingIdInviteesPutRequest,
    ApiV1MeetingsMeetingIdParticipantsGetRequest,
    ApiV1MeetingsPostRequest,
    V1MeetingsMeetingIdInviteesPutRequest,
    V1MeetingsPostRequest,
)

from connectors._serve import serve  # noqa: E402
from connectors.tencent_meeting import TencentMeetingAuth, TencentMeetingSandbox  # noqa: E402


@pytest.fixture(scope="module")
def loopback():
    current = {}
    server = serve(lambda request: current["sandbox"](request), port=0)
    try:
        yield current, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(loopback):
    current, port = loopback
    sandbox = TencentMeetingSandbox(seed=7)
    sandbox.add_user("alice", "Alice")
    sandbox.add_user("bob", "鲍勃")
    current["sandbox"] = sandbox
    return sandbox, port


def sdk(served, **over):
    sandbox, port = served
    creds = {**sandbox.credentials, **over}
    clt = xhttp.Client(host=f"127.0.0.1:{port}", protocol="http", session=requests.Session(),
                       serializer=DEFAULT_SERIALIZER)
    return Client(app_id=creds["app_id"], sdk_id=creds["sdk_id"], secret_id=creds["secret_id"],
                  secret_key=creds["secret_key"], clt=clt)


def jwt():
    return [JWTAuthenticator().options_build()]


def test_sdk_creates_a_meeting_sets_invitees_and_reads_attendance(served):
    sandbox, _ = served
    client = sdk(served)
    now = int(time.time())
    body = V1MeetingsPostRequest(userid="admin", instanceid=1, subject="培训", type=0,
                                 start_time=str(now - 60), end_time=str(now + 3600), invitees=[{"userid": "alice"}])
    created = client.meetings_api.v1_meetings_post(ApiV1MeetingsPostRequest(body=body), authenticator_options=jwt())
    meeting_id = created.data.meeting_info_list[0].meeting_id
    assert sandbox.meetings[meeting_id]["invitees"] == ["alice"]

    put = V1MeetingsMeetingIdInviteesPutRequest(instanceid=1, userid="admin",
                                                invitees=[{"userid": "bob"}, {"userid": "ghost"}])
    answer = client.meetings_api.v1_meetings_meeting_id_invitees_put(
        ApiV1MeetingsMeetingIdInviteesPutRequest(meeting_id=meeting_id, body=put), authenticator_options=jwt())
    assert answer.data.user_non_registered == ["ghost"]
    got = client.meetings_api.v1_meetings_meeting_id_invitees_get(
        ApiV1MeetingsMeetingIdInviteesGetRequest(meeting_id=meeting_id, userid="admin", instanceid="1", pos="0"),
        authenticator_options=jwt())
    assert [i.userid for i in got.data.invitees] == ["bob"]

    sandbox.record_join(meeting_id, "bob", now - 30, now - 10)
    sandbox.record_join(meeting_id, "bob", now - 5)
    rows = client.meetings_api.v1_meetings_meeting_id_participants_get(
        ApiV1MeetingsMeetingIdParticipantsGetRequest(meeting_id=meeting_id, userid="admin", pos="0", size="100"),
        authenticator_options=jwt())
    assert rows.data.total_count == 2 and len(rows.data.participants) == 2


def test_sdk_with_a_wrong_key_gets_the_signature_error(served):
    client = sdk(served, secret_key="not-the-key")
    with pytest.raises(ServiceException) as info:
        client.meetings_api.v1_meetings_meeting_id_invitees_get(
            ApiV1MeetingsMeetingIdInviteesGetRequest(meeting_id="1", userid="admin", instanceid="1", pos="0"),
            authenticator_options=jwt())
    assert info.value.api_resp.status_code == 400
    assert b"200003" in info.value.api_resp.raw_body


def test_our_signature_equals_the_sdks():
    config = Config(app_id="200000001", sdk_id="18000000001", secret_id="AKIDexample", secret_key="k" * 32)
    authenticator = JWTAuthenticator(nonce=42, timestamp="1700000000")
    authenticator.options_build()(config)
    body = b'{"userid":"admin","instanceid":1,"invitees":[{"userid":"bob"}]}'
    prepared = requests.Request("PUT", "https://api.meeting.qq.com/v1/meetings/9/invitees?a=1&b=x%20y",
                                data=body).prepare()
    authenticator.auth_header(prepared)

    ours = httpx.Request("PUT", "https://api.meeting.qq.com/v1/meetings/9/invitees?a=1&b=x%20y", content=body)
    TencentMeetingAuth(app_id="200000001", sdk_id="18000000001", secret_id="AKIDexample",
                       secret_key=SecretStr("k" * 32), clock=lambda: 1_700_000_000, nonce=lambda: 42).sign(ours)
    assert ours.headers["X-TC-Signature"] == prepared.headers["X-TC-Signature"]

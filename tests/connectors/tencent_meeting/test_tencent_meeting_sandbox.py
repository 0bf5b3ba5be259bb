import json

import httpx
import pytest
from pydantic import SecretStr

from connectors.tencent_meeting import TencentMeetingAuth, TencentMeetingSandbox

NOW = 1_772_000_000
URL = "http://tencent-meeting.sandbox"


class Clock:
    now = NOW

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sandbox(clock):
    sb = TencentMeetingSandbox(clock=clock)
    sb.add_user("alice", "Alice")
    return sb


def auth(sandbox, clock, **over):
    creds = {**sandbox.credentials, **over}
    return TencentMeetingAuth(app_id=creds["app_id"], sdk_id=creds["sdk_id"], secret_id=creds["secret_id"],
                              secret_key=SecretStr(creds["secret_key"]), clock=clock)


def call(sandbox, clock, method, path, body=None, **over):
    content = json.dumps(body).encode() if body is not None else b""
    request = httpx.Request(method, URL + path, content=content)
    auth(sandbox, clock, **over).sign(request)
    return request


def send(sandbox, request):
    response = sandbox(request)
    return response.status_code, response.json()


def code(response_pair):
    return response_pair[1].get("error_info", {}).get("error_code")


def test_a_correctly_signed_request_passes(sandbox, clock):
    assert send(sandbox, call(sandbox, clock, "GET", "/v1/users/alice")) == (
        200, {"userid": "alice", "username": "Alice", "status": "1"})


def test_tampered_body_is_refused(sandbox, clock):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 120, "admin")
    request = call(sandbox, clock, "PUT", f"/v1/meetings/{mid}/invitees",
                   {"userid": "admin", "instanceid": 1, "invitees": [{"userid": "alice"}]})
    tampered = httpx.Request("PUT", request.url, headers=request.headers,
                             content=request.content.replace(b"alice", b"mallory"))
    status, body = send(sandbox, tampered)
    assert status == 400 and body["error_info"]["error_code"] == 200003
    assert sandbox.meetings[mid]["invitees"] == [] and sandbox.write_calls == 0


def test_tampered_query_is_refused(sandbox, clock):
    request = call(sandbox, clock, "GET", "/v1/meetings?userid=admin&instanceid=1&pos=0")
    tampered = httpx.Request("GET", URL + "/v1/meetings?userid=alice&instanceid=1&pos=0", headers=request.headers)
    assert code(send(sandbox, tampered)) == 200003


def test_wrong_key_is_refused(sandbox, clock):
    assert code(send(sandbox, call(sandbox, clock, "GET", "/v1/users/alice", secret_key="x" * 32))) == 200003


def test_wrong_secret_id_or_app_id_is_refused(sandbox, clock):
    assert code(send(sandbox, call(sandbox, clock, "GET", "/v1/users/alice", secret_id="other"))) == 200003
    assert code(send(sandbox, call(sandbox, clock, "GET", "/v1/users/alice", app_id="1"))) == 200003


def test_raw_digest_base64_is_refused(sandbox, clock):
    """The frequent mistake: base64 of the raw HMAC bytes instead of the hex string."""
    import base64
    import hashlib
    import hmac

    request = call(sandbox, clock, "GET", "/v1/users/alice")
    h = request.headers
    text = f"GET\nX-TC-Key={h['X-TC-Key']}&X-TC-Nonce={h['X-TC-Nonce']}&X-TC-Timestamp={h['X-TC-Timestamp']}\n" \
           "/v1/users/alice\n"
    raw = hmac.new(sandbox.credentials["secret_key"].encode(), text.encode(), hashlib.sha256).digest()
    request.headers["X-TC-Signature"] = base64.b64encode(raw).decode()
    assert code(send(sandbox, request)) == 200003


def test_stale_timestamp_is_refused(sandbox, clock):
    request = call(sandbox, clock, "GET", "/v1/users/alice")
    clock.now += 301
    status, body = send(sandbox, request)
    assert body["error_info"]["error_code"] == 200003 and "expired" in body["error_info"]["message"]
    clock.now = NOW + 299
    assert send(sandbox, call(sandbox, lambda: NOW, "GET", "/v1/users/alice"))[0] == 200


def test_missing_headers_are_refused(sandbox):
    assert code(send(sandbox, httpx.Request("GET", URL + "/v1/users/alice"))) == 200003


def test_error_envelope_shape(sandbox, clock):
    status, body = send(sandbox, call(sandbox, clock, "GET", "/v1/users/nobody"))
    assert status == 400
    assert set(body["error_info"]) == {"error_code", "new_error_code", "message"}
    assert body["error_info"]["error_code"] == 20001


def test_create_user_twice_is_20002(sandbox, clock):
    body = {"userid": "dave", "username": "Dave", "phone": "13800000000"}
    assert send(sandbox, call(sandbox, clock, "POST", "/v1/users", body))[0] == 200
    assert code(send(sandbox, call(sandbox, clock, "POST", "/v1/users", body))) == 20002


def test_query_throttle_is_9061(sandbox, clock):
    answers = [code(send(sandbox, call(sandbox, clock, "GET", "/v1/users/alice"))) for _ in range(21)]
    assert answers[:20] == [None] * 20 and answers[20] == 9061


def test_creation_quota_per_minute_and_day(sandbox, clock):
    def create():
        body = {"userid": "alice", "instanceid": 1, "subject": "s", "type": 0,
                "start_time": str(NOW + 60), "end_time": str(NOW + 120)}
        return code(send(sandbox, call(sandbox, clock, "POST", "/v1/meetings", body)))

    assert [create() for _ in range(10)] == [None] * 9 + [9008]
    created = 9
    while created < 100:
        clock.now += 61
        created += sum(create() is None for _ in range(9))
    clock.now += 61
    assert create() == 9008


def test_create_takes_at_most_300_invitees(sandbox, clock):
    body = {"userid": "admin", "instanceid": 1, "subject": "s", "type": 0, "start_time": str(NOW),
            "end_time": str(NOW + 60), "invitees": [{"userid": f"u{i}"} for i in range(301)]}
    assert code(send(sandbox, call(sandbox, clock, "POST", "/v1/meetings", body))) == 10001


def test_put_invitees_overwrites_and_caps_at_2000(sandbox, clock):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 120, "admin", invitees=("alice",))
    put = {"userid": "admin", "instanceid": 1, "invitees": [{"userid": f"u{i}"} for i in range(2001)]}
    assert code(send(sandbox, call(sandbox, clock, "PUT", f"/v1/meetings/{mid}/invitees", put))) == 10001
    assert sandbox.meetings[mid]["invitees"] == ["alice"]
    empty = {"userid": "admin", "instanceid": 1, "invitees": []}
    assert send(sandbox, call(sandbox, clock, "PUT", f"/v1/meetings/{mid}/invitees", empty))[0] == 200
    assert sandbox.meetings[mid]["invitees"] == []


def test_put_invitees_by_non_creator_is_9102(sandbox, clock):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 120, "admin")
    put = {"userid": "alice", "instanceid": 1, "invitees": []}
    assert code(send(sandbox, call(sandbox, clock, "PUT", f"/v1/meetings/{mid}/invitees", put))) == 9102


def test_participants_size_over_100_is_refused(sandbox, clock):
    mid = sandbox.add_meeting("t", NOW - 60, NOW + 120, "admin")
    path = f"/v1/meetings/{mid}/participants?userid=admin&pos=0&size=101"
    assert code(send(sandbox, call(sandbox, clock, "GET", path))) == 10001


def test_participants_need_creator_or_admin(sandbox, clock):
    sandbox.add_user("bob", "Bob")
    mid = sandbox.add_meeting("t", NOW - 60, NOW + 120, "alice")
    for who, expected in [("alice", None), ("admin", None), ("bob", 9042)]:
        path = f"/v1/meetings/{mid}/participants?userid={who}&pos=0&size=10"
        assert code(send(sandbox, call(sandbox, clock, "GET", path))) == expected


def test_cancel_then_not_found(sandbox, clock):
    mid = sandbox.add_meeting("t", NOW + 60, NOW + 120, "admin")
    cancel = {"userid": "admin", "instanceid": 1, "reason_code": 1}
    assert send(sandbox, call(sandbox, clock, "POST", f"/v1/meetings/{mid}/cancel", cancel))[0] == 200
    path = f"/v1/meetings/{mid}/invitees?userid=admin&instanceid=1&pos=0"
    assert code(send(sandbox, call(sandbox, clock, "GET", path))) == 9003


def test_unknown_path_is_404(sandbox, clock):
    assert send(sandbox, call(sandbox, clock, "GET", "/v1/nothing"))[0] == 404


def test_state_round_trips(sandbox):
    mid = sandbox.add_meeting("t", NOW, NOW + 60, "admin")
    sandbox.record_join(mid, "alice", NOW, NOW + 30)
    other = TencentMeetingSandbox()
    other.import_state(sandbox.export_state())
    assert other.meetings[mid]["joins"] == sandbox.meetings[mid]["joins"]
    assert set(sandbox.credentials) == {"app_id", "sdk_id", "secret_id", "secret_key", "operator_id"}

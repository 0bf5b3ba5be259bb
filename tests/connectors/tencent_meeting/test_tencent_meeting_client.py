import base64
import hashlib
import hmac
import json

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors._errors import (
    AlreadyExists,
    AuthError,
    CapacityExceeded,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransientError,
)
from connectors._http import RetryPolicy
from connectors.tencent_meeting.client import TencentMeetingAuth
from connectors.tencent_meeting.connector import TencentMeetingConnector
from mappings.models import MeetingSpec

BASE = "https://api.meeting.qq.com"
SECRET_KEY = "sk-never-logged-0123456789abcdef"
NOW = 1_700_000_000
NONCE = 1_700_000_000_000_123_456


def hand_signature(key, method, secret_id, nonce, ts, uri, body):
    """The SDK's JWTAuthenticator.__signature__, spelled out independently."""
    text = "{0}\nX-TC-Key={1}&X-TC-Nonce={2}&X-TC-Timestamp={3}\n{4}\n{5}".format(  # noqa: UP030, UP032
        method, secret_id, nonce, ts, uri, body
    )
    hex_digest = hmac.new(key.encode("utf-8"), text.encode("utf-8"), "sha256").hexdigest()
    return base64.b64encode(hex_digest.encode("utf-8")).decode("utf-8")


def auth():
    return TencentMeetingAuth(
        app_id="200000001", sdk_id="18000000001", secret_id="AKIDexample", secret_key=SecretStr(SECRET_KEY),
        clock=lambda: NOW + 0.9, nonce=lambda: NONCE,
    )


def signed(request):
    flow = auth().auth_flow(request)
    return next(flow)


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def connector(router, attempts=3, sleeps=None):
    policy = RetryPolicy(attempts=attempts, backoff=0.0, jitter=0.0, sleep=sleeps if sleeps is not None else Sleeps())
    return TencentMeetingConnector(
        app_id="200000001", sdk_id="18000000001", secret_id="AKIDexample", secret_key=SecretStr(SECRET_KEY),
        operator_id="admin", transport=httpx.MockTransport(router.handler), retry=policy, rate_limit=False,
        clock=lambda: NOW,
    )


@pytest.fixture
def router():
    return respx.MockRouter(assert_all_called=True, using=None)


def err(code, status=400, message="refused"):
    return httpx.Response(status, json={"error_info": {"error_code": code, "new_error_code": code, "message": message}})


# --- signature ------------------------------------------------------------------------


def test_signature_of_a_get_covers_path_and_query_and_an_empty_body():
    request = signed(httpx.Request("GET", f"{BASE}/v1/meetings/123/participants?userid=admin&pos=0&size=100"))
    expected = hand_signature(
        SECRET_KEY, "GET", "AKIDexample", NONCE, NOW, "/v1/meetings/123/participants?userid=admin&pos=0&size=100", ""
    )
    assert request.headers["X-TC-Signature"] == expected
    # base64 of the 64-char hex digest, not of the 32 raw bytes
    assert len(base64.b64decode(expected)) == 64


def test_signature_literal_vector():
    request = signed(httpx.Request("GET", f"{BASE}/v1/users/admin"))
    text = f"GET\nX-TC-Key=AKIDexample&X-TC-Nonce={NONCE}&X-TC-Timestamp={NOW}\n/v1/users/admin\n"
    digest = hashlib.sha256  # HMAC-SHA256, hex, then base64
    assert request.headers["X-TC-Signature"] == base64.b64encode(
        hmac.new(SECRET_KEY.encode(), text.encode(), digest).hexdigest().encode()
    ).decode()


def test_signature_of_a_put_covers_the_raw_body_bytes():
    body = json.dumps({"userid": "admin", "instanceid": 1, "invitees": [{"userid": "张三"}]}, ensure_ascii=False)
    request = signed(httpx.Request("PUT", f"{BASE}/v1/meetings/9/invitees", content=body.encode()))
    assert request.headers["X-TC-Signature"] == hand_signature(
        SECRET_KEY, "PUT", "AKIDexample", NONCE, NOW, "/v1/meetings/9/invitees", body
    )


def test_signed_headers_follow_the_sdk():
    request = signed(httpx.Request("GET", f"{BASE}/v1/users/admin"))
    h = request.headers
    assert (h["X-TC-Key"], h["AppId"], h["SdkId"]) == ("AKIDexample", "200000001", "18000000001")
    assert (h["X-TC-Timestamp"], h["X-TC-Nonce"], h["X-TC-Registered"]) == (str(NOW), str(NONCE), "1")
    assert h["Content-Type"] == "application/json; charset=utf-8"
    assert SECRET_KEY not in repr(auth()) and SECRET_KEY not in str(dict(h))


# --- request shape ----------------------------------------------------------------------


def test_create_meeting_request_shape(router):
    route = router.post(f"{BASE}/v1/meetings").mock(return_value=httpx.Response(200, json={
        "meeting_number": 1, "meeting_info_list": [{"meeting_id": "m1", "subject": "Intro"}],
    }))
    from datetime import UTC, datetime

    spec = MeetingSpec(subject="Intro", start=datetime(2026, 3, 1, 8, tzinfo=UTC),
                       end=datetime(2026, 3, 1, 9, tzinfo=UTC), host="alice", invitees=("bob", "carol", "bob"))
    result = connector(router).create_meeting(spec)
    assert result.created_id == "m1"
    sent = route.calls.last.request
    assert json.loads(sent.content) == {
        "userid": "alice", "instanceid": 1, "subject": "Intro", "type": 0,
        "start_time": "1772352000", "end_time": "1772355600",
        "invitees": [{"userid": "bob"}, {"userid": "carol"}],
    }
    assert sent.headers["X-TC-Signature"] == hand_signature(
        SECRET_KEY, "POST", "AKIDexample", sent.headers["X-TC-Nonce"], NOW, "/v1/meetings", sent.content.decode()
    )


def test_participants_request_shape(router):
    route = router.get(f"{BASE}/v1/meetings/m1/participants").mock(
        return_value=httpx.Response(200, json={"participants": [], "has_remaining": False, "next_pos": 0})
    )
    assert list(connector(router).list_participants("m1")) == []
    params = dict(route.calls.last.request.url.params)
    assert params == {"userid": "admin", "size": "100", "pos": "0"}


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        (200003, 400, AuthError),
        (9003, 400, NotFound),
        (9042, 400, PermissionDenied),
        (9102, 400, PermissionDenied),
        (20001, 400, NotFound),
        (20002, 400, AlreadyExists),
        (9008, 400, CapacityExceeded),
        (10001, 400, InvalidPayload),
    ],
)
def test_errors_map_by_error_code_and_are_not_retried(router, code, status, cls):
    route = router.get(f"{BASE}/v1/meetings/m1").mock(return_value=err(code, status))
    with pytest.raises(cls) as info:
        connector(router).get_group("meeting", "m1")
    assert info.value.code == code
    assert route.call_count == 1
    assert SECRET_KEY not in str(info.value)


def test_throttle_9061_is_retried_after_a_second(router):
    route = router.get(f"{BASE}/v1/meetings/m1").mock(side_effect=[
        err(9061), httpx.Response(200, json={"meeting_info_list": [{"meeting_id": "m1", "subject": "S"}]}),
    ])
    sleeps = Sleeps()
    group = connector(router, sleeps=sleeps).get_group("meeting", "m1")
    assert group.name == "S" and route.call_count == 2 and sleeps == [1.0]


def test_throttle_gives_up_after_the_attempts(router):
    route = router.get(f"{BASE}/v1/meetings/m1").mock(return_value=err(9061))
    with pytest.raises(RateLimited):
        connector(router, attempts=3).get_group("meeting", "m1")
    assert route.call_count == 3


def test_service_error_500_is_retried(router):
    route = router.get(f"{BASE}/v1/meetings/m1").mock(return_value=err(123456, status=500))
    with pytest.raises(TransientError):
        connector(router, attempts=3).get_group("meeting", "m1")
    assert route.call_count == 3


def test_create_is_not_retried_after_a_5xx(router):
    route = router.post(f"{BASE}/v1/meetings").mock(return_value=err(500, status=500))
    from datetime import UTC, datetime

    spec = MeetingSpec(subject="S", start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 2, tzinfo=UTC),
                       host="admin")
    with pytest.raises(TransientError):
        connector(router).create_meeting(spec)
    assert route.call_count == 1


def test_each_retry_is_signed_afresh(router):
    route = router.get(f"{BASE}/v1/users/admin").mock(side_effect=[err(1, status=500), httpx.Response(200, json={})])
    nonces = iter([11, 22])
    conn = connector(router)
    conn.client.http.auth.nonce = lambda: next(nonces)
    conn.check()
    assert [c.request.headers["X-TC-Nonce"] for c in route.calls] == ["11", "22"]

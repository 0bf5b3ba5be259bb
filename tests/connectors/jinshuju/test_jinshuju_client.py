"""The Jinshuju client against respx routes: request shape, paging, status mapping, quota waits."""

from __future__ import annotations

import base64

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors._errors import AuthError, InvalidPayload, NotFound, PermissionDenied, RateLimited, TransientError
from connectors._http import RetryPolicy
from connectors.jinshuju.client import BASE_URL, JinshujuClient
from connectors.jinshuju.connector import JinshujuConnector

FORM = "E2FBnj"
ENTRIES = f"{BASE_URL}/api/v1/forms/{FORM}/entries"
NOW = 1_700_000_000.0
BASIC = "Basic " + base64.b64encode(b"key-1:s3cr3t").decode()


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_called=True, using=None)


class Clock:
    def __init__(self):
        self.now = NOW
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(router, clock, *, attempts=3, rate_limit=False, quota=20_000) -> JinshujuClient:
    retry = RetryPolicy(attempts=attempts, backoff=0.0, jitter=0.0, sleep=clock.sleep)
    return JinshujuClient(api_key="key-1", api_secret=SecretStr("s3cr3t"), transport=httpx.MockTransport(router.handler),
                          retry=retry, rate_limit=rate_limit, clock=clock, sleep=clock.sleep, hourly_quota=quota)


def row(serial: int, **fields) -> dict:
    return {"serial_number": serial, "field_1": f"张{serial}", "creator_name": "", "info_filling_duration": 28,
            "created_at": "2020-08-28T08:00:00.000Z", "updated_at": "2020-08-28T08:00:00.000Z", **fields}


def page(serials, total, nxt) -> httpx.Response:
    return httpx.Response(200, json={"total": total, "count": len(serials), "data": [row(s) for s in serials],
                                     "next": nxt})


# --- request shape -----------------------------------------------------------------------


def test_requests_carry_basic_auth_and_json_headers(router, clock):
    route = router.get(f"{BASE_URL}/api/v1/me").respond(json={"id": "u1", "name": "张三", "role": "owner"})
    assert make(router, clock).get_me()["id"] == "u1"
    request = route.calls.last.request
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Accept"] == "application/json"
    assert "s3cr3t" not in str(request.url)


def test_listing_sends_next_back_as_a_query_parameter(router, clock):
    last = httpx.Response(200, json={"total": 60, "count": 10, "data": [row(s) for s in range(51, 61)]})
    route = router.get(ENTRIES).mock(side_effect=[page(range(1, 51), 60, 51), last])
    pages = list(make(router, clock).list_entry_pages(FORM))
    assert [len(p.data) for p in pages] == [50, 10]
    assert [p.next for p in pages] == ["51", None]  # a numeric next is a cursor all the same
    assert [dict(c.request.url.params) for c in route.calls] == [{}, {"next": "51"}]


def test_listing_from_a_saved_cursor_starts_there(router, clock):
    route = router.get(ENTRIES, params={"next": "101"}).mock(return_value=page([101, 102], 102, None))
    assert [p.count for p in make(router, clock).list_entry_pages(FORM, start="101")] == [2]
    assert route.call_count == 1


def test_three_pages_take_exactly_three_calls_and_yield_resume_cursors(router, clock):
    route = router.get(ENTRIES).mock(side_effect=[page(range(1, 51), 120, 51), page(range(51, 101), 120, "101"),
                                                  page(range(101, 121), 120, None)])
    conn = JinshujuConnector(api_key="key-1", api_secret="s3cr3t", transport=httpx.MockTransport(router.handler),
                             rate_limit=False, retry=RetryPolicy(attempts=1, sleep=clock.sleep), clock=clock)
    pages = [(len(entries), cursor) for entries, cursor in conn.list_entries(FORM)]
    assert pages == [(50, "51"), (50, "101"), (20, "121")]
    assert route.call_count == 3
    assert [c.request.url.params.get("next") for c in route.calls] == [None, "51", "101"]


def test_a_cursor_returned_twice_is_a_paging_loop(router, clock):
    router.get(ENTRIES).mock(side_effect=[page(range(1, 51), 150, 51), page(range(51, 101), 150, 51)])
    with pytest.raises(InvalidPayload, match="paging loop"):
        list(make(router, clock).list_entry_pages(FORM))


def test_an_unreadable_page_is_invalid_payload(router, clock):
    router.get(ENTRIES).respond(json={"total": "many", "data": "nope"})
    with pytest.raises(InvalidPayload, match="unreadable answer"):
        list(make(router, clock).list_entry_pages(FORM))


@pytest.mark.parametrize("form", ["", "../me", "a/b", "表单"])
def test_a_form_token_that_cannot_exist_is_not_found_without_a_call(router, clock, form):
    router.assert_all_called = False
    with pytest.raises(NotFound):
        make(router, clock).get_form(form)


@pytest.mark.parametrize("serial", ["..", "0", "-1", "1.5", True])
def test_a_serial_that_is_no_positive_integer_is_not_found_without_a_call(router, clock, serial):
    router.assert_all_called = False
    with pytest.raises(NotFound):
        make(router, clock).get_entry(FORM, serial)


# --- status mapping ----------------------------------------------------------------------


@pytest.mark.parametrize(("status", "cls"), [
    (400, InvalidPayload), (401, AuthError), (402, AuthError), (403, PermissionDenied), (404, NotFound),
])
def test_client_errors_map_to_one_class_each_and_are_not_retried(router, clock, status, cls):
    body = {"error": "x", "error_description": f"描述 {status}"}
    route = router.get(f"{BASE_URL}/api/v1/forms/{FORM}").respond(status, json=body)
    with pytest.raises(cls, match=f"描述 {status}") as info:
        make(router, clock).get_form(FORM)
    assert route.call_count == 1
    assert info.value.code == status and info.value.service == "jinshuju"
    assert clock.sleeps == []


def test_a_non_json_401_is_still_an_auth_error(router, clock):
    router.get(f"{BASE_URL}/api/v1/me").respond(401, text="HTTP Basic: Access denied.\n")
    with pytest.raises(AuthError):
        make(router, clock).get_me()


def test_server_errors_are_retried_then_raised(router, clock):
    route = router.get(f"{BASE_URL}/api/v1/me").respond(502, text="<html>bad gateway</html>")
    with pytest.raises(TransientError):
        make(router, clock, attempts=3).get_me()
    assert route.call_count == 3


def test_a_server_error_then_success_returns_the_answer(router, clock):
    route = router.get(f"{BASE_URL}/api/v1/me").mock(side_effect=[httpx.Response(500), httpx.Response(
        200, json={"id": "u1"})])
    assert make(router, clock).get_me() == {"id": "u1"}
    assert route.call_count == 2


def test_secrets_never_reach_error_messages(router, clock):
    router.get(f"{BASE_URL}/api/v1/me").respond(401, json={"error": "unauthorized"})
    with pytest.raises(AuthError) as info:
        make(router, clock).get_me()
    assert "s3cr3t" not in str(info.value) and BASIC.split()[1] not in str(info.value)


# --- the hourly quota --------------------------------------------------------------------


def over_quota(**extra) -> httpx.Response:
    body = {"error": "too_many_requests", "error_description": "超出限制", "plan": "企业基础版", "remaining": 0}
    return httpx.Response(429, json={**body, **extra.pop("body", {})}, headers=extra.pop("headers", {}))


@pytest.mark.parametrize(("answer", "wait"), [
    (over_quota(body={"reset_at": "2023-11-14T23:00:00.000Z"}), 2800.0),  # ISO-8601 UTC in the body
    (over_quota(body={"reset_at": NOW + 90}), 90.0),  # epoch seconds in the body
    (over_quota(body={"reset_time": "2023-11-15T07:00:00+08:00"}), 2800.0),  # another name, with an offset
    (over_quota(headers={"Retry-After": "30"}), 30.0),  # standard header wins
    (over_quota(headers={"X-RateLimit-Reset": str(int(NOW) + 45)}), 45.0),  # epoch reset header
])
def test_a_429_is_waited_out_until_the_reset_it_carries(router, clock, answer, wait):
    route = router.get(f"{BASE_URL}/api/v1/me").mock(side_effect=[answer, httpx.Response(200, json={"id": "u1"})])
    assert make(router, clock).get_me() == {"id": "u1"}
    assert route.call_count == 2
    assert clock.sleeps == [pytest.approx(wait)]


def test_a_429_without_reset_information_backs_off_and_gives_up(router, clock):
    route = router.get(f"{BASE_URL}/api/v1/me").mock(return_value=over_quota())
    with pytest.raises(RateLimited) as info:
        make(router, clock, attempts=2).get_me()
    assert info.value.retry_after is None and route.call_count == 2


def test_a_reset_already_past_retries_at_once(router, clock):
    route = router.get(f"{BASE_URL}/api/v1/me").mock(side_effect=[
        over_quota(body={"reset_at": "2023-11-14T22:00:00Z"}), httpx.Response(200, json={})])
    make(router, clock).get_me()
    assert clock.sleeps == [0.0] and route.call_count == 2


def test_the_client_spends_one_hourly_budget_across_all_apis(router, clock):
    router.get(f"{BASE_URL}/api/v1/me").respond(json={})
    router.get(f"{BASE_URL}/api/v1/forms/{FORM}").respond(json={"name": "f", "fields": []})
    client = make(router, clock, rate_limit=True, quota=3)
    client.get_me()
    client.get_form(FORM)
    client.get_me()
    assert sum(clock.sleeps) == pytest.approx(0.2)  # burst spacing only: 10 calls a second
    client.get_form(FORM)  # the fourth call in the hour waits for the first to age out
    assert clock.now == pytest.approx(NOW + 3600.0)

"""Provider behaviours ``scim2-server`` does not produce, through ``httpx.MockTransport``.

``Provider`` is a deliberately small SCIM endpoint whose quirks each test switches on:
PATCH answered 200 with the resource, a capped ``count``, an ignored ``startIndex``, a
``totalResults`` that overstates, scripted 429/5xx answers, lower-case attribute names.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from connectors._errors import (
    AlreadyExists,
    AuthError,
    Conflict,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransientError,
)
from connectors._http import RetryPolicy
from connectors.scim import ScimConnector
from connectors.scim.client import eq_filter, retry_after
from mappings.models import Group, GroupSpec, MembershipDelta

BASE = "https://scim.example.test/scim/v2"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_error(status: int, scim_type: str | None = None, detail: str = "refused",
               headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return httpx.Response(status, json=body, headers=headers)


@dataclass
class Provider:
    """A minimal SCIM provider: users, one group, paging and PATCH, plus switchable quirks."""

    users: list[dict[str, Any]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # member ids of group "g1"
    cap: int | None = None  # most resources a page holds, whatever count asks
    ignore_start: bool = False
    total: int | None | str = "real"  # "real", None (left out) or a number to claim
    patch_status: int = 204
    lower_case_keys: bool = False
    script: deque = field(default_factory=deque)  # (method, path) → response, answered first, once each
    requests: list[httpx.Request] = field(default_factory=list)

    def add_users(self, n: int) -> None:
        self.users += [{"id": f"id{i}", "userName": f"u{i}", "displayName": f"User {i}"} for i in range(n)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/scim/v2")
        for i, (method, at, response) in enumerate(self.script):
            if method == request.method and path == at:
                del self.script[i]
                return response
        if path == "/Users" and request.method == "GET":
            return self._page(request, self.users)
        if path.startswith("/Users/") and request.method == "PATCH":
            user = next(u for u in self.users if u["id"] == path.rsplit("/", 1)[1])
            for op in json.loads(request.content)["Operations"]:
                user[op["path"]] = op["value"]
            return self._patched(user)
        if path == "/Groups/g1" and request.method == "GET":
            return httpx.Response(200, json=self._group())
        if path == "/Groups/g1" and request.method == "PATCH":
            for op in json.loads(request.content)["Operations"]:
                if op["op"].lower() == "add":
                    self.members += [v["value"] for v in op["value"] if v["value"] not in self.members]
                else:
                    gone = op["path"].split('"')[1]
                    self.members = [m for m in self.members if m != gone]
            return self._patched(self._group())
        return scim_error(404, detail=f"{path} not found")

    def _group(self) -> dict[str, Any]:
        return {"id": "g1", "displayName": "crew", "members": [{"value": m} for m in self.members]}

    def _patched(self, resource: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, json=resource) if self.patch_status == 200 else httpx.Response(204)

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        start = 1 if self.ignore_start else int(request.url.params.get("startIndex", 1))
        count = int(request.url.params.get("count", 100))
        if self.cap:
            count = min(count, self.cap)
        page = items[start - 1:start - 1 + count]
        body: dict[str, Any] = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                                "startIndex": start, "itemsPerPage": len(page), "Resources": page}
        if self.total is not None:
            body["totalResults"] = len(items) if self.total == "real" else self.total
        if self.lower_case_keys:
            body = {k.lower(): v for k, v in body.items()}
            body["resources"] = [{k.lower(): v for k, v in r.items()} for r in page]
        return httpx.Response(200, json=body, headers={"Content-Type": "application/scim+json"})

    def of(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == "/scim/v2" + path]


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def connector(provider: Provider, slept: list[float]) -> ScimConnector:
    retry = RetryPolicy(attempts=3, backoff=0.5, jitter=0.0, sleep=slept.append)
    return ScimConnector(BASE, "secret-token", transport=httpx.MockTransport(provider), retry=retry,
                         rate_limit=False, page_size=100)


CREW = Group(service="scim", kind="tag", external_id="g1", name="crew")


# --- PATCH answers -------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204])
def test_patch_answered_with_the_resource_or_no_content(provider, connector, status):
    provider.patch_status = status
    provider.add_users(2)
    result = connector.apply_membership(CREW, MembershipDelta(add=frozenset({"u0", "u1"})))
    assert result.calls == 1 and provider.members == ["id0", "id1"]
    connector.disable_account("u1")
    assert provider.users[1]["active"] is False
    (patch, _) = provider.of("PATCH", "/Groups/g1") + provider.of("PATCH", "/Users/id1")
    assert patch.headers["content-type"] == "application/scim+json"
    assert patch.headers["authorization"] == "Bearer secret-token"


def test_a_remove_answered_no_target_is_read_again(provider, connector):
    provider.add_users(2)
    provider.members = ["id0", "id1"]
    list(connector.list_people())
    # the member left between our read and our PATCH: this provider says 400 noTarget, not a no-op
    provider.script.append(("PATCH", "/Groups/g1", scim_error(400, "noTarget", "no member matched")))
    for members in (["id0", "id1"], ["id0"]):  # our first read, then the read after the refusal
        provider.script.append(("GET", "/Groups/g1", httpx.Response(200, json={
            "id": "g1", "displayName": "crew", "members": [{"value": m} for m in members]})))
    result = connector.apply_membership(CREW, MembershipDelta(remove=frozenset({"u1"})))
    assert result.calls == 1
    assert len(provider.of("PATCH", "/Groups/g1")) == 1  # the second read showed nothing left to do
    assert len(provider.of("GET", "/Groups/g1")) == 2


# --- paging --------------------------------------------------------------------------


def test_a_provider_capping_count_is_read_fully(provider, connector):
    provider.add_users(5)
    provider.cap = 2
    people = list(connector.list_people())
    assert [a.external_id for a in people] == ["u0", "u1", "u2", "u3", "u4"]
    assert [r.url.params["startIndex"] for r in provider.of("GET", "/Users")] == ["1", "3", "5"]
    assert {r.url.params["count"] for r in provider.of("GET", "/Users")} == {"100"}


def test_a_provider_ignoring_start_index_is_an_error_not_a_loop(provider, connector):
    provider.add_users(6)
    provider.cap, provider.ignore_start = 2, True
    with pytest.raises(InvalidPayload, match="ignores startIndex"):
        list(connector.list_people())
    assert len(provider.of("GET", "/Users")) == 2


def test_an_overstated_total_ends_on_the_short_page(provider):
    provider.add_users(4)
    provider.total = 50
    conn = ScimConnector(BASE, "t", transport=httpx.MockTransport(provider), rate_limit=False, page_size=3)
    assert len(list(conn.list_people())) == 4
    assert [r.url.params["startIndex"] for r in provider.of("GET", "/Users")] == ["1", "4"]


def test_without_total_the_list_ends_on_an_empty_page(provider):
    provider.add_users(6)
    provider.total = None
    conn = ScimConnector(BASE, "t", transport=httpx.MockTransport(provider), rate_limit=False, page_size=3)
    assert len(list(conn.list_people())) == 6
    assert [r.url.params["startIndex"] for r in provider.of("GET", "/Users")] == ["1", "4", "7"]


def test_attribute_names_are_read_case_insensitively(provider, connector):
    provider.add_users(2)
    provider.users[0]["emails"] = [{"value": "u0@example.org", "primary": True}]
    provider.lower_case_keys = True
    people = list(connector.list_people())
    assert [(a.external_id, a.name, a.email) for a in people] == [("u0", "User 0", "u0@example.org"),
                                                                   ("u1", "User 1", None)]


def test_numeric_ids_string_booleans_and_ref_only_members_are_read(provider, connector):
    provider.users = [{"id": 17, "userName": "n17", "displayName": "N", "active": "False"}]
    provider.script.append(("GET", "/Groups/g1", httpx.Response(200, json={
        "id": "g1", "displayName": "crew", "members": [{"value": 17}, {"$ref": f"{BASE}/Users/99"}]})))
    assert [(a.external_id, a.active) for a in connector.list_people()] == [("n17", False)]
    assert [m.external_id for m in connector.list_members(CREW)] == ["n17"]


# --- errors and retries --------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds(provider, connector, slept):
    provider.add_users(1)
    provider.script.append(("GET", "/Users", scim_error(429, detail="slow down", headers={"Retry-After": "7"})))
    assert [a.external_id for a in connector.list_people()] == ["u0"]
    assert slept == [7.0]
    assert len(provider.of("GET", "/Users")) == 2


@pytest.mark.parametrize("method,path", [("GET", "/Users"), ("PATCH", "/Users/id0")])
def test_5xx_is_retried_for_reads_and_patches(provider, connector, slept, method, path):
    provider.add_users(1)
    if method == "PATCH":
        list(connector.list_people())  # userName → id known, so the PATCH is the only call
    provider.script.append((method, path, scim_error(503, detail="busy")))
    if method == "GET":
        assert len(list(connector.list_people())) == 1
    else:
        connector.disable_account("u0")
        assert provider.users[0]["active"] is False
    assert slept == [0.5]
    assert len(provider.of(method, path)) == 2


def test_a_group_create_that_may_have_arrived_is_not_resent(provider, connector):
    provider.script.append(("GET", "/Groups", httpx.Response(200, json={"totalResults": 0, "Resources": []})))
    provider.script.append(("POST", "/Groups", scim_error(500, detail="oops")))
    with pytest.raises(TransientError):
        connector.create_group(GroupSpec(kind="tag", name="new"))
    assert len(provider.of("POST", "/Groups")) == 1


@pytest.mark.parametrize("status,scim_type,cls", [
    (400, "invalidFilter", InvalidPayload),
    (400, "invalidValue", InvalidPayload),
    (401, None, AuthError),
    (403, None, PermissionDenied),
    (404, None, NotFound),
    (409, "uniqueness", AlreadyExists),
    (409, "mutability", Conflict),
    (412, None, Conflict),
    (429, None, RateLimited),
    (500, None, TransientError),
    (501, None, InvalidPayload),
])
def test_scim_errors_map_to_the_hierarchy(provider, status, scim_type, cls):
    provider.script.append(("GET", "/Users", scim_error(status, scim_type, detail="the provider's words")))
    conn = ScimConnector(BASE, "t", transport=httpx.MockTransport(provider), rate_limit=False,
                         retry=RetryPolicy(attempts=1, sleep=lambda s: None))
    with pytest.raises(cls) as caught:
        list(conn.list_people())
    assert type(caught.value) is cls
    assert caught.value.code == (scim_type or status)
    assert "the provider's words" in str(caught.value)


def test_auth_errors_are_not_retried_even_with_an_html_body(provider, connector, slept):
    provider.script.append(("GET", "/Users", httpx.Response(401, text="<html>Unauthorized</html>")))
    with pytest.raises(AuthError):
        list(connector.list_people())
    assert len(provider.of("GET", "/Users")) == 1 and slept == []


def test_501_is_not_retried(provider, connector, slept):
    provider.script.append(("GET", "/Users", scim_error(501, detail="not implemented")))
    with pytest.raises(InvalidPayload):
        list(connector.list_people())
    assert slept == []


def test_check_refuses_a_provider_without_patch(provider, connector):
    provider.script.append(("GET", "/ServiceProviderConfig", httpx.Response(200, json={"patch": {"supported": False}})))
    with pytest.raises(InvalidPayload, match="PATCH"):
        connector.check()


# --- helpers -------------------------------------------------------------------------


def test_filter_values_are_quoted_and_escaped():
    assert eq_filter("userName", 'a"b\\c') == 'userName eq "a\\"b\\\\c"'
    assert eq_filter("displayName", "志愿者") == 'displayName eq "志愿者"'


def test_retry_after_reads_seconds_and_dates():
    assert retry_after(httpx.Response(429, headers={"Retry-After": "3"})) == 3.0
    assert retry_after(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Response(429)) is None

"""``ScimConnector`` against the real ``scim2-server`` on loopback: every call is real HTTP."""

from __future__ import annotations

import httpx
import pytest
from scim_peer import TOKEN, make_connector

from connectors import DIRECTORY_SERVICES, SERVICES, connector_class
from connectors._base import (
    AppliesMembership,
    Connector,
    CreatesGroups,
    ListsGroups,
    ListsPeople,
    ManagesAccounts,
    ReadsGroups,
    Runner,
)
from connectors._errors import AlreadyExists, AuthError, InvalidPayload, NotFound
from connectors.scim import ScimConnector
from mappings.models import Account, AccountSpec, Group, GroupSpec, Member, MembershipDelta

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def alice() -> AccountSpec:
    return AccountSpec(external_id="m0001", name="Alice Zhang", mobile="+8613800000001", email="alice@example.org",
                       departments=("7",))


def tag(group_id: str, name: str = "") -> Group:
    return Group(service="scim", kind="tag", external_id=group_id, name=name)


def test_registered_as_a_directory_service_not_a_sandboxed_one():
    assert connector_class("scim") is ScimConnector
    assert "scim" in DIRECTORY_SERVICES and "scim" not in SERVICES
    with pytest.raises(KeyError, match="scim"):  # the message lists it among the known services
        connector_class("okta")


def test_implements_the_capabilities(connector):
    for protocol in (Connector, ListsPeople, ListsGroups, ReadsGroups, ManagesAccounts, CreatesGroups,
                     AppliesMembership):
        assert isinstance(connector, protocol)
    assert connector.name == "scim"


def test_check_reads_the_config_then_a_user_with_the_token(connector, server):
    connector.check()
    assert [(c.method, c.path) for c in server.recorder.calls] == [
        ("GET", "/v2/ServiceProviderConfig"), ("GET", "/v2/Users")]
    users = server.recorder.of("GET", "/v2/Users")[0]
    assert users.headers["authorization"] == f"Bearer {TOKEN}"
    assert users.headers["accept"].startswith("application/scim+json")


def test_bad_token_is_an_auth_error_and_not_retried(server):
    wrong = make_connector(server, token="not-the-token")
    with pytest.raises(AuthError) as caught:
        wrong.check()
    assert caught.value.code == 401
    # the config answers without a token (RFC 7643 §5); the one user read is refused, once
    assert len(server.recorder.of("GET", "/v2/Users")) == 1
    with pytest.raises(AuthError):
        list(wrong.list_people())
    assert len(server.recorder.of("GET", "/v2/Users")) == 2


def test_create_account_maps_the_spec_to_a_scim_user(connector, server):
    result = connector.create_account(alice())
    assert result.created_id == "m0001"
    post = server.recorder.of("POST", "/v2/Users")[0]
    assert post.headers["content-type"] == "application/scim+json"
    stored = server.user("m0001")
    assert stored["userName"] == "m0001" and stored["externalId"] == "m0001"
    assert stored["displayName"] == "Alice Zhang" and stored["name"]["formatted"] == "Alice Zhang"
    assert stored["emails"] == [{"value": "alice@example.org", "type": "work", "primary": True}]
    assert stored["phoneNumbers"] == [{"value": "+8613800000001", "type": "mobile"}]
    assert stored["active"] is True
    assert list(connector.list_people()) == [Account(service="scim", external_id="m0001", name="Alice Zhang",
                                                     mobile="+8613800000001", email="alice@example.org")]


def test_create_of_an_existing_username_is_idempotent_for_the_same_person(connector, server):
    connector.create_account(alice())
    again = connector.create_account(alice().model_copy(update={"mobile": None, "name": "A. Zhang"}))  # same email
    assert again.created_id == "m0001" and again.detail == "userName already exists"
    assert len(server.recorder.of("POST", "/v2/Users")) == 2  # the second POST got 409 uniqueness
    assert len([u for u in connector.list_people()]) == 1


def test_create_of_an_existing_username_of_another_person_is_already_exists(connector, server):
    server.add_user("m0001", "Bob Li", emails=[{"value": "bob@example.org"}])
    with pytest.raises(AlreadyExists, match="another person") as caught:
        connector.create_account(alice())
    assert caught.value.code == "uniqueness"
    assert server.user("m0001")["displayName"] == "Bob Li"


def test_username_clash_is_case_insensitive(connector, server):
    server.add_user("M0001", "Alice Zhang")  # same name: the same person, whatever the case of the id
    assert connector.create_account(alice()).detail == "userName already exists"
    server.add_user("m0002", "Carol Wu")
    with pytest.raises(AlreadyExists):
        connector.create_account(AccountSpec(external_id="M0002", name="Dave Sun"))


def test_update_account_patches_only_the_given_fields(connector, server):
    connector.create_account(alice())
    server.recorder.calls.clear()
    connector.update_account("m0001", {"name": "Alice Z. Wang", "email": "alice@new.example.org", "mobile": None})
    (patch,) = server.recorder.of("PATCH")
    assert patch.body["schemas"] == [PATCH_OP]
    assert {op["path"] for op in patch.body["Operations"]} == {"displayName", "name.formatted", "emails",
                                                                "phoneNumbers"}
    stored = server.user("m0001")
    assert stored["displayName"] == "Alice Z. Wang" and stored["name"]["formatted"] == "Alice Z. Wang"
    assert stored["emails"] == [{"value": "alice@new.example.org", "type": "work", "primary": True}]
    assert "phoneNumbers" not in stored


def test_update_ignores_departments_and_refuses_unknown_fields(connector, server):
    connector.create_account(alice())
    server.recorder.calls.clear()
    assert connector.update_account("m0001", {"departments": ["3"]}).calls == 0
    assert server.recorder.writes == []
    with pytest.raises(InvalidPayload, match="tier"):
        connector.update_account("m0001", {"tier": "gold"})


def test_update_of_an_account_made_elsewhere_looks_its_id_up_by_username(connector, server):
    server.add_user("ext-7", "Erin")
    connector.update_account("ext-7", {"mobile": "+8613900000007"})
    lookup = server.recorder.of("GET", "/v2/Users")[0]
    assert lookup.query["filter"] == 'userName eq "ext-7"'
    assert server.user("ext-7")["phoneNumbers"] == [{"value": "+8613900000007", "type": "mobile"}]


def test_disable_deactivates_and_reactivation_restores(connector, server):
    connector.create_account(alice())
    connector.disable_account("m0001")
    assert server.user("m0001")["active"] is False
    assert [a.active for a in connector.list_people()] == [False]
    assert server.recorder.of("DELETE") == []  # never deleted
    connector.update_account("m0001", {"active": True})
    assert server.user("m0001")["active"] is True
    assert [a.active for a in connector.list_people()] == [True]


def test_unknown_username_is_not_found_after_one_call(connector, server):
    with pytest.raises(NotFound):
        connector.disable_account("nobody")
    assert len(server.recorder.calls) == 1 and server.recorder.writes == []


def test_list_people_pages_with_a_small_page_size(server):
    for i in range(7):
        server.add_user(f"u{i}", f"User {i}")
    conn = make_connector(server, page_size=3)
    people = list(conn.list_people())
    assert sorted(a.external_id for a in people) == [f"u{i}" for i in range(7)]
    pages = server.recorder.of("GET", "/v2/Users")
    assert [(c.query["startIndex"], c.query["count"]) for c in pages] == [("1", "3"), ("4", "3"), ("7", "3")]


def test_create_group_with_members_in_one_post(connector, server):
    connector.create_account(alice())
    connector.create_account(AccountSpec(external_id="m0002", name="Bob Li"))
    result = connector.create_group(GroupSpec(kind="tag", name="volunteers", members=("m0001", "m0002", "ghost")))
    assert result.rejected == ("ghost",)
    (post,) = server.recorder.of("POST", "/v2/Groups")
    assert len(post.body["members"]) == 2
    groups = list(connector.list_groups())
    assert groups == [tag(result.created_id, "volunteers")]
    assert sorted(m.external_id for m in connector.list_members(groups[0])) == ["m0001", "m0002"]


def test_create_group_reuses_a_group_of_the_same_name(connector, server):
    existing = server.add_group("volunteers")
    result = connector.create_group(GroupSpec(kind="tag", name="volunteers"))
    assert result.created_id == existing and result.detail == "group already exists"
    assert server.recorder.writes == []


def test_create_group_other_kinds_are_refused(connector):
    with pytest.raises(InvalidPayload, match="flat groups"):
        connector.create_group(GroupSpec(kind="chat", name="chat", owner="m0001"))


def test_membership_add_and_remove_in_one_patch_then_nothing_to_resend(connector, server):
    ids = {n: server.add_user(n, n.upper()) for n in ("a1", "a2", "a3")}
    gid = server.add_group("crew", [ids["a1"]])
    delta = MembershipDelta(add=frozenset({"a2", "a3"}), remove=frozenset({"a1"}))
    result = connector.apply_membership(tag(gid), delta)
    assert result.calls == 1 and result.rejected == ()
    (patch,) = server.recorder.of("PATCH", "/v2/Groups")
    assert patch.body["Operations"] == [
        {"op": "add", "path": "members", "value": [{"value": ids["a2"]}, {"value": ids["a3"]}]},
        {"op": "remove", "path": f'members[value eq "{ids["a1"]}"]'},
    ]
    assert sorted(m["value"] for m in server.group(gid)["members"]) == sorted([ids["a2"], ids["a3"]])

    server.recorder.calls.clear()
    again = connector.apply_membership(tag(gid), delta)
    assert again.calls == 0 and again.detail == "already true"
    assert server.recorder.writes == []
    assert [c.path for c in server.recorder.calls] == [f"/v2/Groups/{gid}"]  # read first, nothing to send


def test_removing_an_absent_member_sends_nothing(connector, server):
    a1 = server.add_user("a1", "A1")
    server.add_user("a2", "A2")
    gid = server.add_group("crew", [a1])
    result = connector.apply_membership(tag(gid), MembershipDelta(remove=frozenset({"a2", "no-such-user"})))
    assert result.calls == 0
    assert server.recorder.writes == []
    assert [m["value"] for m in server.group(gid)["members"]] == [a1]


def test_adding_an_unknown_username_is_rejected_the_rest_applied(connector, server):
    a1 = server.add_user("a1", "A1")
    gid = server.add_group("crew")
    result = connector.apply_membership(tag(gid), MembershipDelta(add=frozenset({"a1", "ghost"})))
    assert result.rejected == ("ghost",) and result.calls == 1
    assert [m["value"] for m in server.group(gid)["members"]] == [a1]


def test_membership_owner_is_meaningless(connector, server):
    gid = server.add_group("crew")
    with pytest.raises(InvalidPayload, match="owner"):
        connector.apply_membership(tag(gid), MembershipDelta(owner="a1"))
    assert server.recorder.calls == []


def test_list_members_by_username_skipping_nested_groups_and_dangling_ids(connector, server):
    a1 = server.add_user("a1", "A1")
    inner = server.add_group("inner")
    gid = server.add_group("outer", [a1, "dangling-id"])
    server.http.patch(f"/Groups/{gid}", json={"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": inner, "type": "Group"}]}]})
    server.recorder.calls.clear()
    members = list(connector.list_members(tag(gid)))
    assert members == [Member(external_id="a1")]


def test_list_members_uses_what_the_listing_carried(connector, server):
    a1 = server.add_user("a1", "A1")
    full = server.add_group("full", [a1])
    empty = server.add_group("empty")
    list(connector.list_people())
    groups = {g.name: g for g in connector.list_groups()}
    server.recorder.calls.clear()
    assert list(connector.list_members(groups["full"])) == [Member(external_id="a1")]
    assert server.recorder.calls == []  # members came with the listing, userNames from list_people
    assert list(connector.list_members(groups["empty"])) == []
    assert [c.path for c in server.recorder.calls] == [f"/v2/Groups/{empty}"]  # no members attribute: read it
    assert full != empty


def test_unknown_group_is_not_found_after_one_call(connector, server):
    with pytest.raises(NotFound):
        connector.get_group("tag", "no-such-group")
    assert len(server.recorder.calls) == 1
    server.recorder.calls.clear()
    with pytest.raises(NotFound):
        connector.apply_membership(tag("no-such-group"), MembershipDelta(remove=frozenset({"x"})))
    assert [(c.method, c.path) for c in server.recorder.calls] == [("GET", "/v2/Groups/no-such-group")]


def test_get_group_reads_one_tag(connector, server):
    gid = server.add_group("crew")
    assert connector.get_group("tag", gid) == tag(gid, "crew")
    with pytest.raises(InvalidPayload):
        connector.get_group("department", gid)


def test_runner_wraps_it(server):
    runner = Runner(make_connector(server))
    runner.create_account(alice())
    runner.disable_account(" m0001 ")
    assert server.user("m0001")["active"] is False


def test_a_config_connection_builds_a_working_connector(server, monkeypatch):
    from config.tenant import ScimConnection, SecretRef, TenantConfig
    from flows.workspace import BASE_FIELDS

    monkeypatch.setenv("SCIM_TOKEN", TOKEN)
    cfg = TenantConfig.model_validate({"coalition": "c", "services": {"scim": {
        "base_url": server.base_url, "token": {"env": "SCIM_TOKEN"}, "page_size": 2}}})
    conn = cfg.services["scim"]
    assert isinstance(conn, ScimConnection)
    # what flows.workspace passes: the non-base fields (secrets resolved), plus base_url, transport, retry, rate_limit
    creds = {name: (getattr(conn, name).resolve() if isinstance(getattr(conn, name), SecretRef)
                    else getattr(conn, name)) for name in type(conn).model_fields if name not in BASE_FIELDS}
    assert sorted(creds) == ["page_size", "token"]
    built = connector_class("scim")(base_url=conn.base_url, transport=httpx.HTTPTransport(), retry=None,
                                    rate_limit=False, **creds)
    try:
        built.check()
        assert built.page_size == 2
    finally:
        built.close()


@pytest.mark.parametrize("scim,message", [
    ({"base_url": "scim.example.org", "token": {"env": "T"}}, "SCIM endpoint URL"),
    ({"base_url": "https://scim.example.org/v2", "token": "literal-secret"}, "by reference"),
    ({"token": {"env": "T"}}, "base_url"),
])
def test_config_errors_name_the_field(scim, message):
    from pydantic import ValidationError

    from config.tenant import TenantConfig

    with pytest.raises(ValidationError, match=message):
        TenantConfig.model_validate({"coalition": "c", "services": {"scim": scim}})


def test_many_unknown_usernames_are_resolved_by_one_listing_not_a_filter_each(connector, server):
    names = [f"v{i}" for i in range(7)]
    for name in names:
        server.add_user(name, name.upper())
    gid = server.add_group("crew")
    result = connector.apply_membership(tag(gid), MembershipDelta(add=frozenset(names)))
    assert result.calls == 1 and len(server.group(gid)["members"]) == 7
    user_reads = server.recorder.of("GET", "/v2/Users")
    assert len(user_reads) == 1 and "filter" not in user_reads[0].query

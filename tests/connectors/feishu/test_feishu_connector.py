"""FeishuConnector against FeishuSandbox: listing, accounts, departments, chats, doc access, faults, exact counts."""

from __future__ import annotations

from collections import Counter

import pytest

from connectors._errors import AlreadyExists, InvalidPayload, NotFound, PermissionDenied
from connectors._http import RetryPolicy
from connectors._sandbox import FaultPlan
from connectors.feishu import FeishuConnector, FeishuSandbox
from connectors.feishu.connector import client_token
from mappings.models import AccessDelta, AccountSpec, Group, GroupSpec, Member, MembershipDelta

START = 1_700_000_000.0
API = "/open-apis"


class FakeClock:
    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock) -> FeishuSandbox:
    sb = FeishuSandbox(clock=clock, faults=FaultPlan())
    sb.add_department("2", "Counselling")
    for i, name in enumerate(("amy", "ben", "cal")):
        sb.add_user(name, name.title(), mobile=f"1380000000{i}", departments=["0", "2"] if name == "amy" else ["0"])
    return sb


@pytest.fixture
def connector(sandbox, clock) -> FeishuConnector:
    retry = RetryPolicy(attempts=3, backoff=0.0, jitter=0.0, sleep=clock.sleep)
    c = FeishuConnector.from_sandbox(sandbox, retry=retry, clock=clock, sleep=clock.sleep)
    yield c
    c.close()


def chat_group(sandbox) -> Group:
    chat = sandbox.add_chat("oc_1", "Night", "amy", ["ben"])
    return Group(service="feishu", kind="chat", external_id=chat, name="Night", owner="amy")


def doc_group(sandbox) -> Group:
    doc = sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    return Group(service="feishu", kind="doc", external_id=doc, name="Register")


def test_check_fetches_a_token_and_reads_the_root(connector, sandbox):
    connector.check()
    assert sandbox.calls == Counter({f"POST {API}/auth/v3/tenant_access_token/internal": 1,
                                     f"GET {API}/contact/v3/departments/0": 1})


def test_list_people_walks_departments_and_pages_once_per_person(connector, sandbox):
    for i in range(60):
        sandbox.add_user(f"u{i:03d}", f"U{i}", departments=["0"])
    people = list(connector.list_people())
    assert len(people) == 63 and len({p.external_id for p in people}) == 63
    a = next(p for p in people if p.external_id == "amy")
    assert a.departments == ("0", "2") and a.union_id.startswith("on_") and a.mobile == "13800000000"
    assert sandbox.calls[f"GET {API}/contact/v3/users/find_by_department"] == 3  # root 2 pages, dept 2 one


def test_list_groups_has_departments_and_chats(connector, sandbox):
    chat_group(sandbox)
    groups = list(connector.list_groups())
    assert [(g.kind, g.external_id, g.parent_id) for g in groups] == [
        ("department", "0", None), ("department", "2", "0"), ("chat", "oc_1", None)]
    assert groups[-1].owner == "amy"


def test_members_with_owner_level(connector, sandbox):
    group = chat_group(sandbox)
    assert list(connector.list_members(group)) == [Member(external_id="amy", level="owner"),
                                                   Member(external_id="ben")]


def test_owner_change_adds_first_then_transfers_then_removes_and_never_sends_232076(connector, sandbox):
    group = chat_group(sandbox)
    result = connector.apply_membership(group, MembershipDelta(remove=frozenset({"amy"}), owner="cal"))
    chat = sandbox.chats["oc_1"]
    assert (chat["owner_id"], chat["members"]) == ("cal", ["ben", "cal"])
    assert result.calls == 3
    assert sandbox.write_calls == 3
    again = connector.apply_membership(group, MembershipDelta(remove=frozenset({"amy"}), owner="cal"))
    assert again.calls == 0 and sandbox.write_calls == 3


def test_removing_the_owner_without_a_successor_sends_nothing(connector, sandbox):
    group = chat_group(sandbox)
    with pytest.raises(InvalidPayload):
        connector.apply_membership(group, MembershipDelta(remove=frozenset({"amy"})))
    assert sandbox.write_calls == 0


def test_unknown_ids_are_rejected_not_fatal(connector, sandbox):
    group = chat_group(sandbox)
    result = connector.apply_membership(group, MembershipDelta(add=frozenset({"cal", "ghost"})))
    assert result.rejected == ("ghost",) and "cal" in sandbox.chats["oc_1"]["members"]


def test_chat_not_found_and_bot_not_in_chat(connector, sandbox):
    with pytest.raises(NotFound):
        connector.get_group("chat", "oc_missing")
    group = chat_group(sandbox)
    sandbox.chats["oc_1"]["bot_in"] = False
    with pytest.raises(PermissionDenied):
        connector.apply_membership(group, MembershipDelta(add=frozenset({"cal"})))


def test_create_chat_is_idempotent_by_spec_external_id(connector, sandbox):
    spec = GroupSpec(kind="chat", name="Intake", owner="amy", members=("ben", "cal"), external_id="plan-42")
    first = connector.create_group(spec)
    second = connector.create_group(spec)
    assert first.created_id == second.created_id and len(sandbox.chats) == 1
    assert sandbox.chats[first.created_id]["members"] == ["amy", "ben", "cal"]


def test_send_message_one_per_recipient(connector, sandbox):
    result = connector.send_message(["ben", "amy"], "hello")
    assert result.calls == 2 and sandbox.messages == [("amy", "hello"), ("ben", "hello")]


def test_send_message_resent_after_a_timeout_is_delivered_once(connector, sandbox):
    connector.check()
    sandbox.faults.schedule[sandbox.requests + 1] = "timeout"
    connector.send_message(["ben"], "hello")
    assert sandbox.messages == [("ben", "hello")]
    assert sandbox.calls[f"POST {API}/im/v1/messages"] == 2


def test_doc_access_is_read_first_and_idempotent(connector, sandbox):
    group = doc_group(sandbox)
    sandbox.grant("doxcn1", "ben", "view")
    delta = AccessDelta(grant={"ben": "edit", "cal": "manage"})
    assert connector.apply_access(group, delta).calls == 2
    assert list(connector.list_grants(group)) == [Member(external_id="ben", level="edit"),
                                                  Member(external_id="cal", level="manage")]
    writes = sandbox.write_calls
    assert connector.apply_access(group, delta).calls == 0 and sandbox.write_calls == writes
    assert connector.apply_access(group, AccessDelta(revoke=frozenset({"cal", "nobody"}))).calls == 1
    assert set(sandbox.docs["doxcn1"]["members"]) == {"ben"}


def test_doc_type_mismatch_is_invalid_payload(connector, sandbox):
    sandbox.add_doc("shtcn1", "sheet", "Hours", "amy")
    wrong = Group(service="feishu", kind="doc", external_id="docx:shtcn1", name="Hours")
    with pytest.raises(InvalidPayload) as info:
        list(connector.list_grants(wrong))
    assert info.value.code == 1063001
    with pytest.raises(InvalidPayload):
        list(connector.list_grants(Group(service="feishu", kind="folder", external_id="docx:x", name="x")))
    with pytest.raises(NotFound):
        connector.get_group("doc", "docx:gone")


def test_transfer_owner_keeps_old_owner_with_view(connector, sandbox):
    group = doc_group(sandbox)
    connector.transfer_owner(group, "ben")
    assert sandbox.docs["doxcn1"]["owner"] == "ben"
    assert list(connector.list_grants(group)) == [Member(external_id="amy", level="view")]


def test_rate_limit_is_waited_out_in_fake_time(connector, sandbox, clock):
    connector.check()
    sandbox.faults.schedule[sandbox.requests + 1] = "ratelimit"
    connector.get_group("department", "0")
    assert 1.0 in clock.slept


def test_revoked_token_is_refreshed_once(connector, sandbox):
    connector.check()
    sandbox.faults.schedule[sandbox.requests + 1] = "revoke"
    connector.get_group("department", "0")
    assert connector.client.auth.fetches == 2 and sandbox.tokens.issued == 2


def test_token_renewed_before_expiry_lands_in_the_reissue_window(connector, sandbox, clock):
    connector.check()
    clock.now += 7200 - 599  # under the client's 10-minute margin
    connector.check()
    assert connector.client.auth.fetches == 2 and sandbox.tokens.issued == 2


# --- accounts --------------------------------------------------------------------------


def sent(sandbox, method: str, path: str) -> Counter:
    return Counter({k: v for k, v in sandbox.calls.items() if k == f"{method} {API}{path}"})


def test_create_account_sets_the_user_id_with_a_client_token_derived_from_it(connector, sandbox, clock):
    connector.check()
    sandbox.faults.schedule[sandbox.requests + 1] = "timeout"  # created, answer lost: the resend replays it

    result = connector.create_account(AccountSpec(external_id="dora", name="Dora", mobile="13899999999",
                                                  departments=("2",), leader_of=("2",)))

    assert result.created_id == "dora" and result.detail == ""
    dora = sandbox.users["dora"]
    assert (dora["name"], dora["mobile"], dora["department_ids"], dora["employee_type"]) == (
        "Dora", "13899999999", ["2"], 1)
    assert sent(sandbox, "POST", "/contact/v3/users") == Counter({f"POST {API}/contact/v3/users": 2})
    assert f"user_create:{client_token('user', 'dora')}" in sandbox.uuids
    assert len(sandbox.users) == 4


def test_an_existing_user_id_is_success_but_another_users_contact_is_already_exists(connector, sandbox):
    again = connector.create_account(AccountSpec(external_id="amy", name="Amy", mobile="13800000000"))
    assert (again.created_id, again.detail) == ("amy", "user_id already exists")

    with pytest.raises(AlreadyExists) as mobile:
        connector.create_account(AccountSpec(external_id="amy", name="Amy", mobile="13800000001"))  # ben's
    sandbox.users["ben"]["email"] = "ben@example.org"
    with pytest.raises(AlreadyExists) as email:
        connector.create_account(AccountSpec(external_id="dan", name="Dan", email="BEN@example.org"))

    assert (mobile.value.code, email.value.code) == (41001, 41002)
    assert sorted(sandbox.users) == ["amy", "ben", "cal"]


def test_update_account_patches_fields_and_leaves_out_what_feishu_cannot_set(connector, sandbox):
    result = connector.update_account("amy", {"name": "Amy B", "departments": ["2"], "leader_of": ["2"]})
    assert result.calls == 1 and (sandbox.users["amy"]["name"], sandbox.users["amy"]["department_ids"]) == (
        "Amy B", ["2"])
    writes = sandbox.write_calls

    nothing = connector.update_account("amy", {"active": True, "leader_of": []})
    with pytest.raises(InvalidPayload):
        connector.update_account("amy", {"title": "Chair"})

    assert nothing.calls == 0 and sandbox.write_calls == writes
    with pytest.raises(NotFound):
        connector.update_account("ghost", {"name": "G"})


def test_inactive_means_deleted_and_an_absent_user_is_already_disabled(connector, sandbox):
    chat_group(sandbox)

    connector.update_account("amy", {"active": False})
    again = connector.disable_account("amy")

    assert "amy" not in sandbox.users and sandbox.chats["oc_1"]["owner_id"] == "ben"
    assert again.detail.startswith("already absent")
    assert sandbox.calls[f"DELETE {API}/contact/v3/users/amy"] == 2


def test_create_department_under_the_root_and_a_taken_name_returns_the_existing_one(connector, sandbox):
    made = connector.create_group(GroupSpec(kind="department", name="Night"))
    again = connector.create_group(GroupSpec(kind="department", name="Night"))  # same client_token: same answer
    sandbox.add_department("5", "Day")
    taken = connector.create_group(GroupSpec(kind="department", name="Day"))
    child = connector.create_group(GroupSpec(kind="department", name="Late", parent_id=made.created_id))

    assert made.created_id == again.created_id and sandbox.departments[made.created_id]["name"] == "Night"
    assert (taken.created_id, taken.detail) == ("5", "department already exists")
    assert sandbox.departments[child.created_id]["parent_department_id"] == made.created_id
    assert len(sandbox.departments) == 5  # root, 2, Night, Day, Late


def test_department_membership_patches_each_moved_user_once(connector, sandbox):
    group = Group(service="feishu", kind="department", external_id="2", name="Counselling", parent_id="0")
    sandbox.users["cal"]["department_ids"] = ["2"]  # only there: leaving puts cal at the root

    result = connector.apply_membership(group, MembershipDelta(add=frozenset({"ben", "ghost"}),
                                                               remove=frozenset({"amy", "cal"})))
    writes = sandbox.write_calls
    again = connector.apply_membership(group, MembershipDelta(add=frozenset({"ben"}), remove=frozenset({"amy"})))

    assert (result.calls, result.rejected) == (3, ("ghost",))
    assert {u: sandbox.users[u]["department_ids"] for u in ("amy", "ben", "cal")} == {
        "amy": ["0"], "ben": ["0", "2"], "cal": ["0"]}
    assert again.calls == 0 and sandbox.write_calls == writes
    assert list(connector.list_members(group)) == [Member(external_id="ben")]


def test_a_chat_with_an_unknown_member_is_created_with_its_owner_and_the_rest_added(connector, sandbox):
    spec = GroupSpec(kind="chat", name="Intake", owner="amy", members=("ben", "ghost"), external_id="plan-7")

    result = connector.create_group(spec)

    chat = sandbox.chats[result.created_id]
    assert (chat["owner_id"], chat["members"]) == ("amy", ["amy", "ben"])
    assert (result.calls, result.rejected) == (3, ("ghost",))
    assert sandbox.calls[f"POST {API}/im/v1/chats"] == 2 and len(sandbox.chats) == 1


def test_grants_listed_by_openid_come_back_as_user_ids_with_one_batch_read(connector, sandbox):
    group = doc_group(sandbox)
    sandbox.grant("doxcn1", "ben", "edit")
    sandbox.grant("doxcn1", "cal", "full_access")
    connector.check()
    before = Counter(sandbox.calls)

    grants = list(connector.list_grants(group))

    assert grants == [Member(external_id="ben", level="edit"), Member(external_id="cal", level="manage")]
    assert Counter(sandbox.calls) - before == Counter({f"GET {API}/drive/v1/permissions/doxcn1/members": 1,
                                                      f"GET {API}/contact/v3/users/batch": 1})


def test_users_without_user_id_are_a_clear_error_naming_the_scope(connector, sandbox):
    sandbox.user_id_scope = False

    with pytest.raises(InvalidPayload, match=r"contact:user\.employee_id:readonly"):
        list(connector.list_people())


def test_a_deleted_users_documents_go_to_the_acceptor_or_are_lost_without_one(connector, sandbox):
    sandbox.add_doc("doxcn1", "docx", "Register", "amy")
    sandbox.add_doc("doxcn2", "docx", "Rota", "ben")
    sandbox.grant("doxcn1", "cal", "edit")

    handed = connector.disable_account("amy", "cal")
    with pytest.raises(InvalidPayload):  # the acceptor must be another user: nothing is deleted
        connector.disable_account("ben", "ghost")
    plain = connector.disable_account("ben")

    assert handed.detail == "documents handed to cal" and plain.detail == ""
    assert sandbox.docs["doxcn1"]["owner"] == "cal" and sandbox.docs["doxcn1"]["members"] == {}
    assert "doxcn2" not in sandbox.docs and sorted(sandbox.users) == ["cal"]


def test_a_keyed_notice_sent_twice_is_delivered_once_per_recipient(connector, sandbox):
    first = connector.send_message(["ben", "amy"], "Shift tonight", key="notice-7")
    again = connector.send_message(["amy", "ben"], "Shift tonight", key="notice-7")
    other = connector.send_message(["amy"], "Shift tonight")

    assert sandbox.messages == [("amy", "Shift tonight"), ("ben", "Shift tonight"), ("amy", "Shift tonight")]
    assert first.detail == again.detail and other.calls == 1

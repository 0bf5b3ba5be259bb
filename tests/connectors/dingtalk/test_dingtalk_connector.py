from __future__ import annotations

import pytest

from connectors._base import (
    AppliesMembership,
    Connector,
    CreatesGroups,
    ListsGroups,
    ListsPeople,
    ManagesAccounts,
    ReadsGroups,
    Runner,
    SendsMessages,
)
from connectors._errors import AlreadyExists, AuthError, InvalidPayload, NotFound
from connectors._http import NO_RETRY_WAIT, RetryPolicy
from connectors._sandbox import FaultPlan
from connectors.dingtalk import DingTalkConnector, DingTalkSandbox
from mappings.models import AccountSpec, Group, GroupSpec, Member, MembershipDelta

STRICT = RetryPolicy(attempts=1, backoff=0.0, jitter=0.0, sleep=lambda s: None)


def chat_group(chatid: str) -> Group:
    return Group(service="dingtalk", kind="chat", external_id=chatid, name="")


@pytest.fixture
def people(sandbox):
    return [sandbox.add_user(f"p{i:03}", f"P{i}", mobile=f"1380000{i:04}") for i in range(120)]


def test_implements_the_capabilities(connector):
    for protocol in (
        Connector,
        ListsPeople,
        ListsGroups,
        ReadsGroups,
        ManagesAccounts,
        CreatesGroups,
        AppliesMembership,
        SendsMessages,
    ):
        assert isinstance(connector, protocol)


def test_check_and_bad_credentials(connector, sandbox, clock):
    connector.check()
    wrong = DingTalkConnector(
        base_url="http://dingtalk.sandbox",
        appkey=sandbox.credentials["appkey"],
        appsecret="wrong",
        agentid=1,
        transport=sandbox.transport(),
        clock=clock,
        sleep=clock.sleep,
    )
    with pytest.raises(AuthError):
        wrong.check()


# --- reads -----------------------------------------------------------------------------


def test_lists_everyone_across_pages_and_departments_without_tripping_limits(sandbox, clock):
    sandbox.add_department(2, "Counsellors")
    sandbox.add_department(3, "Night shift", parent_id=2)
    for i in range(230):
        sandbox.add_user(f"c{i:03}", f"C{i}", mobile=f"139{i:08}", departments=[2])
    sandbox.add_user(
        "lead",
        "Lead",
        mobile="13700000000",
        email="lead@example.org",
        departments=[1, 2, 3],
        leader_of=[2, 3],
    )
    connector = DingTalkConnector.from_sandbox(sandbox, retry=STRICT, clock=clock, sleep=clock.sleep)
    accounts = {a.external_id: a for a in connector.list_people()}
    assert len(accounts) == 231
    lead = accounts["lead"]
    assert (lead.departments, lead.leader_of, lead.email, lead.mobile) == (
        ("1", "2", "3"),
        ("2", "3"),
        "lead@example.org",
        "13700000000",
    )
    assert accounts["c000"].departments == ("2",) and accounts["c000"].leader_of == ()
    assert connector.client.calls["/topapi/v2/user/list"] == 1 + 3 + 1  # root, 3 pages of dept 2, dept 3
    assert connector.client.limiter.waited > 0  # spaced at the documented limit: STRICT would raise on 90002


def test_lists_the_department_tree(connector, sandbox):
    sandbox.add_department(2, "A")
    sandbox.add_department(3, "B")
    sandbox.add_department(4, "A1", parent_id=2)
    groups = {g.external_id: g for g in connector.list_groups()}
    assert set(groups) == {"1", "2", "3", "4"}
    assert (groups["1"].parent_id, groups["4"].parent_id, groups["4"].name) == (None, "2", "A1")


def test_get_group_and_members(connector, sandbox, people):
    chatid = sandbox.add_chat(None, "Ops", "p001", ["p002", "p003"])
    chat = connector.get_group("chat", chatid)
    assert (chat.owner, chat.name, chat.kind) == ("p001", "Ops", "chat")
    assert list(connector.list_members(chat)) == [
        Member(external_id="p001", level="owner"),
        Member(external_id="p002"),
        Member(external_id="p003"),
    ]
    sandbox.add_department(2, "A")
    sandbox.add_user("d1", "D", mobile="1", departments=[2])
    dept = connector.get_group("department", "2")
    assert [m.external_id for m in connector.list_members(dept)] == ["d1"]


@pytest.mark.parametrize(
    ("kind", "external_id"), [("chat", "chatnope"), ("department", "999"), ("department", "not-a-number")]
)
def test_unknown_ids_are_not_found(connector, kind, external_id):
    with pytest.raises(NotFound):
        connector.get_group(kind, external_id)


# --- accounts --------------------------------------------------------------------------


def test_create_account_is_idempotent(connector, sandbox):
    sandbox.add_department(2, "A")
    spec = AccountSpec(
        external_id="v1", name="Vol", mobile="13600000000", departments=("2",), leader_of=("2",)
    )
    first = connector.create_account(spec)
    again = connector.create_account(spec)
    assert first.created_id == again.created_id == "v1" and "exists" in again.detail
    assert sandbox.users["v1"]["dept_id_list"] == [2] and sandbox.users["v1"]["leader_of"] == [2]
    with pytest.raises(AlreadyExists):
        connector.create_account(AccountSpec(external_id="v2", name="Other", mobile="13600000000"))


def test_update_account_fields(connector, sandbox):
    sandbox.add_department(2, "A")
    sandbox.add_user("v1", "Vol", mobile="1")
    connector.update_account(
        "v1", {"name": "Volunteer", "email": "v@example.org", "departments": ["1", "2"], "leader_of": ["2"]}
    )
    user = sandbox.users["v1"]
    assert (user["name"], user["email"], user["dept_id_list"], user["leader_of"]) == (
        "Volunteer",
        "v@example.org",
        [1, 2],
        [2],
    )
    connector.update_account("v1", {"leader_of": []})  # reads the departments, then clears the lead
    assert sandbox.users["v1"]["leader_of"] == [] and sandbox.users["v1"]["dept_id_list"] == [1, 2]
    assert connector.update_account("v1", {"active": True}).calls == 0
    with pytest.raises(InvalidPayload):
        connector.update_account("v1", {"title": "x"})


def test_inactive_means_deleted_and_deleting_twice_succeeds(connector, sandbox):
    sandbox.add_user("v1", "Vol", mobile="1")
    connector.update_account("v1", {"active": False})
    assert "v1" not in sandbox.users
    assert connector.disable_account("v1").detail == "already absent"
    with pytest.raises(NotFound):
        connector.update_account("v1", {"name": "x"})


# --- groups and membership -------------------------------------------------------------


def test_create_department_twice_gives_the_same_id(connector, sandbox):
    first = connector.create_group(GroupSpec(kind="department", name="Training"))
    again = connector.create_group(GroupSpec(kind="department", name="Training"))
    assert (
        first.created_id == again.created_id and sandbox.departments[int(first.created_id)]["parent_id"] == 1
    )


def test_create_big_chat_in_create_plus_update_batches(connector, sandbox, people):
    before = sandbox.write_calls
    result = connector.create_group(
        GroupSpec(kind="chat", name="All hands", owner="p050", members=tuple(people[:95]))
    )
    chat = sandbox.chats[result.created_id]
    assert result.calls == 3 and sandbox.write_calls - before == 3  # 40 + 40 + 15
    assert chat["owner"] == "p050" and sorted(chat["useridlist"]) == sorted(people[:95])


def test_apply_delta_batches_and_second_apply_sends_nothing(connector, sandbox, people):
    chatid = sandbox.add_chat(None, "T", "p000", people[:50])
    delta = MembershipDelta(add=frozenset(people[50:110]), remove=frozenset(people[10:40]))
    result = connector.apply_membership(chat_group(chatid), delta)
    assert result.calls == 2  # 60 adds and 30 removes fit in two calls of ≤40 + ≤40
    assert set(sandbox.chats[chatid]["useridlist"]) == set(people[:10]) | set(people[40:110])
    writes = sandbox.write_calls
    again = connector.apply_membership(chat_group(chatid), delta)
    assert again.calls == 0 and sandbox.write_calls == writes


def test_owner_handover_in_one_call(connector, sandbox, people):
    chatid = sandbox.add_chat(None, "T", "p000", people[:5])
    delta = MembershipDelta(add=frozenset(["p100"]), remove=frozenset(["p000"]), owner="p099")
    result = connector.apply_membership(chat_group(chatid), delta)
    chat = sandbox.chats[chatid]
    assert result.calls == 1
    assert (
        chat["owner"] == "p099"
        and {"p099", "p100"} <= set(chat["useridlist"])
        and "p000" not in chat["useridlist"]
    )


def test_removing_the_owner_needs_a_new_one(connector, sandbox, people):
    chatid = sandbox.add_chat(None, "T", "p000", people[:5])
    with pytest.raises(InvalidPayload):
        connector.apply_membership(chat_group(chatid), MembershipDelta(remove=frozenset(["p000"])))
    assert sandbox.chats[chatid]["owner"] == "p000"


def test_unknown_users_are_rejected_and_the_rest_applied(connector, sandbox, people):
    chatid = sandbox.add_chat(None, "T", "p000", people[:2])
    result = connector.apply_membership(chat_group(chatid), MembershipDelta(add=frozenset(["p010", "ghost"])))
    assert result.rejected == ("ghost",) and "p010" in sandbox.chats[chatid]["useridlist"]


def test_unknown_chat_is_not_found(connector):
    with pytest.raises(NotFound):
        connector.apply_membership(chat_group("chatnope"), MembershipDelta(add=frozenset(["p1"])))


def test_department_membership_moves_users(connector, sandbox):
    sandbox.add_department(2, "A")
    sandbox.add_user("a", "A", mobile="1", departments=[1])
    sandbox.add_user("b", "B", mobile="2", departments=[2])
    sandbox.add_user("c", "C", mobile="3", departments=[1, 2])
    dept = Group(service="dingtalk", kind="department", external_id="2", name="A")
    result = connector.apply_membership(
        dept, MembershipDelta(add=frozenset(["a", "ghost"]), remove=frozenset(["b", "c"]))
    )
    assert result.calls == 2 and set(result.rejected) == {"ghost", "b"}  # b would have no department left
    assert (sandbox.users["a"]["dept_id_list"], sandbox.users["c"]["dept_id_list"]) == ([1, 2], [1])
    assert connector.apply_membership(dept, MembershipDelta(add=frozenset(["a"]))).calls == 0


def test_runner_validates_before_the_connector(connector):
    with pytest.raises(InvalidPayload):
        Runner(connector).apply_membership(chat_group("c"), MembershipDelta())


# --- messages --------------------------------------------------------------------------


def test_send_message_batches_and_duplicates_are_dropped_by_the_service(connector, sandbox, people):
    result = connector.send_message(people, "Training tonight")
    assert result.calls == 2 and len(sandbox.messages) == 120
    again = connector.send_message(people[:3], "Training tonight")
    assert again.calls == 1 and len(sandbox.messages) == 120  # same text, same day: silently dropped


def test_work_notices_keep_to_5000_recipients_a_minute(sandbox, clock):
    userids = [sandbox.add_user(f"n{i:05d}", f"N{i}", mobile=f"137{i:08d}") for i in range(5200)]
    paced = DingTalkConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, clock=clock, sleep=clock.sleep)
    start = clock.now
    result = paced.send_message(userids, "Drill at nine")
    assert result.calls == 52
    assert len(sandbox.messages) == 5200  # nobody silently dropped
    assert clock.now - start >= 60  # the 51st batch waited for the first minute's recipients to age out


def test_past_5000_recipients_a_minute_dingtalk_answers_ok_and_delivers_nothing(sandbox, clock):
    userids = [sandbox.add_user(f"n{i:05d}", f"N{i}", mobile=f"137{i:08d}") for i in range(5100)]
    unpaced = DingTalkConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, clock=clock, sleep=clock.sleep)
    unpaced.client._pace_notices = False  # calls still spaced at the QPS limit, recipients not counted
    result = unpaced.send_message(userids, "Drill at nine")
    assert result.calls == 51 and len(sandbox.messages) == 5000


# --- faults ----------------------------------------------------------------------------


def test_recovers_from_early_token_revocation(sandbox, clock, people):
    connector = DingTalkConnector.from_sandbox(sandbox, retry=STRICT, clock=clock, sleep=clock.sleep)
    connector.check()
    sandbox.revoke_tokens()
    connector.check()
    assert connector.client.auth.fetches == 2


def test_timeout_after_the_service_acted_is_retried_as_a_noop(sandbox, clock, people):
    chatid = sandbox.add_chat(None, "T", "p000", people[:2])
    connector = DingTalkConnector.from_sandbox(
        sandbox,
        retry=RetryPolicy(attempts=3, backoff=0, jitter=0, sleep=clock.sleep),
        clock=clock,
        sleep=clock.sleep,
    )
    connector.check()  # requests 1-2: token, department/get
    sandbox.faults = FaultPlan(schedule={sandbox.requests + 2: "timeout"})  # the /chat/update after /chat/get
    result = connector.apply_membership(chat_group(chatid), MembershipDelta(add=frozenset(["p005"])))
    assert result.calls == 1 and sandbox.calls["POST /chat/update"] == 2
    assert sandbox.chats[chatid]["useridlist"].count("p005") == 1


def test_seeded_random_faults_do_not_lose_or_repeat_anything(clock):
    sandbox = DingTalkSandbox(
        clock=clock, faults=FaultPlan(seed=7, rate=0.2, kinds=("5xx", "drop", "ratelimit", "revoke"))
    )
    for i in range(30):
        sandbox.add_user(f"u{i}", f"U{i}", mobile=str(i))
    connector = DingTalkConnector.from_sandbox(
        sandbox,
        retry=RetryPolicy(attempts=8, backoff=0, jitter=0, sleep=clock.sleep),
        clock=clock,
        sleep=clock.sleep,
    )
    assert {a.external_id for a in connector.list_people()} == {f"u{i}" for i in range(30)}
    assert sum(sandbox.faults.injected.values()) > 0


def test_chat_create_sets_unknown_members_aside(connector, sandbox, people):
    spec = GroupSpec(kind="chat", name="Ops", owner="p000", members=("p001", "ghost", "p002"))
    result = connector.create_group(spec)
    assert result.rejected == ("ghost",) and result.calls == 2
    assert sandbox.chats[result.created_id]["useridlist"] == ["p000", "p001", "p002"]


def test_chat_needs_an_owner_and_tags_do_not_exist(connector):
    with pytest.raises(InvalidPayload):
        connector.create_group(GroupSpec(kind="chat", name="Nobody"))
    with pytest.raises(InvalidPayload):
        connector.get_group("tag", "1")
    with pytest.raises(InvalidPayload):
        connector.apply_membership(
            Group(service="dingtalk", kind="department", external_id="1", name=""),
            MembershipDelta(owner="p000"),
        )


def test_check_reads_through_a_seeded_5xx(sandbox, clock):
    sandbox.faults = FaultPlan(schedule={2: "5xx", 3: "5xx"})
    retry = RetryPolicy(attempts=3, backoff=0, jitter=0, sleep=clock.sleep)
    connector = DingTalkConnector.from_sandbox(sandbox, retry=retry, clock=clock, sleep=clock.sleep)
    connector.check()
    assert sandbox.calls["POST /topapi/v2/department/get"] == 3


def test_owner_change_to_a_present_member_alone(connector, sandbox, people):
    chatid = sandbox.add_chat(None, "T", "p000", people[:3])
    result = connector.apply_membership(chat_group(chatid), MembershipDelta(owner="p002"))
    assert result.calls == 1 and sandbox.chats[chatid]["owner"] == "p002"
    assert connector.apply_membership(chat_group(chatid), MembershipDelta(owner="p002")).calls == 0

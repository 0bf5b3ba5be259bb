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
from connectors.wecom import WeComConnector, WeComSandbox
from connectors.wecom.client import API_RATE, API_WINDOWS
from mappings.models import AccountSpec, Group, GroupSpec, Member, MembershipDelta


class Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def sandbox():
    s = WeComSandbox(clock=Clock())
    s.add_department(2, "Counselling")
    s.add_department(3, "Night shift", parent_id=2)
    s.add_user("alice", "Alice", mobile="+86 13800000001", departments=[2], leader_of=[2])
    s.add_user("bob", "Bob", email="bob@example.org", departments=[2, 3])
    s.add_user("carol", "Carol", mobile="13800000003", active=False)
    s.add_user("dave", "Dave", mobile="13800000004")
    return s


@pytest.fixture
def conn(sandbox):
    c = WeComConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, rate_limit=False)
    yield c
    c.close()


def chat(sandbox, chatid="night1"):
    sandbox.add_chat(chatid, "Night team", "alice", ["bob"])
    return Group(service="wecom", kind="chat", external_id=chatid, name="Night team", owner="alice")


def test_implements_the_capabilities(conn):
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
        assert isinstance(conn, protocol)
    assert conn.name == "wecom"


def test_check_and_bad_credentials(sandbox, conn):
    conn.check()
    bad = WeComConnector(
        base_url="http://wecom.sandbox",
        corpid=sandbox.corpid,
        corpsecret="wrong",
        agentid=1,
        transport=sandbox.transport(),
        retry=NO_RETRY_WAIT,
        rate_limit=False,
    )
    with pytest.raises(AuthError):
        bad.check()


# --- reads ----------------------------------------------------------------------------------


def test_list_people_in_one_call_as_the_service_gives_them(conn):
    people = {a.external_id: a for a in conn.list_people()}
    assert list(people) == ["alice", "bob", "carol", "dave"]
    assert people["alice"].mobile == "+86 13800000001" and people["alice"].email is None
    assert people["alice"].departments == ("2",) and people["alice"].leader_of == ("2",)
    assert people["bob"].departments == ("2", "3") and people["bob"].email == "bob@example.org"
    assert people["carol"].active is False and people["dave"].active is True
    assert conn.client.calls["/cgi-bin/user/list"] == 1


def test_list_people_pages_list_id_when_the_detail_list_is_refused(sandbox):
    for i in range(7):
        sandbox.add_user(f"v{i}", f"V{i}", mobile=f"1390000000{i}", departments=[2, 3])
    sandbox.legacy_contacts_blocked = True
    conn = WeComConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, rate_limit=False, page_size=4)
    people = list(conn.list_people())
    assert [a.external_id for a in people] == ["alice", "bob", "carol", "dave"] + [f"v{i}" for i in range(7)]
    assert people[4].departments == ("2", "3")
    assert conn.client.calls["/cgi-bin/user/list_id"] == 5  # 19 relations, 4 a page
    assert conn.client.calls["/cgi-bin/user/get"] == 11


def test_list_groups_departments_then_tags(sandbox, conn):
    sandbox.add_tag(7, "Counsellors", ["alice"])
    groups = list(conn.list_groups())
    assert [(g.kind, g.external_id, g.name, g.parent_id) for g in groups] == [
        ("department", "1", "root", None),
        ("department", "2", "Counselling", "1"),
        ("department", "3", "Night shift", "2"),
        ("tag", "7", "Counsellors", None),
    ]


def test_list_groups_falls_back_to_simplelist(sandbox):
    sandbox.legacy_contacts_blocked = True
    conn = WeComConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, rate_limit=False)
    assert [g.external_id for g in conn.list_groups()] == ["1", "2", "3"]


def test_get_group_each_kind_and_not_found(sandbox, conn):
    sandbox.add_tag(7, "Counsellors")
    chat(sandbox)
    assert conn.get_group("department", "3").parent_id == "2"
    assert conn.get_group("tag", "7").name == "Counsellors"
    assert conn.get_group("chat", "night1").owner == "alice"
    for kind, ident in (("department", "99"), ("tag", "99"), ("chat", "nope"), ("tag", "not-a-number")):
        with pytest.raises(NotFound):
            conn.get_group(kind, ident)
    with pytest.raises(InvalidPayload):
        conn.get_group("folder", "1")


def test_list_members(sandbox, conn):
    group = chat(sandbox)
    sandbox.add_tag(7, "Counsellors", ["bob", "alice"])
    tag = Group(service="wecom", kind="tag", external_id="7", name="Counsellors")
    dept = Group(service="wecom", kind="department", external_id="3", name="Night shift")
    assert list(conn.list_members(group)) == [
        Member(external_id="alice", level="owner"),
        Member(external_id="bob"),
    ]
    assert [m.external_id for m in conn.list_members(tag)] == ["bob", "alice"]
    assert [m.external_id for m in conn.list_members(dept)] == ["bob"]


# --- accounts -------------------------------------------------------------------------------


def test_create_account_twice_is_one_account(sandbox, conn):
    spec = AccountSpec(
        external_id="erin", name="Erin", mobile="13800000005", departments=("3",), leader_of=("3",)
    )
    assert conn.create_account(spec).created_id == "erin"
    again = conn.create_account(spec)
    assert again.created_id == "erin" and again.detail == "userid already exists"
    assert sandbox.users["erin"]["department"] == [3] and sandbox.users["erin"]["is_leader_in_dept"] == [1]
    with pytest.raises(AlreadyExists):
        conn.create_account(AccountSpec(external_id="frank", name="F", mobile="13800000005"))


def test_create_account_survives_a_lost_answer(sandbox):
    sandbox.faults = FaultPlan(schedule={2: "timeout"})  # 1 = gettoken, 2 = user/create acted, answer lost
    conn = WeComConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, rate_limit=False)
    assert (
        conn.create_account(AccountSpec(external_id="erin", name="Erin", mobile="13800000005")).created_id
        == "erin"
    )
    assert sandbox.write_calls == 2 and "erin" in sandbox.users


def test_update_account_fields(sandbox, conn):
    conn.update_account("alice", {"name": "Alice L", "email": "a@example.org"})
    assert sandbox.users["alice"]["name"] == "Alice L" and sandbox.users["alice"]["email"] == "a@example.org"
    conn.update_account("alice", {"departments": ["2", "3"]})  # keeps leading 2
    assert sandbox.users["alice"]["department"] == [2, 3] and sandbox.users["alice"]["is_leader_in_dept"] == [
        1,
        0,
    ]
    conn.update_account("alice", {"leader_of": ["3"]})
    assert sandbox.users["alice"]["is_leader_in_dept"] == [0, 1]
    conn.update_account("carol", {"active": True})
    assert sandbox.users["carol"]["status"] == 1
    with pytest.raises(InvalidPayload):
        conn.update_account("alice", {"tier": "1"})
    with pytest.raises(NotFound):
        conn.update_account("ghost", {"name": "G"})


def test_disable_account_keeps_it_inactive(sandbox, conn):
    assert conn.disable_account("dave").calls == 1
    assert sandbox.users["dave"]["status"] == 2
    assert {a.external_id: a.active for a in conn.list_people()}["dave"] is False
    with pytest.raises(NotFound):
        conn.disable_account("ghost")


# --- groups ---------------------------------------------------------------------------------


def test_create_department_with_and_without_id_and_rerun(sandbox, conn):
    made = conn.create_group(GroupSpec(kind="department", name="Training", parent_id="2"))
    assert made.created_id == "4" and sandbox.departments[4]["parentid"] == 2
    assert conn.create_group(GroupSpec(kind="department", name="Training", parent_id="2")).created_id == "4"
    assert conn.create_group(GroupSpec(kind="department", name="Intake", external_id="10")).created_id == "10"
    assert conn.create_group(GroupSpec(kind="department", name="Intake", external_id="10")).created_id == "10"
    with pytest.raises(AlreadyExists):
        conn.create_group(GroupSpec(kind="department", name="Other", external_id="10"))
    with pytest.raises(AlreadyExists):  # the name is taken under root by department 10
        conn.create_group(GroupSpec(kind="department", name="Intake", external_id="11"))
    assert len(sandbox.departments) == 5


def test_create_tag_with_members_and_rerun(sandbox, conn):
    made = conn.create_group(GroupSpec(kind="tag", name="Counsellors", members=("alice", "ghost")))
    assert made.created_id == "1" and made.rejected == ("ghost",) and made.calls == 2
    assert sandbox.tags[1]["userlist"] == ["alice"]
    again = conn.create_group(GroupSpec(kind="tag", name="Counsellors", members=("alice",)))
    assert again.created_id == "1" and again.calls == 1  # the create only: members already in


def test_create_chat_with_deterministic_id_twice_is_one_chat(sandbox, conn):
    spec = GroupSpec(
        kind="chat", name="Night team", owner="alice", members=("bob", "dave"), external_id="night7"
    )
    assert conn.create_group(spec).created_id == "night7"
    assert conn.create_group(spec).created_id == "night7"
    assert list(sandbox.chats) == ["night7"] and sandbox.chats["night7"]["owner"] == "alice"
    with pytest.raises(AlreadyExists):
        conn.create_group(spec.model_copy(update={"name": "Someone else's"}))


def test_create_chat_with_generated_id(sandbox, conn):
    made = conn.create_group(GroupSpec(kind="chat", name="Ad hoc", members=("bob", "dave")))
    assert sandbox.chats[made.created_id]["userlist"] == ["bob", "dave"]


# --- membership -----------------------------------------------------------------------------


def test_chat_delta_then_same_delta_is_a_no_op(sandbox, conn):
    group = chat(sandbox)
    change = MembershipDelta(add=frozenset({"dave"}), remove=frozenset({"bob"}))
    assert conn.apply_membership(group, change).calls == 1
    assert sandbox.chats["night1"]["userlist"] == ["alice", "dave"]
    writes = sandbox.write_calls
    again = conn.apply_membership(group, change)
    assert again.calls == 0 and sandbox.write_calls == writes


def test_chat_owner_handover_to_a_newcomer_in_order(sandbox, conn):
    group = chat(sandbox)
    result = conn.apply_membership(group, MembershipDelta(owner="dave", remove=frozenset({"alice"})))
    assert result.calls == 3
    assert sandbox.chats["night1"]["owner"] == "dave" and sandbox.chats["night1"]["userlist"] == [
        "bob",
        "dave",
    ]
    assert [m.level for m in conn.list_members(group)] == ["member", "owner"]


def test_chat_of_another_app_cannot_be_changed(sandbox, conn):
    sandbox.add_chat("theirs", "Theirs", "alice", ["bob"], created_by_app=False)
    group = Group(service="wecom", kind="chat", external_id="theirs", name="Theirs")
    with pytest.raises(Exception) as info:
        conn.apply_membership(group, MembershipDelta(add=frozenset({"dave"})))
    assert info.value.code == 86008


def test_tag_delta_batches_and_rejects(sandbox, conn):
    for i in range(1500):
        sandbox.add_user(f"u{i}", f"U{i}", mobile=f"15{i:09d}")
    sandbox.add_tag(7, "Everyone", ["alice"])
    tag = Group(service="wecom", kind="tag", external_id="7", name="Everyone")
    delta = MembershipDelta(
        add=frozenset({f"u{i}" for i in range(1500)} | {"ghost"}), remove=frozenset({"alice"})
    )
    result = conn.apply_membership(tag, delta)
    assert result.calls == 3 and result.rejected == ("ghost",)
    assert len(sandbox.tags[7]["userlist"]) == 1500
    assert (
        conn.apply_membership(tag, MembershipDelta(add=frozenset({"u1"}), remove=frozenset({"alice"}))).calls
        == 0
    )


def test_department_membership_goes_through_update_account(sandbox, conn):
    dept = Group(service="wecom", kind="department", external_id="2", name="Counselling")
    with pytest.raises(InvalidPayload):
        conn.apply_membership(dept, MembershipDelta(add=frozenset({"dave"})))


def test_runner_wraps_the_connector(sandbox, conn):
    group = chat(sandbox)
    result = Runner(conn).apply_membership(group, MembershipDelta(add=frozenset({" dave "})))
    assert result.calls == 1 and "dave" in sandbox.chats["night1"]["userlist"]


# --- messages -------------------------------------------------------------------------------


def test_send_message_batches_and_rejects(sandbox, conn):
    for i in range(1200):
        sandbox.add_user(f"u{i}", f"U{i}", mobile=f"15{i:09d}")
    ids = [f"u{i}" for i in range(1200)] + ["ghost", "carol"]  # carol is disabled
    result = conn.send_message(ids, "Training at 8")
    assert result.calls == 2 and result.rejected == ("carol", "ghost")
    assert len(sandbox.messages) == 1200


def test_send_message_all_invalid_is_rejected_not_raised(conn):
    assert conn.send_message(["ghost"], "hi").rejected == ("ghost",)


# --- resilience -----------------------------------------------------------------------------


def test_reads_survive_seeded_faults(sandbox):
    sandbox.faults = FaultPlan(seed=3, rate=0.3, kinds=("5xx", "ratelimit", "revoke", "drop", "timeout"))
    conn = WeComConnector.from_sandbox(
        sandbox, retry=RetryPolicy(attempts=8, backoff=0, jitter=0, sleep=lambda s: None), rate_limit=False
    )
    for _ in range(5):
        assert [a.external_id for a in conn.list_people()] == ["alice", "bob", "carol", "dave"]
    assert sum(sandbox.faults.injected.values()) > 0


def test_client_limiter_spaces_calls_on_the_injected_clock():
    now = [0.0]
    sandbox = WeComSandbox(clock=lambda: now[0])

    def sleep(seconds):
        now[0] += seconds

    conn = WeComConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, clock=lambda: now[0], sleep=sleep)
    for _ in range(12_000):
        conn.get_group("department", "1")
    # evenly spaced at the minute rate: 12,000 calls in ~73 s never put 10,000 in one sliding minute
    assert now[0] == pytest.approx(11_999 / API_RATE)
    assert conn.client.calls["/cgi-bin/department/get"] == 12_000  # none refused, none retried


def test_client_limiter_keeps_the_hourly_quota():
    from connectors._ratelimit import RateLimiter

    now = [0.0]
    limiter = RateLimiter(API_RATE, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s),
                          windows=API_WINDOWS)
    for _ in range(150_001):
        limiter.acquire("/cgi-bin/user/create")
    # the 150,001st call waits until the first has aged out of the hour
    assert now[0] == pytest.approx(3600.0)

import httpx
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
from connectors._errors import AlreadyExists, AuthError, InvalidPayload, NotFound, PermissionDenied
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


# --- two secrets: contacts-sync for users and departments, the app's for the rest ----------------


class Seen:
    """The sandbox behind a recorder: (API, kind of token the sandbox saw) for each business call."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.calls = []

    def __call__(self, request):
        response = self.sandbox(request)
        token = request.url.params.get("access_token")
        if token:
            kind = self.sandbox.token_kinds.get(token)
            self.calls.append((request.url.path.removeprefix("/cgi-bin/"), kind, response.json()["errcode"]))
        return response

    def kinds(self):
        """API → the set of token kinds it was sent with."""
        out = {}
        for name, kind, _ in self.calls:
            out.setdefault(name, set()).add(kind)
        return out


def seen_connector(sandbox, **kw):
    seen = Seen(sandbox)
    conn = WeComConnector.from_sandbox(
        sandbox, transport=httpx.MockTransport(seen), retry=NO_RETRY_WAIT, rate_limit=False, **kw
    )
    return conn, seen


def test_each_call_uses_the_token_of_the_secret_wecom_requires(sandbox):
    conn, seen = seen_connector(sandbox)
    chat(sandbox)
    night = Group(service="wecom", kind="chat", external_id="night1", name="Night team", owner="alice")
    conn.check()
    list(conn.list_people())
    list(conn.list_groups())
    conn.get_group("department", "2")
    list(conn.list_members(Group(service="wecom", kind="department", external_id="2", name="C")))
    conn.create_account(AccountSpec(external_id="erin", name="Erin", mobile="13800000005", departments=("2",)))
    conn.update_account("erin", {"departments": ["3"]})
    conn.disable_account("erin")
    conn.create_group(GroupSpec(kind="department", name="Training", parent_id="2"))
    conn.create_group(GroupSpec(kind="tag", name="Counsellors", members=("alice",)))
    conn.create_group(GroupSpec(kind="chat", name="Ad hoc", owner="bob", members=("dave",), external_id="adhoc"))
    conn.apply_membership(night, MembershipDelta(add=frozenset({"dave"})))
    conn.send_message(["alice", "bob"], "Training at 8")

    assert {errcode for *_, errcode in seen.calls} == {0}  # nothing refused (no 48002)
    kinds = seen.kinds()
    contacts = {n for n in kinds if n.startswith(("user/", "department/"))}
    assert contacts == {"department/simplelist", "user/list", "department/list", "department/get",
                        "user/simplelist", "user/create", "user/get", "user/update", "department/create"}
    assert all(kinds[n] == {"contacts"} for n in contacts)
    assert set(kinds) - contacts == {"tag/list", "tag/create", "tag/get", "tag/addtagusers", "appchat/get",
                                     "appchat/create", "appchat/update", "message/send"}
    assert all(kinds[n] == {"app"} for n in set(kinds) - contacts)
    assert sandbox.calls["GET /cgi-bin/gettoken"] == 2  # one token per secret, each cached
    assert conn.client.auth.app.fetches == 1 and conn.client.auth.contacts.fetches == 1
    assert conn.client.auth.fetches == 2
    # the counts callers read cover both tokens' calls
    assert sum(conn.client.calls.values()) == len(seen.calls)
    assert conn.client.writes == sandbox.write_calls


def test_the_two_token_caches_refresh_independently(sandbox):
    conn, seen = seen_connector(sandbox)
    conn.get_group("department", "1")  # the contacts token
    conn.client.get("tag/list")  # the app token
    sandbox.faults.schedule[sandbox.requests + 1] = "revoke"  # both tokens die before the next call
    conn.get_group("department", "1")
    assert (conn.client.auth.contacts.fetches, conn.client.auth.app.fetches) == (2, 1)
    conn.client.get("tag/list")
    assert (conn.client.auth.contacts.fetches, conn.client.auth.app.fetches) == (2, 2)
    assert sandbox.calls["GET /cgi-bin/gettoken"] == 4
    conn.get_group("department", "1")
    conn.client.get("tag/list")
    assert conn.client.auth.fetches == 4  # both fresh again: no more fetches
    assert [(n, k) for n, k, e in seen.calls if e == 42001] == [("department/get", "contacts"),
                                                                 ("tag/list", "app")]


def test_a_revoked_contacts_token_alone_is_refetched_alone(sandbox):
    conn, _ = seen_connector(sandbox)
    conn.get_group("department", "1")
    conn.client.get("tag/list")
    conn.client.auth.contacts.invalidate()  # only the contacts token is dropped
    conn.create_account(AccountSpec(external_id="erin", name="Erin", mobile="13800000005"))
    conn.client.get("tag/list")
    assert (conn.client.auth.contacts.fetches, conn.client.auth.app.fetches) == (2, 1)


def test_without_a_contacts_secret_contact_writes_are_refused_with_a_hint(sandbox):
    conn, seen = seen_connector(sandbox, contacts_secret=None)
    chat(sandbox)
    assert len(list(conn.list_people())) == 4  # reads work with the app token
    assert conn.get_group("chat", "night1").owner == "alice"
    with pytest.raises(PermissionDenied) as info:
        conn.create_account(AccountSpec(external_id="erin", name="Erin", mobile="13800000005"))
    assert info.value.code == 48002 and "contacts_secret" in str(info.value) and "通讯录同步" in str(info.value)
    assert "erin" not in sandbox.users
    assert {k for _, k, _ in seen.calls} == {"app"} and conn.client.auth.contacts is None


def test_a_sandbox_modelling_the_single_secret_setup_takes_every_call_on_the_app_token():
    sandbox = WeComSandbox(clock=Clock(), contacts_secret_required=False)
    sandbox.add_user("alice", "Alice", mobile="13800000001")
    sandbox.add_user("bob", "Bob", mobile="13800000002")
    conn, seen = seen_connector(sandbox, contacts_secret=None)
    conn.create_account(AccountSpec(external_id="erin", name="Erin", mobile="13800000005"))
    conn.create_group(GroupSpec(kind="chat", name="Ad hoc", members=("alice", "erin")))
    assert {(k, e) for _, k, e in seen.calls} == {("app", 0)}
    assert sandbox.calls["GET /cgi-bin/gettoken"] == 1


def test_a_wrong_app_secret_shows_on_the_first_app_call(sandbox):
    creds = sandbox.credentials
    conn = WeComConnector(
        base_url="http://wecom.sandbox", corpid=creds["corpid"], corpsecret="wrong", agentid=creds["agentid"],
        contacts_secret=creds["contacts_secret"], transport=sandbox.transport(), retry=NO_RETRY_WAIT,
        rate_limit=False,
    )
    conn.check()  # a contacts read: the contacts-sync secret is right
    with pytest.raises(AuthError) as info:
        conn.send_message(["alice"], "hi")
    assert info.value.code == 40001 and "wrong" not in str(info.value)
    assert sandbox.messages == []

"""FeishuConnector against FeishuSandbox: listing, safe chat writes, doc access, faults, exact call counts."""

from __future__ import annotations

from collections import Counter

import pytest

from connectors._errors import InvalidPayload, NotFound, PermissionDenied
from connectors._http import RetryPolicy
from connectors._sandbox import FaultPlan
from connectors.feishu import FeishuConnector, FeishuSandbox
from mappings.models import AccessDelta, Group, GroupSpec, Member, MembershipDelta

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
    for name in ("ou_a", "ou_b", "ou_c"):
        sb.add_user(name, name.upper(), mobile="13800000000", departments=["0", "2"] if name == "ou_a" else ["0"])
    return sb


@pytest.fixture
def connector(sandbox, clock) -> FeishuConnector:
    retry = RetryPolicy(attempts=3, backoff=0.0, jitter=0.0, sleep=clock.sleep)
    c = FeishuConnector.from_sandbox(sandbox, retry=retry, clock=clock, sleep=clock.sleep)
    yield c
    c.close()


def chat_group(sandbox) -> Group:
    chat = sandbox.add_chat("oc_1", "Night", "ou_a", ["ou_b"])
    return Group(service="feishu", kind="chat", external_id=chat, name="Night", owner="ou_a")


def doc_group(sandbox) -> Group:
    doc = sandbox.add_doc("doxcn1", "docx", "Register", "ou_a")
    return Group(service="feishu", kind="doc", external_id=doc, name="Register")


def test_check_fetches_a_token_and_reads_the_root(connector, sandbox):
    connector.check()
    assert sandbox.calls == Counter({f"POST {API}/auth/v3/tenant_access_token/internal": 1,
                                     f"GET {API}/contact/v3/departments/0": 1})


def test_list_people_walks_departments_and_pages_once_per_person(connector, sandbox):
    for i in range(60):
        sandbox.add_user(f"ou_{i:03d}", f"U{i}", departments=["0"])
    people = list(connector.list_people())
    assert len(people) == 63 and len({p.external_id for p in people}) == 63
    a = next(p for p in people if p.external_id == "ou_a")
    assert a.departments == ("0", "2") and a.union_id.startswith("on_") and a.mobile == "13800000000"
    assert sandbox.calls[f"GET {API}/contact/v3/users/find_by_department"] == 3  # root 2 pages, dept 2 one


def test_list_groups_has_departments_and_chats(connector, sandbox):
    chat_group(sandbox)
    groups = list(connector.list_groups())
    assert [(g.kind, g.external_id, g.parent_id) for g in groups] == [
        ("department", "0", None), ("department", "2", "0"), ("chat", "oc_1", None)]
    assert groups[-1].owner == "ou_a"


def test_members_with_owner_level(connector, sandbox):
    group = chat_group(sandbox)
    assert list(connector.list_members(group)) == [Member(external_id="ou_a", level="owner"),
                                                   Member(external_id="ou_b")]


def test_owner_change_adds_first_then_transfers_then_removes_and_never_sends_232076(connector, sandbox):
    group = chat_group(sandbox)
    result = connector.apply_membership(group, MembershipDelta(remove=frozenset({"ou_a"}), owner="ou_c"))
    chat = sandbox.chats["oc_1"]
    assert (chat["owner_id"], chat["members"]) == ("ou_c", ["ou_b", "ou_c"])
    assert result.calls == 3
    assert sandbox.write_calls == 3
    again = connector.apply_membership(group, MembershipDelta(remove=frozenset({"ou_a"}), owner="ou_c"))
    assert again.calls == 0 and sandbox.write_calls == 3


def test_removing_the_owner_without_a_successor_sends_nothing(connector, sandbox):
    group = chat_group(sandbox)
    with pytest.raises(InvalidPayload):
        connector.apply_membership(group, MembershipDelta(remove=frozenset({"ou_a"})))
    assert sandbox.write_calls == 0


def test_unknown_ids_are_rejected_not_fatal(connector, sandbox):
    group = chat_group(sandbox)
    result = connector.apply_membership(group, MembershipDelta(add=frozenset({"ou_c", "ou_ghost"})))
    assert result.rejected == ("ou_ghost",) and "ou_c" in sandbox.chats["oc_1"]["members"]


def test_chat_not_found_and_bot_not_in_chat(connector, sandbox):
    with pytest.raises(NotFound):
        connector.get_group("chat", "oc_missing")
    group = chat_group(sandbox)
    sandbox.chats["oc_1"]["bot_in"] = False
    with pytest.raises(PermissionDenied):
        connector.apply_membership(group, MembershipDelta(add=frozenset({"ou_c"})))


def test_create_chat_is_idempotent_by_spec_external_id(connector, sandbox):
    spec = GroupSpec(kind="chat", name="Intake", owner="ou_a", members=("ou_b", "ou_c"), external_id="plan-42")
    first = connector.create_group(spec)
    second = connector.create_group(spec)
    assert first.created_id == second.created_id and len(sandbox.chats) == 1
    assert sandbox.chats[first.created_id]["members"] == ["ou_a", "ou_b", "ou_c"]


def test_send_message_one_per_recipient(connector, sandbox):
    result = connector.send_message(["ou_b", "ou_a"], "hello")
    assert result.calls == 2 and sandbox.messages == [("ou_a", "hello"), ("ou_b", "hello")]


def test_send_message_resent_after_a_timeout_is_delivered_once(connector, sandbox):
    connector.check()
    sandbox.faults.schedule[sandbox.requests + 1] = "timeout"
    connector.send_message(["ou_b"], "hello")
    assert sandbox.messages == [("ou_b", "hello")]
    assert sandbox.calls[f"POST {API}/im/v1/messages"] == 2


def test_doc_access_is_read_first_and_idempotent(connector, sandbox):
    group = doc_group(sandbox)
    sandbox.grant("doxcn1", "ou_b", "view")
    delta = AccessDelta(grant={"ou_b": "edit", "ou_c": "manage"})
    assert connector.apply_access(group, delta).calls == 2
    assert list(connector.list_grants(group)) == [Member(external_id="ou_b", level="edit"),
                                                  Member(external_id="ou_c", level="manage")]
    writes = sandbox.write_calls
    assert connector.apply_access(group, delta).calls == 0 and sandbox.write_calls == writes
    assert connector.apply_access(group, AccessDelta(revoke=frozenset({"ou_c", "ou_x"}))).calls == 1
    assert set(sandbox.docs["doxcn1"]["members"]) == {"ou_b"}


def test_doc_type_mismatch_is_invalid_payload(connector, sandbox):
    sandbox.add_doc("shtcn1", "sheet", "Hours", "ou_a")
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
    connector.transfer_owner(group, "ou_b")
    assert sandbox.docs["doxcn1"]["owner"] == "ou_b"
    assert list(connector.list_grants(group)) == [Member(external_id="ou_a", level="view")]


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

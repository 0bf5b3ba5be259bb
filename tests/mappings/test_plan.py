from datetime import date

import pytest

from mappings.desired import desired_state
from mappings.guards import guard_plan
from mappings.identity import PeopleIndex, resolve
from mappings.models import Account, Group, Member, Observed, Person, RoleAssignment
from mappings.plan import Context, build_plan, plan_service
from mappings.policy import parse_policy_text

POLICY = parse_policy_text("""
roles: {coordinator: {name: 协调员}, counsellor: {name: 心理咨询师}}
teams: {community: {name: 社区服务组}}
services:
  wecom: {unknown_members: keep}
resources:
  wecom:
    - {key: community, kind: department, name: 社区服务组}
    - {key: training, kind: department, name: 培训组}
    - {key: all-hands, kind: chat, name: 全体志愿者}
    - {key: counsellors, kind: tag, name: 心理咨询师}
rules:
  - name: everyone
    grant: {resource: wecom/all-hands}
  - name: community-team
    when: {team: community}
    grant: {resource: wecom/community}
  - name: coordinators
    when: {role: coordinator}
    grant: [{resource: wecom/all-hands, level: owner}, {resource: wecom/community, level: manage}]
  - name: counsellors
    when: {role: counsellor}
    grant: {resource: wecom/counsellors}
""")
TODAY = date(2026, 11, 21)


def person(n, **kw):
    kw.setdefault("mobile", f"+86138000000{n:02d}")
    return Person(id=f"P{n:06d}", name=f"志愿者{n}", **kw)


def account(n, **kw):
    kw.setdefault("mobile", f"138000000{n:02d}")
    return Account(service="wecom", external_id=f"u{n}", name=f"志愿者{n}", **kw)


def make_plan(people, observed, *, known_ids=None, allow_removals=False):
    desired = desired_state(people, POLICY, TODAY)["wecom"]
    res = resolve("wecom", observed.accounts, PeopleIndex(people), {})
    ctx = plan_service(Context("wecom", POLICY, desired, observed, res, {p.id: p for p in people},
                               known_ids=known_ids or {}))
    changes, refused = guard_plan(ctx.changes, {"wecom": observed}, POLICY.guards, allow_removals=allow_removals)
    ctx.changes, ctx.refused = changes, ctx.refused + refused
    return build_plan([ctx], basis="b")


def rows(plan):
    return [(c.op, c.target, c.object_id, c.after) for c in plan.changes]


def test_empty_service_gets_departments_accounts_then_groups_in_api_order():
    people = [person(1, team="community"), person(2, roles=(RoleAssignment(role="coordinator"),))]
    plan = make_plan(people, Observed(service="wecom"))
    assert rows(plan) == [
        ("add", "department:community", "*", {"name": "社区服务组", "parent": "1"}),
        ("add", "department:training", "*", {"name": "培训组", "parent": "1"}),
        ("add", "account", "P000001", {"name": "志愿者1", "mobile": "13800000001", "email": None,
                                        "departments": ["@community"], "leader_of": []}),
        ("add", "account", "P000002", {"name": "志愿者2", "mobile": "13800000002", "email": None,
                                        "departments": ["@community"], "leader_of": ["@community"]}),
        ("add", "chat:all-hands", "*", {"kind": "chat", "name": "全体志愿者", "members": ["mp000001", "mp000002"],
                                        "owner": "mp000002", "proposed_id": "mallhands"}),
        ("add", "tag:counsellors", "*", {"kind": "tag", "name": "心理咨询师", "members": [], "owner": None,
                                         "proposed_id": None}),
    ]
    assert plan.changes[4].rules == ("coordinators", "everyone")
    # the counsellors tag has nobody yet: created empty, ready for the first counsellor
    assert [r.reason for r in plan.refused] == []


def existing(people_n, *, members, owner="u1", tag_members=()):
    return Observed(
        service="wecom",
        accounts=[account(n, departments=("1", "10")) for n in people_n],
        groups=[Group(service="wecom", kind="department", external_id="10", name="社区服务组"),
                Group(service="wecom", kind="department", external_id="11", name="培训组"),
                Group(service="wecom", kind="tag", external_id="5", name="心理咨询师"),
                Group(service="wecom", kind="chat", external_id="chat1", name="全体志愿者", owner=owner)],
        members={"chat1": [Member(external_id=f"u{n}", level="owner" if f"u{n}" == owner else "member")
                           for n in members],
                 "5": [Member(external_id=m) for m in tag_members]},
    )


def test_in_sync_service_plans_nothing():
    people = [person(n, team="community") for n in range(1, 4)]
    plan = make_plan(people, existing([1, 2, 3], members=[1, 2, 3]), known_ids={"all-hands": "chat1"})
    assert plan.changes == [] and plan.refused == []


def test_leaver_owner_hands_over_before_removal_and_stranger_is_kept():
    people = [person(n, team="community") for n in range(1, 12)]
    people[0] = person(1, team="community", status="left")
    people[1] = person(2, team="community", roles=(RoleAssignment(role="coordinator"),))
    observed = existing(range(1, 12), members=[*range(1, 12), 99], owner="u1")
    observed.accounts.append(Account(service="wecom", external_id="u99", name="陌生人", mobile="13999999999"))
    plan = make_plan(people, observed, known_ids={"all-hands": "chat1"})
    assert [(c.op, c.target, c.object_id) for c in plan.changes] == [
        ("change", "account", "P000002", ),
        ("change", "chat:all-hands", "P000002"),
        ("remove", "chat:all-hands", "P000001"),
        ("remove", "account", "P000001"),
    ]
    assert plan.changes[0].after == {"leader_of": ["10"]}
    assert plan.changes[1].before == "u1" and plan.changes[1].after == "owner"
    assert "has left" in plan.changes[2].reason
    assert [r.reason.split(" (")[0] for r in plan.refused] == [
        "kept 1 member(s) of 全体志愿者 who match no one in the roster"]


def test_removal_wave_above_ten_percent_is_held_unless_allowed():
    people = [person(n, team="community") for n in range(1, 11)]
    people = [p if int(p.id[1:]) > 2 else p.model_copy(update={"status": "left"}) for p in people]
    observed = existing(range(1, 11), members=range(1, 11), owner="u5")
    plan = make_plan(people, observed, known_ids={"all-hands": "chat1"})
    assert [c.op for c in plan.changes] == []
    reasons = [r.reason for r in plan.refused]
    assert any("held 2 removal(s) from chat:all-hands: 20% of its 10 members" in r for r in reasons)
    assert any("held 2 removal(s) from account" in r for r in reasons)
    allowed = make_plan(people, observed, known_ids={"all-hands": "chat1"}, allow_removals=True)
    assert [(c.op, c.target) for c in allowed.changes] == [("remove", "chat:all-hands")] * 2 + [("remove", "account")] * 2


def test_failed_read_never_removes():
    people = [person(n, team="community", status="left" if n == 1 else "active") for n in range(1, 30)]
    observed = existing(range(1, 30), members=range(1, 30), owner="u5")
    observed.complete = False
    plan = make_plan(people, observed, known_ids={"all-hands": "chat1"}, allow_removals=True)
    assert all(c.op != "remove" for c in plan.changes)
    assert "its read failed" in plan.refused[0].reason


def test_wrong_level_and_tag_membership_and_reenable():
    people = [person(1, team="community", roles=(RoleAssignment(role="counsellor"),)), person(2)]
    observed = existing([1, 2], members=[1, 2], owner="u1", tag_members=["u2"])
    observed.accounts[0] = account(1, departments=("10",), leader_of=("10",), active=False)
    plan = make_plan(people, observed, known_ids={"all-hands": "chat1"}, allow_removals=True)
    got = {(c.op, c.target, c.object_id): (c.before, c.after) for c in plan.changes}
    assert got[("change", "account", "P000001")] == (
        {"leader_of": ["10"], "active": False}, {"leader_of": [], "active": True})
    assert got[("add", "tag:counsellors", "P000001")] == (None, "member")
    assert got[("remove", "tag:counsellors", "P000002")] == ("member", None)
    # P000002 is not in the community team: removed from that managed department, unmanaged root kept
    assert got[("change", "account", "P000002")] == ({"departments": ["1", "10"]}, {"departments": ["1"]})


def test_roles_outside_their_dates_grant_nothing():
    people = [person(1, roles=(RoleAssignment(role="counsellor", end=date(2026, 1, 1)),)), person(2)]
    plan = make_plan(people, existing([1, 2], members=[1, 2], tag_members=["u1"]), known_ids={"all-hands": "chat1"},
                     allow_removals=True)
    assert [(c.op, c.target, c.object_id) for c in plan.changes if c.target.startswith("tag")] == [
        ("remove", "tag:counsellors", "P000001")]


@pytest.mark.parametrize("size", [1])
def test_chat_needs_two_members_to_be_created(size):
    plan = make_plan([person(1)], Observed(service="wecom", accounts=[account(1)]))
    assert any("needs at least 2 members" in r.reason for r in plan.refused)
    assert all(not c.target.startswith("chat") for c in plan.changes)


def test_plan_is_deterministic_and_keys_stable():
    people = [person(n, team="community") for n in range(1, 6)]
    a = make_plan(people, Observed(service="wecom"))
    b = make_plan(list(reversed(people)), Observed(service="wecom"))
    assert [c.key for c in a.changes] == [c.key for c in b.changes]
    assert a.id == b.id

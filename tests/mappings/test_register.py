from datetime import date
from types import SimpleNamespace

import pytest

from mappings.models import Account, Group, Member, Observed, Person, RoleAssignment
from mappings.policy import parse_policy_text
from mappings.register import RegisterRow, build_register, diff, managed_ids
from mappings.services import SERVICES

POLICY = parse_policy_text("""\
version: 1
roles:
  coordinator: {name: 协调人}
  volunteer: {name: 志愿者}
teams:
  community: {name: 社区服务组}
tiers: [一线, 三线]
resources:
  wecom:
    - {key: community, kind: department, name: 社区服务组}
    - {key: all-hands, kind: chat, name: 全体志愿者, external_id: chat1}
    - {key: counsellors, kind: tag, name: 心理咨询师}
  feishu:
    - {key: handbook, kind: doc, name: 志愿者手册, external_id: 'docx:AbCd1234'}
rules:
  - name: everyone
    grant: {resource: wecom/all-hands}
  - name: team-community
    when: {team: community}
    grant: {resource: wecom/community}
  - name: community-leads
    when: {team: community, role: coordinator}
    grant: {resource: wecom/community, level: manage}
  - name: readers
    when: {team: community}
    grant: {resource: feishu/handbook, level: view}
  - name: editors
    when: {role: coordinator}
    grant: {resource: feishu/handbook, level: edit}
""")
TODAY = date(2026, 11, 20)
PEOPLE = [
    Person(id="P1", name="张三", team="community", tier="三线", roles=(RoleAssignment(role="coordinator"),)),
    Person(id="P2", name="李四", team="community", tier="一线", roles=(RoleAssignment(role="volunteer"),)),
    Person(id="P3", name="王五", tier="一线", roles=(RoleAssignment(role="volunteer"),)),
    Person(id="P4", name="赵六", tier="一线", status="applicant"),
]
WECOM = Observed(
    service="wecom",
    accounts=[
        Account(service="wecom", external_id="wx1", name="张三", departments=("1", "10"), leader_of=("10",)),
        Account(service="wecom", external_id="wx2", name="李四", departments=("10",)),
        Account(service="wecom", external_id="wx3", name="王五", departments=("1",), active=False),
        Account(service="wecom", external_id="wx9", name="路人", departments=("10",)),
    ],
    groups=[
        Group(service="wecom", kind="department", external_id="1", name="root"),
        Group(service="wecom", kind="department", external_id="10", name="社区服务组", parent_id="1"),
        Group(service="wecom", kind="chat", external_id="chat1", name="全体志愿者", owner="wx1"),
        Group(service="wecom", kind="tag", external_id="7", name="心理咨询师"),
        Group(service="wecom", kind="chat", external_id="chat9", name="闲聊群", owner="wx3"),
    ],
    members={
        "chat1": [Member(external_id="wx1", level="owner"), Member(external_id="wx2"), Member(external_id="wx9")],
        "7": [Member(external_id="wx2")],
        "chat9": [Member(external_id="wx2")],  # the owner wx3 is not listed: the group names it
    },
)
FEISHU = Observed(
    service="feishu",
    accounts=[Account(service="feishu", external_id=f"ou{i}") for i in (1, 2, 3)],
    groups=[Group(service="feishu", kind="doc", external_id="docx:AbCd1234", name="志愿者手册", owner="ou1")],
    members={"docx:AbCd1234": [Member(external_id="ou2", level="edit"), Member(external_id="ou3", level="view")]},
)
LINKS = {"wecom": {"wx1": "P1", "wx2": "P2", "wx3": "P3"}, "feishu": {"ou1": "P1", "ou2": "P2", "ou3": "P3"}}
KNOWN = {"wecom": {"counsellors": "7"}}


def register(observed=(WECOM, FEISHU), known=KNOWN):
    return build_register({o.service: o for o in observed}, identities=LINKS, people=PEOPLE, policy=POLICY,
                          known_ids=known, today=TODAY)


def cells(reg):
    return {(r.service, r.resource_id, r.account): (r.person_id, r.member, r.level, r.owner, r.policy_key, r.why)
            for r in reg.rows}


@pytest.mark.parametrize(("key", "expected"), [
    # the rules that grant a member are its why; a leader manages the department
    (("wecom", "10", "wx1"), ("P1", "张三", "manage", False, "community", "community-leads, team-community")),
    (("wecom", "10", "wx2"), ("P2", "李四", "member", False, "community", "team-community")),
    # an account no one in the roster holds is named by its raw id; on a managed resource it is drift
    (("wecom", "10", "wx9"), ("", "wx9", "member", False, "community",
                              "not granted by any rule; matches no one in the roster")),
    # a resource the policy does not name is unmanaged
    (("wecom", "1", "wx1"), ("P1", "张三", "member", False, "", "unmanaged")),
    (("wecom", "1", "wx3"), ("P3", "王五", "member", False, "", "unmanaged; account disabled")),
    (("wecom", "chat1", "wx1"), ("P1", "张三", "owner", True, "all-hands", "everyone")),
    (("wecom", "chat1", "wx2"), ("P2", "李四", "member", False, "all-hands", "everyone")),
    # a tag known by the id Muster recorded; a member no rule grants
    (("wecom", "7", "wx2"), ("P2", "李四", "member", False, "counsellors", "not granted by any rule")),
    # a chat's owner is a member even when the member list leaves it out
    (("wecom", "chat9", "wx3"), ("P3", "王五", "owner", True, "", "unmanaged; account disabled")),
    (("wecom", "chat9", "wx2"), ("P2", "李四", "member", False, "", "unmanaged")),
    # a document's owner; a grant wider than the policy's; a grant no rule gives
    (("feishu", "docx:AbCd1234", "ou1"), ("P1", "张三", "owner", True, "handbook", "editors, readers")),
    (("feishu", "docx:AbCd1234", "ou2"), ("P2", "李四", "edit", False, "handbook", "readers; policy says view")),
    (("feishu", "docx:AbCd1234", "ou3"), ("P3", "王五", "view", False, "handbook", "not granted by any rule")),
])
def test_each_member_of_each_resource_is_a_row_with_its_reason(key, expected):
    assert cells(register())[key] == expected


def test_every_reported_membership_is_one_row_and_nothing_else():
    assert sorted(cells(register())) == sorted([
        ("wecom", "1", "wx1"), ("wecom", "1", "wx3"), ("wecom", "10", "wx1"), ("wecom", "10", "wx2"),
        ("wecom", "10", "wx9"), ("wecom", "chat1", "wx1"), ("wecom", "chat1", "wx2"), ("wecom", "chat1", "wx9"),
        ("wecom", "7", "wx2"), ("wecom", "chat9", "wx2"), ("wecom", "chat9", "wx3"),
        ("feishu", "docx:AbCd1234", "ou1"), ("feishu", "docx:AbCd1234", "ou2"), ("feishu", "docx:AbCd1234", "ou3"),
    ])


def test_rows_carry_kind_and_name_and_come_in_register_order():
    reg = register()
    assert [(r.service, r.kind, r.resource) for r in reg.rows[:3]] == [
        ("feishu", "doc", "志愿者手册")] * 3
    wecom = reg.for_service("wecom")
    assert [r.kind for r in wecom] == sorted((r.kind for r in wecom),
                                             key=["department", "tag", "chat"].index)
    assert reg.services == ["feishu", "wecom"]
    assert next(r for r in wecom if r.resource_id == "7").rules == ()
    assert next(r for r in wecom if r.resource_id == "10" and r.account == "wx1").rules == (
        "community-leads", "team-community")


def test_a_tag_not_yet_recorded_is_found_by_its_unique_name_like_the_planner_does():
    reg = register(known={})
    assert cells(reg)[("wecom", "7", "wx2")][4:] == ("counsellors", "not granted by any rule")


def test_a_chat_is_never_matched_by_name():
    groups = [Group(service="wecom", kind="chat", external_id="c2", name="全体志愿者")]
    policy = parse_policy_text(
        "version: 1\nresources:\n  wecom:\n    - {key: all, kind: chat, name: 全体志愿者}\n"
        "    - {key: t, kind: tag, name: 医生}\n")
    assert managed_ids("wecom", policy, {}, groups) == {}
    tags = [Group(service="wecom", kind="tag", external_id=i, name="医生") for i in ("8", "9")]
    assert managed_ids("wecom", policy, {}, tags) == {}  # two tags share the name: neither is taken
    assert set(managed_ids("wecom", policy, {"all": "c2"}, groups)) == {("chat", "c2")}


def test_services_the_policy_does_not_name_are_all_unmanaged():
    scim = Observed(service="scim", accounts=[Account(service="scim", external_id="u1")],
                    groups=[Group(service="scim", kind="tag", external_id="g", name="all")],
                    members={"g": [Member(external_id="u1")]})
    (row,) = register(observed=(scim,)).rows
    assert (row.member, row.why, row.policy_key) == ("u1", "unmanaged; matches no one in the roster", "")


def test_services_kept_by_hand_say_their_rows_were_confirmed_by_hand(monkeypatch):
    monkeypatch.setitem(SERVICES, "wecom", SimpleNamespace(manual=True))
    rows = cells(register(observed=(WECOM,)))
    assert rows[("wecom", "chat1", "wx2")][5] == "everyone; confirmed by hand"
    assert rows[("wecom", "1", "wx1")][5] == "unmanaged; confirmed by hand"


def test_members_an_open_work_item_asked_for_are_pending_by_hand_not_confirmed(monkeypatch):
    monkeypatch.setitem(SERVICES, "wecom", SimpleNamespace(manual=True))
    reg = build_register({"wecom": WECOM}, identities=LINKS, people=PEOPLE, policy=POLICY, known_ids=KNOWN,
                         today=TODAY, pending={("wecom", "chat1", "wx9"): 7, ("wecom", "7", "wx2"): 8})
    rows = cells(reg)
    assert rows[("wecom", "chat1", "wx9")][5] == ("not granted by any rule; matches no one in the roster; "
                                                  "pending by hand (work item W7)")
    assert rows[("wecom", "7", "wx2")][5] == "not granted by any rule; pending by hand (work item W8)"
    # the same account elsewhere, and the chat's other members, stay confirmed
    assert rows[("wecom", "chat1", "wx2")][5] == "everyone; confirmed by hand"
    assert rows[("wecom", "10", "wx9")][5].endswith("; confirmed by hand")


def test_pending_members_of_a_service_with_an_api_are_not_marked():
    rows = cells(build_register({"wecom": WECOM}, identities=LINKS, people=PEOPLE, policy=POLICY, known_ids=KNOWN,
                                today=TODAY, pending={("wecom", "chat1", "wx9"): 7}))
    assert rows[("wecom", "chat1", "wx9")][5] == "not granted by any rule; matches no one in the roster"


def test_the_people_view_lists_each_persons_accounts_and_reach():
    reg = register()
    by_id = {e.person.id: e for e in reg.people}
    assert list(by_id) == ["P1", "P2", "P3", "P4"]
    assert by_id["P1"].accounts == (("feishu", "ou1"), ("wecom", "wx1"))
    assert [(r.service, r.resource, r.level) for r in by_id["P1"].reach] == [
        ("feishu", "志愿者手册", "owner"), ("wecom", "root", "member"), ("wecom", "社区服务组", "manage"),
        ("wecom", "全体志愿者", "owner")]
    assert by_id["P4"].accounts == () and by_id["P4"].reach == ()
    assert all(r.person_id for e in reg.people for r in e.reach)


def _row(account="wx1", level="member", resource_id="chat1", why="everyone"):
    return RegisterRow(service="wecom", kind="chat", resource="全体志愿者", resource_id=resource_id,
                       policy_key="all-hands", account=account, person_id="", member=account, level=level,
                       owner=level == "owner", why=why)


def test_diff_finds_added_removed_and_level_changes_only():
    old = [_row("wx1"), _row("wx2"), _row("wx3", level="owner"), _row("wx4")]
    new = [_row("wx1", why="a new rule name: not a change"), _row("wx3"), _row("wx4", level="owner"),
           _row("wx5"), _row("wx2", resource_id="chat2")]
    d = diff(old, new)
    assert [(r.resource_id, r.account) for r in d.added] == [("chat1", "wx5"), ("chat2", "wx2")]
    assert [r.account for r in d.removed] == ["wx2"]
    assert [(o.account, o.level, n.level) for o, n in d.changed] == [("wx3", "owner", "member"),
                                                                    ("wx4", "member", "owner")]
    assert len(d) == 5


def test_diff_of_a_register_with_itself_is_empty():
    rows = register().rows
    assert len(diff(rows, list(reversed(rows)))) == 0

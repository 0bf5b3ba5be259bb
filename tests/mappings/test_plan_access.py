"""Document and folder access as first-class grants: role/team/tier → doc or folder → level."""

from datetime import date

import pytest

from config._yaml import ConfigError
from mappings.desired import desired_state
from mappings.guards import guard_plan
from mappings.identity import PeopleIndex, resolve
from mappings.models import Account, Group, Member, Observed, Person, RoleAssignment
from mappings.plan import Context, build_plan, plan_service
from mappings.policy import parse_policy_text

DOC = "docx:doxcnHandbook0001"
FOLDER = "folder:fldcnCases00001"
POLICY_TEXT = f"""
roles: {{coordinator: {{name: 协调员}}, counsellor: {{name: 心理咨询师}}}}
teams: {{psych: {{name: 心理组}}}}
tiers: [一线, 三线]
resources:
  feishu:
    - {{key: handbook, kind: doc, name: 志愿者手册, external_id: "{DOC}"}}
    - {{key: cases, kind: folder, name: 个案资料, external_id: "{FOLDER}"}}
rules:
  - name: everyone-reads
    grant: {{resource: feishu/handbook, level: view}}
  - name: coordinators-edit
    when: {{role: coordinator}}
    grant: [{{resource: feishu/handbook, level: edit}}, {{resource: feishu/cases, level: manage}}]
  - name: psych-cases
    when: {{team: psych, tier: 三线}}
    grant: {{resource: feishu/cases, level: view}}
"""
POLICY = parse_policy_text(POLICY_TEXT)
TODAY = date(2026, 11, 21)


def person(n, **kw):
    return Person(id=f"P{n:06d}", name=f"志愿者{n}", mobile=f"+86138000000{n:02d}", **kw)


def account(n):
    return Account(service="feishu", external_id=f"u{n}", name=f"志愿者{n}", mobile=f"138000000{n:02d}",
                   departments=("0",))


def observed(grants_doc=(), grants_folder=(), owner="u9", people=range(1, 10)):
    return Observed(
        service="feishu",
        accounts=[account(n) for n in people],
        groups=[Group(service="feishu", kind="doc", external_id=DOC, name="志愿者手册", owner=owner),
                Group(service="feishu", kind="folder", external_id=FOLDER, name="个案资料", owner=owner)],
        members={DOC: [Member(external_id=e, level=lvl) for e, lvl in grants_doc],
                 FOLDER: [Member(external_id=e, level=lvl) for e, lvl in grants_folder]})


def make_plan(people, obs, *, allow_removals=True, policy=POLICY):
    desired = desired_state(people, policy, TODAY)["feishu"]
    res = resolve("feishu", obs.accounts, PeopleIndex(people), {})
    ctx = plan_service(Context("feishu", policy, desired, obs, res, {p.id: p for p in people}))
    changes, held = guard_plan(ctx.changes, {"feishu": obs}, policy.guards, allow_removals=allow_removals)
    ctx.changes, ctx.refused = changes, ctx.refused + held
    return build_plan([ctx], basis="b")


def access_rows(plan):
    return [(c.op, c.target, c.object_id, c.before, c.after) for c in plan.changes if c.target != "account"]


COORD = (RoleAssignment(role="coordinator"),)


def test_grants_are_planned_at_the_highest_level_any_rule_gives():
    people = [person(1), person(2, roles=COORD), person(3, team="psych", tier="三线")]
    plan = make_plan(people, observed())
    assert access_rows(plan) == [
        ("add", "doc:handbook", "P000001", None, "view"),
        ("add", "doc:handbook", "P000002", None, "edit"),
        ("add", "doc:handbook", "P000003", None, "view"),
        ("add", "folder:cases", "P000002", None, "manage"),
        ("add", "folder:cases", "P000003", None, "view"),
    ]
    edit = next(c for c in plan.changes if c.object_id == "P000002" and c.target == "doc:handbook")
    assert edit.rules == ("coordinators-edit", "everyone-reads")
    assert "at edit" in edit.reason and "coordinators-edit" in edit.reason


def test_grants_in_place_plan_nothing_and_a_wrong_level_is_changed_both_ways():
    people = [person(1), person(2, roles=COORD)]
    obs = observed(grants_doc=[("u1", "manage"), ("u2", "edit")], grants_folder=[("u2", "view")])
    plan = make_plan(people, obs)
    assert access_rows(plan) == [
        ("change", "doc:handbook", "P000001", "manage", "view"),
        ("change", "folder:cases", "P000002", "view", "manage"),
    ]
    assert "from manage to view" in plan.changes[0].reason


def test_the_owner_is_never_granted_changed_or_revoked():
    people = [person(1), person(9, roles=COORD)]
    obs = observed(grants_doc=[("u9", "owner")], owner="u9")
    plan = make_plan(people, obs)
    assert [r for r in access_rows(plan) if r[2] == "P000009"] == []


def test_a_person_no_rule_covers_any_more_is_revoked_and_strangers_are_kept():
    people = [person(1), person(2, status="left"), person(3)]
    obs = observed(grants_doc=[("u1", "view"), ("u2", "edit"), ("u3", "view"), ("stranger", "view")],
                   grants_folder=[("u3", "view")])
    plan = make_plan(people, obs)
    assert [r for r in access_rows(plan) if r[0] == "remove"] == [
        ("remove", "doc:handbook", "P000002", "edit", None),
        ("remove", "folder:cases", "P000003", "view", None),
    ]
    removal = next(c for c in plan.changes if c.op == "remove" and c.target == "doc:handbook")
    assert removal.reason.startswith("revoke 志愿者2's access to 志愿者手册: 志愿者2 has left")
    assert any("match no one in the roster" in r.reason and r.target == "doc:handbook" for r in plan.refused)


def test_a_revocation_wave_is_held_by_the_removal_guard():
    people = [person(n, status="left") for n in range(1, 9)] + [person(9)]
    obs = observed(grants_doc=[(f"u{n}", "view") for n in range(1, 10)])
    plan = make_plan(people, obs, allow_removals=False)
    assert not [c for c in plan.changes if c.op == "remove" and c.target == "doc:handbook"]
    assert any(r.held and r.target == "doc:handbook" for r in plan.refused)


def test_an_unreadable_document_is_refused_not_emptied():
    people = [person(1)]
    obs = observed(grants_doc=[("u1", "view")])
    obs.groups = [g for g in obs.groups if g.kind != "doc"]
    plan = make_plan(people, obs)
    assert not [c for c in plan.changes if c.target == "doc:handbook"]
    assert any(r.target == "doc:handbook" and "could not be read" in r.reason for r in plan.refused)


def test_someone_without_a_feishu_account_is_reported_not_granted():
    people = [person(1), person(20)]
    plan = make_plan(people, observed(people=range(1, 10)))
    # P000020 gets an account planned first, then the grant to that planned account
    assert ("add", "doc:handbook", "P000020", None, "view") in access_rows(plan)
    no_contact = [Person(id="P000030", name="无联系方式")]
    plan = make_plan(no_contact, observed())
    assert not access_rows(plan)
    assert any(r.target == "doc:handbook" and "no feishu account" in r.reason for r in plan.refused)


@pytest.mark.parametrize("resource, message", [
    ("{key: d, kind: doc, name: D}", "needs external_id (docx:<token>"),
    ("{key: d, kind: doc, name: D, external_id: 'folder:fldcnAAAA1'}", "is not a feishu doc id"),
    ("{key: d, kind: folder, name: D, external_id: 'docx:doxcnAAAA1'}", "is not a feishu folder id"),
    ("{key: d, kind: doc, name: D, external_id: 'docx:no spaces'}", "is not a feishu doc id"),
    ("{key: d, kind: doc, name: D, external_id: docx}", "is not a feishu doc id"),
])
def test_a_document_needs_a_typed_token_and_the_error_names_the_line(resource, message):
    text = f"resources:\n  feishu:\n    - {resource}\n"
    with pytest.raises(ConfigError) as err:
        parse_policy_text(text, "policy.yaml")
    assert message in str(err.value)
    assert "policy.yaml:3" in str(err.value)


def test_documents_take_view_edit_or_manage_only():
    text = POLICY_TEXT.replace("level: manage", "level: owner")
    with pytest.raises(ConfigError, match="takes level view or edit or manage, not 'owner'"):
        parse_policy_text(text, "policy.yaml")
    with pytest.raises(ConfigError, match="wecom has no docs"):
        parse_policy_text("resources:\n  wecom:\n    - {key: d, kind: doc, name: D, external_id: 'docx:abcd'}\n",
                          "p.yaml")


def test_a_leavers_feishu_account_is_deleted_only_with_someone_to_receive_their_documents():
    people = [person(1, status="left"), person(2), person(3, status="left", attributes={"successor": "P000002"})]
    plan = make_plan(people, observed(people=range(1, 4)))
    removals = [(c.object_id, c.after) for c in plan.changes if c.target == "account" and c.op == "remove"]
    assert removals == [("P000003", {"acceptor": "u2"})]
    assert "their documents to 志愿者2" in next(c.reason for c in plan.changes if c.object_id == "P000003")
    refusal = next(r for r in plan.refused if r.object_id == "P000001")
    assert "its documents would go to no one" in refusal.reason and "muster offboard" in refusal.reason

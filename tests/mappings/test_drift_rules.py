"""The pure drift rules: observed vs desired vs what Muster last left (the baseline)."""

from mappings.drift import DriftInput, advance, find_drift
from mappings.models import Account, Change, Group, Member, Observed, Person

ALICE, BOB, CAROL = (Person(id="P1", name="甲"), Person(id="P2", name="乙"), Person(id="P3", name="丙", status="left"))
PEOPLE = {p.id: p for p in (ALICE, BOB, CAROL)}
LINKS = {"u1": "P1", "u2": "P2", "u3": "P3"}


def obs(members, owner="u1", depts=()):
    return Observed(service="wecom",
                    accounts=[Account(service="wecom", external_id=u, departments=tuple(depts) if u == "u2" else ())
                              for u in ("u1", "u2", "u3")],
                    groups=[Group(service="wecom", kind="chat", external_id="c1", name="一线群", owner=owner)],
                    members={"c1": [Member(external_id=e, level=lvl) for e, lvl in members.items()]})


def drift(observed, baseline, changes, **kw):
    return find_drift(DriftInput(observed=observed, baseline=baseline, changes=changes, links=kw.get("links", LINKS),
                                 people=PEOPLE, managed={"c1": ("chat:front", "一线群"), "9": ("department:d9", "组")}))


def remove(ext, pid):
    return Change(op="remove", service="wecom", target="chat:front", object_id=pid, group_id="c1", external_id=ext,
                  before="member")


def add(ext, pid):
    return Change(op="add", service="wecom", target="chat:front", object_id=pid, group_id="c1", external_id=ext,
                  after="member")


def test_a_member_added_since_the_baseline_is_drift_but_one_muster_left_there_is_pending():
    now = obs({"u1": "owner", "u2": "member"})
    assert [(i.kind, i.member) for i in drift(now, obs({"u1": "owner"}), [remove("u2", "P2")])] == \
        [("unplanned_member", "乙")]
    assert drift(now, now, [remove("u2", "P2")]) == []  # the roster moved: the next sync removes 乙


def test_a_member_gone_since_the_baseline_is_missing_and_reverted_by_the_plans_add():
    [item] = drift(obs({"u1": "owner"}), obs({"u1": "owner", "u2": "member"}), [add("u2", "P2")])
    assert (item.kind, item.observed, item.desired, item.baseline) == ("missing_member", None, "member", "member")
    assert item.revert == add("u2", "P2") and item.id.startswith("D") and len(item.id) == 8


def test_unknown_members_owners_who_left_and_unmatched_accounts():
    now = obs({"u3": "owner", "x9": "member"}, owner="u3")
    now.accounts.append(Account(service="wecom", external_id="x9", name="陌生人", mobile="+8613900000009"))
    items = {i.kind: i for i in drift(now, obs({"u3": "owner"}, owner="u3"), [])}
    assert set(items) == {"unplanned_member", "owner_left", "unmatched_account"}
    assert items["unplanned_member"].object_id == "ext:x9" and items["unplanned_member"].revert.op == "remove"
    assert items["owner_left"].member == "丙" and items["owner_left"].revert is None
    assert items["unmatched_account"].extra["mobile"] == "+8613900000009"


def test_department_membership_moved_by_hand_is_drift_per_department():
    change = Change(op="change", service="wecom", target="account", object_id="P2", external_id="u2",
                    before={"departments": ["9", "1"]}, after={"departments": ["1"]})
    items = drift(obs({}, depts=("9", "1")), obs({}, depts=("1",)), [change])
    assert [(i.kind, i.target, i.resource) for i in items] == [("unplanned_member", "department:9", "组")]


def test_advance_applies_adds_removals_levels_owners_and_created_groups():
    base = obs({"u1": "owner", "u2": "member"})
    owner = Change(op="change", service="wecom", target="chat:front", object_id="P2", group_id="c1",
                   external_id="u2", before="u1", after="owner")
    create = Change(op="add", service="wecom", target="chat:new", object_id="*",
                    after={"name": "新群", "members": ["u1", "u2"], "owner": "u1"})
    after = advance(base, [remove("u1", "P1"), owner, create, add("u3", "P3")], {"new": "c2"})
    assert {m.external_id: m.level for m in after.members["c1"]} == {"u2": "owner", "u3": "member"}
    assert {g.external_id: g.owner for g in after.groups} == {"c1": "u2", "c2": "u1"}
    assert {m.external_id: m.level for m in after.members["c2"]} == {"u1": "owner", "u2": "member"}
    gone = advance(base, [Change(op="remove", service="wecom", target="account", object_id="P1", external_id="u1")])
    assert not next(a for a in gone.accounts if a.external_id == "u1").active

import pytest

from mappings.guards import guard_plan
from mappings.models import Account, Change, Member, Observed
from mappings.policy import Guards


def observed(members: int, accounts: int = 100, complete: bool = True) -> Observed:
    return Observed(service="wecom", complete=complete,
                    accounts=[Account(service="wecom", external_id=f"u{i}") for i in range(accounts)],
                    members={"c1": [Member(external_id=f"u{i}") for i in range(members)]})


def member(op: str, n: int) -> Change:
    return Change(op=op, service="wecom", target="chat:x", object_id=f"P{n}", group_id="c1", external_id=f"u{n}")


def account_removal(n: int) -> Change:
    return Change(op="remove", service="wecom", target="account", object_id=f"P{n}", external_id=f"u{n}")


@pytest.mark.parametrize(
    ("members", "removes", "adds", "held"),
    [
        (10, 1, 0, False),   # 10 % is not above 10 %
        (10, 2, 0, True),    # 20 % of what it holds
        (10, 2, 15, False),  # a growing chat: 2 of 25
        (100, 11, 0, True),
    ],
)
def test_per_target_fraction(members, removes, adds, held):
    changes = [member("remove", i) for i in range(removes)] + [member("add", 1000 + i) for i in range(adds)]
    kept, refused = guard_plan(changes, {"wecom": observed(members)}, Guards())
    assert (len(kept) == adds) is held
    assert [r.held for r in refused] == ([True] if held else [])


def test_more_than_max_removals_in_a_service_is_held_across_targets():
    changes = [account_removal(i) for i in range(6)] + [member("remove", i) for i in range(6)]
    kept, refused = guard_plan(changes, {"wecom": observed(1000, accounts=1000)}, Guards(max_removals=10))
    assert kept == []
    assert refused[0].count == 12 and "above the guard of 10" in refused[0].reason


def test_approval_releases_waves_but_never_a_failed_or_empty_read():
    changes = [member("remove", i) for i in range(5)]
    kept, _ = guard_plan(changes, {"wecom": observed(10)}, Guards(), allow_removals=True)
    assert kept == changes
    for obs in (observed(10, complete=False), observed(10, accounts=0)):
        kept, refused = guard_plan(changes, {"wecom": obs}, Guards(), allow_removals=True)
        assert kept == [] and "nothing is removed on a failed or empty read" in refused[0].reason

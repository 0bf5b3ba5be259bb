import pytest

from connectors.wecom._membership import batches, chat_updates, effective
from mappings.models import MembershipDelta


def delta(add=(), remove=(), owner=None):
    return MembershipDelta(add=frozenset(add), remove=frozenset(remove), owner=owner)


@pytest.mark.parametrize(
    ("current", "d", "expected"),
    [
        (["a", "b"], delta(add={"b", "c"}), (["c"], [])),
        (["a", "b"], delta(remove={"b", "z"}), ([], ["b"])),
        (["Alice"], delta(add={"alice"}, remove={"ALICE"}), ([], ["Alice"])),  # userids are case-insensitive
        (["a"], delta(owner="n"), (["n"], [])),
        (["a", "b"], delta(), ([], [])),
    ],
)
def test_effective(current, d, expected):
    assert effective(current, d) == expected


@pytest.mark.parametrize(
    ("d", "calls"),
    [
        # nothing to do: no call at all
        (delta(add={"a"}, remove={"zz"}), []),
        (delta(owner="o"), []),
        # adds and removals that leave the owner alone: one call
        (delta(add={"c"}), [{"add_user_list": ["c"]}]),
        (delta(remove={"b"}), [{"del_user_list": ["b"]}]),
        (delta(add={"c"}, remove={"b"}), [{"add_user_list": ["c"], "del_user_list": ["b"]}]),
        # owner to an existing member
        (delta(owner="a"), [{"owner": "a"}]),
        (delta(owner="a", remove={"b"}), [{"owner": "a", "del_user_list": ["b"]}]),
        # the old owner leaves: only after someone else owns the chat
        (delta(owner="a", remove={"o"}), [{"owner": "a"}, {"del_user_list": ["o"]}]),
        # a newcomer becomes owner: joins first, then takes over, then the old owner leaves
        (
            delta(owner="n", remove={"o"}),
            [{"add_user_list": ["n"]}, {"owner": "n"}, {"del_user_list": ["o"]}],
        ),
        (delta(owner="n", remove={"b"}), [{"add_user_list": ["n"], "del_user_list": ["b"]}, {"owner": "n"}]),
    ],
)
def test_chat_updates_order(d, calls):
    assert chat_updates("c1", "o", ["o", "a", "b"], d) == [{"chatid": "c1", **c} for c in calls]


def test_batches():
    assert batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert batches([], 2) == []

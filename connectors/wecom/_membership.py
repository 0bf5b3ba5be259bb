"""Pure planning of WeCom membership writes: which ids to send, in which calls.

WeCom refuses to remove someone who is not in an app chat (86216: "deleting a member who
is not in the chat", WeCom error-code help), and ``appchat/update`` does not say in which
order it applies ``add_user_list``, ``owner`` and ``del_user_list``. So the connector reads
the chat first, sends only what is not yet true, and splits the update whenever the order
matters: the new owner is added before being made owner, and the old owner only leaves
once someone else owns the chat. UserIDs are case-insensitive in WeCom, so comparisons are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mappings.models import MembershipDelta


def _fold(ids: Iterable[str]) -> dict[str, str]:
    return {i.lower(): i for i in ids}


def effective(current: Iterable[str], delta: MembershipDelta) -> tuple[list[str], list[str]]:
    """(ids to add, ids to remove) that are not already true, sorted; the owner counts as an add."""
    present = _fold(current)
    wanted = set(delta.add) | ({delta.owner} if delta.owner else set())
    add = sorted(i for i in wanted if i.lower() not in present)
    remove = sorted(present[i.lower()] for i in delta.remove if i.lower() in present)
    return add, remove


def chat_updates(
    chatid: str, owner: str, members: Sequence[str], delta: MembershipDelta
) -> list[dict[str, Any]]:
    """The ``appchat/update`` bodies that apply ``delta`` to a chat, in a safe order (maybe none)."""
    add, remove = effective(members, delta)
    new_owner = delta.owner if delta.owner and delta.owner.lower() != owner.lower() else None
    owner_present = new_owner is not None and new_owner.lower() in _fold(members)
    first: dict[str, Any] = {}
    if add:
        first["add_user_list"] = add
    if new_owner and owner_present:
        first["owner"] = new_owner
    calls = [first] if first else []
    if new_owner and not owner_present:
        calls.append({"owner": new_owner})
    owner_leaves = owner.lower() in {r.lower() for r in remove}
    if remove and calls and not (owner_leaves and new_owner):
        calls[0]["del_user_list"] = remove
    elif remove:
        calls.append({"del_user_list": remove})
    return [{"chatid": chatid, **body} for body in calls]


def batches(ids: Sequence[str], size: int) -> list[list[str]]:
    """``ids`` cut into lists of at most ``size``."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


__all__ = ["batches", "chat_updates", "effective"]

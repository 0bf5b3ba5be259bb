"""What each service can express: resource kinds, the levels a grant may carry, limits.

This is domain knowledge the policy is validated against (a WeCom tag has no "owner"),
kept here so mappings/ stays free of connector imports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceTraits:
    """Kinds → allowed levels, plus the limits the planner must respect."""

    kinds: dict[str, tuple[str, ...]]
    chat_min_members: int = 2
    chat_max_members: int = 1000
    account_needs_contact: bool = False  # an account needs a mobile or an email
    account_removal: str = "disable"  # what removing an account does: disable | delete


SERVICES: dict[str, ServiceTraits] = {
    # reference §2.4/§2.5: user needs mobile or email (60129); appchat 2..2000 members
    "wecom": ServiceTraits(
        kinds={"department": ("member", "manage"), "tag": ("member",), "chat": ("member", "owner")},
        chat_min_members=2,
        chat_max_members=2000,
        account_needs_contact=True,
        account_removal="disable",
    ),
    # reference §1.4/§1.5: user create needs a mobile; group cap 1000; no disabled state
    "dingtalk": ServiceTraits(
        kinds={"department": ("member", "manage"), "chat": ("member", "owner")},
        chat_min_members=2,
        chat_max_members=1000,
        account_needs_contact=True,
        account_removal="delete",
    ),
}

__all__ = ["SERVICES", "ServiceTraits"]

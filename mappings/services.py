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
    root_department: str = "1"  # where accounts go when the policy names no department
    doc_types: tuple[str, ...] = ()  # file types a doc resource's "<type>:<token>" id may name
    removal_needs_acceptor: bool = False  # deleting an account hands its documents to someone: name them
    manual: bool = False  # no membership API: people make the changes (work items), rows are "confirmed by hand"

    @property
    def has_departments(self) -> bool:
        return "department" in self.kinds


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
    # reference §3.3-§3.5: root department "0"; normal chats hold 5000; drive perms view/edit/full_access
    # (our "manage"); Feishu has no API to freeze a user, so removal deletes — and a deleted user's documents
    # go to ``docs_acceptor_user_id``, or to their leader or nowhere when it is not given, so Muster names the
    # leaver's successor. A department's leader is a user attribute there, so departments take "member" only.
    "feishu": ServiceTraits(
        kinds={"department": ("member",), "chat": ("member", "owner"), "doc": ("view", "edit", "manage"),
               "folder": ("view", "edit", "manage")},
        chat_max_members=5000,
        account_needs_contact=True,
        account_removal="delete",
        root_department="0",
        removal_needs_acceptor=True,
        doc_types=("docx", "doc", "sheet", "bitable", "file", "wiki", "mindnote", "minutes", "slides"),
    ),
    # reference §7 (RFC 7643/7644): flat groups (Muster's "tag"), no departments; deactivate = active false
    "scim": ServiceTraits(kinds={"tag": ("member",)}, account_removal="disable"),
    # personal WeChat groups and Shimo (石墨文档) files have no membership API (reference §6.3): there are no
    # accounts to create, only declared groups whose changes become work items for their owner (connectors/manual)
    "wechat": ServiceTraits(kinds={"chat": ("member", "owner")}, chat_max_members=500, manual=True),
    # Shimo files are named by their URL: shimo.im/<type>/<token> → external_id "<type>:<token>"
    "shimo": ServiceTraits(kinds={"folder": ("view", "edit", "manage"), "doc": ("view", "edit", "manage")},
                           manual=True, doc_types=("docs", "docx", "sheets", "slides", "mindmaps", "boards", "forms",
                                                   "files")),
}

ACCESS_KINDS = ("doc", "folder")  # kinds whose members are grants at a level, written by apply_access

__all__ = ["ACCESS_KINDS", "SERVICES", "ServiceTraits"]

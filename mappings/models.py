"""Domain models: the roster, what services report, what policy desires, and plans.

These are plain pydantic models shared by every layer. Connectors map raw payloads to
``Account``/``Group``/``Member``; the planner turns ``Desired`` and ``Observed`` into a
``Plan`` of ``Change`` rows; state/ stores them. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["member", "view", "edit", "manage", "owner"]
LEVEL_RANK: dict[str, int] = {"member": 1, "view": 1, "edit": 2, "manage": 3, "owner": 4}
Status = Literal["applicant", "active", "leaving", "left"]
GroupKind = Literal["department", "tag", "chat", "doc", "folder", "meeting"]
Op = Literal["add", "remove", "change"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- roster -------------------------------------------------------------------------


class RoleAssignment(_Frozen):
    """A role a person holds, possibly for a period (both ends inclusive)."""

    role: str
    start: date | None = None
    end: date | None = None

    def current(self, today: date) -> bool:
        return (self.start is None or self.start <= today) and (self.end is None or today <= self.end)


class Person(_Frozen):
    """One human in the roster."""

    id: str
    name: str
    mobile: str | None = None  # normalised (see mappings.normalize), e.g. "+8613812345678"
    email: str | None = None
    status: Status = "active"
    team: str | None = None
    tier: str | None = None
    roles: tuple[RoleAssignment, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)

    def role_names(self, today: date) -> frozenset[str]:
        return frozenset(r.role for r in self.roles if r.current(today))


class Identity(_Frozen):
    """One account of a person in one service."""

    service: str
    external_id: str
    person_id: str
    matched_by: str = "user_id"  # mobile | email | union_id | user_id | created


# --- what services report -------------------------------------------------------------


class Account(_Frozen):
    """A user account as the service reports it."""

    service: str
    external_id: str
    name: str = ""
    mobile: str | None = None  # as the service gives it; normalise before comparing
    email: str | None = None
    union_id: str | None = None
    active: bool = True
    departments: tuple[str, ...] = ()  # external department ids
    leader_of: tuple[str, ...] = ()  # departments the account leads


class Group(_Frozen):
    """A department, tag or chat as the service reports it."""

    service: str
    kind: GroupKind
    external_id: str
    name: str
    parent_id: str | None = None
    owner: str | None = None  # external account id of the owner (chats)


class Member(_Frozen):
    """One member of a tag or chat."""

    external_id: str
    level: Level = "member"


class Observed(BaseModel):
    """One service's state as read now; ``complete`` is False when any read failed."""

    service: str
    accounts: list[Account] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    members: dict[str, list[Member]] = Field(default_factory=dict)  # chat/tag external id → members
    complete: bool = True
    error: str | None = None

    def fingerprint(self) -> str:
        """A stable hash of the content, used to refuse a stale saved plan."""
        body = {
            "a": sorted(a.model_dump_json() for a in self.accounts),
            "g": sorted(g.model_dump_json() for g in self.groups),
            "m": {k: sorted(m.model_dump_json() for m in v) for k, v in sorted(self.members.items())},
        }
        return digest(body)


class FormEntry(_Frozen):
    """One form submission as a form service delivers it (push, listing API or export row).

    ``answers`` maps the service's field codes (Jinshuju ``field_3``/aliases, Wenjuanxing
    ``q3``, a spreadsheet's column headers) to the raw values: strings, or lists for
    multi-choice. ``serial`` identifies the entry within its form; an edited entry keeps it.
    """

    service: str  # jinshuju | wenjuanxing | file
    form: str  # the service's form id: Jinshuju form token, Wenjuanxing activity id, file form name
    serial: str
    answers: dict[str, Any] = Field(default_factory=dict)
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    form_name: str = ""


# --- writes ---------------------------------------------------------------------------


class AccountSpec(_Frozen):
    """An account to create."""

    external_id: str
    name: str
    mobile: str | None = None
    email: str | None = None
    departments: tuple[str, ...] = ()
    leader_of: tuple[str, ...] = ()


class GroupSpec(_Frozen):
    """A group to create; ``external_id`` is a proposed id where the service takes one."""

    kind: GroupKind
    name: str
    owner: str | None = None
    members: tuple[str, ...] = ()
    parent_id: str | None = None
    external_id: str | None = None


class MembershipDelta(_Frozen):
    """Members to add and remove, and optionally a new owner (who must end up a member)."""

    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    owner: str | None = None

    def is_empty(self) -> bool:
        return not (self.add or self.remove or self.owner)


class AccessDelta(_Frozen):
    """Access to a document or folder: grant or change levels, revoke.

    ``grant`` maps a member's external id to the level it should hold (view, edit, manage);
    owner changes go through ``transfer_owner``, never here.
    """

    grant: dict[str, Level] = Field(default_factory=dict)
    revoke: frozenset[str] = frozenset()

    def is_empty(self) -> bool:
        return not (self.grant or self.revoke)


class Attendance(_Frozen):
    """One join of one participant to one meeting (a rejoin is another row)."""

    service: str
    meeting_id: str
    external_id: str  # the participant's account id in the meeting service
    name: str = ""
    joined_at: datetime
    left_at: datetime | None = None


class MeetingSpec(_Frozen):
    """A meeting to create (a training session)."""

    subject: str
    start: datetime
    end: datetime
    host: str  # external id of the creator/host
    invitees: tuple[str, ...] = ()


class ApplyResult(_Frozen):
    """What a write did: ids the service assigned, ids it rejected, calls made."""

    created_id: str | None = None
    rejected: tuple[str, ...] = ()
    calls: int = 1
    detail: str = ""


# --- plans ----------------------------------------------------------------------------

# Order in which a plan's changes must go out: departments before the accounts in them,
# accounts before the chats they join, new owners in before old ones go out, removals
# last, account removals very last (owners hand over before they lose access).
PHASES = ("department", "account", "group", "member-add", "owner", "member-remove", "account-remove")


class Change(_Frozen):
    """One planned change, with its reason.

    ``target`` is ``account`` or ``<kind>:<resource key>``; ``object_id`` is a person id,
    ``ext:<external id>`` for an account no roster person matches, or ``*`` for the
    target itself (creating a group).
    """

    op: Op
    service: str
    target: str
    object_id: str
    before: Any = None
    after: Any = None
    reason: str = ""
    rules: tuple[str, ...] = ()
    external_id: str | None = None  # the object's account id in the service
    group_id: str | None = None  # the target group's external id, None until created
    label: str = ""  # display name of the object

    @property
    def phase(self) -> int:
        kind = self.target.split(":", 1)[0]
        if self.object_id == "*":
            return PHASES.index("department" if kind == "department" else "group")
        if kind == "account":
            return PHASES.index("account-remove" if self.op == "remove" else "account")
        if self.op == "change":
            return PHASES.index("owner")
        return PHASES.index("member-add" if self.op == "add" else "member-remove")

    @cached_property
    def key(self) -> str:
        """Deterministic identity of this change: the journal's idempotency key."""
        return digest([self.service, self.target, self.object_id, self.op, self.before, self.after])[:24]

    def sort_key(self) -> tuple:
        return (self.phase, self.service, self.target, self.object_id, self.op)


class Refusal(_Frozen):
    """A change the planner or a guard would not make, and why."""

    service: str
    target: str
    object_id: str = ""
    reason: str
    count: int = 1
    held: bool = False  # a guard holds changes that an approval (--allow-removals) would release


class Plan(BaseModel):
    """An ordered, immutable-by-convention list of changes plus what was refused."""

    changes: list[Change] = Field(default_factory=list)
    refused: list[Refusal] = Field(default_factory=list)
    fingerprints: dict[str, str] = Field(default_factory=dict)  # service → observed hash
    basis: str = ""  # hash of roster + policy the plan was computed from
    created_at: datetime | None = None

    @property
    def id(self) -> str:
        return digest([c.key for c in self.changes] + [self.basis, sorted(self.fingerprints.items())])[:16]

    @property
    def pending(self) -> bool:
        """Changes to make, or removals waiting for approval."""
        return bool(self.changes) or any(r.held for r in self.refused)

    def for_service(self, service: str) -> list[Change]:
        return [c for c in self.changes if c.service == service]


def canonical_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, sets sorted, models and dates rendered.

    Raises:
        TypeError: ``obj`` holds something JSON cannot represent.
    """
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_default)


def digest(obj: Any) -> str:
    """sha256 of ``canonical_json(obj)``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, (date, datetime)):
        return obj.isoformat()
    raise TypeError(type(obj).__name__)


__all__ = [
    "LEVEL_RANK",
    "PHASES",
    "Account",
    "AccessDelta",
    "AccountSpec",
    "ApplyResult",
    "Attendance",
    "Change",
    "FormEntry",
    "Group",
    "GroupKind",
    "GroupSpec",
    "Identity",
    "Level",
    "MeetingSpec",
    "Member",
    "MembershipDelta",
    "Observed",
    "Op",
    "Person",
    "Plan",
    "Refusal",
    "RoleAssignment",
    "Status",
    "canonical_json",
    "digest",
]

"""The permission register: who holds what in every service, and why.

Coalitions kept this by hand as two spreadsheets ("doc directory and permission register",
"people and group master table") that were out of date the day after they were written.
Here it is computed from what the services last reported (the observed snapshots), the
identity links and the policy, so it is as current as the last ``muster pull``.

Every member of every resource a service reported becomes one ``RegisterRow`` with the
reason it is there: the names of the policy rules that grant it, ``unmanaged`` when the
policy does not name the resource, or ``not granted by any rule`` when the policy manages
the resource and no rule grants this member (drift: the next sync would remove it, or keep
it as an unknown member). A member of a service kept by hand is ``confirmed by hand``, or
``pending by hand (work item W7)`` while it is there only because an open work item asked
for it (the manual connector reports both, so plans stay quiet while the owner works). The
people view turns the same rows around: per person, their accounts and everything they can
reach. ``diff`` compares two registers for ``--since``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from mappings.desired import DesiredService, Want, desired_state
from mappings.models import Group, Observed, Person
from mappings.policy import Policy, Resource
from mappings.services import SERVICES

UNMANAGED = "unmanaged"
NOT_GRANTED = "not granted by any rule"
NO_ONE = "matches no one in the roster"
DISABLED = "account disabled"
BY_HAND = "confirmed by hand"
PENDING_BY_HAND = "pending by hand (work item W{item})"
KIND_ORDER = ("department", "tag", "chat", "doc", "folder", "meeting")


@dataclass(frozen=True)
class RegisterRow:
    """One member of one resource in one service, at a level, and why they are there."""

    service: str
    kind: str
    resource: str  # the resource's name as the service reports it
    resource_id: str  # the service's id of the resource
    policy_key: str  # the policy's key for it, "" when the policy does not name it
    account: str  # the member's account id in the service
    person_id: str  # "" when the account matches no one in the roster
    member: str  # the person's name, or the raw account id when it matches no one
    level: str
    owner: bool
    why: str
    rules: tuple[str, ...] = ()  # the policy rules that grant it

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes a row the same row in two registers: service, kind, resource id, account."""
        return (self.service, self.kind, self.resource_id, self.account)


@dataclass(frozen=True)
class PersonEntry:
    """A person, their accounts (service, account id) and every row they reach."""

    person: Person
    accounts: tuple[tuple[str, str], ...]
    reach: tuple[RegisterRow, ...]


@dataclass
class Register:
    """Rows for every service read, and the people view of them."""

    rows: list[RegisterRow]
    people: list[PersonEntry] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        """The services that have rows, sorted."""
        return sorted({r.service for r in self.rows})

    def for_service(self, service: str) -> list[RegisterRow]:
        """The rows of one service, in register order."""
        return [r for r in self.rows if r.service == service]


@dataclass
class RegisterDiff:
    """What changed between two registers: rows added, removed, and rows whose level or owner changed."""

    added: list[RegisterRow] = field(default_factory=list)
    removed: list[RegisterRow] = field(default_factory=list)
    changed: list[tuple[RegisterRow, RegisterRow]] = field(default_factory=list)  # (old, new)

    def __len__(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)


def build_register(
    observed: Mapping[str, Observed],
    *,
    identities: Mapping[str, Mapping[str, str]],
    people: list[Person],
    policy: Policy,
    known_ids: Mapping[str, Mapping[str, str]],
    today: date,
    desired: Mapping[str, DesiredService] | None = None,
    pending: Mapping[tuple[str, str, str], int] | None = None,
) -> Register:
    """The register of every service in ``observed``.

    Args:
        observed: service → what it reported (the latest snapshot, or one of an earlier run).
        identities: service → account id → person id.
        people: the roster.
        policy: the policy; its resources say which groups are managed and its rules why.
        known_ids: service → policy key → the service's id of it (``state.resource_ids``).
        today: the day roles are evaluated on.
        desired: the desired state when the caller has it already (else computed from people and policy).
        pending: (service, resource id, account) → the open work item that asked for that member of a service
            kept by hand, for members not yet confirmed; they show ``PENDING_BY_HAND`` instead of ``BY_HAND``.
    """
    wants = desired if desired is not None else desired_state(people, policy, today)
    by_id = {p.id: p for p in people}
    rows: list[RegisterRow] = []
    for service in sorted(observed):
        rows += _service_rows(observed[service], identities.get(service, {}), by_id, policy,
                              known_ids.get(service, {}), wants.get(service), pending or {})
    rows.sort(key=_row_order)
    return Register(rows, people_view(rows, people, identities))


def people_view(rows: Iterable[RegisterRow], people: list[Person],
                identities: Mapping[str, Mapping[str, str]]) -> list[PersonEntry]:
    """Per person (by id): their accounts and the rows they reach."""
    reach: dict[str, list[RegisterRow]] = defaultdict(list)
    for row in rows:
        if row.person_id:
            reach[row.person_id].append(row)
    accounts: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for service, links in identities.items():
        for account, pid in links.items():
            accounts[pid].append((service, account))
    return [PersonEntry(p, tuple(sorted(accounts.get(p.id, []))), tuple(reach.get(p.id, [])))
            for p in sorted(people, key=lambda p: p.id)]


def diff(old_rows: Iterable[RegisterRow], new_rows: Iterable[RegisterRow]) -> RegisterDiff:
    """Rows added, removed, and changed in level or ownership, from ``old_rows`` to ``new_rows``."""
    old = {r.key: r for r in old_rows}
    new = {r.key: r for r in new_rows}
    out = RegisterDiff(
        added=sorted((r for k, r in new.items() if k not in old), key=_row_order),
        removed=sorted((r for k, r in old.items() if k not in new), key=_row_order),
    )
    both = sorted((k for k in new if k in old), key=lambda k: _row_order(new[k]))
    out.changed = [(old[k], new[k]) for k in both if (old[k].level, old[k].owner) != (new[k].level, new[k].owner)]
    return out


def managed_ids(service: str, policy: Policy, known_ids: Mapping[str, str],
                groups: Iterable[Group]) -> dict[tuple[str, str], Resource]:
    """(kind, external id) → the policy resource it is.

    An id comes from the policy (``external_id``), from the ids Muster recorded, or — as the
    planner does for departments and tags — from the one group of that kind with that name.
    """
    groups = list(groups)
    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    for g in groups:
        by_name[(g.kind, g.name)].append(g.external_id)
    out: dict[tuple[str, str], Resource] = {}
    for res in policy.resources.get(service, []):
        ext = res.external_id or known_ids.get(res.key)
        if ext is None and res.kind != "chat" and len(by_name.get((res.kind, res.name), [])) == 1:
            ext = by_name[(res.kind, res.name)][0]
        if ext is not None:
            out[(res.kind, ext)] = res
    return out


# --- one service ------------------------------------------------------------------------


def _service_rows(obs: Observed, links: Mapping[str, str], people: Mapping[str, Person], policy: Policy,
                  known_ids: Mapping[str, str], desired: DesiredService | None,
                  pending: Mapping[tuple[str, str, str], int]) -> list[RegisterRow]:
    managed = managed_ids(obs.service, policy, known_ids, obs.groups)
    manual = obs.service in SERVICES and SERVICES[obs.service].manual
    accounts = {a.external_id: a for a in obs.accounts}
    departments = _department_members(obs)
    rows = []
    for group in obs.groups:
        res = managed.get((group.kind, group.external_id))
        wanted = desired.members_of(res.key) if (res and desired) else {}
        members = (departments.get(group.external_id, {}) if group.kind == "department"
                   else _group_members(obs, group))
        for account, level in members.items():
            pid = links.get(account)
            person = people.get(pid) if pid else None
            acct = accounts.get(account)
            by_hand = _by_hand(pending.get((obs.service, group.external_id, account))) if manual else None
            why = _why(res, wanted.get(pid) if person else None, level, matched=person is not None,
                       active=acct.active if acct else True, by_hand=by_hand)
            rows.append(RegisterRow(
                service=obs.service, kind=group.kind, resource=group.name, resource_id=group.external_id,
                policy_key=res.key if res else "", account=account, person_id=person.id if person else "",
                member=person.name if person else account, level=level,
                owner=level == "owner", why=why,
                rules=wanted[pid].rules if person and pid in wanted else ()))
    return rows


def _department_members(obs: Observed) -> dict[str, dict[str, str]]:
    """Department id → account → member, or manage for the department's leaders."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for a in obs.accounts:
        for dept in a.departments:
            out[dept][a.external_id] = "member"
        for dept in a.leader_of:
            out[dept][a.external_id] = "manage"
    return out


def _group_members(obs: Observed, group: Group) -> dict[str, str]:
    """Account → level for a tag, chat, doc or folder; the group's owner is at ``owner``."""
    members = {m.external_id: m.level for m in obs.members.get(group.external_id, [])}
    if group.owner:
        members[group.owner] = "owner"
    return members


def _by_hand(item: int | None) -> str:
    """How a member of a service kept by hand is known: confirmed, or asked for by open work item ``item``."""
    return BY_HAND if item is None else PENDING_BY_HAND.format(item=item)


def _why(res: Resource | None, want: Want | None, level: str, *, matched: bool, active: bool,
         by_hand: str | None) -> str:
    if res is None:
        parts = [UNMANAGED]
    elif want is None:
        parts = [NOT_GRANTED]
    else:
        parts = [", ".join(want.rules)]
        if want.level != level and level != "owner":  # an owner stays owner: ownership moves only by transfer
            parts.append(f"policy says {want.level}")
    if not matched:
        parts.append(NO_ONE)
    if not active:
        parts.append(DISABLED)
    if by_hand:
        parts.append(by_hand)
    return "; ".join(parts)


def _row_order(row: RegisterRow) -> tuple:
    kind = KIND_ORDER.index(row.kind) if row.kind in KIND_ORDER else len(KIND_ORDER)
    return (row.service, kind, row.resource, row.resource_id, row.member, row.account)


__all__ = [
    "BY_HAND",
    "NOT_GRANTED",
    "PENDING_BY_HAND",
    "UNMANAGED",
    "PersonEntry",
    "Register",
    "RegisterDiff",
    "RegisterRow",
    "build_register",
    "diff",
    "managed_ids",
    "people_view",
]

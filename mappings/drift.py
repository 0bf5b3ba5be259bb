"""Drift: what a service shows that nobody planned, told apart from work Muster has yet to do.

Three states meet for each (resource, member): what the service shows now (observed, O),
what roster + policy want (desired, D) and what Muster last left there (the baseline, B —
the first read, advanced by every change Muster applied). Where O = D nothing is wrong.
Where O ≠ D but O = B, the roster or policy moved and the next sync will act: pending work,
not drift. Where O ≠ D and O ≠ B, somebody else changed it since Muster last did: drift.

The plan already lists every O ≠ D with both values (its changes), so drift is computed
from the plan's changes plus the baseline, and from three conditions no plan change shows:
members matching no one in the roster (kept by ``unknown_members: keep``), resources whose
owner has left, and accounts that match no one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mappings.models import LEVEL_RANK, Account, Change, Group, Member, Observed, Person, digest

KINDS = {
    "unplanned_member": "member nobody planned",
    "missing_member": "member removed outside Muster",
    "raised_level": "permission raised outside Muster",
    "lowered_level": "permission lowered outside Muster",
    "owner_changed": "owner changed outside Muster",
    "owner_left": "owner has left the coalition",
    "unmatched_account": "account matches no one in the roster",
}
GROUP_KINDS = ("tag", "chat", "doc", "folder")


@dataclass
class DriftItem:
    """One difference nobody planned, with what it takes to revert it."""

    service: str
    kind: str
    target: str  # "<kind>:<policy key>", "department:<id>" or "account"
    object_id: str  # person id, or "ext:<account id>" for someone the roster does not know
    external_id: str | None  # the member's / account's id in the service
    group_id: str | None  # the resource's id in the service
    resource: str  # display name of the resource
    member: str  # display name of the member
    observed: str | None = None
    desired: str | None = None
    baseline: str | None = None
    revert: Change | None = None  # the change that puts it back (None: see the kind)
    confirmed_by_hand: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return "D" + digest([self.service, self.kind, self.group_id or self.target, self.external_id])[:7]

    @property
    def summary(self) -> str:
        what = KINDS[self.kind]
        if self.kind == "unmatched_account":
            return f"{self.member} ({self.external_id}): {what}"
        if self.kind == "owner_left":
            return f"{self.resource}: owned by {self.member}, who has left"
        if self.kind in ("raised_level", "lowered_level"):
            return f"{self.member} on {self.resource}: {self.observed}, policy says {self.desired} ({what})"
        if self.kind == "owner_changed":
            return f"{self.resource}: now owned by {self.member} ({what})"
        verb = "is in" if self.kind == "unplanned_member" else "is missing from"
        return f"{self.member} {verb} {self.resource} ({what})"

    def record(self) -> dict:
        """The row ``state.record_drift`` stores (``made_by`` is filled in by the caller)."""
        detail = {"resource": self.resource, "member": self.member, "observed": self.observed,
                  "desired": self.desired, "baseline": self.baseline, "confirmed_by_hand": self.confirmed_by_hand,
                  "revert": self.revert.model_dump(mode="json") if self.revert else None, **self.extra}
        return {"id": self.id, "kind": self.kind, "target": self.target, "object_id": self.object_id,
                "external_id": self.external_id, "group_id": self.group_id, "summary": self.summary,
                "detail": detail}


# --- the baseline ------------------------------------------------------------------------


def advance(base: Observed, applied: Iterable[Change], created: Mapping[str, str] = {}) -> Observed:
    """The baseline after Muster applied ``applied`` on top of it (``created``: policy key → new group id)."""
    accounts = {a.external_id: a for a in base.accounts}
    groups = {g.external_id: g for g in base.groups}
    members = {g: {m.external_id: m.level for m in ms} for g, ms in base.members.items()}
    for c in applied:
        kind = c.target.split(":", 1)[0]
        if c.target == "account":
            _advance_account(accounts, c)
        elif c.object_id == "*" and c.op == "add" and kind in GROUP_KINDS:
            gid = created.get(c.target.split(":", 1)[1])
            if gid:
                after = c.after or {}
                groups[gid] = Group(service=base.service, kind=kind, external_id=gid, name=after.get("name", ""),
                                    owner=after.get("owner"))
                members[gid] = {e: ("owner" if e == after.get("owner") else "member") for e in after.get("members", [])}
        elif c.group_id and c.external_id and kind in GROUP_KINDS:
            _advance_member(groups, members.setdefault(c.group_id, {}), c)
    return Observed(service=base.service, accounts=list(accounts.values()), groups=list(groups.values()),
                    members={g: [Member(external_id=e, level=lvl) for e, lvl in sorted(ms.items())]
                             for g, ms in sorted(members.items())})


def _advance_account(accounts: dict[str, Account], c: Change) -> None:
    ext = c.external_id
    if not ext:
        return
    if c.op == "remove":
        if ext in accounts:
            accounts[ext] = accounts[ext].model_copy(update={"active": False})
        return
    after = c.after if isinstance(c.after, dict) else {}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in after.items()
              if k in ("name", "mobile", "email", "departments", "leader_of", "active")}
    if ext in accounts:
        accounts[ext] = accounts[ext].model_copy(update=fields)
    else:
        accounts[ext] = Account(service=c.service, external_id=ext, **fields)


def _advance_member(groups: dict[str, Group], members: dict[str, str], c: Change) -> None:
    if c.op == "add":
        members[c.external_id] = c.after if isinstance(c.after, str) else "member"
    elif c.op == "remove":
        members.pop(c.external_id, None)
    elif c.after == "owner":
        group = groups.get(c.group_id)
        if group is not None:
            if group.owner in members:
                members[group.owner] = "member"
            groups[c.group_id] = group.model_copy(update={"owner": c.external_id})
        members[c.external_id] = "owner"
    elif isinstance(c.after, str):
        members[c.external_id] = c.after


# --- finding drift -----------------------------------------------------------------------


@dataclass
class DriftInput:
    """One service's view: observed now, the baseline, the plan's changes and who is who."""

    observed: Observed
    baseline: Observed
    changes: list[Change]
    links: dict[str, str]  # account id → person id
    people: dict[str, Person]
    managed: dict[str, tuple[str, str]]  # group id → (target, display name) for the policy's resources
    keep_unknown: bool = True  # unknown_members: keep (the plan does not remove them)
    manual: bool = False


def find_drift(inp: DriftInput) -> list[DriftItem]:
    """Every drift item of one service, in a stable order."""
    found: dict[str, DriftItem] = {}
    base_levels = _levels(inp.baseline)
    base_owner = {g.external_id: g.owner for g in inp.baseline.groups}
    seen: set[tuple[str, str]] = set()
    for c in inp.changes:
        for item in _from_change(inp, c, base_levels, base_owner, seen):
            found.setdefault(item.id, item)
    if inp.keep_unknown:
        for item in _unknown_members(inp, base_levels, seen):
            found.setdefault(item.id, item)
    for item in (*_owners_left(inp), *_unmatched(inp)):
        found.setdefault(item.id, item)
    return sorted(found.values(), key=lambda i: (i.kind, i.resource, i.member, i.id))


def _levels(obs: Observed) -> dict[tuple[str, str], str]:
    out = {(g, m.external_id): m.level for g, ms in obs.members.items() for m in ms}
    for a in obs.accounts:
        if a.active:
            for d in a.departments:
                out[(d, a.external_id)] = "member"
    return out


def _name(inp: DriftInput, ext: str | None, fallback: str = "") -> str:
    pid = inp.links.get(ext or "")
    person = inp.people.get(pid) if pid else None
    return person.name if person else (fallback or ext or "?")


def _item(inp: DriftInput, kind: str, c: Change | None, *, target: str, object_id: str, ext: str | None,
          group: str | None, observed: str | None, desired: str | None, baseline: str | None,
          revert: Change | None, member: str = "") -> DriftItem:
    resource = inp.managed.get(group or "", (target, target))[1] if group else target
    return DriftItem(inp.observed.service, kind, target, object_id, ext, group, resource,
                     member or _name(inp, ext, c.label if c else ""), observed, desired, baseline, revert,
                     confirmed_by_hand=inp.manual)


def _from_change(inp: DriftInput, c: Change, base: dict, base_owner: dict, seen: set) -> list[DriftItem]:
    kind = c.target.split(":", 1)[0]
    if c.target == "account" and c.op == "change" and isinstance(c.after, dict) and "departments" in c.after:
        return _department_drift(inp, c, base, seen)
    if kind not in GROUP_KINDS or c.object_id == "*" or not c.group_id or not c.external_id:
        return []
    key = (c.group_id, c.external_id)
    seen.add(key)
    if c.op == "change" and c.after == "owner":
        if base_owner.get(c.group_id) == c.before:
            return []
        current = c.before
        who = inp.links.get(current or "", f"ext:{current}")
        return [_item(inp, "owner_changed", c, target=c.target, object_id=who,
                      ext=current, group=c.group_id, observed="owner", desired=None,
                      baseline=base_owner.get(c.group_id), revert=c, member=_name(inp, current))]
    observed = c.before if c.op != "add" else None
    desired = c.after if c.op != "remove" else None
    observed = observed if isinstance(observed, str) or observed is None else "member"
    desired = desired if isinstance(desired, str) or desired is None else "member"
    baseline = base.get(key)
    if observed == baseline:
        return []  # Muster left it so: the roster or policy moved, the next sync acts
    if observed is None:
        what = "missing_member"
    elif desired is None:
        what = "unplanned_member"
    else:
        what = "raised_level" if LEVEL_RANK[observed] > LEVEL_RANK[desired] else "lowered_level"
    return [_item(inp, what, c, target=c.target, object_id=c.object_id, ext=c.external_id, group=c.group_id,
                  observed=observed, desired=desired, baseline=baseline, revert=c)]


def _department_drift(inp: DriftInput, c: Change, base: dict, seen: set) -> list[DriftItem]:
    have, want = set(c.before.get("departments") or ()), set(c.after.get("departments") or ())
    out = []
    for dept in sorted(have ^ want):
        key = (dept, c.external_id)
        seen.add(key)
        observed = "member" if dept in have else None
        if observed == base.get(key):
            continue
        what = "unplanned_member" if observed else "missing_member"
        out.append(_item(inp, what, c, target=f"department:{dept}", object_id=c.object_id, ext=c.external_id,
                         group=dept, observed=observed, desired=None if observed else "member",
                         baseline=base.get(key), revert=c))
    return out


def _unknown_members(inp: DriftInput, base: dict, seen: set) -> list[DriftItem]:
    owners = {g.external_id: g.owner for g in inp.observed.groups}
    out = []
    for gid, (target, _) in sorted(inp.managed.items()):
        for m in inp.observed.members.get(gid, []):
            key = (gid, m.external_id)
            if key in seen or m.external_id in inp.links or key in base or m.external_id == owners.get(gid):
                continue
            revert = Change(op="remove", service=inp.observed.service, target=target, object_id=f"ext:{m.external_id}",
                            group_id=gid, external_id=m.external_id, before=m.level, label=m.external_id,
                            reason=f"remove {m.external_id} from {inp.managed[gid][1]}: matches no one in the "
                                   "roster and was added outside Muster")
            out.append(_item(inp, "unplanned_member", None, target=target, object_id=f"ext:{m.external_id}",
                             ext=m.external_id, group=gid, observed=m.level, desired=None, baseline=None,
                             revert=revert, member=f"{m.external_id} (not in the roster)"))
    return out


def _owners_left(inp: DriftInput) -> list[DriftItem]:
    out = []
    for g in inp.observed.groups:
        pid = inp.links.get(g.owner or "")
        person = inp.people.get(pid) if pid else None
        if person is None or person.status != "left":
            continue
        target = inp.managed.get(g.external_id, (f"{g.kind}:{g.external_id}", g.name))[0]
        item = _item(inp, "owner_left", None, target=target, object_id=pid, ext=g.owner, group=g.external_id,
                     observed="owner", desired=None, baseline=None, revert=None, member=person.name)
        item.resource = g.name or item.resource
        item.extra = {"group_kind": g.kind}
        out.append(item)
    return out


def _unmatched(inp: DriftInput) -> list[DriftItem]:
    out = []
    for a in inp.observed.accounts:
        if not a.active or a.external_id in inp.links:
            continue
        revert = Change(op="remove", service=a.service, target="account", object_id=f"ext:{a.external_id}",
                        external_id=a.external_id, before={"active": True}, label=a.name or a.external_id,
                        reason=f"remove account {a.name or a.external_id}: it matches no one in the roster")
        item = _item(inp, "unmatched_account", None, target="account", object_id=f"ext:{a.external_id}",
                     ext=a.external_id, group=None, observed="active", desired=None, baseline=None, revert=revert,
                     member=a.name or a.external_id)
        item.extra = {"mobile": a.mobile, "email": a.email}
        out.append(item)
    return out


__all__ = ["KINDS", "DriftInput", "DriftItem", "advance", "find_drift"]

"""The pure diff: desired (roster + policy) against observed (a fresh read) → a Plan.

``plan_service`` works one service at a time and returns changes and refusals; ``build_plan``
sorts them into the order the APIs need (see ``models.PHASES``) and stamps the plan
with what it was computed from, so a saved plan can be refused when it went stale.

Ids in changes: an account's departments are external ids, or ``@key`` for a department
this same plan creates (the apply step substitutes the id the service assigns). Members
are named by person id with their account id in ``external_id``; accounts this plan
creates get the id ``userid_for(prefix, person)``, so the create is idempotent.

A manual service (``ServiceTraits.manual``: personal WeChat groups, Shimo) has no accounts
to create: every roster person with a mobile can be added by hand, under that same id
``userid_for(prefix, person)`` (the manual connector reports people it knows under it too),
unless they are already linked under another. Its groups are never created, and a chat's
owner — the person who changes it — is declared, never planned or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mappings.desired import DesiredService, Want
from mappings.identity import Resolution, userid_for
from mappings.models import LEVEL_RANK, Account, Change, Group, Observed, Person, Plan, Refusal, digest
from mappings.normalize import clean_text, local_mobile, try_email, try_mobile
from mappings.policy import Policy, Resource
from mappings.services import ACCESS_KINDS, SERVICES

ROOT_DEPARTMENT = "1"  # WeCom's and DingTalk's; each service's is ``ServiceTraits.root_department``


@dataclass
class Context:
    """Everything ``plan_service`` needs about one service, indexed once."""

    service: str
    policy: Policy
    desired: DesiredService
    observed: Observed
    resolution: Resolution
    people: dict[str, Person]
    known_ids: dict[str, str] = field(default_factory=dict)  # resource key → external id (from state)
    ids: dict[str, str | None] = field(default_factory=dict)  # resolved; None = to be created
    accounts: dict[str, Account] = field(default_factory=dict)  # external id → account
    person_ext: dict[str, str] = field(default_factory=dict)  # person → account id (incl. planned)
    changes: list[Change] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.accounts = {a.external_id: a for a in self.observed.accounts}
        self.person_ext = {i.person_id: ext for ext, i in self.resolution.links.items()}
        self.ext_person = {ext: i.person_id for ext, i in self.resolution.links.items()}
        self.groups = {(g.kind, g.external_id): g for g in self.observed.groups}
        self.prefix = self.policy.service(self.service).userid_prefix
        self.traits = SERVICES[self.service]

    def contact_owner(self, person: Person, keys: tuple[str | None, ...] | None = None) -> str | None:
        """An existing account (not this person's) holding the person's mobile or email."""
        if not hasattr(self, "_contacts"):
            self._contacts: dict[str, str] = {}
            for a in self.observed.accounts:
                for key in (try_mobile(a.mobile), try_email(a.email)):
                    if key:
                        self._contacts.setdefault(key, a.external_id)
        for key in keys if keys is not None else (person.mobile, person.email):
            ext = self._contacts.get(key) if key else None
            if ext and self.ext_person.get(ext) != person.id:
                return ext
        return None

    def refuse(self, target: str, reason: str, object_id: str = "", count: int = 1) -> None:
        self.refused.append(Refusal(service=self.service, target=target, object_id=object_id,
                                    reason=reason, count=count))

    def label(self, pid: str) -> str:
        person = self.people.get(pid)
        return person.name if person else pid


def plan_service(ctx: Context) -> Context:
    """Fill ``ctx.changes`` and ``ctx.refused`` for one service."""
    _resolve_ids(ctx)
    _plan_departments(ctx)
    if ctx.traits.manual:
        _addressable(ctx)
    else:
        _plan_accounts(ctx)
    for res in ctx.policy.resources.get(ctx.service, []):
        if res.kind in ("chat", "tag"):
            _plan_group(ctx, res)
        elif res.kind in ACCESS_KINDS:
            _plan_access(ctx, res)
    return ctx


def build_plan(contexts: list[Context], *, basis: str, now: datetime | None = None) -> Plan:
    """Merge per-service results into one ordered plan."""
    changes = sorted((c for ctx in contexts for c in ctx.changes), key=Change.sort_key)
    refused = [r for ctx in contexts for r in ctx.refused]
    return Plan(changes=changes, refused=refused, basis=basis, created_at=now,
                fingerprints={ctx.service: ctx.observed.fingerprint() for ctx in contexts})


def plan_basis(people: list[Person], policy: Policy, links: dict[str, dict[str, str]]) -> str:
    """Hash of what a plan depends on besides observed state: roster, policy, links."""
    return digest([[p.model_dump(mode="json") for p in people], policy.digest, links])


# --- resources ------------------------------------------------------------------------


def _resolve_ids(ctx: Context) -> None:
    by_name: dict[tuple[str, str], list[str]] = {}
    for g in ctx.observed.groups:
        by_name.setdefault((g.kind, g.name), []).append(g.external_id)
    for res in ctx.policy.resources.get(ctx.service, []):
        ext = res.external_id or ctx.known_ids.get(res.key)
        if ext is None and res.kind != "chat":
            found = by_name.get((res.kind, res.name), [])
            if len(found) > 1:
                ctx.refuse(f"{res.kind}:{res.key}", f"{len(found)} {res.kind}s are named {res.name!r}; "
                           "set external_id in the policy")
                ext = "?"
            ext = found[0] if len(found) == 1 else ext
        ctx.ids[res.key] = ext


def _dept_ref(ctx: Context, key: str) -> str:
    return ctx.ids.get(key) or f"@{key}"


def _plan_departments(ctx: Context) -> None:
    for res in ctx.policy.resources.get(ctx.service, []):
        if res.kind != "department" or ctx.ids.get(res.key):
            continue
        parent = _dept_ref(ctx, res.parent) if res.parent else ctx.traits.root_department
        ctx.changes.append(Change(op="add", service=ctx.service, target=f"department:{res.key}",
                                  object_id="*", after={"name": res.name, "parent": parent},
                                  reason=f"department {res.name} is declared in the policy", label=res.name))


# --- accounts -------------------------------------------------------------------------


def _departments(ctx: Context) -> tuple[list[tuple[str, str, dict]], set[str]]:
    """(key, ref, wants) per managed department, and the managed departments' ids; once per context."""
    if not hasattr(ctx, "_depts"):
        keys = [r.key for r in ctx.policy.resources.get(ctx.service, []) if r.kind == "department"]
        ctx._depts = ([(k, _dept_ref(ctx, k), ctx.desired.members_of(k)) for k in keys],
                      {ctx.ids[k] for k in keys if ctx.ids.get(k)})
    return ctx._depts


def _account_fields(ctx: Context, pid: str, account: Account | None) -> dict:
    person = ctx.people[pid]
    fields = {"name": clean_text(person.name), "mobile": local_mobile(person.mobile), "email": person.email}
    if not ctx.traits.has_departments:
        return fields
    departments, managed = _departments(ctx)
    depts, leads = set(), set()
    for _, ref, wants in departments:
        want = wants.get(pid)
        if want:
            depts.add(ref)
            if want.level == "manage":
                leads.add(ref)
    if account is not None:
        depts |= {d for d in account.departments if d not in managed}
        leads |= {d for d in account.leader_of if d not in managed}
    root = ctx.traits.root_department
    return {**fields, "departments": sorted(depts or {root}), "leader_of": sorted(leads & (depts or set()))}


def _plan_accounts(ctx: Context) -> None:
    for pid, rules in sorted(ctx.desired.accounts.items()):
        ext = ctx.person_ext.get(pid)
        if ext is None or ext not in ctx.accounts:
            _plan_create(ctx, pid, rules)
        else:
            _plan_update(ctx, pid, ctx.accounts[ext], rules)
    if ctx.policy.service(ctx.service).leavers == "keep":
        return
    for ext, pid in sorted(ctx.ext_person.items()):
        person, account = ctx.people.get(pid), ctx.accounts.get(ext)
        if person and account and account.active and person.status == "left" and pid not in ctx.desired.accounts:
            after = None
            if ctx.traits.removal_needs_acceptor:
                heir = person.attributes.get("successor")
                acceptor = ctx.person_ext.get(heir) if heir else None
                if acceptor is None or acceptor not in ctx.accounts:
                    ctx.refuse("account", f"not deleting {person.name}'s {ctx.service} account: its documents "
                               "would go to no one — run `muster offboard` to name a successor with an account",
                               pid)
                    continue
                after = {"acceptor": acceptor}
            ctx.changes.append(Change(op="remove", service=ctx.service, target="account", object_id=pid,
                                      external_id=ext, before={"active": True}, after=after, label=person.name,
                                      reason=f"{person.name} has left the coalition "
                                             f"({ctx.traits.account_removal} the account"
                                             f"{', their documents to ' + ctx.label(heir) if after else ''})"))


def _addressable(ctx: Context) -> None:
    """Manual services: whoever the policy grants something and has a mobile can be added by hand."""
    for pid in sorted(ctx.desired.accounts):
        person = ctx.people.get(pid)
        if pid not in ctx.person_ext and person is not None and person.mobile:
            ext = userid_for(ctx.prefix, pid)
            if ext not in ctx.ext_person:
                ctx.person_ext[pid] = ext


def _plan_create(ctx: Context, pid: str, rules: tuple[str, ...]) -> None:
    person = ctx.people[pid]
    if ctx.traits.account_needs_contact and not (person.mobile or person.email):
        ctx.refuse("account", f"cannot create an account for {person.name}: no mobile or email", pid)
        return
    clash = ctx.contact_owner(person)
    if clash:
        ctx.refuse("account", f"not creating an account for {person.name}: account {clash} already has their "
                   "mobile or email but could not be linked to them (see `muster review`)", pid)
        return
    ext = userid_for(ctx.prefix, pid)
    if ext in ctx.accounts:  # an account with our id exists but is linked elsewhere or under review
        ctx.refuse("account", f"account id {ext} exists but is not linked to {person.name}; see review", pid)
        return
    ctx.person_ext[pid] = ext
    ctx.changes.append(Change(op="add", service=ctx.service, target="account", object_id=pid, external_id=ext,
                              after=_account_fields(ctx, pid, None), rules=rules, label=person.name,
                              reason=f"{person.name} needs a {ctx.service} account (rules: {', '.join(rules)})"))


def _plan_update(ctx: Context, pid: str, account: Account, rules: tuple[str, ...]) -> None:
    want = _account_fields(ctx, pid, account)
    have = {"name": clean_text(account.name), "mobile": local_mobile(try_mobile(account.mobile)),
            "email": try_email(account.email), "departments": sorted(account.departments),
            "leader_of": sorted(account.leader_of)}
    before, after = {}, {}
    person = ctx.people[pid]
    for name, value in want.items():
        if value is None or value == have.get(name):
            continue
        clash = name in ("mobile", "email") and ctx.contact_owner(person, (getattr(person, name),))
        if clash:
            ctx.refuse("account", f"not updating {person.name}'s {name}: account {clash} already has it "
                       "(see `muster review`)", pid)
            continue
        before[name], after[name] = have[name], value
    if not account.active:
        before["active"], after["active"] = False, True
    if after:
        ctx.changes.append(Change(op="change", service=ctx.service, target="account", object_id=pid,
                                  external_id=account.external_id, before=before, after=after, rules=rules,
                                  label=ctx.label(pid), reason=_update_reason(ctx, pid, after, rules)))


def _update_reason(ctx: Context, pid: str, after: dict, rules: tuple[str, ...]) -> str:
    what = ", ".join(sorted(after))
    return f"update {ctx.label(pid)}'s {what} to match the roster and policy (rules: {', '.join(rules)})"


# --- chats and tags -------------------------------------------------------------------


def _granted_with_account(ctx: Context, res: Resource, target: str, purpose: str) -> dict[str, Want]:
    """Who the policy grants ``res`` and holds (or is getting) an account; the others are refused."""
    wants = ctx.desired.members_of(res.key)
    members = {pid: w for pid, w in wants.items() if pid in ctx.person_ext}
    for pid in sorted(set(wants) - set(members)):
        ctx.refuse(target, f"{ctx.label(pid)} has no {ctx.service} account {purpose}", pid)
    return members


def _plan_group(ctx: Context, res: Resource) -> None:
    target = f"{res.kind}:{res.key}"
    ext = ctx.ids.get(res.key)
    members = _granted_with_account(ctx, res, target, "to add" if not ctx.traits.manual else "(no mobile to "
                                    "find them by)")
    group = ctx.groups.get((res.kind, ext)) if ext else None
    if group is None and ctx.traits.manual:
        ctx.refuse(target, f"{res.kind} {res.name} is not declared in muster.yaml (services.{ctx.service}.groups "
                   "or groups_file), so nobody can be asked to change it")
        return
    if ext is None:
        _plan_group_create(ctx, res, target, members)
        return
    if group is None:
        ctx.refuse(target, f"{res.kind} {res.name} ({ext}) was not found in {ctx.service}; "
                   "it may have been dissolved — fix its id in the policy")
        return
    observed = {m.external_id: m.level for m in ctx.observed.members.get(ext, [])}
    if ctx.traits.manual:  # the owner is declared: the one asked to make the changes, never planned away
        observed.pop(group.owner, None)
        members = {pid: w for pid, w in members.items() if ctx.person_ext[pid] != group.owner}
    _plan_member_adds(ctx, res, target, ext, members, observed)
    if res.kind == "chat" and not ctx.traits.manual:
        _plan_owner(ctx, res, target, ext, members, group)
    _plan_member_removals(ctx, res, target, ext, members, observed, group)


def _plan_group_create(ctx: Context, res: Resource, target: str, members: dict[str, Want]) -> None:
    if res.kind == "chat" and len(members) < ctx.traits.chat_min_members:
        ctx.refuse(target, f"chat {res.name} needs at least {ctx.traits.chat_min_members} members to be "
                   f"created; the policy grants it to {len(members)}")
        return
    owner = _choose_owner(members, None) if res.kind == "chat" else None
    ids = sorted(ctx.person_ext[pid] for pid in members)
    if res.kind == "chat" and len(ids) > ctx.traits.chat_max_members:
        ctx.refuse(target, f"{len(ids) - ctx.traits.chat_max_members} people left out of chat {res.name}: "
                   f"{ctx.service} chats hold at most {ctx.traits.chat_max_members}", count=len(ids))
        ids = ids[: ctx.traits.chat_max_members]
    rules = tuple(sorted({r for w in members.values() for r in w.rules}))
    after = {"kind": res.kind, "name": res.name, "members": ids,
             "owner": ctx.person_ext[owner] if owner else None,
             "proposed_id": _proposed_id(ctx, res) if res.kind == "chat" else None}
    ctx.changes.append(Change(op="add", service=ctx.service, target=target, object_id="*", after=after,
                              rules=rules, label=res.name,
                              reason=f"create {res.kind} {res.name} with {len(ids)} members "
                                     f"(rules: {', '.join(rules)})"))


def _proposed_id(ctx: Context, res: Resource) -> str:
    return f"{ctx.prefix}{res.key.replace('-', '')}"[:32]


def _plan_member_adds(ctx: Context, res: Resource, target: str, ext: str, members: dict[str, Want],
                      observed: dict[str, str]) -> None:
    room = ctx.traits.chat_max_members - len(observed) if res.kind == "chat" else None
    missing = sorted(pid for pid in members if ctx.person_ext[pid] not in observed)
    if room is not None and len(missing) > room:
        ctx.refuse(target, f"{len(missing) - max(room, 0)} people not added to {res.name}: "
                   f"{ctx.service} chats hold at most {ctx.traits.chat_max_members}", count=len(missing) - room)
        missing = missing[: max(room, 0)]
    for pid in missing:
        want = members[pid]
        ctx.changes.append(Change(op="add", service=ctx.service, target=target, object_id=pid, group_id=ext,
                                  external_id=ctx.person_ext[pid], after="member", rules=want.rules,
                                  label=ctx.label(pid),
                                  reason=f"add {ctx.label(pid)} to {res.name} (rules: {', '.join(want.rules)})"))


def _choose_owner(members: dict[str, Want], current: str | None) -> str | None:
    """Keep the current owner if policy allows; else the highest-level member, lowest id first."""
    owners = sorted(pid for pid, w in members.items() if w.level == "owner")
    if owners:
        return current if current in owners else owners[0]
    if current in members:
        return current
    ranked = sorted(members, key=lambda pid: (-LEVEL_RANK[members[pid].level], pid))
    return ranked[0] if ranked else None


def _plan_owner(ctx: Context, res: Resource, target: str, ext: str, members: dict[str, Want],
                group: Group) -> None:
    current_pid = ctx.ext_person.get(group.owner) if group.owner else None
    if current_pid is None and group.owner and ctx.policy.service(ctx.service).unknown_members == "keep" \
            and not any(w.level == "owner" for w in members.values()):
        return  # an owner we don't know, and no rule says who should own it: leave it
    new = _choose_owner(members, current_pid)
    if new is None or new == current_pid:
        return
    who = ctx.label(current_pid) if current_pid else (group.owner or "nobody")
    why = ("the policy names the owners" if members[new].level == "owner"
           else f"the current owner {who} is no longer granted this chat")
    ctx.changes.append(Change(op="change", service=ctx.service, target=target, object_id=new, group_id=ext,
                              external_id=ctx.person_ext[new], before=group.owner, after="owner",
                              rules=members[new].rules, label=ctx.label(new),
                              reason=f"make {ctx.label(new)} owner of {res.name}: {why}"))


def _plan_member_removals(ctx: Context, res: Resource, target: str, ext: str, members: dict[str, Want],
                          observed: dict[str, str], group: Group, what: str = "") -> None:
    wanted = {ctx.person_ext[pid] for pid in members}
    unknown: list[str] = []
    remove_unknown = ctx.policy.service(ctx.service).unknown_members == "remove"
    for member in sorted(set(observed) - wanted):
        pid = ctx.ext_person.get(member)
        if pid is None and not remove_unknown:
            unknown.append(member)
            continue
        person = ctx.people.get(pid) if pid else None
        why = (f"{person.name} has left" if person and person.status == "left"
               else f"no rule grants {res.name} to {person.name}" if person
               else "not in the roster (unknown_members: remove)")
        whom = person.name if person else member
        ctx.changes.append(Change(op="remove", service=ctx.service, target=target,
                                  object_id=pid or f"ext:{member}", group_id=ext, external_id=member,
                                  before=observed[member], label=whom,
                                  reason=(f"revoke {whom}'s {what} {res.name}: {why}" if what
                                          else f"remove {whom} from {res.name}: {why}")))
    if unknown:
        ctx.refuse(target, f"kept {len(unknown)} member(s) of {res.name} who match no one in the roster "
                   "(unknown_members: keep) — link or add them", count=len(unknown))


# --- documents and folders -------------------------------------------------------------


def _plan_access(ctx: Context, res: Resource) -> None:
    """Grants on a doc/folder: each wanted person at exactly the wanted level; others revoked.

    The owner is never touched (ownership moves by transfer, at offboarding). A grant above
    the policy's level is lowered: access is declared, and a wider one is drift to settle.
    """
    target = f"{res.kind}:{res.key}"
    ext = ctx.ids.get(res.key)
    group = ctx.groups.get((res.kind, ext)) if ext else None
    if group is None:
        ctx.refuse(target, f"{res.kind} {res.name} is not declared in muster.yaml (services.{ctx.service}.groups "
                   "or groups_file), so nobody can be asked to share it" if ctx.traits.manual else
                   f"{res.kind} {res.name} ({ext}) could not be read in {ctx.service}; "
                   "it may have been deleted or the app lost access — check its id in the policy")
        return
    members = _granted_with_account(ctx, res, target, f"to share {res.name} with")
    observed = {m.external_id: m.level for m in ctx.observed.members.get(ext, [])}
    owner_ext = group.owner
    for pid, want in sorted(members.items()):
        account = ctx.person_ext[pid]
        have = observed.get(account)
        if account == owner_ext or have == "owner" or have == want.level:
            continue
        rules = ", ".join(want.rules)
        if have is None:
            ctx.changes.append(Change(op="add", service=ctx.service, target=target, object_id=pid, group_id=ext,
                                      external_id=account, after=want.level, rules=want.rules,
                                      label=ctx.label(pid),
                                      reason=f"share {res.name} with {ctx.label(pid)} at {want.level} "
                                             f"(rules: {rules})"))
        else:
            ctx.changes.append(Change(op="change", service=ctx.service, target=target, object_id=pid,
                                      group_id=ext, external_id=account, before=have, after=want.level,
                                      rules=want.rules, label=ctx.label(pid),
                                      reason=f"set {ctx.label(pid)}'s access to {res.name} from {have} to "
                                             f"{want.level} (rules: {rules})"))
    extra = {e: lvl for e, lvl in observed.items() if lvl != "owner" and e != owner_ext}
    _plan_member_removals(ctx, res, target, ext, members, extra, group, what="access to")


__all__ = ["Context", "ROOT_DEPARTMENT", "build_plan", "plan_basis", "plan_service"]

"""Offboarding: a leaver hands over what they own before they lose access.

``offboard`` (the ``muster offboard`` command, and the sync for anyone whose status became
``leaving``) does, in this order and never otherwise:

1. mark the person ``leaving``;
2. find everything they own in every service: chats, the documents and folders the policy
   manages, and the files they own inside those folders;
3. transfer each to a successor — the one given, else the one the policy names for their
   role (``successors: {role: role-or-person}``) — and read it back to verify;
4. only when every transfer is verified: mark them ``left`` (or, with a grace period, keep
   their access until it ends) and apply the removals that follow — memberships revoked and
   accounts disabled through the normal journal.

Whatever cannot be handed over by API becomes a work item for a coordinator, and
revocation waits for it: nothing a leaver owns is ever left without an owner. The
successor is remembered on the leaver (``successor``): where deleting an account hands
the rest of its documents to someone (Feishu), the deletion names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import state
from connectors import ConnectorError, connector_class
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from flows.workspace import Workspace
from mappings.models import Change, Group, MembershipDelta, Observed, Person, Plan
from mappings.services import ACCESS_KINDS


class OffboardError(Exception):
    """The offboarding cannot start (unknown person, bad successor)."""


@dataclass
class Handover:
    """One thing the leaver owned and what became of it."""

    service: str
    kind: str
    external_id: str
    name: str
    successor: str | None
    done: bool
    detail: str = ""


@dataclass
class OffboardResult:
    """Everything one offboarding did or is waiting for."""

    person_id: str
    status: str  # left | leaving (grace or waiting for work items)
    handovers: list[Handover] = field(default_factory=list)
    work_items: list[int] = field(default_factory=list)
    revoked: int = 0
    detail: str = ""


def choose_successor(ws: Workspace, leaver: Person, given: str | None, today: date) -> Person | None:
    """The given successor, else the policy's for the leaver's roles; never the leaver themself."""
    people = {p.id: p for p in state.list_people(ws.db)}
    if given:
        person = people.get(given)
        if person is None or person.status not in ("active",) or person.id == leaver.id:
            raise OffboardError(f"successor {given!r} is not an active person other than {leaver.name}")
        return person
    for role in sorted(leaver.role_names(today)):
        target = ws.policy.successors.get(role)
        if target in people and people[target].status == "active" and target != leaver.id:
            return people[target]
        holders = sorted(p.id for p in people.values() if p.status == "active" and p.id != leaver.id
                         and target in p.role_names(today))
        if holders:
            return people[holders[0]]
    return None


def offboard(ws: Workspace, person_id: str, *, successor: str | None = None, grace_days: int | None = None,
             run_id: str, today: date | None = None) -> OffboardResult:
    """Hand over, verify, then revoke (see the module docstring)."""
    today = today or date.today()
    try:
        leaver = state.get_person(ws.db, person_id)
    except KeyError:
        raise OffboardError(f"no person {person_id!r} in the roster") from None
    heir = choose_successor(ws, leaver, successor, today)
    if leaver.status != "left":
        state.set_status(ws.db, leaver.id, "leaving")
    if heir is not None:  # remembered: a deleted Feishu account hands its remaining documents to them
        _set_attribute(ws, leaver.id, "successor", heir.id)
    result = OffboardResult(person_id, "leaving")
    observed = pull_all(ws, run_id)
    for service, obs in sorted(observed.items()):
        _hand_over(ws, run_id, leaver, heir, service, obs, result)
    if result.work_items:
        result.detail = f"waiting for {len(result.work_items)} work item(s) before revoking access"
        return result
    if grace_days:
        until = (today + timedelta(days=grace_days)).isoformat()
        _set_attribute(ws, leaver.id, "leave_on", until)
        result.detail = f"access stays until {until}; the first sync after that revokes it"
        return result
    state.set_status(ws.db, leaver.id, "left")
    result.status, result.revoked = "left", _revoke(ws, run_id, leaver.id)
    return result


def _hand_over(ws: Workspace, run_id: str, leaver: Person, heir: Person | None, service: str, obs: Observed,
               result: OffboardResult) -> None:
    links = {i.person_id: ext for ext, i in state.identities_for(ws.db, service).items()}
    mine = links.get(leaver.id)
    if mine is None or not obs.complete:
        if mine is not None:
            result.work_items.append(state.add_work_item(
                ws.db, kind="handover", service=service, person_id=leaver.id, assignee=None,
                detail=f"{service} could not be read ({obs.error}); check what {leaver.name} owns by hand"))
        return
    for group in _owned(ws, service, obs, mine):
        to = links.get(heir.id) if heir else None
        handover = _transfer(ws, run_id, service, group, leaver, heir, to)
        result.handovers.append(handover)
        if not handover.done:
            result.work_items.append(state.add_work_item(
                ws.db, kind="handover", service=service, person_id=leaver.id, assignee=heir.id if heir else None,
                detail=f"make someone owner of {service} {group.kind} {group.name} ({group.external_id}) before "
                       f"{leaver.name} leaves: {handover.detail}"))


def _owned(ws: Workspace, service: str, obs: Observed, mine: str) -> list[Group]:
    """Chats, documents and folders the leaver owns, and the files they own in managed folders."""
    owned = [g for g in obs.groups if g.kind in ("chat", *ACCESS_KINDS) and g.owner == mine]
    folders = [g for g in obs.groups if g.kind == "folder"]
    if folders and hasattr(connector_class(service), "list_folder"):
        runner = ws.connector(service)
        try:
            seen = {g.external_id for g in owned}
            for folder in folders:
                for item in runner.list_folder(folder):
                    if item.owner == mine and item.external_id not in seen:
                        seen.add(item.external_id)
                        owned.append(item)
        finally:
            runner.close()
    return owned


def _transfer(ws: Workspace, run_id: str, service: str, group: Group, leaver: Person, heir: Person | None,
              to: str | None) -> Handover:
    base = Handover(service, group.kind, group.external_id, group.name, heir.id if heir else None, False)
    if heir is None or to is None:
        base.detail = "no successor with an account there" if heir else "no successor named or in the policy"
        return base
    change = Change(op="change", service=service, target=f"{group.kind}:{group.external_id}", object_id=heir.id,
                    group_id=group.external_id, external_id=to, before=group.owner, after="owner",
                    label=heir.name, reason=f"hand {group.name} over from {leaver.name} to {heir.name} before "
                                            f"{leaver.name} leaves")
    plan_id = f"offboard-{run_id}"
    state.record_planned(ws.db, plan_id, run_id, [change])
    state.mark_sent(ws.db, plan_id, [change.key])
    runner = ws.connector(service)
    try:
        if group.kind == "chat":
            runner.apply_membership(group, MembershipDelta(add=frozenset({to}), owner=to))
        else:  # a document or folder: the leaver keeps view until their account goes
            runner.transfer_owner(group, to)
        verified = runner.get_group(group.kind, group.external_id).owner == to
    except ConnectorError as exc:
        state.mark_failed(ws.db, plan_id, [change.key], str(exc))
        base.detail = str(exc)
        return base
    finally:
        runner.close()
    if not verified:
        state.mark_failed(ws.db, plan_id, [change.key], "the service did not show the new owner")
        base.detail = "the transfer did not show up when read back"
        return base
    state.mark_applied(ws.db, plan_id, [change.key])
    state.append(ws.db, run_id=run_id, actor=ws.actor, action="change owner", service=service,
                 target=change.target, object_id=heir.id, reason=change.reason,
                 detail={"before": group.owner, "after": to})
    base.done = True
    return base


def _revoke(ws: Workspace, run_id: str, person_id: str) -> int:
    """Apply this person's removals (approved by the offboarding itself)."""
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=True)
    mine = [c for c in result.plan.changes if c.object_id == person_id]
    result.plan = Plan(changes=mine, fingerprints=result.plan.fingerprints, basis=result.plan.basis,
                       created_at=result.plan.created_at)
    state.save_plan(ws.db, result.plan, run_id)
    outcomes = apply_all(ws, result, run_id, approved_by=ws.actor)
    return sum(len(o.applied) for o in outcomes.values())


def _set_attribute(ws: Workspace, person_id: str, name: str, value: str) -> None:
    person = state.get_person(ws.db, person_id)
    state.upsert_people(ws.db, [person.model_copy(update={"attributes": {**person.attributes, name: value}})])


def expire_grace(ws: Workspace, today: date) -> list[str]:
    """Leavers whose grace period has ended and who owe no work items become ``left``."""
    done = []
    for person in state.list_people(ws.db, status="leaving"):
        until = person.attributes.get("leave_on")
        if until and until <= today.isoformat() and not state.open_work_items(ws.db, person_id=person.id):
            state.set_status(ws.db, person.id, "left")
            done.append(person.id)
    return done


def offboard_leaving(ws: Workspace, run_id: str, today: date | None = None) -> list[OffboardResult]:
    """The sync's first step: end finished grace periods, offboard whoever became ``leaving``.

    A person still within a grace period, or with open work items, is left for a later run.
    """
    today = today or date.today()
    with ws.lock:
        expire_grace(ws, today)
        leaving = [p for p in state.list_people(ws.db, status="leaving")
                   if not p.attributes.get("leave_on") and not state.open_work_items(ws.db, person_id=p.id)]
    results = []
    for person in leaving:
        try:
            results.append(offboard(ws, person.id, run_id=run_id, today=today))
        except OffboardError as exc:
            results.append(OffboardResult(person.id, "leaving", detail=str(exc)))
    return results


__all__ = ["Handover", "OffboardError", "OffboardResult", "choose_successor", "expire_grace", "offboard",
           "offboard_leaving"]

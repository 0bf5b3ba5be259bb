"""Apply: walk a plan through the connectors, journaling every change before it is sent.

For each service, in the plan's phase order: create departments, create/update accounts,
create chats and tags, then per group one batched membership call (adds, owner, removes —
the connector orders them for its API; for a document or folder one access call of
grants, level changes and revocations), and last the account removals. Each change's
journal row is marked *sent* before the call and *applied* or *failed* after it — a call
that got no answer (timed out, connection lost after sending) stays *sent*, its outcome
unknown, as after a crash — so a crash leaves a precise record: a re-run re-plans from a fresh read (what landed is no
longer planned), skips what this plan already applied, and refuses to repeat a create
whose outcome is unknown where the service offers no idempotent create.

A failing service does not stop the others; within a service a failing change does not
stop the rest, except what depends on it (members of a chat that was not created).

A manual service (personal WeChat groups, Shimo) has no API to call: its changes become one
work item per group for the group's owner, journaled the same way (``flows.work_items``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import state
from connectors import AuthError, ConnectorError, Runner, TransientError
from flows.workspace import Workspace
from mappings.models import (
    AccessDelta,
    AccountSpec,
    ApplyResult,
    Change,
    Group,
    GroupSpec,
    Identity,
    MembershipDelta,
    Plan,
)
from mappings.services import ACCESS_KINDS, SERVICES
from state.journal import record_applied_many

Progress = Callable[[str, int], None]


@dataclass
class Outcome:
    """What applying one service's part of a plan did."""

    service: str
    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    skipped: list[Change] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    calls: int = 0
    error: str | None = None

    def summary(self) -> dict:
        return {"applied": len(self.applied), "failed": len(self.failed), "skipped": len(self.skipped),
                "write_calls": self.calls, "error": self.error,
                "failures": [f"{c.target} {c.label or c.object_id}: {e}" for c, e in self.failed[:50]]}


class _Apply:
    def __init__(self, ws: Workspace, plan: Plan, service: str, run_id: str, runner: Runner,
                 progress: Progress, approved_by: str | None):
        self.ws, self.plan, self.service, self.run_id = ws, plan, service, run_id
        self.plan_id = plan.id  # hashes every change key: compute it once
        self.runner, self.progress, self.approved_by = runner, progress, approved_by
        self.out = Outcome(service)
        with ws.lock:
            self.ids = state.resource_ids(ws.db, service)
        self.ids.update({r.key: r.external_id for r in ws.policy.resources.get(service, []) if r.external_id})
        self.failed_objects: set[str] = set()
        self.failed_creates: set[str | None] = set()

    # --- bookkeeping ------------------------------------------------------------------

    def send(self, changes: list[Change], call: Callable[[], ApplyResult],
             links: Callable[[ApplyResult], list[Identity]] | None = None) -> ApplyResult | None:
        """Journal ``changes`` as sent, make the call, then record its outcome.

        On success the journal's applied marks, the audit entries, the applied values and the
        identity links ``links`` gives for the result are written in one transaction, each as one
        prepared statement for the whole batch.
        """
        keys = [c.key for c in changes]
        with self.ws.lock:
            state.mark_sent(self.ws.db, self.plan_id, keys)
        try:
            result = call()
        except AuthError:
            self._failed(changes, "authentication failed")
            raise
        except TransientError as exc:
            if exc.unanswered:  # the service may have acted: the journal keeps it sent, outcome unknown
                self._failed(changes, str(exc), journal=False)
            else:
                self._failed(changes, str(exc))
            return None
        except ConnectorError as exc:
            self._failed(changes, str(exc))
            return None
        self.out.calls += result.calls
        self.out.rejected += list(result.rejected)
        answer = result.model_dump(mode="json")
        entries = [self._audit(c) for c in changes]
        identities = links(result) if links else []
        with self.ws.lock, self.ws.db.atomic():
            state.mark_applied(self.ws.db, self.plan_id, keys, answer)
            state.append_many(self.ws.db, entries)
            record_applied_many(self.ws.db, [(c.service, c.target, c.object_id, c.after) for c in changes],
                                self.run_id)
            if identities:
                state.link(self.ws.db, identities)
        self.out.applied += changes
        self.progress("changes", len(changes))
        return result

    def _failed(self, changes: list[Change], error: str, *, journal: bool = True) -> None:
        if journal:
            with self.ws.lock:
                state.mark_failed(self.ws.db, self.plan_id, [c.key for c in changes], error)
        self.out.failed += [(c, error) for c in changes]
        self.failed_creates.update(c.external_id for c in changes if c.target == "account" and c.op == "add")
        self.failed_objects.update(c.object_id if c.object_id != "*" else c.target for c in changes)
        self.progress("changes", len(changes))

    def _audit(self, c: Change) -> dict:
        return {"run_id": self.run_id, "actor": self.ws.actor, "action": f"{c.op} {c.target.split(':')[0]}",
                "service": c.service, "target": c.target, "object_id": c.object_id, "reason": c.reason,
                "detail": {"before": c.before, "after": c.after, "external_id": c.external_id,
                           "plan": self.plan_id, "rules": list(c.rules)},
                "approved_by": self.approved_by if c.op == "remove" else None}

    def skip(self, c: Change, why: str) -> None:
        self._failed([c], why)

    # --- id substitution --------------------------------------------------------------

    def dept(self, ref: str) -> str | None:
        return self.ids.get(ref[1:]) if ref.startswith("@") else ref

    def depts(self, refs: list[str]) -> list[str] | None:
        out = [self.dept(r) for r in refs]
        return None if None in out else out

    def group_id(self, c: Change) -> str | None:
        return c.group_id or self.ids.get(c.target.split(":", 1)[1])


def apply_service(ws: Workspace, plan: Plan, service: str, run_id: str, *, progress: Progress | None = None,
                  approved_by: str | None = None) -> Outcome:
    """Apply ``plan``'s changes for ``service``; never raises for service errors."""
    changes = plan.for_service(service)
    if not changes:
        return Outcome(service)
    with ws.lock:
        done = state.journal_status(ws.db, plan.id)
        todo = [c for c in changes if done.get(c.key) != "applied"]
        state.record_planned(ws.db, plan.id, run_id, todo)  # write-ahead: every change before any call
    if SERVICES[service].manual:
        return _work_items(ws, plan, service, run_id, todo, changes, done, progress, approved_by)
    runner = ws.connector(service)
    job = _Apply(ws, plan, service, run_id, runner, progress or (lambda w, n: None), approved_by)
    job.out.skipped = [c for c in changes if done.get(c.key) == "applied"]
    job.progress("changes:total", len(todo))
    try:
        _run(job, todo)
    except AuthError as exc:
        job.out.error = str(exc)
    finally:
        runner.close()
    return job.out


def _work_items(ws: Workspace, plan: Plan, service: str, run_id: str, todo: list[Change], changes: list[Change],
                done: dict[str, str], progress: Progress | None, approved_by: str | None) -> Outcome:
    from flows.work_items import issue_work_items

    tick = progress or (lambda w, n: None)
    tick("changes:total", len(todo))
    issued = issue_work_items(ws, plan, service, run_id, todo, progress=tick, approved_by=approved_by)
    return Outcome(service, applied=issued.applied, failed=issued.failed, calls=0,
                   skipped=[c for c in changes if done.get(c.key) == "applied"] + issued.skipped)


def _run(job: _Apply, todo: list[Change]) -> None:
    by_phase: dict[int, list[Change]] = defaultdict(list)
    for c in todo:
        by_phase[c.phase].append(c)
    for c in by_phase[0]:
        _create_department(job, c)
    for c in by_phase[1]:
        _account(job, c)
    for c in by_phase[2]:
        _create_group(job, c)
    members = by_phase[3] + by_phase[4] + by_phase[5]
    for target in sorted({c.target for c in members}):
        _membership(job, [c for c in members if c.target == target])
    for c in by_phase[6]:
        acceptor = (c.after or {}).get("acceptor")  # who receives the documents of a deleted account
        if acceptor:
            job.send([c], lambda c=c, a=acceptor: job.runner.disable_account(c.external_id, a))
        else:
            job.send([c], lambda c=c: job.runner.disable_account(c.external_id))


def _create_department(job: _Apply, c: Change) -> None:
    key = c.target.split(":", 1)[1]
    parent = job.dept(c.after["parent"])
    if parent is None:
        return job.skip(c, f"parent department {c.after['parent']} was not created")
    result = job.send([c], lambda: job.runner.create_group(GroupSpec(kind="department", name=c.after["name"],
                                                                     parent_id=parent)))
    if result and result.created_id:
        _remember(job, key, result.created_id, "department", c.after["name"])


def _account(job: _Apply, c: Change) -> None:
    fields = dict(c.after)
    for name in ("departments", "leader_of"):
        if name in fields:
            fields[name] = job.depts(fields[name])
            if fields[name] is None:
                return job.skip(c, "a department it belongs to was not created")
    if c.op == "change":
        job.send([c], lambda: job.runner.update_account(c.external_id, fields))
        return
    spec = AccountSpec(external_id=c.external_id, name=fields["name"], mobile=fields.get("mobile"),
                       email=fields.get("email"), departments=tuple(fields.get("departments") or ()),
                       leader_of=tuple(fields.get("leader_of") or ()))
    job.send([c], lambda: job.runner.create_account(spec),
             links=lambda result: [Identity(service=c.service, external_id=c.external_id, person_id=c.object_id,
                                            matched_by="created")])


def _create_group(job: _Apply, c: Change) -> None:
    key = c.target.split(":", 1)[1]
    with job.ws.lock:
        unsure = [r for r in state.unconfirmed(job.ws.db, [c.key]) if r["plan_id"] != job.plan.id]
    if unsure and c.after["kind"] == "chat" and job.service == "dingtalk":
        return job.skip(c, f"an earlier run may have created {c.after['name']} already (sent at "
                           f"{unsure[0]['sent_at']}, no answer recorded); set its chat id in the policy or "
                           "confirm it does not exist before re-running")
    members = tuple(m for m in c.after["members"] if m not in job.failed_objects
                    and not _created_failed(job, m))
    spec = GroupSpec(kind=c.after["kind"], name=c.after["name"], owner=c.after.get("owner"), members=members,
                     external_id=c.after.get("proposed_id"))
    result = job.send([c], lambda: job.runner.create_group(spec))
    if result and result.created_id:
        _remember(job, key, result.created_id, c.after["kind"], c.after["name"])


def _created_failed(job: _Apply, external_id: str | None) -> bool:
    return external_id in job.failed_creates


def _membership(job: _Apply, changes: list[Change]) -> None:
    group_id = job.group_id(changes[0])
    kind = changes[0].target.split(":", 1)[0]
    if group_id is None:
        for c in changes:
            job.skip(c, f"{changes[0].target} was not created")
        return
    ready = []
    for c in changes:
        if c.op != "remove" and _created_failed(job, c.external_id):
            job.skip(c, f"the {c.service} account of {c.label} was not created")
        else:
            ready.append(c)
    if not ready:
        return
    if kind in ACCESS_KINDS:
        access = AccessDelta(grant={c.external_id: c.after for c in ready if c.op != "remove"},
                             revoke=frozenset(c.external_id for c in ready if c.op == "remove"))
        document = Group(service=job.service, kind=kind, external_id=group_id, name=ready[0].target)
        job.send(ready, lambda: job.runner.apply_access(document, access))
        return
    delta = MembershipDelta(add=frozenset(c.external_id for c in ready if c.op == "add"),
                            remove=frozenset(c.external_id for c in ready if c.op == "remove"),
                            owner=next((c.external_id for c in ready if c.op == "change"), None))
    group = Group(service=job.service, kind=kind, external_id=group_id, name=ready[0].target)
    job.send(ready, lambda: job.runner.apply_membership(group, delta))


def _remember(job: _Apply, key: str, external_id: str, kind: str, name: str) -> None:
    job.ids[key] = external_id
    with job.ws.lock:
        state.set_resource_id(job.ws.db, job.service, key, external_id, kind=kind, name=name, run_id=job.run_id)


__all__ = ["Outcome", "apply_service"]

"""The steps of a sync as plain functions: pull → resolve → plan (apply is in ``apply.py``).

A Prefect flow only orders these (``flows/sync.py``); the CLI's ``pull`` and ``plan``
call them directly, and tests run them without a Prefect server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import state
from connectors import ConnectorError, ListsGroups, NotFound, ReadsGroups
from flows import quarantine
from flows.workspace import Workspace
from mappings.desired import GrantException, desired_state
from mappings.guards import guard_plan
from mappings.identity import PeopleIndex, Resolution, resolve
from mappings.models import Observed, Person, Plan, Refusal
from mappings.plan import Context, build_plan, plan_basis, plan_service
from mappings.services import ACCESS_KINDS
from state.db import paused_gc

Progress = Callable[[str, int], None]  # (what, how many more)


def _noop(what: str, n: int) -> None:
    pass


def pull_service(ws: Workspace, service: str, run_id: str, progress: Progress = _noop) -> Observed:
    """Read one service (accounts, departments, tags, known chats) and save the snapshot.

    Never raises for a service failure: the snapshot comes back ``complete=False`` with the
    error, so the planner removes nothing there and the other services go on. A paused
    service (``flows.quarantine``) is probed instead, and read only if the probe answers.
    """
    obs = Observed(service=service)
    skipped = quarantine.gate(ws, service, run_id)  # a paused service is probed, not read
    if skipped:
        obs.complete, obs.error = False, skipped
    else:
        try:
            runner = ws.connector(service)
            try:
                _read(ws, runner, obs, progress)
            finally:
                runner.close()
        except ConnectorError as exc:
            obs.complete, obs.error = False, str(exc)
        except Exception as exc:  # noqa: BLE001 - config problems (a missing secret) land here too
            obs.complete, obs.error = False, f"{type(exc).__name__}: {exc}"
        quarantine.note_read(ws, obs, run_id)
    with ws.lock:
        state.save_snapshot(ws.db, run_id, obs)
    return obs


def _read(ws: Workspace, runner, obs: Observed, progress: Progress) -> None:
    for account in runner.list_people():
        obs.accounts.append(account)
        progress("accounts", 1)
    connector = runner.connector
    if isinstance(connector, ListsGroups):
        obs.groups.extend(runner.list_groups())
        for group in obs.groups:
            if group.kind == "tag":
                obs.members[group.external_id] = list(runner.list_members(group))
    if isinstance(connector, ReadsGroups):
        for kind, external_id in _known_groups(ws, obs.service):
            try:
                group = runner.get_group(kind, external_id)
            except NotFound:
                continue  # the planner reports a known chat or document that vanished
            obs.groups.append(group)
            obs.members[external_id] = list(runner.list_members(group))
            _watch(ws, runner, group)
            progress("chats" if kind == "chat" else "documents", 1)


def _watch(ws: Workspace, runner, group) -> None:
    """Subscribe once to a document's events where the service needs it, so drift can name who changed it."""
    if group.kind not in ACCESS_KINDS or not hasattr(runner.connector, "watch"):
        return
    with ws.lock:
        if state.get_cursor(ws.db, group.service, f"watch:{group.external_id}"):
            return
    try:
        runner.watch(group)
    except ConnectorError:
        return  # events are a nicety: the next read tries again
    with ws.lock:
        state.set_cursor(ws.db, group.service, f"watch:{group.external_id}", "subscribed")


READ_BY_ID = ("chat", *ACCESS_KINDS)  # kinds no API lists: read one by one, by the ids Muster knows


def _known_groups(ws: Workspace, service: str) -> list[tuple[str, str]]:
    with ws.lock:
        known = state.resource_ids(ws.db, service)
    out = set()
    for r in ws.policy.resources.get(service, []):
        if r.kind in READ_BY_ID and (r.external_id or r.key in known):
            out.add((r.kind, r.external_id or known[r.key]))
    return sorted(out)


def resolve_service(ws: Workspace, obs: Observed, people: list[Person], index: PeopleIndex) -> Resolution:
    """Link the service's accounts to people; persist new links and review items."""
    prefix = ws.policy.service(obs.service).userid_prefix
    with ws.lock:
        existing = state.identities_for(ws.db, obs.service)
    res = resolve(obs.service, obs.accounts, index, existing, userid_prefix=prefix)
    with ws.lock:
        state.link(ws.db, res.new)
        for ident in res.dropped:
            state.unlink(ws.db, ident.service, ident.external_id)
        for item in res.reviews:
            state.add_review(ws.db, service=item.service, external_id=item.external_id, reason=item.reason,
                             candidates=list(item.candidates))
    return res


@dataclass
class PlanResult:
    """A plan plus what went into it, for reports."""

    plan: Plan
    resolutions: dict[str, Resolution] = field(default_factory=dict)
    observed: dict[str, Observed] = field(default_factory=dict)
    people: int = 0


def plan_all(ws: Workspace, observed: dict[str, Observed], *, allow_removals: bool = False,
             today: date | None = None) -> PlanResult:
    """Resolve identities and diff desired against observed for every service read."""
    today = today or date.today()
    with ws.lock:
        people = state.list_people(ws.db)
    with paused_gc():  # 100k people are ~0.7 GiB of models: full GC passes cost a quarter of the time
        return _plan_all(ws, observed, people, allow_removals, today)


def _plan_all(ws: Workspace, observed: dict[str, Observed], people: list[Person], allow_removals: bool,
              today: date) -> PlanResult:
    index, by_id = PeopleIndex(people), {p.id: p for p in people}
    desired = desired_state(people, ws.policy, today, grant_exceptions(ws))
    contexts, refused, resolutions = [], [], {}
    for service in sorted(observed):
        obs = observed[service]
        if not obs.complete:
            why = ("is paused, so nothing is planned for it (no removals)" if quarantine.is_paused(obs.error)
                   else "could not be read, so nothing is planned for it")
            refused.append(Refusal(service=service, target="*", reason=f"{service} {why}: {obs.error}"))
            continue
        resolutions[service] = res = resolve_service(ws, obs, people, index)
        with ws.lock:
            known = state.resource_ids(ws.db, service)
        ctx = Context(service, ws.policy, desired[service], obs, res, by_id, known_ids=known)
        contexts.append(plan_service(ctx))
        _remember_ids(ws, service, ctx)
    changes = [c for ctx in contexts for c in ctx.changes]
    kept, held = guard_plan(changes, {c.service: c.observed for c in contexts}, ws.policy.guards,
                            allow_removals=allow_removals)
    if len(kept) != len(changes):
        ids = {id(c) for c in kept}
        for ctx in contexts:
            ctx.changes = [c for c in ctx.changes if id(c) in ids]
    links = {s: {e: i.person_id for e, i in r.links.items()} for s, r in resolutions.items()}
    plan = build_plan(contexts, basis=plan_basis(people, ws.policy, links), now=datetime.now(UTC))
    plan.refused = refused + plan.refused + held
    return PlanResult(plan, resolutions, observed, len(people))


def grant_exceptions(ws: Workspace) -> list[GrantException]:
    """The exceptions in force (adopted drift, review removals), as the planner takes them."""
    with ws.lock:
        rows = state.active_exceptions(ws.db)
    return [GrantException(r["service"], r["resource"], r["person_id"], r["effect"], r["level"],
                           f"{r['source']} by {r['created_by']}") for r in rows]


def _remember_ids(ws: Workspace, service: str, ctx: Context) -> None:
    """Departments and tags found by name keep their ids, so a rename does not orphan them."""
    with ws.lock:
        known = state.resource_ids(ws.db, service)
        for res in ws.policy.resources.get(service, []):
            ext = ctx.ids.get(res.key)
            if ext and ext != "?" and known.get(res.key) != ext:
                state.set_resource_id(ws.db, service, res.key, ext, kind=res.kind, name=res.name, run_id=None)


__all__ = ["PlanResult", "grant_exceptions", "plan_all", "pull_service", "resolve_service"]

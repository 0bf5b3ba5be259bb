"""Onboarding: a signup in the inbox becomes a volunteer in every tool their roles need.

For a batch of inbox items (``admit`` each, then one pull → plan → apply for all of them):

1. read the entry through the form's mapping (policy ``forms.<name>``), normalising
   mobiles, emails and full-width text;
2. create the person, or update the one it already is (same mobile or email *and* the
   same name); a mobile of one person with another's email, or a known mobile under a
   different name, goes to review — never a guess;
3. screen: the first matching rule gives roles, team and tier; no match keeps the
   person as an applicant for a coordinator to review;
4. pull, plan and apply only the changes that concern these people (their accounts and
   memberships), through the same journal and guards as ``sync``;
5. send each a welcome message per service naming what they were given, journaled so a
   re-run never sends it twice.

Batching is what keeps a burst of signups fast: one pull and one apply serve them all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import state
from connectors import ConnectorError
from flows.run import apply_all, pull_all
from flows.steps import PlanResult, plan_all
from flows.workspace import Workspace
from mappings.forms import FormSpec, Signup, read_entry, screen
from mappings.models import Change, FormEntry, Person, Plan, RoleAssignment, digest
from mappings.normalize import clean_text


@dataclass
class Admission:
    """What admitting one inbox item decided."""

    item_id: int
    status: str  # onboarding | review | failed
    person_id: str | None = None
    detail: str = ""


@dataclass
class BatchResult:
    """One onboarding batch: per item, and what was applied and sent."""

    admissions: list[Admission] = field(default_factory=list)
    applied: int = 0
    failed: list[str] = field(default_factory=list)
    welcomed: list[tuple[str, str]] = field(default_factory=list)  # (service, person)


def form_spec(ws: Workspace, form: str) -> FormSpec:
    """The policy mapping of a configured form (``KeyError`` names what is missing)."""
    conn = ws.forms.get(form)
    mapping = (conn.mapping if conn else None) or form
    if mapping not in ws.policy.forms:
        raise KeyError(f"form {form!r}: the policy has no forms.{mapping} mapping")
    return ws.policy.forms[mapping]


def admit(ws: Workspace, item: dict) -> Admission:
    """Create, update or queue for review the person one inbox item describes."""
    item_id = item["id"]
    try:
        spec = form_spec(ws, item["form"])
    except KeyError as exc:
        return Admission(item_id, "failed", detail=str(exc).strip("'\""))
    signup = read_entry(FormEntry.model_validate(item["entry"]), spec)
    if signup.errors:
        return Admission(item_id, "failed", detail="; ".join(signup.errors))
    with ws.lock:
        existing, conflict = _match(ws, signup)
    if conflict:
        return Admission(item_id, "review", existing.id if existing else None, conflict)
    rule = screen(signup.attributes, spec.screening)
    with ws.lock:
        person = _person(ws, signup, existing, rule)
        state.upsert_people(ws.db, [person])
    if rule is None:
        return Admission(item_id, "review", person.id, "no screening rule matched: a coordinator decides")
    return Admission(item_id, "onboarding", person.id)


def _match(ws: Workspace, signup: Signup) -> tuple[Person | None, str | None]:
    by_mobile = state.find_people(ws.db, mobile=signup.mobile) if signup.mobile else []
    by_email = state.find_people(ws.db, email=signup.email) if signup.email else []
    ids = {p.id for p in by_mobile} | {p.id for p in by_email}
    if len(ids) > 1:
        return None, f"mobile and email belong to different people ({', '.join(sorted(ids))})"
    found = (by_mobile or by_email or [None])[0]
    if found and clean_text(found.name) != clean_text(signup.name):
        return found, f"this mobile/email belongs to {found.name} ({found.id}), not {signup.name}"
    return found, None


def _person(ws: Workspace, signup: Signup, existing: Person | None, rule) -> Person:
    roles = {r.role: r for r in (existing.roles if existing else ())}
    for role in (rule.roles if rule else []):
        roles.setdefault(role, RoleAssignment(role=role))
    base = existing or Person(id=state.next_person_id(ws.db), name=signup.name, status="applicant")
    status = "active" if rule else base.status
    return base.model_copy(update={
        "name": signup.name, "mobile": signup.mobile or base.mobile, "email": signup.email or base.email,
        "attributes": {**base.attributes, **signup.attributes}, "roles": tuple(roles.values()),
        "team": (rule.team if rule and rule.team else base.team),
        "tier": (rule.tier if rule and rule.tier else base.tier), "status": status})


def onboard_batch(ws: Workspace, items: list[dict], run_id: str) -> BatchResult:
    """Admit every item, provision the admitted people everywhere, welcome them, record statuses."""
    result = BatchResult([admit(ws, item) for item in items])
    people = {a.person_id for a in result.admissions if a.status == "onboarding"}
    if people:
        planned = _scoped_plan(ws, run_id, people)
        outcomes = apply_all(ws, planned, run_id, approved_by=None)
        applied = [c for o in outcomes.values() for c in o.applied]
        failures = defaultdict(list)
        for o in outcomes.values():
            for c, error in o.failed:
                failures[c.object_id].append(f"{c.service} {c.target}: {error}")
        result.applied = len(applied)
        result.failed = [f"{pid}: {e}" for pid, errors in failures.items() for e in errors]
        result.welcomed = welcome(ws, run_id, applied, people - set(failures))
        for a in result.admissions:
            if a.status == "onboarding" and a.person_id in failures:
                a.status, a.detail = "failed", "; ".join(failures[a.person_id])
    with ws.lock:
        for a in result.admissions:
            final = "onboarded" if a.status == "onboarding" else a.status
            state.set_item_status(ws.db, a.item_id, final, person_id=a.person_id, error=a.detail or None)
    return result


def _scoped_plan(ws: Workspace, run_id: str, people: set[str]) -> PlanResult:
    result = plan_all(ws, pull_all(ws, run_id))
    mine = [c for c in result.plan.changes if c.object_id in people and c.op != "remove"]
    result.plan = Plan(changes=mine, refused=[r for r in result.plan.refused if r.object_id in people],
                       fingerprints=result.plan.fingerprints, basis=result.plan.basis,
                       created_at=result.plan.created_at)
    with ws.lock:
        state.save_plan(ws.db, result.plan, run_id)
    return result


def welcome_text(ws: Workspace, service: str, changes: list[Change]) -> str:
    """The welcome message: what a person was given in ``service``.

    It names no one, so everyone given the same things gets the same text — and one API call
    (DingTalk allows 20 calls a second: a burst of 100 welcomes one by one would take 5 s).
    """
    names = {r.key: r.name for r in ws.policy.resources.get(service, [])}
    got = sorted({names.get(c.target.split(":", 1)[1], c.target) for c in changes if c.target != "account"})
    account = any(c.target == "account" and c.op == "add" for c in changes)
    parts = (["账号已开通"] if account else []) + ([f"已加入：{'、'.join(got)}"] if got else [])
    who = ws.coalition or "志愿者联盟"
    return f"欢迎加入{who}！{'；'.join(parts) or '你的权限已更新'}。如有疑问请联系你的协调员。"


def welcome(ws: Workspace, run_id: str, applied: list[Change], people: set[str]) -> list[tuple[str, str]]:
    """Welcome each newly provisioned person once per service; journaled, never sent twice."""
    by = defaultdict(list)
    for c in applied:
        if c.object_id in people:
            by[(c.service, c.object_id)].append(c)
    sent = []
    for service in sorted({s for s, _ in by}):
        with ws.lock:
            links = {i.person_id: ext for ext, i in state.identities_for(ws.db, service).items()}
        groups = defaultdict(list)  # text → [(person, account)]
        for (svc, pid), changes in sorted(by.items()):
            if svc == service and pid in links:
                groups[welcome_text(ws, service, changes)].append((pid, links[pid]))
        runner = ws.connector(service)
        try:
            for text, recipients in groups.items():
                sent += [(service, pid) for pid in _send_welcome(ws, run_id, runner, service, text, recipients)]
        finally:
            runner.close()
    return sent


def _send_welcome(ws: Workspace, run_id: str, runner, service: str, text: str,
                  recipients: list[tuple[str, str]]) -> list[str]:
    """One message to everyone in ``recipients`` not yet welcomed with it; returns who got it."""
    notes = {pid: Change(op="add", service=service, target="message:welcome", object_id=pid, external_id=ext,
                         after=digest(text)[:16], reason=f"welcome to {service}") for pid, ext in recipients}
    plan_id = f"welcome-{run_id}"
    with ws.lock:
        done = state.applied_anywhere(ws.db, [n.key for n in notes.values()])
        todo = [n for n in notes.values() if n.key not in done]
        if not todo:
            return []
        state.record_planned(ws.db, plan_id, run_id, todo)
        state.mark_sent(ws.db, plan_id, [n.key for n in todo])
    try:
        result = runner.send_message([n.external_id for n in todo], text)
    except ConnectorError as exc:
        with ws.lock:
            state.mark_failed(ws.db, plan_id, [n.key for n in todo], str(exc))
        return []
    rejected = set(result.rejected)
    ok = [n for n in todo if n.external_id not in rejected]
    with ws.lock:
        state.mark_applied(ws.db, plan_id, [n.key for n in ok])
        if rejected:
            state.mark_failed(ws.db, plan_id, [n.key for n in todo if n.external_id in rejected],
                              "the service rejected the recipient")
    return [n.object_id for n in ok]


__all__ = ["Admission", "BatchResult", "admit", "form_spec", "onboard_batch", "welcome", "welcome_text"]

"""The drift audit: read every service, find what nobody planned, and settle it item by item.

``check_drift`` reads the services, plans against the roster and policy (nothing is
applied), and keeps only the differences Muster did not make (``mappings.drift``), naming
who made each one where the service reveals it (Feishu's events, kept by the receiver).
Items keep stable ids: ``adopt`` takes one into the roster or policy (a grant exception,
an identity link, a person added), ``revert`` puts it back through the normal plan and
guards. Both are audited with who settled it and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import state
from flows.run import pull_all
from flows.settle import SettleError, settle
from flows.steps import plan_all
from flows.workspace import Workspace
from mappings.drift import KINDS, DriftInput, advance, find_drift
from mappings.models import Change, Identity, Person
from mappings.normalize import try_email, try_mobile
from mappings.services import SERVICES


class DriftError(Exception):
    """A drift item that cannot be settled as asked (unknown id, already settled, nothing to revert)."""


@dataclass
class DriftReport:
    """One audit: open items per service, and the services it could not judge."""

    run_id: str
    checked_at: str
    items: list[dict] = field(default_factory=list)  # as stored (state.drift_items)
    unreadable: dict[str, str] = field(default_factory=dict)  # service → error
    started: list[str] = field(default_factory=list)  # services whose baseline starts with this read
    pending: dict[str, int] = field(default_factory=dict)  # service → planned changes that are not drift
    counts: dict[str, dict] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """2 when there is drift, 1 when a service could not be read, else 0."""
        return 2 if self.items else 1 if self.unreadable else 0

    def summary(self) -> dict:
        by_kind: dict[str, int] = {}
        for item in self.items:
            by_kind[item["kind"]] = by_kind.get(item["kind"], 0) + 1
        return {"run": self.run_id, "drift": len(self.items), "by_kind": by_kind, "unreadable": self.unreadable,
                "pending": self.pending, "baseline_started": self.started}


def check_drift(ws: Workspace, *, run_id: str | None = None, today: date | None = None) -> DriftReport:
    """Read, plan and compare every connected service; store and return the open drift items."""
    run_id = run_id or state.start_run(ws.db, "drift", actor=ws.actor)
    report = DriftReport(run_id, datetime.now(UTC).isoformat(timespec="seconds"))
    observed = pull_all(ws, run_id)
    result = plan_all(ws, observed, allow_removals=True, today=today)
    with ws.lock:
        people = {p.id: p for p in state.list_people(ws.db)}
    for service, obs in sorted(observed.items()):
        if not obs.complete:
            report.unreadable[service] = obs.error or "read failed"
            continue
        with ws.lock:
            base = state.get_baseline(ws.db, service)
        if base is None:  # never synced: whatever is there now is where Muster starts
            report.started.append(service)
            with ws.lock:
                state.set_baseline(ws.db, obs, run_id)
            base = (obs, report.checked_at)
        changes = result.plan.for_service(service)
        items = find_drift(_input(ws, service, obs, base[0], changes, result, people))
        with ws.lock:
            names = _operator_names(ws, service)
            records = [_with_author(ws, item.record(), service, base[1], names) for item in items]
        with ws.lock:
            report.counts[service] = state.record_drift(ws.db, service, records, run_id)
        drift_keys = {i.revert.key for i in items if i.revert is not None}
        report.pending[service] = sum(c.key not in drift_keys for c in changes)
    with ws.lock:
        report.items = [i for i in state.drift_items(ws.db) if i["service"] in observed
                        and i["service"] not in report.unreadable]
        state.finish_run(ws.db, run_id, "ok" if not report.unreadable else "partial", report.summary())
    return report


def _input(ws: Workspace, service: str, obs, baseline, changes: list[Change], result, people: dict) -> DriftInput:
    res = result.resolutions.get(service)
    links = {ext: i.person_id for ext, i in res.links.items()} if res else {}
    with ws.lock:
        known = state.resource_ids(ws.db, service)
    managed = {}
    for r in ws.policy.resources.get(service, []):
        ext = r.external_id or known.get(r.key)
        if ext and r.kind != "department":
            managed[ext] = (f"{r.kind}:{r.key}", r.name)
        elif ext:
            managed[ext] = (f"department:{r.key}", r.name)
    traits = SERVICES[service]
    return DriftInput(observed=obs, baseline=baseline, changes=changes, links=links, people=people, managed=managed,
                      keep_unknown=ws.policy.service(service).unknown_members == "keep",
                      manual=traits.manual)


def _operator_names(ws: Workspace, service: str) -> dict[str, tuple[str, str]]:
    """Account id → (person id, name) for the service's linked accounts: who an event's operator is."""
    people = {p.id: p.name for p in state.list_people(ws.db)}
    return {ext: (i.person_id, people[i.person_id]) for ext, i in state.identities_for(ws.db, service).items()
            if i.person_id in people}


def _with_author(ws: Workspace, record: dict, service: str, since: str, names: dict[str, tuple[str, str]]) -> dict:
    """Who made the change, where the service told us (events the receiver kept); else unknown."""
    made = None
    if record["group_id"] and record["external_id"]:
        made = state.who_changed(ws.db, service, record["group_id"], record["external_id"], since=since)
    if made and made.get("operator") in names:
        person_id, name = names[made["operator"]]
        made = {**made, "person_id": person_id, "name": name}
    return {**record, "made_by": made}


def made_by_text(made: dict | None) -> str:
    """How a report names who made a change."""
    if not made:
        return "unknown"
    who = made.get("name") or made.get("operator") or "?"
    if made.get("operator_type") == "app":
        who = f"app {made.get('operator') or ''}".strip()
    at = str(made.get("at") or "")[:16].replace("T", " ")
    return f"{who} ({at} UTC)" if at else who


# --- settling ------------------------------------------------------------------------------


def _open_item(ws: Workspace, item_id: str) -> dict:
    try:
        item = state.get_drift_item(ws.db, item_id)
    except KeyError:
        raise DriftError(f"no drift item {item_id!r} (run `muster drift` to list them)") from None
    if item["status"] != "open":
        raise DriftError(f"drift item {item['id']} is {item['status']}, not open")
    return item


def adopt(ws: Workspace, item_id: str, *, reason: str, person_id: str | None = None) -> str:
    """Take an item into the roster or policy; returns what was done. Nothing changes in the service."""
    item = _open_item(ws, item_id)
    if not reason.strip():
        raise DriftError("say why with --reason: adopting drift is recorded in the audit log")
    kind, service, detail = item["kind"], item["service"], item["detail"]
    source = f"adopted {item['id']}"
    if kind in ("unplanned_member", "raised_level", "lowered_level", "missing_member"):
        done = _adopt_grant(ws, item, reason, source)
    elif kind == "unmatched_account":
        done = _adopt_account(ws, item, person_id)
    elif kind == "owner_changed":
        done = _adopt_owner(ws, item, reason, source)
    else:  # owner_left: acknowledged; the resource keeps its owner until someone reverts or hands it over
        done = f"acknowledged that {detail['resource']} is owned by {detail['member']}, who has left"
    with ws.lock:
        state.settle_drift(ws.db, item["id"], "adopted", by=ws.actor, reason=reason)
        state.append(ws.db, run_id=None, actor=ws.actor, action="adopt drift", service=service, target=item["target"],
                     object_id=item["object_id"], reason=reason,
                     detail={"drift": item["id"], "kind": kind, "summary": item["summary"], "done": done})
    return done


def _policy_key(item: dict) -> str | None:
    kind, _, key = item["target"].partition(":")
    return key if kind in ("chat", "tag", "doc", "folder", "department") else None


def _adopt_grant(ws: Workspace, item: dict, reason: str, source: str) -> str:
    service, detail, key = item["service"], item["detail"], _policy_key(item)
    pid = item["object_id"]
    if pid.startswith("ext:"):  # someone the roster does not know: the baseline takes them in as they are
        with ws.lock:
            base = state.get_baseline(ws.db, service)
            if base is not None:
                change = Change(op="add", service=service, target=item["target"], object_id=pid,
                                group_id=item["group_id"], external_id=item["external_id"],
                                after=detail.get("observed") or "member")
                state.set_baseline(ws.db, advance(base[0], [change]), None)
        return f"kept {detail['member']} in {detail['resource']} as they are"
    if key is None or item["target"].startswith("department:") and not _is_policy_key(ws, service, key):
        raise DriftError(f"{item['id']}: {detail['resource']} is not a resource of the policy; adopt needs one")
    observed = detail.get("observed")
    with ws.lock:
        if observed is None:
            state.add_exception(ws.db, service=service, resource=key, person_id=pid, effect="deny", reason=reason,
                                source=source, by=ws.actor)
            return f"{detail['member']} stays off {detail['resource']} (exception recorded)"
        state.add_exception(ws.db, service=service, resource=key, person_id=pid, effect="grant", level=observed,
                            reason=reason, source=source, by=ws.actor)
    return f"{detail['member']} keeps {observed} on {detail['resource']} (exception recorded)"


def _is_policy_key(ws: Workspace, service: str, key: str) -> bool:
    return any(r.key == key for r in ws.policy.resources.get(service, []))


def _adopt_owner(ws: Workspace, item: dict, reason: str, source: str) -> str:
    pid, key = item["object_id"], _policy_key(item)
    if pid.startswith("ext:") or key is None:
        raise DriftError(f"{item['id']}: the new owner is not in the roster; add them first, then adopt")
    with ws.lock:
        state.add_exception(ws.db, service=item["service"], resource=key, person_id=pid, effect="grant",
                            level="owner", reason=reason, source=source, by=ws.actor)
    return f"{item['detail']['member']} stays owner of {item['detail']['resource']} (exception recorded)"


def _adopt_account(ws: Workspace, item: dict, person_id: str | None) -> str:
    service, ext, detail = item["service"], item["external_id"], item["detail"]
    with ws.lock:
        if person_id:
            try:
                person = state.get_person(ws.db, person_id)
            except KeyError:
                raise DriftError(f"no person {person_id!r} in the roster") from None
        else:
            person = Person(id=state.next_person_id(ws.db), name=detail["member"],
                            mobile=try_mobile(detail.get("mobile")), email=try_email(detail.get("email")),
                            attributes={"source": f"drift {item['id']}"})
            state.upsert_people(ws.db, [person])
        state.link(ws.db, [Identity(service=service, external_id=ext, person_id=person.id, matched_by="adopted")])
    how = "linked to" if person_id else "added to the roster as"
    return f"{service} account {ext} {how} {person.id} {person.name}"


def revert(ws: Workspace, item_id: str, *, reason: str, allow_removals: bool = False,
           today: date | None = None) -> tuple[str, object]:
    """Put an item back to what the roster and policy say, through the plan and its guards."""
    item = _open_item(ws, item_id)
    if not reason.strip():
        raise DriftError("say why with --reason: reverting drift is recorded in the audit log")
    kind, detail = item["kind"], item["detail"]
    if kind == "owner_left":
        return _revert_owner_left(ws, item, reason, today or date.today())
    planned = detail.get("revert")
    if planned is None:
        raise DriftError(f"{item['id']}: nothing to revert")
    change = Change.model_validate(planned)
    if change.target == "account" and change.op == "remove" and SERVICES[item["service"]].removal_needs_acceptor:
        raise DriftError(f"{item['id']}: deleting a {item['service']} account hands its documents to someone; "
                         "adopt it (--person) or remove it in the service's admin console")
    synthetic = change.object_id.startswith("ext:")
    text = f"revert drift {item['id']}: {reason}"
    try:
        done = settle(ws, item["service"], lambda c: _same(c, change), reason=text, kind="drift-revert",
                      extra=[change] if synthetic else (), allow_removals=allow_removals)
    except SettleError as exc:
        raise DriftError(str(exc)) from None
    if done.applied and not done.failed:
        with ws.lock:
            state.settle_drift(ws.db, item["id"], "reverted", by=ws.actor, reason=reason)
            state.append(ws.db, run_id=done.run_id, actor=ws.actor, action="revert drift", service=item["service"],
                         target=item["target"], object_id=item["object_id"], reason=reason,
                         detail={"drift": item["id"], "kind": kind, "summary": item["summary"],
                                 "changes": [c.key for c in done.applied]})
        return "reverted", done
    if not done.planned and not done.refused:
        return "gone", done  # the service already matches: the next `muster drift` marks it resolved
    return ("held" if done.refused and not done.planned else "failed"), done


def _same(c: Change, want: Change) -> bool:
    return (c.target, c.object_id, c.op, c.group_id) == (want.target, want.object_id, want.op, want.group_id)


def _revert_owner_left(ws: Workspace, item: dict, reason: str, today: date) -> tuple[str, object]:
    from flows.offboard import OffboardError, _transfer, choose_successor
    from mappings.models import Group

    service, detail = item["service"], item["detail"]
    with ws.lock:
        leaver = state.get_person(ws.db, item["object_id"])
    try:
        heir = choose_successor(ws, leaver, leaver.attributes.get("successor"), today)
    except OffboardError:
        heir = choose_successor(ws, leaver, None, today)
    links = {i.person_id: ext for ext, i in state.identities_for(ws.db, service).items()}
    group = Group(service=service, kind=detail.get("group_kind", "chat"), external_id=item["group_id"],
                  name=detail["resource"], owner=item["external_id"])
    run_id = state.start_run(ws.db, "drift-revert", actor=ws.actor, params={"drift": item["id"]})
    handover = _transfer(ws, run_id, service, group, leaver, heir, links.get(heir.id) if heir else None)
    state.finish_run(ws.db, run_id, "ok" if handover.done else "failed", {"detail": handover.detail})
    if not handover.done:
        raise DriftError(f"{item['id']}: could not hand {detail['resource']} over: {handover.detail}")
    with ws.lock:
        state.settle_drift(ws.db, item["id"], "reverted", by=ws.actor, reason=reason)
        state.append(ws.db, run_id=run_id, actor=ws.actor, action="revert drift", service=service,
                     target=item["target"], object_id=item["object_id"], reason=reason,
                     detail={"drift": item["id"], "kind": "owner_left", "to": heir.id})
    return "reverted", handover


# --- reports ---------------------------------------------------------------------------------


def drift_rows(items: list[dict], masker=None) -> list[list[str]]:
    """One row per item for tables: id, service, what, resource, member, seen / wanted, made by, since."""
    rows = []
    for i in items:
        d = i["detail"]
        member = d.get("member") or ""
        if i["kind"] == "unmatched_account" and d.get("mobile"):
            member = f"{member} {_mask(masker, d['mobile'])}"
        hand = " (confirmed by hand)" if d.get("confirmed_by_hand") else ""
        rows.append([i["id"], i["service"] + hand, KINDS.get(i["kind"], i["kind"]), d.get("resource") or "",
                     member, f"{d.get('observed') or '-'} / {d.get('desired') or '-'}", made_by_text(i["made_by"]),
                     str(i["first_seen"])[:16].replace("T", " ")])
    return rows


COLUMNS = ["id", "service", "drift", "resource", "member", "seen / wanted", "made by", "since (UTC)"]


def _mask(masker, mobile: str) -> str:
    if masker is not None:
        return masker.mobile(mobile)
    from mappings.normalize import mask_mobile

    return mask_mobile(mobile)


def markdown(report: DriftReport, masker=None) -> str:
    """The report as Markdown (the Prefect artifact)."""
    lines = [f"# Drift {report.checked_at[:16].replace('T', ' ')} UTC", "",
             f"{len(report.items)} open drift item(s)." if report.items else "No drift."]
    for service, error in sorted(report.unreadable.items()):
        lines.append(f"- **{service} could not be read**: {error}")
    for service in report.started:
        lines.append(f"- {service}: first read; drift is measured from here on")
    if report.items:
        lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for row in drift_rows(report.items, masker):
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        lines += ["", "Settle each: `muster drift adopt ID --reason ...` or `muster drift revert ID --reason ...`."]
    return "\n".join(lines) + "\n"


def html(report: DriftReport, masker=None, coalition: str = "") -> str:
    """The report as one self-contained, searchable and sortable HTML page."""
    from flows.html_report import HtmlTable, render_page

    notes = [f"{s} could not be read: {e}" for s, e in sorted(report.unreadable.items())]
    notes += [f"{s}: first read; drift is measured from here on" for s in report.started]
    pending = sum(report.pending.values())
    if pending:
        notes.append(f"{pending} planned change(s) are waiting for the next sync; they are not drift")
    table = HtmlTable(name="drift", title="Open drift", columns=COLUMNS, rows=drift_rows(report.items, masker))
    return render_page(title=f"Muster drift {coalition}".strip(),
                       subtitle=f"checked {report.checked_at[:16].replace('T', ' ')} UTC · "
                                f"{len(report.items)} open item(s)", tables=[table], notes=notes)


__all__ = ["COLUMNS", "DriftError", "DriftReport", "adopt", "check_drift", "drift_rows", "html", "made_by_text",
           "markdown", "revert"]

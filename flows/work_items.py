"""Work items for services people change by hand: personal WeChat groups, Shimo folders and files.

Such a service has no API, so Muster keeps its state itself and asks people to change it:

- **Observed** is what is confirmed by hand: the groups as declared (muster.yaml or a groups
  file; re-imported only when the declaration changes), updated by every item marked done,
  plus what open items have asked for — Muster's last-applied state, as for any change it
  cannot read back yet — so a re-run plans nothing the owner was already asked to do
  (``manual_connector``, in ``flows.manual_observed``; re-exported here).
- **Apply** turns a plan's changes for one group into ONE work item for the group's owner
  ("一线1群: add 张三 138****5678; remove 李四"), journaled and audited like any change, and
  tells the owner on their first reachable chat channel (``issue_work_items``).
- **Done** records the item's changes as confirmed, optionally after checking them against
  the member list the owner exported (``mark_done``).
- **Every sync** (``remind_and_reassign``): open items older than the service's
  ``remind_after`` since their issue or last reminder are reminded; a group whose owner is
  leaving or left goes to their successor, and so do its open items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import state
from connectors.manual import check_members, read_member_list
from flows.manual_observed import declared_groups, manual_connector
from flows.notify import Notice, notify
from flows.workspace import Workspace
from mappings.models import Change, Person, Plan
from mappings.normalize import mask_mobile
from mappings.services import ACCESS_KINDS, SERVICES

CHINA = timedelta(hours=8)
MAX_NOTICE = 1500  # a notice is a broadcast: DingTalk takes 2,000 characters; the item keeps the full text
LABELS = {"chat": "WeChat group", "folder": "Shimo folder", "doc": "Shimo file"}


class WorkItemError(Exception):
    """A work item that cannot be marked done as asked; ``problems`` lists what did not match."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


def is_manual(service: str) -> bool:
    """Whether people, not an API, change ``service``."""
    return getattr(SERVICES.get(service), "manual", False)


# --- apply: one item per group ----------------------------------------------------------------


@dataclass
class Issued:
    """What applying a manual service's changes did (the apply step wraps it in its ``Outcome``)."""

    applied: list[Change] = field(default_factory=list)
    skipped: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    items: list[int] = field(default_factory=list)


def issue_work_items(ws: Workspace, plan: Plan, service: str, run_id: str, changes: list[Change], *,
                     progress: Callable[[str, int], None], approved_by: str | None = None) -> Issued:
    """One work item per group for ``changes`` (already journaled as planned), and a notice to its owner."""
    out = Issued()
    with ws.lock:
        groups = state.manual_groups(ws.db, service)
        open_items = state.open_work_items(ws.db, service=service)
        people = {p.id: p for p in state.list_people(ws.db)}
    asked = {(i["group_key"], c["key"]): i["id"] for i in open_items for c in i["changes"]}
    by_group: dict[str, list[Change]] = defaultdict(list)
    for c in changes:
        by_group[c.target.split(":", 1)[1]].append(c)
    for key, group_changes in sorted(by_group.items()):
        group = groups.get(key)
        if group is None:
            _fail(ws, plan, out, group_changes, f"{key} is not declared in services.{service}.groups")
            continue
        already = [c for c in group_changes if (key, c.key) in asked]
        if already:  # asked in an open item of an earlier plan: never asked twice
            with ws.lock:
                state.mark_applied(ws.db, plan.id, [c.key for c in already],
                                   {"work_item": asked[(key, already[0].key)]})
            out.skipped += already
        fresh = [c for c in group_changes if (key, c.key) not in asked]
        if fresh:
            _issue(ws, plan, service, run_id, group, fresh, people, out, approved_by)
            progress("changes", len(fresh))
    return out


def _issue(ws: Workspace, plan: Plan, service: str, run_id: str, group: dict, changes: list[Change],
           people: dict[str, Person], out: Issued, approved_by: str | None) -> None:
    owner = _reassign_group(ws, service, group, people, run_id, date.today()) or group["owner"]
    entries = [_entry(c, group, people) for c in changes]
    detail = describe(group["name"], group["kind"], entries)
    keys = [c.key for c in changes]
    with ws.lock:
        state.mark_sent(ws.db, plan.id, keys)
        item_id = state.add_manual_item(ws.db, service=service, group_key=group["key"], assignee=owner,
                                        detail=detail, changes=entries, plan_id=plan.id, run_id=run_id)
        state.mark_applied(ws.db, plan.id, keys, {"work_item": item_id})
        state.append_many(ws.db, [_audit(ws, c, run_id, plan.id, item_id, approved_by) for c in changes])
        for c in changes:
            state.record_applied(ws.db, c.service, c.target, c.object_id, c.after, run_id)
    out.applied += changes
    out.items.append(item_id)
    notice = notify(ws, owner, _text(item_id, group, detail, "please make these changes by hand"),
                    notice_id=f"W{item_id}", run_id=run_id)
    with ws.lock:
        state.note_work_item_notice(ws.db, item_id, _delivery(notice))


def _fail(ws: Workspace, plan: Plan, out: Issued, changes: list[Change], why: str) -> None:
    with ws.lock:
        state.mark_failed(ws.db, plan.id, [c.key for c in changes], why)
    out.failed += [(c, why) for c in changes]


def _entry(c: Change, group: dict, people: dict[str, Person]) -> dict:
    """A change as the item keeps it: enough to say it in words and to record it when done."""
    pid = None if c.object_id.startswith("ext:") else c.object_id
    person, confirmed = people.get(pid or ""), group["members"].get(c.external_id or "", {})
    level = c.before if c.op == "remove" else c.after
    return {"key": c.key, "op": c.op, "member_id": c.external_id, "person_id": pid,
            "name": person.name if person else confirmed.get("name") or c.label,
            "mobile": person.mobile if person else confirmed.get("mobile"),
            "level": level if isinstance(level, str) and level != "owner" else "member"}


def _audit(ws: Workspace, c: Change, run_id: str, plan_id: str, item_id: int, approved_by: str | None) -> dict:
    return {"run_id": run_id, "actor": ws.actor, "action": f"{c.op} {c.target.split(':')[0]}", "service": c.service,
            "target": c.target, "object_id": c.object_id, "reason": c.reason,
            "detail": {"before": c.before, "after": c.after, "external_id": c.external_id, "plan": plan_id,
                       "rules": list(c.rules), "work_item": item_id},
            "approved_by": approved_by if c.op == "remove" else None}


def describe(name: str, kind: str, entries: list[dict]) -> str:
    """``一线1群: add 张三 138****5678; remove 李四`` (mobiles masked)."""
    def who(e: dict) -> str:
        return f"{e['name'] or e['member_id']} {mask_mobile(e['mobile'])}".strip() if e.get("mobile") else (
            e["name"] or e["member_id"])

    access = kind in ACCESS_KINDS
    adds = [who(e) + (f" ({e['level']})" if access else "") for e in entries if e["op"] == "add"]
    levels = [f"{who(e)} to {e['level']}" for e in entries if e["op"] == "change"]
    removes = [who(e) for e in entries if e["op"] == "remove"]
    parts = [f"{verb} {', '.join(names)}" for verb, names in
             (("share with" if access else "add", adds), ("change", levels), ("remove", removes)) if names]
    return f"{name}: {'; '.join(parts)}"


def _text(item_id: int, group: dict, detail: str, ask: str) -> str:
    if len(detail) > MAX_NOTICE:
        detail = detail[:MAX_NOTICE].rsplit(",", 1)[0] + " … (the rest: ask your coordinator for the full list)"
    return (f"Muster work item W{item_id}, {LABELS.get(group['kind'], group['kind'])} {detail}. "
            f"{ask[:1].upper()}{ask[1:]} and tell your coordinator when it is done.")


def _delivery(notice: Notice) -> str:
    if notice.already:
        return "sent earlier"
    return f"sent on {notice.service}" if notice.service else f"not delivered: {notice.why}"


# --- done -------------------------------------------------------------------------------------


def mark_done(ws: Workspace, item_id: int, *, members: Path | None = None, note: str = "",
              run_id: str | None = None) -> dict:
    """Close an open item; for a manual group record its changes as confirmed, after checking ``members``.

    Raises:
        WorkItemError: no such open item, or the member list does not show the changes (nothing recorded).
        DeclarationError: the member list cannot be read.
    """
    try:
        item = state.get_work_item(ws.db, item_id)
    except KeyError:
        raise WorkItemError(f"no open work item {item_id}") from None
    if item["status"] != "open":
        raise WorkItemError(f"no open work item {item_id} (it is {item['status']})")
    if item["kind"] != "manual":
        if members is not None:
            raise WorkItemError(f"work item {item_id} is a {item['kind']} item: it has no members to check")
        state.close_work_item(ws.db, item_id, by=ws.actor, note=note)
        _audit_done(ws, item, run_id, note, None)
        return item
    if members is not None:
        problems = check_members(item["changes"], read_member_list(members))
        if problems:
            raise WorkItemError(f"work item {item_id} not marked done: {members} does not show its changes",
                                problems)
    with ws.lock:
        state.confirm_manual_item(ws.db, item_id, by=ws.actor, note=note)
        _audit_done(ws, item, run_id, note, members)
    return item


def _audit_done(ws: Workspace, item: dict, run_id: str | None, note: str, members: Path | None) -> None:
    target = f"work_item:{item['id']}" if item["kind"] != "manual" else (
        f"{_kind(ws, item)}:{item['group_key']}")
    state.append(ws.db, run_id=run_id, actor=ws.actor, action="work item done", service=item["service"],
                 target=target, object_id=f"W{item['id']}", reason=item["detail"][:500],
                 detail={"changes": [{k: e[k] for k in ("op", "member_id", "person_id", "level")}
                                     for e in item["changes"]],
                         "assignee": item.get("assignee"), "note": note,
                         "verified_with": Path(members).name if members else None})


def _kind(ws: Workspace, item: dict) -> str:
    group = state.manual_groups(ws.db, item["service"]).get(item["group_key"])
    return group["kind"] if group else "group"


# --- every sync: reminders and reassignment ---------------------------------------------------


def remind_and_reassign(ws: Workspace, run_id: str | None, now: datetime | None = None) -> dict[str, list[int]]:
    """Move the groups and open items of leaving owners to their successors, then remind what waited too long.

    Returns the ids of the items reassigned and reminded. Call it once per sync run.
    """
    now = now or datetime.now(UTC)
    today = (now + CHINA).date()
    if not _manual_services(ws):
        return {"reassigned": [], "reminded": []}
    with ws.lock:
        people = {p.id: p for p in state.list_people(ws.db)}
    reassigned = []
    for service in _manual_services(ws):
        with ws.lock:
            groups = state.manual_groups(ws.db, service)
        for group in groups.values():
            _reassign_group(ws, service, group, people, run_id, today)
        reassigned += _reassign_items(ws, service, groups, people, run_id, today)
    return {"reassigned": reassigned, "reminded": remind(ws, run_id, now)}


def remind(ws: Workspace, run_id: str | None, now: datetime) -> list[int]:
    """Remind the assignee of every open manual item whose issue or last reminder is ``remind_after`` old."""
    reminded = []
    for service in _manual_services(ws):
        delay = ws.connections[service].remind_delay()
        with ws.lock:
            items = state.open_work_items(ws.db, service=service)
        for item in items:
            since = datetime.fromisoformat(item.get("reminded_at") or item["created_at"])
            if item["kind"] != "manual" or now - since < delay:
                continue
            n = item["reminders"] + 1
            group = {"kind": _kind(ws, item)}
            text = _text(item["id"], group, item["detail"], f"reminder {n}: this is still open since "
                         f"{item['created_at'][:10]}; please make the changes")
            notice = notify(ws, item["assignee"], text, notice_id=f"W{item['id']}-r{n}", run_id=run_id)
            with ws.lock:
                state.note_work_item_notice(ws.db, item["id"], _delivery(notice), reminder_at=now.isoformat())
            reminded.append(item["id"])
    return reminded


def _manual_services(ws: Workspace) -> list[str]:
    return [s for s in ws.services if is_manual(s)]


def successor_of(ws: Workspace, leaver: Person, people: dict[str, Person], today: date) -> Person | None:
    """Who takes over from a leaver: the successor offboarding named, else the policy's for their roles."""
    from flows.offboard import choose_successor

    named = people.get(leaver.attributes.get("successor") or "")
    if named is not None and named.status == "active" and named.id != leaver.id:
        return named
    return choose_successor(ws, leaver, None, today)


def _reassign_group(ws: Workspace, service: str, group: dict, people: dict[str, Person], run_id: str | None,
                    today: date) -> str | None:
    """A group whose owner is leaving or left goes to their successor; returns the (new) owner, if any."""
    owner = people.get(group["owner"])
    if owner is None or owner.status not in ("leaving", "left"):
        return group["owner"] if owner else None
    with ws.lock:
        heir = successor_of(ws, owner, people, today)
    if heir is None:
        return None
    with ws.lock:
        state.set_manual_owner(ws.db, service, group["key"], heir.id)
        state.append(ws.db, run_id=run_id, actor=ws.actor, action="change owner", service=service,
                     target=f"{group['kind']}:{group['key']}", object_id=heir.id,
                     reason=f"{owner.name} is {owner.status}: {heir.name} now makes the changes to {group['name']}",
                     detail={"before": owner.id, "after": heir.id})
    group["owner"] = heir.id
    return heir.id


def _reassign_items(ws: Workspace, service: str, groups: dict[str, dict], people: dict[str, Person],
                    run_id: str | None, today: date) -> list[int]:
    moved = []
    with ws.lock:
        items = [i for i in state.open_work_items(ws.db, service=service) if i["kind"] == "manual"]
    for item in items:
        was = people.get(item["assignee"] or "")
        if was is not None and was.status not in ("leaving", "left"):
            continue
        group = groups.get(item["group_key"])
        owner = people.get(group["owner"]) if group else None
        with ws.lock:
            heir = owner if owner is not None and owner.status == "active" else (
                successor_of(ws, was, people, today) if was else None)
        if heir is None or heir.id == item["assignee"]:
            continue
        with ws.lock:
            state.reassign_work_item(ws.db, item["id"], heir.id)
            state.append(ws.db, run_id=run_id, actor=ws.actor, action="reassign work item", service=service,
                         target=f"work_item:{item['id']}", object_id=heir.id,
                         reason=f"{was.name if was else item['assignee']} is "
                                f"{was.status if was else 'not in the roster'}: W{item['id']} goes to {heir.name}",
                         detail={"before": item["assignee"], "after": heir.id})
        text = _text(item["id"], group or {"kind": "chat"}, item["detail"],
                     f"this is now yours (it was {was.name if was else item['assignee']}'s); please make the changes")
        notice = notify(ws, heir.id, text, notice_id=f"W{item['id']}-to-{heir.id}", run_id=run_id)
        with ws.lock:
            state.note_work_item_notice(ws.db, item["id"], _delivery(notice))
        moved.append(item["id"])
    return moved


__all__ = ["Issued", "WorkItemError", "declared_groups", "describe", "is_manual",
           "issue_work_items", "manual_connector", "mark_done", "remind", "remind_and_reassign", "successor_of"]

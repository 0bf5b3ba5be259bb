"""Who reviews what in an access review, and what they are told (the commands are in ``flows.access_review``).

An item per (resource, member) goes to the resource's owner, or to the coordinator when there is none or they
left (``collect_items``, ``coordinator_of``). Reviewers hear of their items once when a review opens, then once per
``remind_after`` period while items are pending (``remind_reviews``, run by the sync flow and ``muster review
remind``); past the deadline what is still pending goes to the coordinator, once. This module is the lower half of
the review: it also holds what starting, answering and closing share (the error, looking a review up, the audit
entry), so ``flows.access_review`` imports it and never the other way round.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import state
from flows.notify import Notice, notify
from flows.workspace import Workspace
from mappings.models import Person
from mappings.normalize import mask_mobile, try_mobile

REVIEWED_KINDS = ("chat", "tag", "doc", "folder")
CHINA = timedelta(hours=8)
NOTICE_BUDGET = 1800  # characters of item lines in one notice (DingTalk takes 2000)
KIND_LABEL = {"chat": "群聊", "tag": "标签", "doc": "文档", "folder": "文件夹"}
LEVEL_LABEL = {"member": "成员", "view": "可阅读", "edit": "可编辑", "manage": "可管理"}
ROUTED_LABEL = {"no owner": "无所有者", "owner not in roster": "所有者不在名册中", "owner left": "所有者已离开"}


class AccessReviewError(Exception):
    """A review that cannot start or an answer that cannot be taken; one line for the user."""

@dataclass(frozen=True)
class ReviewScope:
    """What a review covers: ``all``, ``service:S`` or ``resource:S/KEY``."""

    kind: str
    service: str = ""
    key: str = ""

    def __str__(self) -> str:
        if self.kind == "all":
            return "all"
        return f"service:{self.service}" if self.kind == "service" else f"resource:{self.service}/{self.key}"


def coordinator_of(ws: Workspace, today: date | None = None) -> Person:
    """The active person who answers for resources without an owner, and for what is escalated."""
    name = ws.policy.review.coordinator or ("coordinator" if "coordinator" in ws.policy.roles else None)
    if name is None:
        raise AccessReviewError("the policy names no review coordinator: set review.coordinator to a person id "
                                "or a role key")
    people = [p for p in state.list_people(ws.db) if p.status == "active"]
    today = today or date.today()
    found = [p for p in people if p.id == name] or sorted(
        (p for p in people if name in p.role_names(today)), key=lambda p: p.id)
    if not found:
        raise AccessReviewError(f"review.coordinator {name!r} is neither an active person nor a role any active "
                                "person holds")
    return found[0]


def get_review(ws: Workspace, review_id: str) -> dict:
    """One review (``r3`` finds ``R3``) or an error naming the id."""
    try:
        return state.get_access_review(ws.db, review_id)
    except KeyError:
        raise AccessReviewError(f"no access review {review_id!r} (see `muster review show`)") from None


# --- items and their reviewers ----------------------------------------------------------


def collect_items(ws: Workspace, scope: ReviewScope, coordinator: str) -> tuple[list[dict], dict[str, str]]:
    """One item per (resource, member) in scope from the last read of each service; services left out, and why."""
    items, skipped = [], {}
    people = {p.id: p for p in state.list_people(ws.db)}
    for service in ws.services if scope.kind == "all" else [scope.service]:
        obs = state.latest_snapshot(ws.db, service)
        if obs is None or not obs.complete:
            skipped[service] = ("never read: run `muster pull` first" if obs is None
                                else "its last read failed: run `muster pull` again")
            continue
        found = _service_items(ws, obs, scope, coordinator, people)
        if scope.kind == "resource" and not found:
            raise AccessReviewError(f"{service}/{scope.key} was not in the last read of {service}, or has no members "
                                    "but its owner: run `muster pull` and try again")
        items += found
    if scope.kind != "all" and skipped:
        raise AccessReviewError(f"cannot review {scope}: {service} was {skipped[service]}")
    return items, skipped


def _service_items(ws: Workspace, obs, scope: ReviewScope, coordinator: str, people: dict[str, Person]) -> list[dict]:
    service = obs.service
    links = {ext: i.person_id for ext, i in state.identities_for(ws.db, service).items()}
    known = state.resource_ids(ws.db, service)
    managed = {(r.kind, r.external_id or known.get(r.key)): r for r in ws.policy.resources.get(service, [])}
    accounts = {a.external_id: a for a in obs.accounts}
    items = []
    for group in sorted(obs.groups, key=lambda g: (g.kind, g.name, g.external_id)):
        res = managed.get((group.kind, group.external_id))
        if group.kind not in REVIEWED_KINDS or (scope.kind == "resource" and (res is None or res.key != scope.key)):
            continue
        owner, routed = _reviewer(group.owner, links, people, coordinator)
        for member in sorted(obs.members.get(group.external_id, []), key=lambda m: m.external_id):
            if member.level == "owner" or member.external_id == group.owner:
                continue  # the owner does not review their own ownership
            person = people.get(links.get(member.external_id, ""))
            account = accounts.get(member.external_id)
            items.append({
                "service": service, "kind": group.kind, "resource_key": res.key if res else None,
                "resource_id": group.external_id, "resource_name": group.name,
                "person_id": person.id if person else None, "account_id": member.external_id,
                "member_name": person.name if person else (account.name if account else "") or member.external_id,
                "member_mobile": mask_mobile(person.mobile if person else try_mobile(account.mobile if account
                                                                                     else None)) or None,
                "level": member.level, "owner_id": owner, "routed": routed})
    return items


def _reviewer(owner_account: str | None, links: dict[str, str], people: dict[str, Person],
              coordinator: str) -> tuple[str, str]:
    if not owner_account:
        return coordinator, "no owner"
    person = people.get(links.get(owner_account, ""))
    if person is None:
        return coordinator, "owner not in roster"
    if person.status != "active":
        return coordinator, "owner left"
    return person.id, "owner"


# --- notices ---------------------------------------------------------------------------


def notice_text(review: dict, items: list[dict], why: str, round_: int = 0) -> str:
    """The notice for one reviewer: what to review and by when; items beyond the channel's length are counted."""
    due = (datetime.fromisoformat(review["deadline"]) + CHINA).strftime("%Y-%m-%d %H:%M")
    rid, n = review["id"], len(items)
    head = {
        "start": f"【权限复核 {rid}】你负责的资源上有 {n} 项访问权限需要复核，"
                 f"请在 {due} 前逐项确认保留，或说明理由移除：",
        "reminder": f"【权限复核 {rid} 第{round_}次提醒】你还有 {n} 项访问权限未复核，截止 {due}：",
        "escalation": f"【权限复核 {rid} 已升级】以下 {n} 项在截止时间 {due} 前未获复核，现交由你处理：",
    }[why]
    lines, used = [], 0
    for i, item in enumerate(items):
        line = _item_line(item)
        if used + len(line) > NOTICE_BUDGET:
            lines.append(f"……另有 {n - i} 项，见 muster review show {rid}")
            break
        lines.append(line)
        used += len(line) + 1
    tail = f"答复：muster review answer {rid} <编号> --confirm，或 --remove --reason <理由>"
    return "\n".join([head, *lines, tail])


def _item_line(item: dict) -> str:
    where = f"{item['service']} {KIND_LABEL.get(item['kind'], item['kind'])}「{item['resource_name']}」"
    who = " ".join(x for x in (item["member_name"], item.get("member_mobile")) if x)
    note = f"（{ROUTED_LABEL[item['routed']]}）" if item["routed"] in ROUTED_LABEL else ""
    return f"#{item['item']} {where}：{who} {LEVEL_LABEL.get(item['level'], item['level'])}{note}"


# --- reminders and escalation -------------------------------------------------------------


@dataclass
class Reminded:
    """What one pass over an open review did."""

    review_id: str
    reminders: list[tuple[str, int, Notice]] = field(default_factory=list)  # (reviewer, round, notice)
    escalated: list[int] = field(default_factory=list)
    escalation: Notice | None = None
    error: str | None = None


def remind_reviews(ws: Workspace, run_id: str | None, now: datetime | None = None,
                   review_id: str | None = None) -> list[Reminded]:
    """Remind reviewers with pending items once per period; past the deadline, escalate to the coordinator once."""
    now = now or datetime.now(UTC)
    reviews = [get_review(ws, review_id)] if review_id else state.access_reviews(ws.db, status="open")
    out = []
    for review in reviews:
        if review["status"] != "open":
            raise AccessReviewError(f"review {review['id']} is closed")
        done = Reminded(review["id"])
        if now >= datetime.fromisoformat(review["deadline"]):
            _escalate(ws, review, run_id, done)
        else:
            _remind(ws, review, run_id, now, done)
        out.append(done)
    return out


def _remind(ws: Workspace, review: dict, run_id: str | None, now: datetime, done: Reminded) -> None:
    round_ = int((now - datetime.fromisoformat(review["opened_at"])).total_seconds() // review["remind_after"])
    if round_ < 1:
        return
    pending = state.access_review_items(ws.db, review["id"], status=["pending"])
    for owner, mine in _by_owner(pending).items():
        if all(r["reminders"] >= round_ for r in mine):
            continue  # reminded in this period already
        notice = notify(ws, owner, notice_text(review, mine, "reminder", round_),
                        notice_id=f"{review['id']}-{owner}-r{round_}", run_id=run_id)
        done.reminders.append((owner, round_, notice))
        if notice.delivered:
            numbers = [r["item"] for r in mine]
            with ws.lock:
                state.mark_reminded(ws.db, review["id"], numbers, round_)
            _audit(ws, run_id, ws.actor, "review remind", review["id"], f"reminder {round_} to {owner}",
                   {"reviewer": owner, "round": round_, "items": numbers, "channel": notice.service})


def _escalate(ws: Workspace, review: dict, run_id: str | None, done: Reminded) -> None:
    try:
        coordinator = coordinator_of(ws).id
    except AccessReviewError as exc:
        done.error = str(exc)
        return
    pending = state.access_review_items(ws.db, review["id"], status=["pending"])
    if pending:
        with ws.lock:
            state.escalate_access_items(ws.db, review["id"], [r["item"] for r in pending], to=coordinator)
        done.escalated = [r["item"] for r in pending]
    # the notice lists every item ever escalated, so its text (and id) stays the same until it is delivered
    escalated = [r for r in state.access_review_items(ws.db, review["id"]) if r["escalated_at"]]
    if escalated:
        done.escalation = notify(ws, escalated[0]["escalated_to"], notice_text(review, escalated, "escalation"),
                                 notice_id=f"{review['id']}-esc", run_id=run_id)
    if pending:
        _audit(ws, run_id, ws.actor, "review escalate", review["id"],
               f"{len(pending)} item(s) unanswered at the deadline, escalated to {coordinator}",
               {"coordinator": coordinator, "items": [_brief(r) for r in pending],
                "notice": done.escalation.service or done.escalation.why or "already sent"})


# --- helpers -------------------------------------------------------------------------------


def _by_owner(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        out[row["escalated_to"] or row["owner_id"]].append(row)
    return dict(sorted(out.items()))


def _brief(row: dict) -> dict:
    return {k: row.get(k) for k in ("item", "service", "kind", "resource_key", "resource_id", "resource_name",
                                    "person_id", "account_id", "level", "owner_id", "routed", "status")}


def _audit(ws: Workspace, run_id: str | None, actor: str, action: str, review_id: str, reason: str, detail: dict,
           row: dict | None = None) -> None:
    where = {"service": row["service"], "target": _target(row), "object_id": _object(row)} if row else {
        "target": f"review:{review_id}"}
    with ws.lock:
        state.append(ws.db, run_id=run_id, actor=actor, action=action, reason=reason,
                     detail={"review": review_id, **detail}, **where)


def _target(row: dict) -> str:
    return f"{row['kind']}:{row['resource_key'] or row['resource_id']}"


def _object(row: dict) -> str:
    return row["person_id"] or f"ext:{row['account_id']}"


__all__ = [
    "REVIEWED_KINDS",
    "AccessReviewError",
    "Reminded",
    "ReviewScope",
    "collect_items",
    "coordinator_of",
    "get_review",
    "notice_text",
    "remind_reviews",
]

"""Access reviews (``muster review start``): owners confirm or remove who has access to what they own.

Opening a review freezes, from the last read of each service, one item per (resource,
member) in scope — chats, tags, documents and folders; departments are the roster's teams
and are not reviewed here. Each item goes to the resource's owner (a chat's owner, a
document's owner, linked to an active person); a resource with no owner, or whose owner
left or is not in the roster, goes to the coordinator (``review.coordinator`` in the
policy: a person id or a role key, default the ``coordinator`` role). Each reviewer gets
one notice listing their items, mobiles masked.

Answers: a confirm is recorded; a removal goes through the plan. For a roster person on a
resource the policy manages, a ``deny`` exception takes the grant away for good (the next
sync does not re-add it) and the planner's own removal is applied; anyone else (not in the
roster, a resource the policy does not manage) is removed by a synthesized change. Either
way the normal guards, journal and audit apply, with the reviewer's reason. A removal a
guard holds stays open with its outcome and can be answered again with approval.

``remind_reviews`` (run by the sync flow and ``muster review remind``) reminds reviewers
once per ``remind_after`` period while items are pending, and after the deadline escalates
what is still pending to the coordinator, once. Every step is in the audit log. Who reviews
what, the notices, reminders and escalation live in ``flows.access_review_reviewers``; this
module re-exports their public names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import state
from flows.access_review_reviewers import (
    REVIEWED_KINDS,
    AccessReviewError,
    Reminded,
    ReviewScope,
    _audit,
    _brief,
    _by_owner,
    _object,
    _target,
    collect_items,
    coordinator_of,
    get_review,
    notice_text,
    remind_reviews,
)
from flows.notify import Notice, notify
from flows.workspace import Workspace
from mappings.models import Change
from mappings.policy import duration
from state.reviews import OPEN_ITEMS


def parse_review_scope(ws: Workspace, text: str) -> ReviewScope:
    """Parse ``--scope``; unknown services and resources are errors naming what is known."""
    raw = text.strip()
    if raw == "all":
        return ReviewScope("all")
    kind, _, value = raw.partition(":")
    service, _, key = value.partition("/")
    if kind not in ("service", "resource") or not service or (kind == "resource") != bool(key):
        raise AccessReviewError(f"--scope {text!r}: use all, service:<service> or resource:<service>/<key>")
    if service not in ws.services:
        raise AccessReviewError(f"--scope {text!r}: no service {service!r} (connected: {', '.join(ws.services)})")
    if kind == "service":
        return ReviewScope("service", service)
    try:
        res = ws.policy.resource(service, key)
    except KeyError:
        keys = ", ".join(r.key for r in ws.policy.resources.get(service, []) if r.kind in REVIEWED_KINDS)
        raise AccessReviewError(f"--scope {text!r}: the policy has no {service} resource {key!r} "
                                f"(reviewable: {keys or 'none'})") from None
    if res.kind not in REVIEWED_KINDS:
        raise AccessReviewError(f"--scope {text!r}: {res.kind}s are not reviewed (they follow the roster's teams); "
                                f"review a {', '.join(REVIEWED_KINDS)}")
    return ReviewScope("resource", service, key)

# --- start -----------------------------------------------------------------------------


@dataclass
class Started:
    """A review just opened: its id, items per reviewer, and how each notice went."""

    review_id: str
    items: int
    reviewers: dict[str, int] = field(default_factory=dict)  # person id → items
    notices: list[Notice] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # service → why it is not in the review


def start_review(ws: Workspace, scope_text: str = "all", *, deadline: str | None = None,
                 remind_after: str | None = None, by: str | None = None, run_id: str | None = None) -> Started:
    """Open a review of ``scope_text``, notify each reviewer once, and audit it."""
    scope = parse_review_scope(ws, scope_text)
    due, every = _durations(ws, deadline, remind_after)
    coordinator = coordinator_of(ws)
    items, skipped = collect_items(ws, scope, coordinator.id)
    if not items:
        why = "; ".join(f"{s}: {w}" for s, w in skipped.items())
        raise AccessReviewError(f"nothing to review in {scope}" + (f" ({why})" if why else ""))
    actor = by or ws.actor
    with ws.lock:
        review_id = state.start_access_review(ws.db, scope=str(scope), opened_by=actor, deadline=due,
                                              remind_after=every, items=items, run_id=run_id)
        review = state.get_access_review(ws.db, review_id)
        rows = state.access_review_items(ws.db, review_id)
    out = Started(review_id, len(rows), skipped=skipped)
    by_owner = _by_owner(rows)
    for owner, mine in by_owner.items():
        out.reviewers[owner] = len(mine)
        out.notices.append(notify(ws, owner, notice_text(review, mine, "start"), notice_id=f"{review_id}-{owner}",
                                  run_id=run_id))
    _audit(ws, run_id, actor, "review start", review_id, f"access review of {scope} opened",
           {"scope": str(scope), "deadline": review["deadline"], "remind_after": review["remind_after"],
            "coordinator": coordinator.id, "skipped": skipped, "items": [_brief(r) for r in rows],
            "notices": {n.person_id: n.service or n.why for n in out.notices}})
    return out


def _durations(ws: Workspace, deadline: str | None, remind_after: str | None) -> tuple[timedelta, timedelta]:
    try:
        due = duration(deadline or ws.policy.review.deadline)
        every = duration(remind_after or ws.policy.review.remind_after)
    except ValueError as exc:
        raise AccessReviewError(str(exc)) from None
    if every >= due:
        raise AccessReviewError(f"--remind-after {remind_after or ws.policy.review.remind_after} must be shorter "
                                f"than the deadline {deadline or ws.policy.review.deadline}")
    return due, every


# --- answers ---------------------------------------------------------------------------


@dataclass
class Answered:
    """What an answer did, per item: recorded, removed, held by a guard, or failed."""

    review_id: str
    decision: str  # confirmed | removed
    confirmed: list[int] = field(default_factory=list)
    removed: dict[int, str] = field(default_factory=dict)  # item → "applied" | "already gone"
    held: dict[int, str] = field(default_factory=dict)  # item → the guard's reason
    failed: dict[int, str] = field(default_factory=dict)  # item → error
    run_ids: list[str] = field(default_factory=list)


def answer_review(ws: Workspace, review_id: str, items: list[int], *, remove: bool, reason: str = "",
                  by: str | None = None, allow_removals: bool = False, run_id: str | None = None) -> Answered:
    """Confirm or remove items of an open review; removals go through the plan (see the module docstring)."""
    review = get_review(ws, review_id)
    rows = _open_items(ws, review, items)
    reason = reason.strip()
    if remove and not reason:
        raise AccessReviewError("--remove needs --reason: say why the access should go")
    actor = _answerer(ws, rows, by)
    if not remove:
        return _confirm(ws, review, rows, actor, reason, run_id)
    out = Answered(review["id"], "removed")
    for service in sorted({r["service"] for r in rows}):
        _remove(ws, review, [r for r in rows if r["service"] == service], actor, reason, allow_removals, out)
    for item, why in {**out.held, **out.failed}.items():
        with ws.lock:
            state.note_access_outcome(ws.db, review["id"], [item], why, reason=reason)
    return out


def _open_items(ws: Workspace, review: dict, numbers: list[int]) -> list[dict]:
    if review["status"] != "open":
        raise AccessReviewError(f"review {review['id']} is closed")
    if not numbers:
        raise AccessReviewError("name at least one item number")
    rows = state.access_review_items(ws.db, review["id"], items=sorted(set(numbers)))
    found = {r["item"]: r for r in rows}
    for n in sorted(set(numbers)):
        if n not in found:
            raise AccessReviewError(f"review {review['id']} has no item {n}")
        if found[n]["status"] not in OPEN_ITEMS:
            raise AccessReviewError(f"item {n} of {review['id']} is already {found[n]['status']} "
                                    f"(by {found[n]['answered_by']})")
    return rows


def _answerer(ws: Workspace, rows: list[dict], by: str | None) -> str:
    """``--by`` must be a person who reviews every item named (its reviewer, or the coordinator once escalated)."""
    if by is None:
        return ws.actor
    try:
        state.get_person(ws.db, by)
    except KeyError:
        raise AccessReviewError(f"--by {by!r}: no such person in the roster") from None
    for row in rows:
        reviewer = row["escalated_to"] or row["owner_id"]
        if by not in (row["owner_id"], row["escalated_to"]):
            raise AccessReviewError(f"--by {by}: item {row['item']} is reviewed by {reviewer}, not by {by}")
    return by


def _confirm(ws: Workspace, review: dict, rows: list[dict], actor: str, reason: str, run_id: str | None) -> Answered:
    numbers = [r["item"] for r in rows]
    with ws.lock:
        state.answer_access_items(ws.db, review["id"], numbers, status="confirmed", by=actor, reason=reason)
        for exc in state.active_exceptions(ws.db):  # a held removal the reviewer took back
            if exc["source"] in {_source(review, n) for n in numbers}:
                state.revoke_exception(ws.db, exc["id"], by=actor)
    for row in rows:
        _audit(ws, run_id, actor, "review confirm", review["id"], reason or "access confirmed by its reviewer",
               _brief(row), row)
    return Answered(review["id"], "confirmed", confirmed=numbers)


def _source(review: dict, item: int) -> str:
    return f"review:{review['id']}/{item}"


def _remove(ws: Workspace, review: dict, rows: list[dict], actor: str, reason: str, allow_removals: bool,
            out: Answered) -> None:
    from flows.settle import SettleError, settle

    service = rows[0]["service"]
    active = {p.id for p in state.list_people(ws.db) if p.status == "active"}
    planned, extra = set(), []
    for row in rows:
        if row["resource_key"] and row["person_id"] in active:  # the planner removes it once the grant is denied
            with ws.lock:
                state.add_exception(ws.db, service=service, resource=row["resource_key"], person_id=row["person_id"],
                                    effect="deny", reason=reason, source=_source(review, row["item"]), by=actor)
            planned.add((_target(row), _object(row)))
        else:
            extra.append(Change(op="remove", service=service, target=_target(row), object_id=_object(row),
                                group_id=row["resource_id"], external_id=row["account_id"], before=row["level"],
                                label=row["member_name"] or row["account_id"],
                                reason=f"remove {row['member_name']} from {row['resource_name']}"))
    try:
        settled = settle(ws, service, lambda c: c.op == "remove" and (c.target, c.object_id) in planned,
                         reason=f"access review {review['id']}: {reason}", kind="review", extra=tuple(extra),
                         allow_removals=allow_removals)
    except SettleError as exc:
        for row in rows:
            out.failed[row["item"]] = f"failed: {exc}"
            _audit(ws, None, actor, "review remove", review["id"], reason,
                   {**_brief(row), "outcome": out.failed[row["item"]]}, row)
        return
    out.run_ids.append(settled.run_id)
    _settle_outcomes(ws, review, rows, settled, actor, reason, out)


def _settle_outcomes(ws: Workspace, review: dict, rows: list[dict], settled, actor: str, reason: str,
                     out: Answered) -> None:
    applied = {(c.target, c.object_id) for c in settled.applied}
    failed = {(c.target, c.object_id): str(err) for c, err in settled.failed}
    refusals = [r for r in settled.refused if r.service == rows[0]["service"]]
    observed = state.latest_snapshot(ws.db, rows[0]["service"])
    for row in rows:
        key, n = (_target(row), _object(row)), row["item"]
        if key in applied or not _still_member(observed, row):
            out.removed[n] = "applied" if key in applied else "already gone"
            with ws.lock:
                state.answer_access_items(ws.db, review["id"], [n], status="removed", by=actor, reason=reason,
                                          outcome=out.removed[n])
        elif key in failed:
            out.failed[n] = f"failed: {failed[key]}"
        else:
            why = next((r.reason for r in refusals if r.target in (key[0], "*")
                        and r.object_id in ("", key[1])), "the plan did not include it")
            out.held[n] = why if why.startswith("held") else f"held: {why}"
        _audit(ws, settled.run_id, actor, "review remove", review["id"], reason,
               {**_brief(row), "outcome": out.removed.get(n) or out.held.get(n) or out.failed.get(n)}, row)


def _still_member(observed, row: dict) -> bool:
    if observed is None or not observed.complete:
        return True
    return any(m.external_id == row["account_id"] for m in observed.members.get(row["resource_id"], []))


# --- close -------------------------------------------------------------------------------


def close_review(ws: Workspace, review_id: str, *, by: str | None = None, run_id: str | None = None) -> dict:
    """Close an open review; items still open stay as they are (and are listed in the audit entry)."""
    review = get_review(ws, review_id)
    try:
        with ws.lock:
            state.close_access_review(ws.db, review["id"], by=by or ws.actor)
    except ValueError as exc:
        raise AccessReviewError(str(exc)) from None
    review = state.get_access_review(ws.db, review["id"])
    left_open = state.access_review_items(ws.db, review["id"], status=OPEN_ITEMS)
    _audit(ws, run_id, by or ws.actor, "review close", review["id"], f"access review {review['id']} closed",
           {"counts": review["counts"], "open_items": [_brief(r) for r in left_open]})
    return review


__all__ = [
    "AccessReviewError",
    "Answered",
    "Reminded",
    "ReviewScope",
    "Started",
    "answer_review",
    "close_review",
    "collect_items",
    "coordinator_of",
    "get_review",
    "notice_text",
    "parse_review_scope",
    "remind_reviews",
    "start_review",
]

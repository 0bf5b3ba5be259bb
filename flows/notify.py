"""Telling one person something through their chat channel: work items, reviews, reminders.

A notice is a broadcast to a single person (``person:ID`` scope) with an id the caller
chooses, so it inherits everything a broadcast promises: the policy's channel order
(``broadcast.channels``), the first service where the person has an active linked
account, fallback when that service rejects the account, and a journal that makes a
re-run with the same id send nothing twice. Choose ids that say what the notice is for
(``W12`` for work item 12, ``W12-r1`` for its first reminder), never a timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.broadcast import BroadcastError, broadcast
from flows.workspace import Workspace
from mappings.scope import Scope


@dataclass(frozen=True)
class Notice:
    """Where a notice went: the service that took it, or why nobody could."""

    person_id: str
    service: str | None  # None: not delivered (see ``why``)
    why: str = ""
    already: bool = False  # an earlier run with the same id delivered it

    @property
    def delivered(self) -> bool:
        return self.service is not None or self.already


def notify(ws: Workspace, person_id: str, text: str, *, notice_id: str, run_id: str | None = None) -> Notice:
    """Send ``text`` to one active person once per ``notice_id``; never raises for an unreachable person."""
    try:
        report = broadcast(ws, text, [Scope("person", person_id)], broadcast_id=notice_id, run_id=run_id)
    except BroadcastError as exc:
        return Notice(person_id, None, str(exc))
    if report.already:
        return Notice(person_id, None, already=True)
    for service, ids in report.reached.items():
        if person_id in ids:
            return Notice(person_id, service)
    if not report.in_scope:
        return Notice(person_id, None, "not an active person in the roster")
    why = report.unreachable.get(person_id) or (
        f"sent on {report.uncertain[person_id]} but never answered" if person_id in report.uncertain
        else "; ".join(f"{s}: {e}" for s, e in report.errors.items()) or "not sent")
    return Notice(person_id, None, why)


__all__ = ["Notice", "notify"]

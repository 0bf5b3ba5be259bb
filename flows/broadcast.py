"""Reaching everyone at once: one notice to every active person in scope, through their best channel.

The policy orders the channels (``broadcast.channels``; by default DingTalk work notice,
WeCom app message, Feishu message). A person's channel is the first one where they have
a linked account that the last read of that service saw active. Each service sends its
share in its own thread, in the batches and at the pace its connector keeps to its
documented limits, so the services' limits overlap instead of adding up.

Every send is journaled before it goes out (``state.broadcasts``): a re-run of the same
broadcast (same id: by default a hash of text and scopes) skips whoever already has it,
retries calls that failed, and moves people the service rejected to their next channel.
A send that was made but never answered (the process died) is resent only where the
service itself drops the duplicate — DingTalk delivers the same text to a user once a
day, WeCom checks duplicates when asked (``enable_duplicate_check``, up to 4 h), Feishu
answers a repeated ``uuid`` with the first result for an hour — and within that window;
otherwise it is reported as uncertain and left for a person to decide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import import_module

import state
from connectors import ConnectorError, connector_class
from flows.workspace import Workspace
from mappings.models import Person, digest
from mappings.scope import Scope, in_scope
from state.broadcasts import deliveries, mark_sending, open_broadcast, settle

CHINA = timedelta(hours=8)
ONE_BY_ONE_CHUNK = 50  # journaled together where each message is its own call (Feishu)
MAX_TEXT = 2000  # the smallest of the three: DingTalk text content (WeCom 2048 bytes, Feishu 150 KB)


def _same_china_day(sent: datetime, now: datetime) -> bool:
    return (sent + CHINA).date() == (now + CHINA).date()


# how long after an unanswered send a resend is still dropped by the service as a duplicate
DEDUPE: dict[str, Callable[[datetime, datetime], bool]] = {
    "dingtalk": _same_china_day,
    "wecom": lambda sent, now: now - sent < timedelta(hours=4) - timedelta(minutes=5),
    "feishu": lambda sent, now: now - sent < timedelta(hours=1) - timedelta(minutes=5),
}


class BroadcastError(Exception):
    """A broadcast that cannot start: no text, no channel, an unknown scope."""


@dataclass
class BroadcastReport:
    """Who was reached where, who already had it, and who could not be reached."""

    broadcast_id: str
    scopes: list[str]
    in_scope: int = 0
    reached: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # service → person ids
    already: int = 0  # had it from an earlier run of this broadcast
    unreachable: dict[str, str] = field(default_factory=dict)  # person id → why
    uncertain: dict[str, str] = field(default_factory=dict)  # person id → service of the unanswered send
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[str, str] = field(default_factory=dict)  # service → what failed
    names: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"broadcast": self.broadcast_id, "scopes": self.scopes, "in_scope": self.in_scope,
                "reached": {s: len(v) for s, v in sorted(self.reached.items())}, "already": self.already,
                "unreachable": len(self.unreachable), "uncertain": len(self.uncertain),
                "calls": dict(self.calls), "errors": self.errors}


def broadcast_id_for(text: str, scopes: list[Scope]) -> str:
    """The default id: the same text to the same scopes is the same broadcast."""
    return "B" + digest([text.strip(), sorted(str(s) for s in scopes)])[:12]


def channels(ws: Workspace) -> list[str]:
    """The policy's channel order, keeping the connected services that can send messages."""
    out = []
    for service in ws.policy.broadcast.channels:
        if service in ws.connections and hasattr(connector_class(service), "send_message"):
            out.append(service)
    return out


def broadcast(ws: Workspace, text: str, scopes: list[Scope], *, broadcast_id: str | None = None,
              today: date | None = None, now: Callable[[], datetime] | None = None,
              dry_run: bool = False, run_id: str | None = None) -> BroadcastReport:
    """Send ``text`` once to every active person in ``scopes``; see the module docstring."""
    text = text.strip()
    if not text:
        raise BroadcastError("the message text is empty")
    if len(text) > MAX_TEXT:
        raise BroadcastError(f"the message is {len(text)} characters; keep it to {MAX_TEXT} (DingTalk's limit)")
    order = channels(ws)
    if not order:
        raise BroadcastError("no channel to send through: connect dingtalk, wecom or feishu and list it under "
                             "broadcast.channels in the policy")
    clock = now or (lambda: datetime.now(UTC))
    today = today or (clock() + CHINA).date()
    bid = broadcast_id or broadcast_id_for(text, scopes)
    report = BroadcastReport(bid, [str(s) for s in scopes])
    with ws.lock:
        people = in_scope(state.list_people(ws.db), scopes, today)
        accounts = {s: _reachable(ws, s) for s in order}
    report.in_scope = len(people)
    report.names = {p.id: p.name for p in people}
    tried, todo = _history(ws, bid, people, report, clock())
    if not dry_run:
        with ws.lock:
            if open_broadcast(ws.db, bid, text=text, scopes=report.scopes, by=ws.actor) != text:
                raise BroadcastError(f"broadcast {bid} was sent with another text; pick a new --id")
    while todo:
        batches: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for person in todo:
            service = next((s for s in order if s not in tried[person.id] and person.id in accounts[s]), None)
            if service is None:
                report.unreachable[person.id] = _why_unreachable(order, tried[person.id])
                continue
            tried[person.id].add(service)
            batches[service].append((person.id, accounts[service][person.id]))
        if dry_run:
            for service, rows in batches.items():
                report.reached[service] += [pid for pid, _ in rows]
            break
        retry = _send_all(ws, bid, text, batches, report)
        todo = [p for p in people if p.id in retry]
    if not dry_run:
        with ws.lock:
            state.append(ws.db, run_id=run_id, actor=ws.actor, action="broadcast", target=f"broadcast:{bid}",
                         reason=text[:200], detail=report.summary())
    return report


def _reachable(ws: Workspace, service: str) -> dict[str, str]:
    """person id → account id in ``service``, for linked accounts last seen active."""
    snapshot = state.latest_snapshot(ws.db, service)
    inactive = {a.external_id for a in snapshot.accounts if not a.active} if snapshot else set()
    present = {a.external_id for a in snapshot.accounts} if snapshot and snapshot.complete else None
    out = {}
    for ext, ident in sorted(state.identities_for(ws.db, service).items()):
        if ext in inactive or (present is not None and ext not in present):
            continue
        out.setdefault(ident.person_id, ext)
    return out


def _history(ws: Workspace, bid: str, people: list[Person], report: BroadcastReport,
             now: datetime) -> tuple[dict[str, set[str]], list[Person]]:
    """Channels already tried per person, and who still needs the message."""
    with ws.lock:
        rows = deliveries(ws.db, bid)
    by_person: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_person[row["person_id"]].append(row)
    tried: dict[str, set[str]] = defaultdict(set)
    todo = []
    for person in people:
        mine = by_person.get(person.id, [])
        if any(r["status"] == "delivered" for r in mine):
            report.already += 1
            continue
        unanswered = [r for r in mine if r["status"] == "sent"]
        if unanswered:
            last = unanswered[-1]
            sent = datetime.fromisoformat(last["sent_at"])
            if not DEDUPE.get(last["service"], lambda *_: False)(sent, now):
                report.uncertain[person.id] = last["service"]
                continue
            with ws.lock:  # the service drops a duplicate: close the old row, send again
                settle(ws.db, bid, last["service"], [person.id], "failed", "unanswered; resent")
        tried[person.id] = {r["service"] for r in mine if r["status"] == "rejected"}
        todo.append(person)
    return tried, todo


def _send_all(ws: Workspace, bid: str, text: str, batches: dict[str, list[tuple[str, str]]],
              report: BroadcastReport) -> set[str]:
    """Send every service's share concurrently; the person ids to try on their next channel."""
    with ThreadPoolExecutor(max_workers=max(1, len(batches))) as pool:
        futures = [pool.submit(_send_service, ws, bid, text, s, rows, report) for s, rows in batches.items()]
        return set().union(*(f.result() for f in futures)) if futures else set()


def _send_service(ws: Workspace, bid: str, text: str, service: str, rows: list[tuple[str, str]],
                  report: BroadcastReport) -> set[str]:
    """One service's share, in chunks journaled before each call; returns the rejected people."""
    by_ext = {ext: pid for pid, ext in rows}
    rejected: set[str] = set()
    try:
        runner = ws.connector(service)
    except Exception as exc:  # noqa: BLE001 - a missing secret: nothing was sent, a re-run retries
        report.errors[service] = f"{type(exc).__name__}: {exc}"
        return set()
    try:
        for chunk in _chunks(rows, _chunk_size(service)):
            with ws.lock:
                mark_sending(ws.db, bid, service, chunk)
            ids = [pid for pid, _ in chunk]
            try:
                result = runner.send_message([ext for _, ext in chunk], text, bid)
            except ConnectorError as exc:
                with ws.lock:
                    settle(ws.db, bid, service, ids, "failed", str(exc))
                report.errors[service] = str(exc)
                continue
            bad = {by_ext[e] for e in result.rejected if e in by_ext}
            with ws.lock:
                settle(ws.db, bid, service, sorted(bad), "rejected", "the service named this account invalid")
                settle(ws.db, bid, service, [p for p in ids if p not in bad], "delivered", result.detail)
            report.calls[service] += result.calls
            report.reached[service] += [p for p in ids if p not in bad]
            rejected |= bad
    finally:
        runner.close()
    return rejected


def _chunk_size(service: str) -> int:
    """How many recipients one journaled step covers: the connector's batch, or 50 one-by-one sends."""
    return getattr(import_module(f"connectors.{service}.client"), "MESSAGE_BATCH", ONE_BY_ONE_CHUNK)


def _chunks(rows: list, size: int) -> list[list]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _why_unreachable(order: list[str], tried: set[str]) -> str:
    if tried:
        return f"rejected by {', '.join(sorted(tried))}; no other channel"
    return f"no active linked account in {', '.join(order)}"


__all__ = ["BroadcastError", "BroadcastReport", "DEDUPE", "broadcast", "broadcast_id_for", "channels"]

"""The chaos harness: seeded syncs of a demo coalition under faults, killed mid-apply and restarted.

One ``chaos(folder, seed)`` call is one scenario, seeded end to end:

- ``flows.demo_run.build_demo`` builds the coalition (roster imported; WeCom, DingTalk and Feishu
  sandboxes seeded as a team left them), in-process sandboxes with rate limits off and
  ``NO_RETRY_WAIT`` retries, so it is fast;
- every sandbox gets a ``FaultPlan`` at ``rate`` with every kind (5xx, timeout, drop, the
  service's rate-limit error, early token revocation, a listing that fails part-way);
- before each run, signups arrive in the inbox through the receiver's storing function
  (``state.receive``), some of them redelivered;
- each run is what a sync does (``process_inbox``, offboarding, pull → plan → apply → finish) in a
  fresh ``Workspace`` on the same database file and the same sandboxes: a new process;
- the first ``crash_runs`` runs are killed at a seeded random write (the n-th write request to a
  seeded service: the service acted, the answer never came back, and from then on no request of
  that process reaches any service);
- between runs a coordinator does what Muster asks of one: a DingTalk chat create that got no
  answer (DingTalk cannot list chats, so Muster will not risk a second one) is settled by
  looking in DingTalk — the chat is there: its id goes into the policy; it is not: the
  journal row is marked failed so the next run creates it (``coordinator_steps``);
- runs go on until one reads every service completely and plans nothing, with the inbox empty
  (bounded by ``max_runs``).

Then, with the faults off, the sandboxes' own records are checked: a fresh plan is empty, no
account, chat or tag was created twice, nobody joined a chat or tag twice, no message went out twice, and
every signup is in the roster exactly once. ``ChaosResult`` holds the figures the bench records.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import state
from connectors import NO_RETRY_WAIT, FaultPlan
from connectors._sandbox import FAULT_KINDS
from mappings.models import FormEntry
from mappings.normalize import normalize_mobile


class Crash(BaseException):
    """The process dying mid-apply: not an Exception, so nothing on the way catches it."""


PROFESSIONS = ("f5o1", "f5o2", "f5o3", "f5o4", "f5o5")  # 医生 护士 心理咨询师 社工 其他 (其他: review)
FINAL = ("onboarded", "review", "failed")


@dataclass
class ChaosResult:
    """What one seeded scenario did and what the sandboxes say about it."""

    seed: int
    people: int
    runs: int = 0  # runs started, crashed ones included
    crashes: int = 0
    converged_after: int | None = None  # runs until one read everything and planned nothing
    faults: Counter = field(default_factory=Counter)  # kind → injected, over every sandbox
    writes: int = 0  # write requests the sandboxes received
    signups: int = 0  # distinct form entries submitted
    deliveries: int = 0  # pushes stored, redeliveries included
    duplicate_accounts: list[str] = field(default_factory=list)
    duplicate_groups: list[str] = field(default_factory=list)
    duplicate_members: list[str] = field(default_factory=list)
    duplicate_messages: list[str] = field(default_factory=list)
    readded: int = 0  # adds naming someone already in the group (harmless resends, not duplicates)
    coordinator_steps: list[str] = field(default_factory=list)  # unsure creates a coordinator settled
    lost: list[str] = field(default_factory=list)  # signups not in the roster exactly once
    unfinished: list[str] = field(default_factory=list)  # inbox items not in a final status
    left_over: list[str] = field(default_factory=list)  # what a fresh plan without faults still wants
    errors: list[str] = field(default_factory=list)  # exceptions a run raised (other than the crash)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """Duplicate side effects of every kind (must be 0)."""
        return (len(self.duplicate_accounts) + len(self.duplicate_groups) + len(self.duplicate_members)
                + len(self.duplicate_messages))

    @property
    def ok(self) -> bool:
        """Converged to the desired state with no duplicate and nothing lost."""
        return (self.converged_after is not None and not self.duplicates and not self.lost
                and not self.unfinished and not self.left_over and not self.errors)

    def problems(self) -> list[str]:
        """Everything that went wrong, one line each (empty when ``ok``)."""
        out = [] if self.converged_after is not None else [f"no convergence within {self.runs} runs"]
        for name in ("duplicate_accounts", "duplicate_groups", "duplicate_members", "duplicate_messages", "lost", "unfinished",
                     "left_over", "errors"):
            out += [f"{name.replace('_', ' ')}: {x}" for x in getattr(self, name)[:10]]
        return out


# --- the process and its death --------------------------------------------------------------


class Killer:
    """Kills the process after the n-th write request one sandbox acted on; then nothing gets through."""

    def __init__(self, sandboxes: dict) -> None:
        self.sandboxes, self.dead, self.target, self.at, self.seen = sandboxes, False, None, 0, 0
        for name, sb in sandboxes.items():
            sb.dispatch = self._wrap(name, sb, type(sb).dispatch.__get__(sb))

    def arm(self, service: str | None, n: int = 0) -> None:
        """Kill after ``service``'s n-th write from now (None: no kill); the process starts alive."""
        self.dead, self.target, self.at, self.seen = False, service, n, 0

    def _wrap(self, name: str, sb, original):
        def dispatch(request):
            if self.dead:  # the process is gone: nothing more reaches any service
                raise Crash("the process was killed")
            response = original(request)
            if name == self.target and sb.is_write(request):
                self.seen += 1
                if self.seen == self.at:
                    self.dead = True
                    raise Crash(f"killed after {name} {request.method} {request.url.path} (write #{self.at})")
            return response

        return dispatch


def workspace(folder: Path, sandboxes: dict):
    """A new process: a fresh ``Workspace`` on the coalition's database file and the same sandboxes."""
    from flows.workspace import Workspace

    ws = Workspace.from_config(folder / "muster.yaml", actor="chaos")
    ws.sandboxes = sandboxes
    ws.retry = NO_RETRY_WAIT
    ws.connector_options = {"rate_limit": False}
    ws.forms = {}  # signups land through state.receive, as the receiver stores them
    return ws


def one_run(ws, *, allow_removals: bool = True) -> dict:
    """What one sync does, without Prefect: onboard the inbox, offboard, pull → plan → apply → finish."""
    from flows.forms import process_inbox
    from flows.offboard import offboard_leaving
    from flows.run import apply_all, pull_all
    from flows.steps import plan_all
    from flows.sync import finish

    started = time.monotonic()
    run_id = state.start_run(ws.db, "chaos", actor=ws.actor)
    process_inbox(ws, run_id)
    offboard_leaving(ws, run_id)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=allow_removals)
    state.save_plan(ws.db, result.plan, run_id)
    outcomes = apply_all(ws, result, run_id, approved_by=ws.actor if allow_removals else None)
    summary = finish(ws, run_id, "chaos", result, outcomes, started)
    summary["complete"] = all(o.complete for o in result.observed.values())
    return summary


# --- signups --------------------------------------------------------------------------------


def signups(seed: int, count: int, taken: set[str]) -> list[FormEntry]:
    """``count`` distinct Jinshuju entries of the demo's signup form, with mobiles nobody has."""
    from flows.demo import GIVEN, SURNAMES

    rng, out, serial = random.Random(f"signups:{seed}"), [], 0
    while len(out) < count:
        serial += 1
        mobile = f"170{seed % 100:02d}{rng.randrange(10**6):06d}"
        if normalize_mobile(mobile) in taken:
            continue
        taken.add(normalize_mobile(mobile))
        answers = {"field_1": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), "field_2": mobile,
                   "field_4": "武汉", "field_5": rng.choice(PROFESSIONS), "field_7": "f7o1", "field_8": "f8o1"}
        out.append(FormEntry(service="jinshuju", form="tok", serial=f"c{seed}-{serial}", answers=answers))
    return out


def deliver(ws, entries: list[FormEntry]) -> None:
    """Store pushes as the receiver does (``state.receive``)."""
    for entry in entries:
        state.receive(ws.db, form="signup", entry=entry, payload={"entry": entry.answers})


# --- the scenario ---------------------------------------------------------------------------


def chaos(folder: Path, seed: int, *, people: int = 1000, rate: float = 0.02, signup_count: int = 24,
          crash_runs: int = 3, max_runs: int = 12) -> ChaosResult:
    """One seeded scenario (see the module's docstring); ``folder`` is emptied and reused."""
    from flows.demo_run import build_demo

    started = time.monotonic()
    out = ChaosResult(seed=seed, people=people)
    sandboxes, _, members = build_demo(folder, people, seed)
    rng = random.Random(seed)
    for i, name in enumerate(sorted(sandboxes)):
        sandboxes[name].rate_limits = False
        sandboxes[name].faults = FaultPlan(seed=seed * 101 + i, rate=rate, kinds=FAULT_KINDS)
    killer = Killer(sandboxes)
    entries = signups(seed, signup_count, {normalize_mobile(m.mobile) for m in members})
    out.signups = len(entries)
    arrivals = [entries[i::crash_runs + 1] for i in range(crash_runs + 1)]  # some arrive in every crashed run
    delivered: list[FormEntry] = []
    for run in range(max_runs):
        ws = workspace(folder, sandboxes)
        batch = arrivals[run] if run < len(arrivals) else []
        again = rng.sample(delivered, min(2, len(delivered)))  # redeliveries: the service pushed twice
        deliver(ws, batch + again)
        delivered += batch
        out.deliveries += len(batch) + len(again)
        if run < crash_runs:
            killer.arm(rng.choice(sorted(sandboxes)), rng.randint(1, 300 if run == 0 else 10))
        else:
            killer.arm(None)
        out.runs += 1
        try:
            summary = one_run(ws)
        except Crash:
            out.crashes += 1
            summary = None
        except Exception as exc:  # noqa: BLE001 - a run that raises is a finding, not the end of the scenario
            out.errors.append(f"run {run + 1}: {type(exc).__name__}: {exc}")
            summary = None
        finally:
            killer.arm(None)
            ws.db.close()
        out.coordinator_steps += coordinator_steps(folder, sandboxes)
        if summary and summary["complete"] and summary["changes"] == 0 and not _pending(folder, sandboxes) \
                and run >= len(arrivals) - 1:
            out.converged_after = run + 1
            break
    _verify(folder, sandboxes, entries, out)
    out.seconds = time.monotonic() - started
    return out


def coordinator_steps(folder: Path, sandboxes: dict) -> list[str]:
    """Settle the DingTalk chat creates that got no answer, as the refusal asks a coordinator to."""
    ws = workspace(folder, sandboxes)
    done = []
    try:
        for row in state.unconfirmed(ws.db):
            change = row["change"]
            creates_chat = change.op == "add" and change.object_id == "*" and change.target.startswith("chat:")
            if change.service != "dingtalk" or not creates_chat:
                continue
            key, name = change.target.split(":", 1)[1], change.after["name"]
            found = [cid for cid, chat in sandboxes["dingtalk"].chats.items() if chat["name"] == name]
            if len(found) == 1:  # it was created: name it in the policy
                policy = folder / "policy.yaml"
                line = f"{{key: {key}, kind: chat, name: {name}}}"
                text = policy.read_text(encoding="utf-8")
                if line in text:
                    policy.write_text(text.replace(line, f"{line[:-1]}, external_id: '{found[0]}'}}"),
                                      encoding="utf-8")
                state.mark_applied(ws.db, row["plan_id"], [row["key"]], {"created_id": found[0]})
                done.append(f"dingtalk chat {name}: created, id set in the policy")
            else:  # it was not: say so, and the next run creates it
                state.mark_failed(ws.db, row["plan_id"], [row["key"]], "a coordinator confirmed it does not exist")
                done.append(f"dingtalk chat {name}: confirmed absent")
    finally:
        ws.db.close()
    return done


def _pending(folder: Path, sandboxes: dict) -> int:
    ws = workspace(folder, sandboxes)
    try:
        return sum(1 for i in state.inbox_items(ws.db) if i["status"] in ("received", "onboarding"))
    finally:
        ws.db.close()


def _verify(folder: Path, sandboxes: dict, entries: list[FormEntry], out: ChaosResult) -> None:
    """The checks, with the faults off, on the sandboxes' own records."""
    from flows.run import pull_all
    from flows.steps import plan_all

    for sb in sandboxes.values():
        out.faults.update(sb.faults.injected)
        out.writes += sb.write_calls
        sb.faults = FaultPlan()
    ws = workspace(folder, sandboxes)
    try:
        run_id = state.start_run(ws.db, "chaos-check", actor=ws.actor)
        plan = plan_all(ws, pull_all(ws, run_id), allow_removals=True).plan
        out.left_over = [f"{c.service} {c.op} {c.target} {c.label or c.object_id}" for c in plan.changes]
        for entry in entries:
            found = state.find_people(ws.db, mobile=normalize_mobile(entry.answers["field_2"]))
            if len(found) != 1:
                out.lost.append(f"signup {entry.serial} ({entry.answers['field_2']}): {len(found)} roster people")
        items = state.inbox_items(ws.db)
        out.unfinished = [f"inbox item {i['id']} ({i['serial']}) is still {i['status']}" for i in items
                          if i["status"] not in FINAL]
        missing = {e.serial for e in entries} - {i["serial"] for i in items}
        out.lost += [f"signup {s}: no inbox item" for s in sorted(missing)]
    finally:
        ws.db.close()
    for name, sb in sorted(sandboxes.items()):
        _duplicates(name, sb, out)


def _duplicates(name: str, sb, out: ChaosResult) -> None:
    out.duplicate_accounts += [f"{name} account {a} created {n} times" for a, n in sb.created.items() if n > 1]
    mobiles = Counter(_mobile(u) for u in sb.users.values())
    for account in sb.created:
        user = sb.users.get(account)
        if user and _mobile(user) and mobiles[_mobile(user)] > 1:
            out.duplicate_accounts.append(f"{name} account {account} shares its mobile with another account")
    out.duplicate_groups += [f"{name} {kind} {title!r} created {n} times" for (kind, title), n
                             in sb.groups_created.items() if n > 1]
    out.duplicate_members += [f"{name} {group}: {member} joined {n} times" for (group, member), n
                              in sb.joined.items() if n > 1]
    out.readded += sum(sb.readded.values())
    out.duplicate_messages += [f"{name} message to {user} sent {n} times: {text[:30]}" for (user, text), n
                               in (Counter(sb.messages) | sb.sent_messages).items() if n > 1]


def _mobile(user: dict) -> str | None:
    try:
        return normalize_mobile(user.get("mobile") or None)
    except ValueError:
        return None


__all__ = ["ChaosResult", "Crash", "Killer", "chaos", "deliver", "one_run", "signups", "workspace"]

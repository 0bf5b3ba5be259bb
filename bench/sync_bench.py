"""A full first sync of 2,000 people into empty sandboxes, rate limits on, then a no-op re-sync.

    .venv/bin/python bench/sync_bench.py            # 2,000 people (DingTalk alone needs ~100 s)
    .venv/bin/python bench/sync_bench.py --quick    # 300 people
    .venv/bin/python bench/sync_bench.py --people 500 --no-write

The WeCom and DingTalk sandboxes start empty (only the root department) and enforce their
documented limits (``rate_limits=True``); the connections keep their client-side rate
limiting on. A bench policy declares per service 3 departments and 2 chats (WeCom also a
tag); the sync is the one ``flows.sync.sync_flow`` runs, without Prefect:

    start_run → pull_all → plan_all → save_plan → apply_all → summarize/finish_run

Measured: wall time of pull, plan, apply and the whole sync; per service the apply wall (its
last request), per API path the write calls (from the sandboxes' ``calls``) and when they
went out. Derived from the plan and each API's documented batch caps: the minimal write
calls per service, and the lower bound on wall time — per service the sum over dependent
phases (departments → accounts → chats/tags → memberships) of the slowest API in that
phase (calls ÷ documented per-API rate); the sync's bound is the max over services, which
run in parallel. Targets: wall ÷ bound ≤ 1.2, calls made ÷ minimal calls = 1.0; then the
re-sync right after must send 0 write calls.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from _common import (  # noqa: E402
    command_line,
    fmt_s,
    machine_line,
    md_table,
    revision,
    roster,
    text_table,
    utc_stamp,
    write_section,
)

import state  # noqa: E402
from connectors import sandbox_class  # noqa: E402
from connectors.dingtalk.client import WRITE_APIS as DINGTALK_WRITES  # noqa: E402
from connectors.wecom.client import WRITE_APIS as WECOM_WRITES  # noqa: E402
from flows.demo import ROLES, TEAMS  # noqa: E402
from flows.demo_policy import sandbox_config  # noqa: E402
from flows.report import write_report  # noqa: E402
from flows.run import apply_all, pull_all, summarize  # noqa: E402
from flows.steps import plan_all  # noqa: E402
from flows.workspace import Workspace  # noqa: E402
from mappings.models import PHASES, Plan  # noqa: E402

SEED = 11
WRITES = {"wecom": WECOM_WRITES, "dingtalk": DINGTALK_WRITES}

# --- documented limits and batch caps (reference/saas-apis.md, connectors/*/client.py) ----------
RATE = {"wecom": 10_000 / 60, "dingtalk": 20.0}  # calls a second per API (WeCom: 10,000 a minute)
WECOM_HOURLY = 150_000  # WeCom's second window: calls an hour per API
WECOM_CHAT_CREATE_MAX = 2_000  # appchat/create takes the whole member list (2..2000)
WECOM_TAG_BATCH = 1_000  # tag/addtagusers, tag/deltagusers userlist
DINGTALK_CHAT_BATCH = 40  # /chat/create useridlist, /chat/update add/del lists

W = "/cgi-bin/"
API = {
    ("wecom", "department"): f"POST {W}department/create",
    ("wecom", "account-add"): f"POST {W}user/create",
    ("wecom", "account-change"): f"POST {W}user/update",
    ("wecom", "account-remove"): f"POST {W}user/update",
    ("wecom", "chat-create"): f"POST {W}appchat/create",
    ("wecom", "chat-update"): f"POST {W}appchat/update",
    ("wecom", "tag-create"): f"POST {W}tag/create",
    ("wecom", "tag-add"): f"POST {W}tag/addtagusers",
    ("wecom", "tag-remove"): f"POST {W}tag/deltagusers",
    ("dingtalk", "department"): "POST /topapi/v2/department/create",
    ("dingtalk", "account-add"): "POST /topapi/v2/user/create",
    ("dingtalk", "account-change"): "POST /topapi/v2/user/update",
    ("dingtalk", "account-remove"): "POST /topapi/v2/user/delete",
    ("dingtalk", "chat-create"): "POST /chat/create",
    ("dingtalk", "chat-update"): "POST /chat/update",
}
PHASE_NAMES = ("departments", "accounts", "chats/tags", "memberships", "account removals")


def bench_policy_yaml() -> str:
    """Per service 3 departments + 2 chats; WeCom also 1 tag. DingTalk chats stay under 1000.

    WeCom departments follow teams (community, medical, psych; the rest sit in the root) and
    every active volunteer is in the all-hands chat; DingTalk departments follow tiers, so
    every active volunteer needs an account in both services.
    """
    teams = "\n".join(f"  {k}: {{name: {v}}}" for k, v in TEAMS.items())
    roles = "\n".join(f"  {k}: {{name: {v}}}" for k, v in ROLES.items())
    wecom_depts = "\n".join(f"    - {{key: {k}, kind: department, name: {TEAMS[k]}}}"
                            for k in ("community", "medical", "psych"))
    ding_depts = "\n".join(f"    - {{key: {k}, kind: department, name: {v}}}"
                           for k, v in (("tier-1", "一线组"), ("tier-2", "二线组"), ("tier-3", "三线组")))
    return f"""\
# bench/sync_bench.py policy: 3 departments + 2 chats per service, WeCom 1 tag
version: 1
guards: {{max_removal_fraction: 0.10, max_removals: 50}}
services:
  wecom: {{leavers: remove, unknown_members: keep, userid_prefix: m}}
  dingtalk: {{leavers: remove, unknown_members: keep, userid_prefix: m}}
roles:
{roles}
teams:
{teams}
tiers: [一线, 二线, 三线]
resources:
  wecom:
{wecom_depts}
    - {{key: all-hands, kind: chat, name: 全体志愿者}}
    - {{key: command, kind: chat, name: 指挥部}}
    - {{key: field, kind: tag, name: 一线二线}}
  dingtalk:
{ding_depts}
    - {{key: command, kind: chat, name: 指挥部}}
    - {{key: medical-chat, kind: chat, name: 医疗组群}}
rules:
  - name: everyone
    grant: {{resource: wecom/all-hands}}
  - name: field
    when: {{tier: [一线, 二线]}}
    grant: {{resource: wecom/field}}
  - name: team-community
    when: {{team: community}}
    grant: {{resource: wecom/community}}
  - name: team-medical
    when: {{team: medical}}
    grant: [{{resource: wecom/medical}}, {{resource: dingtalk/medical-chat}}]
  - name: team-psych
    when: {{team: psych}}
    grant: {{resource: wecom/psych}}
  - name: tier-1
    when: {{tier: 一线}}
    grant: {{resource: dingtalk/tier-1}}
  - name: tier-2
    when: {{tier: 二线}}
    grant: {{resource: dingtalk/tier-2}}
  - name: tier-3
    when: {{tier: 三线}}
    grant: {{resource: dingtalk/tier-3}}
  - name: community-leads
    when: {{team: community, role: coordinator}}
    grant: {{resource: wecom/community, level: manage}}
  - name: tier-3-leads
    when: {{tier: 三线, role: coordinator}}
    grant: {{resource: dingtalk/tier-3, level: manage}}
  - name: command
    when: {{tier: 三线}}
    grant: [{{resource: wecom/command}}, {{resource: dingtalk/command}}]
  - name: command-owners
    when: {{role: coordinator, tier: 三线}}
    grant: [{{resource: wecom/command, level: owner}}, {{resource: dingtalk/command, level: owner}}]
"""


# --- recording what the connectors send ----------------------------------------------------------


class Recorder:
    """Wraps a sandbox handler: (monotonic time, "METHOD /path") of every request it answers."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.log: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        sandbox.transport = lambda: httpx.MockTransport(self)  # what from_sandbox() wires in

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.sandbox(request)
        with self.lock:
            self.log.append((time.monotonic(), f"{request.method} {request.url.path}"))
        return response


# --- minimal calls and lower bound, from the plan ---------------------------------------------


def minimal_calls(plan: Plan) -> dict[str, dict[int, Counter]]:
    """service → phase index (of PHASE_NAMES) → Counter(API → minimal write calls).

    One call per department, account create/update/removal; a WeCom chat is one
    appchat/create with all its members (≤2000); a WeCom tag is tag/create plus
    ⌈members/1000⌉ tag/addtagusers; a DingTalk chat is one /chat/create with ≤40 members plus
    ⌈(members−40)/40⌉ /chat/update. Membership changes of existing groups: WeCom chat one
    appchat/update per chat (owner changes may need a second, ordered call); WeCom tag
    ⌈adds/1000⌉ + ⌈removes/1000⌉; DingTalk chat ⌈max(adds, removes)/40⌉ /chat/update (adds,
    removes and the owner ride in the same atomic call).
    """
    out: dict[str, dict[int, Counter]] = defaultdict(lambda: defaultdict(Counter))
    members: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for c in plan.changes:
        s, kind = c.service, c.target.split(":", 1)[0]
        phase = PHASES[c.phase]
        if phase == "department":
            out[s][0][API[(s, "department")]] += 1
        elif phase == "account":
            out[s][1][API[(s, "account-add" if c.op == "add" else "account-change")]] += 1
        elif phase == "account-remove":
            out[s][4][API[(s, "account-remove")]] += 1
        elif phase == "group":
            m = len(c.after["members"])
            if s == "wecom" and kind == "chat":
                out[s][2][API[(s, "chat-create")]] += math.ceil(m / WECOM_CHAT_CREATE_MAX)
            elif s == "wecom" and kind == "tag":
                out[s][2][API[(s, "tag-create")]] += 1
                out[s][2][API[(s, "tag-add")]] += math.ceil(m / WECOM_TAG_BATCH)
            elif s == "dingtalk" and kind == "chat":
                out[s][2][API[(s, "chat-create")]] += 1
                out[s][2][API[(s, "chat-update")]] += math.ceil(max(0, m - DINGTALK_CHAT_BATCH) / DINGTALK_CHAT_BATCH)
        else:  # member-add, owner, member-remove of an existing group
            members[(s, c.target)][c.op] += 1
    for (s, target), ops in members.items():
        kind = target.split(":", 1)[0]
        if s == "wecom" and kind == "chat":
            out[s][3][API[(s, "chat-update")]] += 1 + (1 if ops["change"] and ops["remove"] else 0)
        elif s == "wecom" and kind == "tag":
            out[s][3][API[(s, "tag-add")]] += math.ceil(ops["add"] / WECOM_TAG_BATCH)
            out[s][3][API[(s, "tag-remove")]] += math.ceil(ops["remove"] / WECOM_TAG_BATCH)
        elif s == "dingtalk" and kind == "chat":
            n = max(ops["add"], ops["remove"], 1 if ops["change"] else 0)
            out[s][3][API[(s, "chat-update")]] += math.ceil(n / DINGTALK_CHAT_BATCH)
    return out


def derivation(plan: Plan) -> list[str]:
    """The minimal-calls sum of the first plan, spelled out per service."""
    lines = []
    for s in sorted({c.service for c in plan.changes}):
        mine = plan.for_service(s)
        parts, total = [], 0
        depts = sum(1 for c in mine if c.phase == PHASES.index("department"))
        adds = sum(1 for c in mine if c.target == "account" and c.op == "add")
        updates = sum(1 for c in mine if c.target == "account" and c.op == "change")
        for n, what in ((depts, "department create"), (adds, "user create"), (updates, "user update")):
            if n:
                parts.append(f"{n} {what} (1 each)")
                total += n
        for c in mine:
            if c.phase != PHASES.index("group"):
                continue
            kind, m = c.target.split(":", 1)[0], len(c.after["members"])
            if s == "wecom" and kind == "chat":
                k = math.ceil(m / WECOM_CHAT_CREATE_MAX)
                parts.append(f"{c.target} {m} members: {k} appchat/create (≤ 2000 members each)")
            elif s == "wecom" and kind == "tag":
                k = 1 + math.ceil(m / WECOM_TAG_BATCH)
                parts.append(f"{c.target} {m} members: 1 tag/create + ⌈{m}/1000⌉ = {k - 1} tag/addtagusers")
            else:
                k = 1 + math.ceil(max(0, m - DINGTALK_CHAT_BATCH) / DINGTALK_CHAT_BATCH)
                parts.append(f"{c.target} {m} members: 1 /chat/create (≤ 40) + ⌈max(0, {m}−40)/40⌉ = "
                             f"{k - 1} /chat/update")
            total += k
        others = [c for c in mine if c.phase > PHASES.index("group")]
        if others:
            parts.append(f"{len(others)} membership/removal changes on existing groups (see README)")
        lines.append(f"- {s}: " + "; ".join(parts) + f" → **{total if not others else 'see table'}**")
    return lines


def api_seconds(service: str, calls: int) -> float:
    """Least time ``calls`` calls to one API can take under its documented limits."""
    t = calls / RATE[service]
    if service == "wecom" and calls > WECOM_HOURLY:  # the hourly window binds beyond 150,000
        t = max(t, (calls // WECOM_HOURLY) * 3600.0)
    return t


def lower_bound(phases: dict[int, Counter], service: str) -> tuple[float, list[tuple[str, str, int, float]]]:
    """Sum over phases of the slowest API in the phase; also the per-phase detail."""
    total, detail = 0.0, []
    for i in sorted(phases):
        if not phases[i]:
            continue
        api, calls = max(phases[i].items(), key=lambda kv: kv[1])
        secs = api_seconds(service, calls)
        total += secs
        detail.append((PHASE_NAMES[i], api, calls, secs))
    return total, detail


# --- one sync ---------------------------------------------------------------------------------


def write_counts(sandboxes: dict) -> dict[str, Counter]:
    out = {}
    for s, sb in sandboxes.items():
        paths = WRITES[s]
        out[s] = Counter({k: v for k, v in sb.calls.items() if k.split(" ", 1)[1] in paths})
    return out


def sync_once(ws: Workspace, kind: str) -> dict:
    """What ``flows.sync.sync_flow`` does, without Prefect; wall time per step."""
    started = time.monotonic()
    run_id = state.start_run(ws.db, kind, actor=ws.actor)
    t = time.monotonic()
    observed = pull_all(ws, run_id)
    pull_s = time.monotonic() - t
    t = time.monotonic()
    result = plan_all(ws, observed)
    state.save_plan(ws.db, result.plan, run_id)
    plan_s = time.monotonic() - t
    apply_start = time.monotonic()
    outcomes = apply_all(ws, result, run_id)
    apply_s = time.monotonic() - apply_start
    summary = summarize(ws, run_id, kind, result, outcomes, started)
    if result.plan.changes:
        state.set_plan_status(ws.db, result.plan.id, "applied" if summary["status"] == "ok" else "partial")
    write_report(ws.reports, summary, result.plan)
    state.finish_run(ws.db, run_id, summary["status"], summary)
    total_s = time.monotonic() - started
    return {"result": result, "outcomes": outcomes, "summary": summary, "pull_s": pull_s, "plan_s": plan_s,
            "apply_s": apply_s, "apply_start": apply_start, "total_s": total_s}


def run(n: int, folder: Path, *, limits: bool = True, profile: bool = False) -> dict:
    _, people = roster(n, SEED)
    sandboxes = {s: sandbox_class(s)(rate_limits=limits, seed=SEED) for s in ("wecom", "dingtalk")}
    recorders = {s: Recorder(sb) for s, sb in sandboxes.items()}
    (folder / "policy.yaml").write_text(bench_policy_yaml(), encoding="utf-8")
    (folder / "muster.yaml").write_text(
        sandbox_config("bench", {s: sb.credentials for s, sb in sandboxes.items()}, in_process=True),
        encoding="utf-8")
    ws = Workspace.from_config(folder / "muster.yaml", actor="bench")
    ws.sandboxes = sandboxes
    if not limits:
        ws.connector_options = {"rate_limit": False}
    state.upsert_people(ws.db, people)
    empty = {s: (len(sb.users), len(sb.departments)) for s, sb in sandboxes.items()}

    print(f"first sync of {n:,} people into empty sandboxes ...", file=sys.stderr, flush=True)
    before = write_counts(sandboxes)
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        first = prof.runcall(sync_once, ws, "bench-first")
        stats = pstats.Stats(prof).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
    else:
        first = sync_once(ws, "bench-first")
    after = write_counts(sandboxes)
    first["writes"] = {s: after[s] - before[s] for s in sandboxes}
    first["log"] = {s: [(t, k) for t, k in r.log if t >= first["apply_start"]] for s, r in recorders.items()}
    first["reads"] = {s: sum(1 for t, k in r.log if t < first["apply_start"]) for s, r in recorders.items()}

    print("no-op re-sync ...", file=sys.stderr, flush=True)
    marks = {s: len(r.log) for s, r in recorders.items()}
    before = write_counts(sandboxes)
    wc_before = {s: sb.write_calls for s, sb in sandboxes.items()}
    second = sync_once(ws, "bench-resync")
    after = write_counts(sandboxes)
    second["writes"] = {s: after[s] - before[s] for s in sandboxes}
    second["write_calls"] = {s: sb.write_calls - wc_before[s] for s, sb in sandboxes.items()}
    second["requests"] = {s: len(r.log) - marks[s] for s, r in recorders.items()}
    final = {s: (len(sb.users), len(sb.departments), len(sb.chats), len(getattr(sb, "tags", {})))
             for s, sb in sandboxes.items()}
    ws.db.close()
    return {"n": n, "first": first, "second": second, "empty": empty, "final": final}


# --- report ---------------------------------------------------------------------------------------


def analyse(r: dict) -> dict:
    first = r["first"]
    plan = first["result"].plan
    minimal = minimal_calls(plan)
    services = sorted(first["writes"])
    per = {}
    for s in services:
        lb, detail = lower_bound(minimal[s], s)
        min_total = sum(sum(c.values()) for c in minimal[s].values())
        made = sum(first["writes"][s].values())
        log = first["log"][s]
        last = max((t for t, _ in log), default=first["apply_start"])
        apply_wall = last - first["apply_start"]
        spans = {}
        for t, k in log:
            lo, hi, c = spans.get(k, (t, t, 0))
            spans[k] = (min(lo, t), max(hi, t), c + 1)
        per[s] = {"lb": lb, "detail": detail, "minimal": minimal[s], "min_total": min_total, "made": made,
                  "apply_wall": apply_wall, "spans": spans, "outcome": first["outcomes"].get(s)}
    lb_all = max(p["lb"] for p in per.values())
    return {"per": per, "lb": lb_all, "services": services}


def report(r: dict, quick: bool, write: bool) -> None:
    a = analyse(r)
    first, second = r["first"], r["second"]
    per, services = a["per"], a["services"]

    # 1. calls per API
    call_rows = []
    for s in services:
        min_by_api: Counter = Counter()
        for c in per[s]["minimal"].values():
            min_by_api.update(c)
        for api in sorted(set(first["writes"][s]) | set(min_by_api)):
            made = first["writes"][s].get(api, 0)
            mini = min_by_api.get(api, 0)
            if not (made or mini):
                continue
            lo, hi, _ = per[s]["spans"].get(api, (0, 0, 0))
            rate = f"{(made - 1) / (hi - lo):.1f}/s" if made > 1 and hi > lo else "-"
            call_rows.append([s, api, made, mini, f"{made / mini:.2f}" if mini else "-", rate])
    calls_hdr = ["service", "write API", "calls made", "minimal", "made ÷ minimal", "achieved rate"]

    # 2. bound and wall per service
    bound_rows = []
    for s in services:
        for phase, api, calls, secs in per[s]["detail"]:
            bound_rows.append([s, phase, api, calls, f"{RATE[s]:.2f}/s", fmt_s(secs)])
        bound_rows.append([s, "**bound**", "", "", "", f"**{fmt_s(per[s]['lb'])}**"])
    bound_hdr = ["service", "phase", "slowest API in phase", "calls", "documented rate", "seconds"]

    # 3. verdict table
    ver_rows = []
    for s in services:
        p = per[s]
        ratio_w = p["apply_wall"] / p["lb"] if p["lb"] else float("nan")
        ratio_c = p["made"] / p["min_total"] if p["min_total"] else float("nan")
        ver_rows.append([s, fmt_s(p["apply_wall"]), fmt_s(p["lb"]), f"{ratio_w:.2f}", p["made"], p["min_total"],
                         f"{ratio_c:.2f}"])
    made_all = sum(p["made"] for p in per.values())
    min_all = sum(p["min_total"] for p in per.values())
    ver_rows.append(["**apply, all services**", fmt_s(first["apply_s"]), fmt_s(a["lb"]),
                     f"{first['apply_s'] / a['lb']:.2f}", made_all, min_all, f"{made_all / min_all:.2f}"])
    ver_rows.append(["**whole sync** (pull+plan+apply+report)", fmt_s(first["total_s"]), fmt_s(a["lb"]),
                     f"{first['total_s'] / a['lb']:.2f}", made_all, min_all, f"{made_all / min_all:.2f}"])
    ver_hdr = ["scope", "wall s", "lower bound s", "wall ÷ bound (≤ 1.2)", "write calls", "minimal",
               "calls ÷ minimal (= 1.0)"]

    steps = [["first sync", fmt_s(first["pull_s"]), fmt_s(first["plan_s"]), fmt_s(first["apply_s"]),
              fmt_s(first["total_s"]), len(first["result"].plan.changes),
              sum(sum(w.values()) for w in first["writes"].values())],
             ["no-op re-sync", fmt_s(second["pull_s"]), fmt_s(second["plan_s"]), fmt_s(second["apply_s"]),
              fmt_s(second["total_s"]), len(second["result"].plan.changes),
              sum(sum(w.values()) for w in second["writes"].values())]]
    steps_hdr = ["sync", "pull s", "plan s", "apply s", "total s", "changes planned", "write calls"]

    problems = []
    for s in services:
        out = per[s]["outcome"]
        if out and (out.failed or out.error or out.rejected):
            problems.append(f"- {s}: {len(out.failed)} failed, error={out.error!r}, rejected={len(out.rejected)}; "
                            + "; ".join(f"{c.target} {c.label}: {e}" for c, e in out.failed[:5]))
    refused = [f"- {x.service} {x.target}: {x.reason}" for x in first["result"].plan.refused]

    print(text_table(steps_hdr, steps))
    print()
    print(text_table(calls_hdr, call_rows))
    print()
    print(text_table(bound_hdr, [[str(c).replace("**", "") for c in row] for row in bound_rows]))
    print()
    print(text_table(ver_hdr, [[str(c).replace("**", "") for c in row] for row in ver_rows]))
    print(f"\nno-op re-sync: {sum(second['write_calls'].values())} write calls "
          f"(sandbox write_calls: {second['write_calls']}), {len(second['result'].plan.changes)} changes planned, "
          f"requests {second['requests']}")
    if problems:
        print("\nproblems:\n" + "\n".join(problems))
    if refused:
        print("\nrefused in the first plan:\n" + "\n".join(refused))
    if not write:
        return

    wall_ok = first["apply_s"] / a["lb"] <= 1.2
    calls_ok = made_all == min_all
    noop = sum(second["write_calls"].values())
    replanned = len(second["result"].plan.changes)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    empty = ", ".join(f"{s}: {u} users, {d} department" for s, (u, d) in r["empty"].items())
    final = ", ".join(f"{s}: {u} users, {d} departments, {c} chats" + (f", tags: {t}" if s == "wecom" else "")
                      for s, (u, d, c, t) in r["final"].items())
    body = f"""\
## (b)+(c) First sync into empty sandboxes, then a no-op re-sync — `bench/sync_bench.py`

- measured: {utc_stamp()}
- machine: {machine_line()}
- code: {revision()}
- command: `{command_line()}`{' (quick size)' if quick else ''}
- load average (1/5/15 min) at the end: {load} (the machine is shared)
- {r['n']:,} people; sandboxes started empty ({empty}),
  `rate_limits=True`; connections with client rate limiting on (WeCom spaces each API at
  10000/60×0.98 = 163.3/s, DingTalk at 18/s). SQLite state in a fresh file (WAL). No Prefect.
- after the first sync: {final}

### Steps

{md_table(steps_hdr, steps)}

### Write calls per API (first sync)

"made" counts the sandboxes' `calls` on write paths; "minimal" is derived from the plan and
the documented batch caps (derivation in `bench/README.md` and below); "achieved rate" is
(calls−1) ÷ (last − first call time).

{md_table(calls_hdr, call_rows)}

Minimal calls of this plan, derived (caps: WeCom appchat/create takes all 2..2000 members in one
call, tag/addtagusers ≤ 1000 ids; DingTalk /chat/create ≤ 40 ids then /chat/update ≤ 40 adds;
one call per department and per user create):

{chr(10).join(derivation(first['result'].plan))}

### Lower bound on wall time (first sync)

Phases depend on each other (departments → accounts → chats/tags), so per service the bound
is the sum over phases of the slowest API in that phase, calls ÷ documented per-API rate
(WeCom 10,000/min = 166.67/s; DingTalk 20/s). Services run in parallel: the sync's bound is
the max over services.

{md_table(bound_hdr, bound_rows)}

### Against the targets

Per-service "wall" is from the start of `apply_all` to that service's last request.

{md_table(ver_hdr, ver_rows)}

- wall ÷ bound ≤ 1.2 (apply phase, all services): **{'met' if wall_ok else 'MISSED'}**
  ({first['apply_s'] / a['lb']:.2f}; whole sync {first['total_s'] / a['lb']:.2f})
- calls made ÷ minimal = 1.0: **{'met' if calls_ok else 'MISSED'}** ({made_all} / {min_all})
- no-op re-sync right after: **{noop} write calls** ({'met' if noop == 0 else 'MISSED'}), {replanned} changes planned,
  {fmt_s(second['total_s'])} s, read requests {second['requests']}
{chr(10).join(problems) if problems else '- no failed or rejected changes'}

Refused in the first plan: {len(refused)}{(chr(10) + chr(10).join(refused)) if refused else ''}
"""
    path = write_section("sync_bench", body)
    print(f"\nwrote the sync_bench section of {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="300 people instead of 2,000")
    ap.add_argument("--people", type=int, help="people in the roster")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--profile", action="store_true",
                    help="diagnostic: rate limits OFF (sandboxes and clients), cProfile the first sync; no RESULTS.md")
    ap.add_argument("--cpu", action="store_true",
                    help="diagnostic: rate limits OFF, report the pure CPU cost of the sync; no RESULTS.md")
    args = ap.parse_args()
    n = args.people or (300 if args.quick else 2_000)
    if args.profile or args.cpu:
        args.no_write = True
    with tempfile.TemporaryDirectory(prefix="muster-sync-bench-") as tmp:
        r = run(n, Path(tmp), limits=not (args.profile or args.cpu), profile=args.profile)
        report(r, args.quick, write=not args.no_write and not args.people)


if __name__ == "__main__":
    main()

"""A first sync of 100,000 people into empty WeCom, DingTalk and Feishu sandboxes, limits on, on a simulated clock.

    .venv/bin/python bench/full_sync_bench.py --people 20000 --record  # the recorded run (~15 min real time)
    .venv/bin/python bench/full_sync_bench.py --quick    # 5,000 people
    .venv/bin/python bench/full_sync_bench.py            # 100,000 people: hours of real time today (the
                                                         # sandboxes' per-create scans are O(n²); README)

``--record`` with a custom ``--people`` writes the section anyway (it states the size) and
adds a plan-only pass at 100,000 in a subprocess: the plan, the bound, planning time and
memory measured there, and the sync time at 100,000 as a labelled estimate.

The coalition runs the **demo policy** (``flows.demo_policy.demo_policy``): WeCom departments,
tags and chats, DingTalk departments and chats, Feishu documents shared by team and role.
The sandboxes start empty (Feishu holds only the two shared documents and their owner) and
answer over-limit calls with the services' own errors (``rate_limits=True``); the
connections keep their client-side limiters (``rate_limit=True``). The sync is what
``flows.sync.sync_flow`` runs, minus Prefect: pull → plan → save → apply → summarize → report.

**Why a simulated clock.** The lower bound (calls ÷ documented per-API rate, phases in
order, services in parallel) is computed from the plan before apply starts; for 100,000
people it is well over an hour (DingTalk's 20 calls/s per API alone makes 100,000
``user/create`` 83 min, and Feishu's 1,000 calls a minute per API binds harder). So each
service gets its own clock: ``clock() = real time + offset``, and ``sleep(d)`` adds ``d`` to
the offset instead of sleeping. The service's sandbox (its rate windows and token
lifetimes), its client's rate limiter, its DingTalk notice window and its retry back-off all
read and advance that one clock. Real work (HTTP plumbing, journal writes, planning) still
counts, as real time; only waiting is skipped. Services apply in parallel threads, each on
its own clock, so a service's simulated time is its own span, and the sync's is the max.
Real time spent while another thread held the GIL also counts, so the figure errs long.
"""

from __future__ import annotations

import argparse
import math
import os
import re
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
    maxrss_mib,
    md_table,
    revision,
    roster,
    text_table,
    utc_stamp,
    write_section,
)

import state  # noqa: E402
from connectors import connector_class, sandbox_class  # noqa: E402
from connectors._base import Runner  # noqa: E402
from connectors._http import RetryPolicy  # noqa: E402
from flows.demo_policy import demo_policy, sandbox_config  # noqa: E402
from flows.report import write_report  # noqa: E402
from flows.run import apply_all, pull_all, summarize  # noqa: E402
from flows.steps import plan_all  # noqa: E402
from flows.workspace import Workspace  # noqa: E402
from mappings.models import PHASES, Plan  # noqa: E402

SEED = 11
PEOPLE = 100_000
SERVICES = ("wecom", "dingtalk", "feishu")

# --- documented limits and batch caps (reference/saas-apis.md §1.3, §2.3, §3.2; connectors/*/client.py) -----
RATE = {"wecom": 10_000 / 60, "dingtalk": 20.0, "feishu": 50.0}  # calls a second per API
PER_MINUTE = {"feishu": 1_000}  # a second quota: calls a minute per API
WECOM_HOURLY = 150_000  # WeCom: also 150,000 calls an hour per API
WECOM_CHAT_CREATE_MAX = 2_000  # appchat/create takes the whole member list (2..2000)
WECOM_TAG_BATCH = 1_000  # tag/addtagusers, tag/deltagusers userlist
DINGTALK_CHAT_BATCH = 40  # /chat/create useridlist, /chat/update add/del lists
FEISHU_MEMBER_BATCH = 50  # im/v1/chats (create) and chats/{id}/members id_list

W, F = "/cgi-bin/", "/open-apis"
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
    ("feishu", "department"): f"POST {F}/contact/v3/departments",
    ("feishu", "account-add"): f"POST {F}/contact/v3/users",
    ("feishu", "account-change"): f"PATCH {F}/contact/v3/users/{{user_id}}",
    ("feishu", "account-remove"): f"DELETE {F}/contact/v3/users/{{user_id}}",
    ("feishu", "chat-create"): f"POST {F}/im/v1/chats",
    ("feishu", "chat-add"): f"POST {F}/im/v1/chats/{{chat_id}}/members",
    ("feishu", "chat-remove"): f"DELETE {F}/im/v1/chats/{{chat_id}}/members",
    ("feishu", "chat-owner"): f"PUT {F}/im/v1/chats/{{chat_id}}",
    ("feishu", "doc-add"): f"POST {F}/drive/v1/permissions/{{token}}/members",
    ("feishu", "doc-change"): f"PUT {F}/drive/v1/permissions/{{token}}/members/{{member_id}}",
    ("feishu", "doc-remove"): f"DELETE {F}/drive/v1/permissions/{{token}}/members/{{member_id}}",
    ("feishu", "doc-owner"): f"POST {F}/drive/v1/permissions/{{token}}/members/transfer_owner",
}
PHASE_NAMES = ("departments", "accounts", "chats/tags", "memberships", "account removals")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
READ_POSTS = {"POST /cgi-bin/gettoken", f"POST {F}/auth/v3/tenant_access_token/internal",
              f"POST {F}/drive/v1/metas/batch_query", "POST /cgi-bin/user/list_id", "POST /topapi/v2/user/list",
              "POST /topapi/v2/department/listsub", "POST /topapi/v2/department/listsubid",
              "POST /topapi/v2/department/get", "POST /topapi/user/listid", "POST /topapi/v2/user/get"}

_TEMPLATES = [  # Feishu paths carry ids; the documented limits are per API, so count per template
    (re.compile(rf"^{F}/drive/v1/permissions/[^/]+/members/transfer_owner$"),
     f"{F}/drive/v1/permissions/{{token}}/members/transfer_owner"),
    (re.compile(rf"^{F}/drive/v1/permissions/[^/]+/members/[^/]+$"),
     f"{F}/drive/v1/permissions/{{token}}/members/{{member_id}}"),
    (re.compile(rf"^{F}/drive/v1/permissions/[^/]+/members$"), f"{F}/drive/v1/permissions/{{token}}/members"),
    (re.compile(rf"^{F}/drive/v1/permissions/[^/]+/public$"), f"{F}/drive/v1/permissions/{{token}}/public"),
    (re.compile(rf"^{F}/drive/v1/files/[^/]+/subscribe$"), f"{F}/drive/v1/files/{{token}}/subscribe"),
    (re.compile(rf"^{F}/im/v1/chats/[^/]+/members$"), f"{F}/im/v1/chats/{{chat_id}}/members"),
    (re.compile(rf"^{F}/im/v1/chats/[^/]+$"), f"{F}/im/v1/chats/{{chat_id}}"),
    (re.compile(rf"^{F}/contact/v3/users/[^/]+$"), f"{F}/contact/v3/users/{{user_id}}"),
    (re.compile(rf"^{F}/contact/v3/departments/[^/]+$"), f"{F}/contact/v3/departments/{{department_id}}"),
]


def template(path: str) -> str:
    """The API a path calls: Feishu ids replaced by their placeholder."""
    for pattern, name in _TEMPLATES:
        if pattern.match(path):
            return name
    return path


# --- the simulated clock ----------------------------------------------------------------------------


class ServiceClock:
    """One service's clock: real time plus the waits skipped so far; ``sleep`` skips instead of waiting.

    ``monotonic`` is for the client (limiter, token expiry), ``time`` for the sandbox
    (rate windows, token lifetimes): both move by the same skipped waits.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps = 0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.offset += seconds
                self.sleeps += 1


class Recorder:
    """Wraps a sandbox handler: (service clock, "METHOD /api", rate-limited?) of every request it answers."""

    LIMITED = {"wecom": {45009, 45033}, "dingtalk": {90002, 90018}, "feishu": {99991400}}

    def __init__(self, service: str, sandbox, clock: ServiceClock):
        self.service, self.sandbox, self.clock = service, sandbox, clock
        self.log: list[tuple[float, str, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.sandbox(request)
        limited = response.status_code == 429 or (b'"errcode": 0' not in response.content[:80]
                                                  and _code(response) in self.LIMITED[self.service])
        with self.lock:
            self.log.append((self.clock.monotonic(), f"{request.method} {template(request.url.path)}", limited))
        return response


def _code(response: httpx.Response) -> int | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload.get("errcode", payload.get("code")) if isinstance(payload, dict) else None


# --- the coalition ---------------------------------------------------------------------------------------


def coalition(folder: Path, n: int) -> tuple[Workspace, dict, dict, dict, list]:
    """Empty sandboxes (Feishu: the two shared documents and their owner), the demo policy, ``n`` people."""
    _, people = roster(n, SEED)
    clocks = {s: ServiceClock() for s in SERVICES}
    sandboxes = {s: sandbox_class(s)(rate_limits=True, seed=SEED, clock=clocks[s].time) for s in SERVICES}
    owner = people[0]  # the coordinator who wrote the handbook
    fs = sandboxes["feishu"]
    uid = fs.add_user("fs00000", owner.name, mobile=owner.mobile, email=owner.email)
    docs = {"handbook": fs.add_doc("doxcnDemoHandbook2020", "docx", "志愿者手册", uid),
            "cases": fs.add_doc("fldcnDemoCases2020", "folder", "个案资料", uid)}
    recorders = {s: Recorder(s, sb, clocks[s]) for s, sb in sandboxes.items()}
    (folder / "policy.yaml").write_text(demo_policy({"feishu": docs}), encoding="utf-8")
    (folder / "muster.yaml").write_text(
        sandbox_config("bench", {s: sb.credentials for s, sb in sandboxes.items()}, in_process=True),
        encoding="utf-8")
    ws = Workspace.from_config(folder / "muster.yaml", actor="bench")
    ws.sandboxes = sandboxes
    assert all(c.rate_limit for c in ws.connections.values())

    def connector(service: str) -> Runner:  # Workspace.connector, with this service's clock in every part
        c = clocks[service]
        client = connector_class(service).from_sandbox(
            sandboxes[service], transport=httpx.MockTransport(recorders[service]), rate_limit=True,
            retry=RetryPolicy(sleep=c.sleep), clock=c.monotonic, sleep=c.sleep)
        return Runner(client)

    ws.connector = connector
    state.upsert_people(ws.db, people)
    return ws, sandboxes, recorders, clocks, people


# --- minimal calls and lower bound ------------------------------------------------------------------------


def minimal_calls(plan: Plan) -> dict[str, dict[int, Counter]]:
    """service → phase (index of PHASE_NAMES) → Counter(API → minimal write calls), from the plan and the caps.

    WeCom/DingTalk as in ``bench/sync_bench.py``. Feishu: one call per department, account
    create/update/removal; a chat is one ``im/v1/chats`` with ≤ 50 members plus ⌈(m − 50)/50⌉
    member adds; members of an existing chat ⌈adds/50⌉ + ⌈removes/50⌉ (+1 for an owner
    change); a document's collaborators one call each (the permission-member API takes one member).
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
            elif s == "feishu" and kind == "chat":
                out[s][2][API[(s, "chat-create")]] += 1
                out[s][2][API[(s, "chat-add")]] += math.ceil(max(0, m - FEISHU_MEMBER_BATCH) / FEISHU_MEMBER_BATCH)
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
        elif s == "feishu" and kind == "chat":
            out[s][3][API[(s, "chat-add")]] += math.ceil(ops["add"] / FEISHU_MEMBER_BATCH)
            out[s][3][API[(s, "chat-remove")]] += math.ceil(ops["remove"] / FEISHU_MEMBER_BATCH)
            out[s][3][API[(s, "chat-owner")]] += 1 if ops["change"] else 0
        elif s == "feishu":  # doc / folder collaborators: one member a call
            out[s][3][API[(s, "doc-add")]] += ops["add"]
            out[s][3][API[(s, "doc-change")]] += ops["change"]
            out[s][3][API[(s, "doc-remove")]] += ops["remove"]
    return out


def api_seconds(service: str, calls: int) -> float:
    """Least time ``calls`` calls to one API can take under its documented limits.

    Per second: ``calls ÷ rate``. A minute quota Q lets call m·Q + 1 out no earlier than
    60·m s after the first (m = ⌊(calls − 1) ÷ Q⌋); the rest follow at the per-second rate.
    """
    t = calls / RATE[service]
    q = PER_MINUTE.get(service)
    if q and calls > q:
        m = (calls - 1) // q
        t = max(t, 60.0 * m + (calls - m * q) / RATE[service])
    if service == "wecom" and calls > WECOM_HOURLY:
        t = max(t, (calls // WECOM_HOURLY) * 3600.0)
    return t


def lower_bound(phases: dict[int, Counter], service: str) -> tuple[float, list[tuple[str, str, int, float]]]:
    """Sum over phases of the slowest API in the phase; also the per-phase detail."""
    total, detail = 0.0, []
    for i in sorted(phases):
        calls = {api: k for api, k in phases[i].items() if k}
        if not calls:
            continue
        api, k = max(calls.items(), key=lambda kv: api_seconds(service, kv[1]))
        secs = api_seconds(service, k)
        total += secs
        detail.append((PHASE_NAMES[i], api, k, secs))
    return total, detail


# --- the sync ----------------------------------------------------------------------------------------------


def write_calls(now: Counter, before: Counter) -> Counter:
    """Write calls per API ("METHOD /template") made since ``before`` (a copy of a sandbox's ``calls``)."""
    out: Counter = Counter()
    for key, count in now.items():
        method, path = key.split(" ", 1)
        if method in WRITE_METHODS and key not in READ_POSTS and count > before.get(key, 0):
            out[f"{method} {template(path)}"] += count - before.get(key, 0)
    return out


def sim_span(clocks: dict, starts: dict, recorders: dict, marks: dict) -> tuple[float, dict[str, float]]:
    """Simulated seconds of a step: per service from its clock at the start to its last request; the max."""
    per = {}
    for s, r in recorders.items():
        log = r.log[marks[s]:]
        per[s] = (log[-1][0] - starts[s]) if log else 0.0
    return max(per.values(), default=0.0), per


def run(n: int, folder: Path) -> dict:
    t_all = time.monotonic()
    rss = {"start": maxrss_mib()}
    print(f"building {n:,} people, empty sandboxes, the demo policy ...", file=sys.stderr, flush=True)
    ws, sandboxes, recorders, clocks, people = coalition(folder, n)
    rss["set-up"] = maxrss_mib()
    setup_s = time.monotonic() - t_all

    started = time.monotonic()
    run_id = state.start_run(ws.db, "bench-first", actor="bench")
    print("pull ...", file=sys.stderr, flush=True)
    marks = {s: len(r.log) for s, r in recorders.items()}
    starts = {s: c.monotonic() for s, c in clocks.items()}
    t = time.monotonic()
    observed = pull_all(ws, run_id)
    pull_real = time.monotonic() - t
    pull_sim, pull_per = sim_span(clocks, starts, recorders, marks)
    pull_sim = max(pull_sim, pull_real)
    reads = {s: len(r.log) - marks[s] for s, r in recorders.items()}
    rss["pull"] = maxrss_mib()

    print("plan ...", file=sys.stderr, flush=True)
    t = time.monotonic()
    result = plan_all(ws, observed)
    state.save_plan(ws.db, result.plan, run_id)
    plan_s = time.monotonic() - t
    rss["plan"] = maxrss_mib()
    minimal = minimal_calls(result.plan)
    bounds = {s: lower_bound(minimal.get(s, {}), s) for s in SERVICES}
    bound = max(b for b, _ in bounds.values())
    print(f"{len(result.plan.changes):,} changes; lower bound "
          + ", ".join(f"{s} {b:,.0f} s" for s, (b, _) in bounds.items()) + f" → {bound:,.0f} s; apply ...",
          file=sys.stderr, flush=True)

    calls_before = {s: Counter(sb.calls) for s, sb in sandboxes.items()}
    marks = {s: len(r.log) for s, r in recorders.items()}
    starts = {s: c.monotonic() for s, c in clocks.items()}
    sleeps0 = {s: (c.offset, c.sleeps) for s, c in clocks.items()}
    t = time.monotonic()
    cpu0 = time.process_time()
    outcomes = apply_all(ws, result, run_id)
    apply_real, apply_cpu = time.monotonic() - t, time.process_time() - cpu0
    apply_sim, apply_per = sim_span(clocks, starts, recorders, marks)
    rss["apply"] = maxrss_mib()
    limited = {s: sum(1 for _, _, lim in r.log[marks[s]:] if lim) for s, r in recorders.items()}
    writes = {s: write_calls(sb.calls, calls_before[s]) for s, sb in sandboxes.items()}
    apply_requests = {s: len(r.log) - marks[s] for s, r in recorders.items()}

    t = time.monotonic()
    summary = summarize(ws, run_id, "bench-first", result, outcomes, started)
    if result.plan.changes:
        state.set_plan_status(ws.db, result.plan.id, "applied" if summary["status"] == "ok" else "partial")
    write_report(ws.reports, summary, result.plan)
    state.finish_run(ws.db, run_id, summary["status"], summary)
    report_s = time.monotonic() - t
    rss["report"] = maxrss_mib()
    final = {s: {"users": len(sb.users), "chats": len(getattr(sb, "chats", {})),
                 "departments": len(getattr(sb, "departments", {}))} for s, sb in sandboxes.items()}
    skipped = {s: (c.offset - sleeps0[s][0], c.sleeps - sleeps0[s][1]) for s, c in clocks.items()}
    ws.db.close()
    return {"n": n, "setup_s": setup_s, "pull_real": pull_real, "pull_sim": pull_sim, "pull_per": pull_per,
            "reads": reads, "plan_s": plan_s, "apply_real": apply_real, "apply_cpu": apply_cpu, "apply_sim": apply_sim,
            "apply_per": apply_per, "report_s": report_s, "result": result, "outcomes": outcomes, "summary": summary,
            "minimal": minimal, "bounds": bounds, "bound": bound, "writes": writes, "limited": limited,
            "apply_requests": apply_requests, "rss": rss, "final": final, "skipped": skipped,
            "real_total": time.monotonic() - started}


def profile_apply(n: int, folder: Path, service: str, top: int = 45) -> None:
    """cProfile of one service's apply (``apply_service`` in the main thread) after a real pull and plan."""
    import cProfile
    import pstats

    from flows.apply import apply_service

    ws, sandboxes, recorders, clocks, people = coalition(folder, n)
    run_id = state.start_run(ws.db, "bench-profile", actor="bench")
    result = plan_all(ws, pull_all(ws, run_id))
    state.save_plan(ws.db, result.plan, run_id)
    changes = len(result.plan.for_service(service))
    print(f"{changes:,} {service} changes; profiling its apply ...", file=sys.stderr, flush=True)
    cpu0, t = time.process_time(), time.monotonic()
    apply_service(ws, result.plan, service, run_id)
    cpu, real = time.process_time() - cpu0, time.monotonic() - t
    print(f"unprofiled: {changes:,} changes in {real:.2f} s real, {cpu:.2f} s CPU ({1000 * cpu / max(changes, 1):.2f} "
          "ms a change); profiling a second, fresh run ...", file=sys.stderr, flush=True)
    ws.db.close()
    with tempfile.TemporaryDirectory(prefix="muster-full-sync-prof-") as tmp:
        ws, sandboxes, recorders, clocks, people = coalition(Path(tmp), n)
        run_id = state.start_run(ws.db, "bench-profile", actor="bench")
        result = plan_all(ws, pull_all(ws, run_id))
        state.save_plan(ws.db, result.plan, run_id)
        prof = cProfile.Profile()
        prof.runcall(apply_service, ws, result.plan, service, run_id)
        ws.db.close()
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def plan_only(n: int) -> dict:
    """Pull and plan only (no apply): the plan's size, the minimal calls and the bound; planning time and memory."""
    with tempfile.TemporaryDirectory(prefix="muster-full-sync-plan-") as tmp:
        ws, _, _, _, _ = coalition(Path(tmp), n)
        run_id = state.start_run(ws.db, "bench-plan", actor="bench")
        observed = pull_all(ws, run_id)
        t = time.monotonic()
        result = plan_all(ws, observed)
        state.save_plan(ws.db, result.plan, run_id)
        plan_s = time.monotonic() - t
        minimal = minimal_calls(result.plan)
        bounds = {s: lower_bound(minimal.get(s, {}), s) for s in SERVICES}
        ws.db.close()
    return {"n": n, "changes": len(result.plan.changes), "plan_s": plan_s, "maxrss": maxrss_mib(),
            "bounds": {s: [b, [list(x) for x in d]] for s, (b, d) in bounds.items()},
            "minimal": {s: sum(sum(c.values()) for c in minimal.get(s, {}).values()) for s in SERVICES}}


def plan_elsewhere(n: int) -> dict:
    """``plan_only(n)`` in a fresh subprocess (its memory high-water mark is its own)."""
    import json
    import subprocess

    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--plan-only", str(n), "--json", out.name], check=True)
        return json.loads(Path(out.name).read_text(encoding="utf-8"))


# --- report ---------------------------------------------------------------------------------------------------


def tables(r: dict) -> dict:
    calls, verdict, bound_rows = [], [], []
    for s in SERVICES:
        mini: Counter = Counter()
        for c in r["minimal"].get(s, {}).values():
            mini.update(c)
        made = r["writes"][s]
        for api in sorted(set(made) | set(mini)):
            m, k = made.get(api, 0), mini.get(api, 0)
            if m or k:
                calls.append([s, api, f"{m:,}", f"{k:,}", f"{m / k:.2f}" if k else "-"])
        b, detail = r["bounds"][s]
        for phase, api, k, secs in detail:
            rate = f"{RATE[s]:.2f}/s" + (f" and {PER_MINUTE[s]:,}/min" if s in PER_MINUTE else "")
            bound_rows.append([s, phase, api, f"{k:,}", rate, fmt_s(secs)])
        bound_rows.append([s, "**bound**", "", "", "", f"**{fmt_s(b)}**"])
        made_n, min_n = sum(made.values()), sum(mini.values())
        sim = r["apply_per"].get(s, 0.0)
        verdict.append([s, fmt_s(sim), fmt_s(b), f"{sim / b:.2f}" if b else "-", f"{made_n:,}", f"{min_n:,}",
                        f"{made_n / min_n:.2f}" if min_n else "-", f"{r['apply_requests'][s] - made_n:,}",
                        r["limited"][s]])
    made_all = sum(sum(w.values()) for w in r["writes"].values())
    min_all = sum(sum(sum(c.values()) for c in r["minimal"].get(s, {}).values()) for s in SERVICES)
    verdict.append(["**apply, all services**", fmt_s(r["apply_sim"]), fmt_s(r["bound"]),
                    f"**{r['apply_sim'] / r['bound']:.2f}**", f"{made_all:,}", f"{min_all:,}",
                    f"**{made_all / min_all:.2f}**", "", sum(r["limited"].values())])
    whole = r["pull_sim"] + r["plan_s"] + r["apply_sim"] + r["report_s"]
    verdict.append(["**whole sync** (pull + plan + apply + report)", fmt_s(whole), fmt_s(r["bound"]),
                    f"{whole / r['bound']:.2f}", "", "", "", "", ""])
    reads = ", ".join(f"{s} {v:,}" for s, v in r["reads"].items())
    steps = [["pull", fmt_s(r["pull_real"]), fmt_s(r["pull_sim"]), f"read requests: {reads}"],
             ["plan + save", fmt_s(r["plan_s"]), fmt_s(r["plan_s"]), f"{len(r['result'].plan.changes):,} changes, "
                                                                     f"{len(r['result'].plan.refused):,} refused"],
             ["apply", fmt_s(r["apply_real"]), fmt_s(r["apply_sim"]), f"CPU {fmt_s(r['apply_cpu'])} s"],
             ["summary + report", fmt_s(r["report_s"]), fmt_s(r["report_s"]), ""]]
    rss = [[k, f"{v:,.0f}"] for k, v in r["rss"].items()]
    problems = []
    for s, out in sorted(r["outcomes"].items()):
        if out.failed or out.error or out.rejected:
            problems.append(f"- {s}: {len(out.failed)} failed, error={out.error!r}, rejected={len(out.rejected)}; "
                            + "; ".join(f"{c.target} {c.label}: {e}" for c, e in out.failed[:3]))
    refused = Counter(f"{x.service} {x.target}: {re.sub(r'^[0-9,]+ ', 'N ', x.reason)}"
                      for x in r["result"].plan.refused)
    return {"calls": calls, "verdict": verdict, "bound": bound_rows, "steps": steps, "rss": rss,
            "problems": problems, "refused": refused, "whole": whole, "made_all": made_all, "min_all": min_all}


CALLS_HDR = ["service", "write API", "calls made", "minimal", "made ÷ minimal"]
BOUND_HDR = ["service", "phase", "slowest API in phase", "calls", "documented rate", "seconds"]
VERDICT_HDR = ["scope", "simulated s", "lower bound s", "simulated ÷ bound", "write calls", "minimal",
               "calls ÷ minimal", "read calls in apply", "rate-limit answers"]
STEPS_HDR = ["step", "real s", "simulated s", "what"]


def plain(rows: list[list]) -> list[list[str]]:
    return [[str(c).replace("**", "") for c in row] for row in rows]


def console(r: dict, t: dict) -> None:
    print(text_table(STEPS_HDR, plain(t["steps"])))
    print()
    print(text_table(BOUND_HDR, plain(t["bound"])))
    print()
    print(text_table(CALLS_HDR, t["calls"]))
    print()
    print(text_table(VERDICT_HDR, plain(t["verdict"])))
    print(f"\npeak RSS (MiB) after each step: {dict((k, round(v)) for k, v in r['rss'].items())}")
    print(f"waits skipped per service (s, sleeps): {r['skipped']}")
    print(f"sandboxes at the end: {r['final']}")
    if t["problems"]:
        print("problems:\n" + "\n".join(t["problems"]))
    for k, v in t["refused"].most_common(10):
        print(f"refused ×{v}: {k}")


def section(r: dict, t: dict, quick: bool) -> str:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    ratio = r["apply_sim"] / r["bound"]
    skipped = ", ".join(f"{s} {v[0]:,.0f} s in {v[1]:,} waits" for s, v in r["skipped"].items())
    final = "; ".join(f"{s}: {v['users']:,} users, {v['departments']} departments, {v['chats']} chats"
                      for s, v in r["final"].items())
    refused = "\n".join(f"- ×{v:,} {k}" for k, v in t["refused"].most_common()) or "- none"
    return f"""\
## Full first sync of {r['n']:,} people, limits on, simulated clock — `bench/full_sync_bench.py`

- measured: {utc_stamp()}
- machine: {machine_line()}
- code: {revision()}
- command: `{command_line()}`{' (quick size)' if quick else ''}
- load average (1/5/15 min) at the end: {load} (the machine is shared)
- {r['n']:,} generated people (`_common.roster`), the **demo policy** (WeCom: 5 team departments, 2 tags,
  all-hands and command chats; DingTalk: 5 team departments, 4 chats; Feishu: a handbook and a case folder
  shared by team and role). Sandboxes start empty (Feishu: the two documents and their owner),
  `rate_limits=True`; connections `rate_limit=True` (WeCom 163.3/s, DingTalk 18/s, Feishu 45/s and
  1,000 per 61 s per API). SQLite state in a fresh file. No Prefect.
- **time is simulated**: per service, `clock = real time + skipped waits` drives the sandbox (rate
  windows, tokens), the client's limiter, and retry back-off; a `sleep` advances it instead of
  waiting. Real work counts as real time. Waits skipped: {skipped}. Real time of the whole run
  (set-up excluded): {fmt_s(r['real_total'])} s; set-up {fmt_s(r['setup_s'])} s.
- sandboxes after the sync: {final}

### Steps

{md_table(STEPS_HDR, t['steps'])}

### Lower bound (computed from the plan before apply)

Per service, phases in order (departments → accounts → chats/tags → memberships), each as
long as its slowest API: calls ÷ documented per-API rate — WeCom 10,000/min (and 150,000/h),
DingTalk 20/s, Feishu 50/s and 1,000/min (a minute quota: call m·1000 + 1 goes out ≥ 60·m s
after the first). Services run in parallel: the sync's bound is the max. Reads are not counted.

{md_table(BOUND_HDR, t['bound'])}

### Against the bound

Per service, simulated apply = that service's clock from the start of `apply_all` to its
last request.

{md_table(VERDICT_HDR, t['verdict'])}

- simulated apply ÷ bound: **{ratio:.2f}** (target ≤ 1.2); whole sync {t['whole'] / r['bound']:.2f}
- write calls ÷ minimal: **{t['made_all'] / t['min_all']:.2f}** ({t['made_all']:,} / {t['min_all']:,})
- rate-limit answers from the sandboxes: {sum(r['limited'].values())}
- apply CPU (`time.process_time`, all threads): {fmt_s(r['apply_cpu'])} s for {len(r['result'].plan.changes):,} changes,
  {1000 * r['apply_cpu'] / max(len(r['result'].plan.changes), 1):.2f} ms a change (sandboxes and HTTP plumbing included)
{chr(10).join(t['problems']) if t['problems'] else '- no failed or rejected changes'}

### Write calls per API

"minimal" from the plan and the documented batch caps (see `bench/README.md`).

{md_table(CALLS_HDR, t['calls'])}

### Memory

Peak RSS (`ru_maxrss`, MiB) after each step — a high-water mark, and it includes the three
in-process sandboxes holding every account:

{md_table(['after', 'peak RSS MiB'], t['rss'])}

### Refused by the plan (guards and capacities of the demo policy at this size)

{refused}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 people")
    ap.add_argument("--people", type=int, help=f"people in the roster (default {PEOPLE:,})")
    ap.add_argument("--record", action="store_true",
                    help="write the section even for a custom --people size (it states the size, and adds the "
                         f"plan-only bound at {PEOPLE:,} with an estimate)")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--profile", choices=SERVICES, metavar="SERVICE",
                    help="diagnostic: cProfile of one service's apply (with --people; never writes)")
    ap.add_argument("--plan-only", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plan_only:
        import json

        Path(args.json).write_text(json.dumps(plan_only(args.plan_only)), encoding="utf-8")
        return
    n = args.people or (5_000 if args.quick else PEOPLE)
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="muster-full-sync-") as tmp:
            profile_apply(n, Path(tmp), args.profile)
        return
    with tempfile.TemporaryDirectory(prefix="muster-full-sync-") as tmp:
        r = run(n, Path(tmp))
    t = tables(r)
    console(r, t)
    big = None
    if n < PEOPLE and args.record:
        print(f"\nplan only at {PEOPLE:,} (bound, planning time and memory) ...", file=sys.stderr, flush=True)
        big = plan_elsewhere(PEOPLE)
        print(estimate_text(r, big))
    if not args.no_write and (args.record or not args.people):
        body = section(r, t, args.quick) + (estimate_text(r, big) if big else "")
        path = write_section("fullsync", body)
        print(f"\nwrote the fullsync section of {path}")


def estimate_text(r: dict, big: dict) -> str:
    """The plan-only figures at 100,000 (measured) and the simulated sync time there (an estimate)."""
    ratio = r["apply_sim"] / r["bound"]
    bound = max(b for b, _ in big["bounds"].values())
    rows = []
    for s in SERVICES:
        b, detail = big["bounds"][s]
        for phase, api, k, secs in detail:
            rows.append([s, phase, api, f"{k:,}", fmt_s(secs)])
        rows.append([s, "**bound**", "", f"{big['minimal'][s]:,} write calls", f"**{fmt_s(b)}**"])
    return f"""
### {big['n']:,} people: bound measured from the plan, sync time an ESTIMATE

Planned for real in a separate process (pull of the empty sandboxes, `plan_all`, `save_plan`; no
apply): {big['changes']:,} changes in {fmt_s(big['plan_s'])} s, peak RSS {big['maxrss']:,.0f} MiB (with the sandboxes).

{md_table(['service', 'phase', 'slowest API in phase', 'calls', 'seconds'], rows)}

Lower bound at {big['n']:,}: **{fmt_s(bound)} s ({bound / 3600:.2f} h)**. **Estimate, not measured:** at the
{r['n']:,}-person run's simulated ÷ bound of {ratio:.2f}, a {big['n']:,}-person first sync would take about
{fmt_s(ratio * bound)} s ({ratio * bound / 3600:.2f} h) of service time. The apply was not run at this size
here; without `--people` the script measures it.
"""


if __name__ == "__main__":
    main()

"""Signup → provisioned: 100 form pushes to a running receiver, sandboxes behind it, rate limits on.

    .venv/bin/python bench/onboard_bench.py            # 500 people, 100 signups: burst, spread, what-if (~1.5 min)
    .venv/bin/python bench/onboard_bench.py --quick    # 200 people, 30 signups, spread over 6 s
    .venv/bin/python bench/onboard_bench.py --profile --pattern burst  # cProfile each batch (no RESULTS.md)

The set-up is what ``muster serve`` runs, in one process:

- a demo coalition (``flows.demo_run.build_demo``: roster imported, WeCom and DingTalk
  sandboxes seeded as a team left them), then one full sync so it starts in step. The
  sandboxes keep their documented rate limits (``rate_limits=True``: over-limit calls get
  the services' own error codes) and the connections keep client-side spacing (WeCom
  163.3 calls/s per API, DingTalk 18/s per API) — the realistic setting;
- the receiver (``flows.serve_cmd.build_receiver`` + ``receiver_config``) served by uvicorn
  on 127.0.0.1 (a free port) in a thread, with ``flows.forms.onboarding_trigger``'s
  in-process ``Onboarder`` as ``on_item``, exactly as ``muster serve`` wires it;
- a Jinshuju sandbox with the demo's signup form (policy ``forms.signup``) that makes 100
  distinct signups (doctor, nurse, counsellor, social worker in turn, so screening gives
  each roles, a team and a tier, and the policy gives each an account in both WeCom and
  DingTalk plus departments, tags and chats) and pushes each over real HTTP.

Two arrival patterns, each on a fresh coalition: a burst (all pushes at once from 4
threads) and spread (evenly over ~20 s); then, as a diagnostic, the burst again with the
proposed welcome fix monkeypatched into this process (``grouped_welcome``; the project's
code is unchanged). Per submission: push sent → 200 received (ack)
and push sent → provisioned (the inbox item is ``onboarded`` — set after its accounts and
memberships were applied and its welcome sent — and its accounts exist in both sandboxes).
Then: none lost (every push acked 200, one inbox item and one person each, a fresh
scoped plan has nothing left to do for them) and none duplicated (one account per mobile
in each sandbox, one welcome per person per service).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import math
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from _common import (  # noqa: E402
    command_line,
    fmt_s,
    machine_line,
    md_table,
    revision,
    text_table,
    utc_stamp,
    write_section,
)

import flows.forms  # noqa: E402
import flows.onboard  # noqa: E402
import state  # noqa: E402
from config.tenant import FormConnection, SecretRef  # noqa: E402
from connectors import ConnectorError, form_sandbox_class  # noqa: E402
from connectors.dingtalk.client import CLIENT_QPS, QPS_PER_API  # noqa: E402
from connectors.wecom.client import API_RATE, CALLS_PER_MINUTE  # noqa: E402
from flows.demo_policy import SIGNUP_FIELDS, SIGNUP_NAME, signup_codes  # noqa: E402
from flows.demo_run import build_demo  # noqa: E402
from flows.forms import onboarding_trigger  # noqa: E402
from flows.run import apply_all, pull_all  # noqa: E402
from flows.serve_cmd import build_receiver, receiver_config  # noqa: E402
from flows.steps import plan_all  # noqa: E402
from flows.workspace import Workspace  # noqa: E402
from mappings.models import Change, digest  # noqa: E402
from mappings.normalize import normalize_mobile  # noqa: E402

SEED = 7
FORM = "signup"
TOKEN_ENV = "MUSTER_BENCH_SIGNUP_TOKEN"
TOKEN = "bench-push-token"
TARGET_P95 = 10.0
BURST_THREADS = 4
SPREAD_WORKERS = 8
DONE_TIMEOUT = 300.0
POLL = 0.05
PROFESSIONS = ("医生", "护士", "心理咨询师", "社工")  # each matches a screening rule of the demo policy
FINAL = ("onboarded", "review", "failed")

# documented per-API rates (reference §1.3, §2.3): calls a second
RATE = {"wecom": CALLS_PER_MINUTE / 60, "dingtalk": float(QPS_PER_API)}
WECOM_CHAT_ADDS = 2_000  # appchat/update: one call carries every add (chat ≤ 2000 members)
WECOM_TAG_BATCH = 1_000  # tag/addtagusers userlist
DINGTALK_CHAT_BATCH = 40  # /chat/update add_useridlist
W = "/cgi-bin/"
ACCOUNT_CREATE = {"wecom": f"{W}user/create", "dingtalk": "/topapi/v2/user/create"}
WELCOME_API = {"wecom": f"{W}message/send", "dingtalk": "/topapi/message/corpconversation/asyncsend_v2"}
GROUP_API = {("wecom", "chat"): f"{W}appchat/update", ("wecom", "tag"): f"{W}tag/addtagusers",
             ("dingtalk", "chat"): "/chat/update"}


# --- what the services were sent ------------------------------------------------------------


class Recorder:
    """Wraps a sandbox handler: (time.time(), "METHOD /path", request JSON, errcode) of every request."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.log: list[tuple[float, str, dict, int | None]] = []
        self.lock = threading.Lock()
        sandbox.transport = lambda: httpx.MockTransport(self)  # what from_sandbox() wires in

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.sandbox(request)
        post = request.method == "POST"
        body, answer = (_json(request.content), _json(response.content)) if post else ({}, {})
        with self.lock:
            self.log.append((time.time(), f"{request.method} {request.url.path}", body, answer.get("errcode")))
        return response

    def ok(self, path: str) -> list[tuple[float, dict]]:
        """Successful POSTs to ``path``: (time, request JSON)."""
        with self.lock:
            return [(t, b) for t, p, b, code in self.log if p == f"POST {path}" and code in (0, None)]

    def between(self, start: float, end: float) -> Counter:
        """Requests per "METHOD /path" answered in [start, end]."""
        with self.lock:
            return Counter(p for t, p, _, _ in self.log if start <= t <= end)


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def recipients(service: str, body: dict) -> list[str]:
    key, sep = ("touser", "|") if service == "wecom" else ("userid_list", ",")
    return [u for u in str(body.get(key, "")).split(sep) if u]


# --- the onboarding worker's batches, timed -------------------------------------------------


class BatchClock:
    """Times each ``onboard_batch`` and its steps, by wrapping the names the worker calls."""

    STEPS = {"pull": (flows.onboard, "pull_all"), "plan": (flows.onboard, "plan_all"),
             "apply": (flows.onboard, "apply_all"), "welcome": (flows.onboard, "welcome")}

    def __init__(self, profile: bool = False, grouped: bool = False):
        self.batches: list[dict] = []
        self.applied: list = []  # every change applied by onboarding (all batches)
        self.profile, self.grouped = profile, grouped
        self.profiles: list = []

    @contextmanager
    def installed(self):
        saved = {name: getattr(mod, attr) for name, (mod, attr) in self.STEPS.items()}
        saved_batch = flows.forms.onboard_batch
        for name, (mod, attr) in self.STEPS.items():
            fn = grouped_welcome if (name == "welcome" and self.grouped) else saved[name]
            setattr(mod, attr, self._step(name, fn))
        flows.forms.onboard_batch = self._batch(saved_batch)
        try:
            yield self
        finally:
            for name, (mod, attr) in self.STEPS.items():
                setattr(mod, attr, saved[name])
            flows.forms.onboard_batch = saved_batch

    def _batch(self, fn):
        def timed(ws, items, run_id):
            rec = {"items": len(items), "ids": [i["id"] for i in items], "start": time.time(), "steps": {}}
            self.batches.append(rec)
            if self.profile:
                import cProfile

                prof = cProfile.Profile()
                result = prof.runcall(fn, ws, items, run_id)
                self.profiles.append(prof)
            else:
                result = fn(ws, items, run_id)
            rec["end"] = time.time()
            return result

        return timed

    def _step(self, name, fn):
        def timed(*args, **kwargs):
            t = time.time()
            out = fn(*args, **kwargs)
            if self.batches:
                self.batches[-1]["steps"][name] = (t, time.time())
            if name == "apply":
                self.applied += [c for o in out.values() for c in o.applied]
            return out

        return timed


def project_groups_welcomes() -> bool:
    """Whether the project's own welcome already shares one text (and call) among people.

    True once ``flows.onboard.welcome_text`` takes no ``person`` (its text names no one); then
    the what-if run has nothing to add and is skipped.
    """
    return "person" not in inspect.signature(flows.onboard.welcome_text).parameters


def grouped_welcome(ws: Workspace, run_id: str, applied: list, people: set[str]) -> list[tuple[str, str]]:
    """What-if (diagnostic, this process only): the proposed welcome, one call per identical text.

    ``flows.onboard.welcome`` sends each person their own message (the text names them), so
    DingTalk's 20/s per API makes 100 welcomes ≥ 5 s. Here the greeting leaves the name out
    (``welcome_text`` of the person renamed 你好), people who got the same things share a text,
    and each text goes out in one ``send_message`` (≤ 100 ids a DingTalk call, ≤ 1000 WeCom).
    Journaled per person as ``_send_welcome`` does, so none is sent twice.
    """
    by = defaultdict(list)
    for c in applied:
        if c.object_id in people:
            by[(c.service, c.object_id)].append(c)
    sent = []
    for service in sorted({svc for svc, _ in by}):
        with ws.lock:
            links = {i.person_id: ext for ext, i in state.identities_for(ws.db, service).items()}
        texts: dict[str, list] = defaultdict(list)
        for (svc, pid), changes in sorted(by.items()):
            if svc == service and pid in links:
                with ws.lock:
                    person = state.get_person(ws.db, pid)
                text = flows.onboard.welcome_text(ws, person.model_copy(update={"name": "你好"}), service, changes)
                note = Change(op="add", service=service, target="message:welcome", object_id=pid,
                              external_id=links[pid], after=digest(text)[:16], reason=f"welcome {person.name}",
                              label=person.name)
                texts[text].append(note)
        runner = ws.connector(service)
        try:
            for text, notes in texts.items():
                sent += _send_group(ws, f"welcome-{run_id}", run_id, runner, service, text, notes)
        finally:
            runner.close()
    return sent


def _send_group(ws, plan_id, run_id, runner, service, text, notes) -> list[tuple[str, str]]:
    with ws.lock:
        done = state.applied_anywhere(ws.db, [n.key for n in notes])
        notes = [n for n in notes if n.key not in done]
        if not notes:
            return []
        state.record_planned(ws.db, plan_id, run_id, notes)
        state.mark_sent(ws.db, plan_id, [n.key for n in notes])
    try:
        runner.send_message([n.external_id for n in notes], text)
    except ConnectorError as exc:
        with ws.lock:
            state.mark_failed(ws.db, plan_id, [n.key for n in notes], str(exc))
        return []
    with ws.lock:
        state.mark_applied(ws.db, plan_id, [n.key for n in notes])
    return [(service, n.object_id) for n in notes]


# --- the coalition, the receiver, the form ------------------------------------------------


def coalition(folder: Path, people: int) -> tuple[Workspace, dict, dict, float]:
    """A demo coalition brought in step by one full sync; rate limits on everywhere."""
    sandboxes, _, _ = build_demo(folder, people, SEED)
    assert all(sb.rate_limits for sb in sandboxes.values())
    recorders = {s: Recorder(sb) for s, sb in sandboxes.items()}
    ws = Workspace.from_config(folder / "muster.yaml", actor="bench")
    ws.sandboxes = sandboxes
    assert all(c.rate_limit for c in ws.connections.values()) and not ws.connector_options
    t = time.monotonic()
    run_id = state.start_run(ws.db, "sync", actor="bench")
    apply_all(ws, plan_all(ws, pull_all(ws, run_id), allow_removals=True), run_id)
    return ws, sandboxes, recorders, time.monotonic() - t


def signup_form(ws: Workspace):
    """The demo's signup form on a Jinshuju sandbox; ``ws.forms`` takes its pushes (token in the URL)."""
    os.environ[TOKEN_ENV] = TOKEN
    jinshuju = form_sandbox_class("jinshuju")(seed=SEED)
    fields, choices = signup_codes("jinshuju")
    token = jinshuju.add_form(None, SIGNUP_NAME, {c: SIGNUP_FIELDS[t][0] for c, t in fields.items()}, choices=choices)
    ws.forms = {FORM: FormConnection(service="jinshuju", form=token, token=SecretRef(env=TOKEN_ENV))}
    return jinshuju, token, {t: c for c, t in fields.items()}


def signups(n: int, code: dict[str, str], taken: set[str]) -> list[dict]:
    """``n`` distinct answers: fresh mobiles and emails, professions in turn, consent to both services."""
    out = []
    for i in range(n):
        mobile = f"1700000{i:04d}"
        assert normalize_mobile(mobile) not in taken, mobile
        out.append({code["name"]: f"测试{_cn(i)}", code["mobile"]: mobile,
                    code["email"]: f"signup{i:04d}@bench.invalid", code["city"]: "武汉",
                    code["profession"]: PROFESSIONS[i % len(PROFESSIONS)], code["availability"]: "周末",
                    code["consent.wecom"]: "是", code["consent.dingtalk"]: "是"})
    return out


def _cn(i: int) -> str:
    digits = "零一二三四五六七八九"
    return "".join(digits[int(d)] for d in f"{i:03d}")


@contextmanager
def served(ws: Workspace):
    """The receiver under uvicorn on 127.0.0.1 (free port) in a thread, onboarding in-process."""
    os.environ.pop("PREFECT_API_URL", None)  # no Prefect deployment: the in-process Onboarder
    trigger, how, stop = onboarding_trigger(ws)
    config = receiver_config(build_receiver(ws, on_item=trigger), host="127.0.0.1", port=0)
    for name in ("muster", "uvicorn.error"):  # one INFO line per push, and uvicorn's start/stop lines
        logging.getLogger(name).setLevel(logging.WARNING)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/forms/{FORM}?token={TOKEN}", how
    finally:
        server.should_exit = True
        thread.join(10)
        stop()


# --- one arrival pattern ----------------------------------------------------------------


def push_all(jinshuju, token: str, answers: list[dict], url: str, pattern: str, spread: float) -> list[dict]:
    """Submit and push every signup; per push: sent, acked (time.time()), HTTP status, answer.

    ``push`` makes a new ``httpx.Client`` per push, and each would load an SSL context (~18 ms
    of this process's CPU, none of it the receiver's); so each pusher thread passes its own
    transport. The client closes it after each push: every push still opens a new connection.
    """
    pushes = [{"i": i} for i in range(len(answers))]
    local = threading.local()

    def one(p: dict) -> None:
        payload = jinshuju.submit(token, answers[p["i"]])
        p["serial"] = payload["entry"]["serial_number"]
        if not hasattr(local, "transport"):
            local.transport = httpx.HTTPTransport()
        p["sent"] = time.time()
        try:
            r = jinshuju.push(payload, url, transport=local.transport)
            p["status"], p["answer"] = r.status_code, _json(r.content)
        except httpx.HTTPError as exc:
            p["status"], p["answer"] = None, {"error": f"{type(exc).__name__}: {exc}"}
        p["acked"] = time.time()

    if pattern == "burst":
        with ThreadPoolExecutor(BURST_THREADS) as pool:
            list(pool.map(one, pushes))
    else:
        gap = spread / len(pushes)
        start = time.monotonic()
        with ThreadPoolExecutor(SPREAD_WORKERS) as pool:
            for k, p in enumerate(pushes):
                time.sleep(max(0.0, start + k * gap - time.monotonic()))
                pool.submit(one, p)
    return pushes


def wait_done(db_path: Path, expected: int) -> tuple[dict[str, int], bool]:
    """Poll the inbox (own read connection) until ``expected`` items are final, or time out."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    deadline = time.monotonic() + DONE_TIMEOUT
    try:
        while True:
            counts = dict(con.execute("SELECT status, count(*) FROM inbox WHERE form = ? GROUP BY status",
                                      [FORM]).fetchall())
            if sum(counts.get(s, 0) for s in FINAL) >= expected:
                return counts, True
            if time.monotonic() > deadline:
                return counts, False
            time.sleep(POLL)
    finally:
        con.close()


def run_pattern(pattern: str, people: int, n: int, spread: float, profile: bool = False,
                grouped: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"muster-onboard-bench-{pattern}-") as tmp:
        folder = Path(tmp) / "c"
        print(f"[{pattern}] building a {people}-person coalition and syncing it (rate limits on) ...",
              file=sys.stderr, flush=True)
        ws, sandboxes, recorders, sync_s = coalition(folder, people)
        jinshuju, token, code = signup_form(ws)
        with ws.lock:
            before = state.list_people(ws.db)
        answers = signups(n, code, {p.mobile for p in before if p.mobile})
        marks = {s: len(r.log) for s, r in recorders.items()}
        clock = BatchClock(profile, grouped)
        print(f"[{pattern}] pushing {n} signups ...", file=sys.stderr, flush=True)
        with clock.installed(), served(ws) as (url, how):
            t0, cpu0 = time.time(), time.process_time()
            pushes = push_all(jinshuju, token, answers, url, pattern, spread)
            pushed_s = time.time() - t0
            counts, complete = wait_done(folder / "muster.db", sum(1 for p in pushes if p["status"] == 200))
            wall, cpu = time.time() - t0, time.process_time() - cpu0
            time.sleep(0.2)  # let the worker go idle before the server and worker stop
        for s, rec in recorders.items():  # keep what onboarding sent, not the set-up sync
            rec.log = rec.log[marks[s]:]
        out = {"pattern": pattern, "people": people, "n": n, "spread": spread, "sync_s": sync_s, "how": how,
               "grouped": grouped, "project_groups": project_groups_welcomes(),
               "pushes": pushes, "pushed_s": pushed_s, "wall": wall, "cpu": cpu,
               "complete": complete, "counts": counts, "recorders": recorders,
               "batches": clock.batches, "applied": clock.applied, "profiles": clock.profiles,
               "people_before": len(before)}
        out.update(verify(ws, sandboxes, recorders, answers, pushes, clock.batches))
        ws.db.close()
        return out


# --- checks -------------------------------------------------------------------------------------


def verify(ws: Workspace, sandboxes: dict, recorders: dict, answers: list[dict], pushes: list[dict],
           batches: list[dict]) -> dict:
    """Latencies per submission, and the lost/duplicated checks."""
    code = {t: c for c, t in signup_codes("jinshuju")[0].items()}
    mobiles = [normalize_mobile(a[code["mobile"]]) for a in answers]
    with ws.lock:
        items = {(i["serial"]): i for i in state.inbox_items(ws.db) if i["form"] == FORM}
        found = {m: state.find_people(ws.db, mobile=m) for m in mobiles}
        people_after = len(state.list_people(ws.db))
        links = {s: {i.person_id: ext for ext, i in state.identities_for(ws.db, s).items()} for s in sandboxes}
    created = {s: {} for s in sandboxes}  # mobile → first successful user/create time
    for s, r in recorders.items():
        for t, body in r.ok(ACCOUNT_CREATE[s]):
            created[s].setdefault(normalize_mobile(str(body.get("mobile", ""))), t)
    accounts = {s: Counter(normalize_mobile(str(u.get("mobile") or "")) for u in list(sb.users.values()))
                for s, sb in sandboxes.items()}
    welcomes = {s: Counter(u for _, body in r.ok(WELCOME_API[s]) for u in recipients(s, body))
                for s, r in recorders.items()}
    applied_at = {i: b["steps"]["apply"][1] for b in batches if "apply" in b["steps"] for i in b["ids"]}
    rows = []
    for p, m in zip(pushes, mobiles, strict=True):
        item = items.get(str(p.get("serial")))
        applied = applied_at.get(item["id"]) if item else None
        person = found[m][0] if len(found[m]) == 1 else None
        done = _epoch(item["updated_at"]) if item and item["status"] == "onboarded" else None
        ext = {s: links[s].get(person.id) if person else None for s in sandboxes}
        rows.append({
            "ack": p["acked"] - p["sent"], "status": p["status"], "item": item and item["status"],
            "persons": len(found[m]), "accounts": {s: accounts[s][m] for s in sandboxes},
            "created": {s: created[s].get(m) for s in sandboxes},
            "linked": {s: bool(ext[s] and ext[s] in sandboxes[s].users) for s in sandboxes},
            "welcomes": {s: welcomes[s][ext[s]] if ext[s] else 0 for s in sandboxes},
            "accounts_s": (max(created[s][m] for s in sandboxes) - p["sent"]
                           if all(m in created[s] for s in sandboxes) else None),
            "applied_s": applied - p["sent"] if applied else None,
            "provisioned_s": (max([done, *(created[s].get(m) or math.inf for s in sandboxes)]) - p["sent"]
                              if done else None),
            "person_id": person.id if person else None})
    return {"rows": rows, "items": items, "people_after": people_after, "leftover": leftover(ws, rows)}


def leftover(ws: Workspace, rows: list[dict]) -> dict[str, int]:
    """Changes a fresh pull + plan still wants for the new people (0: fully provisioned everywhere)."""
    ids = {r["person_id"] for r in rows if r["person_id"]}
    run_id = state.start_run(ws.db, "bench-check", actor="bench")
    plan = plan_all(ws, pull_all(ws, run_id)).plan
    return dict(Counter(f"{c.service} {c.op} {c.target.split(':', 1)[0]}" for c in plan.changes
                        if c.object_id in ids and c.op != "remove"))


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# --- lower bound -----------------------------------------------------------------------------------


def lower_bound(applied: list, grouped: bool = False) -> dict:
    """Least time one batch of everyone can take under the documented per-API rates.

    Per service, phases in order: accounts (one user/create each) → memberships (per chat or
    tag, ⌈adds / batch cap⌉ calls; departments ride in user/create) → welcome (one message per
    person: each names the person, so texts differ; ``grouped``: one per distinct set of
    things given). Per phase the slowest API; the service's bound is the sum, the batch's the
    max over services (applied in parallel). WeCom's message/send is limited per recipient,
    not per API: 0 s.
    """
    adds: dict[tuple[str, str, str], int] = Counter()
    accounts, given = Counter(), defaultdict(lambda: defaultdict(set))
    for c in applied:
        kind = c.target.split(":", 1)[0]
        if c.target == "account" and c.op == "add":
            accounts[c.service] += 1
        elif kind in ("chat", "tag") and c.op == "add" and c.object_id != "*":
            adds[(c.service, kind, c.target)] += 1
        given[c.service][c.object_id].add(f"{c.target} {c.op}")
    out = {}
    for s in sorted(RATE):
        member_calls: Counter = Counter()
        for (svc, kind, _), k in adds.items():
            if svc == s:
                cap = {"chat": WECOM_CHAT_ADDS if s == "wecom" else DINGTALK_CHAT_BATCH, "tag": WECOM_TAG_BATCH}[kind]
                member_calls[GROUP_API[(s, kind)]] += math.ceil(k / cap)
        welcomes = len({frozenset(v) for v in given[s].values()}) if grouped else len(given[s])
        phases = [("accounts", ACCOUNT_CREATE[s], accounts[s]),
                  ("memberships", *(max(member_calls.items(), key=lambda kv: kv[1]) if member_calls else ("-", 0))),
                  ("welcome", WELCOME_API[s], welcomes)]
        detail = [(ph, api, calls, 0.0 if (s == "wecom" and ph == "welcome") else calls / RATE[s])
                  for ph, api, calls in phases]
        out[s] = {"detail": detail, "provision": sum(x[3] for x in detail[:2]), "total": sum(x[3] for x in detail)}
    out["provision"] = max(out[s]["provision"] for s in RATE)
    out["total"] = max(out[s]["total"] for s in RATE)
    return out


# --- report ------------------------------------------------------------------------------------

SERVICES = ("wecom", "dingtalk")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 100 values is the 95th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(r: dict) -> dict:
    """Latency lists, item statuses, the lost / duplicated counts and the lower bound of one run."""
    rows = r["rows"]

    def values(key: str) -> list[float]:
        return [x[key] for x in rows if x[key] is not None]

    def count(pred) -> int:
        return sum(1 for x in rows if pred(x))

    lost = {"not acked 200": count(lambda x: x["status"] != 200),
            "no inbox item": count(lambda x: x["item"] is None),
            "not one person": count(lambda x: x["persons"] != 1),
            **{f"no {s} account+link": count(lambda x, s=s: x["accounts"][s] == 0 or not x["linked"][s])
               for s in SERVICES},
            "changes left to plan": sum(r["leftover"].values())}
    dup = {"inbox items": max(0, len(r["items"]) - r["n"]),
           "people": max(0, r["people_after"] - r["people_before"] - r["n"]),
           **{f"{s} accounts per mobile": count(lambda x, s=s: x["accounts"][s] > 1) for s in SERVICES},
           **{f"{s} welcomes": count(lambda x, s=s: x["welcomes"][s] > 1) for s in SERVICES}}
    return {"acks": [x["ack"] for x in rows if x["status"] == 200], "prov": values("provisioned_s"),
            "accs": values("accounts_s"), "applied": values("applied_s"),
            "statuses": Counter(x["item"] for x in rows), "lost": lost, "dup": dup,
            "no_welcome": {s: count(lambda x, s=s: x["welcomes"][s] == 0) for s in SERVICES},
            "bound": lower_bound(r["applied"], r["grouped"] or r["project_groups"])}


BATCH_HDR = ["batch", "items", "starts at s", "admit s", "pull s", "plan s", "apply s", "welcome s",
             "statuses s", "total s"]


def batch_rows(r: dict) -> list[list]:
    out = []
    t0 = min(p["sent"] for p in r["pushes"])
    for k, b in enumerate(r["batches"], start=1):
        st = b["steps"]

        def span(name, st=st):
            return fmt_s(st[name][1] - st[name][0]) if name in st else "-"

        admit = (st["pull"][0] - b["start"]) if "pull" in st else b["end"] - b["start"]
        statuses = b["end"] - st["welcome"][1] if "welcome" in st else 0.0
        out.append([k, b["items"], fmt_s(b["start"] - t0), fmt_s(admit), span("pull"), span("plan"), span("apply"),
                    span("welcome"), fmt_s(statuses), fmt_s(b["end"] - b["start"])])
    return out


def pull_reads(r: dict) -> dict[str, Counter]:
    """Requests per API during the first batch's pull, per service."""
    b = next((b for b in r["batches"] if "pull" in b["steps"]), None)
    if b is None:
        return {}
    start, end = b["steps"]["pull"]
    return {s: rec.between(start, end) for s, rec in r["recorders"].items()}


LAT_HDR = ["push sent →", "n", "p50 s", "p95 s", "max s"]


def lat_row(name: str, values: list[float]) -> list:
    if not values:
        return [name, 0, "-", "-", "-"]
    return [name, len(values), fmt_s(pct(values, 50)), fmt_s(pct(values, 95)), fmt_s(max(values))]


BOUND_HDR = ["service", "phase", "slowest API in phase", "calls", "documented rate", "seconds"]


def describe(r: dict, s: dict) -> dict[str, list]:
    lat = [lat_row("200 received (ack)", s["acks"]),
           lat_row("accounts created in both sandboxes", s["accs"]),
           lat_row("accounts + memberships applied (its batch's apply_all returned)", s["applied"]),
           lat_row("**provisioned** (item `onboarded`, after the welcomes)", s["prov"])]
    bound = []
    for svc in SERVICES:
        for ph, api, calls, secs in s["bound"][svc]["detail"]:
            rate = "per recipient" if (svc == "wecom" and ph == "welcome") else f"{RATE[svc]:.2f}/s"
            bound.append([svc, ph, api, calls, rate, fmt_s(secs)])
        bound.append([svc, "**accounts + memberships / + welcome**", "", "", "",
                      f"**{fmt_s(s['bound'][svc]['provision'])} / {fmt_s(s['bound'][svc]['total'])}**"])
    reads = pull_reads(r)
    pull = [f"{svc} {sum(c.values())} requests ("
            + ", ".join(f"{k.split(' ', 1)[1]} ×{v}" for k, v in c.most_common()) + ")"
            for svc, c in sorted(reads.items())]
    return {"lat": lat, "bound": bound, "batches": batch_rows(r), "pull": pull}


def plain(rows: list[list]) -> list[list[str]]:
    return [[str(c).replace("**", "").replace("`", "") for c in row] for row in rows]


def console(r: dict, s: dict, d: dict) -> None:
    what = " (what-if: grouped welcome)" if r["grouped"] else ""
    print(f"\n== {r['pattern']}{what}: {r['n']} signups, {r['people']}-person coalition (pushed in "
          f"{r['pushed_s']:.2f} s, all final after {r['wall']:.2f} s, process CPU {r['cpu']:.2f} s, "
          f"complete={r['complete']})")
    print(text_table(LAT_HDR, plain(d["lat"])))
    print(f"items: {dict(s['statuses'])}\nlost: {s['lost']}\nduplicated: {s['dup']}")
    print(text_table(BATCH_HDR, d["batches"]))
    print("first pull: " + "; ".join(d["pull"]))
    print(text_table(BOUND_HDR, plain(d["bound"])))
    if r["leftover"]:
        print(f"left to plan for the new people: {r['leftover']}")
    for k, prof in enumerate(r["profiles"], start=1):
        import pstats

        print(f"\n-- cProfile of batch {k} (onboarder thread only; apply_all's service threads not seen)")
        stats = pstats.Stats(prof).strip_dirs()
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(15)


def verdict(r: dict, s: dict) -> tuple[float, bool, int, int]:
    p95 = pct(s["prov"], 95)
    return p95, len(s["prov"]) == r["n"] and p95 <= TARGET_P95, sum(s["lost"].values()), sum(s["dup"].values())


def run_text(r: dict, s: dict, d: dict, first: bool) -> str:
    p95, ok, lost, dup = verdict(r, s)
    items = ", ".join(f"{k} {v}" for k, v in sorted(s["statuses"].items(), key=str))
    arrival = (f"all {r['n']} at once from {BURST_THREADS} threads" if r["pattern"] == "burst"
               else f"evenly over {r['spread']:.0f} s ({r['n'] / r['spread']:.1f}/s)")
    title = f"what-if, burst with grouped welcomes: {arrival}" if r["grouped"] else f"{r['pattern']}: {arrival}"
    note = ("\nDiagnostic only: `flows.onboard.welcome` is replaced, in the bench process, by\n"
            "`grouped_welcome` (the proposed fix: the greeting leaves the name out and one\n"
            "`send_message` goes to everyone who got the same things; journaled per person).\n"
            "The project's code is unchanged.\n") if r["grouped"] else ""
    spaced = {k: s["bound"]["dingtalk"][k] * QPS_PER_API / CLIENT_QPS for k in ("provision", "total")}
    reads = f"\nReads of one pull (batch 1): {'; '.join(d['pull'])}.\n" if first else ""
    bound = "" if r["pattern"] != "burst" else f"""
Lower bound for one batch of all {r['n']} (from the changes onboarding applied; documented rates,
phases in order, services in parallel; reads — the per-batch pull — not counted). At the
client's own spacing (DingTalk {CLIENT_QPS:.0f}/s) the DingTalk figures are
{fmt_s(spaced['provision'])} / {fmt_s(spaced['total'])} s.

{md_table(BOUND_HDR, d['bound'])}
"""
    return f"""\
### {title}
{note}
Pushed in {fmt_s(r['pushed_s'])} s; every item final after **{fmt_s(r['wall'])} s** (first push → last
item final){'' if r['complete'] else ' — TIMED OUT'}; process CPU in that time {fmt_s(r['cpu'])} s. Items: {items}.

{md_table(LAT_HDR, d['lat'])}

- p95 provisioned ≤ {TARGET_P95:.0f} s: **{'met' if ok else 'MISSED'}** ({fmt_s(p95)} s)
- lost: **{lost}** — {', '.join(f'{k} {v}' for k, v in s['lost'].items())}
- duplicated: **{dup}** — {', '.join(f'{k} {v}' for k, v in s['dup'].items())}
- people without a welcome: wecom {s['no_welcome']['wecom']}, dingtalk {s['no_welcome']['dingtalk']}

Onboarding batches (`onboard_batch` and the steps it calls, timed by wrapping them; "starts at"
counts from the first push):

{md_table(BATCH_HDR, d['batches'])}
{reads}{bound}"""


def section(results: list[dict], summaries: list[dict], details: list[dict], quick: bool) -> str:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    r0 = results[0]
    sync_s = " / ".join(fmt_s(r["sync_s"]) for r in results)
    welcome_mode = ("one message per distinct text, to everyone given the same things (`welcome_text` "
                    "names no one)" if r0["project_groups"] else
                    "one message per person per service (`welcome_text` names the person)")
    rows = []
    for r, s in zip(results, summaries, strict=True):
        p95, ok, lost, dup = verdict(r, s)
        name = "burst, grouped welcomes (what-if)" if r["grouped"] else r["pattern"]
        rows.append([name, fmt_s(pct(s["acks"], 95)), fmt_s(pct(s["applied"], 95)), fmt_s(pct(s["prov"], 50)),
                     f"**{fmt_s(p95)}**", fmt_s(max(s["prov"], default=float("nan"))),
                     "met" if ok else "**MISSED**", fmt_s(r["wall"]), lost, dup])
    head = md_table(["pattern", "ack p95 s", "applied p95 s", "provisioned p50 s", "provisioned p95 s",
                     "max s", f"p95 ≤ {TARGET_P95:.0f} s", "wall s", "lost", "duplicated"], rows)
    return f"""\
## (d) Signup → provisioned through the receiver — `bench/onboard_bench.py`

- measured: {utc_stamp()}
- machine: {machine_line()}
- code: {revision()}
- command: `{command_line()}`{' (quick size)' if quick else ''}
- load average (1/5/15 min) at the end: {load} (the machine is shared)
- set-up, per run on a fresh coalition: `build_demo` with {r0['people']} people, then one full
  sync (rate limits on; {sync_s} s, not timed) so it starts in step. The WeCom and
  DingTalk sandboxes keep their documented rate limits (`rate_limits=True`) and the connections their
  client spacing (`rate_limit=True`: WeCom {API_RATE:.1f}/s, DingTalk {CLIENT_QPS:.0f}/s per API) — the
  realistic setting.
- receiver: `build_receiver` + `receiver_config` under uvicorn on 127.0.0.1 (free port) in a
  thread; onboarding: `onboarding_trigger`'s choice, as `muster serve` wires it — "{r0['how']}".
- signups: a Jinshuju sandbox with the demo's signup form pushes {r0['n']} distinct entries (fresh
  mobiles and emails; 医生/护士/心理咨询师/社工 in turn, all screened into roles, so each needs an
  account in WeCom and DingTalk plus departments, tags and chats) over HTTP with `?token=`. The
  pushers run in this process (sharing the GIL with receiver and worker); each opens a new
  connection per push.
- welcome messages, as the code measured sends them: {welcome_mode}
- "provisioned": the inbox item is `onboarded` (its `updated_at`, written after its batch's
  accounts and memberships were applied and its welcomes sent) and its `user/create` was
  answered ok by both sandboxes (timestamped at the sandbox handler). Percentiles are
  nearest-rank; p95 of 100 is the 95th smallest.

{head}

""" + "\n".join(run_text(r, s, d, k == 0)
                for k, (r, s, d) in enumerate(zip(results, summaries, details, strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 people, 30 signups, spread over 6 s")
    ap.add_argument("--people", type=int, help="people in the demo coalition (default 500)")
    ap.add_argument("--signups", type=int, help="submissions per pattern (default 100)")
    ap.add_argument("--spread", type=float, help="seconds the spread pattern takes (default 20)")
    ap.add_argument("--pattern", choices=("burst", "spread"), action="append", help="run only this pattern")
    ap.add_argument("--no-what-if", action="store_true", help="skip the grouped-welcome what-if burst")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--profile", action="store_true", help="cProfile each onboarding batch; no RESULTS.md")
    args = ap.parse_args()
    people = args.people or (200 if args.quick else 500)
    n = args.signups or (30 if args.quick else 100)
    spread = args.spread or (6.0 if args.quick else 20.0)
    custom = bool(args.people or args.signups or args.spread or args.pattern or args.profile or args.no_what_if)
    runs = [(p, False) for p in (args.pattern or ("burst", "spread"))]
    if project_groups_welcomes():
        print("the project's welcome already shares one text among people: no what-if run", file=sys.stderr)
    elif not (args.pattern or args.no_what_if):
        runs.append(("burst", True))
    results, summaries, details = [], [], []
    for pattern, grouped in runs:
        r = run_pattern(pattern, people, n, spread, args.profile, grouped)
        s = summary(r)
        d = describe(r, s)
        console(r, s, d)
        results.append(r)
        summaries.append(s)
        details.append(d)
    if not (args.no_write or custom):
        path = write_section("onboard_bench", section(results, summaries, details, args.quick))
        print(f"\nwrote the onboard_bench section of {path}")


if __name__ == "__main__":
    main()

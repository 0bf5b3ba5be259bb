"""Receiver under load: 1,000 signups a minute for 5 minutes on loopback, sandboxes behind it.

    .venv/bin/python bench/receiver_load.py            # 1,000/min for 5 min, then onboarding drains (~10 min)
    .venv/bin/python bench/receiver_load.py --quick    # 1 minute
    .venv/bin/python bench/receiver_load.py --rate 600 --minutes 2 --no-write

The set-up is what ``muster serve`` runs, in one process (as ``bench/onboard_bench.py``):

- a demo coalition (``flows.demo_run.build_demo``, 500 people) brought in step by one full
  sync; the WeCom, DingTalk and Feishu sandboxes are in-process with their documented rate
  limits on (``rate_limits=True``) and the connections keep their client-side spacing;
- the receiver (``flows.serve_cmd.build_receiver`` + ``receiver_config``) under uvicorn on
  127.0.0.1 in a thread, ``flows.forms.onboarding_trigger``'s in-process ``Onboarder``
  behind it, taking the demo's signup form on Jinshuju (``?token=``) and on Wenjuanxing
  (signed, plus ``?token=``).

The load comes from a **separate process** (this script with ``--send``), so the senders
do not share the receiver's GIL. It is open-loop: every push has a scheduled send time
(``k × 60 / rate`` s after the start), a pool of threads sends each at its time over a new
connection (as the form services do), and a slow answer never delays the next send. The
signups alternate Jinshuju / Wenjuanxing, each a distinct person (fresh mobile and email);
a few pushes are redelivered (the same body again, 2 s later). Ack latency is measured
from the scheduled time (so a late send counts against it) and from the actual send.

After the last push the script waits for onboarding to drain (every item final), then
checks: none lost (every distinct submission acked 2xx, in the inbox once, one person,
an account in WeCom and DingTalk), none duplicated (no extra inbox item or person, no
mobile with two accounts in a service, nobody welcomed twice on a service).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__" and "--send" in sys.argv:  # the load process needs none of the project
    _SENDER_ONLY = True
else:
    _SENDER_ONLY = False

if not _SENDER_ONLY:
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
    from onboard_bench import (  # noqa: E402
        ACCOUNT_CREATE,
        WELCOME_API,
        BatchClock,
        coalition,
        leftover,
        pct,
        recipients,
        served,
    )

    import state  # noqa: E402
    from config.tenant import FormConnection, SecretRef  # noqa: E402
    from connectors import form_sandbox_class  # noqa: E402
    from connectors.dingtalk.client import CLIENT_QPS, QPS_PER_API  # noqa: E402
    from flows.demo_policy import SIGNUP_FIELDS, SIGNUP_NAME, signup_codes  # noqa: E402
    from flows.serve_cmd import MAX_CONCURRENT  # noqa: E402
    from mappings.normalize import normalize_mobile  # noqa: E402

SEED = 7
PEOPLE = 500
RATE = 1_000  # submissions a minute
MINUTES = 5.0
TOKEN_ENV, WJX_SECRET_ENV = "MUSTER_BENCH_SIGNUP_TOKEN", "MUSTER_BENCH_WJX_SECRET"
TOKEN = "bench-load-token"
FORMS = {"jinshuju": "signup", "wenjuanxing": "signup-wjx"}
PROFESSIONS = ("医生", "护士", "心理咨询师", "社工")
REDELIVERIES = 10
REDELIVERY_AFTER = 2.0  # seconds after the original push
SENDER_THREADS = 64
PUSH_TIMEOUT = 30.0
DRAIN_TIMEOUT = 1_800.0
SAMPLE_EVERY = 5.0
FINAL = ("onboarded", "review", "failed")
SERVICES = ("wecom", "dingtalk")


# --- the load process ---------------------------------------------------------------------------


def send_main(job_path: str, out_path: str) -> None:
    """The sender: push every job at its scheduled time (open loop), write what came back."""
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    pushes = sorted(job["pushes"], key=lambda p: p["at"])
    host, port = job["host"], job["port"]
    results: list[dict] = []
    lock = threading.Lock()

    def one(p: dict, scheduled: float) -> None:
        body = p["body"].encode("utf-8")
        sent = time.time()
        status, answer = None, ""
        try:
            conn = http.client.HTTPConnection(host, port, timeout=PUSH_TIMEOUT)  # a new connection per push
            try:
                conn.request("POST", p["path"], body=body, headers={"Content-Type": "application/json; charset=utf-8"})
                response = conn.getresponse()
                status, answer = response.status, response.read().decode("utf-8", "replace")[:300]
            finally:
                conn.close()
        except OSError as exc:
            answer = f"{type(exc).__name__}: {exc}"
        acked = time.time()
        with lock:
            results.append({"id": p["id"], "scheduled": scheduled, "sent": sent, "acked": acked, "status": status,
                            "answer": answer})

    t0 = time.time() + 0.5
    with ThreadPoolExecutor(SENDER_THREADS) as pool:
        for p in pushes:
            at = t0 + p["at"]
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, p, at)
    usage = os.times()
    Path(out_path).write_text(json.dumps({"t0": t0, "results": results,
                                          "cpu": usage.user + usage.system}), encoding="utf-8")


# --- the coalition's forms and the signups ----------------------------------------------------------


def forms(ws) -> dict:
    """Jinshuju and Wenjuanxing sandboxes with the demo's signup form; ``ws.forms`` takes both forms' pushes."""
    os.environ[TOKEN_ENV] = TOKEN
    out = {}
    for service, name in FORMS.items():
        fields, choices = signup_codes(service)
        questions = {c: SIGNUP_FIELDS[t][0] for c, t in fields.items()}
        sandbox = form_sandbox_class(service)(seed=SEED)
        if service == "jinshuju":
            form_id = sandbox.add_form(None, SIGNUP_NAME, questions, choices=choices)
            conn = FormConnection(service="jinshuju", form=form_id, token=SecretRef(env=TOKEN_ENV))
        else:
            form_id = sandbox.add_survey(None, SIGNUP_NAME, questions,
                                         choices={c: list(o.values()) for c, o in choices.items()})
            os.environ[WJX_SECRET_ENV] = sandbox.push_secret
            conn = FormConnection(service="wenjuanxing", form=form_id, token=SecretRef(env=TOKEN_ENV),
                                  push_secret=SecretRef(env=WJX_SECRET_ENV))
        out[service] = {"sandbox": sandbox, "form": form_id, "name": name, "conn": conn,
                        "code": {t: c for c, t in fields.items()}}
    ws.forms = {f["name"]: f["conn"] for f in out.values()}
    return out


def signup(i: int, code: dict[str, str]) -> dict:
    """The ``i``-th distinct signup: fresh mobile and email, professions in turn, consent to both services."""
    return {code["name"]: f"测试{_cn(i)}", code["mobile"]: f"1710{i:07d}", code["email"]: f"load{i:06d}@bench.invalid",
            code["city"]: "武汉", code["profession"]: PROFESSIONS[i % len(PROFESSIONS)],
            code["availability"]: "周末", code["consent.wecom"]: "是", code["consent.dingtalk"]: "是"}


def _cn(i: int) -> str:
    digits = "零一二三四五六七八九"
    return "".join(digits[int(d)] for d in f"{i:05d}")


def make_pushes(f: dict, n: int, rate: float, taken: set[str]) -> tuple[list[dict], list[dict]]:
    """``n`` distinct signups, alternating Jinshuju / Wenjuanxing, each with its scheduled time; plus redeliveries.

    Returns (submissions, pushes): a submission is one signup (service, serial, mobile); a
    push is what the sender POSTs (``id``, ``at``, ``path``, ``body``). The redeliveries
    repeat the body of ``REDELIVERIES`` submissions spread over the run, 2 s after it.
    """
    gap = 60.0 / rate
    subs, pushes = [], []
    for i in range(n):
        service = ("jinshuju", "wenjuanxing")[i % 2]
        form = f[service]
        answers = signup(i, form["code"])
        mobile = normalize_mobile(answers[form["code"]["mobile"]])
        assert mobile not in taken, mobile
        if service == "jinshuju":
            payload = form["sandbox"].submit(form["form"], answers)
            serial = str(payload["entry"]["serial_number"])
        else:
            payload = form["sandbox"].submit(form["form"], answers)
            serial = str(payload["joinid"])
        body = json.dumps(payload, ensure_ascii=False)
        path = f"/forms/{form['name']}?token={TOKEN}"
        subs.append({"i": i, "service": service, "form": form["name"], "serial": serial, "mobile": mobile})
        pushes.append({"id": i, "at": i * gap, "path": path, "body": body})
    step = max(1, n // REDELIVERIES)
    for k, i in enumerate(range(step // 2, n, step)):
        if k >= REDELIVERIES:
            break
        pushes.append({**pushes[i], "id": n + k, "of": i, "at": pushes[i]["at"] + REDELIVERY_AFTER})
    return subs, pushes


# --- sampling while it runs --------------------------------------------------------------------------


class Sampler:
    """Every few seconds: RSS and CPU of this process, and the inbox by status (own read connection)."""

    def __init__(self, db_path: Path):
        self.db_path, self.samples, self._stop = db_path, [], threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self):
        self.t0 = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        try:
            while True:
                self.sample(con)
                if self._stop.wait(SAMPLE_EVERY):
                    self.sample(con)
                    return
        finally:
            con.close()

    def sample(self, con) -> None:
        try:
            counts = dict(con.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
        except sqlite3.Error:
            counts = {}
        self.samples.append({"t": time.time() - self.t0, "rss": rss_mib(), "cpu": time.process_time(),
                             "inbox": counts})


def rss_mib() -> float:
    """Resident set of this process now (``VmRSS``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_drained(db_path: Path, expected: int, timeout: float) -> tuple[dict, bool]:
    """Poll until ``expected`` inbox items are final (onboarded, review or failed), or time out."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    deadline = time.monotonic() + timeout
    try:
        while True:
            counts = dict(con.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
            if sum(counts.get(s, 0) for s in FINAL) >= expected or time.monotonic() > deadline:
                return counts, sum(counts.get(s, 0) for s in FINAL) >= expected
            time.sleep(0.5)
    finally:
        con.close()


# --- the run ---------------------------------------------------------------------------------------


def run(rate: float, minutes: float, people: int) -> dict:
    n = round(rate * minutes)
    with tempfile.TemporaryDirectory(prefix="muster-receiver-load-") as tmp:
        folder = Path(tmp) / "c"
        print(f"building a {people}-person demo coalition and syncing it (rate limits on) ...", file=sys.stderr,
              flush=True)
        ws, sandboxes, recorders, sync_s = coalition(folder, people)
        f = forms(ws)
        with ws.lock:
            before = state.list_people(ws.db)
        subs, pushes = make_pushes(f, n, rate, {p.mobile for p in before if p.mobile})
        marks = {s: len(r.log) for s, r in recorders.items()}
        clock = BatchClock()
        with clock.installed(), served(ws) as (url, how):
            parts = urlsplit(url)
            job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
            job.write_text(json.dumps({"host": parts.hostname, "port": parts.port, "pushes": pushes},
                                      ensure_ascii=False), encoding="utf-8")
            print(f"sending {n:,} signups at {rate:g}/min for {minutes:g} min (+{REDELIVERIES} redeliveries) "
                  f"from a separate process ...", file=sys.stderr, flush=True)
            cpu0 = time.process_time()
            with Sampler(folder / "muster.db") as sampler:
                t_start = time.time()
                sender = subprocess.run([sys.executable, __file__, "--send", str(job), str(out)], check=False)
                t_sent = time.time()
                sent = json.loads(out.read_text(encoding="utf-8")) if sender.returncode == 0 else None
                if sent is None:
                    raise RuntimeError(f"the sender process failed (exit {sender.returncode})")
                acked = {r["id"] for r in sent["results"] if r["status"] and 200 <= r["status"] < 300}
                distinct = len({(s["form"], s["serial"]) for s in subs if s["i"] in acked})
                print(f"sent in {t_sent - t_start:.0f} s; waiting for onboarding to drain ({distinct:,} items) ...",
                      file=sys.stderr, flush=True)
                counts, drained = wait_drained(folder / "muster.db", distinct, DRAIN_TIMEOUT)
                t_done = time.time()
            cpu = time.process_time() - cpu0
            time.sleep(0.3)
        for s, rec in recorders.items():  # keep what onboarding sent, not the set-up sync
            rec.log = rec.log[marks[s]:]
        r = {"rate": rate, "minutes": minutes, "n": n, "people": people, "sync_s": sync_s, "how": how,
             "pushes": pushes, "subs": subs, "sent": sent, "t_start": t_start, "send_s": t_sent - sent["t0"],
             "drain_s": t_done - t_sent, "wall": t_done - sent["t0"], "drained": drained, "counts": counts,
             "cpu": cpu, "sender_cpu": sent["cpu"], "maxrss": _maxrss(), "samples": sampler.samples,
             "batches": clock.batches, "people_before": len(before)}
        r.update(verify(ws, sandboxes, recorders, subs, sent, len(before)))
        ws.db.close()
        return r


def _maxrss() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- checks -----------------------------------------------------------------------------------------


def verify(ws, sandboxes: dict, recorders: dict, subs: list[dict], sent: dict, people_before: int) -> dict:
    """Lost and duplicated, per submission; ack latencies; time to onboarded."""
    results = {r["id"]: r for r in sent["results"]}
    with ws.lock:
        items = {(i["form"], str(i["serial"])): i for i in state.inbox_items(ws.db)}
        found = {s["mobile"]: state.find_people(ws.db, mobile=s["mobile"]) for s in subs}
        people_after = len(state.list_people(ws.db))
        links = {s: {i.person_id: ext for ext, i in state.identities_for(ws.db, s).items()} for s in SERVICES}
    accounts = {s: Counter(normalize_mobile(str(u.get("mobile") or "")) for u in list(sandboxes[s].users.values()))
                for s in SERVICES}
    welcomes = {s: Counter(u for _, body in recorders[s].ok(WELCOME_API[s]) for u in recipients(s, body))
                for s in SERVICES}
    creates = {s: len(recorders[s].ok(ACCOUNT_CREATE[s])) for s in SERVICES}
    rows = []
    for s in subs:
        res = results.get(s["i"], {})
        item = items.get((s["form"], s["serial"]))
        person = found[s["mobile"]][0] if len(found[s["mobile"]]) == 1 else None
        ext = {svc: links[svc].get(person.id) if person else None for svc in SERVICES}
        done = (datetime.fromisoformat(item["updated_at"]).timestamp()
                if item and item["status"] == "onboarded" else None)
        rows.append({"status": res.get("status"), "item": item and item["status"], "persons": len(found[s["mobile"]]),
                     "accounts": {svc: accounts[svc][s["mobile"]] for svc in SERVICES},
                     "linked": {svc: bool(ext[svc] and ext[svc] in sandboxes[svc].users) for svc in SERVICES},
                     "welcomes": {svc: welcomes[svc][ext[svc]] if ext[svc] else 0 for svc in SERVICES},
                     "person_id": person.id if person else None,
                     "onboarded_s": done - res["sent"] if done and res.get("sent") else None})
    redelivered = [r for r in sent["results"] if r["id"] >= len(subs)]
    redelivery_status = Counter(f"{r['status']} {_outcome(r['answer'])}" for r in redelivered)
    ok = lambda r: r["status"] is not None and 200 <= r["status"] < 300  # noqa: E731
    lost = {"not acked 2xx": sum(1 for x in rows if not (x["status"] and 200 <= x["status"] < 300)),
            "not in the inbox": sum(1 for x in rows if x["item"] is None),
            "not exactly one person": sum(1 for x in rows if x["persons"] != 1),
            **{f"no {s} account+link": sum(1 for x in rows if x["accounts"][s] == 0 or not x["linked"][s])
               for s in SERVICES},
            "redeliveries not acked 2xx": sum(1 for r in redelivered if not ok(r))}
    dup = {"inbox items beyond the submissions": max(0, len(items) - len(subs)),
           "people beyond the submissions": max(0, people_after - people_before - len(subs)),
           **{f"{s} mobiles with 2+ accounts": sum(1 for x in rows if x["accounts"][s] > 1) for s in SERVICES},
           **{f"{s} people welcomed twice": sum(1 for x in rows if x["welcomes"][s] > 1) for s in SERVICES},
           "redeliveries stored as new": sum(1 for r in redelivered if _outcome(r["answer"]) == "new")}
    left = leftover(ws, rows)
    lost["changes left to plan"] = sum(left.values())
    chats = {s: {c.get("name", cid): len(c.get("userlist") or c.get("useridlist") or ())
                 for cid, c in list(sandboxes[s].chats.items())} for s in SERVICES}
    return {"rows": rows, "items": len(items), "people_after": people_after, "lost": lost, "dup": dup,
            "leftover": left, "redelivered": len(redelivered), "redelivery_status": redelivery_status,
            "no_welcome": {s: sum(1 for x in rows if x["welcomes"][s] == 0) for s in SERVICES},
            "creates": creates, "chats": chats}


def _outcome(answer: str) -> str:
    try:
        return str(json.loads(answer).get("status", "?"))
    except (ValueError, AttributeError):
        return "?"


# --- report ----------------------------------------------------------------------------------------


LAT_HDR = ["measured from", "n", "p50 s", "p95 s", "p99 s", "max s"]


def lat_row(name: str, values: list[float]) -> list:
    if not values:
        return [name, 0, "-", "-", "-", "-"]
    return [name, len(values), *(fmt_s(pct(values, q)) for q in (50, 95, 99)), fmt_s(max(values))]


def describe(r: dict) -> dict:
    res = r["sent"]["results"]
    ok = [x for x in res if x["status"] and 200 <= x["status"] < 300]
    statuses = Counter(str(x["status"]) for x in res)
    late = [x["sent"] - x["scheduled"] for x in res]
    first = [x for x in res if x["id"] < r["n"]]
    span = max(x["sent"] for x in first) - min(x["sent"] for x in first)
    lat = [lat_row("**scheduled send time** (open loop: a late send counts)",
                   [x["acked"] - x["scheduled"] for x in ok]),
           lat_row("actual send", [x["acked"] - x["sent"] for x in ok]),
           lat_row("sender's lateness (sent − scheduled)", late)]
    onboarded = [x["onboarded_s"] for x in r["rows"] if x["onboarded_s"] is not None]
    timeline, last = [], -1e9
    for smp in r["samples"]:
        if smp["t"] - last >= 30 or smp is r["samples"][-1]:
            inbox = smp["inbox"]
            waiting = inbox.get("received", 0) + inbox.get("onboarding", 0)
            done_else = inbox.get("review", 0) + inbox.get("failed", 0)
            timeline.append([f"{smp['t']:.0f}", sum(inbox.values()), waiting, inbox.get("onboarded", 0), done_else,
                             f"{smp['rss']:.0f}"])
            last = smp["t"]
    cpu_pct = 100 * r["cpu"] / r["wall"]
    batches = r["batches"]
    sizes = [b["items"] for b in batches]
    full = [b for b in batches if b["items"] == max(sizes, default=0) and "end" in b]
    steps = {}
    for name in ("pull", "plan", "apply", "welcome"):
        spans = [b["steps"][name][1] - b["steps"][name][0] for b in full if name in b["steps"]]
        steps[name] = pct(spans, 50) if spans else float("nan")
    steps["total"] = pct([b["end"] - b["start"] for b in full], 50) if full else float("nan")
    ended = [b for b in batches if "end" in b]
    worked = (max(b["end"] for b in ended) - min(b["start"] for b in ended)) if ended else float("nan")
    busy = sum(b["end"] - b["start"] for b in ended)
    return {"steps": steps, "full": len(full), "onboard_rate": sum(b["items"] for b in ended) / worked if ended else 0,
            "busy": busy, "worked": worked,
            "statuses": statuses, "lat": lat, "onboarded": onboarded, "timeline": timeline, "cpu_pct": cpu_pct,
            "achieved": (len(first) - 1) / span * 60 if span else float("nan"), "sizes": sizes,
            "peak_rss": max(s["rss"] for s in r["samples"]), "start_rss": r["samples"][0]["rss"]}


def console(r: dict, d: dict) -> None:
    print(f"\n== {r['n']:,} signups at {r['rate']:g}/min for {r['minutes']:g} min + {r['redelivered']} redeliveries; "
          f"achieved {d['achieved']:.0f}/min; HTTP statuses {dict(d['statuses'])}")
    print(text_table(LAT_HDR, plain(d["lat"])))
    print(f"sending {r['send_s']:.1f} s, drain after the last push {r['drain_s']:.1f} s (drained={r['drained']}); "
          f"inbox {r['counts']}")
    print(f"onboarded (push sent → item onboarded): p50 {fmt_s(pct(d['onboarded'], 50))} s, "
          f"p95 {fmt_s(pct(d['onboarded'], 95))} s, max {fmt_s(max(d['onboarded'], default=float('nan')))} s")
    print(f"lost: {r['lost']}\nduplicated: {r['dup']}\nredeliveries: {dict(r['redelivery_status'])}")
    print(f"CPU: receiver process {r['cpu']:.1f} s ({d['cpu_pct']:.0f} % of one core over {r['wall']:.0f} s), "
          f"sender process {r['sender_cpu']:.1f} s; RSS {d['start_rss']:.0f} → peak {d['peak_rss']:.0f} MiB "
          f"(ru_maxrss {r['maxrss']:.0f} MiB)")
    print(f"onboarding batches: {len(d['sizes'])}, sizes min/median/max "
          f"{min(d['sizes'], default=0)}/{pct(d['sizes'], 50) if d['sizes'] else 0}/{max(d['sizes'], default=0)}")
    print(text_table(["t s", "inbox", "waiting", "onboarded", "review/failed", "RSS MiB"], d["timeline"]))
    print(f"chats at the end: {r['chats']}")
    if r["leftover"]:
        print(f"left to plan for the new people: {r['leftover']}")


def plain(rows: list[list]) -> list[list[str]]:
    return [[str(c).replace("**", "").replace("`", "") for c in row] for row in rows]


def section(r: dict, d: dict, quick: bool) -> str:
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lost, dup = sum(r["lost"].values()), sum(r["dup"].values())
    p99 = pct([x["acked"] - x["scheduled"] for x in r["sent"]["results"] if x["status"] and 200 <= x["status"] < 300],
              99)
    items = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(d["statuses"].items()))
    redeliv = ", ".join(f"{k} ×{v}" for k, v in sorted(r["redelivery_status"].items()))
    sizes = d["sizes"]
    rows = [[f"{r['rate']:g}/min × {r['minutes']:g} min", f"{r['n']:,} + {r['redelivered']}",
             f"{d['achieved']:.0f}/min",
             f"**{fmt_s(p99)}**", r["items"], sum(1 for x in r["rows"] if x["item"] == "onboarded"), f"**{lost}**",
             f"**{dup}**"]]
    head = md_table(["load", "pushes (distinct + redelivered)", "achieved send rate", "ack p99 s", "inbox rows",
                     "people onboarded", "lost", "duplicated"], rows)
    chats = "; ".join(f"{s}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for s, c in r["chats"].items())
    dt_need = r["rate"] / 60
    big = max(sizes, default=0)
    return f"""\
## Receiver under load — `bench/receiver_load.py`

- measured: {utc_stamp()}
- machine: {machine_line()}
- code: {revision()}
- command: `{command_line()}`{' (quick size)' if quick else ''}
- load average (1/5/15 min) at the end: {load} (the machine is shared; 2 cores for receiver,
  onboarding, sandboxes and the sender process together)
- set-up: `build_demo` with {r['people']} people, one full sync (rate limits on; {fmt_s(r['sync_s'])} s, not
  timed). WeCom, DingTalk and Feishu sandboxes in-process with `rate_limits=True`, connections
  with client spacing (WeCom 163.3/s, DingTalk {CLIENT_QPS:.0f}/s per API). Receiver:
  `build_receiver` + `receiver_config` (no access log, `limit_concurrency` {MAX_CONCURRENT}) under uvicorn on
  127.0.0.1 in a thread; onboarding: "{r['how']}".
- load: a separate process (`receiver_load.py --send`), open loop — push k is scheduled at
  k × {60 / r['rate']:.3f} s and sent at that time by one of {SENDER_THREADS} threads over a new connection, whatever
  the earlier answers did. Signups alternate Jinshuju (`?token=`) and Wenjuanxing (signed + `?token=`),
  each a distinct person (fresh mobile and email; 医生/护士/心理咨询师/社工 in turn, consent to WeCom and
  DingTalk). {r['redelivered']} of them are pushed a second time, {REDELIVERY_AFTER:g} s later, same body.
- ack latency: push scheduled (or sent) → HTTP answer read, in the sender process. Nearest-rank percentiles.

{head}

### Acknowledgements

HTTP statuses: {statuses}. Redeliveries: {redeliv} (HTTP status, receiver's outcome).

{md_table(LAT_HDR, d['lat'])}

### Onboarding behind it

Sending took {fmt_s(r['send_s'])} s; every item was final **{fmt_s(r['drain_s'])} s after the last push**
({'drained' if r['drained'] else 'NOT drained — timed out'}). Inbox at the end: {items}.
{len(sizes)} onboarding batches (`process_inbox` takes ≤ 100 items each), sizes min/median/max
{min(sizes, default=0)}/{pct(sizes, 50) if sizes else 0}/{max(sizes, default=0)}. Push sent → item `onboarded`: p50
{fmt_s(pct(d['onboarded'], 50))} s, p95 {fmt_s(pct(d['onboarded'], 95))} s, max
{fmt_s(max(d['onboarded'], default=float('nan')))} s. Account creates answered ok: wecom {r['creates']['wecom']},
dingtalk {r['creates']['dingtalk']}.

Onboarding ran at **{d['onboard_rate']:.1f} items a second** (first batch start → last batch end, the worker
busy {100 * d['busy'] / d['worked']:.0f} % of that time), against {dt_need:.1f} a second arriving. Median of the
{d['full']} full batches ({max(sizes, default=0)} items): {fmt_s(d['steps']['total'])} s in all — pull
{fmt_s(d['steps']['pull'])} s, plan {fmt_s(d['steps']['plan'])} s, apply {fmt_s(d['steps']['apply'])} s, welcome
{fmt_s(d['steps']['welcome'])} s. The floor of a batch's apply is DingTalk's: one `user/create` a signup at
{QPS_PER_API} calls a second per API (the client spaces at {CLIENT_QPS:.0f}/s), {big / CLIENT_QPS:.1f} s for
{big}; {r['rate']:g} signups a minute is {100 * dt_need / QPS_PER_API:.0f} % of the documented rate. So the
worker falls behind while the load lasts and catches up after it; the receiver's acknowledgements
do not wait for it (an item is committed, then answered).

Inbox over time (sampled; "waiting" = received + onboarding):

{md_table(['t s', 'inbox rows', 'waiting', 'onboarded', 'review/failed', 'RSS MiB'], d['timeline'])}

Chats at the end (members; the demo policy puts every active volunteer in WeCom's all-hands chat,
which holds at most 2,000 — the plan refuses the rest with a reason): {chats}.

### Lost and duplicated

- lost: **{lost}** — {', '.join(f'{k} {v}' for k, v in r['lost'].items())}
- duplicated: **{dup}** — {', '.join(f'{k} {v}' for k, v in r['dup'].items())}
- people without a welcome: wecom {r['no_welcome']['wecom']}, dingtalk {r['no_welcome']['dingtalk']}

### CPU and memory

- receiver process (uvicorn, receiver, onboarding worker, in-process sandboxes):
  {r['cpu']:.1f} s CPU over {r['wall']:.0f} s = {d['cpu_pct']:.0f} % of one core; RSS {d['start_rss']:.0f} MiB at the
  start of the load, peak {d['peak_rss']:.0f} MiB (sampled), `ru_maxrss` {r['maxrss']:.0f} MiB (includes the set-up).
- sender process: {r['sender_cpu']:.1f} s CPU.
"""


def main() -> None:
    if "--send" in sys.argv:
        k = sys.argv.index("--send")
        send_main(sys.argv[k + 1], sys.argv[k + 2])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 minute instead of 5")
    ap.add_argument("--rate", type=float, help=f"submissions a minute (default {RATE})")
    ap.add_argument("--minutes", type=float, help=f"how long the load lasts (default {MINUTES:g})")
    ap.add_argument("--people", type=int, help=f"people in the demo coalition (default {PEOPLE})")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args()
    rate = args.rate or RATE
    minutes = args.minutes or (1.0 if args.quick else MINUTES)
    r = run(rate, minutes, args.people or PEOPLE)
    d = describe(r)
    console(r, d)
    if not (args.no_write or args.rate or args.minutes or args.people):
        path = write_section("load", section(r, d, args.quick))
        print(f"\nwrote the load section of {path}")


if __name__ == "__main__":
    main()

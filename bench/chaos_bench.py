"""Chaos: many seeded syncs of a 1,000-person coalition under faults, killed mid-apply and restarted.

    .venv/bin/python bench/chaos_bench.py              # 50 seeds, 1,000 people, fault rate 0.03 (~8 min unloaded)
    .venv/bin/python bench/chaos_bench.py --quick      # 5 seeds, 300 people; RESULTS.md untouched
    .venv/bin/python bench/chaos_bench.py --seeds 200 --rate 0.05 --no-write

Each seed is one scenario of ``tests/chaos/chaoskit.py`` (the harness the CI test runs on a
few seeds): the demo coalition (``build_demo``: WeCom, DingTalk and Feishu sandboxes seeded as
a team left them), in-process sandboxes with rate limits off and zero-wait retries, a seeded
``FaultPlan`` on every sandbox with every kind (5xx, timeout after the service acted, dropped
connection before it, the service's rate-limit error, early token revocation, a listing that
fails part-way), signups stored in the inbox before each run (``state.receive``, two
redelivered each run), each run = onboard the inbox, offboard, pull → plan → apply → finish in a
new ``Workspace`` on the same database file (a new process), the first three runs killed after
the n-th write request to a seeded service (n ≤ 300 in the first run, ≤ 10 after), a
coordinator settling between runs any DingTalk chat create that got no answer (Muster refuses
to create it again: DingTalk cannot list chats), then runs until one reads everything and plans
nothing (at most 12). Then, faults off, the sandboxes'
own records: a fresh plan is empty, no account created twice, nobody joined a chat or tag
twice, no message sent twice, every signup in the roster exactly once and its inbox item final.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "chaos"))

from _common import (  # noqa: E402
    command_line,
    machine_line,
    md_table,
    revision,
    text_table,
    utc_stamp,
    write_section,
)
from chaoskit import ChaosResult, chaos  # noqa: E402

from connectors._sandbox import FAULT_KINDS  # noqa: E402


def run(seeds: range, people: int, rate: float) -> list[ChaosResult]:
    """Every seed in turn, each in a fresh folder; prints one line per seed."""
    results = []
    with tempfile.TemporaryDirectory(prefix="muster-chaos-bench-") as tmp:
        for seed in seeds:
            r = chaos(Path(tmp) / f"s{seed}", seed, people=people, rate=rate)
            results.append(r)
            faults = sum(r.faults.values())
            print(f"seed {seed:3d}: {'ok  ' if r.ok else 'FAIL'} runs {r.runs:2d}, crashes {r.crashes}, "
                  f"coordinator {len(r.coordinator_steps)}, "
                  f"converged after {r.converged_after}, faults {faults:3d}, writes {r.writes}, "
                  f"duplicates {r.duplicates}, lost {len(r.lost)}, {r.seconds:.1f} s", flush=True)
            for problem in r.problems():
                print(f"    {problem}", flush=True)
    return results


def figures(results: list[ChaosResult]) -> dict:
    """The totals and distributions the section shows."""
    faults = Counter()
    for r in results:
        faults.update(r.faults)
    converged = [r.converged_after for r in results if r.converged_after is not None]
    secs = sorted(r.seconds for r in results)
    return {
        "seeds": len(results), "ok": sum(r.ok for r in results), "runs": sum(r.runs for r in results),
        "crashes": sum(r.crashes for r in results), "crashed_seeds": sum(r.crashes > 0 for r in results),
        "faults": faults, "converged": len(converged), "to_converge": Counter(converged),
        "duplicates": sum(r.duplicates for r in results), "lost": sum(len(r.lost) for r in results),
        "unfinished": sum(len(r.unfinished) for r in results), "left_over": sum(len(r.left_over) for r in results),
        "errors": sum(len(r.errors) for r in results), "readded": sum(r.readded for r in results),
        "coordinator": sum(len(r.coordinator_steps) for r in results),
        "signups": sum(r.signups for r in results), "deliveries": sum(r.deliveries for r in results),
        "writes": sum(r.writes for r in results), "wall": sum(secs),
        "median_s": statistics.median(secs) if secs else 0.0, "max_s": secs[-1] if secs else 0.0,
        "failed": [(r.seed, r.problems()[:3]) for r in results if not r.ok],
    }


def result_rows(f: dict) -> list[list[object]]:
    """The targets: converged, no duplicate, nothing lost."""
    lost = f["lost"] or f["unfinished"]
    return [
        ["every seed ends in the desired state",
         f"{f['converged']} of {f['seeds']} converged; a fresh plan without faults left {f['left_over']} change(s)",
         "met" if f["ok"] == f["seeds"] else "NOT met"],
        ["no duplicate side effect (account created twice, member joined twice, message sent twice)",
         f"duplicates: **{f['duplicates']}**", "met" if not f["duplicates"] else "NOT met"],
        ["no lost form submission", f"lost: **{f['lost']}**; inbox items not final: {f['unfinished']}",
         "met" if not lost else "NOT met"],
    ]


def section(f: dict, people: int, rate: float, quick: bool) -> str:
    """The RESULTS.md section."""
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    fault_rows = [[k, f["faults"].get(k, 0)] for k in FAULT_KINDS] + [["**all**", sum(f["faults"].values())]]
    dist = [[n, f["to_converge"][n]] for n in sorted(f["to_converge"])]
    failed = "\n".join(f"- seed {s}: {'; '.join(p)}" for s, p in f["failed"]) or "none"
    return f"""\
## Chaos: seeded syncs under faults, killed mid-apply — `bench/chaos_bench.py`{' (QUICK)' if quick else ''}

- measured: {utc_stamp()}
- machine: {machine_line()}
- code: {revision()}
- command: `{command_line()}`
- load average (1/5/15 min) at the end: {load} (the machine is shared)
- {f['seeds']} seeds × a {people:,}-person demo coalition (WeCom, DingTalk, Feishu sandboxes, in process,
  rate limits off, zero-wait retries), fault rate {rate} per request on every sandbox with every kind,
  {f['signups']} signups ({f['deliveries']} deliveries with redeliveries), the first three runs of each
  seed killed after a seeded write; the harness is `tests/chaos/chaoskit.py` (see `bench/README.md`).

### Result

{md_table(['target', 'figure', 'verdict'], result_rows(f))}

### Figures

{md_table(['figure', 'value'], [
    ['runs (syncs started, killed ones included)', f['runs']],
    ['processes killed mid-apply', f"{f['crashes']} (in {f['crashed_seeds']} of {f['seeds']} seeds)"],
    ['write requests the sandboxes received', f"{f['writes']:,}"],
    ['adds naming someone already a member (accepted by the service, no second join)', f['readded']],
    ['runs that raised (other than the kill)', f['errors']],
    ['DingTalk chat creates with no answer, settled by a coordinator (Muster refuses to guess)', f['coordinator']],
    ['wall time', f"{f['wall']:.0f} s (per seed: median {f['median_s']:.1f} s, max {f['max_s']:.1f} s)"],
])}

Faults injected, by kind (a "page" fault counts once however often its listing is retried):

{md_table(['kind', 'injected'], fault_rows)}

Runs until convergence (a run that read every service completely and planned nothing, the
inbox empty; signups keep arriving until the fourth run, so 4 is the least possible):

{md_table(['runs', 'seeds'], dist)}

Seeds that failed: {failed}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=50, help="how many seeds (default 50)")
    ap.add_argument("--start", type=int, default=1, help="the first seed (default 1)")
    ap.add_argument("--people", type=int, default=1000, help="people in the coalition (default 1,000)")
    ap.add_argument("--rate", type=float, default=0.03, help="fault rate per request (default 0.03)")
    ap.add_argument("--quick", action="store_true", help="5 seeds, 300 people; RESULTS.md untouched")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args()
    seeds = range(args.start, args.start + (5 if args.quick else args.seeds))
    people = 300 if args.quick else args.people
    write = not (args.no_write or args.quick or args.seeds < 50 or people != 1000)
    started = time.monotonic()
    results = run(seeds, people, args.rate)
    f = figures(results)
    print()
    print(text_table(["kind", "injected"], [[k, f["faults"].get(k, 0)] for k in FAULT_KINDS]))
    print(f"\n{f['ok']} of {f['seeds']} seeds ok; runs {f['runs']}, crashes {f['crashes']}, duplicates "
          f"{f['duplicates']}, lost {f['lost']}, runs to converge {dict(sorted(f['to_converge'].items()))}, "
          f"{time.monotonic() - started:.0f} s")
    if write:
        path = write_section("chaos", section(f, people, args.rate, args.quick))
        print(f"wrote the chaos section of {path}")
    sys.exit(0 if f["ok"] == f["seeds"] else 1)


if __name__ == "__main__":
    main()

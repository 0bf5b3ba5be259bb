"""Diagnosis of the apply bottleneck found by ``sync_bench.py``: ``Plan.id`` recomputed per write.

    .venv/bin/python bench/diag_plan_id.py              # scaling with rate limits off (~1.5 min)
    .venv/bin/python bench/diag_plan_id.py --full-sync  # + the 2,000-people rate-limited sync with
                                                        #   Plan.id cached (~2 min more)

``mappings.models.Plan.id`` is a property that hashes every change's ``key`` (itself a
sha256 of the change's canonical JSON) on every access, and ``flows/apply.py`` reads
``self.plan.id`` in ``_Apply.send`` (``mark_sent`` and ``mark_applied``) and ``_Apply._audit``
(once per change) — so each write call re-hashes the whole plan three times: apply is
O(changes²) in CPU, and with thousands of changes the CPU, not the APIs' rate limits, sets
the pace.

Found with commit 034b7c3; commit c446470 then applied the fix proposed here (the plan
id computed once per ``_Apply``, ``Change.key`` a ``cached_property``). From that commit on,
the "as is" rows should match the "memoised" ones; the figures measured before the fix are
kept in the summary at the top of RESULTS.md.

This script does not change the project. It measures, with the rate limits off (so only
CPU counts), how often ``Plan.id`` is evaluated during apply and the time spent in it, for
growing rosters; then repeats the same runs with ``Plan.id`` memoised *in this process
only* (a monkeypatch standing in for the proposed fix) to show what remains. With
``--full-sync`` it also runs the whole ``sync_bench`` scenario (2,000 people, rate limits on)
under that monkeypatch, to show the targets the fix would reach.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sync_bench  # noqa: E402
from _common import command_line, fmt_s, machine_line, md_table, revision, text_table, utc_stamp, write_section  # noqa: E402

import mappings.models as models  # noqa: E402

ORIGINAL = models.Plan.id


class PlanIdProbe:
    """Replaces ``Plan.id``: counts evaluations and their time; optionally memoises (the fix)."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.cache = False
        self._memo: dict[int, tuple] = {}

    def install(self) -> None:
        probe = self

        def plan_id(plan):
            probe.calls += 1
            t = time.perf_counter()
            try:
                if probe.cache:
                    hit = probe._memo.get(id(plan))
                    if hit and hit[0] is plan.changes and hit[1] == len(plan.changes) and hit[2] == plan.basis:
                        return hit[3]
                value = ORIGINAL.fget(plan)
                if probe.cache:
                    probe._memo[id(plan)] = (plan.changes, len(plan.changes), plan.basis, value)
                return value
            finally:
                probe.seconds += time.perf_counter() - t

        models.Plan.id = property(plan_id)

    def reset(self, cache: bool) -> None:
        self.calls, self.seconds, self.cache = 0, 0.0, cache
        self._memo.clear()


def apply_cpu(n: int, probe: PlanIdProbe, cache: bool) -> dict:
    """One first sync with rate limits off; apply wall (≈ CPU) and Plan.id evaluations during apply."""
    with tempfile.TemporaryDirectory(prefix="muster-diag-") as tmp:
        probe.reset(cache)
        counts = {}

        original_apply_all = sync_bench.apply_all

        def counted_apply_all(*a, **kw):
            before = (probe.calls, probe.seconds)
            cpu = time.process_time()
            out = original_apply_all(*a, **kw)
            if "calls" not in counts:  # the first sync only, not the re-sync
                counts["calls"], counts["seconds"] = probe.calls - before[0], probe.seconds - before[1]
                counts["cpu"] = time.process_time() - cpu
            return out

        sync_bench.apply_all = counted_apply_all
        try:
            r = sync_bench.run(n, Path(tmp), limits=False)
        finally:
            sync_bench.apply_all = original_apply_all
    first = r["first"]
    writes = sum(sum(w.values()) for w in first["writes"].values())
    return {"n": n, "changes": len(first["result"].plan.changes), "writes": writes, "apply_s": first["apply_s"],
            "apply_cpu": counts["cpu"], "id_calls": counts["calls"], "id_s": counts["seconds"],
            "resync_writes": sum(r["second"]["write_calls"].values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000])
    ap.add_argument("--full-sync", action="store_true", help="also the 2,000-people rate-limited sync, Plan.id cached")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args()
    probe = PlanIdProbe()
    probe.install()
    rows = []
    for cache in (False, True):
        for n in args.sizes:
            print(f"{n:,} people, rate limits off, Plan.id {'memoised' if cache else 'as is'} ...", file=sys.stderr,
                  flush=True)
            x = apply_cpu(n, probe, cache)
            rows.append(["memoised (proposed fix)" if cache else "as is", f"{x['n']:,}", f"{x['changes']:,}",
                         x["writes"], fmt_s(x["apply_s"]), fmt_s(x["apply_cpu"]), f"{x['id_calls']:,}",
                         fmt_s(x["id_s"]), f"{1000 * x['apply_s'] / max(1, x['writes']):.1f}", x["resync_writes"]])
    hdr = ["Plan.id", "people", "changes", "write calls", "apply wall s", "apply CPU s", "Plan.id evaluations",
           "s in Plan.id", "ms per write call", "re-sync writes"]
    print(text_table(hdr, rows))
    full = ""
    if args.full_sync:
        probe.reset(True)
        print("2,000 people, rate limits ON, Plan.id memoised ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="muster-diag-") as tmp:
            r = sync_bench.run(2000, Path(tmp))
        a = sync_bench.analyse(r)
        frows = []
        for s in a["services"]:
            p = a["per"][s]
            frows.append([s, fmt_s(p["apply_wall"]), fmt_s(p["lb"]), f"{p['apply_wall'] / p['lb']:.2f}", p["made"],
                          p["min_total"], f"{p['made'] / p['min_total']:.2f}"])
        first = r["first"]
        made = sum(p["made"] for p in a["per"].values())
        mini = sum(p["min_total"] for p in a["per"].values())
        frows.append(["apply, all services", fmt_s(first["apply_s"]), fmt_s(a["lb"]),
                      f"{first['apply_s'] / a['lb']:.2f}", made, mini, f"{made / mini:.2f}"])
        frows.append(["whole sync", fmt_s(first["total_s"]), fmt_s(a["lb"]), f"{first['total_s'] / a['lb']:.2f}",
                      made, mini, f"{made / mini:.2f}"])
        fhdr = ["scope", "wall s", "lower bound s", "wall ÷ bound", "write calls", "minimal", "calls ÷ minimal"]
        print()
        print(text_table(fhdr, frows))
        print(f"no-op re-sync write calls: {sum(r['second']['write_calls'].values())}")
        full = f"""
The `sync_bench` scenario (2,000 people, empty sandboxes, rate limits on) with `Plan.id`
memoised in-process:

{md_table(fhdr, frows)}

No-op re-sync right after: {sum(r['second']['write_calls'].values())} write calls.
"""
    if args.no_write:
        return
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    body = f"""\
## Diagnosis: apply is CPU-bound on `Plan.id` — `bench/diag_plan_id.py`

- measured: {utc_stamp()}
- machine: {machine_line()}
- code: {revision()}
- command: `{command_line()}`
- load average (1/5/15 min) at the end: {load} (the machine is shared)
- rate limits OFF in sandboxes and clients, so apply time is CPU only; same scenario and
  policy as `sync_bench.py`. "memoised" = `Plan.id` cached per plan object by a monkeypatch
  in this process (the project is not changed).

{md_table(hdr, rows)}
{full}"""
    path = write_section("diag_plan_id", body)
    print(f"\nwrote the diag_plan_id section of {path}")


if __name__ == "__main__":
    main()

"""Running the sync flow from the command line, with progress bars; and the demo around it."""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from flows.workspace import Workspace


class Bars:
    """Thread-safe progress callback: 'accounts'/'chats' advance the pull bar, 'changes' the apply bar."""

    def __init__(self, progress: Progress):
        self.progress, self.lock = progress, threading.Lock()
        self.tasks: dict[str, int] = {}

    def _task(self, name: str, label: str) -> int:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(label, total=None)
        return self.tasks[name]

    def __call__(self, what: str, n: int) -> None:
        with self.lock:
            if what == "changes:total":
                task = self._task("apply", "apply changes")
                total = (self.progress.tasks[task].total or 0) + n
                self.progress.update(task, total=total)
            elif what == "changes":
                self.progress.advance(self._task("apply", "apply changes"), n)
            else:
                self.progress.advance(self._task(what, f"pull {what}"), n)


def run_flow(console: Console, ws: Workspace, *, allow_removals: bool = False, kind: str = "sync") -> dict:
    """Run the Prefect sync flow for ``ws`` and print its plan and summary."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    import state
    from flows.report import render_plan, render_summary
    from flows.sync import register, sync_flow

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        ref = register(ws, Bars(progress))
        task = progress.add_task("starting Prefect and the sync flow", total=None)
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            summary = sync_flow(workspace=ref, allow_removals=allow_removals, kind=kind)
        progress.update(task, total=1, completed=1)
    render_plan(console, state.load_plan(ws.db, summary["plan_id"]) if summary["changes"] else _empty(summary),
                title="Planned")
    render_summary(console, summary)
    console.print(f"run report: {summary['report']}")
    return summary


def _empty(summary: dict):
    from mappings.models import Plan, Refusal

    return Plan(refused=[Refusal(**r) for r in summary["refused"]])


def run_demo(console: Console, *, people: int, folder: Path, seed: int, fresh: bool) -> str:
    """Build or continue the demo coalition in ``folder`` and sync it."""
    from flows.demo import load_sandboxes, save_sandboxes

    started = time.monotonic()
    meta_path = folder / "demo.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    same = meta.get("people") == people and meta.get("seed") == seed
    sandboxes = load_sandboxes(folder / "sandboxes", seed) if same and not fresh else None
    if sandboxes is None:
        sandboxes = _build(console, folder, people, seed)
        meta_path.write_text(json.dumps({"people": people, "seed": seed}))
    else:
        console.print(f"Continuing the demo coalition in {folder}/ ({people} volunteers; --fresh starts over)")
    ws = Workspace.from_config(folder / "muster.yaml", actor="demo")
    ws.sandboxes = sandboxes
    summary = run_flow(console, ws, kind="demo")
    save_sandboxes(folder / "sandboxes", sandboxes)
    writes = {s: sb.write_calls for s, sb in sandboxes.items()}
    console.print(f"write calls received by the sandboxes this run: "
                  f"{', '.join(f'{s} {n}' for s, n in writes.items())}")
    _show_work_items(console, ws)
    _write_reports(console, ws)
    console.print(f"database: {folder / 'muster.db'}; roster: {folder / 'roster.csv'}; "
                  f"policy: {folder / 'policy.yaml'}; demo took {time.monotonic() - started:.1f} s")
    if summary["changes"] == 0:
        console.print("[green]No changes: every service already matches the roster and policy.[/]")
        return "nochange"
    console.print("Run `muster demo` again: it finds nothing left to do.")
    return summary["status"]


def _write_reports(console: Console, ws: Workspace) -> None:
    """The drift audit and the permission register, as HTML pages next to the run report."""
    from flows.drift import KINDS, check_drift, html
    from flows.register import write_register

    report = check_drift(ws)
    path = ws.reports / "drift.html"
    path.write_text(html(report, coalition=ws.coalition), encoding="utf-8")
    kinds: dict[str, int] = {}
    for item in report.items:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    found = "; ".join(f"{n} {KINDS[k]}" for k, n in sorted(kinds.items())) or "none"
    console.print(f"drift (what nobody planned): {found} → {path}", highlight=False, soft_wrap=True)
    written = write_register(ws, fmt="html", out=ws.reports / "register.html")
    console.print(f"permission register: {written.paths[0]}", highlight=False, soft_wrap=True)


def _show_work_items(console: Console, ws: Workspace) -> None:
    """The work items people must do by hand (WeChat groups, Shimo folders), as `muster tasks` lists them."""
    import state

    items = [i for i in state.open_work_items(ws.db) if i["kind"] == "manual"]
    if items:
        console.print(f"{len(items)} work item(s) wait for a group owner (`muster tasks`):")
        for item in items[:5]:
            console.print(f"  W{item['id']} {item['service']}: {item['detail'][:100]}"
                          f"{'…' if len(item['detail']) > 100 else ''} ({item.get('notice') or 'not sent'})",
                          highlight=False, soft_wrap=True)


def build_demo(folder: Path, people: int, seed: int, *, manual: bool = False) -> tuple[dict, object, list]:
    """Write the demo coalition's files into ``folder`` and import its roster; return its sandboxes.

    ``manual`` adds a WeChat group and a Shimo folder that people change by hand (work items).
    """
    import state
    from flows.demo import generate, seed_sandboxes, write_roster_csv
    from flows.demo_policy import demo_policy, manual_config, sandbox_config
    from flows.roster_io import import_roster
    from mappings.policy import load_policy

    if folder.exists():
        for name in ("muster.db", "muster.db-wal", "muster.db-shm", "sandboxes", "reports"):
            target = folder / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    members = generate(people, seed)
    write_roster_csv(folder / "roster.csv", members, random.Random(seed + 2))
    sandboxes, chats = seed_sandboxes(members, seed)
    (folder / "policy.yaml").write_text(demo_policy(chats, manual=manual), encoding="utf-8")
    creds = {s: sb.credentials for s, sb in sandboxes.items()}
    by_hand = manual_config(members, owner=members[0].pid) if manual else ""
    (folder / "muster.yaml").write_text(sandbox_config("演示志愿者联盟 (demo)", creds, in_process=True,
                                                       manual=by_hand), encoding="utf-8")
    db = state.open_db(folder / "muster.db")
    report = import_roster(db, folder / "roster.csv", load_policy(folder / "policy.yaml"))
    db.close()
    return sandboxes, report, members


def _build(console: Console, folder: Path, people: int, seed: int) -> dict:
    sandboxes, report, members = build_demo(folder, people, seed, manual=True)
    left = sum(1 for m in members if m.status == "left")
    console.print(f"Built a sandbox coalition in {folder}/: {people} volunteers ({left} have left), "
                  f"roster imported from roster.csv ({len(report.merged)} duplicate row merged); "
                  f"WeCom {len(sandboxes['wecom'].users)} and DingTalk {len(sandboxes['dingtalk'].users)} "
                  "accounts as the team left them")
    return sandboxes


__all__ = ["Bars", "build_demo", "run_demo", "run_flow"]

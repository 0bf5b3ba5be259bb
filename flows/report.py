"""Showing a plan and a run: the console (rich), the saved run report, the Prefect artifact.

A plan is shown grouped by service, target and kind of change, each group with its
count and the reasons of its first few changes, then everything that was refused and
why. Personal data is masked (names only, no mobiles) in everything written to disk.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mappings.models import Change, Plan

SYMBOL = {"add": "+", "remove": "-", "change": "~"}
EXAMPLES = 3


def group_changes(plan: Plan) -> dict[tuple[str, str, str], list[Change]]:
    """Changes grouped by (service, target, op), in plan order."""
    groups: dict[tuple[str, str, str], list[Change]] = defaultdict(list)
    for c in plan.changes:
        op = "create" if c.object_id == "*" else ("owner" if c.op == "change" and c.target != "account" else c.op)
        groups[(c.service, c.target, op)].append(c)
    return groups


def render_plan(console: Console, plan: Plan, *, title: str = "Plan") -> None:
    """Print the plan grouped with reasons, and what was refused."""
    if not plan.changes:
        console.print(f"[bold]{title}[/]: no changes — every service matches the roster and policy.")
    else:
        table = Table(title=f"{title} {plan.id}: {len(plan.changes)} change(s)", title_justify="left",
                      show_lines=False, expand=False)
        for name in ("service", "change", "target", "n", "why (first few)"):
            table.add_column(name, overflow="fold")
        for (service, target, op), items in group_changes(plan).items():
            why = "\n".join(c.reason for c in items[:EXAMPLES])
            if len(items) > EXAMPLES:
                why += f"\n… and {len(items) - EXAMPLES} more"
            table.add_row(service, f"{SYMBOL.get(op, '~')} {op}", target, str(len(items)), why)
        console.print(table)
    render_refused(console, plan)


def render_refused(console: Console, plan: Plan) -> None:
    """Print what the planner and the guards would not do."""
    if not plan.refused:
        return
    console.print(f"[bold yellow]Refused or held ({sum(r.count for r in plan.refused)}):[/]")
    for r in plan.refused:
        console.print(f"  [yellow]![/] {r.service} {r.target}: {r.reason}")


def render_summary(console: Console, summary: dict) -> None:
    """Print what was pulled, matched and applied per service."""
    table = Table(title=f"Run {summary['run_id']} ({summary['kind']}): {summary['status']}, "
                        f"{summary['duration_s']} s", title_justify="left")
    for name in ("service", "pulled", "matched", "planned", "applied"):
        table.add_column(name, overflow="fold")
    for service, s in summary["services"].items():
        pulled = s["pulled"]
        pulled_text = (f"{pulled['accounts']} accounts, {pulled['groups']} groups, {pulled['members']} members"
                       if pulled["complete"] else f"[red]read failed[/]: {pulled['error']}")
        matched = ", ".join(f"{k} {v}" for k, v in s["matched"].items()) or "-"
        planned = ", ".join(f"{k} {v}" for k, v in s["planned"].items()) or "nothing"
        applied = s["applied"]
        applied_text = "-" if not applied else (
            f"{applied['applied']} ok, {applied['failed']} failed, {applied['write_calls']} write calls"
            + (f"\n[red]{applied['error']}[/]" if applied["error"] else ""))
        table.add_row(service, pulled_text, matched, planned, applied_text)
    console.print(table)
    for service, s in summary["services"].items():
        for failure in (s["applied"] or {}).get("failures", [])[:10]:
            console.print(f"  [red]x[/] {service} {failure}")


def markdown(summary: dict, plan: Plan) -> str:
    """The run report as Markdown (saved beside the database and published as an artifact)."""
    lines = [f"# Muster run {summary['run_id']} — {summary['coalition'] or 'coalition'}", "",
             f"- kind: {summary['kind']}; status: **{summary['status']}**; {summary['duration_s']} s",
             f"- roster: {summary['people']} people; plan {summary['plan_id']}: {summary['changes']} change(s); "
             f"{summary['write_calls']} write call(s)", "",
             "| service | pulled | matched | planned | applied |", "|---|---|---|---|---|"]
    for service, s in summary["services"].items():
        p, a = s["pulled"], s["applied"] or {}
        pulled = f"{p['accounts']} accounts, {p['groups']} groups" if p["complete"] else f"FAILED: {p['error']}"
        lines.append(f"| {service} | {pulled} | {_kv(s['matched'])} | {_kv(s['planned']) or 'nothing'} | "
                     f"{a.get('applied', 0)} ok, {a.get('failed', 0)} failed |")
    lines += ["", "## Changes", ""]
    for (service, target, op), items in group_changes(plan).items():
        lines.append(f"- {service} {SYMBOL.get(op, '~')}{op} {target}: {len(items)} — {items[0].reason}")
    if summary["refused"]:
        lines += ["", "## Refused or held", ""]
        lines += [f"- {r['service']} {r['target']}: {r['reason']}" for r in summary["refused"]]
    return "\n".join(lines) + "\n"


def _kv(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def write_report(folder: Path, summary: dict, plan: Plan) -> Path:
    """Write ``<run>.md`` and ``<run>.json`` under ``folder``; return the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / f"{summary['run_id']}.md"
    md.write_text(markdown(summary, plan), encoding="utf-8")
    (folder / f"{summary['run_id']}.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2),
                                                      encoding="utf-8")
    (folder / "latest.md").write_text(md.read_text(encoding="utf-8"), encoding="utf-8")
    return md


__all__ = ["group_changes", "markdown", "render_plan", "render_refused", "render_summary", "write_report"]

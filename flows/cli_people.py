"""``muster`` commands for a volunteer's life: inbox, forms intake, offboarding, broadcasts, work items.

Work items are what people must do by hand: hand-overs no API can make, and every change to a
personal WeChat group or a Shimo folder (``flows.work_items``). ``muster tasks`` lists the open
ones, ``muster tasks done ID`` records one (checked against an exported member list with
``--members``), ``muster tasks remind`` reminds the owners of items that waited too long.
"""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli import ConfigOption, UserError, _workspace, app, console, err

inbox_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                        help="Signups received: list them, or retry one.")
forms_app = typer.Typer(no_args_is_help=True, help="Form intake without pushes: poll Jinshuju, import exports.")
tasks_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                        help="Work items a coordinator must do by hand.")
app.add_typer(inbox_app, name="inbox")
app.add_typer(forms_app, name="forms")
app.add_typer(tasks_app, name="tasks")


def _run(ws, kind: str) -> str:
    import state

    return state.start_run(ws.db, kind, actor=ws.actor)


def _report_batches(batches) -> None:
    for batch in batches:
        for a in batch.admissions:
            console.print(f"  item {a.item_id}: {a.status} {a.person_id or ''} {a.detail}".rstrip(), highlight=False)
        if batch.welcomed:
            console.print(f"  welcomed: {', '.join(f'{p} on {s}' for s, p in batch.welcomed)}", highlight=False)


@inbox_app.callback()
def inbox(ctx: typer.Context, config: Path | None = ConfigOption,
          status: str | None = typer.Option(None, "--status",
                                            help="received, onboarding, onboarded, review, failed"),
          limit: int = typer.Option(50, "--limit")) -> None:
    """List signups with their state (received, onboarded, needs review, failed) and quarantined pushes."""
    if ctx.invoked_subcommand:
        return
    import state

    ws = _workspace(config)
    items = state.inbox_items(ws.db, status=status, limit=limit)
    for item in items:
        console.print(f"{item['id']:>5}  {item['form']:<12} {item['serial']:<14} {item['status']:<10} "
                      f"{item.get('person_id') or '-':<8} {item.get('error') or ''}", highlight=False, soft_wrap=True)
    console.print(f"{len(items)} item(s)")
    held = state.quarantined(ws.db, limit=limit)
    if held and status is None:
        console.print(f"{len(held)} quarantined push(es):")
        for q in held:
            console.print(f"  q{q['id']} {q.get('form') or '?'}: {q['reason']}", highlight=False, soft_wrap=True)


@inbox_app.command("retry")
def inbox_retry(item_id: int, config: Path | None = ConfigOption) -> None:
    """Run one inbox item through onboarding again."""
    import state
    from flows.onboard import onboard_batch

    ws = _workspace(config)
    try:
        item = state.get_item(ws.db, item_id)
    except KeyError:
        raise UserError(f"no inbox item {item_id}") from None
    from flows.locking import coalition_lock

    with coalition_lock(ws, "onboard"):  # never alongside another run's onboarding or apply
        state.set_item_status(ws.db, item_id, "onboarding")
        batch = onboard_batch(ws, [state.get_item(ws.db, item_id)], _run(ws, "onboard"))
    _report_batches([batch])
    final = state.get_item(ws.db, item["id"])["status"]
    raise typer.Exit(0 if final == "onboarded" else 1)


@forms_app.command("poll")
def forms_poll(config: Path | None = ConfigOption,
               form: list[str] = typer.Option(None, "--form", help="only these forms (default: every Jinshuju form "
                                                                      "with api_key)"),
               onboard: bool = typer.Option(True, "--onboard/--no-onboard")) -> None:
    """Read new entries through Jinshuju's API into the inbox, then onboard them."""
    from flows.forms import poll, process_inbox

    ws = _workspace(config)
    names = form or [n for n, f in ws.forms.items() if f.service == "jinshuju" and f.api_key]
    if not names:
        raise UserError("no Jinshuju form with api_key/api_secret in the config")
    for name in names:
        try:
            got = poll(ws, name)
        except KeyError as exc:
            raise UserError(str(exc).strip("'\"")) from None
        console.print(f"{name}: {got.pages} page(s), {got.new} new, {got.updated} updated, {got.unchanged} unchanged")
    if onboard:
        _report_batches(process_inbox(ws, _run(ws, "onboard")))


@forms_app.command("import")
def forms_import(file: Path, form: str = typer.Option(..., "--form", help="the policy's forms.<name> mapping"),
                 config: Path | None = ConfigOption,
                 onboard: bool = typer.Option(True, "--onboard/--no-onboard")) -> None:
    """Import a form service's Excel or CSV export into the inbox (all rows or none), then onboard."""
    from flows.forms import import_file, process_inbox

    ws = _workspace(config)
    try:
        got = import_file(ws, file, form)
    except KeyError as exc:
        raise UserError(str(exc).strip("'\"")) from None
    console.print(f"{file}: {got.new} new, {got.updated} updated, {got.unchanged} unchanged")
    if onboard:
        _report_batches(process_inbox(ws, _run(ws, "onboard")))


@app.command()
def offboard(person: str, config: Path | None = ConfigOption,
             successor: str | None = typer.Option(None, "--successor", help="who takes over what they own"),
             grace: int | None = typer.Option(None, "--grace", min=1, help="days their access stays")) -> None:
    """Hand over everything a person owns, verify it, then revoke their access."""
    import state
    from flows.locking import coalition_lock
    from flows.offboard import OffboardError
    from flows.offboard import offboard as run_offboard

    ws = _workspace(config)
    run_id = _run(ws, "offboard")
    try:
        with coalition_lock(ws, "offboard"):  # hand-overs and revocations never interleave with a sync's apply
            result = run_offboard(ws, person, successor=successor, grace_days=grace, run_id=run_id)
    except OffboardError as exc:
        state.finish_run(ws.db, run_id, "refused", {"error": str(exc)})
        raise UserError(str(exc)) from None
    for h in result.handovers:
        mark = "ok" if h.done else "WAITING"
        console.print(f"  {mark} {h.service} {h.kind} {h.name} → {h.successor or '?'} {h.detail}", highlight=False)
    for item in result.work_items:
        console.print(f"  work item {item} opened (see `muster tasks`)")
    console.print(f"{person}: {result.status}; {result.revoked} access change(s) applied. {result.detail}".strip())
    state.finish_run(ws.db, run_id, "ok" if result.status == "left" else "partial",
                     {"person": person, "status": result.status, "work_items": result.work_items})
    raise typer.Exit(0 if not result.work_items else 2)


@app.command()
def broadcast(to: list[str] = typer.Option(..., "--to", help="all | team:<team> | role:<role>; repeatable"),
              text: str = typer.Option(..., "--text", help="the notice"),
              broadcast_id: str | None = typer.Option(None, "--id", help="name it (default: hash of text and --to)"),
              dry_run: bool = typer.Option(False, "--dry-run", help="say who would be reached; send nothing"),
              show: int = typer.Option(20, "--show", help="list at most this many unreached people"),
              config: Path | None = ConfigOption) -> None:
    """Send a notice once to every active person in scope, through their best channel."""
    import state
    from flows.broadcast import BroadcastError
    from flows.broadcast import broadcast as run_broadcast
    from mappings.scope import ScopeError, parse_scope

    ws = _workspace(config)
    try:
        scopes = [parse_scope(t, teams=ws.policy.teams, roles=ws.policy.roles) for t in to]
    except ScopeError as exc:
        raise UserError(f"--to: {exc}") from None
    run_id = None if dry_run else _run(ws, "broadcast")
    try:
        report = run_broadcast(ws, text, scopes, broadcast_id=broadcast_id, dry_run=dry_run, run_id=run_id)
    except BroadcastError as exc:
        if run_id:
            state.finish_run(ws.db, run_id, "refused", {"error": str(exc)})
        raise UserError(str(exc)) from None
    verb = "would reach" if dry_run else "reached"
    console.print(f"broadcast {report.broadcast_id} to {', '.join(report.scopes)}: {report.in_scope} in scope")
    for service, ids in sorted(report.reached.items()):
        if ids:
            console.print(f"  {verb} {len(ids)} on {service}")
    if report.already:
        console.print(f"  {report.already} already had it (earlier run of this broadcast)")
    for title, people in (("no reachable channel", report.unreachable), ("sent but unanswered — check by hand",
                                                                          report.uncertain)):
        if people:
            console.print(f"  {len(people)} {title}:")
            for pid, why in sorted(people.items())[:show]:
                console.print(f"    {pid} {report.names.get(pid, '')}: {why}", highlight=False, soft_wrap=True)
            if len(people) > show:
                console.print(f"    … and {len(people) - show} more (--show N)")
    for service, error in sorted(report.errors.items()):
        console.print(f"  [red]{service} failed[/]: {error} — run the same command again to retry", soft_wrap=True)
    if run_id:
        state.finish_run(ws.db, run_id, "partial" if report.errors else "ok", report.summary())
    raise typer.Exit(1 if report.errors else 0)


@tasks_app.callback()
def tasks(ctx: typer.Context, config: Path | None = ConfigOption) -> None:
    """List open work items."""
    if ctx.invoked_subcommand:
        return
    import state

    ws = _workspace(config)
    items = state.open_work_items(ws.db)
    if items:
        console.print("  id  service  group              assignee  age     reminders  what", highlight=False)
    for item in items:
        group = item.get("group_key") or item.get("person_id") or "-"
        console.print(f"{item['id']:>4}  {item['service']:<8} {group:<18} {item.get('assignee') or '-':<9} "
                      f"{_age(item['created_at']):<7} {item.get('reminders') or 0:>9}  {item['detail']}"
                      + (f" [{item['notice']}]" if item.get("notice") else ""), highlight=False, soft_wrap=True,
                      markup=False)
    console.print(f"{len(items)} open work item(s)")


def _age(created_at: str) -> str:
    from datetime import UTC, datetime

    minutes = int((datetime.now(UTC) - datetime.fromisoformat(created_at)).total_seconds() // 60)
    return f"{minutes // 1440}d{minutes % 1440 // 60}h" if minutes >= 1440 else (
        f"{minutes // 60}h{minutes % 60}m" if minutes >= 60 else f"{max(minutes, 0)}m")


@tasks_app.command("done")
def tasks_done(item_id: int, config: Path | None = ConfigOption,
               members: Path | None = typer.Option(None, "--members", help="the group's member list as its owner "
                                                   "exported it (TXT/CSV/XLSX of names and/or mobiles): the item "
                                                   "is recorded only if the list shows its changes"),
               note: str = typer.Option("", "--note")) -> None:
    """Mark a work item done; a WeChat group's or Shimo folder's changes are recorded as confirmed."""
    from flows.work_items import WorkItemError, mark_done

    ws = _workspace(config)
    try:
        item = mark_done(ws, item_id, members=members, note=note)
    except WorkItemError as exc:
        if not exc.problems:
            raise UserError(str(exc)) from None
        err.print(f"[red]error:[/] {exc}; nothing was recorded:", highlight=False, soft_wrap=True)
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    checked = f", checked against {members.name}" if members else ""
    console.print(f"work item {item_id} done{checked}", highlight=False)
    if item["kind"] == "manual":
        console.print(f"recorded as confirmed: {item['detail']}", highlight=False, soft_wrap=True)


@tasks_app.command("remind")
def tasks_remind(config: Path | None = ConfigOption) -> None:
    """Remind the owners of open WeChat/Shimo items older than their service's remind_after; reassign leavers'."""
    import state
    from flows.work_items import remind_and_reassign

    ws = _workspace(config)
    run_id = state.start_run(ws.db, "remind", actor=ws.actor)
    done = remind_and_reassign(ws, run_id)
    state.finish_run(ws.db, run_id, "ok", done)
    console.print(f"{len(done['reminded'])} reminded, {len(done['reassigned'])} reassigned"
                  + (f": W{', W'.join(map(str, done['reminded'] + done['reassigned']))}" if any(done.values())
                     else ""), highlight=False)

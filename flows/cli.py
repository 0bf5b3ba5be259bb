"""The ``muster`` command.

Commands that read or change services (pull, plan, apply) run the step functions in
this process; ``sync`` and ``demo`` run the Prefect ``sync`` flow (embedded server
unless ``PREFECT_API_URL`` points at one). Every failure a user can cause — a bad
config, policy or spreadsheet, a stale plan — prints one ``error:`` line naming the
file, line and field where it can, and exits 1 with nothing applied.

Exit codes: 0 ok / nothing to do; 1 error; 2 ``plan``: changes pending.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from config.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Keep a coalition's tools in line with its roster.")
roster_app = typer.Typer(no_args_is_help=True, help="List, show, import and export people.")
sandbox_app = typer.Typer(no_args_is_help=True, help="Run the service sandboxes.")
app.add_typer(roster_app, name="roster")
app.add_typer(sandbox_app, name="sandbox")

console = Console()
err = Console(stderr=True)


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit 1."""


def _settings() -> Settings:
    return Settings()


ConfigOption = typer.Option(None, "--config", "-c", envvar="MUSTER_CONFIG",
                            help="muster.yaml (default: ./muster.yaml)")
WaitOption = typer.Option(0.0, "--wait", min=0.0, metavar="SECONDS",
                          help="wait this long for another sync or apply of the coalition (default: refuse at once)")


def _workspace(config: Path | None):
    from flows.workspace import Workspace

    settings = _settings()
    path = config or settings.config
    if not path.exists():
        raise UserError(f"{path}: no such config file (run `muster init` to write one, or pass --config)")
    return Workspace.from_config(path, actor=settings.actor)


# --- demo and sandboxes --------------------------------------------------------------


@app.command()
def demo(people: int = typer.Option(500, "--people", min=2, max=200_000, help="volunteers in the coalition"),
         folder: Path = typer.Option(Path("muster-demo"), "--dir", help="where the demo keeps its files"),
         seed: int = typer.Option(7, "--seed"),
         fresh: bool = typer.Option(False, "--fresh", help="start a new coalition even if one exists")) -> None:
    """Build a sandbox coalition (or continue the last one) and sync it through Prefect."""
    from flows.demo_run import run_demo

    status = run_demo(console, people=people, folder=folder, seed=seed, fresh=fresh)
    raise typer.Exit(0 if status in ("ok", "nochange") else 1)


@sandbox_app.command("serve")
def sandbox_serve(port: int = typer.Option(8700, "--port", help="first port; one per service"),
                  info: Path | None = typer.Option(None, "--info", help="write base URLs and credentials as JSON"),
                  people: int = typer.Option(500, "--people", min=2),
                  seed: int = typer.Option(7, "--seed"),
                  fault_rate: float = typer.Option(0.0, "--fault-rate", min=0.0, max=1.0,
                                                   help="share of requests answered with an injected fault"),
                  fault_seed: int = typer.Option(1, "--fault-seed", help="seed of the fault schedule"),
                  events_to: str | None = typer.Option(None, "--events-to",
                                                       help="POST the Feishu sandbox's events to this URL "
                                                            "(`muster serve`'s /events/feishu)")) -> None:
    """Serve every service's sandbox (chat, form and meeting services) on 127.0.0.1 until interrupted."""
    from flows.sandbox_serve import serve_sandboxes

    serve_sandboxes(console, port=port, info=info, people=people, seed=seed, fault_rate=fault_rate,
                    fault_seed=fault_seed, events_to=events_to)


@app.command()
def init(folder: Path = typer.Option(Path("."), "--dir"),
         sandbox_info: Path | None = typer.Option(None, "--sandbox-info",
                                                  help="fill in the sandboxes of `muster sandbox serve --info`"),
         force: bool = typer.Option(False, "--force", help="overwrite existing files")) -> None:
    """Write a commented muster.yaml and policy.yaml to start from."""
    from flows.init import write_skeleton

    for line in write_skeleton(folder, sandbox_info=sandbox_info, force=force):
        console.print(line, soft_wrap=True, highlight=False)


# --- the sync steps ------------------------------------------------------------------


@app.command()
def pull(config: Path | None = ConfigOption) -> None:
    """Read every service and save what it reports (nothing is changed)."""
    import state
    from flows.run import pull_all

    ws = _workspace(config)
    run_id = state.start_run(ws.db, "pull", actor=ws.actor)
    observed = pull_all(ws, run_id)
    for service, obs in observed.items():
        if obs.complete:
            console.print(f"{service}: {len(obs.accounts)} accounts, {len(obs.groups)} groups, "
                          f"{sum(len(m) for m in obs.members.values())} chat/tag members")
        else:
            console.print(f"[red]{service}: read failed[/]: {obs.error}")
    ok = all(o.complete for o in observed.values())
    state.finish_run(ws.db, run_id, "ok" if ok else "partial", {s: o.complete for s, o in observed.items()})
    raise typer.Exit(0 if ok else 1)


def _plan(ws, kind: str, allow_removals: bool):
    import state
    from flows.run import pull_all
    from flows.steps import plan_all

    run_id = state.start_run(ws.db, kind, actor=ws.actor, params={"allow_removals": allow_removals})
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=allow_removals)
    state.save_plan(ws.db, result.plan, run_id)
    return run_id, result


@app.command()
def plan(config: Path | None = ConfigOption,
         out: Path | None = typer.Option(None, "--out", help="save the plan as JSON for `muster apply`"),
         allow_removals: bool = typer.Option(False, "--allow-removals", help="approve removal waves")) -> None:
    """Show what a sync would change. Exit 0: nothing to do; 2: changes or held removals pending; 1: error."""
    import state
    from flows.report import render_plan

    ws = _workspace(config)
    run_id, result = _plan(ws, "plan", allow_removals)
    render_plan(console, result.plan)
    if out:
        out.write_text(json.dumps({"muster_plan": 1, "allow_removals": allow_removals,
                                   "plan": result.plan.model_dump(mode="json")}, ensure_ascii=False, indent=1),
                       encoding="utf-8")
        console.print(f"saved plan {result.plan.id} to {out}")
    unread = {s: o.error for s, o in result.observed.items() if not o.complete}
    state.finish_run(ws.db, run_id, "partial" if unread else "ok",
                     {"plan_id": result.plan.id, "changes": len(result.plan.changes), "unread": unread})
    for service, error in unread.items():
        err.print(f"[red]error:[/] {service} could not be read: {error}", highlight=False)
    raise typer.Exit(1 if unread else 2 if result.plan.pending else 0)


@app.command()
def apply(plan_file: Path | None = typer.Argument(None, help="a plan saved by `muster plan --out`"),
          config: Path | None = ConfigOption,
          allow_removals: bool = typer.Option(False, "--allow-removals", help="approve removal waves"),
          yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
          wait: float = WaitOption) -> None:
    """Apply a saved plan exactly (refusing a stale one), or re-plan, show it and apply it."""
    from flows.apply_cmd import apply_command

    ws = _workspace(config)
    status = apply_command(console, ws, plan_file, allow_removals=allow_removals, yes=yes, wait=wait)
    raise typer.Exit(0 if status in ("ok", "nochange") else 1)


@app.command()
def sync(config: Path | None = ConfigOption,
         allow_removals: bool = typer.Option(False, "--allow-removals", help="approve removal waves"),
         wait: float = WaitOption) -> None:
    """Run the sync flow: pull → resolve → plan → apply → report."""
    from flows.demo_run import run_flow
    from flows.locking import coalition_lock

    ws = _workspace(config)
    with coalition_lock(ws, "sync", wait=wait):  # taken here so a refusal is one line; the flow re-enters it
        summary = run_flow(console, ws, allow_removals=allow_removals)
    raise typer.Exit(0 if summary["status"] == "ok" else 1)


@app.command()
def status(config: Path | None = ConfigOption, limit: int = typer.Option(10, "--limit")) -> None:
    """Show the last runs."""

    import state

    ws = _workspace(config)
    console.print("[bold]Last runs[/] (newest first)")
    for run in state.last_runs(ws.db, limit):
        summary = run.get("summary") or {}
        started = str(run.get("started_at", ""))[:16].replace("T", " ")
        console.print(f"{run['id']}  {run['kind']:<6} {run.get('status') or '':<8} "
                      f"{summary.get('changes', '-')!s:>5} changes {summary.get('write_calls', '-')!s:>5} writes  "
                      f"{started} UTC  {run.get('actor') or ''}", highlight=False, soft_wrap=True)
    reviews = state.open_reviews(ws.db)
    if reviews:
        console.print(f"{len(reviews)} account(s) await review: `muster review`")
    from flows.quarantine import health_lines

    for line in health_lines(ws):  # paused services, and those failing run after run
        console.print(line, style="yellow", markup=False, highlight=False, soft_wrap=True)


@app.command()
def serve(config: Path | None = ConfigOption,
          host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (put a TLS proxy in front)"),
          port: int = typer.Option(8800, "--port", min=0, max=65535)) -> None:
    """Receive form pushes (Jinshuju, Wenjuanxing) and Feishu events, until interrupted; onboard the pushes."""
    from flows.forms import onboarding_trigger
    from flows.serve_cmd import serve_receiver

    ws = _workspace(config)
    trigger, how, stop = onboarding_trigger(ws)
    console.print(f"onboarding: {how}", highlight=False)
    try:
        serve_receiver(ws, host=host, port=port, console=console, on_item=trigger)
    finally:
        stop()


# --- roster --------------------------------------------------------------------------

ReaderOption = typer.Option(None, "--as", help="the reader, by person id or email (default: MUSTER_ACTOR); "
                                              "contacts in full only for a tier under privacy.see_contacts")


def _masker(ws, reader: str | None):
    """The Masker for ``reader`` (``--as``), else ``MUSTER_ACTOR``, matched to the roster."""
    import state
    from mappings.privacy import Masker, reader_for

    return Masker(ws.policy, reader_for(state.list_people(ws.db), reader or _settings().actor))



@roster_app.command("list")
def roster_list(config: Path | None = ConfigOption,
                status_: str | None = typer.Option(None, "--status", help="active, applicant, leaving, left"),
                reader: str | None = ReaderOption) -> None:
    """List people (mobiles masked unless the reader's tier may see contacts)."""
    from rich.table import Table

    import state

    ws = _workspace(config)
    masker = _masker(ws, reader)
    table = Table(title_justify="left")
    for name in ("id", "name", "mobile", "team", "tier", "roles", "status"):
        table.add_column(name)
    people = state.list_people(ws.db, status=status_)
    for p in people:
        table.add_row(p.id, p.name, masker.mobile(p.mobile), p.team or "", p.tier or "",
                      ",".join(r.role for r in p.roles), p.status)
    console.print(table)
    console.print(f"{len(people)} people; {masker.describe()}", highlight=False, soft_wrap=True)


@roster_app.command("show")
def roster_show(person_id: str, config: Path | None = ConfigOption, reader: str | None = ReaderOption) -> None:
    """Show one person, their accounts and roles (contacts masked unless the reader's tier may see them)."""
    import state

    ws = _workspace(config)
    try:
        p = state.get_person(ws.db, person_id)
    except KeyError:
        raise UserError(f"no person {person_id!r} in the roster") from None
    masker = _masker(ws, reader)
    console.print(f"[bold]{p.id} {p.name}[/] ({p.status}) team {p.team or '-'}, tier {p.tier or '-'}")
    console.print(f"mobile {masker.mobile(p.mobile) or '-'}  email {masker.email(p.email) or '-'}", highlight=False,
                  soft_wrap=True, markup=False)
    for r in p.roles:
        console.print(f"role {r.role} {r.start or ''}–{r.end or ''}")
    for service in ws.services:
        for ext, ident in state.identities_for(ws.db, service).items():
            if ident.person_id == p.id:
                console.print(f"{service} account {ext} (linked by {ident.matched_by})")


@roster_app.command("import")
def roster_import(file: Path, config: Path | None = ConfigOption) -> None:
    """Import people from CSV or XLSX (all rows or none)."""
    from flows.roster_io import import_roster

    ws = _workspace(config)
    report = import_roster(ws.db, file, ws.policy)
    console.print(f"imported {report.rows} rows: {report.created} new, {report.updated} updated, "
                  f"{len(report.merged)} duplicate rows merged")
    for line in report.merged:
        console.print(f"  {line}")


@roster_app.command("export")
def roster_export(file: Path, config: Path | None = ConfigOption) -> None:
    """Export people to CSV or XLSX (by the file's suffix)."""
    from flows.roster_io import export_roster

    ws = _workspace(config)
    console.print(f"exported {export_roster(ws.db, file)} people to {file}")


# --- entry point ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the command line, turning user errors into one line and exit 1."""
    from flows._env import prepare

    settings = _settings()
    prepare(settings.prefect_home, log_level=settings.log_level)
    try:
        code = app(args=argv, standalone_mode=False, prog_name="muster")
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - sorted into user errors and bugs below
        _fail(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(exc: Exception) -> None:
    import click

    from config._yaml import ConfigError
    from connectors import HubError
    from flows.locking import Busy
    from flows.roster_io import RosterImportError
    from state import StateError

    usage, clicks = _click_errors(click)
    if isinstance(exc, usage):
        exc.show()
        sys.exit(exc.exit_code)
    if isinstance(exc, clicks):
        exc.show()
        sys.exit(1)
    if isinstance(exc, (UserError, ConfigError, RosterImportError, StateError, HubError, Busy)):
        err.print(f"[red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(1)
    raise exc


def _click_errors(click) -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Usage and other click errors, from click and from the copy of click newer typer releases carry."""
    usage, clicks = [click.exceptions.UsageError], [click.ClickException]
    try:
        from typer._click import exceptions as vendored
    except ImportError:  # typer releases that use click itself
        return tuple(usage), tuple(clicks)
    return (*usage, vendored.UsageError), (*clicks, vendored.ClickException)


if __name__ == "__main__":  # pragma: no cover
    main()

# the people commands (inbox, forms, offboard, tasks) register themselves on `app`
import flows.cli_audit  # noqa: E402,F401  (audit: list, verify the hash chain)
import flows.cli_deploy  # noqa: E402,F401  (`muster deploy`: Prefect deployments per coalition)
import flows.cli_drift  # noqa: E402,F401  (drift: list, adopt, revert, serve)
import flows.cli_hours  # noqa: E402,F401  (training and hours commands)
import flows.cli_register  # noqa: E402,F401  (the permission register)
import flows.cli_review  # noqa: E402,F401  (`muster review`: identity links and access reviews)
from flows import cli_people  # noqa: E402,F401

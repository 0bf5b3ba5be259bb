"""``muster drift``: list what nobody planned (exit 2 when there is any), and settle it by id."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer

from flows.cli import ConfigOption, UserError, _workspace, app, console

drift_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                        help="Differences nobody planned: list (exit 2 if any), adopt, revert, schedule.")
app.add_typer(drift_app, name="drift")

FORMATS = ("text", "html", "md", "json")


def _print(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True, markup=False)


def _errors(call, *args, **kw):
    from flows.drift import DriftError

    try:
        return call(*args, **kw)
    except DriftError as exc:
        raise UserError(str(exc)) from None


@drift_app.callback()
def drift(ctx: typer.Context, config: Path | None = ConfigOption,
          fmt: str = typer.Option("text", "--format", help="text, html, md or json"),
          out: Path | None = typer.Option(None, "--out", help="file for html/md/json (default: the reports folder)"),
          reader: str | None = typer.Option(None, "--as", help="person id or email of the reader (masking)")) -> None:
    """Read every service and list the drift; exit 0 none, 2 drift, 1 a service could not be read."""
    if ctx.invoked_subcommand is not None:
        return
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    from flows import drift as d

    ws = _workspace(config)
    report = d.check_drift(ws)
    masker = _masker(ws, reader)
    _show(report, masker)
    if fmt != "text":
        path = out or ws.reports / f"drift-{report.run_id}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = (d.html(report, masker, ws.coalition) if fmt == "html" else d.markdown(report, masker) if fmt == "md"
                else json.dumps({**report.summary(), "items": report.items}, ensure_ascii=False, indent=1,
                                default=str))
        path.write_text(body, encoding="utf-8")
        _print(f"report written to {path}")
    raise typer.Exit(report.exit_code)


def _masker(ws, reader: str | None):
    import state
    from config.settings import Settings
    from mappings.privacy import Masker, reader_for

    return Masker(ws.policy, reader_for(state.list_people(ws.db), reader or Settings().actor))


def _show(report, masker) -> None:
    from flows.drift import drift_rows

    for service, error in sorted(report.unreadable.items()):
        _print(f"{service}: could not be read, so its drift is unknown: {error}")
    for service in report.started:
        _print(f"{service}: never synced; drift is measured from this read on")
    if not report.items:
        _print("No drift: every service matches what Muster last left there or plans to do.")
    else:
        _print(f"{len(report.items)} drift item(s):")
        for row in drift_rows(report.items, masker):
            ident, service, what, resource, member, levels, made_by, since = row
            where = f" on {resource}" if resource else ""
            _print(f"  {ident}  {service}  {what}: {member}{where} [{levels}] made by {made_by}, since {since}")
        _print("Settle each with `muster drift adopt ID --reason ...` or `muster drift revert ID --reason ...`.")
    pending = sum(report.pending.values())
    if pending:
        _print(f"{pending} planned change(s) wait for the next sync (roster or policy changes, not drift).")


@drift_app.command("adopt")
def drift_adopt(item_id: str, reason: str = typer.Option(..., "--reason", help="why (kept in the audit log)"),
                person: str | None = typer.Option(None, "--person", help="for an account: link it to this person"),
                config: Path | None = ConfigOption) -> None:
    """Take a drift item into the roster or policy (nothing changes in the service)."""
    from flows.drift import adopt

    ws = _workspace(config)
    _print(f"{item_id}: {_errors(adopt, ws, item_id, reason=reason, person_id=person)}")


@drift_app.command("revert")
def drift_revert(item_id: str, reason: str = typer.Option(..., "--reason", help="why (kept in the audit log)"),
                 allow_removals: bool = typer.Option(False, "--allow-removals", help="approve a held removal"),
                 config: Path | None = ConfigOption) -> None:
    """Put a drift item back to what the roster and policy say, through the plan and its guards."""
    from flows.drift import revert

    ws = _workspace(config)
    outcome, done = _errors(revert, ws, item_id, reason=reason, allow_removals=allow_removals, today=date.today())
    if outcome == "reverted":
        _print(f"{item_id}: reverted")
        return
    if outcome == "gone":
        _print(f"{item_id}: the service already matches; nothing to revert")
        return
    for refusal in getattr(done, "refused", []):
        _print(f"{item_id}: {refusal.reason}")
    for change, error in getattr(done, "failed", []):
        _print(f"{item_id}: {change.label or change.object_id}: {error}")
    raise typer.Exit(1)


@drift_app.command("serve")
def drift_serve(cron: str = typer.Option("0 * * * *", "--cron", help="when to check (cron, Asia/Shanghai)"),
                config: Path | None = ConfigOption) -> None:
    """Run the drift audit as a scheduled Prefect flow until interrupted (each run publishes an artifact)."""
    from config.settings import Settings
    from flows.drift_flow import serve_drift

    path = (config or Settings().config).resolve()
    if not path.exists():
        raise UserError(f"{path}: no such config file (run `muster init` to write one, or pass --config)")
    serve_drift(str(path), cron=cron)


__all__ = ["drift_app"]

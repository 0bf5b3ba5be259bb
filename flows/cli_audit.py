"""``muster audit``: list the audit log, and ``muster audit verify`` its hash chain.

The log (state/audit.py) chains every entry to the previous one's hash; ``verify`` walks
the chain and names the first entry that no longer fits (edited, deleted or reordered).
The listing shows what was done, by whom and why, one line per entry; an entry's
``detail`` (before/after values, which may hold contacts) is not printed.
"""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli import ConfigOption, _workspace, app, console, err

audit_app = typer.Typer(no_args_is_help=False, invoke_without_command=True,
                        help="The audit log: list entries, or `verify` its hash chain (exit 1 if broken).")
app.add_typer(audit_app, name="audit")


def _print(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True, markup=False)


@audit_app.callback()
def audit(ctx: typer.Context, config: Path | None = ConfigOption,
          run: str | None = typer.Option(None, "--run", help="only the entries of this run id"),
          limit: int = typer.Option(50, "--limit", min=0, help="the newest N entries (0: all)")) -> None:
    """List audit entries, oldest first: seq, time, run, actor, action, service, target, object, reason."""
    if ctx.invoked_subcommand is not None:
        return
    import state

    ws = _workspace(config)
    entries = state.audit_entries(ws.db, run_id=run, limit=limit or None)
    if not entries:
        _print(f"no audit entries{f' for run {run}' if run else ''}")
        return
    for e in entries:
        at = str(e.get("at") or "")[:19].replace("T", " ")
        where = " ".join(x for x in (e.get("service"), e.get("target"), e.get("object_id")) if x)
        approved = f" (approved by {e['approved_by']})" if e.get("approved_by") else ""
        reason = f": {e['reason']}" if e.get("reason") else ""
        _print(f"{e['seq']:>6}  {at}  {e.get('run_id') or '-'}  {e.get('actor') or ''}  {e['action']}"
               f"  {where}{reason}{approved}")


@audit_app.command("verify")
def audit_verify(config: Path | None = ConfigOption) -> None:
    """Check the hash chain of the whole audit log: exit 0 intact, 1 broken (naming the first bad entry)."""
    from state.audit import head, verify

    ws = _workspace(config)
    bad = verify(ws.db)
    last, digest = head(ws.db)
    if bad is None:
        _print(f"audit log intact: {last} entr{'y' if last == 1 else 'ies'}, head {digest[:16]}")
        return
    err.print(f"[red]error:[/] audit log broken at seq {bad}: that entry was edited, deleted or reordered "
              f"(entries from seq {bad} on can no longer be trusted). Keep the database file as evidence, "
              "restore it from a backup, and compare the two from that entry on.",
              markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(1)

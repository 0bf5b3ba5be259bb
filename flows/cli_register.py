"""``muster register``: who holds what in every service and why, as HTML, XLSX or CSV."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli import ConfigOption, UserError, _workspace, app, console


@app.command("register")
def register(
    fmt: str = typer.Option("html", "--format", help="html (one searchable page), xlsx or csv"),
    out: Path | None = typer.Option(None, "--out", help="file to write (default: <reports>/register-<date>.<ext>)"),
    since: str | None = typer.Option(None, "--since", help="also show what changed since this run id"),
    as_: str | None = typer.Option(None, "--as", help="the reader, by person id or email (default: MUSTER_ACTOR); "
                                                      "contacts show in full only to a privacy.see_contacts tier"),
    config: Path | None = ConfigOption,
) -> None:
    """Write the permission register: every resource's members and why, and everything each person reaches."""
    from flows.register import FORMATS, RegisterError, write_register

    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    ws = _workspace(config)
    try:
        done = write_register(ws, fmt=fmt, out=out, since=since, reader=as_)
    except RegisterError as exc:
        raise UserError(str(exc)) from None
    for note in done.notes:
        _print(f"note: {note}")
    reg = done.register
    per_service = ", ".join(f"{s} {len(reg.for_service(s))}" for s in reg.services)
    _print(f"register: {len(reg.rows)} grant(s) ({per_service}); {len(reg.people)} people; {done.masker.describe()}")
    if done.changes is not None:
        c = done.changes
        _print(f"since {since}: {len(c.added)} added, {len(c.removed)} removed, {len(c.changed)} level changed")
    for path in done.paths:
        _print(f"wrote {path}")


def _print(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True, markup=False)

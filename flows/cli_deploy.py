"""``muster deploy``: register a coalition's sync, onboard, drift and hours deployments on a Prefect server."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli import ConfigOption, UserError, _settings, app, console


def _print(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True, markup=False)


@app.command()
def deploy(config: Path | None = ConfigOption,
           pool: str = typer.Option("muster", "--pool", help="process work pool (created if missing)"),
           coalition: str | None = typer.Option(None, "--coalition",
                                                help="name used in deployment names (default: from the config)")
           ) -> None:
    """Register this coalition's deployments (sync, onboard, drift, hours) on the server at PREFECT_API_URL."""
    from flows.deploy import DeployError, deploy_coalition

    path = config or _settings().config
    if not path.exists():
        raise UserError(f"{path}: no such config file (run `muster init` to write one, or pass --config)")
    try:
        done = deploy_coalition(path, pool=pool, coalition=coalition)
    except DeployError as exc:
        raise UserError(str(exc)) from None
    for item in done.created:
        _print(f"created {item}")
    for name in done.deployments:
        _print(f"deployed {name}")
    _print(f"coalition {done.coalition}: config {done.config}, work queue {done.pool}/{done.queue}, "
           f"at most one run at a time (concurrency limit {done.limit})")
    _print(f"next, on the machine that holds {done.config.parent}: prefect worker start -p {done.pool} "
           f"-q {done.queue}   (with the config's secret env vars set)")

"""Quarantine: a service that fails three runs in a row is paused, probed each run, resumed when it answers.

``gate`` is asked before a service is read (``flows.steps.pull_service``, which every pull
of sync, plan, apply, drift, settle, onboarding and offboarding goes through): for a paused
service it makes the connector's light ``check()`` — once per run — and either resumes the
service (the read goes ahead) or says why it is skipped. A skipped service reads as
incomplete, so the planner plans nothing for it: no removals, nothing written.
``note_read`` and ``note_apply`` count what each run did for a service (``state.health``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import state
from connectors import ConnectorError
from flows.workspace import Workspace
from state.health import PAUSE_AFTER

if TYPE_CHECKING:
    from flows.apply import Outcome
    from mappings.models import Observed

PAUSED = "paused since"  # how a skipped service's read error begins


def gate(ws: Workspace, service: str, run_id: str) -> str | None:
    """None if ``service`` may be read in this run; else why it is skipped (paused, and the probe failed)."""
    with ws.lock:
        row = state.get_health(ws.db, service)
    if not row or not row["paused_at"]:
        return None
    if row["probe_run"] == run_id and row["probe_error"]:
        return paused_message(row)  # probed already in this run (a run may read a service more than once)
    error = probe(ws, service)
    with ws.lock:
        row = state.record_probe(ws.db, service, run_id=run_id, error=error, actor=ws.actor)
    return None if error is None else paused_message(row)


def probe(ws: Workspace, service: str) -> str | None:
    """Ask the connector's light ``check()``: None if the service answers, else the error."""
    try:
        runner = ws.connector(service)
        try:
            runner.check()
        finally:
            runner.close()
    except ConnectorError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a missing secret or a bad URL is a failing probe too
        return f"{type(exc).__name__}: {exc}"
    return None


def paused_message(row: dict) -> str:
    """'paused since … after 3 failing runs: <last error>; probing each run'."""
    since = str(row["paused_at"])[:16].replace("T", " ")
    return (f"{PAUSED} {since} UTC after {row['failures']} failing runs: {row['last_error']}; "
            "probing each run")


def is_paused(error: str | None) -> bool:
    """Whether a read's error says the service was skipped because it is paused."""
    return bool(error) and error.startswith(PAUSED)


def note_read(ws: Workspace, obs: Observed, run_id: str) -> None:
    """Count a read: an incomplete one is a failing run for the service (a skipped one is not counted)."""
    if is_paused(obs.error):
        return
    with ws.lock:
        if obs.complete:
            state.record_success(ws.db, obs.service, run_id=run_id, kind="read")
        else:
            state.record_failure(ws.db, obs.service, run_id=run_id, error=obs.error or "read incomplete",
                                 kind="read", actor=ws.actor, pause_after=PAUSE_AFTER)


def note_apply(ws: Workspace, outcome: Outcome, run_id: str) -> None:
    """Count an apply: a service-level error (``Outcome.error``) is a failing run, else the streak clears."""
    with ws.lock:
        if outcome.error:
            state.record_failure(ws.db, outcome.service, run_id=run_id, error=outcome.error, kind="apply",
                                 actor=ws.actor, pause_after=PAUSE_AFTER)
        else:
            state.record_success(ws.db, outcome.service, run_id=run_id, kind="apply")


def note_run(ws: Workspace, run_id: str, observed: dict[str, Observed], outcomes: dict[str, Outcome]) -> None:
    """At the end of a sync or apply: each service read completely counts its apply (none needed is fine)."""
    from flows.apply import Outcome

    for service, obs in observed.items():
        if obs.complete:
            note_apply(ws, outcomes.get(service) or Outcome(service), run_id)


def health_lines(ws: Workspace) -> list[str]:
    """For ``muster status``: paused services, and services with failing runs in a row."""
    with ws.lock:
        rows = state.service_health(ws.db)
    lines = []
    for row in rows:
        if row["paused_at"]:
            probed = str(row["probed_at"] or "")[:16].replace("T", " ")
            last = f" (last probe {probed} UTC: {row['probe_error']})" if row["probe_error"] else ""
            lines.append(f"{row['service']}: {paused_message(row)}{last}")
        elif row["failures"]:
            lines.append(f"{row['service']}: {row['failures']} failing run(s) in a row "
                         f"(paused at {PAUSE_AFTER}): {row['last_error']}")
    return lines


__all__ = ["gate", "health_lines", "is_paused", "note_apply", "note_read", "note_run", "paused_message", "probe"]

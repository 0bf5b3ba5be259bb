"""Form intake without a public URL: polling Jinshuju's API and importing exports.

Most coalitions have no public URL for pushes, so ``muster forms poll`` reads the same
entries through Jinshuju's API v1 — each page is stored in the inbox in the same
transaction as the cursor that follows it, so a crash never skips or repeats a page —
and ``muster forms import FILE --form NAME`` takes any form service's Excel or CSV export
(Wenjuan.com, Lingxi, Shimo forms …). Both land in the same inbox as pushes, with the same
(form, serial) de-duplication, and the inbox is then onboarded in batches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import state
from flows.locking import coalition_lock
from flows.onboard import BatchResult, form_spec, onboard_batch
from flows.roster_io import RosterImportError, read_table
from flows.workspace import Workspace
from mappings.forms import read_entry
from mappings.models import FormEntry

SERIAL_COLUMNS = ("serial", "serial_number", "序号", "编号", "提交序号", "答卷编号")


@dataclass
class Intake:
    """What one intake stored: new, updated and unchanged entries."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    pages: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


ONBOARD_WAIT = 600.0  # seconds onboarding waits for a sync of the coalition to finish before giving up


def process_inbox(ws: Workspace, run_id: str, *, batch: int = 100, wait: float | None = ONBOARD_WAIT
                  ) -> list[BatchResult]:
    """Onboard every received item, a batch at a time, until none is left.

    Holds the coalition's lock (``flows.locking``) so its applies never interleave with a sync's;
    items are claimed only once it is held, so a ``Busy`` leaves them pending for the next try.
    """
    with coalition_lock(ws, "onboard", wait=wait):
        return _process_inbox(ws, run_id, batch)


def _process_inbox(ws: Workspace, run_id: str, batch: int) -> list[BatchResult]:
    results = []
    with ws.lock:  # under the coalition's lock an item still claimed was left by a process that died
        state.release_orphans(ws.db)
    while True:
        with ws.lock:
            items = state.claim_pending(ws.db, batch)
        if not items:
            return results
        try:
            results.append(onboard_batch(ws, items, run_id))
        except Exception as exc:  # noqa: BLE001 - the batch's items must not stay claimed for ever
            with ws.lock:
                for item in items:
                    state.set_item_status(ws.db, item["id"], "failed", error=f"{type(exc).__name__}: {exc}")
            raise


def poll(ws: Workspace, name: str, *, connector=None) -> Intake:
    """Read new entries of a Jinshuju form through API v1 into the inbox, page by page."""
    conn = ws.forms.get(name)
    if conn is None or conn.service != "jinshuju" or not conn.api_key:
        raise KeyError(f"form {name!r} is not a Jinshuju form with api_key/api_secret in the config")
    connector = connector or _jinshuju(conn)
    out = Intake()
    stream = f"entries:{conn.form}"
    try:
        with ws.lock:
            after = state.get_cursor(ws.db, "jinshuju", stream)
        title = connector.get_form(conn.form).get("name", "")  # listings omit it; pushes carry it
        for entries, cursor in connector.list_entries(conn.form, after=after):
            with ws.lock, ws.db.atomic():
                for entry in (e.model_copy(update={"form_name": title}) for e in entries):
                    out.count(state.receive(ws.db, form=name, entry=entry, payload=entry.model_dump(mode="json"))[1])
                if cursor:
                    state.set_cursor(ws.db, "jinshuju", stream, cursor)
            out.pages += 1
    finally:
        connector.close()
    return out


def _jinshuju(conn):
    from connectors import form_connector_class

    return form_connector_class("jinshuju")(base_url=conn.base_url, api_key=conn.api_key,
                                            api_secret=conn.api_secret.resolve())


def import_file(ws: Workspace, path: Path, name: str) -> Intake:
    """Store every row of an export as an entry of form ``name``; all rows or none."""
    spec = form_spec(ws, name)
    rows, out, entries = read_table(Path(path)), Intake(), []
    for number, row in rows:
        answers = dict(row)
        serial = next((answers.pop(c) for c in SERIAL_COLUMNS if answers.get(c)), None)
        entry = FormEntry(service="file", form=name, serial=serial or f"row-{number}", answers=answers)
        problems = read_entry(entry, spec).errors
        out.errors += [f"row {number}: {p}" for p in problems]
        if not serial:  # no serial column: the mobile identifies a re-imported row
            signup = read_entry(entry, spec)
            entry = entry.model_copy(update={"serial": signup.mobile or signup.email or f"row-{number}"})
        entries.append(entry)
    if out.errors:
        raise RosterImportError(Path(path), out.errors)
    with ws.lock, ws.db.atomic():
        for entry in entries:
            out.count(state.receive(ws.db, form=name, entry=entry, payload=entry.answers)[1])
    return out


class Onboarder:
    """A background worker that onboards the inbox whenever ``notify`` is called (one at a time)."""

    def __init__(self, ws: Workspace, run_id_factory):
        self.ws, self._run_id = ws, run_id_factory
        self._wake, self._stop = threading.Event(), threading.Event()
        self.batches: list[BatchResult] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="onboarder", daemon=True)
        self._thread.start()

    def notify(self, item_id: int | None = None) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    QUIET, PATIENCE = 0.2, 0.5  # seconds: let a burst land, so one batch (one pull) takes it all

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            waited = 0.0
            while waited < self.PATIENCE and self._wake.wait(self.QUIET) and not self._stop.is_set():
                self._wake.clear()
                waited += self.QUIET
            if self._stop.is_set():
                return
            try:
                self.batches += process_inbox(self.ws, self._run_id())
            except Exception as exc:  # noqa: BLE001 - keep serving; the items stay visible in the inbox
                self.errors.append(f"{type(exc).__name__}: {exc}")


def onboarding_trigger(ws: Workspace) -> tuple[Callable[[int], None], str, Callable[[], None]]:
    """What the receiver calls per stored push, a sentence saying which it is, and how to stop it.

    With a Prefect server (``PREFECT_API_URL``) that has the ``onboard`` deployment, each
    push starts a flow run of it; otherwise a worker thread in this process onboards the
    inbox in batches.
    """
    deployment = _onboard_deployment(ws)
    if deployment:
        return (_start_deployment(deployment), f"Prefect deployment {deployment} (one flow run per push)",
                lambda: None)
    worker = Onboarder(ws, lambda: _run_id(ws))
    return worker.notify, "in this process, in batches (no Prefect onboard deployment found)", worker.stop


def _run_id(ws: Workspace) -> str:
    with ws.lock:
        return state.start_run(ws.db, "onboard", actor=ws.actor)


def _onboard_deployment(ws: Workspace) -> str | None:
    """This coalition's onboard deployment (``muster deploy`` gives it the config's absolute path), if any."""
    import os
    from pathlib import Path

    config = getattr(ws, "config_file", None)
    if not os.environ.get("PREFECT_API_URL") or config is None:
        return None
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName

        with get_client(sync_client=True) as client:
            found = client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=["onboard"])))
    except Exception:  # noqa: BLE001 - no server: onboard in-process
        return None
    mine = str(Path(config).resolve())
    return next((f"onboard/{d.name}" for d in found if (d.parameters or {}).get("workspace") == mine), None)


def _start_deployment(name: str) -> Callable[[int], None]:
    def start(item_id: int) -> None:
        from prefect.deployments import run_deployment

        run_deployment(name, parameters={"item_id": item_id}, timeout=0)

    return start


__all__ = ["Intake", "Onboarder", "import_file", "onboarding_trigger", "poll", "process_inbox"]

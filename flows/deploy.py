"""``muster deploy``: register one coalition's deployments (sync, onboard, drift, hours) on a Prefect server.

The deployments are the ones ``prefect.yaml`` defines (entrypoint, description, schedule); each
coalition gets its own copy, named ``<name>-<slug>`` (``sync-youth-league``), with the absolute
path of its ``muster.yaml`` as the ``workspace`` parameter, on the work queue ``<slug>`` of the
process work pool (``muster``) so its runs can be kept on the machine that holds its SQLite file.

One writer per coalition. The four deployments share one global concurrency limit,
``muster-<slug>``, of 1. Why this mechanism (read in Prefect 3.8.8's server source):

- a deployment's own ``concurrency_limit`` is a limit named ``deployment:<id>``: it only stops
  two runs of the *same* deployment; a sync and an onboard would still overlap;
- tag concurrency limits are checked for task runs only (``SecureTaskConcurrencySlots``), never
  for flow runs;
- a work queue's ``concurrency_limit`` is applied when a worker polls, not when a run starts, so
  two workers polling at once can start two runs;
- but a deployment may point at any existing global limit (``global_concurrency_limit_id``), and
  the server's ``SecureFlowConcurrencySlots`` rule takes a slot of that limit, in one
  transaction, when a run goes Scheduled → Pending (before the worker starts a process). A run
  that finds the slot taken goes back to Scheduled ("AwaitingConcurrencySlot") and is retried;
  the slot is freed when the run ends, or when its lease lapses because its worker died.

The Python client cannot set ``global_concurrency_limit_id``, so it is set with one PATCH per
deployment after ``deploy()``. Deployments are registered with ``concurrency_limit=1``: the
server keeps a deployment's global limit when the limit it is sent equals the current one,
whereas ``None`` would *delete* the shared limit (``_create_or_update_deployment_concurrency_limit``),
so re-running ``muster deploy`` (or ``prefect deploy``) leaves the sharing in place.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from config.tenant import load_config

PROJECT = Path(__file__).resolve().parents[1]  # the folder holding flows/, state/ …: the workers' working dir
SPEC = PROJECT / "prefect.yaml"
POOL = "muster"
KINDS = ("sync", "onboard", "drift", "hours")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


class DeployError(Exception):
    """A problem the user can fix: no Prefect server, an unusable pool or coalition name."""


@dataclass(frozen=True)
class Spec:
    """One deployment of ``prefect.yaml``: what runs, when, and what it is for."""

    name: str
    entrypoint: str
    description: str = ""
    schedules: tuple[tuple[str, str], ...] = ()  # (cron, timezone)


@dataclass
class Deployed:
    """What ``deploy_coalition`` registered."""

    coalition: str  # the slug
    pool: str
    queue: str
    limit: str
    config: Path
    deployments: list[str] = field(default_factory=list)  # "<flow>/<deployment>"
    created: list[str] = field(default_factory=list)  # pool, queue, limit: what did not exist before


def specs(path: Path = SPEC) -> list[Spec]:
    """The deployments ``prefect.yaml`` defines, in its order."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return [Spec(name=d["name"], entrypoint=d["entrypoint"], description=d.get("description", ""),
                 schedules=tuple((s["cron"], s.get("timezone", "Asia/Shanghai")) for s in d.get("schedules") or []))
            for d in doc.get("deployments") or []]


def slug(name: str) -> str:
    """A coalition's name as lower-case ASCII with dashes; names with no Latin letters get a stable hash."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:32].strip("-")
    if len(text) < 3:  # 青年志愿者协会 → c-<hash>: stable, and distinct per name
        text = "c-" + hashlib.sha256(name.strip().encode()).hexdigest()[:8]
    return text


def deployment_name(kind: str, coalition_slug: str) -> str:
    """The name of a coalition's deployment of flow ``kind``: ``sync-<slug>``."""
    return f"{kind}-{coalition_slug}"


def limit_name(coalition_slug: str) -> str:
    """The global concurrency limit a coalition's deployments share."""
    return f"muster-{coalition_slug}"


def api_url() -> str | None:
    """The Prefect server this process talks to (``PREFECT_API_URL``, env or profile), or None."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def deploy_coalition(config: Path, *, pool: str = POOL, coalition: str | None = None,
                     project: Path = PROJECT, spec: Path = SPEC) -> Deployed:
    """Register the coalition's four deployments, creating the pool, its queue and the shared limit if missing."""
    url = api_url()
    if not url:
        raise DeployError("PREFECT_API_URL is not set: deployments need a running Prefect server (`prefect server "
                          "start`, then export PREFECT_API_URL=http://127.0.0.1:4200/api); the embedded server "
                          "muster uses on its own cannot host them")
    config = Path(config).resolve()
    cfg = load_config(config)  # ConfigError names file, line and field
    name = coalition or slug(cfg.coalition)
    if not SLUG.fullmatch(name):
        raise DeployError(f"--coalition {name!r}: use 1-40 lower-case letters, digits and dashes")
    out = Deployed(coalition=name, pool=pool, queue=name, limit=limit_name(name), config=config)
    from prefect.exceptions import PrefectHTTPStatusError

    try:
        return _register(out, url, specs(spec), project)
    except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
        raise DeployError(f"the Prefect server at {url} failed a request while deploying {name}: {exc}") from None


def _register(out: Deployed, url: str, wanted: list[Spec], project: Path) -> Deployed:
    with _client(url) as client:
        out.created += _ensure_pool(client, out.pool)
        out.created += _ensure_queue(client, out.pool, out.queue)
        limit_id = _ensure_limit(client, out.limit, out.created)
    ids = [_deploy(s, out, project) for s in wanted]
    with _client(url) as client:
        for deployment_id in ids:
            _share_limit(client, deployment_id, limit_id)
            found = client.read_deployment(deployment_id)
            out.deployments.append(f"{_flow_name(client, found.flow_id)}/{found.name}")
    return out


@contextmanager
def _client(url: str) -> Iterator[Any]:
    """A sync Prefect client for a server that answers its health check."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
        if problem is not None:
            raise DeployError(f"cannot reach the Prefect server at {url} (PREFECT_API_URL): {problem}")
        yield client


def _ensure_pool(client, pool: str) -> list[str]:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        found = client.read_work_pool(pool)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process",
                                               base_job_template=ProcessWorker.get_default_base_job_template(),
                                               description="Muster's flows, run as local processes"))
        return [f"work pool {pool}"]
    if found.type != "process":
        raise DeployError(f"--pool {pool}: that work pool has type {found.type!r}; muster needs a process pool")
    return []


def _ensure_queue(client, pool: str, queue: str) -> list[str]:
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_work_queue_by_name(name=queue, work_pool_name=pool)
        return []
    except ObjectNotFound:
        client.create_work_queue(name=queue, work_pool_name=pool,
                                 description=f"coalition {queue}: start its workers where its SQLite file is")
        return [f"work queue {pool}/{queue}"]


def _ensure_limit(client, name: str, created: list[str]) -> Any:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    try:
        found = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        created.append(f"concurrency limit {name} (1)")
        return client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    if found.limit != 1 or not found.active:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=1, active=True))
    return found.id


def _deploy(spec: Spec, out: Deployed, project: Path) -> Any:
    from prefect import Flow
    from prefect.schedules import Cron

    flow = Flow.from_source(source=str(project), entrypoint=spec.entrypoint)
    with redirect_stdout(io.StringIO()):  # Prefect prints a table and a tip per deployment; muster says what it did
        return flow.deploy(name=deployment_name(spec.name, out.coalition), work_pool_name=out.pool,
                           work_queue_name=out.queue, build=False, push=False,
                           schedules=[Cron(cron, timezone=tz) for cron, tz in spec.schedules],
                           concurrency_limit=1,  # equal to the shared limit's: the server keeps the link
                           parameters={"workspace": str(out.config)}, description=spec.description,
                           tags=["muster", f"coalition:{out.coalition}"], print_next_steps=False,
                           ignore_warnings=True)


def _share_limit(client, deployment_id, limit_id) -> None:
    """Point the deployment at the coalition's limit; drop the ``deployment:<id>`` limit it was given."""
    from prefect.exceptions import ObjectNotFound

    found = client.read_deployment(deployment_id)
    own = found.global_concurrency_limit
    if own is not None and own.id == limit_id:
        return
    response = client.request("PATCH", "/deployments/{id}", path_params={"id": deployment_id},
                              json={"global_concurrency_limit_id": str(limit_id)})
    response.raise_for_status()
    if own is not None and own.name == f"deployment:{deployment_id}":
        try:
            client.delete_global_concurrency_limit_by_name(own.name)
        except ObjectNotFound:
            pass


def _flow_name(client, flow_id) -> str:
    return client.read_flow(flow_id).name


__all__ = ["KINDS", "POOL", "Deployed", "DeployError", "Spec", "api_url", "deploy_coalition", "deployment_name",
           "limit_name", "slug", "specs"]

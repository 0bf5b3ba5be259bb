"""The drift audit as a Prefect flow: one read task per service, the report published as artifacts.

Scheduled through a deployment (``prefect.yaml``) or ``muster drift serve --cron``. The flow
takes the path of a coalition's config, so a worker on any machine can run it; its
Markdown artifact (key ``muster-drift``) is the report an admin opens in the Prefect UI, and
a table artifact carries the items for anything that reads artifacts by API.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.drift import COLUMNS, check_drift, drift_rows, markdown
from flows.sync import _ws


@task(name="drift-check", cache_policy=NO_CACHE)
def drift_task(ref: str) -> dict:
    """Read every service, find the drift, write the HTML report; returns the summary and Markdown."""
    from flows.drift import html

    ws = _ws(ref)
    report = check_drift(ws)
    path = ws.reports / f"drift-{report.run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html(report, coalition=ws.coalition), encoding="utf-8")
    return {**report.summary(), "exit_code": report.exit_code, "report": str(path), "markdown": markdown(report),
            "rows": [dict(zip(COLUMNS, r, strict=True)) for r in drift_rows(report.items)]}


@flow(name="drift", persist_result=False, log_prints=False)
def drift_flow(workspace: str) -> dict:
    """Audit drift for one coalition and publish the report (``muster-drift``) as artifacts."""
    result = drift_task(workspace)
    create_markdown_artifact(result["markdown"], key="muster-drift", description=f"Muster drift {result['run']}")
    if result["rows"]:
        create_table_artifact(result["rows"], key="muster-drift-items", description="Open drift items")
    return {k: v for k, v in result.items() if k not in ("markdown", "rows")}


def serve_drift(config: str, *, cron: str) -> None:
    """Serve the drift flow on ``cron`` (Asia/Shanghai) from this process until interrupted."""
    from prefect.schedules import Cron

    drift_flow.serve(name="drift", schedules=[Cron(cron, timezone="Asia/Shanghai")],
                     parameters={"workspace": config}, print_starting_message=True)


__all__ = ["drift_flow", "serve_drift"]

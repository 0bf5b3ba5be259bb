"""``prefect.yaml``: every deployment names a real flow and a valid schedule."""

import importlib
from pathlib import Path

import yaml
from prefect import Flow
from prefect.schedules import Cron

ROOT = Path(__file__).resolve().parents[2]


def test_every_deployment_points_at_a_flow_with_a_valid_schedule():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = {d["name"] for d in spec["deployments"]}
    assert "drift" in names
    for deployment in spec["deployments"]:
        path, _, attr = deployment["entrypoint"].partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, attr)
        assert isinstance(flow, Flow) and set(deployment["parameters"]) <= set(flow.parameters.properties)
        for schedule in deployment.get("schedules", []):
            assert Cron(schedule["cron"], timezone=schedule["timezone"]).cron == schedule["cron"]

"""``prefect.yaml`` and ``muster deploy``: every deployment names a real flow and a valid schedule; clear refusals."""

import importlib
import socket
from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.cli import main
from flows.deploy import KINDS, deployment_name, limit_name, slug, specs
from flows.hours import Collected
from flows.hours_flow import summary

ROOT = Path(__file__).resolve().parents[2]


def test_every_deployment_points_at_a_flow_with_a_valid_schedule():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = {d["name"] for d in spec["deployments"]}
    assert names == {"sync", "onboard", "drift", "hours"}
    for deployment in spec["deployments"]:
        path, _, attr = deployment["entrypoint"].partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, attr)
        assert isinstance(flow, Flow) and flow.name == deployment["name"]
        assert set(deployment["parameters"]) <= set(flow.parameters.properties)
        assert "workspace" in flow.parameters.required
        assert deployment["work_pool"]["name"] == "muster" and deployment["concurrency_limit"] == 1
        for schedule in deployment.get("schedules", []):
            assert Cron(schedule["cron"], timezone=schedule["timezone"]).cron == schedule["cron"]


def test_specs_read_prefect_yaml_with_the_schedules_of_the_issue():
    got = {s.name: s for s in specs()}
    assert tuple(got) == KINDS
    assert got["sync"].schedules == (("*/30 * * * *", "Asia/Shanghai"),)
    assert got["onboard"].schedules == ()  # started by the receiver, one run per push
    assert got["drift"].schedules == (("0 * * * *", "Asia/Shanghai"),)
    assert got["hours"].schedules == (("30 2 * * *", "Asia/Shanghai"),)
    assert got["hours"].entrypoint == "flows/hours_flow.py:hours_flow"


@pytest.mark.parametrize("name, expected", [
    ("sandbox coalition", "sandbox-coalition"),
    ("  Wuhan Relief / 武汉 2020 ", "wuhan-relief-2020"),
    ("Ünïcode Team", "unicode-team"),
])
def test_slug_is_lower_case_ascii_with_dashes(name, expected):
    assert slug(name) == expected


def test_a_name_without_latin_letters_gets_a_stable_distinct_slug():
    first, again, other = slug("青年志愿者协会"), slug("青年志愿者协会"), slug("社区互助会")
    assert first == again and first != other
    assert first.startswith("c-") and len(first) == 10
    assert deployment_name("sync", first) == f"sync-{first}" and limit_name(first) == f"muster-{first}"


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "muster.yaml"
    path.write_text("coalition: 测试联盟\n", encoding="utf-8")
    return path


def test_deploy_refuses_without_a_prefect_server(config, capsys):
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        code, out = run(["deploy", "--config", str(config)], capsys)
    assert code == 1
    assert "PREFECT_API_URL is not set" in out and "embedded server" in out


def test_deploy_names_an_unreachable_server(config, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/api"
    with temporary_settings({PREFECT_API_URL: url}):
        code, out = run(["deploy", "--config", str(config)], capsys)
    assert code == 1 and f"cannot reach the Prefect server at {url}" in out


def test_deploy_refuses_a_bad_coalition_name_and_a_missing_config(config, capsys):
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        code, out = run(["deploy", "--config", str(config), "--coalition", "Bad Name"], capsys)
        assert code == 1 and "--coalition 'Bad Name': use 1-40 lower-case letters" in out
        code, out = run(["deploy", "--config", str(config.with_name("nope.yaml"))], capsys)
        assert code == 1 and "nope.yaml: no such config file" in out


def test_hours_summary_counts_what_a_collection_did():
    got = Collected(meetings=2, joins=5, new_joins=3, added=2, updated=1, unchanged=4, evidence_changed=[7],
                    unmatched=[{"external_id": "u9"}], errors={"m2": "timed out"})
    assert summary(got) == {"meetings": 2, "joins": 5, "new_joins": 3, "added": 2, "updated": 1, "unchanged": 4,
                            "evidence_changed": 1, "unmatched": 1, "linked": 0, "errors": {"m2": "timed out"}}

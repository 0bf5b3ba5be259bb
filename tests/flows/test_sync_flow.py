"""The Prefect ``sync`` flow itself, on a real (test-harness) Prefect server."""

import pytest

import state
from flows.sync import register, sync_flow


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60), temporary_settings(
            {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def read_artifacts(key):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


@pytest.mark.flow
def test_sync_flow_applies_then_finds_nothing_and_publishes_its_report(prefect_server, coalition):
    ws = coalition()
    ref = register(ws)
    first = sync_flow(workspace=ref, allow_removals=True)
    assert first["status"] == "ok" and first["changes"] > 0 and first["write_calls"] > 0
    assert state.get_run(ws.db, first["run_id"])["status"] == "ok"
    assert state.plan_status(ws.db, first["plan_id"]) == "applied"
    second = sync_flow(workspace=ref)
    assert (second["changes"], second["write_calls"]) == (0, 0)
    artifacts = read_artifacts("muster-run")
    assert any(first["run_id"] in (a.description or "") for a in artifacts)
    assert any("# Muster run" in (a.data or "") for a in artifacts)

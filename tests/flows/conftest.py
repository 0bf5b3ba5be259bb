import pytest

from connectors import NO_RETRY_WAIT
from flows.demo_run import build_demo
from flows.workspace import Workspace


@pytest.fixture
def coalition(tmp_path):
    """A small demo coalition in tmp_path with in-process sandboxes, limits off, zero-wait retries."""

    def make(people: int = 40, seed: int = 3) -> Workspace:
        sandboxes, _, _ = build_demo(tmp_path / "c", people, seed)
        for sb in sandboxes.values():
            sb.rate_limits = False
        ws = Workspace.from_config(tmp_path / "c" / "muster.yaml", actor="tester")
        ws.sandboxes = sandboxes
        ws.retry = NO_RETRY_WAIT
        ws.connector_options = {"rate_limit": False}
        return ws

    return make


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60), temporary_settings(
            {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield

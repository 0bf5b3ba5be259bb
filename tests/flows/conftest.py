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

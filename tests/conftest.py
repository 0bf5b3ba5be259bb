"""Suite-wide environment: Prefect stays local, quiet and offline; no test uses ~/.prefect."""

import os
import tempfile

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="muster-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "false"
# task runs are not read back by any test; the recorder is what makes SQLite lock up (prefect.md §3)
os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED"] = "false"


import pytest  # noqa: E402  (after the environment above)


@pytest.fixture
def coalition(tmp_path):
    """A small demo coalition in tmp_path with in-process sandboxes, limits off, zero-wait retries."""
    from connectors import NO_RETRY_WAIT
    from flows.demo_run import build_demo
    from flows.workspace import Workspace

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

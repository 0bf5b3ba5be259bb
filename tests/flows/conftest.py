import pytest

from connectors import NO_RETRY_WAIT
from flows.demo_run import build_demo
from flows.workspace import Workspace


class Crash(BaseException):
    """A process dying mid-apply: not an Exception, so nothing on the way catches it."""


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


def crash_after(sandbox, path: str, n: int) -> None:
    """Make ``sandbox`` act on the n-th call to ``path``, then kill the caller before it hears back."""
    original, seen = sandbox.dispatch, [0]

    def dispatch(request):
        response = original(request)
        if request.url.path == path:
            seen[0] += 1
            if seen[0] == n:
                raise Crash(f"killed after {path} #{n}")
        return response

    sandbox.dispatch = dispatch

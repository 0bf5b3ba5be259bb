from __future__ import annotations

import httpx
import pytest

from connectors._http import NO_RETRY_WAIT
from connectors.jinshuju import JinshujuConnector, JinshujuSandbox

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z; the clock hour ends at 1_700_002_800


class FakeClock:
    """Wall time; ``sleep`` advances it and records the wait instead of waiting."""

    def __init__(self, now: float = START):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> JinshujuSandbox:
    return JinshujuSandbox(clock=clock, seed=7)


@pytest.fixture
def signup(sandbox: JinshujuSandbox) -> str:
    """A signup form with a text, a mobile and a choice field."""
    return sandbox.add_form("SgnUp1", "志愿者报名表", {"field_1": "姓名", "field_2": "手机", "field_5": "职业"},
                            choices={"field_5": {"1lq3": "医生", "J2RP": "护士"}})


@pytest.fixture
def connector(sandbox: JinshujuSandbox, clock: FakeClock) -> JinshujuConnector:
    conn = JinshujuConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, clock=clock, sleep=clock.sleep)
    yield conn
    conn.close()


@pytest.fixture
def http(sandbox: JinshujuSandbox) -> httpx.Client:
    """A raw HTTP client on the sandbox, authenticated, to look at the wire answers themselves."""
    creds = sandbox.credentials
    with httpx.Client(transport=sandbox.transport(), base_url="http://jinshuju.sandbox",
                      auth=(creds["api_key"], creds["api_secret"])) as client:
        yield client

from __future__ import annotations

import httpx
import pytest

from connectors._http import NO_RETRY_WAIT
from connectors.dingtalk import DingTalkConnector, DingTalkSandbox

START = 1_700_000_000.0  # 2023-11-15 06:13:20 +08:00


class FakeClock:
    """Wall and monotonic time in one; ``sleep`` advances it instead of waiting."""

    def __init__(self, now: float = START):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> DingTalkSandbox:
    return DingTalkSandbox(clock=clock)


@pytest.fixture
def connector(sandbox: DingTalkSandbox, clock: FakeClock) -> DingTalkConnector:
    conn = DingTalkConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, clock=clock, sleep=clock.sleep)
    yield conn
    conn.close()


@pytest.fixture
def http(sandbox: DingTalkSandbox) -> httpx.Client:
    """A raw HTTP client on the sandbox, to look at the wire answers themselves."""
    with httpx.Client(transport=sandbox.transport(), base_url="http://dingtalk.sandbox") as client:
        yield client


@pytest.fixture
def token(http: httpx.Client, sandbox: DingTalkSandbox) -> str:
    """A valid app token from ``/gettoken``."""
    creds = sandbox.credentials
    answer = http.get("/gettoken", params={"appkey": creds["appkey"], "appsecret": creds["appsecret"]}).json()
    assert answer["errcode"] == 0, answer
    return answer["access_token"]

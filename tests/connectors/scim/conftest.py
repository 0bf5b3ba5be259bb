"""Fixtures: a fresh real ``scim2-server`` on loopback per test, and a connector on it (see scim_peer.py)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import make_server

import httpx
import pytest
from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)
from scim_peer import TOKEN, QuietHandler, Recorder, ScimServer, make_connector

from connectors.scim import ScimConnector


@pytest.fixture(scope="session")
def provider() -> ScimProvider:
    config = load_default_service_provider_config()
    config.authentication_schemes = [BEARER_TOKEN_SCHEME]
    return ScimProvider.from_discovery(load_default_schemas().values(), load_default_resource_types().values(),
                                       config=config)


@pytest.fixture
def server(provider: ScimProvider) -> ScimServer:
    recorder = Recorder(BearerTokenApplication(InMemoryStorage(), provider, bearer_tokens=[TOKEN]))
    httpd = make_server("127.0.0.1", 0, recorder, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{httpd.server_port}/v2"
    http = httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(),
                        headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        yield ScimServer(base_url=base_url, recorder=recorder, http=http)
    finally:
        http.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def connector(server: ScimServer) -> ScimConnector:
    conn = make_connector(server)
    yield conn
    conn.close()

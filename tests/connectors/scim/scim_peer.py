"""Helpers around the real ``scim2-server`` (0.8.3) on loopback; the fixtures are in conftest.py.

Each test gets a fresh server: the package's own ``BearerTokenApplication`` (what its
``scim2-server --bearer-token`` command serves) over an ``InMemoryStorage``, behind a
small WSGI recorder that notes every request the server receives, served by
``wsgiref``'s threading server on 127.0.0.1 and an OS-chosen port in a daemon thread.
The connector uses a plain ``httpx.HTTPTransport``, so every call is real HTTP on
loopback (and no proxy from the environment is consulted).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler

import httpx
from pydantic import SecretStr

from connectors._http import NO_RETRY_WAIT
from connectors.scim import ScimConnector

TOKEN = "muster-test-token"


@dataclass(frozen=True)
class Call:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class Recorder:
    """WSGI middleware: keeps every request (method, path, query, JSON body, headers) it passes on."""

    app: Any
    calls: list[Call] = field(default_factory=list)

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        self.calls.append(Call(
            method=environ["REQUEST_METHOD"],
            path=environ.get("PATH_INFO", ""),
            query=dict(parse_qsl(environ.get("QUERY_STRING", ""))),
            body=json.loads(raw) if raw else None,
            headers=headers,
        ))
        return self.app(environ, start_response)

    def of(self, method: str, prefix: str = "") -> list[Call]:
        """The calls with this method whose path starts with ``prefix``."""
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    @property
    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("POST", "PUT", "PATCH", "DELETE")]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@dataclass
class ScimServer:
    """A running ``scim2-server``: its base URL, its request log, and a raw HTTP client on it."""

    base_url: str
    recorder: Recorder
    http: httpx.Client

    def user(self, user_name: str) -> dict[str, Any] | None:
        """The stored user with this userName, read over HTTP (recorded calls are not touched)."""
        found = self._search("/Users", f'userName eq "{user_name}"')
        return found[0] if found else None

    def group(self, group_id: str) -> dict[str, Any]:
        saved = list(self.recorder.calls)
        try:
            answer = self.http.get(f"/Groups/{group_id}")
        finally:
            self.recorder.calls[:] = saved
        answer.raise_for_status()
        return answer.json()

    def add_user(self, user_name: str, name: str, **extra: Any) -> str:
        """Create a user directly on the server (not through the connector); returns its SCIM id."""
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name,
                "displayName": name, **extra}
        return self._write("POST", "/Users", body)["id"]

    def add_group(self, name: str, member_ids: list[str] = ()) -> str:
        body: dict[str, Any] = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
        if member_ids:
            body["members"] = [{"value": i} for i in member_ids]
        return self._write("POST", "/Groups", body)["id"]

    def _search(self, path: str, flt: str) -> list[dict[str, Any]]:
        saved = list(self.recorder.calls)
        try:
            answer = self.http.get(path, params={"filter": flt})
        finally:
            self.recorder.calls[:] = saved
        answer.raise_for_status()
        return answer.json().get("Resources", [])

    def _write(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        saved = list(self.recorder.calls)
        try:
            answer = self.http.request(method, path, json=body)
        finally:
            self.recorder.calls[:] = saved
        assert answer.status_code < 300, answer.text
        return answer.json()


def make_connector(server: ScimServer, *, token: str = TOKEN, **kw: Any) -> ScimConnector:
    """A connector on the live server over real loopback HTTP, retries without waiting."""
    kw.setdefault("retry", NO_RETRY_WAIT)
    kw.setdefault("rate_limit", False)
    return ScimConnector(base_url=server.base_url, token=SecretStr(token), transport=httpx.HTTPTransport(), **kw)

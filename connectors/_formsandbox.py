"""What the form services' sandboxes share: making a submission and pushing it.

Form services talk to Muster mostly by *pushing*: on each submission they POST the entry
as JSON to a URL the form's owner configured (Jinshuju's 数据推送, Wenjuanxing's 数据推送
API). A form sandbox therefore does two things besides any API it serves: ``submit``
creates (or updates) an entry and returns the payload the service would push, and
``push`` POSTs such a payload to a receiver the way the service does — plain JSON, no
extra headers, no retries.

Both are reachable over HTTP through a control route under ``/_sandbox/`` (so a user of
``muster sandbox serve`` can make a sandbox submit). Control routes are not the
service's API: they take no credentials, count against no quota, draw no faults, and
push *outside* the sandbox lock, so a receiver that calls back into the sandbox (to read
the entry through the API) cannot deadlock the served handler.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from connectors._sandbox import Sandbox

CONTROL_PREFIX = "/_sandbox/"
PUSH_TIMEOUT = 10.0


class FormSandbox(Sandbox):
    """Base of the form-service sandboxes: ``push`` and the control-route plumbing."""

    # transport for pushes made by the control route (tests route them to a respx receiver)
    push_transport: httpx.BaseTransport | None = None

    def push(self, payload: dict[str, Any], url: str, *,
             transport: httpx.BaseTransport | None = None) -> httpx.Response:
        """POST ``payload`` to ``url`` as the service does: a JSON body, nothing else."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        with httpx.Client(transport=transport, timeout=PUSH_TIMEOUT) as client:
            return client.post(url, content=body, headers=headers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith(CONTROL_PREFIX):
            with self.lock:
                self.calls[f"{request.method} {request.url.path}"] += 1
            return Sandbox.dispatch(self, request)  # no lock, no faults, no auth
        return super().__call__(request)

    def control_submit(self, request: httpx.Request, submit: Any) -> httpx.Response:
        """Run a control-route submission: ``{"answers", <key>?, "push_to"?}`` → the push payload.

        ``submit(answers, body)`` makes the entry; ``KeyError`` means an unknown form (404),
        ``ValueError`` a bad answer (400). With ``push_to`` the payload is pushed there and the
        receiver's status comes back in ``X-Sandbox-Push-Status`` (502 when unreachable).
        """
        body = self.body(request)
        if body is None or not isinstance(body.get("answers"), dict):
            return self.json({"error": "bad_request", "error_description": "body needs an answers object"}, 400)
        try:
            payload = submit(body["answers"], body)
        except KeyError as exc:
            return self.json({"error": "not_found", "error_description": str(exc.args[0])}, 404)
        except ValueError as exc:
            return self.json({"error": "bad_request", "error_description": str(exc)}, 400)
        url = body.get("push_to")
        if not url:
            return self.json(payload)
        try:
            pushed = self.push(payload, str(url), transport=self.push_transport)
        except httpx.HTTPError as exc:
            problem = f"push to {url} failed: {type(exc).__name__}"
            return self.json({"error": "push_failed", "error_description": problem, "payload": payload}, 502)
        return self.json(payload, headers={"X-Sandbox-Push-Status": str(pushed.status_code)})


__all__ = ["CONTROL_PREFIX", "FormSandbox"]

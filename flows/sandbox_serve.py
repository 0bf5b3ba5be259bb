"""``muster sandbox serve``: the service sandboxes over loopback HTTP, seeded like the demo.

Beside the chat services, one Jinshuju and one Wenjuanxing sandbox are served (ports
after theirs), each with one volunteer signup form. Their ``--info`` entries carry the
credentials and ``forms.signup``: the form token / survey id, which field code holds
which answer, and the choice options. A served form sandbox submits through its control
route (``POST /_sandbox/forms/{token}/submit`` or ``/_sandbox/surveys/{activity}/submit``
with ``{"answers": {...}, "push_to"?: url}``).

Last comes a Tencent Meeting sandbox whose enterprise users are the WeCom sandbox's (same
userids, as enterprises commonly run it), plus its operator; its ``--info`` entry carries
the credentials (app_id, sdk_id, secret_id, secret_key, operator_id) and ``userid_from``.

The Feishu entry's ``events`` holds the app's event secrets (verification_token,
encrypt_key). With ``events_to`` (``--events-to URL``) the Feishu sandbox POSTs its events
(chat members and document collaborators changed, by the API or by ``console_*``) there,
encrypted and signed as Feishu does, from a background thread: best effort, each failure
logged, nothing retried.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import threading
from pathlib import Path

import httpx
from rich.console import Console

from connectors import form_sandbox_class, meeting_sandbox_class
from connectors._sandbox import FaultPlan
from connectors._serve import serve
from flows.demo import generate, seed_sandboxes
from flows.demo_policy import SIGNUP_FIELDS, SIGNUP_NAME, signup_codes

log = logging.getLogger("muster.sandbox")

# the signup form's questions: answer key → (label, choice options or None)

def serve_sandboxes(console: Console, *, port: int, info: Path | None, people: int, seed: int,
                    stop: threading.Event | None = None, fault_rate: float = 0.0, fault_seed: int = 1,
                    events_to: str | None = None) -> dict:
    """Serve each sandbox on its own port from ``port`` up; block until interrupted (or ``stop``).

    With ``fault_rate`` each sandbox answers that share of requests with a fault drawn from a
    schedule seeded by ``fault_seed`` (5xx, timeouts, dropped connections, rate limits, revoked tokens).
    With ``events_to`` the Feishu sandbox POSTs its events to that URL.
    """
    sandboxes, chats = seed_sandboxes(generate(people, seed), seed)
    poster = EventPoster(events_to) if events_to and "feishu" in sandboxes else None
    if poster:
        sandboxes["feishu"].event_sink = poster
        console.print(f"feishu events → {events_to}", highlight=False, soft_wrap=True)
    for offset, sandbox in enumerate(sandboxes.values()):
        sandbox.faults = FaultPlan(seed=fault_seed + offset, rate=fault_rate)
    servers, described = [], {}
    for offset, (service, sandbox) in enumerate(sorted(sandboxes.items())):
        server = serve(sandbox, port + offset if port else 0)
        servers.append(server)
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        described[service] = {"base_url": base_url, **sandbox.credentials, "chats": chats[service],
                              "people": people, "seed": seed}
        if hasattr(sandbox, "event_credentials"):
            described[service]["events"] = sandbox.event_credentials
        console.print(f"{service} {base_url}", highlight=False)
    for offset, (service, sandbox, forms) in enumerate(_form_sandboxes(seed), start=len(servers)):
        sandbox.faults = FaultPlan(seed=fault_seed + offset, rate=fault_rate)
        server = serve(sandbox, port + offset if port else 0)
        servers.append(server)
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        described[service] = {"base_url": base_url, **sandbox.credentials, "forms": forms, "seed": seed}
        console.print(f"{service} {base_url}", highlight=False)
    meetings = _meeting_sandbox(sandboxes["wecom"], seed)
    meetings.faults = FaultPlan(seed=fault_seed + len(servers), rate=fault_rate)
    server = serve(meetings, port + len(servers) if port else 0)
    servers.append(server)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    described["tencent_meeting"] = {"base_url": base_url, **meetings.credentials, "userid_from": "wecom",
                                    "users": len(meetings.users), "seed": seed}
    console.print(f"tencent_meeting {base_url}", highlight=False)
    if info:
        info.write_text(json.dumps(described, ensure_ascii=False, indent=2), encoding="utf-8")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        if poster:
            poster.close()
    return described


class EventPoster:
    """An ``event_sink`` that POSTs each event to ``url`` from one background thread, in order.

    Best effort, like a first delivery: a refusal or a network error is logged and dropped.
    """

    def __init__(self, url: str, *, transport: httpx.BaseTransport | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self.delivered = self.failed = 0
        self._queue: queue.Queue = queue.Queue()
        self._client = httpx.Client(transport=transport, timeout=timeout)
        self._thread = threading.Thread(target=self._run, name="feishu-events", daemon=True)
        self._thread.start()

    def __call__(self, body: bytes, headers: dict[str, str]) -> None:
        self._queue.put((body, headers))

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (waiting up to ``timeout`` s), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                response = self._client.post(self.url, content=item[0], headers=item[1])
            except httpx.HTTPError as exc:
                self.failed += 1
                log.warning("feishu event to %s not delivered: %s", self.url, type(exc).__name__)
                continue
            if response.status_code == 200:
                self.delivered += 1
            else:
                self.failed += 1
                log.warning("feishu event to %s refused: HTTP %s %s", self.url, response.status_code,
                            response.text[:200])


def _form_sandboxes(seed: int) -> list[tuple[str, object, dict]]:
    """A Jinshuju and a Wenjuanxing sandbox with the demo's signup form each, and how to read them."""
    out = []
    for service in ("jinshuju", "wenjuanxing"):
        fields, choices = signup_codes(service)
        questions = {code: SIGNUP_FIELDS[target][0] for code, target in fields.items()}
        sandbox = form_sandbox_class(service)(seed=seed)
        if service == "jinshuju":
            form_id = sandbox.add_form(None, SIGNUP_NAME, questions, choices=choices)
            described = {"token": form_id}
        else:
            form_id = sandbox.add_survey(None, SIGNUP_NAME, questions,
                                         choices={c: list(opts.values()) for c, opts in choices.items()})
            described = {"activity": form_id}
        out.append((service, sandbox, {"signup": {**described, "name": SIGNUP_NAME,
                                                  "fields": {t: c for c, t in fields.items()}, "choices": choices}}))
    return out


def _meeting_sandbox(wecom, seed: int):
    """A Tencent Meeting sandbox whose enterprise users are the WeCom sandbox's, under the same userids."""
    sandbox = meeting_sandbox_class("tencent_meeting")(seed=seed)
    for userid, user in sorted(wecom.users.items()):
        sandbox.add_user(userid, user["name"])
    return sandbox


__all__ = ["EventPoster", "serve_sandboxes"]

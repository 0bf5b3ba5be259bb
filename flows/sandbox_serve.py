"""``muster sandbox serve``: the service sandboxes over loopback HTTP, seeded like the demo."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

from rich.console import Console

from connectors._sandbox import FaultPlan
from connectors._serve import serve
from flows.demo import generate, seed_sandboxes


def serve_sandboxes(console: Console, *, port: int, info: Path | None, people: int, seed: int,
                    stop: threading.Event | None = None, fault_rate: float = 0.0, fault_seed: int = 1) -> dict:
    """Serve each sandbox on its own port from ``port`` up; block until interrupted (or ``stop``).

    With ``fault_rate`` each sandbox answers that share of requests with a fault drawn from a
    schedule seeded by ``fault_seed`` (5xx, timeouts, dropped connections, rate limits, revoked tokens).
    """
    sandboxes, chats = seed_sandboxes(generate(people, seed), seed)
    for offset, sandbox in enumerate(sandboxes.values()):
        sandbox.faults = FaultPlan(seed=fault_seed + offset, rate=fault_rate)
    servers, described = [], {}
    for offset, (service, sandbox) in enumerate(sorted(sandboxes.items())):
        server = serve(sandbox, port + offset if port else 0)
        servers.append(server)
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        described[service] = {"base_url": base_url, **sandbox.credentials, "chats": chats[service],
                              "people": people, "seed": seed}
        console.print(f"{service} {base_url}", highlight=False)
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
    return described


__all__ = ["serve_sandboxes"]

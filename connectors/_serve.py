"""Serve sandbox handlers over loopback HTTP (``muster sandbox serve``).

A tiny threaded ``http.server`` bridges real HTTP to the same ``httpx.Request ->
httpx.Response`` handler the in-process transport uses, so an official SDK (or ``curl``)
can talk to a sandbox exactly as to the service. Injected timeouts hold the connection
and then close it; dropped connections close it without an answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


class _Bridge(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    handler: Handler
    timeout_hold = 0.5

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
        request = httpx.Request(self.command, f"http://{host}{self.path}",
                                headers=list(self.headers.items()), content=body)
        try:
            response = self.handler(request)
        except httpx.TimeoutException:
            time.sleep(self.timeout_hold)
            self.close_connection = True
            return
        except httpx.TransportError:
            self.close_connection = True
            return
        content = response.read()
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


def serve(handler: Handler, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start serving ``handler`` on ``host:port`` in a daemon thread; return the server."""
    bridge = type("Bridge", (_Bridge,), {"handler": staticmethod(handler)})
    server = ThreadingHTTPServer((host, port), bridge)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"sandbox:{port}", daemon=True).start()
    return server


__all__ = ["serve"]

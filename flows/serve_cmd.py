"""``muster serve``: the webhook receiver over HTTP, until interrupted.

uvicorn's access log is off: a Jinshuju push URL carries its token in the query string,
and an access line would write it to the log. The receiver logs its own lines instead
(form, item id, outcome or refusal reason), never a URL. Put a TLS-terminating proxy in
front of it for the public URL the form services push to.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI
from rich.console import Console

from config._yaml import ConfigError
from flows.receiver import create_app
from flows.workspace import Workspace, _prefect_secret

MAX_CONCURRENT = 256  # beyond this many open requests uvicorn answers 503 (the senders retry)


def build_receiver(ws: Workspace, *, on_item: Callable[[int], None] | None = None) -> FastAPI:
    """The receiver app for a workspace's forms and Feishu events, sharing its database lock; secrets resolved now."""
    return create_app(ws.db, ws.forms, on_item=on_item, resolve_secret=lambda ref: ref.resolve(_prefect_secret),
                      lock=ws.lock, services=ws.connections)


def serve_receiver(ws: Workspace, *, host: str = "127.0.0.1", port: int = 8800,
                   on_item: Callable[[int], None] | None = None, console: Console | None = None) -> None:
    """Serve the receiver on ``host:port`` until interrupted; ``on_item(item_id)`` runs after each new push.

    Raises:
        ConfigError: nothing takes pushes (no push form, no Feishu events), or a secret cannot be resolved.
    """
    app = build_receiver(ws, on_item=on_item)
    forms, feishu = app.state.receiver.forms, app.state.receiver.feishu
    if not forms and feishu is None:
        raise ConfigError("no form takes pushes and no Feishu events are taken: configure a jinshuju form with "
                          "token or a wenjuanxing form under forms:, or services.feishu.verification_token, "
                          "in muster.yaml")
    console = console or Console()
    for name, form in forms.items():
        query = "?token=<token>" if form.token else ""
        console.print(f"{name} ({form.conn.service}): POST http://{host}:{port}/forms/{name}{query}",
                      highlight=False, soft_wrap=True)
    if feishu is not None:
        console.print(f"feishu events: POST http://{host}:{port}/events/feishu", highlight=False, soft_wrap=True)
    uvicorn.Server(receiver_config(app, host=host, port=port)).run()


def receiver_config(app: FastAPI, *, host: str, port: int) -> uvicorn.Config:
    """uvicorn settings: no access log (URLs carry tokens), bounded concurrency, Muster's log lines shown."""
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["muster"] = {"handlers": ["default"], "level": "INFO"}
    return uvicorn.Config(app, host=host, port=port, access_log=False, log_config=log_config,
                          limit_concurrency=MAX_CONCURRENT, server_header=False)


__all__ = ["build_receiver", "receiver_config", "serve_receiver"]

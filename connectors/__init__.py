"""Connectors: one package per service, plus the shared HTTP, auth, paging and error code.

``SERVICES`` is the registry the flows and the contract suite use: service slug →
(module, connector class, sandbox class). Modules load lazily so a command that touches
one service does not import them all.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from connectors._base import (
    AppliesMembership,
    Connector,
    CreatesGroups,
    ListsGroups,
    ListsPeople,
    ManagesAccounts,
    ReadsGroups,
    Runner,
    SendsMessages,
)
from connectors._errors import (
    AlreadyExists,
    AuthError,
    CapacityExceeded,
    Conflict,
    ConnectorError,
    HubError,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connectors._http import NO_RETRY_WAIT, ApiClient, RetryPolicy
from connectors._sandbox import FaultPlan, Sandbox

SERVICES: dict[str, tuple[str, str, str]] = {
    "wecom": ("connectors.wecom", "WeComConnector", "WeComSandbox"),
    "dingtalk": ("connectors.dingtalk", "DingTalkConnector", "DingTalkSandbox"),
}


def connector_class(service: str) -> Any:
    """The connector class registered for ``service`` (KeyError names the known ones)."""
    module, cls, _ = _entry(service)
    return getattr(import_module(module), cls)


def sandbox_class(service: str) -> Any:
    """The sandbox class registered for ``service``."""
    module, _, cls = _entry(service)
    return getattr(import_module(module), cls)


def _entry(service: str) -> tuple[str, str, str]:
    try:
        return SERVICES[service]
    except KeyError:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(sorted(SERVICES))}") from None


__all__ = [
    "SERVICES",
    "AlreadyExists",
    "ApiClient",
    "AppliesMembership",
    "AuthError",
    "CapacityExceeded",
    "Conflict",
    "Connector",
    "ConnectorError",
    "CreatesGroups",
    "FaultPlan",
    "HubError",
    "InvalidPayload",
    "ListsGroups",
    "ListsPeople",
    "ManagesAccounts",
    "NO_RETRY_WAIT",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ReadsGroups",
    "RetryPolicy",
    "Runner",
    "Sandbox",
    "SendsMessages",
    "TokenExpired",
    "TransientError",
    "connector_class",
    "sandbox_class",
]

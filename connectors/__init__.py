"""Connectors: one package per service, plus the shared HTTP, auth, paging and error code.

``SERVICES`` is the registry the flows and the contract suite use: service slug →
(module, connector class, sandbox class): WeCom, DingTalk and Feishu. Modules load lazily
so a command that touches one service does not import them all.

``FORM_SERVICES`` is its twin for the form services, kept apart because the sync flows
iterate ``SERVICES``: slug → (module, connector class or None, sandbox class). Every form
module exports ``parse_push`` (and Wenjuanxing ``verify``); only Jinshuju has an API to
poll, so only it has a connector class.

``MANUAL_SERVICES`` are the services without a usable membership API (personal WeChat
groups, Shimo): one ``ManualConnector`` serves them all, with no HTTP and no sandbox.

``MEETING_SERVICES`` holds the meeting services (slug → module, connector class, sandbox
class). They have meetings, invitees and attendance, not accounts and chats, so the
contract suite over ``SERVICES`` cannot take them.
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
    "feishu": ("connectors.feishu", "FeishuConnector", "FeishuSandbox"),
}

FORM_SERVICES: dict[str, tuple[str, str | None, str]] = {
    "jinshuju": ("connectors.jinshuju", "JinshujuConnector", "JinshujuSandbox"),
    "wenjuanxing": ("connectors.wenjuanxing", None, "WenjuanxingSandbox"),
}

MEETING_SERVICES: dict[str, tuple[str, str, str]] = {
    "tencent_meeting": ("connectors.tencent_meeting", "TencentMeetingConnector", "TencentMeetingSandbox"),
}

# Directory services with no sandbox of ours (slug → module, connector class): sync services
# like ``SERVICES`` but outside it, because the contract suite parametrizes over ``SERVICES``
# and needs a sandbox for each. SCIM is tested against the real ``scim2-server`` instead.
DIRECTORY_SERVICES: dict[str, tuple[str, str]] = {
    "scim": ("connectors.scim", "ScimConnector"),
}

# Services people change by hand (slug → module, connector class): their changes become work items.
MANUAL_SERVICES: dict[str, tuple[str, str]] = {
    "wechat": ("connectors.manual", "ManualConnector"),
    "shimo": ("connectors.manual", "ManualConnector"),
}


def connector_class(service: str) -> Any:
    """The connector class registered for ``service`` in ``SERVICES``, ``DIRECTORY_SERVICES`` or ``MANUAL_SERVICES``.

    KeyError names the known ones.
    """
    if service in DIRECTORY_SERVICES or service in MANUAL_SERVICES:
        module, cls = DIRECTORY_SERVICES.get(service) or MANUAL_SERVICES[service]
        return getattr(import_module(module), cls)
    if service not in SERVICES:
        known = ", ".join(sorted({*SERVICES, *DIRECTORY_SERVICES, *MANUAL_SERVICES}))
        raise KeyError(f"unknown service {service!r}; known: {known}")
    module, cls, _ = _entry(service)
    return getattr(import_module(module), cls)


def sandbox_class(service: str) -> Any:
    """The sandbox class registered for ``service``."""
    module, _, cls = _entry(service)
    return getattr(import_module(module), cls)


def form_connector_class(service: str) -> Any:
    """The API connector of form service ``service`` (KeyError if unknown or push-only)."""
    module, cls, _ = _form_entry(service)
    if cls is None:
        raise KeyError(f"{service} has no API to poll; its entries arrive by push only")
    return getattr(import_module(module), cls)


def form_sandbox_class(service: str) -> Any:
    """The sandbox class registered for form service ``service``."""
    module, _, cls = _form_entry(service)
    return getattr(import_module(module), cls)


def meeting_connector_class(service: str) -> Any:
    """The connector class registered for meeting service ``service``."""
    module, cls, _ = _meeting_entry(service)
    return getattr(import_module(module), cls)


def meeting_sandbox_class(service: str) -> Any:
    """The sandbox class registered for meeting service ``service``."""
    module, _, cls = _meeting_entry(service)
    return getattr(import_module(module), cls)


def _meeting_entry(service: str) -> tuple[str, str, str]:
    try:
        return MEETING_SERVICES[service]
    except KeyError:
        known = ", ".join(sorted(MEETING_SERVICES))
        raise KeyError(f"unknown meeting service {service!r}; known: {known}") from None


def _form_entry(service: str) -> tuple[str, str | None, str]:
    try:
        return FORM_SERVICES[service]
    except KeyError:
        known = ", ".join(sorted(FORM_SERVICES))
        raise KeyError(f"unknown form service {service!r}; known: {known}") from None


def _entry(service: str) -> tuple[str, str, str]:
    try:
        return SERVICES[service]
    except KeyError:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(sorted(SERVICES))}") from None


__all__ = [
    "DIRECTORY_SERVICES",
    "FORM_SERVICES",
    "MANUAL_SERVICES",
    "MEETING_SERVICES",
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
    "form_connector_class",
    "form_sandbox_class",
    "meeting_connector_class",
    "meeting_sandbox_class",
    "sandbox_class",
]

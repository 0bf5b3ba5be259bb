"""The form connectors' push functions, reached by service slug.

The receiver serves every form service through one endpoint family; this adapter picks
the service's pure functions (``connectors.<service>.parse_push`` / ``verify``) and imports
each connector only when a push for it arrives, so the receiver starts even when a form
service's connector is missing from this build (its pushes are then answered 503).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from connectors import InvalidPayload
from mappings.models import FormEntry

PUSH_SERVICES = ("jinshuju", "wenjuanxing")


class IntakeUnavailable(Exception):
    """The connector of a form service cannot be loaded (a broken or partial install)."""


def parse_push(service: str, payload: Any) -> FormEntry:
    """The entry a push carries; ``InvalidPayload`` (one-line reason) when required fields are missing."""
    return _function(service, "parse_push")(payload)


def verify(service: str, payload: Any, secret: str) -> bool:
    """Whether a push's own signature is right (Wenjuanxing's ``sign``); ``InvalidPayload`` if it has none."""
    return bool(_function(service, "verify")(payload, secret))


def _function(service: str, name: str):
    if service not in PUSH_SERVICES:
        raise IntakeUnavailable(f"{service} forms take no pushes")
    try:
        return getattr(import_module(f"connectors.{service}"), name)
    except (ImportError, AttributeError) as exc:
        raise IntakeUnavailable(f"the {service} connector cannot read pushes ({type(exc).__name__})") from None


__all__ = ["PUSH_SERVICES", "IntakeUnavailable", "InvalidPayload", "parse_push", "verify"]

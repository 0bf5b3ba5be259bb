"""Jinshuju (金数据): signup-form entries by API v1 polling and by data push.

``JinshujuConnector`` reads entries and form definitions; ``parse_push`` turns a data-push
body into a ``FormEntry`` without any I/O; ``JinshujuSandbox`` is the faithful in-memory
fake (served in-process or over loopback by ``muster sandbox serve``).
"""

from connectors.jinshuju.client import BASE_URL, HOURLY_QUOTA, PAGE_SIZE, JinshujuClient
from connectors.jinshuju.connector import SANDBOX_URL, JinshujuConnector, parse_push, to_form_entry
from connectors.jinshuju.sandbox import JinshujuSandbox

__all__ = [
    "BASE_URL",
    "HOURLY_QUOTA",
    "PAGE_SIZE",
    "SANDBOX_URL",
    "JinshujuClient",
    "JinshujuConnector",
    "JinshujuSandbox",
    "parse_push",
    "to_form_entry",
]

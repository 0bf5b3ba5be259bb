"""Wenjuanxing (问卷星): signup surveys, received only by signed data push.

Wenjuanxing has no API to list answers, so there is no connector class: a receiver checks
a push with ``verify`` and reads it with ``parse_push`` (both pure). ``WenjuanxingSandbox``
makes signed pushes and serves a control route for ``muster sandbox serve``.
"""

from connectors.wenjuanxing.client import SEQUENCE_FIELDS, sign, verify
from connectors.wenjuanxing.connector import parse_push
from connectors.wenjuanxing.sandbox import WenjuanxingSandbox

__all__ = ["SEQUENCE_FIELDS", "WenjuanxingSandbox", "parse_push", "sign", "verify"]

"""Feishu / Lark (飞书): accounts (by user_id), departments, chats, messages and document access.

``FeishuConnector`` is what the flows use; ``FeishuSandbox`` is its faithful in-memory
fake (served in-process or over loopback by ``muster sandbox serve``).
"""

from connectors.feishu.client import BASE_URL, FeishuClient
from connectors.feishu.connector import SANDBOX_URL, FeishuConnector
from connectors.feishu.sandbox import FeishuSandbox

__all__ = ["BASE_URL", "SANDBOX_URL", "FeishuClient", "FeishuConnector", "FeishuSandbox"]

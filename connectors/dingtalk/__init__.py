"""DingTalk (钉钉): roster, departments, chats and work notices through the old ``oapi`` API.

``DingTalkConnector`` is what the flows use; ``DingTalkSandbox`` is its faithful
in-memory fake (served in-process or over loopback by ``muster sandbox serve``).
"""

from connectors.dingtalk.client import BASE_URL, DingTalkClient
from connectors.dingtalk.connector import SANDBOX_URL, DingTalkConnector
from connectors.dingtalk.sandbox import DingTalkSandbox

__all__ = ["BASE_URL", "SANDBOX_URL", "DingTalkClient", "DingTalkConnector", "DingTalkSandbox"]

"""WeCom (企业微信): contacts, departments, tags, app chats and app messages.

``WeComConnector`` talks to the real service (``qyapi.weixin.qq.com``); ``WeComSandbox`` is
its faithful in-memory fake, which the demo, the contract suite and the tests run against.
"""

from connectors.wecom.client import BASE_URL, ERRCODES, WeComClient
from connectors.wecom.connector import WeComConnector
from connectors.wecom.sandbox import WeComLimits, WeComSandbox

__all__ = ["BASE_URL", "ERRCODES", "WeComClient", "WeComConnector", "WeComLimits", "WeComSandbox"]

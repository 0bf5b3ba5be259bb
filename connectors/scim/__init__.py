"""SCIM 2.0 (RFC 7643/7644): users and flat groups of any SCIM service provider.

``ScimConnector`` talks to a provider's SCIM endpoint with a bearer token. There is no
sandbox of ours: the tests run it against the real ``scim2-server`` on loopback, and
against ``httpx.MockTransport`` for the quirks that server does not produce.
"""

from connectors.scim.client import DEFAULT_RATE, MEDIA_TYPE, ScimClient
from connectors.scim.connector import ScimConnector

__all__ = ["DEFAULT_RATE", "MEDIA_TYPE", "ScimClient", "ScimConnector"]

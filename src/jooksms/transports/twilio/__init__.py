"""Twilio's Messages API as a transport: ``twilio://ACCOUNT_SID:AUTH_TOKEN@api``.

Sending is an HTTP request per message (:class:`TwilioClient`); delivery reports and
incoming SMS arrive as webhooks at the paths below, served by the API
(``api/routes/twilio.py``) and configured in Twilio's console or sent with each message.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from .client import TwilioClient, interpret
from .config import DEFAULT_BASE_URL, TwilioConfig, TwilioConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "INCOMING_PATH",
    "STATUS_PATH",
    "TwilioClient",
    "TwilioConfig",
    "TwilioConfigError",
    "interpret",
    "webhook_url",
]

#: Where Twilio reports what became of a message (the ``StatusCallback`` we send).
STATUS_PATH: Final = "/webhooks/twilio/{connector}/status"
#: Where Twilio posts SMS sent to the connector's numbers (set in Twilio's console).
INCOMING_PATH: Final = "/webhooks/twilio/{connector}/incoming"


def webhook_url(public_url: str, path: str, connector: str) -> str:
    """The absolute URL of a webhook ``path`` for ``connector`` under ``public_url``."""
    return public_url.rstrip("/") + path.format(connector=quote(connector, safe=""))

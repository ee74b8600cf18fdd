"""A Twilio connector's settings, read from its URL.

``twilio://ACCOUNT_SID:AUTH_TOKEN@api?base_url=...&messaging_service_sid=MG...&window=32``
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from jooksms.transports.urls import ConnectorUrlError, Parameters, query_values

DEFAULT_BASE_URL: Final = "https://api.twilio.com"
#: The only host a twilio:// URL names; where requests go is ``base_url``.
HOST: Final = "api"


class TwilioConfigError(ConnectorUrlError):
    """A bad Twilio setting. ``part`` names the URL part or field, for the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TwilioConfig:
    """One Twilio account (or a server that speaks its Messages API). Times in seconds."""

    account_sid: str
    auth_token: str = field(repr=False)
    #: Scheme, host and port of the API; tests point it at a local server.
    base_url: str = DEFAULT_BASE_URL
    #: Send through this Messaging Service (it picks the sender) instead of ``From``.
    messaging_service_sid: str | None = None
    #: HTTP requests in flight at once, at most.
    window: int = 32
    #: Messages per second (token bucket); None leaves pacing to the window.
    rate: float | None = None
    #: Longest wait for one answer.
    timeout: float = 15.0

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def from_url(cls, url: str) -> TwilioConfig:
        """Read ``twilio://ACCOUNT_SID:AUTH_TOKEN@api?...``. Query parameters are the
        field names below ``auth_token``. The token may be percent-encoded; errors
        never repeat it."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as err:
            raise TwilioConfigError("url", str(err)) from None
        if parts.scheme.lower() != "twilio":
            raise TwilioConfigError("scheme", f"expected twilio://, got {parts.scheme or 'none'!r}")
        if not parts.username:
            raise TwilioConfigError(
                "account_sid", "missing: write twilio://ACCOUNT_SID:AUTH_TOKEN@api"
            )
        if not parts.password:
            raise TwilioConfigError(
                "auth_token", "missing: write twilio://ACCOUNT_SID:AUTH_TOKEN@api"
            )
        if (parts.hostname or "") != HOST or port is not None:
            raise TwilioConfigError(
                "host",
                f"write @{HOST} (twilio://ACCOUNT_SID:AUTH_TOKEN@{HOST}); "
                "point at another server with ?base_url=",
            )
        if parts.path not in ("", "/"):
            raise TwilioConfigError("path", "a twilio URL has no path; put settings in the query")
        if parts.fragment:
            raise TwilioConfigError("fragment", "a twilio URL has no #fragment")
        values: dict[str, Any] = {
            "account_sid": unquote(parts.username),
            "auth_token": unquote(parts.password),
        }
        values.update(query_values(parts.query, _PARAMETERS, error=TwilioConfigError))
        return cls(**values)

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


_PARAMETERS: Final[Parameters] = {
    "base_url": (str, "an http:// or https:// URL"),
    "messaging_service_sid": (str, "a Messaging Service SID (MG...)"),
    "window": (int, "a whole number"),
    "rate": (float, "a number of messages per second"),
    "timeout": (float, "a number of seconds"),
}


def _check(config: TwilioConfig) -> None:
    sid = config.account_sid
    if not (sid.startswith("AC") and sid.isascii() and sid.isalnum()):
        raise TwilioConfigError("account_sid", f"{sid!r} is not an Account SID (AC...)")
    token = config.auth_token
    if not token or not token.isascii() or not token.isprintable():
        raise TwilioConfigError("auth_token", "missing or not printable ASCII")
    base = urlsplit(config.base_url)
    if base.scheme not in ("http", "https") or not base.hostname:
        raise TwilioConfigError("base_url", f"{config.base_url!r} is not an http(s):// URL")
    if base.query or base.fragment or base.username:
        raise TwilioConfigError("base_url", "give scheme, host and port only")
    object.__setattr__(config, "base_url", config.base_url.rstrip("/"))
    service = config.messaging_service_sid
    if service is not None and not (service.startswith("MG") and service.isalnum()):
        raise TwilioConfigError(
            "messaging_service_sid", f"{service!r} is not a Messaging Service SID (MG...)"
        )
    window = config.window
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 1000:
        raise TwilioConfigError("window", f"{window!r} is not a whole number from 1 to 1000")
    if config.rate is not None:
        _positive("rate", config.rate)
    _positive("timeout", config.timeout)


def _positive(part: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TwilioConfigError(part, f"{value!r} is not a number")
    if not (math.isfinite(value) and value > 0):
        raise TwilioConfigError(part, f"{value!r} is not a positive number")

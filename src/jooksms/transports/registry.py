"""Which transport a connector URL names, and building it: the one place that knows
every kind (``smpp://``, ``twilio://``), so that the rest of the platform only ever
sees ``transports.base``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import urlsplit

from jooksms.transports.base import DeliveryReport, IncomingSms, Transport
from jooksms.transports.smpp.client import SmppClient, SmppConfig, SmppConfigError
from jooksms.transports.smpp.reports import incoming_to, receipts_to
from jooksms.transports.twilio import (
    STATUS_PATH,
    TwilioClient,
    TwilioConfig,
    TwilioConfigError,
    webhook_url,
)

SCHEMES: Final = ("smpp", "twilio")


class BadConnectorUrl(ValueError):
    """The URL names no transport we have, or one of its settings is wrong."""


@dataclass(frozen=True, slots=True)
class Handlers:
    """Where a transport hands what carriers send back: each returns once stored."""

    on_report: Callable[[DeliveryReport], Awaitable[None]]
    on_incoming: Callable[[IncomingSms], Awaitable[None]]


def scheme_of(url: str) -> str:
    return urlsplit(url.strip()).scheme.lower()


def check_url(url: str) -> None:
    """Refuse a URL no transport can be built from, saying what is wrong with it."""
    try:
        scheme = scheme_of(url)
    except ValueError as exc:  # urlsplit's own refusals: "Invalid IPv6 URL"
        raise BadConnectorUrl(str(exc)) from None
    if scheme not in SCHEMES:
        raise BadConnectorUrl(
            f"unsupported connector scheme {scheme or 'none'!r}: use smpp:// or twilio://"
        )
    try:
        if scheme == "twilio":
            TwilioConfig.from_url(url)
        else:
            SmppConfig.from_url(url)
    except (SmppConfigError, TwilioConfigError, ValueError) as exc:
        raise BadConnectorUrl(str(exc)) from None


def build(
    name: str,
    url: str,
    handlers: Handlers,
    *,
    rate: float | None = None,
    public_url: str | None = None,
) -> Transport:
    """The transport of connector ``name``. ``public_url`` is where carriers that
    report by webhook (Twilio) reach this installation; without it they cannot
    report delivery. ``rate`` (messages per second) overrides the URL's."""
    if scheme_of(url) == "twilio":
        twilio = TwilioConfig.from_url(url)
        if rate is not None:
            twilio = replace(twilio, rate=rate)
        callback = None if public_url is None else webhook_url(public_url, STATUS_PATH, name)
        return TwilioClient(twilio, status_callback=callback)
    config = SmppConfig.from_url(url)
    if rate is not None:
        config = replace(config, rate=rate)
    return SmppClient(
        config,
        on_receipt=receipts_to(name, handlers.on_report),
        on_incoming=incoming_to(name, handlers.on_incoming),
    )


def twilio_auth_token(url: str) -> str | None:
    """The auth token that signs a Twilio connector's webhooks; None for another kind."""
    return TwilioConfig.from_url(url).auth_token if scheme_of(url) == "twilio" else None

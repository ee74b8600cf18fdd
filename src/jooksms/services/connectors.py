"""Connectors: named carrier connections, the routes they serve, and the transports
built from them.

A connector's URL carries its carrier credentials, so it is stored sealed (see
:mod:`jooksms.secret_box`) and opened here only, where transports and webhook checks
need it: delivery code gets plain URLs and never handles keys."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jooksms.db.models import Connector
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.domain.phone import InvalidPhoneNumber, to_e164
from jooksms.errors import Conflict, NotFound, ValidationFailed
from jooksms.secret_box import SecretBox, SecretKeyError, box_for, forget_boxes
from jooksms.services.accounts import get_account
from jooksms.transports import registry
from jooksms.transports.base import Transport
from jooksms.transports.registry import BadConnectorUrl, Handlers


@dataclass(frozen=True, slots=True)
class ConnectorView:
    name: str
    url: str  # password hidden
    account_id: int | None
    senders: list[str]
    prefixes: list[str]
    rate: float | None


async def add_connector(
    session: AsyncSession,
    *,
    name: str,
    url: str,
    account_id: int | None = None,
    senders: Sequence[str] = (),
    prefixes: Sequence[str] = (),
    rate: float | None = None,
) -> ConnectorView:
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationFailed.field("name", "must be 1 to 64 characters")
    _check_url(url)
    if account_id is not None:
        await get_account(session, account_id=account_id)
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise ValidationFailed.field("rate", "must be a positive number of messages per second")
    connector = Connector(
        name=name,
        url=_box(session).seal(url.strip()),
        account_id=account_id,
        senders=",".join(_numbers(senders)) or None,
        prefixes=",".join(_prefixes(prefixes)) or None,
        rate=rate,
    )
    session.add(connector)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a connector named {name!r} already exists") from None
    return _view(connector, url.strip())


async def list_connectors(session: AsyncSession) -> list[ConnectorView]:
    rows = await session.scalars(select(Connector).order_by(Connector.id))
    return [_view(c, _open(session, c.url)) for c in rows]


async def reseal_all(session: AsyncSession, box: SecretBox) -> int:
    """Seal every connector's URL under ``box``'s first key (after a rotation, or
    rows stored in plain text); how many rows there were."""
    rows = list(await session.scalars(select(Connector).order_by(Connector.id)))
    for c in rows:
        c.url = box.reseal(c.url)
    await session.flush()
    return len(rows)


async def remove_connector(session: AsyncSession, *, name: str) -> None:
    result = await session.execute(delete(Connector).where(Connector.name == name))
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"connector {name!r} not found")


async def routing_table(session: AsyncSession) -> RoutingTable:
    """Connectors in the order they were added: the first match wins."""
    rows = await session.scalars(select(Connector).order_by(Connector.id))
    return RoutingTable(
        Route(
            c.name,
            account_id=c.account_id,
            senders=frozenset(filter(None, (c.senders or "").split(","))),
            prefixes=tuple(filter(None, (c.prefixes or "").split(","))),
        )
        for c in rows
    )


async def transports(
    session: AsyncSession, *, handlers: Handlers, public_url: str | None = None
) -> dict[str, Transport]:
    """A transport per connector. ``public_url`` is where carriers that report by
    webhook (Twilio) reach this installation; without it they cannot report delivery."""
    rows = await session.scalars(select(Connector).order_by(Connector.id))
    return {
        c.name: registry.build(
            c.name, _open(session, c.url), handlers, rate=c.rate, public_url=public_url
        )
        for c in rows
    }


async def twilio_auth_token(session: AsyncSession, *, name: str) -> str:
    """The auth token of the Twilio connector ``name``, which signs its webhooks.
    NotFound when there is no such connector or it is not a Twilio one."""
    stored = await session.scalar(select(Connector.url).where(Connector.name == name))
    token = None if stored is None else registry.twilio_auth_token(_open(session, stored))
    if token is None:
        raise NotFound(f"no Twilio connector named {name!r}")
    return token


def redact(url: str) -> str:
    """The URL with its password replaced, for lists and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _box(session: AsyncSession) -> SecretBox:
    # The key belongs with the database it seals: found from its URL, read once.
    return box_for(session.get_bind().engine.url.render_as_string(hide_password=False))


def _open(session: AsyncSession, stored: str) -> str:
    try:
        return _box(session).open(stored)
    except SecretKeyError:
        # Another process may have rotated the keys since this one read them.
        forget_boxes()
        return _box(session).open(stored)


def _check_url(url: str) -> None:
    try:
        registry.check_url(url)
    except BadConnectorUrl as exc:
        raise ValidationFailed.field("url", str(exc)) from None


def _numbers(numbers: Sequence[str]) -> list[str]:
    try:
        return [to_e164(n) for n in numbers]
    except InvalidPhoneNumber as exc:
        raise ValidationFailed.field("number", str(exc)) from None


def _prefixes(prefixes: Sequence[str]) -> list[str]:
    cleaned = []
    for prefix in prefixes:
        value = prefix.strip()
        if not value.startswith("+") or not value[1:].isdigit():
            raise ValidationFailed.field("prefix", f"{prefix!r} is not a + followed by digits")
        cleaned.append(value)
    return cleaned


def _view(c: Connector, url: str) -> ConnectorView:
    return ConnectorView(
        name=c.name,
        url=redact(url),
        account_id=c.account_id,
        senders=list(filter(None, (c.senders or "").split(","))),
        prefixes=list(filter(None, (c.prefixes or "").split(","))),
        rate=c.rate,
    )

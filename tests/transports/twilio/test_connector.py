"""Twilio connectors as ``services.connectors`` keeps them: URL checks, the token
hidden, the transport built with its status callback and rate."""

from __future__ import annotations

import uuid

import pytest

from jooksms.db.engine import Database
from jooksms.errors import NotFound, ValidationFailed
from jooksms.services import connectors
from jooksms.transports.registry import Handlers
from jooksms.transports.twilio import TwilioClient

URL = "twilio://AC42:t0ps3cret@api?base_url=http://127.0.0.1:8123&window=4"


async def _nothing(*_: object) -> None:
    return None


async def test_twilio_connector_added_with_its_token_hidden(db: Database) -> None:
    name = f"tw {uuid.uuid4().hex[:6]}/x"  # a name that must be escaped in a URL
    async with db.write() as session:
        view = await connectors.add_connector(session, name=name, url=URL, rate=25)
    try:
        assert view.url == "twilio://AC42:***@api?base_url=http://127.0.0.1:8123&window=4"
        async with db.read() as session:
            assert "t0ps3cret" not in repr(await connectors.list_connectors(session))
            assert await connectors.twilio_auth_token(session, name=name) == "t0ps3cret"
            built = await connectors.transports(
                session,
                handlers=Handlers(_nothing, _nothing),
                public_url="https://sms.example.com/",
            )
            without_public_url = await connectors.transports(
                session, handlers=Handlers(_nothing, _nothing)
            )
        client = built[name]
        assert isinstance(client, TwilioClient)
        quoted = name.replace(" ", "%20").replace("/", "%2F")
        assert client.status_callback == (
            f"https://sms.example.com/webhooks/twilio/{quoted}/status"
        )
        assert (client.config.window, client.config.rate) == (4, 25)
        assert client.config.base_url == "http://127.0.0.1:8123"
        other = without_public_url[name]
        assert isinstance(other, TwilioClient)
        assert other.status_callback is None
    finally:
        async with db.write() as session:
            await connectors.remove_connector(session, name=name)


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("twilio://AC1@api", "auth_token"),
        ("twilio://AC1:t@example.com", "host"),
        ("twilio://AC1:t@api?window=0", "window"),
        ("twilio://AC1:t@api?base_url=nope", "base_url"),
    ],
)
async def test_bad_twilio_urls_name_the_part(db: Database, url: str, part: str) -> None:
    async with db.write() as session:
        with pytest.raises(ValidationFailed) as caught:
            await connectors.add_connector(session, name="bad", url=url)
    assert caught.value.fields["url"].startswith(f"{part}: ")


async def test_auth_token_only_for_twilio_connectors(db: Database) -> None:
    name = f"smpp-{uuid.uuid4().hex[:6]}"
    async with db.write() as session:
        await connectors.add_connector(session, name=name, url="smpp://id:pw@smsc.example")
    try:
        async with db.read() as session:
            with pytest.raises(NotFound):
                await connectors.twilio_auth_token(session, name=name)
            with pytest.raises(NotFound):
                await connectors.twilio_auth_token(session, name="no-such-connector")
    finally:
        async with db.write() as session:
            await connectors.remove_connector(session, name=name)

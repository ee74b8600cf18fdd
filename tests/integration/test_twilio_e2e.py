"""The Twilio connector end to end, over real sockets: the API accepts a message, the
worker sends it with the Twilio transport to a server that implements Twilio's
Messages API, that server reports delivery to the status callback of our app served
by uvicorn, and the message ends ``delivered`` (or ``failed`` with Twilio's error
code); an incoming SMS webhook lands in the account. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from jooksms.api.app import create_app
from jooksms.config import load_settings
from jooksms.db.engine import Database
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.delivery.worker import Worker, WorkerConfig
from jooksms.platform import Platform
from jooksms.services import connectors
from jooksms.store.sql import MESSAGES
from jooksms.transports.base import Transport
from jooksms.transports.twilio import INCOMING_PATH, TwilioClient, webhook_url
from tests.conftest import Tenant, fresh_number
from tests.helpers.fake_twilio import FakeTwilio, twilio_signature
from tests.helpers.live import serve_in_thread
from tests.helpers.messages import only_these_due
from tests.helpers.waiting import until


@dataclass
class Setup:
    fake: FakeTwilio
    api_url: str
    connector: str
    worker: Worker
    stop: asyncio.Event


@pytest.fixture
def fake_twilio() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(callback_delay=0.02)
    with fake.running() as base_url:
        yield fake, base_url


@pytest.fixture
def api_url(database_url: str) -> Iterator[str]:
    """Our app in its own server (its own engine: pooled connections cannot move
    between event loops), without JOOKSMS_PUBLIC_URL: signatures are checked against
    the URL the request came to, which is the one Twilio was given."""
    with serve_in_thread(create_app(Platform(load_settings(database_url=database_url)))) as url:
        yield url


@pytest.fixture
async def setup(
    db: Database, tenant: Tenant, fake_twilio: tuple[FakeTwilio, str], api_url: str
) -> AsyncIterator[Setup]:
    fake, base_url = fake_twilio
    name = f"twilio-{uuid.uuid4().hex[:8]}"
    url = f"twilio://{fake.account_sid}:{fake.auth_token}@api?base_url={base_url}&window=8"
    async with db.write() as session:
        await connectors.add_connector(session, name=name, url=url, account_id=tenant.account_id)
    transports: dict[str, Transport] = {}
    worker = Worker(
        db,
        transports,
        RoutingTable([Route(name, account_id=tenant.account_id)]),
        WorkerConfig(idle_poll=0.02),
    )
    async with db.read() as session:
        built = await connectors.transports(
            session,
            handlers=worker.handlers(),
            public_url=api_url,
        )
    transport = built[name]
    assert isinstance(transport, TwilioClient)
    transports[name] = transport
    await transport.start()
    stop = asyncio.Event()
    try:
        yield Setup(fake, api_url, name, worker, stop)
    finally:
        stop.set()
        await transport.stop(5)
        async with db.write() as session:
            await connectors.remove_connector(session, name=name)


async def test_sent_through_twilio_then_delivered_or_failed(
    setup: Setup, tenant: Tenant, db: Database
) -> None:
    failing = fresh_number()
    setup.fake.undelivered.add(failing)
    r = await tenant.post(
        "/api/v1/sms/many",
        json={
            "list": [
                {"to": "+50768819519", "body": "Hello through Twilio"},
                {"to": failing, "body": "This one never arrives"},
            ]
        },
    )
    assert r.status_code == 200, r.text
    delivered, failed = r.json()["ids"]
    await only_these_due(db, [delivered, failed])
    runner = asyncio.create_task(setup.worker.run(setup.stop))
    try:
        await until(lambda: _final(db, [delivered, failed]))
    finally:
        setup.stop.set()
        await asyncio.wait_for(runner, 10)
    assert await _rows(db, [delivered, failed]) == {
        delivered: ("delivered", None),
        failed: ("failed", "30003"),
    }
    created = {m["To"]: m for m in setup.fake.messages}
    assert created["+50768819519"]["Body"] == "Hello through Twilio"
    assert created["+50768819519"]["From"] == tenant.number
    assert created["+50768819519"]["StatusCallback"] == (
        f"{setup.api_url}/webhooks/twilio/{setup.connector}/status"
    )
    # Every report (sent, then delivered or undelivered) was accepted as signed.
    await until(lambda: len(setup.fake.callbacks) == 4)
    assert {c.answer for c in setup.fake.callbacks} == {200}


async def test_incoming_sms_webhook_over_http(setup: Setup, tenant: Tenant) -> None:
    sender = fresh_number()
    text = f"Reply {uuid.uuid4().hex[:6]}"
    url = webhook_url(setup.api_url, INCOMING_PATH, setup.connector)
    fields = {
        "AccountSid": setup.fake.account_sid,
        "Body": text,
        "From": sender,
        "MessageSid": "SM" + uuid.uuid4().hex,
        "NumMedia": "0",
        "To": tenant.number,
    }
    signature = twilio_signature(setup.fake.auth_token, url, fields)
    async with httpx.AsyncClient() as http:
        r = await http.post(url, data=fields, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    data = (await tenant.get("/api/v1/sms")).json()["data"]
    [message] = [m for m in data if m["content"] == text]
    assert (message["direction"], message["status"], message["number"]) == (
        "incoming",
        "received",
        sender,
    )


async def _rows(db: Database, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(MESSAGES.c.id, MESSAGES.c.status, MESSAGES.c.error_code).where(
                MESSAGES.c.id.in_(ids)
            )
        )
        return {mid: (status, code) for mid, status, code in rows}


async def _final(db: Database, ids: list[int]) -> bool:
    return all(s in ("delivered", "failed") for s, _ in (await _rows(db, ids)).values())

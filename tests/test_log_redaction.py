"""Logs carry no message bodies, secrets or URL passwords, and phone numbers only
masked (in full at DEBUG): a failed insert, the SMPP delivery path, and the masking
rules themselves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from jooksms import log_redaction
from jooksms.api.app import create_app
from jooksms.config import load_settings
from jooksms.db.engine import Database
from jooksms.db.migrate import upgrade
from jooksms.log_redaction import mask_number, redact
from jooksms.platform import Platform
from jooksms.smsc.config import SimulatorConfig
from jooksms.smsc.simulator import Simulator
from jooksms.transports.base import IncomingSms
from jooksms.transports.smpp.client import Receipt, SmppClient, SmppConfig
from jooksms.transports.smpp.pdu import SubmitSm
from tests.conftest import BACKENDS, POSTGRES_URL, create_pg_database, drop_pg_database, make_tenant

BODY = "my PIN is 4921, do not share"
NUMBER = "+50768819519"


@pytest.fixture
def redacting() -> Iterator[None]:
    before = logging.getLogRecordFactory()
    log_redaction.install()
    log_redaction.install()  # idempotent: one layer only
    yield
    logging.setLogRecordFactory(before)


def test_masking_rules() -> None:
    assert mask_number(NUMBER) == "+507******19"
    pdu = SubmitSm(
        sequence_number=7,
        source_addr="50760000001",
        destination_addr=NUMBER[1:],
        short_message=BODY.encode(),
    )
    for shown in (repr(pdu), repr(IncomingSms("50760000001", NUMBER, BODY))):
        masked = redact(shown)
        assert BODY not in masked and "4921" not in masked
        assert NUMBER[1:] not in masked and "50760000001" not in masked
    line = "incoming SMS to +50768819519, a number no account owns"
    assert redact(line) == "incoming SMS to +507******19, a number no account owns"
    assert redact(line, numbers=False) == line
    access = '"GET /api/v1/sms/search?number=%2B50768819519 HTTP/1.1" 200'
    assert redact(access) == '"GET /api/v1/sms/search?number=%2B507******19 HTTP/1.1" 200'
    assert redact("smpp://acme:s3cret@smsc:2775?window=8") == "smpp://acme:***@smsc:2775?window=8"
    assert "s3cret" not in redact("input_value='s3cret'") + redact('client_secret="s3cret"')
    # What is not a number or a body stays: ids, ports, counts.
    assert redact("message 1234567 sent to smsc:2775 in 3 parts") == (
        "message 1234567 sent to smsc:2775 in 3 parts"
    )


@pytest.fixture(params=BACKENDS)
async def failing_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own whose message inserts fail."""
    if request.param == "sqlite":
        url = load_settings(database_url=f"sqlite:///{tmp_path / 'f.db'}").database_url
        sabotage = [
            "CREATE TRIGGER refuse BEFORE INSERT ON messages "
            "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
        ]
    else:
        assert POSTGRES_URL
        url = await create_pg_database(POSTGRES_URL)
        sabotage = [
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'refused by test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON messages "
            "FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    async with db.write() as session:
        for statement in sabotage:
            await session.execute(text(statement))
    await db.dispose()
    yield url
    if request.param != "sqlite":
        assert POSTGRES_URL
        await drop_pg_database(POSTGRES_URL, url)


async def test_a_failed_insert_logs_no_recipient_or_text(
    failing_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(database_url=failing_url)
    db = Database(failing_url)
    app = create_app(Platform(settings, db))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anon:
            tenant = await make_tenant(db, anon)
            with caplog.at_level(logging.INFO):
                r = await tenant.post("/api/v1/sms", json={"to": NUMBER, "body": BODY})
            await tenant.http.aclose()
    finally:
        await db.dispose()
    assert r.status_code >= 500
    assert "refused by test" in caplog.text  # the failure is logged...
    assert BODY not in caplog.text  # ...without what the insert carried
    assert NUMBER not in caplog.text and NUMBER[1:] not in caplog.text


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
async def test_the_delivery_path_logs_no_body_and_masks_numbers(
    redacting: None, caplog: pytest.LogCaptureFixture, level: int
) -> None:
    """A receipt and an incoming SMS whose handlers fail are logged with their repr:
    no body, numbers masked unless DEBUG."""
    simulator = Simulator(SimulatorConfig(port=0, http_port=None, receipt_delay=0.0))
    await simulator.start()
    failures: list[object] = []

    async def refuse(item: Receipt | IncomingSms) -> None:
        failures.append(item)
        raise RuntimeError("handler down")

    url = f"smpp://jooksms:secret@127.0.0.1:{simulator.port}"
    client = SmppClient(SmppConfig.from_url(url), on_receipt=refuse, on_incoming=refuse)
    try:
        with caplog.at_level(level):
            await client.start()
            await simulator.inject(source=NUMBER, destination="+50760000001", text=BODY)
            async with asyncio.timeout(5):
                while "callback failed" not in caplog.text:
                    await asyncio.sleep(0.01)
    finally:
        await client.stop(2)
        await simulator.stop()
    assert failures and "callback failed for IncomingSms(" in caplog.text
    assert BODY not in caplog.text and "4921" not in caplog.text
    assert "secret@" not in caplog.text
    if level == logging.DEBUG:
        assert NUMBER in caplog.text
    else:
        assert NUMBER not in caplog.text and NUMBER[1:] not in caplog.text
        assert mask_number(NUMBER) in caplog.text

"""Twilio's webhooks: status callbacks move sent messages to delivered or failed,
incoming SMS land in the account that owns the number; every request must carry
Twilio's signature made with the connector's auth token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from prometheus_client import generate_latest
from sqlalchemy import func, select

from jooksms import store as stores
from jooksms.api.payload import MAX_FORM_KEYS
from jooksms.db.engine import Database
from jooksms.metrics import REGISTRY
from jooksms.services import connectors
from jooksms.services.twilio_webhooks import valid_signature
from jooksms.store.sql import MESSAGES
from jooksms.store.types import Sent
from jooksms.transports.twilio import INCOMING_PATH, STATUS_PATH
from tests.conftest import Tenant, fresh_number
from tests.helpers.fake_twilio import twilio_signature
from tests.helpers.messages import only_these_due
from tests.helpers.metrics_text import parse, value

BASE = "http://testserver"  # the settings fixture's public URL
TOKEN = "w3bh00k-t0ken"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture
async def connector(db: Database) -> AsyncIterator[str]:
    # A name with characters that travel percent-encoded, as Twilio signs them.
    name = f"tw {uuid.uuid4().hex[:8]}/é"
    async with db.write() as session:
        await connectors.add_connector(session, name=name, url=f"twilio://AC1:{TOKEN}@api")
    yield name
    async with db.write() as session:
        await connectors.remove_connector(session, name=name)


def status_path(connector: str) -> str:
    return STATUS_PATH.format(connector=quote(connector, safe=""))


def incoming_path(connector: str) -> str:
    return INCOMING_PATH.format(connector=quote(connector, safe=""))


async def post(
    client: httpx.AsyncClient,
    path: str,
    fields: dict[str, str],
    *,
    token: str = TOKEN,
    signature: str | None = None,
    signed_url: str | None = None,
) -> httpx.Response:
    url = signed_url or BASE + path
    headers = {"X-Twilio-Signature": signature or twilio_signature(token, url, fields)}
    return await client.post(path, data=fields, headers=headers)


async def sent_message(tenant: Tenant, db: Database, connector: str, sid: str) -> int:
    """A message the worker sent through ``connector``, which Twilio named ``sid``."""
    r = await tenant.post("/api/v1/sms", json={"to": "+50768819519", "body": "status please"})
    message_id: int = r.json()["data"]["id"]
    await only_these_due(db, [message_id])
    now = datetime.now(UTC)

    def send(session: Any) -> None:
        claimed = stores.of(session).claim_due(
            session, now=now, limit=10, lease=timedelta(seconds=30)
        )
        assert [c.id for c in claimed] == [message_id]
        sent = Sent(message_id, claimed[0].account_id, connector, [sid])
        stores.of(session).record_sent(session, [sent], now=now)

    await db.run_write(send)
    return message_id


def _transitions(status: str) -> float:
    samples = parse(generate_latest(REGISTRY))
    return value(samples, "jooksms_message_transitions_total", status=status)


async def row(db: Database, message_id: int) -> Any:
    async with db.read() as session:
        result = await session.execute(
            select(MESSAGES.c.status, MESSAGES.c.error_code).where(MESSAGES.c.id == message_id)
        )
        return result.one()


def status_fields(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC1",
        "ApiVersion": "2010-04-01",
        "From": "+50672004393",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": "+50768819519",
        **extra,
    }


# --- signatures -----------------------------------------------------------------------

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_signature_of_twilios_documented_example() -> None:
    assert valid_signature("12345", DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    assert valid_signature("12345", DOC_URL, list(DOC_PARAMS.items()), DOC_SIGNATURE)
    # The fake Twilio signs with its own hmac code: it must agree with the example too.
    assert twilio_signature("12345", DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert not valid_signature("54321", DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    assert not valid_signature("12345", DOC_URL, {**DOC_PARAMS, "Digits": "1235"}, DOC_SIGNATURE)
    assert not valid_signature("12345", DOC_URL + "&baz=3", DOC_PARAMS, DOC_SIGNATURE)


# --- status callbacks -----------------------------------------------------------------


async def test_delivered_status_delivers_the_message(
    anon: httpx.AsyncClient, tenant: Tenant, db: Database, connector: str
) -> None:
    sid = "SM" + uuid.uuid4().hex
    message_id = await sent_message(tenant, db, connector, sid)
    path = status_path(connector)
    for step in ("queued", "sent"):  # on the way: nothing changes
        r = await post(anon, path, status_fields(sid, step))
        assert r.status_code == 200, r.text
    assert (await row(db, message_id)).status == "sent"
    delivered_before = _transitions("delivered")
    r = await post(anon, path, status_fields(sid, "delivered"))
    assert r.status_code == 200, r.text
    assert tuple(await row(db, message_id)) == ("delivered", None)
    # Counted as the SMPP receipts are, once; a repeated callback moves and counts nothing.
    assert _transitions("delivered") == delivered_before + 1
    await post(anon, path, status_fields(sid, "delivered"))
    assert _transitions("delivered") == delivered_before + 1
    shown = (await tenant.get(f"/api/v1/sms/{message_id}")).json()["data"]
    assert shown["status"] == "delivered"


@pytest.mark.parametrize("final", ["undelivered", "failed"])
async def test_undelivered_status_fails_the_message_with_twilios_code(
    anon: httpx.AsyncClient, tenant: Tenant, db: Database, connector: str, final: str
) -> None:
    sid = "SM" + uuid.uuid4().hex
    message_id = await sent_message(tenant, db, connector, sid)
    fields = status_fields(sid, final, ErrorCode="30003")
    r = await post(anon, status_path(connector), fields)
    assert r.status_code == 200, r.text
    assert tuple(await row(db, message_id)) == ("failed", "30003")
    # A late "delivered" cannot bring it back.
    await post(anon, status_path(connector), status_fields(sid, "delivered"))
    assert (await row(db, message_id)).status == "failed"


async def test_status_of_an_unknown_sid_is_accepted(
    anon: httpx.AsyncClient, connector: str
) -> None:
    fields = status_fields("SM" + uuid.uuid4().hex, "delivered")
    r = await post(anon, status_path(connector), fields)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "signature",
    [None, "", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "not base64 at all ✓".encode()],
)
async def test_bad_or_missing_signature_is_403(
    anon: httpx.AsyncClient,
    tenant: Tenant,
    db: Database,
    connector: str,
    signature: str | bytes | None,
) -> None:
    sid = "SM" + uuid.uuid4().hex
    message_id = await sent_message(tenant, db, connector, sid)
    path = status_path(connector)
    headers: dict[bytes, bytes] = {}
    if signature is not None:
        value = signature if isinstance(signature, bytes) else signature.encode()
        headers[b"X-Twilio-Signature"] = value
    r = await anon.post(path, data=status_fields(sid, "delivered"), headers=headers)
    assert r.status_code == 403
    assert r.json() == {
        "result": "error",
        "error": {
            "code": "forbidden",
            "message": "the X-Twilio-Signature header is missing or wrong",
        },
    }
    assert (await row(db, message_id)).status == "sent"


async def test_signature_with_another_token_is_403(anon: httpx.AsyncClient, connector: str) -> None:
    fields = status_fields("SM1", "delivered")
    r = await post(anon, status_path(connector), fields, token="other")
    assert r.status_code == 403


async def test_signature_covers_the_fields(anon: httpx.AsyncClient, connector: str) -> None:
    path = status_path(connector)
    signature = twilio_signature(TOKEN, BASE + path, status_fields("SM1", "delivered"))
    tampered = status_fields("SM2", "delivered")
    r = await anon.post(path, data=tampered, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 403


async def test_public_url_is_what_is_signed(app: Any, connector: str) -> None:
    """Behind a proxy the request reaches us at another address than Twilio called:
    the signature is checked against JOOKSMS_PUBLIC_URL."""
    path = status_path(connector)
    fields = status_fields("SM" + uuid.uuid4().hex, "sent")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7:8000") as inner:
        assert (await post(inner, path, fields)).status_code == 200
        signed_for_inner = twilio_signature(TOKEN, "http://10.0.0.7:8000" + path, fields)
        r = await post(inner, path, fields, signature=signed_for_inner)
        assert r.status_code == 403


@pytest.mark.parametrize("kind", ["status", "incoming"])
async def test_unknown_connector_is_404(anon: httpx.AsyncClient, kind: str) -> None:
    r = await post(anon, f"/webhooks/twilio/nobody/{kind}", status_fields("SM1", "delivered"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("kind", ["status", "incoming"])
async def test_a_form_with_too_many_fields_is_a_400(anon: httpx.AsyncClient, kind: str) -> None:
    flood = "&".join(f"f{i}=x" for i in range(MAX_FORM_KEYS + 1))
    r = await anon.post(
        f"/webhooks/twilio/nobody/{kind}",
        content=flood,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    assert str(MAX_FORM_KEYS) in r.json()["error"]["message"]


async def test_smpp_connector_has_no_twilio_webhooks(anon: httpx.AsyncClient, db: Database) -> None:
    name = f"smpp-{uuid.uuid4().hex[:8]}"
    async with db.write() as session:
        await connectors.add_connector(session, name=name, url="smpp://id:pw@smsc.example")
    try:
        r = await post(anon, status_path(name), status_fields("SM1", "sent"))
        assert r.status_code == 404
    finally:
        async with db.write() as session:
            await connectors.remove_connector(session, name=name)


@pytest.mark.parametrize("missing", ["MessageSid", "MessageStatus"])
async def test_missing_status_field_is_422_naming_it(
    anon: httpx.AsyncClient, connector: str, missing: str
) -> None:
    fields = status_fields("SM1", "delivered")
    del fields[missing]
    r = await post(anon, status_path(connector), fields)
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == {missing: "missing"}


async def test_bad_bodies_are_4xx_never_5xx(anon: httpx.AsyncClient, connector: str) -> None:
    path = status_path(connector)
    headers = {"X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"}
    r = await anon.post(path, content=b"MessageSid=\xff\xfe", headers=headers)
    assert r.status_code == 400
    r = await anon.post(path, content=b'{"MessageSid": "SM1"}', headers=headers)
    assert r.status_code == 403
    r = await anon.get(path)
    assert r.status_code == 405


# --- incoming SMS ---------------------------------------------------------------------


def incoming_fields(source: str, destination: str, body: str) -> dict[str, str]:
    return {
        "AccountSid": "AC1",
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": source,
        "FromCountry": "PA",
        "MessageSid": "SM" + uuid.uuid4().hex,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": "SM" + uuid.uuid4().hex,
        "SmsStatus": "received",
        "To": destination,
    }


async def test_incoming_sms_lands_in_the_account_with_its_contact(
    anon: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, connector: str
) -> None:
    sender = fresh_number()
    made = await tenant.post(
        "/api/v1/contact", json={"first_name": "Ana", "last_name": "Diaz", "main_phone": sender}
    )
    assert made.status_code == 200, made.text
    text = f"¡Hola! {uuid.uuid4().hex[:6]}"
    r = await post(anon, incoming_path(connector), incoming_fields(sender, tenant.number, text))
    assert r.status_code == 200, r.text
    assert r.text == TWIML
    assert r.headers["content-type"].startswith("text/xml")
    [message] = [
        m for m in (await tenant.get("/api/v1/sms")).json()["data"] if m["content"] == text
    ]
    assert (message["direction"], message["status"], message["number"]) == (
        "incoming",
        "received",
        sender,
    )
    assert message["contact"]["data"]["first_name"] == "Ana"
    theirs = (await other_tenant.get("/api/v1/sms")).json()["data"]
    assert not any(m["content"] == text for m in theirs)


async def test_incoming_picture_keeps_its_link(
    anon: httpx.AsyncClient, tenant: Tenant, connector: str
) -> None:
    fields = incoming_fields(fresh_number(), tenant.number, "look")
    media = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM{uuid.uuid4().hex}"
    fields |= {"NumMedia": "1", "MediaUrl0": media, "MediaContentType0": "image/jpeg"}
    r = await post(anon, incoming_path(connector), fields)
    assert r.status_code == 200
    contents = [m["content"] for m in (await tenant.get("/api/v1/sms")).json()["data"]]
    assert f"look\n{media}" in contents


async def test_incoming_to_a_number_nobody_owns_is_not_stored(
    anon: httpx.AsyncClient, db: Database, connector: str
) -> None:
    text = f"nobody's {uuid.uuid4().hex}"
    fields = incoming_fields(fresh_number(), fresh_number(), text)
    r = await post(anon, incoming_path(connector), fields)
    assert r.status_code == 200
    assert r.text == TWIML
    async with db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(MESSAGES).where(MESSAGES.c.content == text)
        )
    assert count == 0


@pytest.mark.parametrize("missing", ["From", "To"])
async def test_incoming_without_a_number_is_422(
    anon: httpx.AsyncClient, tenant: Tenant, connector: str, missing: str
) -> None:
    fields = incoming_fields(fresh_number(), tenant.number, "hi")
    del fields[missing]
    r = await post(anon, incoming_path(connector), fields)
    assert r.status_code == 422
    assert missing in r.json()["error"]["fields"]


async def test_incoming_with_a_bad_signature_is_403(
    anon: httpx.AsyncClient, tenant: Tenant, connector: str
) -> None:
    fields = incoming_fields(fresh_number(), tenant.number, "forged")
    r = await post(anon, incoming_path(connector), fields, token="forger")
    assert r.status_code == 403
    contents = [m["content"] for m in (await tenant.get("/api/v1/sms")).json()["data"]]
    assert "forged" not in contents


async def test_webhooks_are_not_in_the_openapi_document(anon: httpx.AsyncClient) -> None:
    paths = (await anon.get("/api/v1/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/webhooks")]

"""``Idempotency-Key`` on the send endpoints: a retry gets the first answer, byte for
byte, and creates nothing; a key reused for another request is a 422 naming it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from jooksms.db.engine import Database
from jooksms.db.models import IdempotencyKey, Message
from jooksms.db.types import utcnow
from tests.conftest import Tenant

HEADER = "Idempotency-Key"
SENDS: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/sms", {"to": "+50768819519", "body": "once"}),
    ("/api/v1/sms/to_many", {"body": "once", "list": [{"to": "+50768819519"}, {"to": "x"}]}),
    (
        "/api/v1/sms/many",
        {"list": [{"to": "+50768819519", "body": "a"}, {"to": "+50768819520", "body": "b"}]},
    ),
]


async def stored(db: Database, tenant: Tenant) -> int:
    async with db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(Message).where(Message.account_id == tenant.account_id)
        )
    return int(count or 0)


@pytest.mark.parametrize(("path", "body"), SENDS, ids=[p for p, _ in SENDS])
async def test_a_retry_gets_the_first_answer_and_creates_nothing(
    db: Database, tenant: Tenant, path: str, body: dict[str, Any]
) -> None:
    first = await tenant.post(path, json=body, headers={HEADER: "k-1"})
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    created = await stored(db, tenant)
    assert created >= 1
    again = await tenant.post(path, json=body, headers={HEADER: "k-1"})
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert await stored(db, tenant) == created


async def test_the_same_request_as_a_form_is_the_same_request(tenant: Tenant) -> None:
    first = await tenant.post(
        "/api/v1/sms", json={"to": "+50768819519", "body": "f"}, headers={HEADER: "f"}
    )
    again = await tenant.post(
        "/api/v1/sms", data={"body": "f", "to": "+50768819519"}, headers={HEADER: "f"}
    )
    assert again.content == first.content


async def test_without_the_header_every_request_creates(db: Database, tenant: Tenant) -> None:
    for _ in range(2):
        r = await tenant.post("/api/v1/sms", json={"to": "+50768819519", "body": "twice"})
        assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert await stored(db, tenant) == 2


async def test_a_key_reused_for_another_request_is_refused(db: Database, tenant: Tenant) -> None:
    await tenant.post(
        "/api/v1/sms", json={"to": "+50768819519", "body": "a"}, headers={HEADER: "r"}
    )
    r = await tenant.post(
        "/api/v1/sms", json={"to": "+50768819519", "body": "b"}, headers={HEADER: "r"}
    )
    assert r.status_code == 422
    assert HEADER in r.json()["error"]["fields"]
    other = await tenant.post(
        "/api/v1/sms/to_many",
        json={"body": "a", "list": [{"to": "+50768819519"}]},
        headers={HEADER: "r"},
    )
    assert other.status_code == 422
    assert await stored(db, tenant) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "a\tb"])
async def test_a_malformed_key_is_a_422_naming_the_header(tenant: Tenant, key: str) -> None:
    r = await tenant.post(
        "/api/v1/sms",
        json={"to": "+50768819519", "body": "a"},
        headers={HEADER: key.encode("utf-8")},
    )
    assert r.status_code == 422, r.text
    assert HEADER in r.json()["error"]["fields"]


async def test_a_refused_request_keeps_no_key(db: Database, tenant: Tenant) -> None:
    bad = await tenant.post("/api/v1/sms", json={"to": "nope", "body": "a"}, headers={HEADER: "b"})
    assert bad.status_code == 422
    good = await tenant.post(
        "/api/v1/sms", json={"to": "+50768819519", "body": "a"}, headers={HEADER: "b"}
    )
    assert good.status_code == 200 and "idempotent-replayed" not in good.headers
    assert await stored(db, tenant) == 1


async def test_keys_belong_to_their_account(
    db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    body = {"to": "+50768819519", "body": "mine"}
    a = await tenant.post("/api/v1/sms", json=body, headers={HEADER: "shared"})
    b = await other_tenant.post("/api/v1/sms", json=body, headers={HEADER: "shared"})
    assert a.json()["data"]["id"] != b.json()["data"]["id"]
    assert "idempotent-replayed" not in b.headers


async def test_a_key_older_than_24_hours_is_forgotten(db: Database, tenant: Tenant) -> None:
    body = {"to": "+50768819519", "body": "old"}
    first = await tenant.post("/api/v1/sms", json=body, headers={HEADER: "old"})
    async with db.write() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.account_id == tenant.account_id)
            .values(created_at=utcnow() - timedelta(hours=24, seconds=1))
        )
    again = await tenant.post("/api/v1/sms", json=body, headers={HEADER: "old"})
    assert again.status_code == 200
    assert again.json()["data"]["id"] != first.json()["data"]["id"]
    assert await stored(db, tenant) == 2


@pytest.mark.parametrize(("path", "body"), SENDS[:2], ids=[p for p, _ in SENDS[:2]])
async def test_concurrent_requests_with_one_key_create_once(
    db: Database, tenant: Tenant, path: str, body: dict[str, Any]
) -> None:
    answers = await asyncio.gather(
        *(tenant.post(path, json=body, headers={HEADER: "race"}) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert await stored(db, tenant) == 1

"""Failed token requests are throttled per client id and per source address, with
real requests: 429 with Retry-After once a key failed too often, no database work
for a throttled wrong secret, and the client with the right secret still served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from jooksms.api.app import create_app
from jooksms.config import Settings, load_settings
from jooksms.db.engine import Database
from jooksms.platform import Platform
from jooksms.services import accounts
from tests.helpers.live import serve_in_thread

TOKEN = "/api/v1/oauth/access_token"


@pytest.fixture
async def guarded(database_url: str) -> AsyncIterator[tuple[Any, Database]]:
    """An app of its own (its own limiter) allowing 3 failures per client id and 6
    per address within 5 minutes."""
    settings = load_settings(
        database_url=database_url,
        token_failures_per_client=3,
        token_failures_per_address=6,
        throttle_window=300,
    )
    db = Database(settings.database_url)
    yield create_app(Platform(settings, db)), db
    await db.dispose()


@asynccontextmanager
async def _from(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements ``db`` runs while inside."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    engines = {db.read_engine.sync_engine, db.write_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def _client(db: Database) -> dict[str, str]:
    async with db.write() as session:
        account = await accounts.create_account(session, name="Throttled", numbers=[])
        client = await accounts.create_client(session, account_id=account.id)
    return {"client_id": client.client_id, "client_secret": client.client_secret}


def _assert_throttled(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert 0 < int(r.headers["retry-after"]) <= 300
    assert r.json() == {
        "result": "error",
        "error": "rate_limited",
        "error_description": "too many failed attempts: wait before trying again",
    }


async def test_wrong_secrets_for_a_client_id_are_throttled_not_the_right_one(
    guarded: tuple[Any, Database],
) -> None:
    app, db = guarded
    creds = await _client(db)
    wrong = {**creds, "client_secret": "guess"}
    async with _from(app, "198.51.100.7") as attacker, _from(app, "203.0.113.9") as owner:
        for _ in range(3):
            assert (await attacker.post(TOKEN, data=wrong)).status_code == 401
        with _statements(db) as flood_sql:
            flood = await asyncio.gather(*(attacker.post(TOKEN, data=wrong) for _ in range(50)))
            # Meanwhile the owner presents the right secret, and is served.
            served = await owner.post(TOKEN, data=creds)
        for r in flood:
            _assert_throttled(r)
        assert served.status_code == 200, served.text
        assert not [sql for sql in flood_sql if "api_clients" in sql], flood_sql
        # The right secret wins even from the attacker's own address.
        assert (await attacker.post(TOKEN, data=creds)).status_code == 200
        # And other clients are not held back by someone else's failures.
        other = await _client(db)
        assert (await attacker.post(TOKEN, data=other)).status_code == 200


async def test_an_address_cycling_client_ids_is_throttled_without_database_work(
    guarded: tuple[Any, Database],
) -> None:
    app, db = guarded
    known = await _client(db)
    async with _from(app, "198.51.100.8") as attacker, _from(app, "203.0.113.10") as elsewhere:
        # A client that got a token from this address before the flood.
        assert (await attacker.post(TOKEN, data=known)).status_code == 200
        for i in range(6):
            r = await attacker.post(TOKEN, data={"client_id": f"id{i}", "client_secret": "x"})
            assert r.status_code == 401
        with _statements(db) as flood_sql:
            for i in range(6, 40):
                _assert_throttled(
                    await attacker.post(TOKEN, data={"client_id": f"id{i}", "client_secret": "x"})
                )
        assert flood_sql == []
        assert (await attacker.post(TOKEN, data=known)).status_code == 200
        fresh = await _client(db)
        assert (await elsewhere.post(TOKEN, data=fresh)).status_code == 200
        r = await elsewhere.post(TOKEN, data={"client_id": "id99", "client_secret": "x"})
        assert r.status_code == 401


def test_the_limits_are_settings(settings: Settings) -> None:
    assert (settings.token_failures_per_client, settings.token_failures_per_address) == (10, 100)
    assert settings.throttle_window == 300


async def test_over_real_http_the_flood_waits_and_the_owner_is_served(
    guarded: tuple[Any, Database], database_url: str
) -> None:
    """The same through uvicorn on a socket: a wrong-secret flood and the owner's
    requests for the same client id, at the same time, from the same address."""
    _, db = guarded
    creds = await _client(db)
    wrong = {**creds, "client_secret": "guess"}
    settings = load_settings(database_url=database_url, token_failures_per_client=3)
    with serve_in_thread(create_app(Platform(settings))) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            assert (await http.post(TOKEN, data=creds)).status_code == 200
            flood = [http.post(TOKEN, data=wrong) for _ in range(60)]
            owner = [http.post(TOKEN, data=creds) for _ in range(10)]
            answers = await asyncio.gather(*flood, *owner)
    statuses = [r.status_code for r in answers[:60]]
    assert statuses.count(401) == 3 and statuses.count(429) == 57
    for r in answers[:60]:
        if r.status_code == 429:
            _assert_throttled(r)
    assert [r.status_code for r in answers[60:]] == [200] * 10

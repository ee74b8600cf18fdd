"""Fixtures shared by the suite. Every database test runs on SQLite and, where
JOOKSMS_TEST_POSTGRES_URL is set (always in CI), on PostgreSQL too."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from jooksms.api.app import create_app
from jooksms.config import Settings, load_settings
from jooksms.db.engine import Database
from jooksms.db.migrate import upgrade
from jooksms.platform import Platform
from jooksms.services import accounts

POSTGRES_URL = os.environ.get("JOOKSMS_TEST_POSTGRES_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason="JOOKSMS_TEST_POSTGRES_URL is not set"),
    ),
]


def async_url(url: str) -> str:
    return load_settings(database_url=url).database_url


async def create_pg_database(admin_url: str) -> str:
    """A fresh database for this run, so runs never see each other's rows."""
    name = f"jooksms_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(async_url(admin_url)).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@asynccontextmanager
async def migrated_database(backend: str, folder: Path) -> AsyncIterator[str]:
    """A database of its own, migrated to head, for as long as the block lasts: a
    SQLite file in ``folder``, or a fresh PostgreSQL database, dropped after."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'jooksms.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    assert POSTGRES_URL
    url = await create_pg_database(POSTGRES_URL)
    await asyncio.to_thread(upgrade, url)
    yield url
    await drop_pg_database(POSTGRES_URL, url)


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url, public_url="http://testserver")


_numbers = itertools.count(1)


def fresh_number() -> str:
    """A possible, unique Panamanian mobile number (numbers are unique across accounts)."""
    return f"+5076{os.getpid() % 100:02d}{next(_numbers):05d}"


@dataclass
class Tenant:
    """An account with a number and a token, and a client that sends as it."""

    account_id: int
    number: str
    client_id: str
    client_secret: str
    http: httpx.AsyncClient

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.http.get(url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.http.post(url, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.http.delete(url, **kw)

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return await self.http.request(method, url, **kw)


@pytest.fixture(scope="session")
def app(settings: Settings, db: Database) -> Any:
    return create_app(Platform(settings, db))


@pytest.fixture
async def anon(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def make_tenant(db: Database, anon: httpx.AsyncClient, *, numbers: int = 1) -> Tenant:
    owned = [fresh_number() for _ in range(numbers)]
    async with db.write() as session:
        account = await accounts.create_account(session, name="Test", numbers=owned)
        client = await accounts.create_client(session, account_id=account.id)
    token = await anon.post(
        "/api/v1/oauth/access_token",
        data={"client_id": client.client_id, "client_secret": client.client_secret},
    )
    assert token.status_code == 200, token.text
    http = httpx.AsyncClient(
        transport=anon._transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    return Tenant(
        account.id, owned[0] if owned else "", client.client_id, client.client_secret, http
    )


@pytest.fixture
async def tenant(db: Database, anon: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    t = await make_tenant(db, anon)
    yield t
    await t.http.aclose()


@pytest.fixture
async def other_tenant(db: Database, anon: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    t = await make_tenant(db, anon)
    yield t
    await t.http.aclose()


@pytest.fixture
def tmp_cwd(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)

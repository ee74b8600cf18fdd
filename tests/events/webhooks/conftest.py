"""Fixtures of the webhook tests: a database of their own, a local receiver, and a
dispatcher on a clock the test walks that sends only the test's own deliveries.

The database is this package's alone: the suite's live servers (the fuzz run's,
say) run webhook dispatchers on the shared one, and would fan out and send a test's
events before its own dispatcher could look."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jooksms.db.engine import Database
from jooksms.db.migrate import upgrade
from jooksms.events.webhooks.dispatcher import Dispatcher, DispatcherConfig
from tests.conftest import BACKENDS, POSTGRES_URL, create_pg_database, drop_pg_database
from tests.helpers.webhook_receiver import Receiver, running
from tests.helpers.webhooks import Clock, drain, put_aside_pending


@pytest.fixture(scope="package", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("webhooks-db") / "jooksms.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    assert POSTGRES_URL
    url = await create_pg_database(POSTGRES_URL)
    await asyncio.to_thread(upgrade, url)
    yield url
    await drop_pg_database(POSTGRES_URL, url)


@pytest.fixture(scope="package")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running() as r:
        yield r


@pytest.fixture
async def dispatcher(db: Database, clock: Clock) -> AsyncIterator[Dispatcher]:
    config = DispatcherConfig(allow_private=True, timeout=0.5)
    async with Dispatcher(db, config, clock=clock) as d:
        # What earlier tests left in the log (endpoints of the API's tests, say) is
        # fanned out now and put aside, so this test sends only its own.
        await drain(d)
        await put_aside_pending(db)
        yield d
    await put_aside_pending(db)  # other tests' receivers are gone

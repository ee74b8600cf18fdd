"""Fixtures of the webhook tests: a database of their own, a local receiver, and a
dispatcher on a clock the test walks that sends only the test's own deliveries.

The database is this package's alone: the suite's live servers (the fuzz run's,
say) run webhook dispatchers on the shared one, and would fan out and send a test's
events before its own dispatcher could look."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jooksms.db.engine import Database
from jooksms.events.webhooks.dispatcher import Dispatcher, DispatcherConfig
from tests.conftest import BACKENDS, migrated_database
from tests.helpers.webhook_receiver import Receiver, running
from tests.helpers.webhooks import Clock, drain, put_aside_pending


@pytest.fixture(scope="package", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("webhooks-db")) as url:
        yield url


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

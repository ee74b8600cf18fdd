"""What makes the dispatcher look, and where it starts: a NOTIFY from another
connection's commit and a retry's due time wake a dispatcher that would otherwise
poll once an hour; the first start fans out from the log's head; two dispatchers on
two connection pools never POST one delivery twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from jooksms.db.engine import Database
from jooksms.db.types import utcnow
from jooksms.events import log
from jooksms.events.webhooks import fanout
from jooksms.events.webhooks.dispatcher import Dispatcher, DispatcherConfig
from jooksms.events.webhooks.tables import CALLBACKS, DELIVERIES, ENDPOINTS
from tests.helpers.webhook_receiver import Answer, Receiver
from tests.helpers.webhooks import (
    Clock,
    add_endpoint,
    dispatching,
    drain,
    new_account,
    send,
    until_listening,
)

#: It would look once an hour: only a wake-up brings anything in time.
HOURLY = DispatcherConfig(allow_private=True, timeout=2.0, poll=3600, sqlite_poll=3600)


@pytest.fixture
def postgres_only(db: Database) -> Iterator[None]:
    if db.is_sqlite:
        pytest.skip("NOTIFY is PostgreSQL's; on SQLite the dispatcher polls")
    yield


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[Database]:
    """The test database through a second connection pool (another process's, say)."""
    database = Database(database_url)
    yield database
    await database.dispose()


def _message_ids(receiver: Receiver) -> list[int]:
    return [json.loads(r.body)["data"]["message_id"] for r in receiver.received]


async def test_a_commit_of_another_connection_wakes_the_dispatcher(
    db: Database, other: Database, dispatcher: Dispatcher, receiver: Receiver, postgres_only: None
) -> None:
    account = await new_account(other)
    await add_endpoint(other, account, receiver.url)
    async with dispatching(db, HOURLY):
        await until_listening(db)
        [mid] = await send(other, account)
        await receiver.until(1)
    assert _message_ids(receiver) == [mid]


async def test_a_due_retry_wakes_the_dispatcher_at_its_time(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, postgres_only: None
) -> None:
    account = await new_account(db)
    await add_endpoint(db, account, receiver.url)
    [mid] = await send(db, account)
    await drain(dispatcher)
    # As a retry, or a dead sender's lease, is: due a little later.
    async with db.write() as session:
        await session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.account_id == account)
            .values(next_attempt_at=utcnow() + timedelta(seconds=1))
        )
    async with dispatching(db, HOURLY):
        await receiver.until(1)
    assert _message_ids(receiver) == [mid]


async def test_the_first_start_fans_out_from_the_head_of_the_log(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, clock: Clock
) -> None:
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url)
    await send(db, account, 3)  # in the log before any dispatcher ran: not owed
    async with db.write() as session:  # a fresh install, or one upgraded to webhooks
        await session.execute(delete(log.CURSORS).where(log.CURSORS.c.name == fanout.CURSOR))
    config = DispatcherConfig(allow_private=True, timeout=2.0)
    async with Dispatcher(db, config, clock=clock) as first:
        assert await first.fan_out() == 0
        saved = await db.run_write(lambda s: log.load_cursor(s, fanout.CURSOR))
        assert saved is not None
        new = await send(db, account, 2)
        await drain(first)
        while await first.send_due():
            pass
    await receiver.until(2)
    assert sorted(_message_ids(receiver)) == new
    async with db.read() as session:
        made = await session.scalar(
            select(func.count()).where(DELIVERIES.c.endpoint_id == hook.endpoint.id)
        )
    assert made == 2  # none for the three older events


async def test_two_dispatchers_never_post_one_delivery_twice(
    db: Database, other: Database, dispatcher: Dispatcher, receiver: Receiver, clock: Clock
) -> None:
    receiver.answer_with(then=Answer(delay=0.005))  # POSTs of both overlap
    account = await new_account(db)
    await add_endpoint(db, account, receiver.url)
    ids = await send(db, account, 300)
    await drain(dispatcher)
    config = DispatcherConfig(allow_private=True, timeout=5.0, claim=10)

    async def send_all(d: Dispatcher) -> int:
        posted = 0
        while sent := await d.send_due():
            posted += sent
        return posted

    async with (
        Dispatcher(db, config, clock=clock) as one,
        Dispatcher(other, config, clock=clock) as two,
    ):
        counts = await asyncio.gather(send_all(one), send_all(two))
    posted = [r.headers["webhook-id"] for r in receiver.received]
    assert len(posted) == len(set(posted)) == len(ids)
    assert sorted(_message_ids(receiver)) == ids
    assert sum(counts) == len(ids) and min(counts) > 0  # both took their share


async def test_with_nobody_listening_fan_out_reads_nothing(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    """No enabled endpoint and no status callback: the cursor moves to the head and
    no event is read (events then cost only their rows); once an endpoint exists,
    what happens next reaches it."""
    async with db.write() as session:
        await session.execute(update(ENDPOINTS).values(enabled=False))
        await session.execute(delete(CALLBACKS))
    account = await new_account(db)
    await send(db, account, 3)
    before = await db.run_write(lambda s: log.load_cursor(s, fanout.CURSOR))
    assert await dispatcher.fan_out() == 0
    moved = await db.run_write(lambda s: log.load_cursor(s, fanout.CURSOR))
    assert before is not None and moved is not None and moved > before
    await add_endpoint(db, account, receiver.url)
    await send(db, account, 2)
    await drain(dispatcher)
    assert await dispatcher.send_due() == 2
    assert len(await receiver.until(2)) == 2

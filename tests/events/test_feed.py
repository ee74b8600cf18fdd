"""The in-process event feed on SQLite and PostgreSQL: a subscriber replays from its
position, then takes the live fan-out, each event once and in order; filters; a slow
subscriber is detached and catches up from the log; on PostgreSQL another
connection's commit reaches the feed by NOTIFY, and by polling when LISTEN is off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text

from jooksms.db.engine import Database
from jooksms.domain.encoding import analyse
from jooksms.events import log
from jooksms.events.feed import Feed, FeedConfig, Subscription
from jooksms.events.log import Position
from jooksms.events.types import Event
from jooksms.services import accounts, messages
from tests.conftest import fresh_number
from tests.helpers.messages import account_with_messages

# Only a guard against a hung test: nothing here asserts how fast anything is.
_GUARD = 30.0


@asynccontextmanager
async def running(db: Database, config: FeedConfig | None = None) -> AsyncIterator[Feed]:
    feed = Feed(db, config)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.close()


class Reader:
    """Iterates a subscription in the background, as a consumer would."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.events: list[Event] = []
        self._iterator = aiter(subscription)

    async def take(self, count: int) -> list[Event]:
        async def more() -> None:
            while len(self.events) < count:
                self.events.append(await anext(self._iterator))

        await asyncio.wait_for(more(), _GUARD)
        return self.events[:count]

    async def close(self) -> None:
        await self._iterator.aclose()  # type: ignore[attr-defined]


def _kinds(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.type, e.message.id if e.message else 0) for e in events]


async def _cancel(db: Database, account_id: int, ids: list[int]) -> None:
    for message_id in ids:
        async with db.write() as session:
            await messages.cancel(session, account_id=account_id, message_id=message_id)


async def _head(db: Database) -> Position:
    return await db.run_write(log.head)


async def test_replay_then_live_without_gap_or_duplicate(db: Database) -> None:
    start = await _head(db)
    account, before = await account_with_messages(db, 3)
    async with running(db) as feed:
        reader = Reader(feed.subscribe(account_id=account, after=start))
        replayed = await reader.take(3)
        assert _kinds(replayed) == [("message.queued", m) for m in before]
        await _cancel(db, account, before[:2])
        _, later = await account_with_messages(db, 1)  # another account: not ours
        live = await reader.take(5)
        assert _kinds(live[3:]) == [("message.canceled", m) for m in before[:2]]
        assert later[0] not in [e.message.id for e in live if e.message]
        await reader.close()
        assert feed.subscribers == 0


async def test_a_subscriber_from_now_on_sees_only_what_follows(db: Database) -> None:
    account, ids = await account_with_messages(db, 2)
    async with running(db) as feed:
        reader = Reader(feed.subscribe(account_id=account))
        await _cancel(db, account, ids[1:])
        assert _kinds(await reader.take(1)) == [("message.canceled", ids[1])]
        await reader.close()


async def test_filters_by_account_and_type(db: Database) -> None:
    async with running(db) as feed:
        account = await _account(db)
        reader = Reader(feed.subscribe(account_id=account, types=["message.canceled"]))
        everything = Reader(feed.subscribe())
        other, theirs = await account_with_messages(db, 2)
        await _cancel(db, other, theirs)
        async with db.write() as session:
            ids = await messages.accept(
                session, account_id=account, from_number=None, drafts=_drafts(2)
            )
        await _cancel(db, account, ids)
        got = await reader.take(2)
        assert _kinds(got) == [("message.canceled", m) for m in ids]
        assert all(e.account_id == account for e in got)
        seen = await everything.take(8)
        assert {e.account_id for e in seen} >= {account, other}
        await reader.close()
        await everything.close()


async def test_a_slow_subscriber_is_detached_and_catches_up_from_the_log(db: Database) -> None:
    async with running(db, FeedConfig(max_lag=3, window=4)) as feed:
        account = await _account(db)
        fast = Reader(feed.subscribe(account_id=account))
        slow = Reader(feed.subscribe(account_id=account))
        # Both join the live feed and take one event; then the slow one stops reading.
        first = asyncio.gather(fast.take(1), slow.take(1))
        await _until(lambda: feed.subscribers == 2)
        ids = (await _account_with_messages_of(db, account, 1))[1]
        await first
        for _ in range(4):
            async with db.write() as session:
                ids += await messages.accept(
                    session, account_id=account, from_number=None, drafts=_drafts(3)
                )
            await fast.take(len(ids))
        assert _kinds(fast.events) == [("message.queued", m) for m in ids]
        assert slow.subscription.detached >= 1
        assert "catches up from the log" in (slow.subscription.detached_reason or "")
        # What it missed while detached comes from the log: all of it, once, in order.
        assert _kinds(await slow.take(len(ids))) == _kinds(fast.events)
        await _cancel(db, account, ids[:1])
        assert _kinds((await slow.take(len(ids) + 1))[-1:]) == [("message.canceled", ids[0])]
        await fast.close()
        await slow.close()


async def test_a_subscriber_resumes_from_the_position_of_an_event_id(db: Database) -> None:
    start = await _head(db)
    account, ids = await account_with_messages(db, 4)
    async with running(db) as feed:
        first = await Reader(feed.subscribe(account_id=account, after=start)).take(4)
        resume = await db.run_write(lambda s: log.position_of(s, first[1].id))
        reader = Reader(feed.subscribe(account_id=account, after=resume))
        assert [e.id for e in await reader.take(2)] == [e.id for e in first[2:]]
        await _cancel(db, account, ids[:1])
        assert _kinds((await reader.take(3))[2:]) == [("message.canceled", ids[0])]
        await reader.close()


@pytest.fixture
def postgres_only(db: Database) -> Iterator[None]:
    if db.is_sqlite:
        pytest.skip("NOTIFY is PostgreSQL's; SQLite's feed polls (the other tests)")
    yield


async def test_a_commit_of_another_connection_wakes_the_feed_by_notify(
    db: Database, database_url: str, postgres_only: None
) -> None:
    # It would poll once an hour: only the NOTIFY can bring the event in time.
    config = FeedConfig(poll_min=3600, poll_max=3600)
    other = Database(database_url)
    try:
        async with running(db, config) as feed:
            account = await _account(other)
            reader = Reader(feed.subscribe(account_id=account))
            await _until_listening(db)
            _, ids = await _account_with_messages_of(other, account, 1)
            assert _kinds(await reader.take(1)) == [("message.queued", ids[0])]
            await reader.close()
    finally:
        await other.dispose()


async def test_without_notify_the_feed_polls(
    db: Database, database_url: str, postgres_only: None
) -> None:
    other = Database(database_url)
    try:
        async with running(db, FeedConfig(listen=False, poll_max=0.2)) as feed:
            account = await _account(other)
            reader = Reader(feed.subscribe(account_id=account))
            _, ids = await _account_with_messages_of(other, account, 1)
            assert _kinds(await reader.take(1)) == [("message.queued", ids[0])]
            await reader.close()
    finally:
        await other.dispose()


async def _until(condition: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), _GUARD)


async def _until_listening(db: Database) -> None:
    """Until the feed's connection LISTENs (the NOTIFY is lost before that)."""

    async def listening() -> bool:
        async with db.read() as session:
            rows = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query ILIKE 'LISTEN%jooksms_events%'"
                )
            )
            return bool(rows)

    async def wait() -> None:
        while not await listening():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), _GUARD)


async def _account_with_messages_of(
    db: Database, account_id: int, count: int
) -> tuple[int, list[int]]:
    async with db.write() as session:
        ids = await messages.accept(
            session, account_id=account_id, from_number=None, drafts=_drafts(count)
        )
    return account_id, ids


async def _account(db: Database) -> int:
    async with db.write() as session:
        account = await accounts.create_account(session, name="feed", numbers=[fresh_number()])
    return account.id


def _drafts(count: int) -> list[messages.MessageDraft]:
    return [
        messages.MessageDraft(to="+50768819519", body="feed me", info=analyse("feed me"))
        for _ in range(count)
    ]

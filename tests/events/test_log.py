"""The event log on SQLite and PostgreSQL: every change writes its event in the same
transaction, and readers see each event once, in order, whatever the commit order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from jooksms import store as stores
from jooksms.db.engine import Database
from jooksms.events import log
from jooksms.events.log import Position
from jooksms.events.types import Event
from jooksms.services import messages
from jooksms.store.sql import MESSAGES
from jooksms.store.types import Failed, Retry, Sent
from jooksms.transports.base import DeliveryReport
from tests.helpers.messages import LEASE, account_with_messages, only_these_due


async def _events_of(db: Database, ids: list[int], after: Position) -> list[Event]:
    def work(session: object) -> list[Event]:
        events, _ = log.read(session, after=after, limit=100_000)  # type: ignore[arg-type]
        return [e for e in events if e.message is not None and e.message.id in ids]

    return await db.run_write(work)


async def test_a_message_life_writes_its_events_in_order(db: Database) -> None:
    start = await db.run_write(log.head)
    account_id, ids = await account_with_messages(db, 3)
    await only_these_due(db, ids)
    now = datetime.now(UTC)
    claimed = await db.run_write(
        lambda s: stores.of(s).claim_due(s, now=now, limit=100, lease=LEASE)
    )
    assert [c.id for c in claimed] == ids
    a, b, c = ids
    await db.run_write(
        lambda s: stores.of(s).retry_later(s, [Retry(c, now, "0x00000058", "throttled")], now=now)
    )
    sent = [Sent(m, account_id, "sim", [f"ev-{m}"]) for m in (a, b)]
    await db.run_write(lambda s: stores.of(s).record_sent(s, sent, now=now))
    outcomes = [
        DeliveryReport("sim", f"ev-{a}", True),
        DeliveryReport("sim", f"ev-{b}", False, "0x0000000B"),
    ]
    await db.run_write(lambda s: stores.of(s).record_outcomes(s, outcomes, now=now))
    async with db.write() as session:
        await messages.cancel(session, account_id=account_id, message_id=c)

    events = await _events_of(db, ids, start)
    by_message = {m: [e.type for e in events if e.message and e.message.id == m] for m in ids}
    assert by_message == {
        a: ["message.queued", "message.sent", "message.delivered"],
        b: ["message.queued", "message.sent", "message.failed"],
        # The retry is the engine's own business: it writes no event.
        c: ["message.queued", "message.canceled"],
    }
    failed = next(e for e in events if e.type == "message.failed")
    assert failed.message is not None
    assert (failed.message.error_code, failed.message.status) == ("0x0000000B", "failed")
    assert all(e.account_id == account_id for e in events)
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert failed.payload()["data"]["number"] == "+50768819519"


async def test_a_failure_on_submit_writes_its_event_once(db: Database) -> None:
    start = await db.run_write(log.head)
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    now = datetime.now(UTC)
    await db.run_write(lambda s: stores.of(s).claim_due(s, now=now, limit=100, lease=LEASE))
    failed = [Failed(ids[0], "0x00000045", "refused")]
    await db.run_write(lambda s: stores.of(s).record_failed(s, failed, now=now))
    await db.run_write(
        lambda s: stores.of(s).record_failed(s, failed, now=now)
    )  # repeated: no move
    types = [e.type for e in await _events_of(db, ids, start)]
    assert types == ["message.queued", "message.failed"]


async def test_a_reader_misses_nothing_a_slow_transaction_commits_late(db: Database) -> None:
    """On PostgreSQL ids are taken before commit: an event of a transaction that
    commits after a later one must still be read, after it, not skipped."""
    start = await db.run_write(log.head)
    _, ids = await account_with_messages(db, 2)
    slow, fast = ids
    if db.is_sqlite:
        pytest.skip("one writer: ids commit in order (the other tests cover SQLite)")
    now = datetime.now(UTC)
    async with db.write_engine.connect() as held:
        transaction = await held.begin()
        await held.execute(
            update(MESSAGES).where(MESSAGES.c.id == slow).values(status="canceled", updated_at=now)
        )
        async with db.write() as session:
            await session.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id == fast)
                .values(status="canceled", updated_at=now)
            )
        # The fast one is committed, but the slow one is still open: nothing after
        # the slow one's transaction is readable yet.
        before, position = await db.run_write(lambda s: log.read(s, after=start, limit=1000))
        assert "message.canceled" not in [e.type for e in before if e.message.id in ids]  # type: ignore[union-attr]
        await transaction.commit()
    after = await _events_of(db, ids, position)
    assert [(e.type, e.message.id) for e in after if e.type == "message.canceled"] == [  # type: ignore[union-attr]
        ("message.canceled", slow),
        ("message.canceled", fast),
    ]


async def test_cursor_and_prune(db: Database) -> None:
    _, ids = await account_with_messages(db, 2)
    now = datetime.now(UTC)
    position = await db.run_write(log.head)
    await db.run_write(lambda s: log.save_cursor(s, "test-consumer", position, now=now))
    assert await db.run_write(lambda s: log.load_cursor(s, "test-consumer")) == position
    assert await db.run_write(lambda s: log.load_cursor(s, "nobody")) is None
    # Everything up to the first message's events is a month old: the log is in time
    # order, so that is its oldest part.
    async with db.write() as session:
        await session.execute(
            text(
                "UPDATE events SET created_at = :old WHERE id <= "
                "(SELECT max(id) FROM events WHERE message_id = :m)"
            ),
            {"old": now - timedelta(days=30), "m": ids[0]},
        )
    pruned, batch = 0, -1
    while batch != 0:
        batch = await db.run_write(lambda s: log.prune(s, older_than=now - timedelta(days=7)))
        pruned += batch
    assert pruned >= 1
    left = await _events_of(db, ids, log.START)
    assert [e.message.id for e in left] == [ids[1]]  # type: ignore[union-attr]
    await asyncio.sleep(0)

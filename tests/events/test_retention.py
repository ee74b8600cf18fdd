"""Pruning the event log after JOOKSMS_EVENT_RETENTION, on both databases: expired
events go, younger ones stay, and several pruners at once do no harm."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from jooksms.db.engine import Database
from jooksms.events import log
from jooksms.events.retention import prune_expired, prune_forever
from tests.helpers.messages import account_with_messages


async def _back_date(db: Database, message_ids: list[int], age: timedelta) -> None:
    async with db.write() as session:
        for message_id in message_ids:
            await session.execute(
                text("UPDATE events SET created_at = :at WHERE message_id = :m"),
                {"at": datetime.now(UTC) - age, "m": message_id},
            )


async def _kept(db: Database, message_ids: list[int]) -> list[int]:
    events, _ = await db.run_write(lambda s: log.read(s, after=log.START, limit=1_000_000))
    return [e.message.id for e in events if e.message and e.message.id in message_ids]


async def test_events_older_than_the_retention_are_pruned(db: Database) -> None:
    _, ids = await account_with_messages(db, 4)
    old, young = ids[:3], ids[3:]
    await _back_date(db, old, timedelta(days=8))
    # Several processes prune at once: each expired event is deleted once, by one.
    pruned = await asyncio.gather(*(prune_expired(db, timedelta(days=7)) for _ in range(3)))
    assert sum(pruned) >= len(old)
    assert await _kept(db, ids) == young
    assert await prune_expired(db, timedelta(days=7)) == 0


async def test_a_shorter_retention_and_the_background_loop(db: Database) -> None:
    _, ids = await account_with_messages(db, 2)
    await _back_date(db, ids[:1], timedelta(hours=13))
    stop = asyncio.Event()
    pruning = asyncio.create_task(prune_forever(db, timedelta(hours=12), stop, interval=0.01))
    try:
        async with asyncio.timeout(30):  # a guard: nothing asserts how fast
            while await _kept(db, ids) != ids[1:]:
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await pruning

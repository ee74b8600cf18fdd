"""Connector rate limits shared through the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import func, select

from jooksms.db.engine import Database
from jooksms.delivery.buckets import BUCKETS, SharedBuckets, take


def _name() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


async def test_bucket_grants_a_burst_then_refills_at_the_rate(db: Database) -> None:
    name = _name()

    async def grant(want: int, now: float) -> tuple[int, float]:
        g = await db.run_write(lambda s: take(s, name, want=want, rate=10.0, now=now))
        return g.tokens, g.retry_after

    assert await grant(5, 1000.0) == (5, 0.0)  # a new bucket starts full
    tokens, wait = await grant(5, 1000.0)
    assert tokens == 0
    assert wait == pytest.approx(0.1)
    assert (await grant(5, 1000.25))[0] == 2  # 0.25 s at 10/s
    assert (await grant(5, 1100.0))[0] == 5  # never more than the burst


async def test_two_workers_together_keep_the_connector_rate(db: Database) -> None:
    """Two workers, each with its own database connections as separate processes
    would have, acquire as fast as they can: together they stay at the rate."""
    name, rate, seconds = _name(), 200.0, 1.5
    others = [Database(db.url) if not db.is_sqlite else db for _ in range(2)]
    counts = [0, 0]

    async def worker(i: int) -> None:
        buckets = SharedBuckets(others[i], {name: rate})
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await buckets.acquire(name)
            counts[i] += 1

    try:
        started = time.monotonic()
        await asyncio.gather(worker(0), worker(1))
        elapsed = time.monotonic() - started
    finally:
        for other in others:
            if other is not db:
                await other.dispose()
    allowance = rate * 0.1
    # At most the rate for the time taken plus each worker's allowance in hand.
    assert sum(counts) <= rate * elapsed + 2 * allowance + 1
    # And the rate is really used, by both.
    assert sum(counts) >= rate * seconds * 0.5
    assert min(counts) > 0


async def test_connectors_without_a_rate_are_not_limited(db: Database) -> None:
    name = _name()
    buckets = SharedBuckets(db, {})
    for _ in range(1000):
        await buckets.acquire(name)
    async with db.read() as session:
        rows = await session.scalar(
            select(func.count()).select_from(BUCKETS).where(BUCKETS.c.connector == name)
        )
    assert rows == 0  # no bucket was even made for it

"""Wake-ups across processes (LISTEN/NOTIFY) survive the loss of the listening
connection: a worker is woken again without a restart."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from jooksms.db.engine import Database
from jooksms.db.wakeups import CHANNEL, Wakeups
from tests.helpers.fault_runs import terminate_all


async def _notify(url: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))
    finally:
        await engine.dispose()


async def _woken_by_notify(db: Database, wakeups: Wakeups) -> bool:
    """Whether a NOTIFY from another connection wakes ``wakeups`` within a few seconds
    (sent again each second: LISTEN may still be coming back)."""
    for _ in range(5):
        await wakeups.wait(0)  # forget earlier wake-ups
        await _notify(db.url)
        if await wakeups.wait(1.0):
            return True
    return False


async def test_wakeups_come_back_after_the_listening_connection_is_lost(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    wakeups = Wakeups()
    engine = create_async_engine(db.url)
    try:
        async with wakeups.listen(engine):
            assert await _woken_by_notify(db, wakeups)
            assert await terminate_all(db.url) >= 1
            await asyncio.sleep(0.5)
            assert await _woken_by_notify(db, wakeups)
    finally:
        await engine.dispose()

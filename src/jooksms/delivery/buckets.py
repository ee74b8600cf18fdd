"""Connector rate limits that hold across workers.

A connector's rate (messages per second) is a token bucket stored in the database
(``connector_buckets``). A worker does not ask the database for every message: it
takes an allowance of about a tenth of a second's worth at once and spends it
locally, so a connector at 5,000 messages a second costs each worker ten short
transactions a second. However many workers there are, together they can never
send more than the rate plus one allowance.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from jooksms.db.engine import Database
from jooksms.db.models import Connector, ConnectorBucket
from jooksms.store.sql import upsert

BUCKETS = cast(Table, ConnectorBucket.__table__)


@dataclass(frozen=True, slots=True)
class Grant:
    tokens: int
    #: When nothing was granted: how long until a token is due.
    retry_after: float


def take(session: Session, connector: str, *, want: int, rate: float, now: float) -> Grant:
    """Take up to ``want`` tokens from the connector's bucket, in one transaction."""
    burst = max(float(want), 1.0)
    # FOR UPDATE holds other workers' refills of this connector on PostgreSQL; SQLite,
    # one writer, has no such clause and SQLAlchemy leaves it out there.
    query = (
        select(BUCKETS.c.tokens, BUCKETS.c.refilled)
        .where(BUCKETS.c.connector == connector)
        .with_for_update()
    )
    row = session.execute(query).first()
    if row is None:
        session.execute(
            upsert(session, BUCKETS)
            .values(connector=connector, tokens=burst, refilled=now)
            .on_conflict_do_nothing()
        )
        row = session.execute(query).one()
    tokens = min(burst, row.tokens + max(0.0, now - row.refilled) * rate)
    granted = min(want, math.floor(tokens))
    session.execute(
        update(BUCKETS)
        .where(BUCKETS.c.connector == connector)
        .values(tokens=tokens - granted, refilled=now)
    )
    return Grant(granted, 0.0 if granted else (1.0 - tokens) / rate)


async def configured_rates(session: AsyncSession) -> dict[str, float]:
    rows = await session.execute(
        select(Connector.name, Connector.rate).where(Connector.rate.is_not(None))
    )
    return {name: float(rate) for name, rate in rows if rate is not None}


class SharedBuckets:
    """This worker's side of the shared buckets: ``acquire`` waits until the
    connector may take ``n`` more messages."""

    def __init__(
        self,
        db: Database,
        rates: Mapping[str, float],
        *,
        allowance_seconds: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._rates = dict(rates)
        self._allowance = allowance_seconds
        self._clock = clock
        self._held: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def acquire(self, connector: str, n: int = 1) -> None:
        rate = self._rates.get(connector)
        if rate is None:
            return
        lock = self._locks.setdefault(connector, asyncio.Lock())
        async with lock:  # one refill at a time; the others wait their turn in order
            while self._held.get(connector, 0) < n:
                await self._refill(connector, rate, n)
            self._held[connector] -= n

    async def _refill(self, connector: str, rate: float, n: int) -> None:
        want = max(n, math.ceil(rate * self._allowance))
        now = self._clock()
        grant = await self._db.run_write(
            lambda session: take(session, connector, want=want, rate=rate, now=now)
        )
        if grant.tokens:
            self._held[connector] = self._held.get(connector, 0) + grant.tokens
        else:
            await asyncio.sleep(grant.retry_after)

"""The webhook dispatcher: fan-out and sending, in every ``serve`` and ``worker``.

Each round fans out what the event log has new (one process at a time does), then
claims the due deliveries (every process may), POSTs them concurrently and records
the outcomes in one write. ``clock`` is the time of the schedule (tests walk it);
signatures carry the wall clock, which receivers check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.db.types import utcnow
from jooksms.events import log as event_log
from jooksms.events.webhooks import deliveries, fanout, sender, urls
from jooksms.events.webhooks.tables import DELIVERIES
from jooksms.secret_box import SecretBox, box_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    allow_private: bool = False
    #: Seconds one POST may take (connect, send, first answer bytes).
    timeout: float = 10.0
    #: How long a sender holds the deliveries it claimed.
    lease: timedelta = timedelta(seconds=60)
    #: Deliveries claimed (and POSTed concurrently) at a time.
    claim: int = 100
    #: Events fanned out per transaction.
    fan_out: int = 1000
    #: Seconds between looks at the log and the due deliveries when idle.
    poll: float = 0.2

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatcherConfig:
        return cls(allow_private=settings.webhooks_allow_private)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        config: DispatcherConfig | None = None,
        *,
        box: SecretBox | None = None,
        clock: Callable[[], datetime] = utcnow,
        wall: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self.config = config or DispatcherConfig()
        self._box = box or box_for(db.url)
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set. A database that cannot be reached, or any
        other failure of a round, is logged and the round tried again."""
        async with self:
            while not stop.is_set():
                try:
                    busy = await self.round()
                except Exception:
                    log.exception("webhook dispatch failed; trying again")
                    busy = False
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.config.poll)

    async def __aenter__(self) -> Dispatcher:
        self._client = urls.guarded_client(
            allow_private=self.config.allow_private, timeout=self.config.timeout
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def round(self) -> bool:
        """One fan-out and one send; whether there was anything to do."""
        fanned = await self.fan_out()
        sent = await self.send_due()
        return fanned >= self.config.fan_out or sent > 0

    async def fan_out(self) -> int:
        """Fan out the events the log has for us; how many were read."""
        if self._db.is_sqlite and not await self._log_moved():
            return 0
        now = self._clock()
        read = await self._db.run_write(
            lambda s: fanout.fan_out(s, now=now, limit=self.config.fan_out)
        )
        return read or 0

    async def send_due(self) -> int:
        """POST the due deliveries (up to a claim's worth); how many."""
        assert self._client is not None, "use the dispatcher as an async context"
        if self._db.is_sqlite and not await self._anything_due():
            return 0
        now = self._clock()
        jobs = await self._db.run_write(
            lambda s: deliveries.claim(
                s, self._box, now=now, limit=self.config.claim, lease=self.config.lease
            )
        )
        if not jobs:
            return 0
        client = self._client
        outcomes = await asyncio.gather(
            *(sender.post(client, job, wall=self._wall) for job in jobs)
        )
        done = self._clock()
        results = list(zip(jobs, outcomes, strict=True))
        await self._db.run_write(lambda s: deliveries.record(s, results, now=done, rng=self._rng))
        return len(jobs)

    async def _log_moved(self) -> bool:
        """On SQLite, a read first: a write transaction would take the one writer's
        lock at every poll, and the delivery path needs it."""

        def moved(session: Session) -> bool:
            cursor = event_log.load_cursor(session, fanout.CURSOR) or event_log.START
            newest = session.execute(select(func.max(event_log.EVENTS.c.id))).scalar()
            return int(newest or 0) > cursor.event_id

        async with self._db.read() as session:
            return await session.run_sync(moved)

    async def _anything_due(self) -> bool:
        now = self._clock()
        async with self._db.read() as session:
            found = await session.execute(
                select(DELIVERIES.c.id)
                .where(
                    DELIVERIES.c.status == deliveries.PENDING,
                    DELIVERIES.c.next_attempt_at <= now,
                )
                .limit(1)
            )
            return found.first() is not None

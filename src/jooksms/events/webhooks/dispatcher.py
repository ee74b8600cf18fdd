"""The webhook dispatcher: fan-out and sending, in every ``serve`` and ``worker``.

Each round fans out what the event log has new (one process at a time does), then
claims the due deliveries (every process may), POSTs them concurrently and records
the outcomes in one write. ``clock`` is the time of the schedule (tests walk it);
signatures carry the wall clock, which receivers check.

Between rounds it sleeps until something is owed a look. On PostgreSQL that is a
NOTIFY (the event log's triggers send one when events commit, fan-outs and replays
when deliveries come due: ``wakeups``), the due time of the next retry or of a
lease that runs out, or else the fallback poll (a lost notice costs that much
latency, never an event). Events committed behind an older transaction that is
still open cannot be read yet (``events.log``): while some wait so, it looks again
shortly. SQLite sends no notices across processes, so there it polls at a short
interval, with reads that take no write lock.

A crash loses nothing: fan-out moves its cursor in the transaction that writes the
deliveries, and a sender's claim is a lease, so what a killed process held comes due
again when its lease ends. What it can duplicate is what it had POSTed and not yet
recorded: at most one claim's worth, sent again with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.db.listen import listen_forever
from jooksms.db.types import utcnow
from jooksms.events import log as event_log
from jooksms.events.webhooks import deliveries, fanout, sender, urls, wakeups
from jooksms.events.webhooks.tables import DELIVERIES
from jooksms.secret_box import SecretBox, box_for

log = logging.getLogger(__name__)

_RETRY_AFTER = 1.0  # seconds before a round that failed is tried again
_BACKOFF_MAX = 0.25  # the longest look-again while events wait to become readable


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
    #: PostgreSQL: seconds between looks when nothing wakes the dispatcher, the
    #: fallback for a lost NOTIFY (due retries and leases wake it at their time).
    poll: float = 5.0
    #: SQLite: seconds between looks (reads only) at the log and the due deliveries.
    sqlite_poll: float = 0.1
    #: PostgreSQL: seconds before the first look again while committed events wait
    #: behind an older open transaction; doubled at each look, up to 0.25 s.
    poll_min: float = 0.05
    #: LISTEN on PostgreSQL; off where notices do not pass (a pooler in transaction
    #: mode), and then ``poll`` alone paces it.
    listen: bool = True

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
        self._wake = asyncio.Event()
        self._backoff = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set. A database that cannot be reached, or any
        other failure of a round, is logged and the round tried again."""
        async with self, self._woken_by(stop):
            while not stop.is_set():
                self._wake.clear()  # a notice from here on calls for another round
                try:
                    busy = await self.round()
                    if busy:
                        self._backoff = 0.0
                    idle = 0.0 if busy else await self._idle_for()
                except Exception:
                    log.exception("webhook dispatch failed; trying again")
                    idle = _RETRY_AFTER
                if idle > 0:
                    # Not again before poll_min, even when woken: notices come with
                    # every commit, and one round serves all that came meanwhile.
                    await asyncio.sleep(min(idle, self.config.poll_min))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._wake.wait(), max(0.0, idle - self.config.poll_min)
                        )

    @contextlib.asynccontextmanager
    async def _woken_by(self, stop: asyncio.Event) -> AsyncIterator[None]:
        """Wake-ups for as long as the dispatcher runs: ``stop``, and on PostgreSQL
        the NOTIFYs of ``wakeups.CHANNELS``."""
        self._wake = asyncio.Event()
        tasks = [asyncio.create_task(self._relay(stop), name="jooksms-webhooks-stop")]
        if not self._db.is_sqlite and self.config.listen:
            listening = listen_forever(
                self._db.write_engine, wakeups.CHANNELS, self._wake.set, what="webhook wake-ups"
            )
            tasks.append(asyncio.create_task(listening, name="jooksms-webhooks-listen"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _relay(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _idle_for(self) -> float:
        """Seconds until the next look, after a round that found nothing to do."""
        if self._db.is_sqlite:
            return self.config.sqlite_poll
        async with self._db.read() as session:
            due, waiting = await session.run_sync(_next_look)
        if waiting:  # events committed but not readable yet: look again soon
            self._backoff = min(self._backoff * 2 or self.config.poll_min, _BACKOFF_MAX)
            return self._backoff
        self._backoff = 0.0
        idle = self.config.poll
        if due is not None:
            idle = min(idle, (due - self._clock()).total_seconds())
        # Not below poll_min: a due row another sender is claiming right now is
        # skipped (SKIP LOCKED) and must not spin this loop.
        return max(idle, self.config.poll_min)

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
            cursor = event_log.load_cursor(session, fanout.CURSOR)
            if cursor is None:
                return True  # the first start: fan-out saves the log's head
            newest = session.execute(select(func.max(event_log.EVENTS.c.id))).scalar()
            return int(newest or 0) > cursor.event_id

        async with self._db.read() as session:
            return await session.run_sync(moved)

    async def _anything_due(self) -> bool:
        now = self._clock()
        async with self._db.read() as session:
            found = await session.execute(
                select(DELIVERIES.c.id).where(deliveries.due_now(now)).limit(1)
            )
            return found.first() is not None


def _next_look(session: Session) -> tuple[datetime | None, bool]:
    """PostgreSQL: when the next delivery comes due, and whether committed events
    wait behind an older open transaction (their ``txid`` is not below the snapshot's
    xmin, so ``events.log.read`` passes them by for now). Both read an index."""
    # The newest event's transaction against the snapshot's xmin: one step down the
    # index. (An EXISTS over txid >= xmin was planned as a scan of the log, and took
    # a third of PostgreSQL's time under load.)
    waiting = session.execute(
        text(
            "SELECT (SELECT max(txid) FROM events)"
            " >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        )
    ).scalar()
    return deliveries.next_due(session), bool(waiting)

"""The in-process event feed: one reader of the event log per process, fanned out to
every subscriber in the process (the live stream; later the web app and triggers).

A subscriber names where it starts (a ``Position``, or none for "from now on"),
replays from there by reading the log itself, then joins the live fan-out: the
batches the reader fans out while it replays are queued, and those it had already
replayed are skipped by id, so it sees each event once, in the log's order.

The reader wakes on PostgreSQL's ``NOTIFY jooksms_events`` (sent by the triggers on
commit, so any process's writes wake every process's feed), and polls as the
fallback: a lost notice, or an event not yet readable because an older transaction
is still open, costs latency, never an event. On SQLite it polls at a short interval.

A subscriber that does not keep up (more than ``max_lag`` events waiting for it) is
detached from the fan-out, so it holds nobody back and its queue does not grow, and
catches up from the log at its own pace, from the last event it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

from jooksms.db.engine import Database
from jooksms.db.listen import listen_forever
from jooksms.db.schema_extras import EVENTS_CHANNEL
from jooksms.errors import Unavailable
from jooksms.events import log as event_log
from jooksms.events.log import Position
from jooksms.events.types import Event

log = logging.getLogger(__name__)

_RETRY_AFTER = 1.0  # seconds between reads while the database is unavailable


@dataclass(frozen=True, slots=True)
class FeedConfig:
    #: Events read from the log per query (by the reader and by replays).
    window: int = 1000
    #: Events that may wait for one subscriber before it is detached.
    max_lag: int = 10_000
    #: Seconds between polls right after activity (PostgreSQL) or always (SQLite).
    poll_min: float = 0.05
    #: Seconds at least between two reads that did not fill a window: notices come
    #: with every commit, and one read serves all that came meanwhile.
    spacing: float = 0.05
    #: Seconds between polls when idle: the fallback for a lost NOTIFY.
    poll_max: float = 1.0
    #: LISTEN on PostgreSQL; off where notifications do not pass (a pooler in
    #: transaction mode): the feed then polls only.
    listen: bool = True


@dataclass(frozen=True, slots=True)
class _Batch:
    """The events of one read, after ``start`` up to ``end``, as one subscriber takes
    them (already filtered for it)."""

    start: Position
    end: Position
    events: list[Event]


class Feed:
    """One per process and database. ``start`` it, ``subscribe``, ``close`` it."""

    def __init__(self, db: Database, config: FeedConfig | None = None) -> None:
        self._db = db
        self.config = config or FeedConfig()
        self._position: Position | None = None
        self._subscribers: set[Subscription] = set()
        self._closed = False
        self._wake = asyncio.Event()
        self._advanced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def position(self) -> Position:
        """Where the reader is: every event up to here has been fanned out."""
        if self._position is None:
            raise Unavailable("the event feed has not started reading the log yet")
        return self._position

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Start reading from now on. A database away now does not stop the process:
        the reader starts once it can read."""
        with contextlib.suppress(Exception):
            self._position = await self._head()
        self._tasks.append(asyncio.create_task(self._read_forever(), name="jooksms-event-feed"))
        if not self._db.is_sqlite and self.config.listen:
            listening = listen_forever(
                self._db.write_engine, [EVENTS_CHANNEL], self._on_notify, what="events"
            )
            self._tasks.append(asyncio.create_task(listening, name="jooksms-event-listen"))

    async def close(self) -> None:
        """Stop reading; every subscription's iteration ends."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for subscription in list(self._subscribers):
            subscription.wake()
        self._subscribers.clear()
        self._advanced.set()

    def subscribe(
        self,
        *,
        account_id: int | None = None,
        types: Collection[str] | None = None,
        after: Position | None = None,
    ) -> Subscription:
        """The events after ``after`` (from now on when None) of one account (all
        when None) and of these types (all when None), as an async iterator."""
        start = self.position if after is None else after
        return Subscription(self, account_id, None if types is None else frozenset(types), start)

    async def read(
        self,
        after: Position,
        *,
        account_id: int | None = None,
        types: Collection[str] | None = None,
    ) -> tuple[list[Event], Position]:
        """One window of the log, straight from the database (a replay's read)."""

        def work(session: Any) -> tuple[list[Event], Position]:
            return event_log.read(
                session,
                after=after,
                limit=self.config.window,
                account_id=account_id,
                types=types,
            )

        async with self._db.read() as session:
            return await session.run_sync(work)

    # The reader

    async def _head(self) -> Position:
        async with self._db.read() as session:
            return await session.run_sync(event_log.head)

    async def _read_forever(self) -> None:
        interval = self.config.poll_min
        failing = False
        while True:
            try:
                if self._position is None:
                    self._position = await self._head()
                if self._subscribers:
                    events, end = await self.read(self._position)
                else:  # nobody to tell: move on without reading (no table read on PostgreSQL)
                    head = await self._head()
                    if self._subscribers:
                        continue  # one joined meanwhile: it is owed what lies up to there
                    events, end = [], max(self._position, head)
            except Exception as exc:  # the database is away: the feed waits, then reads on
                if not failing:
                    log.warning("the event feed cannot read the log (%s); retrying", exc)
                failing = True
                await asyncio.sleep(_RETRY_AFTER)
                continue
            if failing:
                log.info("the event feed reads the log again")
                failing = False
            if end != self.position:
                self._fan_out(self.position, end, events)
                interval = self.config.poll_min
                if len(events) >= self.config.window:
                    continue  # a full window: more right behind
            # Under load a reader that went again at once read the log, or its head,
            # as fast as the database answered (see ``spacing``).
            await asyncio.sleep(self.config.spacing)
            woken = await self._wait_for_wake(interval)
            if self._db.is_sqlite:
                interval = self.config.poll_min  # no NOTIFY: polling is the only wake-up
            else:
                interval = (
                    self.config.poll_min if woken else min(interval * 2, self.config.poll_max)
                )

    def _fan_out(self, start: Position, end: Position, events: list[Event]) -> None:
        # Synchronous: every subscriber is offered the batch before the position
        # moves, which is what lets a joining subscriber know what it will be offered.
        by_account: dict[int, list[Event]] = {}
        for event in events:
            by_account.setdefault(event.account_id, []).append(event)
        for subscription in list(self._subscribers):
            mine = (
                events
                if subscription.account_id is None
                else by_account.get(subscription.account_id)
            )
            if mine:
                subscription.offer(start, end, mine)
        self._position = end
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

    async def _wait_for_wake(self, timeout: float) -> bool:
        """A NOTIFY (PostgreSQL), a subscriber that waits for the reader, or the poll."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        woken = self._wake.is_set()
        self._wake.clear()
        return woken

    async def wait_until_past(self, position: Position) -> None:
        """Until the reader has read up to ``position`` (or the feed is closed)."""
        while not self._closed and self.position < position:
            self._wake.set()
            await self._advanced.wait()

    def _on_notify(self) -> None:
        self._wake.set()

    def _join(self, subscription: Subscription) -> Position:
        self._subscribers.add(subscription)
        self._wake.set()  # the reader reads the log again, now that somebody listens
        return self.position

    def _leave(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)


class Subscription:
    """An async iterator of events, from a feed. Iterate it once; it leaves the feed
    when its iteration ends (``aclose``, a break, a cancelled task)."""

    def __init__(
        self,
        feed: Feed,
        account_id: int | None,
        types: frozenset[str] | None,
        position: Position,
    ) -> None:
        self._feed = feed
        self.account_id = account_id
        self.types = types
        #: After the last event this subscription has yielded (or skipped over).
        self.position = position
        #: Why it was last detached from the live fan-out, and how many times.
        self.detached_reason: str | None = None
        self.detached = 0
        self._batches: deque[_Batch] = deque()
        self._queued = 0
        self._live = False
        # Ids already yielded past the point where the live batches start.
        self._seen: frozenset[int] = frozenset()
        self._wake = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    def offer(self, start: Position, end: Position, events: list[Event]) -> None:
        """A batch from the reader (of this account, when it has one)."""
        if self.types is not None:
            events = [e for e in events if e.type in self.types]
            if not events:
                return
        if self._queued + len(events) > self._feed.config.max_lag:
            self._detach()
            return
        self._batches.append(_Batch(start, end, events))
        self._queued += len(events)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _detach(self) -> None:
        self._feed._leave(self)
        self._live = False
        self._batches.clear()
        self._queued = 0
        self.detached += 1
        self.detached_reason = (
            f"more than {self._feed.config.max_lag} events waited for this subscriber; "
            "it was detached from the live feed and catches up from the log"
        )
        log.info("an event subscriber is too slow: %s", self.detached_reason)
        self._wake.set()

    async def _events(self) -> AsyncIterator[Event]:
        feed = self._feed
        try:
            while not feed.closed:
                if not self._live:
                    async for event in self._catch_up():
                        yield event
                    continue
                if not self._batches:
                    if feed.position > self.position:
                        # Everything up to the reader's position was offered and taken.
                        self.position, self._seen = feed.position, frozenset()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch = self._batches.popleft()
                self._queued -= len(batch.events)
                if batch.end <= self.position:
                    continue  # replayed already
                seen = self._seen
                for event in batch.events:
                    if event.id not in seen:
                        yield event
                self.position, self._seen = batch.end, frozenset()
        finally:
            feed._leave(self)

    async def _catch_up(self) -> AsyncIterator[Event]:
        feed = self._feed
        # A backlog is read straight from the log, without joining yet: a long one
        # would overflow the queue while it is read.
        while self.position < feed.position and not feed.closed:
            events, self.position = await self._read()
            for event in events:
                yield event
        # Ahead of the reader (that last read went past it, or a client names an event
        # this process has not read yet): what comes next is the reader's to offer.
        await feed.wait_until_past(self.position)
        if feed.closed:
            return
        self._live = True
        joined = feed._join(self)
        # The reader may be past us again (it moved while we yielded): read the gap.
        # Batches fanned out from here on are queued; the ones this read also covers
        # are skipped by id. Each read here starts before ``joined``, so the ids of the
        # last one are all that can overlap.
        while self.position < joined:
            events, self.position = await self._read()
            self._seen = frozenset(e.id for e in events)
            for event in events:
                yield event

    async def _read(self) -> tuple[list[Event], Position]:
        return await self._feed.read(self.position, account_id=self.account_id, types=self.types)

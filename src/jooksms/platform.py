"""The one composition point: what a JookSMS process is made of, and the background
work it runs.

A :class:`Platform` owns the settings, the database, the message store, the intake
(group commit of accepted messages) and the in-process event feed. ``running`` starts
the background work a process does and stops it in order:

- the event feed (API processes: the live stream reads it; later the web app);
- webhook dispatch (every process; one at a time fans out, all send);
- event retention (every process; pruning is idempotent);
- delivery (``jooksms worker``, and ``jooksms serve`` in its embedded mode).

``jooksms serve`` attaches the API (``api.app.create_app``) and ``jooksms worker``
runs delivery alone; the web app and the triggers attach here too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from jooksms import store as stores
from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.delivery.runner import run_delivery
from jooksms.delivery.worker import WorkerConfig
from jooksms.events.feed import Feed
from jooksms.events.retention import prune_forever
from jooksms.events.webhooks.dispatcher import Dispatcher, DispatcherConfig
from jooksms.services.intake import Intake
from jooksms.store.base import MessageStore

log = logging.getLogger(__name__)


class Platform:
    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self._owns_db = db is None
        self.db = db or Database.from_settings(settings)
        self.store: MessageStore = stores.for_database(self.db)
        self.intake = Intake(self.db)
        self.feed = Feed(self.db)
        #: The background work stops when it is set (a platform runs once).
        self.stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def task(self, name: str) -> asyncio.Task[None] | None:
        """A background task by name (``delivery``, ``webhooks``, ``retention``), for
        health checks."""
        return self._tasks.get(name)

    @asynccontextmanager
    async def running(
        self, *, feed: bool, delivery: bool, simulator_if_unconfigured: bool = False
    ) -> AsyncIterator[Platform]:
        """Run this process's background work for as long as the block lasts.
        ``simulator_if_unconfigured`` lets delivery fall back to the built-in SMSC
        simulator when no connector is configured (the embedded ``serve``)."""
        settings = self.settings
        if feed:
            await self.feed.start()
        self._start(
            "webhooks", Dispatcher(self.db, DispatcherConfig.from_settings(settings)).run(self.stop)
        )
        self._start("retention", prune_forever(self.db, settings.event_retention, self.stop))
        if delivery:
            self._start("delivery", self._delivery(simulator_if_unconfigured))
        try:
            yield self
        finally:
            self.stop.set()
            if feed:
                await self.feed.close()
            # A task's failure, if it died, was logged then (and /healthz said so).
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self._tasks.clear()
            await self.intake.close()

    async def run_until_stopped(self) -> None:
        """The worker's life: deliver until ``stop`` is set (a signal), with the rest
        of the background work beside it. Delivery runs in the foreground, so that
        its failure to start (``NoConnectors``) reaches the caller."""
        async with self.running(feed=False, delivery=False):
            await self._delivery(simulator_if_unconfigured=False)

    def _delivery(self, simulator_if_unconfigured: bool) -> Coroutine[Any, Any, None]:
        return run_delivery(
            self.db,
            self.stop,
            simulator_if_unconfigured=simulator_if_unconfigured,
            config=WorkerConfig.from_settings(self.settings),
            public_url=self.settings.public_url,
        )

    async def dispose(self) -> None:
        if self._owns_db:
            await self.db.dispose()

    def _start(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(_log_if_died)
        self._tasks[name] = task


async def _settle_cursor(dispatcher: Dispatcher) -> None:
    """One fan-out before this process accepts anything: on a first start it places
    the webhook cursor at the log's head, and what is accepted next is after it."""
    try:
        async with dispatcher:
            await dispatcher.fan_out()
    except Exception as exc:  # the dispatcher's own rounds try again
        log.warning("webhook fan-out cannot start yet (%s)", exc)


def _log_if_died(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped", task.get_name(), exc_info=task.exception())

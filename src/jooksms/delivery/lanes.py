"""A write lane: things to store, gathered for a few milliseconds and written in one
transaction, one transaction at a time.

The worker has two, so that the carrier never waits on our own bookkeeping. A carrier
lets only a window of ``deliver_sm`` (receipts, incoming SMS) go unanswered, and we
answer each only once it is stored: their lane's transactions must be short and
frequent. Submit results are many more rows per transaction, and only our own
in-flight limit waits on them. In one lane, a batch of results held every receipt
behind it and receipts flowed at half the rate of submits.

Whoever hands an item over may wait for it to be committed (``put_and_wait``); an
item whose write fails stays in the lane, at its head, for the next try.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class WriteLane(Generic[T]):
    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        linger: float,
        linger_below: int,
    ) -> None:
        """``write`` stores a batch in one transaction and raises if it could not.
        A batch of fewer than ``linger_below`` items waits ``linger`` seconds for more."""
        self.name = name
        self._write = write
        self._linger = linger
        self._linger_below = linger_below
        self._items: list[T] = []
        self._waiting: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._running = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        self._items.append(item)
        self._wake.set()

    async def put_and_wait(self, item: T) -> None:
        """Hand ``item`` over and return once it is committed. With no loop running
        (a test driving the worker by hand, a worker stopping), write it now."""
        self._items.append(item)
        if not self._running:
            await self.flush()
            return
        stored = asyncio.get_running_loop().create_future()
        self._waiting.append(stored)
        self._wake.set()
        await stored

    async def flush(self) -> None:
        """Write everything gathered, now."""
        items, self._items = self._items, []
        waiting, self._waiting = self._waiting, []
        if items:
            try:
                await self._write(items)
            except BaseException:
                self._items[:0], self._waiting[:0] = items, waiting
                raise
        for stored in waiting:
            if not stored.done():
                stored.set_result(None)

    async def run(self, finished: asyncio.Event) -> None:
        """Write as things come, until ``finished`` is set and nothing is left."""
        self._running = True
        try:
            await self._run(finished)
        finally:
            self._running = False

    def wake(self) -> None:
        """Look again (``finished`` was set)."""
        self._wake.set()

    async def _run(self, finished: asyncio.Event) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not finished.is_set() and len(self._items) < self._linger_below:
                await asyncio.sleep(self._linger)
            try:
                await self.flush()
            except Exception:
                # Results keep messages from being sent twice, and carriers do not
                # resend what we acknowledged: keep everything and try again.
                log.exception("storing %s failed; retrying", self.name)
                if finished.is_set():
                    return  # leases bring the messages back; they may be sent twice
                await asyncio.sleep(1.0)
                self._wake.set()
                continue
            if finished.is_set() and not self._items:
                return

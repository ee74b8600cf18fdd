"""The leases of the messages a worker holds.

A claim leases messages for ``lease`` (2 minutes by default): a worker that dies
leaves them to be reclaimed when it runs out. A worker that is only slow must not
lose them that way, or another worker (or its own next claim) takes them and the
handset gets two copies: a connector limited to 5 messages a second needs 200 s for
a batch of 1,000. So every lease is renewed a third of the way through, in one
statement for all that are held, with the message's attempt count as a fencing
token: a message that was reclaimed and claimed again since has a higher count, and
its lease is not ours to renew.

And a message is submitted only while its lease has at least a quarter left
(``still_ours``): should renewals fail (the database away), the worker waits for the
next one rather than send a message whose lease may have passed to someone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from jooksms.db.engine import Database
from jooksms.store.base import MessageStore
from jooksms.store.types import Claimed

log = logging.getLogger(__name__)


class Leases:
    def __init__(
        self,
        db: Database,
        store: MessageStore,
        lease: timedelta,
        *,
        clock: Callable[[], datetime],
        on_lost: Callable[[set[int]], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._store = store
        self._lease = lease
        self._seconds = lease.total_seconds()
        self._clock = clock
        self._monotonic = monotonic
        self._on_lost = on_lost
        #: Held message id -> (its attempt count when claimed, when its lease ends).
        self._held: dict[int, tuple[int, float]] = {}
        self._renewal: asyncio.Future[None] | None = None
        self._renewing = False

    @property
    def every(self) -> float:
        """Seconds between renewals."""
        return max(0.05, self._seconds / 3)

    def hold(self, claimed: Sequence[Claimed], *, since: float) -> None:
        """Messages just claimed; ``since`` is the monotonic time the claim began (the
        lease runs from the database's ``now``, taken before it)."""
        ends = since + self._seconds
        for message in claimed:
            self._held[message.id] = (message.attempts, ends)

    def let_go(self, ids: Sequence[int]) -> None:
        """Messages whose outcome is stored: their lease no longer matters."""
        for mid in ids:
            self._held.pop(mid, None)

    async def still_ours(self, message_id: int) -> bool:
        """Whether the message may be submitted now: its lease has a quarter left,
        after waiting for a renewal if it has not. False when it is lost."""
        while True:
            held = self._held.get(message_id)
            if held is None:
                return False
            left = held[1] - self._monotonic()
            if left >= self._seconds / 4:
                return True
            if left <= 0 or not self._renewing:
                return left > 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._next_renewal()), left)

    async def run(self, stop: asyncio.Event) -> None:
        """Renew every ``every`` seconds until ``stop`` is set."""
        self._renewing = True
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.every)
                if not stop.is_set():
                    await self.renew()
        finally:
            self._renewing = False
            self._resolve()

    async def renew(self) -> None:
        """Renew the lease of every message held; those no longer ours are let go
        and reported to ``on_lost``."""
        held = dict(self._held)
        if not held:
            self._resolve()
            return
        since = self._monotonic()
        now = self._clock()
        pairs = [(mid, attempts) for mid, (attempts, _) in held.items()]
        try:
            renewed = await self._db.run_write(
                lambda s: self._store.renew_leases(s, pairs, now=now, lease=self._lease)
            )
        except Exception as exc:  # the next round tries again; still_ours holds sends
            log.warning("cannot renew the leases of %d messages now (%s)", len(pairs), exc)
            return
        ends = since + self._seconds
        lost: set[int] = set()
        for mid, (attempts, _) in held.items():
            if mid not in self._held:
                continue  # stored meanwhile
            if mid in renewed:
                self._held[mid] = (attempts, ends)
            else:
                del self._held[mid]
                lost.add(mid)
        if lost:
            log.warning(
                "%d held messages were reclaimed by another worker: not sent here", len(lost)
            )
            self._on_lost(lost)
        self._resolve()

    def _next_renewal(self) -> asyncio.Future[None]:
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.get_running_loop().create_future()
        return self._renewal

    def _resolve(self) -> None:
        if self._renewal is not None and not self._renewal.done():
            self._renewal.set_result(None)

"""Callbacks due later, all on one loop timer.

One heap and one ``TimerHandle`` instead of a handle per receipt: ``stop()`` cancels
everything at once, and callbacks due together run in the same loop turn, so the
PDUs they queue leave in one write per session.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

__all__ = ["Timers"]


class Timers:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # The counter breaks ties, so callbacks due at once keep their order.
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._handle: asyncio.Handle | None = None
        # The time the handle was set for. Kept here because uvloop hands back a plain
        # Handle, which has no when(), for a time already past.
        self._armed_at = 0.0

    def __len__(self) -> int:
        return len(self._heap)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        when = self._loop.time() + delay
        heapq.heappush(self._heap, (when, next(self._order), callback))
        if self._handle is None or when < self._armed_at:
            self._arm()

    def cancel_all(self) -> None:
        self._heap.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        if self._heap:
            self._armed_at = self._heap[0][0]
            self._handle = self._loop.call_at(self._armed_at, self._fire)

    def _fire(self) -> None:
        # The loop may run a timer up to its clock resolution early: everything due by
        # the moment this timer was set for is due now, or it would be re-armed at once.
        assert self._handle is not None
        limit = max(self._loop.time(), self._armed_at)
        self._handle = None
        while self._heap and self._heap[0][0] <= limit:
            heapq.heappop(self._heap)[2]()
        if self._heap and self._handle is None:
            self._arm()

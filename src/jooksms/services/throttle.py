"""Failure throttling: after ``failures`` failed attempts by one key (a client id, an
e-mail, a source address) within ``window`` seconds, that key waits until the oldest
of them is older than the window. Successes cost nothing and are not counted.

The counts live in this process's memory, on purpose. The point of the limiter is to
keep a flood of wrong secrets off the database; a count shared through the database
would cost a write per failure, which is the load it exists to stop. With several API
processes an attacker gets at most (processes × failures) tries per window, which is
still a bounded trickle (see the README's Reliability section for the figures).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """``failures`` failed attempts within ``window`` seconds, then wait."""

    failures: int
    window: float


class FailureLimiter:
    """One limit over many keys. ``max_keys`` bounds the memory an attacker who varies
    the key can take: the longest-unused keys are forgotten first."""

    def __init__(
        self,
        limit: Limit,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Whole seconds ``key`` must wait before its next attempt; None when it may
        try now."""
        times = self._failures.get(key)
        if times is None or len(times) < self.limit.failures:
            return None
        wait = times[0] + self.limit.window - self._clock()
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, key: str) -> None:
        """Count a failed attempt by ``key``."""
        times = self._failures.pop(key, None)
        if times is None:
            times = deque(maxlen=self.limit.failures)
            if len(self._failures) >= self._max_keys:
                self._failures.popitem(last=False)
        times.append(self._clock())
        self._failures[key] = times

    def forget(self, key: str) -> None:
        """Clear ``key``'s failures (after it proved who it is)."""
        self._failures.pop(key, None)


def longest_wait(limiters: Iterable[tuple[FailureLimiter, str]]) -> int | None:
    """The longest wait of several (limiter, key) pairs; None when none holds back."""
    waits = [w for limiter, key in limiters if (w := limiter.retry_after(key)) is not None]
    return max(waits, default=None)

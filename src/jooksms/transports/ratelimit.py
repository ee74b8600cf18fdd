"""A token bucket: at most ``rate`` messages a second on average, ``burst`` at once.

Carriers sell an SMPP account with a throughput ("50 msg/s"); above it they answer
ESME_RTHROTTLED or cut the bind. Pacing ourselves keeps us under the limit instead
of discovering it through errors.

Waiters reserve their token before sleeping (the balance may go negative), so each
one sleeps exactly until its turn: no thundering herd re-checking the bucket, and
callers are served in the order they asked.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number, not {rate!r}")
        if not (math.isfinite(burst) and burst >= 1):
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        # A full bucket at start: the first ``burst`` messages need not wait.
        self._tokens = burst
        self._updated = clock()

    @property
    def available(self) -> float:
        """Tokens in the bucket now; negative while callers wait for reserved ones."""
        self._refill()
        return self._tokens

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if they are there now; never waits, never goes into debt."""
        self._refill()
        if self._tokens < tokens:
            return False
        self._tokens -= tokens
        return True

    def reserve(self, tokens: float = 1.0) -> float:
        """Take ``tokens`` now, possibly on credit; returns the seconds to wait before
        using them."""
        self._refill()
        self._tokens -= tokens
        return max(0.0, -self._tokens / self.rate)

    async def acquire(self, tokens: float = 1.0) -> None:
        delay = self.reserve(tokens)
        if delay > 0:
            await self._sleep(delay)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now

"""When to try a message again after a transient failure, and when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off with full jitter, bounded by attempts and by age.

    Jitter spreads the retries of a burst that failed together (a carrier outage)
    instead of sending them back in one wave when the carrier returns.
    """

    max_attempts: int = 6
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=10)
    max_age: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.first_delay <= timedelta(0) or self.max_delay < self.first_delay:
            raise ValueError("delays must be positive and max_delay >= first_delay")

    def next_attempt(
        self,
        *,
        attempts: int,
        accepted_at: datetime,
        now: datetime,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again after ``attempts`` failed tries, or None to give up."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.max_delay, self.first_delay * (2 ** (attempts - 1)))
        delay = ceiling * (rng or random).uniform(0.5, 1.0)
        at = now + delay
        return at if at - accepted_at <= self.max_age else None

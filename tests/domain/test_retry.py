"""Retry timing: growing, jittered, capped, and bounded by attempts and age."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from jooksms.domain.retry import RetryPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(
        max_attempts=20, first_delay=timedelta(seconds=2), max_delay=timedelta(seconds=60)
    )
    rng = random.Random(7)
    delays = [
        policy.next_attempt(attempts=n, accepted_at=T0, now=T0, rng=rng) for n in range(1, 12)
    ]
    seconds = [(d - T0).total_seconds() for d in delays if d is not None]
    assert len(seconds) == 11
    for n, s in enumerate(seconds, start=1):
        ceiling = min(60.0, 2.0 * 2 ** (n - 1))
        assert ceiling / 2 <= s <= ceiling
    assert max(seconds) <= 60


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.next_attempt(attempts=2, accepted_at=T0, now=T0) is not None
    assert policy.next_attempt(attempts=3, accepted_at=T0, now=T0) is None


def test_gives_up_past_max_age() -> None:
    policy = RetryPolicy(max_age=timedelta(minutes=30), first_delay=timedelta(minutes=1))
    late = T0 + timedelta(minutes=29, seconds=59)
    assert policy.next_attempt(attempts=1, accepted_at=T0, now=late, rng=random.Random(1)) is None
    early = T0 + timedelta(minutes=5)
    assert policy.next_attempt(attempts=1, accepted_at=T0, now=early) is not None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"first_delay": timedelta(0)},
        {"first_delay": timedelta(seconds=10), "max_delay": timedelta(seconds=5)},
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]

"""The failure limiter on its own, with a hand-driven clock."""

from __future__ import annotations

from jooksms.services.throttle import FailureLimiter, Limit, longest_wait


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_in_fifteen_minutes_then_the_wait() -> None:
    clock = Clock()
    limiter = FailureLimiter(Limit(5, 900), clock=clock)
    for _ in range(4):
        limiter.failed("ana@example.com")
        clock.now += 60
    assert limiter.retry_after("ana@example.com") is None
    limiter.failed("ana@example.com")
    # The first failure was 240 s ago: it leaves the window in 660 s.
    assert limiter.retry_after("ana@example.com") == 660
    assert limiter.retry_after("bob@example.com") is None
    clock.now += 659.5
    assert limiter.retry_after("ana@example.com") == 1
    clock.now += 0.5
    assert limiter.retry_after("ana@example.com") is None
    # One more failure: the window slides, four of the five are still in it.
    limiter.failed("ana@example.com")
    assert limiter.retry_after("ana@example.com") == 60


def test_forget_and_the_longest_of_several_waits() -> None:
    clock = Clock()
    by_mail, by_address = (
        FailureLimiter(Limit(1, 10), clock=clock),
        FailureLimiter(Limit(1, 30), clock=clock),
    )
    by_mail.failed("ana")
    by_address.failed("10.0.0.1")
    assert longest_wait([(by_mail, "ana"), (by_address, "10.0.0.1")]) == 30
    assert longest_wait([(by_mail, "bob"), (by_address, "10.0.0.2")]) is None
    by_mail.forget("ana")
    assert by_mail.retry_after("ana") is None


def test_keys_beyond_max_keys_forget_the_oldest() -> None:
    limiter = FailureLimiter(Limit(1, 60), clock=Clock(), max_keys=2)
    for key in ("a", "b", "c"):
        limiter.failed(key)
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("b") == limiter.retry_after("c") == 60

"""The transition table: what may follow what."""

from __future__ import annotations

import pytest

from jooksms.domain.status import (
    CANCELABLE,
    TERMINAL,
    TRANSITIONS,
    InvalidTransition,
    Status,
    can_move,
    check_move,
    sources_of,
)

ALLOWED = [
    (Status.SCHEDULED, Status.QUEUED),
    (Status.SCHEDULED, Status.CANCELED),
    (Status.QUEUED, Status.SENDING),
    (Status.QUEUED, Status.CANCELED),
    (Status.SENDING, Status.SENT),
    (Status.SENDING, Status.QUEUED),
    (Status.SENDING, Status.FAILED),
    (Status.SENDING, Status.DELIVERED),
    (Status.SENT, Status.DELIVERED),
    (Status.SENT, Status.FAILED),
]
REFUSED = [
    (Status.SENT, Status.QUEUED),
    (Status.SENT, Status.CANCELED),
    (Status.SENDING, Status.CANCELED),
    (Status.DELIVERED, Status.FAILED),
    (Status.FAILED, Status.DELIVERED),
    (Status.CANCELED, Status.QUEUED),
    (Status.RECEIVED, Status.SENT),
    (Status.QUEUED, Status.DELIVERED),
]


@pytest.mark.parametrize(("current", "wanted"), ALLOWED)
def test_allowed(current: Status, wanted: Status) -> None:
    assert can_move(current, wanted)
    check_move(current, wanted)


@pytest.mark.parametrize(("current", "wanted"), REFUSED)
def test_refused(current: Status, wanted: Status) -> None:
    assert not can_move(current, wanted)
    with pytest.raises(InvalidTransition, match=f"a {current} message cannot become {wanted}"):
        check_move(current, wanted)


def test_every_status_has_a_row_and_terminals_are_final() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert {Status.DELIVERED, Status.FAILED, Status.CANCELED, Status.RECEIVED} == TERMINAL
    assert all(not TRANSITIONS[s] for s in TERMINAL)
    assert CANCELABLE.isdisjoint(TERMINAL)


def test_sources_of() -> None:
    assert sources_of(Status.CANCELED) == {Status.SCHEDULED, Status.QUEUED}
    assert sources_of(Status.DELIVERED) == {Status.SENDING, Status.SENT}
    assert sources_of(Status.RECEIVED) == frozenset()

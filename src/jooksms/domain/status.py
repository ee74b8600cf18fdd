"""Message directions, statuses, and the transitions between statuses.

The transition table is the one place that says how a message may move; the delivery
engine asks it before every change, so an out-of-order event (a receipt that arrives
after a message was marked failed, a cancel that races a claim) cannot move a message
backwards or out of a terminal status.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Direction(enum.StrEnum):
    SENDING = "sending"
    INCOMING = "incoming"


class Status(enum.StrEnum):
    SCHEDULED = "scheduled"  # accepted, due later
    QUEUED = "queued"  # due, waiting for a worker
    SENDING = "sending"  # handed to a carrier, not yet acknowledged
    SENT = "sent"  # the carrier accepted it
    DELIVERED = "delivered"  # the handset received it (delivery receipt)
    FAILED = "failed"  # permanent error, or retries exhausted
    CANCELED = "canceled"  # called back before it left
    RECEIVED = "received"  # an incoming message


#: Where each status may go next.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.SCHEDULED: frozenset({Status.QUEUED, Status.SENDING, Status.CANCELED}),
    # Straight to SENT: a late answer from the carrier (it took the message after all)
    # while the message waited for its retry.
    Status.QUEUED: frozenset({Status.SENDING, Status.SENT, Status.CANCELED, Status.FAILED}),
    # Back to QUEUED: a transient failure to be retried, or a lease that expired.
    # Straight to DELIVERED: some carriers send the receipt before the submit response.
    Status.SENDING: frozenset({Status.SENT, Status.QUEUED, Status.FAILED, Status.DELIVERED}),
    # SENT -> FAILED is a receipt saying the handset was never reached.
    Status.SENT: frozenset({Status.DELIVERED, Status.FAILED}),
    Status.DELIVERED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELED: frozenset(),
    Status.RECEIVED: frozenset(),
}

TERMINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)

#: Statuses from which a message can still be called back before it leaves.
CANCELABLE = frozenset({Status.SCHEDULED, Status.QUEUED})

#: Statuses a worker may claim a message from.
CLAIMABLE = frozenset({Status.SCHEDULED, Status.QUEUED})


class InvalidTransition(ValueError):
    def __init__(self, current: Status, wanted: Status) -> None:
        super().__init__(f"a {current} message cannot become {wanted}")
        self.current = current
        self.wanted = wanted


def can_move(current: Status, wanted: Status) -> bool:
    return wanted in TRANSITIONS[current]


def check_move(current: Status, wanted: Status) -> None:
    if not can_move(current, wanted):
        raise InvalidTransition(current, wanted)


def sources_of(wanted: Status) -> frozenset[Status]:
    """Every status that may move to ``wanted``: the WHERE clause of an UPDATE that
    changes status only where the table allows it."""
    return frozenset(s for s, nexts in TRANSITIONS.items() if wanted in nexts)

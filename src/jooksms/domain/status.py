"""Message directions and statuses. The delivery engine adds the transition table."""

from __future__ import annotations

import enum


class Direction(enum.StrEnum):
    SENDING = "sending"
    INCOMING = "incoming"


class Status(enum.StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELED = "canceled"
    RECEIVED = "received"


#: Statuses from which a message can still be called back before it leaves.
CANCELABLE = frozenset({Status.SCHEDULED, Status.QUEUED})

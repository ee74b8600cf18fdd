"""The event types and the shape of an event as every consumer sees it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class EventType(enum.StrEnum):
    MESSAGE_QUEUED = "message.queued"
    MESSAGE_SCHEDULED = "message.scheduled"
    MESSAGE_SENT = "message.sent"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_CANCELED = "message.canceled"
    MESSAGE_RECEIVED = "message.received"


EVENT_TYPES = frozenset(t.value for t in EventType)


@dataclass(frozen=True, slots=True)
class MessageData:
    """The message an event is about, as it was when the event happened: the status
    is the event's, the rest never changes over a message's life."""

    id: int
    external_id: int | None
    number: str
    from_number: str | None
    direction: str
    status: str
    error_code: str | None
    segments: int


@dataclass(frozen=True, slots=True)
class Event:
    #: Unique and stable: a consumer that sees an id twice has seen that event twice.
    id: int
    account_id: int
    type: str
    created_at: datetime
    #: None for events that are not about a message, or whose message was deleted.
    message: MessageData | None = None
    data: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        """The event as JSON for webhooks, the stream and the polling API."""
        body: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "account_id": self.account_id,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }
        if self.message is not None:
            m = self.message
            body["data"] = {
                "message_id": m.id,
                "external_id": m.external_id,
                "number": m.number,
                "from": m.from_number,
                "direction": m.direction,
                "status": m.status,
                "error_code": m.error_code,
                "segments": m.segments,
            }
        elif self.data is not None:
            body["data"] = self.data
        return body

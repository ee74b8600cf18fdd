"""What goes in and out of the message store: claimed messages, submit results,
carriers' reports, and the transitions each write made."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from jooksms.domain.status import Status
from jooksms.transports.base import DeliveryReport


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    account_id: int
    number: str
    from_number: str
    content: str
    attempts: int
    created_at: datetime
    segments: int


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: int
    account_id: int
    connector: str
    carrier_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class LateSent:
    """A message the carrier took after all, its answer later than we waited: it may
    be queued for a retry, retried already, or failed by now."""

    message_id: int
    connector: str
    carrier_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class Failed:
    message_id: int
    error_code: str | None
    error_message: str


@dataclass(frozen=True, slots=True)
class Retry:
    message_id: int
    at: datetime
    error_code: str | None
    error_message: str
    #: The carrier never took it: the claim does not count as an attempt.
    not_tried: bool = False


@dataclass(frozen=True, slots=True)
class Moved:
    """One message that changed status in a write: which, whose, and to what."""

    message_id: int
    account_id: int
    status: Status


class Moves(list[Moved]):
    """The transitions of one write, or of several added up."""

    @classmethod
    def to(cls, status: Status, rows: Iterable[tuple[int, int]]) -> Moves:
        return cls(Moved(int(mid), int(account), status) for mid, account in rows)

    def by_status(self) -> Counter[Status]:
        return Counter(m.status for m in self)

    def ids(self, status: Status) -> list[int]:
        return [m.message_id for m in self if m.status is status]


@dataclass(frozen=True, slots=True)
class Applied:
    """What a batch of carrier reports did: the messages moved, and the reports whose
    part is not stored yet (kept in ``pending_receipts`` until it is)."""

    moves: Moves
    unmatched: list[DeliveryReport]

"""The ways a real SMSC misbehaves, one small class each (as in jasmin's simulator).

A :class:`Misbehaviour` answers the simulator's questions at each decision point
("refuse this bind?", "reject this submit?", ...); the base class answers as a
well-behaved SMSC and each subclass overrides the one hook it is about. The
simulator asks a :class:`Misbehaviours` list, which tests may change while it runs
(``sim.misbehaviours.add(Throttle(5))``) to make a carrier turn bad mid-test.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from jooksms.transports.smpp.status import CommandStatus

from .config import SimulatorConfig

__all__ = [
    "DropAfter",
    "Misbehaviour",
    "Misbehaviours",
    "QueueFull",
    "ReceiptFirst",
    "RefuseBinds",
    "SlowResponses",
    "Throttle",
    "misbehaviours_from",
]


class Misbehaviour:
    """A well-behaved SMSC. Each hook's answer means "nothing unusual"."""

    def bind_status(self, system_id: str) -> CommandStatus | None:
        """A status to refuse this (correctly authenticated) bind with."""
        return None

    def submit_status(self, system_id: str, now: float) -> CommandStatus | None:
        """A status to reject this submit_sm with; ``now`` is the loop clock."""
        return None

    def response_delay(self) -> float:
        """Seconds to hold each submit_sm_resp back."""
        return 0.0

    def receipt_first(self) -> bool:
        """Send the receipt before the submit_sm_resp that announces its message id."""
        return False

    def drop_now(self, session_submits: int) -> bool:
        """Close the session, having just answered its ``session_submits``-th submit."""
        return False

    def __repr__(self) -> str:
        fields = ", ".join(f"{k.lstrip('_')}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class RefuseBinds(Misbehaviour):
    """ESME_RBINDFAIL for the next ``count`` binds (all of them when None): a carrier
    that is down for maintenance, or one that lets a client back in only later."""

    def __init__(self, count: int | None = None) -> None:
        self._left = count

    def bind_status(self, system_id: str) -> CommandStatus | None:
        if self._left is None:
            return CommandStatus.ESME_RBINDFAIL
        if self._left <= 0:
            return None
        self._left -= 1
        return CommandStatus.ESME_RBINDFAIL


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Throttle(Misbehaviour):
    """ESME_RTHROTTLED above ``per_second`` submits per second for one system_id.

    A token bucket holding one second of submits, so a client that paces itself at
    the limit is never refused while a burst above it is, as carriers count.
    Refused submits take no token: retrying too fast keeps being refused, not worse.
    """

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._rate = per_second
        self._buckets: dict[str, _Bucket] = {}

    def submit_status(self, system_id: str, now: float) -> CommandStatus | None:
        bucket = self._buckets.get(system_id)
        if bucket is None:
            bucket = self._buckets[system_id] = _Bucket(self._rate, now)
        bucket.tokens = min(self._rate, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens < 1:
            return CommandStatus.ESME_RTHROTTLED
        bucket.tokens -= 1
        return None


class QueueFull(Misbehaviour):
    """ESME_RMSGQFUL for a ``share`` of submits, drawn from its own seeded generator
    so that turning it on does not change which messages fail delivery."""

    def __init__(self, share: float, *, seed: int | None = None) -> None:
        self._share = share
        self._random = random.Random(None if seed is None else f"{seed}:queue-full")

    def submit_status(self, system_id: str, now: float) -> CommandStatus | None:
        if self._random.random() < self._share:
            return CommandStatus.ESME_RMSGQFUL
        return None


class SlowResponses(Misbehaviour):
    """Hold each submit_sm_resp back ``seconds``: fills the client's window, and
    beyond its response timeout makes it give up on submits that did succeed."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def response_delay(self) -> float:
        return self._seconds


class ReceiptFirst(Misbehaviour):
    """The receipt overtakes the submit_sm_resp, as it does on real SMSCs under load:
    the client learns a message's outcome before it knows the message's id."""

    def receipt_first(self) -> bool:
        return True


class DropAfter(Misbehaviour):
    """Close each session after answering ``submits`` of its submits, without unbind.
    Submits the client pipelined beyond those are never answered: their fate is
    unknown to it, which is the case a delivery engine must get right."""

    def __init__(self, submits: int) -> None:
        if submits <= 0:
            raise ValueError("submits must be positive")
        self._submits = submits

    def drop_now(self, session_submits: int) -> bool:
        return session_submits >= self._submits


class Misbehaviours:
    """The misbehaviours in force; the first one with an answer decides."""

    def __init__(self, items: Iterable[Misbehaviour] = ()) -> None:
        self._items = list(items)

    def add(self, item: Misbehaviour) -> None:
        self._items.append(item)

    def remove(self, item: Misbehaviour) -> None:
        self._items.remove(item)

    def clear(self) -> None:
        self._items.clear()

    def __iter__(self) -> Iterator[Misbehaviour]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Misbehaviours({self._items!r})"

    def bind_status(self, system_id: str) -> CommandStatus | None:
        return next((s for m in self._items if (s := m.bind_status(system_id))), None)

    def submit_status(self, system_id: str, now: float) -> CommandStatus | None:
        # The common case, no misbehaviour, costs one truth test per submit.
        if not self._items:
            return None
        return next((s for m in self._items if (s := m.submit_status(system_id, now))), None)

    def response_delay(self) -> float:
        if not self._items:
            return 0.0
        return max(m.response_delay() for m in self._items)

    def receipt_first(self) -> bool:
        return bool(self._items) and any(m.receipt_first() for m in self._items)

    def drop_now(self, session_submits: int) -> bool:
        return bool(self._items) and any(m.drop_now(session_submits) for m in self._items)


def misbehaviours_from(config: SimulatorConfig) -> Misbehaviours:
    """The misbehaviours the config's options turn on, in the order they apply."""
    items: list[Misbehaviour] = []
    if config.refuse_binds:
        items.append(RefuseBinds())
    if config.throttle is not None:
        items.append(Throttle(config.throttle))
    if config.queue_full_rate > 0:
        items.append(QueueFull(config.queue_full_rate, seed=config.seed))
    if config.response_delay > 0:
        items.append(SlowResponses(config.response_delay))
    if config.receipt_first:
        items.append(ReceiptFirst())
    if config.drop_after is not None:
        items.append(DropAfter(config.drop_after))
    return Misbehaviours(items)

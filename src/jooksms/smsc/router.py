"""Which bound session gets each deliver_sm, and where they wait meanwhile.

Receipts and incoming messages go to a receiver or transceiver session of their
system_id, in turn, each session holding at most ``window`` unanswered ones. What
cannot go out now waits in a per-system_id queue (at most ``pending_limit``, the
oldest discarded past it), drained as sessions bind or answer; what a session took
but never answered goes back to the front of the queue when it closes (a connection
lost, an unbind). So a client that reconnects gets its receipts, as from a real SMSC.

An error answer is not an acknowledgement either. A temporary one (:data:`TEMPORARY`:
the ESME's application or queue could not take it just now) sends the deliver_sm
again, to the back of the queue, after ``redeliver_delay`` seconds, as SMSCs retry;
after ``redeliver_attempts`` temporary errors for the same deliver_sm, or at once on
any other (permanent) error, it is dropped and counted in ``deliveries_dropped``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Final

from jooksms.transports.smpp.receipt import is_receipt
from jooksms.transports.smpp.status import CommandStatus

from .session import BuildDeliverSm, Delivery, Session
from .stats import Stats

__all__ = ["TEMPORARY", "Later", "Router"]

#: Error answers to a deliver_sm worth trying again: the ESME says it failed for now
#: (ESME_RX_T_APPN), is full or too fast (ESME_RMSGQFUL, ESME_RTHROTTLED), or broke
#: (ESME_RSYSERR), not that the message is wrong. Any other error is permanent.
TEMPORARY: Final = frozenset(
    {
        CommandStatus.ESME_RX_T_APPN,
        CommandStatus.ESME_RMSGQFUL,
        CommandStatus.ESME_RTHROTTLED,
        CommandStatus.ESME_RSYSERR,
    }
)

#: Runs a callback after so many seconds (the simulator's timers).
Later = Callable[[float, Callable[[], None]], None]


class Router:
    def __init__(
        self,
        stats: Stats,
        *,
        window: int,
        pending_limit: int,
        redeliver_delay: float,
        redeliver_attempts: int,
        later: Later,
    ) -> None:
        self._stats = stats
        self._window = window
        self._pending_limit = pending_limit
        self._redeliver_delay = redeliver_delay
        self._redeliver_attempts = redeliver_attempts
        self._later = later
        self._receivers: dict[str, list[Session]] = {}
        self._pending: dict[str, deque[Delivery]] = {}
        # Where the round robin of each system_id starts next.
        self._turn: dict[str, int] = {}

    def receivers(self, system_id: str) -> list[Session]:
        return list(self._receivers.get(system_id, ()))

    def pending(self, system_id: str) -> int:
        return len(self._pending.get(system_id, ()))

    def add(self, session: Session) -> None:
        """A session just bound as receiver or transceiver: give it what waits."""
        self._receivers.setdefault(session.system_id, []).append(session)
        self.refill(session)

    def remove(self, session: Session) -> None:
        """A session closed: its unanswered deliver_sm go first to the next one."""
        sessions = self._receivers.get(session.system_id, [])
        if session in sessions:
            sessions.remove(session)
        unacked = session.take_unacked()
        if unacked:
            self._stats.deliveries_requeued += len(unacked)
            queue = self._queue(session.system_id)
            queue.extendleft(reversed(unacked))
            self._stats.deliveries_pending += len(unacked)
            self._trim(queue)
            self._drain(session.system_id)

    def deliver(self, system_id: str, build: BuildDeliverSm) -> None:
        """Send the deliver_sm ``build`` makes now if a session has room, else hold it."""
        self._route(system_id, Delivery(build))

    def refused(self, system_id: str, delivery: Delivery, status: int) -> bool:
        """The ESME answered ``delivery`` with error ``status``: schedule it to go again
        if the error is temporary and tries remain, else drop it. True if it goes again."""
        if status in TEMPORARY:
            delivery.refusals += 1
            if delivery.refusals < self._redeliver_attempts:
                self._stats.deliveries_redelivered += 1
                self._stats.deliveries_delayed += 1
                self._later(self._redeliver_delay, partial(self._redeliver, system_id, delivery))
                return True
        self._stats.deliveries_dropped += 1
        return False

    def _redeliver(self, system_id: str, delivery: Delivery) -> None:
        self._stats.deliveries_delayed -= 1
        self._route(system_id, delivery)

    def _route(self, system_id: str, delivery: Delivery) -> None:
        # Behind what already waits for a session: nothing overtakes the queue.
        queue = self._pending.get(system_id)
        session = None if queue else self._pick(system_id)
        if session is None:
            self._hold(system_id, delivery)
            return
        self._send(session, delivery)

    def refill(self, session: Session) -> None:
        """``session`` has room again: send it what waits for its system_id."""
        queue = self._pending.get(session.system_id)
        while queue and self._has_room(session):
            self._stats.deliveries_pending -= 1
            self._send(session, queue.popleft())

    def _drain(self, system_id: str) -> None:
        queue = self._pending.get(system_id)
        while queue and (session := self._pick(system_id)) is not None:
            self._stats.deliveries_pending -= 1
            self._send(session, queue.popleft())

    def _pick(self, system_id: str) -> Session | None:
        sessions = self._receivers.get(system_id)
        if not sessions:
            return None
        start = self._turn.get(system_id, 0)
        for offset in range(len(sessions)):
            session = sessions[(start + offset) % len(sessions)]
            if self._has_room(session):
                self._turn[system_id] = start + offset + 1
                return session
        return None

    def _has_room(self, session: Session) -> bool:
        return not session.closing and session.in_flight < self._window

    def _send(self, session: Session, delivery: Delivery) -> None:
        pdu = session.deliver(delivery)
        if is_receipt(pdu.esm_class):
            self._stats.receipts_sent += 1
        else:
            self._stats.incoming_sent += 1

    def _hold(self, system_id: str, delivery: Delivery) -> None:
        queue = self._queue(system_id)
        queue.append(delivery)
        self._stats.deliveries_pending += 1
        self._trim(queue)

    def _queue(self, system_id: str) -> deque[Delivery]:
        return self._pending.setdefault(system_id, deque())

    def _trim(self, queue: deque[Delivery]) -> None:
        while len(queue) > self._pending_limit:
            queue.popleft()
            self._stats.deliveries_pending -= 1
            self._stats.deliveries_discarded += 1

"""The delivery worker: claims due messages, hands each to the connector its route
names, and stores what the carriers answer, all in batches.

One loop claims a batch (a lease, see ``delivery.queue``), submits every message of
it at once (each transport keeps its own window of outstanding requests), and writes
the results of the whole batch in one transaction. Receipts arrive on their own
schedule: they are gathered for a few milliseconds and written together; a receipt
whose message is not stored as sent yet (carriers may answer the receipt before the
submit response) is kept and tried again for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from jooksms.db.engine import Database
from jooksms.db.types import utcnow
from jooksms.delivery import queue
from jooksms.delivery.queue import Claimed, Failed, Outcome, Retry, Sent
from jooksms.delivery.routing import NoRoute, RoutingTable
from jooksms.domain.retry import RetryPolicy
from jooksms.services import messages
from jooksms.services.messages import Inbound
from jooksms.transports.base import IncomingSms, OutgoingSms, SubmitResult, Transport
from jooksms.transports.smpp.receipt import Receipt, ReceiptState, message_id_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    batch: int = 500
    lease: timedelta = timedelta(minutes=2)
    #: How long to sleep when the queue is empty.
    idle_poll: float = 0.2
    #: How long receipts gather before they are written together.
    receipt_linger: float = 0.005
    #: How long a receipt for an unknown carrier id is kept and retried.
    orphan_ttl: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class Worker:
    def __init__(
        self,
        db: Database,
        transports: Mapping[str, Transport],
        routing: RoutingTable,
        config: WorkerConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._transports = transports
        self._routing = routing
        self._config = config or WorkerConfig()
        self._clock = clock
        self._receipts: list[tuple[Outcome, float]] = []
        self._inbound: list[Inbound] = []
        self._receipt_wake = asyncio.Event()
        #: Incoming SMS to numbers no account owns: logged and counted, not stored.
        self.unowned_incoming = 0

    # -- sending ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then finish the batch in hand and return."""
        receipts = asyncio.create_task(self._write_receipts(stop), name="jooksms-receipts")
        try:
            while not stop.is_set():
                if await self.run_once() == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._config.idle_poll)
        finally:
            stop.set()
            await receipts

    async def run_once(self) -> int:
        """Claim one batch, send it, store the outcome; return how many were claimed."""
        now = self._clock()
        config = self._config

        def claim(session: Session) -> list[Claimed]:
            queue.reclaim_expired(session, now=now)
            return queue.claim_due(session, now=now, limit=config.batch, lease=config.lease)

        claimed = await self._db.run_write(claim)
        if claimed:
            results = await asyncio.gather(*(self._send(m) for m in claimed))
            await self._store(claimed, results)
        return len(claimed)

    async def _send(self, message: Claimed) -> tuple[str, SubmitResult] | NoRoute:
        try:
            route = self._routing.pick(
                account_id=message.account_id,
                sender=message.from_number,
                destination=message.number,
            )
        except NoRoute as exc:
            return exc
        transport = self._transports[route.connector]
        outgoing = OutgoingSms(message.id, message.from_number, message.number, message.content)
        return route.connector, await transport.submit(outgoing)

    async def _store(
        self, claimed: Sequence[Claimed], results: Sequence[tuple[str, SubmitResult] | NoRoute]
    ) -> None:
        now = self._clock()
        sent: list[Sent] = []
        failed: list[Failed] = []
        retries: list[Retry] = []
        for message, result in zip(claimed, results, strict=True):
            if isinstance(result, NoRoute):
                failed.append(Failed(message.id, "no_route", str(result)))
                continue
            connector, outcome = result
            if outcome.failure is None:
                keys = [message_id_key(cid) for cid in outcome.carrier_ids]
                sent.append(Sent(message.id, connector, keys))
            else:
                self._sort_failure(message, outcome, now, failed, retries)

        def store(session: Session) -> None:
            queue.record_sent(session, sent, now=now)
            queue.record_failed(session, failed, now=now)
            queue.retry_later(session, retries, now=now)

        await self._db.run_write(store)
        self._receipt_wake.set()  # receipts that came early may match now

    def _sort_failure(
        self,
        message: Claimed,
        outcome: SubmitResult,
        now: datetime,
        failed: list[Failed],
        retries: list[Retry],
    ) -> None:
        failure = outcome.failure
        assert failure is not None
        code = None if failure.status is None else f"0x{failure.status:08X}"
        if failure.kind == "permanent":
            failed.append(Failed(message.id, code, failure.description))
            return
        at = self._config.retry.next_attempt(
            attempts=message.attempts, accepted_at=message.created_at, now=now
        )
        if at is None:
            why = f"gave up after {message.attempts} attempts: {failure.description}"
            failed.append(Failed(message.id, code, why))
        else:
            retries.append(Retry(message.id, at, code, failure.description))

    # -- receipts --------------------------------------------------------------------

    def receipt_handler(self, connector: str) -> Callable[[Receipt], Awaitable[None]]:
        """The ``on_receipt`` callback to build the connector's transport with."""

        async def on_receipt(receipt: Receipt) -> None:
            if not receipt.state.is_final:
                return
            outcome = Outcome(
                connector,
                message_id_key(receipt.message_id),
                delivered=receipt.state is ReceiptState.DELIVRD,
                error_code=receipt.error_code,
            )
            self._receipts.append((outcome, time.monotonic()))
            self._receipt_wake.set()

        return on_receipt

    def incoming_handler(self) -> Callable[[IncomingSms], Awaitable[None]]:
        """The ``on_incoming`` callback to build transports with."""

        async def on_incoming(sms: IncomingSms) -> None:
            self._inbound.append(Inbound(sms.source, sms.destination, sms.text))
            self._receipt_wake.set()

        return on_incoming

    async def _write_receipts(self, stop: asyncio.Event) -> None:
        while not (stop.is_set() and not self._receipts):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._receipt_wake.wait(), 1.0)
            self._receipt_wake.clear()
            await asyncio.sleep(self._config.receipt_linger)
            await self.flush_receipts()
            if stop.is_set():
                return

    async def flush_receipts(self) -> None:
        """Write the receipts and incoming SMS gathered so far; keep unmatched receipts
        for a later try."""
        await self._store_inbound()
        pending, self._receipts = self._receipts, []
        if not pending:
            return
        now = self._clock()
        first_seen = {(o.connector, o.carrier_id): seen for o, seen in pending}
        unmatched = await self._db.run_write(
            lambda session: queue.record_outcomes(session, [o for o, _ in pending], now=now)
        )
        deadline = time.monotonic() - self._config.orphan_ttl
        for outcome in unmatched:
            seen = first_seen[(outcome.connector, outcome.carrier_id)]
            if seen > deadline:
                self._receipts.append((outcome, seen))
            else:
                log.warning(
                    "receipt for unknown message %s on %s dropped",
                    outcome.carrier_id,
                    outcome.connector,
                )

    async def _store_inbound(self) -> None:
        inbound, self._inbound = self._inbound, []
        if not inbound:
            return
        _, unowned = await self._db.run_write(
            lambda session: messages.receive_batch(session, inbound)
        )
        for sms in unowned:
            log.warning("incoming SMS to %s, a number no account owns", sms.destination)
        self.unowned_incoming += len(unowned)

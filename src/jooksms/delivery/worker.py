"""The delivery worker: claims due messages, hands each to the connector its route
names, and stores what the carriers answer, all in batches.

Three tasks share the work. The claimer takes due messages in batches (a lease, see
``delivery.queue``) whenever fewer than a batch are in hand, and starts a delivery
for each; every transport keeps its own window of outstanding requests. Two write
lanes (``delivery.lanes``) store what comes back, each a few milliseconds' worth per
transaction: one the submit results, one the receipts and incoming SMS that carriers
wait on. A receipt that races its own submit result (the part is not stored yet)
goes with the results, after them, so that it finds its part.

Crash safety: a message is submitted only while fewer than ``in_flight`` messages
are submitted but not yet stored. A worker killed at any moment has therefore sent
at most ``in_flight`` messages whose results are lost; those are claimed again once
their lease runs out, and can reach the handset twice. Everything else it held was
never submitted and is simply sent later.

Duplicates on slow carriers: a submit that got no answer in time may have been
delivered, so it is sent again at most ``maybe_delivered_retries`` times (the
connector's setting), and then failed. One whose connection ended before the answer
is resent on the retry schedule alone (see ``SubmitFailure.connection_lost``). When
the answer does come, late, the message is recorded sent with the carrier's id and
its retry, if still queued, is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from jooksms import metrics
from jooksms import store as stores
from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.db.types import utcnow
from jooksms.delivery.buckets import SharedBuckets
from jooksms.delivery.lanes import WriteLane
from jooksms.delivery.leases import Leases
from jooksms.delivery.routing import NoRoute, RoutingTable
from jooksms.domain.retry import RetryPolicy
from jooksms.domain.status import Status
from jooksms.services import messages
from jooksms.store.types import Applied, Claimed, Failed, LateSent, Moves, Retry, Sent
from jooksms.transports.base import (
    DeliveryReport,
    IncomingSms,
    OutgoingSms,
    ReportsLateAnswers,
    SubmitFailure,
    SubmitResult,
    Transport,
)
from jooksms.transports.registry import Handlers

log = logging.getLogger(__name__)

Result = tuple[str, SubmitResult] | NoRoute


class _Lost:
    """A message whose lease was lost before it was submitted: another worker has it,
    so this one neither sends nor stores it."""


LOST = _Lost()
#: What the results lane stores: a submit result, a late answer that completes one, or
#: a receipt that came before its result.
_ResultItem = tuple[Claimed, Result] | LateSent | DeliveryReport
#: What the carrier lane stores.
_CarrierItem = DeliveryReport | IncomingSms


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    #: Messages claimed at a time; a new claim starts when fewer are in hand.
    batch: int = 1000
    #: At most this many messages submitted and not yet stored: the most a crash
    #: can send twice.
    in_flight: int = 1000
    lease: timedelta = timedelta(minutes=2)
    #: The longest sleep when nothing is due. Wake-ups (LISTEN/NOTIFY, or the API in
    #: the same process) and the next scheduled time cut it short.
    idle_poll: float = 0.5
    #: How long results and receipts gather before they are written together.
    store_linger: float = 0.002
    #: How often expired leases are reclaimed and kept receipts matched again.
    sweep_every: float = 1.0
    #: How long a receipt for an unknown carrier id is kept.
    pending_ttl: timedelta = timedelta(hours=48)
    #: Resends of a message that may have been delivered, for a transport that does
    #: not say (``ReportsLateAnswers.maybe_delivered_retries``).
    maybe_delivered_retries: int = 1
    #: On stop, how long to wait for the messages already submitted.
    stop_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            batch=settings.batch,
            in_flight=settings.in_flight,
            lease=timedelta(seconds=settings.lease_seconds),
            pending_ttl=timedelta(hours=settings.pending_receipt_ttl_hours),
        )


class Worker:
    def __init__(
        self,
        db: Database,
        transports: Mapping[str, Transport],
        routing: RoutingTable,
        config: WorkerConfig | None = None,
        *,
        rates: Mapping[str, float] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._store = stores.for_database(db)
        self._transports = transports
        self._routing = routing
        self._config = config or WorkerConfig()
        self._clock = clock
        self._buckets = SharedBuckets(db, rates or {})
        self._leases = Leases(
            db, self._store, self._config.lease, clock=clock, on_lost=self._lost_leases
        )
        #: Claimed, waiting for an in-flight slot.
        self._ready: deque[Claimed] = deque()
        #: Claimed and not yet stored.
        self._held: dict[int, Claimed] = {}
        #: Holding one of the ``in_flight`` slots: submitted (or about to be), not stored.
        self._submitting: set[int] = set()
        self._deliveries: set[asyncio.Task[None]] = set()
        linger = self._config.store_linger
        self._results: WriteLane[_ResultItem] = WriteLane(
            "delivery results",
            self._store_results,
            linger=linger,
            linger_below=self._config.in_flight // 2,
        )
        self._carrier: WriteLane[_CarrierItem] = WriteLane(
            "receipts and incoming SMS", self._store_from_carriers, linger=linger, linger_below=0
        )
        #: (connector, carrier id) of the parts submitted and not stored yet: their
        #: receipts go with the results, after them.
        self._unstored: set[tuple[str, str]] = set()
        self._room = asyncio.Event()
        self._late_wired = False
        self._next_sweep = 0.0
        self._stopping = False
        #: Incoming SMS to numbers no account owns: logged and counted, not stored.
        self.unowned_incoming = 0
        self.receipts_matched = 0
        self.receipts_pending = 0

    # -- the loop --------------------------------------------------------------------

    async def run(
        self,
        stop: asyncio.Event,
        *,
        before_finish: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Deliver until ``stop`` is set. Then stop claiming, wait (at most
        ``stop_timeout``) for what was submitted, run ``before_finish`` (stopping the
        transports: receipts still coming in are stored before the carrier hears they
        were taken), store everything, and put what was never sent back in the queue."""
        self._wire_late_answers()
        finished = asyncio.Event()
        writers = [
            asyncio.create_task(lane.run(finished), name=f"jooksms-writer-{lane.name}")
            for lane in (self._results, self._carrier)
        ]
        writers.append(asyncio.create_task(self._leases.run(finished), name="jooksms-leases"))
        try:
            async with self._db.wakeups.listen(self._db.write_engine):
                await self._claim_until(stop)
        finally:
            self._stopping = True
            await self._drain()
            if before_finish is not None:
                await before_finish()
            finished.set()
            self._results.wake()
            self._carrier.wake()
            await asyncio.gather(*writers)
            await self._release_unsent()

    async def run_once(self) -> int:
        """Claim one batch, send it, store the outcome; return how many were claimed."""
        self._wire_late_answers()
        claimed, _ = await self._claim()
        if claimed:
            for message, result in zip(
                claimed, await asyncio.gather(*(self._send(m) for m in claimed)), strict=True
            ):
                self._held[message.id] = message
                if not isinstance(result, _Lost):
                    self._put_result(message, result)
            await self._write_all()
        return len(claimed)

    async def _claim_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if len(self._held) >= self._config.batch:
                self._room.clear()
                await _first(self._room.wait(), stop.wait())
                continue
            try:
                claimed, next_due = await self._claim()
            except Exception:  # the database away for a moment must not end the worker
                log.exception("claiming messages failed; trying again in 1 s")
                await _first(asyncio.sleep(1.0), stop.wait())
                continue
            for message in claimed:
                self._held[message.id] = message
            self._ready.extend(claimed)
            self._start_ready()
            if len(claimed) < self._config.batch:
                await _first(self._db.wakeups.wait(self._idle_for(next_due)), stop.wait())

    def _idle_for(self, next_due: datetime | None) -> float:
        poll = self._config.idle_poll
        if next_due is None:
            return poll
        return min(poll, max(0.0, (next_due - self._clock()).total_seconds()))

    async def _claim(self) -> tuple[list[Claimed], datetime | None]:
        since = time.monotonic()
        now = self._clock()
        config = self._config
        sweep = time.monotonic() >= self._next_sweep
        if sweep:
            self._next_sweep = time.monotonic() + config.sweep_every

        store = self._store

        def claim(session: Session) -> _Claim:
            swept = _Sweep()
            if sweep:
                reclaimed = store.reclaim_expired(session, now=now)
                matched, moves = store.match_pending(session, now=now)
                reclaimed.extend(moves)
                swept = _Sweep(
                    moves=reclaimed,
                    matched=matched,
                    dropped=store.drop_stale_pending(session, older_than=now - config.pending_ttl),
                )
            claimed = store.claim_due(session, now=now, limit=config.batch, lease=config.lease)
            due = now if len(claimed) == config.batch else store.next_due(session)
            return _Claim(claimed, due, swept)

        done = await self._db.run_write(claim)
        self._leases.hold(done.claimed, since=since)
        # Counted once committed: a transaction rolled back changed nothing.
        metrics.count_transitions(Status.SENDING, len(done.claimed))
        metrics.count_moves(done.swept.moves)
        metrics.count_kept_receipts(matched=done.swept.matched, dropped=done.swept.dropped)
        self.receipts_matched += done.swept.matched
        return done.claimed, done.next_due

    def _wire_late_answers(self) -> None:
        """Have every transport that can tell of late answers tell us (the transports
        are built after the worker, with its handlers, so this waits for run)."""
        if self._late_wired:
            return
        self._late_wired = True
        for connector, transport in self._transports.items():
            if isinstance(transport, ReportsLateAnswers):
                transport.report_late_answers(partial(self._late_answer, connector))

    def _late_answer(self, connector: str, result: SubmitResult) -> None:
        keys = list(result.carrier_ids)
        # Its receipts, if they come before it is stored, go after it.
        self._unstored.update((connector, key) for key in keys)
        self._results.put(LateSent(result.id, connector, keys))

    def _maybe_delivered_retries(self, connector: str) -> int:
        transport = self._transports.get(connector)
        if isinstance(transport, ReportsLateAnswers):
            return transport.maybe_delivered_retries
        return self._config.maybe_delivered_retries

    # -- sending ---------------------------------------------------------------------

    def _start_ready(self) -> None:
        """Start deliveries while there are free in-flight slots."""
        while self._ready and not self._stopping:
            if len(self._submitting) >= self._config.in_flight:
                return
            message = self._ready.popleft()
            self._submitting.add(message.id)  # the slot is freed once the result is stored
            task = asyncio.create_task(self._deliver(message))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, message: Claimed) -> None:
        try:
            result = await self._send(message)
        except Exception as exc:
            # A bug or the rate buckets' database: retried like a lost answer, since
            # the message may have left.
            log.exception("sending message %d failed", message.id)
            failure = SubmitFailure("transient", f"internal error: {exc!r}", maybe_delivered=True)
            result = ("", SubmitResult(message.id, (), failure))
        except BaseException:
            self._submitting.discard(message.id)
            raise
        if isinstance(result, _Lost):
            self._forget([message.id])
            return
        self._put_result(message, result)

    def _lost_leases(self, ids: set[int]) -> None:
        """Messages reclaimed from under us: those not submitted yet never will be."""
        self._ready = deque(m for m in self._ready if m.id not in ids)
        for mid in ids:
            self._held.pop(mid, None)
        self._start_ready()
        if len(self._held) < self._config.batch:
            self._room.set()

    def _forget(self, ids: list[int]) -> None:
        for mid in ids:
            self._held.pop(mid, None)
            self._submitting.discard(mid)
        self._start_ready()
        if len(self._held) < self._config.batch:
            self._room.set()

    def _put_result(self, message: Claimed, result: Result) -> None:
        # The parts that will be stored as sent (the same test as ``_sort``): their
        # keys are let go once stored. A partly failed message stores no parts.
        if not isinstance(result, NoRoute) and result[1].failure is None:
            connector, outcome = result
            for carrier_id in outcome.carrier_ids:
                self._unstored.add((connector, carrier_id))
        self._results.put((message, result))

    async def _send(self, message: Claimed) -> Result | _Lost:
        try:
            route = self._routing.pick(
                account_id=message.account_id,
                sender=message.from_number,
                destination=message.number,
            )
        except NoRoute as exc:
            return exc
        await self._buckets.acquire(route.connector, message.segments)
        if not await self._leases.still_ours(message.id):
            return LOST
        transport = self._transports[route.connector]
        outgoing = OutgoingSms(message.id, message.from_number, message.number, message.content)
        started = time.perf_counter()
        result = await transport.submit(outgoing)
        metrics.observe_submit(route.connector, time.perf_counter() - started, result.ok)
        return route.connector, result

    async def _drain(self) -> None:
        if self._deliveries:
            _, late = await asyncio.wait(self._deliveries, timeout=self._config.stop_timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _release_unsent(self) -> None:
        """Put back in the queue what was claimed but never answered."""
        if not self._held:
            return
        ids, now = list(self._held), self._clock()
        moves = await self._db.run_write(lambda session: self._store.release(session, ids, now=now))
        metrics.count_moves(moves)
        log.info("%d claimed messages left unsent, back in the queue", len(ids))
        self._leases.let_go(ids)
        self._held.clear()

    # -- storing ---------------------------------------------------------------------

    async def flush_receipts(self) -> None:
        """Write everything gathered so far: results, receipts and incoming SMS. A
        receipt whose part is not stored yet is kept in the database and applied
        when the part is."""
        await self._write_all()

    async def _write_all(self) -> None:
        await self._results.flush()
        await self._carrier.flush()

    async def _store_results(self, items: list[_ResultItem]) -> None:
        """Submit results, and the receipts that came for them before they were
        stored (after them, so that they find their parts)."""
        results = [item for item in items if isinstance(item, tuple)]
        late = [item for item in items if isinstance(item, LateSent)]
        receipts = [item for item in items if isinstance(item, DeliveryReport)]
        now = self._clock()
        sent, failed, retries = self._sort(_late_wins(results, late), now)

        store = self._store

        def write(session: Session) -> Applied:
            moves = store.record_sent(session, sent, now=now)
            moves.extend(store.record_failed(session, failed, now=now))
            moves.extend(store.retry_later(session, retries, now=now))
            # After the retries: a late answer drops the retry it comes after.
            moves.extend(store.record_late_sent(session, late, now=now))
            applied = store.record_outcomes(session, receipts, now=now)
            moves.extend(applied.moves)
            return Applied(moves, applied.unmatched)

        # The usual batch, only messages sent, is one statement: no transaction needed.
        alone = not (failed or retries or receipts or late)
        applied = await (self._db.run_single if alone else self._db.run_write)(write)
        metrics.count_moves(applied.moves)
        self._counted_receipts(receipts, applied.unmatched)
        stored: list[Sent | LateSent] = [*sent, *late]
        for one in stored:
            for key in one.carrier_ids:
                self._unstored.discard((one.connector, key))
        self._leases.let_go([message.id for message, _ in results])
        self._forget([message.id for message, _ in results])

    async def _store_from_carriers(self, items: list[_CarrierItem]) -> None:
        """Receipts and incoming SMS: the carrier waits for these to be stored."""
        receipts = [item for item in items if isinstance(item, DeliveryReport)]
        inbound = [item for item in items if isinstance(item, IncomingSms)]
        now = self._clock()

        store = self._store

        def write(session: Session) -> tuple[Applied, list[IncomingSms]]:
            applied = store.record_outcomes(session, receipts, now=now)
            _, unowned = messages.receive_batch(session, inbound) if inbound else ([], [])
            return applied, unowned

        run = self._db.run_write if inbound else self._db.run_single
        applied, unowned = await run(write)
        metrics.count_moves(applied.moves)
        self._counted_receipts(receipts, applied.unmatched)
        metrics.count_transitions(Status.RECEIVED, len(inbound) - len(unowned))
        metrics.count_unowned_incoming(len(unowned))
        for sms in unowned:
            log.warning("incoming SMS to %s, a number no account owns", sms.destination)
        self.unowned_incoming += len(unowned)

    def _counted_receipts(
        self, receipts: list[DeliveryReport], unmatched: list[DeliveryReport]
    ) -> None:
        _count_receipts(receipts, unmatched)
        self.receipts_matched += len(receipts) - len(unmatched)
        self.receipts_pending += len(unmatched)

    def _sort(
        self, results: Sequence[tuple[Claimed, Result]], now: datetime
    ) -> tuple[list[Sent], list[Failed], list[Retry]]:
        sent: list[Sent] = []
        failed: list[Failed] = []
        retries: list[Retry] = []
        for message, result in results:
            if isinstance(result, NoRoute):
                failed.append(Failed(message.id, "no_route", str(result)))
                continue
            connector, outcome = result
            if outcome.failure is None:
                sent.append(Sent(message.id, message.account_id, connector, outcome.carrier_ids))
            else:
                self._sort_failure(message, connector, outcome, now, failed, retries)
        return sent, failed, retries

    def _sort_failure(
        self,
        message: Claimed,
        connector: str,
        outcome: SubmitResult,
        now: datetime,
        failed: list[Failed],
        retries: list[Retry],
    ) -> None:
        failure = outcome.failure
        assert failure is not None
        code = failure.error_code
        if failure.kind == "permanent":
            failed.append(Failed(message.id, code, failure.description))
            return
        # A message the carrier never took (no bind, throttled, queue full) was not
        # tried: a carrier outage must not use up its attempts, only its age. So the
        # attempts counted are the tries that may have reached the handset.
        not_tried = failure.kind == "throttled" or not failure.maybe_delivered
        tries = message.attempts - 1 if not_tried else message.attempts
        limit = self._maybe_delivered_retries(connector)
        if not not_tried and not failure.connection_lost and tries > limit:
            why = (
                f"not sent again, it may have been delivered ({tries} tries without an"
                f" answer, maybe_delivered_retries={limit}): {failure.description}"
            )
            failed.append(Failed(message.id, code, why))
            return
        at = self._config.retry.next_attempt(
            attempts=max(tries, 1), accepted_at=message.created_at, now=now
        )
        if at is None:
            why = f"gave up after {tries} attempts: {failure.description}"
            failed.append(Failed(message.id, code, why))
        else:
            retries.append(Retry(message.id, at, code, failure.description, not_tried))

    # -- receipts --------------------------------------------------------------------

    def handlers(self) -> Handlers:
        """The callbacks to build the transports with. Each returns once what it got
        is stored: only then does the carrier hear it was taken, so a crash loses no
        report or incoming SMS (the carrier sends it again)."""
        return Handlers(on_report=self._on_report, on_incoming=self._carrier.put_and_wait)

    async def _on_report(self, report: DeliveryReport) -> None:
        if (report.connector, report.carrier_id) in self._unstored:
            await self._results.put_and_wait(report)  # after the part it is about
        else:
            await self._carrier.put_and_wait(report)


@dataclass(frozen=True, slots=True)
class _Sweep:
    moves: Moves = field(default_factory=Moves)
    matched: int = 0
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class _Claim:
    claimed: list[Claimed]
    next_due: datetime | None
    swept: _Sweep


def _late_wins(
    results: Sequence[tuple[Claimed, Result]], late: Sequence[LateSent]
) -> Sequence[tuple[Claimed, Result]]:
    """The results without the failures a late answer in the same batch overrides:
    the message was sent after all, so it is neither retried nor failed."""
    if not late:
        return results
    answered = {m.message_id for m in late}
    return [
        (message, result)
        for message, result in results
        if not (message.id in answered and not isinstance(result, NoRoute) and not result[1].ok)
    ]


def _count_receipts(
    receipts: Sequence[DeliveryReport], unmatched: Sequence[DeliveryReport]
) -> None:
    total = Counter(o.connector for o in receipts)
    kept = Counter(o.connector for o in unmatched)
    for connector, n in total.items():
        metrics.count_receipts(connector, matched=n - kept[connector], unmatched=kept[connector])


async def _first(*waits: Awaitable[object]) -> None:
    """Wait until any of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""The running worker: how much it risks in flight, how it stops, and how fast it
wakes for new and scheduled messages. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from jooksms.db.engine import Database
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.delivery.worker import Worker, WorkerConfig
from jooksms.domain.encoding import analyse
from jooksms.services.intake import Intake
from jooksms.services.messages import AcceptJob, MessageDraft
from jooksms.store.sql import MESSAGES
from jooksms.transports.base import DeliveryReport, OutgoingSms, SubmitResult
from tests.helpers.messages import account_with_messages, only_these_due, status_of
from tests.helpers.transports import ScriptedTransport, ok
from tests.helpers.waiting import until


class GatedTransport:
    """Takes submits and answers none until the gate opens."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.sent: list[OutgoingSms] = []

    async def start(self) -> None:
        return None

    async def submit(self, message: OutgoingSms) -> SubmitResult:
        self.sent.append(message)
        await self.gate.wait()
        return ok(message)

    async def stop(self, timeout: float = 10.0) -> None:
        return None


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_no_more_than_in_flight_are_submitted_unstored(db: Database) -> None:
    _, ids = await account_with_messages(db, 40)
    await only_these_due(db, ids)
    transport = GatedTransport()
    config = WorkerConfig(batch=40, in_flight=7, idle_poll=0.01)
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]), config)
    async with running(worker):
        await until(lambda: len(transport.sent) == 7)
        await asyncio.sleep(0.2)  # time enough to submit more, if it would
        assert len(transport.sent) == 7
        transport.gate.set()
        await until(lambda: _all_in(db, ids, "sent"))
    assert sorted(m.id for m in transport.sent) == ids


async def test_stop_waits_for_submitted_and_requeues_the_rest(db: Database) -> None:
    _, ids = await account_with_messages(db, 12)
    await only_these_due(db, ids)
    transport = GatedTransport()
    config = WorkerConfig(batch=12, in_flight=4, idle_poll=0.01, stop_timeout=5)
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]), config)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: len(transport.sent) == 4)
    stop.set()
    await asyncio.sleep(0.1)
    assert not task.done()  # it waits for the four in flight
    transport.gate.set()
    await asyncio.wait_for(task, 10)
    statuses = await status_of(db, ids)
    submitted = {m.id for m in transport.sent}
    assert len(submitted) == 4
    assert {statuses[i] for i in submitted} == {"sent"}
    assert {statuses[i] for i in ids if i not in submitted} == {"queued"}
    # Giving a message back does not count as an attempt.
    async with db.read() as session:
        attempts = set(
            await session.scalars(
                select(MESSAGES.c.attempts).where(
                    MESSAGES.c.id.in_([i for i in ids if i not in submitted])
                )
            )
        )
    assert attempts == {0}


async def test_stop_gives_up_waiting_after_the_timeout(db: Database) -> None:
    _, ids = await account_with_messages(db, 3)
    await only_these_due(db, ids)
    transport = GatedTransport()  # never answers
    config = WorkerConfig(idle_poll=0.01, stop_timeout=0.3)
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]), config)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: len(transport.sent) == 3)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 3
    assert set((await status_of(db, ids)).values()) == {"queued"}


async def test_new_messages_wake_the_worker_before_its_poll(db: Database) -> None:
    """A worker that would poll only every 30 s still sends a new message at once:
    on PostgreSQL the intake NOTIFYs from another engine, as another process would."""
    account_id, old = await account_with_messages(db, 1)
    await only_these_due(db, old)
    transport = ScriptedTransport(ok)
    worker = Worker(
        db, {"sim": transport}, RoutingTable([Route("sim")]), WorkerConfig(idle_poll=30)
    )
    other = Database(db.url) if not db.is_sqlite else db
    intake = Intake(other)
    try:
        async with running(worker):
            await until(lambda: _all_in(db, old, "sent"))
            await asyncio.sleep(0.2)  # the worker is now asleep on an empty queue
            accepted = await intake.submit(
                AcceptJob(account_id, None, [MessageDraft("+50768819519", "wake", analyse("wake"))])
            )
            started = time.monotonic()
            await until(lambda: _all_in(db, accepted.ids, "sent"), timeout=5)
            assert time.monotonic() - started < 5
    finally:
        await intake.close()
        if other is not db:
            await other.dispose()


async def test_scheduled_message_leaves_within_a_second_of_its_time(db: Database) -> None:
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    _, ids = await account_with_messages(db, 1, scheduled_at=due)
    await only_these_due(db, ids)
    transport = ScriptedTransport(ok)
    worker = Worker(
        db, {"sim": transport}, RoutingTable([Route("sim")]), WorkerConfig(idle_poll=30)
    )
    async with running(worker):
        await until(lambda: _all_in(db, ids, "sent"), timeout=10)
    async with db.read() as session:
        sending_at = await session.scalar(
            select(MESSAGES.c.sending_at).where(MESSAGES.c.id == ids[0])
        )
    assert sending_at is not None
    assert due <= sending_at < due + timedelta(seconds=1)


async def test_early_receipt_survives_the_worker_that_got_it(db: Database) -> None:
    """The receipt reaches one worker, which dies; the worker that stores the part
    (another process, later) still applies it."""
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    first = Worker(db, {}, RoutingTable([]))
    await first.handlers().on_report(
        DeliveryReport("sim", f"c{ids[0]}", delivered=False, error_code="005")
    )
    await first.flush_receipts()
    assert first.receipts_pending == 1
    del first
    second = Worker(db, {"sim": ScriptedTransport(ok)}, RoutingTable([Route("sim")]))
    await second.run_once()
    async with db.read() as session:
        row = (
            await session.execute(
                select(MESSAGES.c.status, MESSAGES.c.error_code).where(MESSAGES.c.id == ids[0])
            )
        ).one()
    assert tuple(row) == ("failed", "005")


async def _all_in(db: Database, ids: list[int], status: str) -> bool:
    return set((await status_of(db, ids)).values()) == {status}


async def test_receipts_and_incoming_are_stored_before_the_handler_returns(
    db: Database,
) -> None:
    """The transport acknowledges a receipt or an SMS to the carrier when the handler
    returns: by then it must be committed, or a crash would lose it for good."""
    from jooksms.services import accounts
    from jooksms.transports.base import IncomingSms
    from tests.conftest import fresh_number

    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    number = fresh_number()
    async with db.write() as session:
        owner = await accounts.create_account(session, name="in", numbers=[number])
    worker = Worker(
        db,
        {"sim": ScriptedTransport(ok)},
        RoutingTable([Route("sim")]),
        WorkerConfig(idle_poll=0.01),
    )
    async with running(worker):
        await until(lambda: _all_in(db, ids, "sent"))
        await worker.handlers().on_report(DeliveryReport("sim", f"c{ids[0]}", delivered=True))
        assert (await status_of(db, ids))[ids[0]] == "delivered"
        await worker.handlers().on_incoming(IncomingSms("+50768819519", number, "stored first"))
        async with db.read() as session:
            texts = list(
                await session.scalars(
                    select(MESSAGES.c.content).where(MESSAGES.c.account_id == owner.id)
                )
            )
        assert texts == ["stored first"]


class ReceiptFirstTransport(ScriptedTransport):
    """An SMSC whose receipt comes right behind its submit response: the receipt
    handler runs while the result is still on its way to the database."""

    def __init__(self) -> None:
        super().__init__(ok)
        self.on_report: Callable[[DeliveryReport], Any] | None = None
        self.handled: list[asyncio.Task[Any]] = []

    async def submit(self, message: OutgoingSms) -> SubmitResult:
        result = await super().submit(message)
        assert self.on_report is not None
        report = DeliveryReport("sim", f"c{message.id}", delivered=True)
        self.handled.append(asyncio.create_task(self.on_report(report)))
        return result


async def test_a_receipt_racing_its_submit_result_is_applied_after_it(db: Database) -> None:
    """Receipts are written in their own transactions, apart from submit results; one
    whose part is not stored yet goes with the results, so it is applied at once
    instead of being kept in the database until the next sweep."""
    _, ids = await account_with_messages(db, 20)
    await only_these_due(db, ids)
    transport = ReceiptFirstTransport()
    worker = Worker(
        db, {"sim": transport}, RoutingTable([Route("sim")]), WorkerConfig(idle_poll=0.01)
    )
    transport.on_report = worker.handlers().on_report
    async with running(worker):
        await until(lambda: len(transport.handled) == len(ids))
        await asyncio.wait_for(asyncio.gather(*transport.handled), 10)
        assert set((await status_of(db, ids)).values()) == {"delivered"}
    assert worker.receipts_pending == 0
    assert worker.receipts_matched == len(ids)


class BrokenTransport(ScriptedTransport):
    """A transport with a bug: submit raises instead of reporting."""

    async def submit(self, message: OutgoingSms) -> SubmitResult:
        self.sent.append(message)
        raise RuntimeError("bug in the transport")


async def test_a_transport_that_raises_leaves_the_message_to_retry(db: Database) -> None:
    _, ids = await account_with_messages(db, 2)
    await only_these_due(db, ids)
    transport = BrokenTransport(ok)
    worker = Worker(
        db, {"sim": transport}, RoutingTable([Route("sim")]), WorkerConfig(idle_poll=0.01)
    )
    async with running(worker):
        await until(lambda: len(transport.sent) == 2)
        await until(lambda: _all_in(db, ids, "queued"))
    async with db.read() as session:
        errors = set(
            await session.scalars(select(MESSAGES.c.error_message).where(MESSAGES.c.id.in_(ids)))
        )
    assert errors == {"internal error: RuntimeError('bug in the transport')"}


async def test_a_failed_claim_is_tried_again(db: Database) -> None:
    """The database away for a moment: the worker logs, waits and claims again."""
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    worker = Worker(
        db,
        {"sim": ScriptedTransport(ok)},
        RoutingTable([Route("sim")]),
        WorkerConfig(idle_poll=0.01),
    )
    real_claim, failures = worker._claim, [1]

    async def flaky_claim() -> Any:
        if failures:
            failures.pop()
            raise ConnectionError("database restarting")
        return await real_claim()

    worker._claim = flaky_claim  # type: ignore[method-assign]
    async with running(worker):
        await until(lambda: _all_in(db, ids, "sent"), timeout=10)
    assert not failures


async def test_a_slow_worker_keeps_its_messages_past_their_lease(db: Database) -> None:
    """A worker holding messages three leases long (a slow carrier) renews their leases:
    another worker, sweeping and claiming all the while, never takes one, and each
    message reaches the carrier once."""
    _, ids = await account_with_messages(db, 6)
    await only_these_due(db, ids)
    quick = WorkerConfig(lease=timedelta(seconds=0.6), idle_poll=0.02, sweep_every=0.05)
    slow_carrier, other_carrier = GatedTransport(), ScriptedTransport(ok)
    slow = Worker(db, {"sim": slow_carrier}, RoutingTable([Route("sim")]), quick)
    other = Worker(db, {"sim": other_carrier}, RoutingTable([Route("sim")]), quick)
    async with running(slow):
        await until(lambda: len(slow_carrier.sent) == len(ids))
        async with running(other):
            await asyncio.sleep(1.8)  # three leases
            assert other_carrier.sent == []
            slow_carrier.gate.set()
            await until(lambda: _all_in(db, ids, "sent"))
    assert sorted(m.id for m in slow_carrier.sent) == ids


async def test_a_message_whose_lease_was_lost_is_not_sent(db: Database) -> None:
    """Reclaimed and claimed again elsewhere while it waited for a slot (its attempt
    count moved on): the renewal finds it is no longer ours, and it is not sent here."""
    _, ids = await account_with_messages(db, 3)
    await only_these_due(db, ids)
    carrier = GatedTransport()
    config = WorkerConfig(lease=timedelta(seconds=0.6), in_flight=1, idle_poll=0.02)
    worker = Worker(db, {"sim": carrier}, RoutingTable([Route("sim")]), config)
    async with running(worker):
        await until(lambda: len(carrier.sent) == 1)
        taken = ids[2]
        async with db.write() as session:  # what another worker's claim does to it
            await session.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id == taken)
                .values(attempts=MESSAGES.c.attempts + 1)
            )
        await asyncio.sleep(0.5)  # past a renewal
        carrier.gate.set()
        await until(lambda: _all_in(db, ids[:2], "sent"))
        await asyncio.sleep(0.2)
    assert taken not in [m.id for m in carrier.sent]
    await only_these_due(db, [])  # the other worker this test plays is gone: park it
    async with db.write() as session:
        await session.execute(
            update(MESSAGES).where(MESSAGES.c.id == taken).values(status="canceled")
        )

"""The worker with a scripted transport: routing, results, retries, receipts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from jooksms.db.engine import Database
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.delivery.worker import Worker, WorkerConfig
from jooksms.domain.retry import RetryPolicy
from jooksms.services.messages import MESSAGES
from jooksms.transports.base import OutgoingSms, SubmitFailure, SubmitResult
from jooksms.transports.smpp.receipt import Receipt, ReceiptState
from tests.delivery.test_queue import _account_with_messages, _only_these_due, _status


class ScriptedTransport:
    """Answers each submit as ``script`` says, and remembers what it was given."""

    def __init__(self, script: Callable[[OutgoingSms], SubmitResult]) -> None:
        self.script = script
        self.sent: list[OutgoingSms] = []

    async def start(self) -> None:
        return None

    async def submit(self, message: OutgoingSms) -> SubmitResult:
        self.sent.append(message)
        await asyncio.sleep(0)
        return self.script(message)

    async def stop(self, timeout: float = 10.0) -> None:
        return None


def ok(message: OutgoingSms) -> SubmitResult:
    return SubmitResult(message.id, (f"c{message.id}",))


async def test_sent_then_delivered_by_receipt(db: Database) -> None:
    _, ids = await _account_with_messages(db, 3)
    await _only_these_due(db, ids)
    transport = ScriptedTransport(ok)
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]))
    assert await worker.run_once() == 3
    assert [m.id for m in transport.sent] == ids
    assert transport.sent[0].text == "queue me"
    assert set((await _status(db, ids)).values()) == {"sent"}
    on_receipt = worker.receipt_handler("sim")
    await on_receipt(Receipt(f"c{ids[0]}", ReceiptState.DELIVRD))
    await on_receipt(Receipt(f"c{ids[1]}", ReceiptState.UNDELIV, error_code="001"))
    await on_receipt(Receipt(f"c{ids[2]}", ReceiptState.ENROUTE))  # not final: ignored
    await worker.flush_receipts()
    assert await _status(db, ids) == {ids[0]: "delivered", ids[1]: "failed", ids[2]: "sent"}


async def test_receipt_before_submit_result_is_kept_and_matched(db: Database) -> None:
    _, ids = await _account_with_messages(db, 1)
    await _only_these_due(db, ids)
    transport = ScriptedTransport(ok)
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]))
    await worker.receipt_handler("sim")(Receipt(f"c{ids[0]}", ReceiptState.DELIVRD))
    await worker.flush_receipts()  # nothing to match yet: kept
    await worker.run_once()
    await worker.flush_receipts()
    assert (await _status(db, ids))[ids[0]] == "delivered"


async def test_permanent_failure_no_route_and_retries(db: Database) -> None:
    _, ids = await _account_with_messages(db, 3)
    await _only_these_due(db, ids)
    permanent, transient, unrouted = ids

    def script(message: OutgoingSms) -> SubmitResult:
        if message.id == permanent:
            return SubmitResult(message.id, (), SubmitFailure("permanent", "bad number", 0x0B))
        return SubmitResult(message.id, (), SubmitFailure("transient", "timeout"))

    routing = RoutingTable([Route("sim", prefixes=("+507",))])
    transport = ScriptedTransport(script)
    worker = Worker(db, {"sim": transport}, routing)
    # Make one message unroutable by its destination.
    async with db.write() as session:
        await session.execute(
            update(MESSAGES).where(MESSAGES.c.id == unrouted).values(number="+447700900000")
        )
    await worker.run_once()
    assert await _status(db, ids) == {permanent: "failed", transient: "queued", unrouted: "failed"}
    async with db.read() as session:
        rows = dict(
            (
                await session.execute(
                    select(MESSAGES.c.id, MESSAGES.c.error_message).where(MESSAGES.c.id.in_(ids))
                )
            ).all()
        )
    assert rows[permanent] == "bad number"
    assert "no connector routes" in rows[unrouted]
    assert rows[transient] == "timeout"


async def test_retries_stop_after_max_attempts(db: Database) -> None:
    _, ids = await _account_with_messages(db, 1)
    await _only_these_due(db, ids)
    clock = [datetime.now(UTC)]
    policy = RetryPolicy(max_attempts=2, first_delay=timedelta(seconds=1))
    worker = Worker(
        db,
        {
            "sim": ScriptedTransport(
                lambda m: SubmitResult(
                    m.id, (), SubmitFailure("transient", "no answer", maybe_delivered=True)
                )
            )
        },
        RoutingTable([Route("sim")]),
        WorkerConfig(retry=policy),
        clock=lambda: clock[0],
    )
    await worker.run_once()
    assert (await _status(db, ids))[ids[0]] == "queued"
    clock[0] += timedelta(seconds=5)
    await worker.run_once()
    assert (await _status(db, ids))[ids[0]] == "failed"


async def test_a_carrier_outage_does_not_use_up_attempts(db: Database) -> None:
    """Not bound, throttled: the carrier never took the message, so the tries do not
    count; only the message's age can make it fail."""
    _, ids = await _account_with_messages(db, 2)
    await _only_these_due(db, ids)
    unbound, throttled = ids
    clock = [datetime.now(UTC)]
    policy = RetryPolicy(max_attempts=2, first_delay=timedelta(seconds=1))

    def script(message: OutgoingSms) -> SubmitResult:
        if message.id == unbound:
            return SubmitResult(message.id, (), SubmitFailure("transient", "not bound; not sent"))
        return SubmitResult(message.id, (), SubmitFailure("throttled", "ESME_RTHROTTLED", 0x58))

    worker = Worker(
        db,
        {"sim": ScriptedTransport(script)},
        RoutingTable([Route("sim")]),
        WorkerConfig(retry=policy),
        clock=lambda: clock[0],
    )
    for _ in range(4):
        assert await worker.run_once() == 2
        clock[0] += timedelta(seconds=5)
    assert await _status(db, ids) == {unbound: "queued", throttled: "queued"}
    async with db.read() as session:
        attempts = set(
            await session.scalars(select(MESSAGES.c.attempts).where(MESSAGES.c.id.in_(ids)))
        )
    assert attempts == {0}


async def test_run_stops_when_asked(db: Database) -> None:
    _, ids = await _account_with_messages(db, 2)
    await _only_these_due(db, ids)
    worker = Worker(
        db,
        {"sim": ScriptedTransport(ok)},
        RoutingTable([Route("sim")]),
        WorkerConfig(idle_poll=0.01),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        if set((await _status(db, ids)).values()) == {"sent"}:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert set((await _status(db, ids)).values()) == {"sent"}


async def test_incoming_sms_lands_in_the_owner_account(db: Database) -> None:
    from jooksms.services import accounts
    from jooksms.transports.base import IncomingSms
    from tests.conftest import fresh_number

    number = fresh_number()
    async with db.write() as session:
        account = await accounts.create_account(session, name="in", numbers=[number])
    worker = Worker(db, {}, RoutingTable([]))
    on_incoming = worker.incoming_handler()
    await on_incoming(IncomingSms("+50768819519", number, "Hola, ¿tienen citas mañana?"))
    await on_incoming(IncomingSms("+50768819519", "+19999999999", "to nobody"))
    await worker.flush_receipts()
    assert worker.unowned_incoming == 1
    async with db.read() as session:
        rows = (
            await session.execute(
                select(
                    MESSAGES.c.direction,
                    MESSAGES.c.status,
                    MESSAGES.c.number,
                    MESSAGES.c.from_number,
                    MESSAGES.c.content,
                ).where(MESSAGES.c.account_id == account.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("incoming", "received", "+50768819519", number, "Hola, ¿tienen citas mañana?")
    ]


async def test_failure_keeps_the_carriers_own_error_code(db: Database) -> None:
    _, ids = await _account_with_messages(db, 2)
    await _only_these_due(db, ids)
    twilio, smpp = ids

    def script(message: OutgoingSms) -> SubmitResult:
        if message.id == twilio:
            failure = SubmitFailure("permanent", "bad To", 21211, carrier_code="21211")
        else:
            failure = SubmitFailure("permanent", "invalid destination", 0x0B)
        return SubmitResult(message.id, (), failure)

    worker = Worker(db, {"sim": ScriptedTransport(script)}, RoutingTable([Route("sim")]))
    await worker.run_once()
    async with db.read() as session:
        codes = dict(
            (
                await session.execute(
                    select(MESSAGES.c.id, MESSAGES.c.error_code).where(MESSAGES.c.id.in_(ids))
                )
            ).all()
        )
    assert codes == {twilio: "21211", smpp: "0x0000000B"}


async def test_a_partly_sent_message_leaves_no_part_waiting_for_its_receipt(
    db: Database,
) -> None:
    """Part 1 taken, part 2 refused: the message is retried, no part is stored, and
    the worker forgets part 1's id (it would otherwise be kept for good, and its
    receipts routed as if its submit result were still on its way)."""
    _, ids = await _account_with_messages(db, 1)
    await _only_these_due(db, ids)

    def half(message: OutgoingSms) -> SubmitResult:
        failure = SubmitFailure("transient", "part 2 of 2: throttled", maybe_delivered=True)
        return SubmitResult(message.id, (f"c{message.id}-1",), failure)

    worker = Worker(db, {"sim": ScriptedTransport(half)}, RoutingTable([Route("sim")]))
    assert await worker.run_once() == 1
    assert (await _status(db, ids))[ids[0]] == "queued"
    assert worker._unstored == set()

"""The worker with a scripted transport: routing, results, retries, receipts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from jooksms.config import ConfigError, load_settings
from jooksms.db.engine import Database
from jooksms.db.models import MessagePart, PendingReceipt
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.delivery.worker import Worker, WorkerConfig
from jooksms.domain.retry import RetryPolicy
from jooksms.store.sql import MESSAGES
from jooksms.transports.base import DeliveryReport, OutgoingSms, SubmitFailure, SubmitResult
from tests.helpers.messages import account_with_messages, only_these_due, status_of
from tests.helpers.transports import ScriptedTransport, ok


async def test_sent_then_delivered_by_receipt(db: Database) -> None:
    _, ids = await account_with_messages(db, 3)
    await only_these_due(db, ids)
    transport = ScriptedTransport(ok)
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]))
    assert await worker.run_once() == 3
    assert [m.id for m in transport.sent] == ids
    assert transport.sent[0].text == "queue me"
    assert set((await status_of(db, ids)).values()) == {"sent"}
    on_report = worker.handlers().on_report
    await on_report(DeliveryReport("sim", f"c{ids[0]}", delivered=True))
    await on_report(DeliveryReport("sim", f"c{ids[1]}", delivered=False, error_code="001"))
    await worker.flush_receipts()
    assert await status_of(db, ids) == {ids[0]: "delivered", ids[1]: "failed", ids[2]: "sent"}


async def test_receipt_before_submit_result_is_kept_and_matched(db: Database) -> None:
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    transport = ScriptedTransport(ok)
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]))
    await worker.handlers().on_report(DeliveryReport("sim", f"c{ids[0]}", delivered=True))
    await worker.flush_receipts()  # nothing to match yet: kept
    await worker.run_once()
    await worker.flush_receipts()
    assert (await status_of(db, ids))[ids[0]] == "delivered"


async def test_permanent_failure_no_route_and_retries(db: Database) -> None:
    _, ids = await account_with_messages(db, 3)
    await only_these_due(db, ids)
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
    assert await status_of(db, ids) == {
        permanent: "failed",
        transient: "queued",
        unrouted: "failed",
    }
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
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
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
    assert (await status_of(db, ids))[ids[0]] == "queued"
    clock[0] += timedelta(seconds=5)
    await worker.run_once()
    assert (await status_of(db, ids))[ids[0]] == "failed"


async def test_a_carrier_outage_does_not_use_up_attempts(db: Database) -> None:
    """Not bound, throttled: the carrier never took the message, so the tries do not
    count; only the message's age can make it fail."""
    _, ids = await account_with_messages(db, 2)
    await only_these_due(db, ids)
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
    assert await status_of(db, ids) == {unbound: "queued", throttled: "queued"}
    async with db.read() as session:
        attempts = set(
            await session.scalars(select(MESSAGES.c.attempts).where(MESSAGES.c.id.in_(ids)))
        )
    assert attempts == {0}


async def test_run_stops_when_asked(db: Database) -> None:
    _, ids = await account_with_messages(db, 2)
    await only_these_due(db, ids)
    worker = Worker(
        db,
        {"sim": ScriptedTransport(ok)},
        RoutingTable([Route("sim")]),
        WorkerConfig(idle_poll=0.01),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        if set((await status_of(db, ids)).values()) == {"sent"}:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert set((await status_of(db, ids)).values()) == {"sent"}


async def test_incoming_sms_lands_in_the_owner_account(db: Database) -> None:
    from jooksms.services import accounts
    from jooksms.transports.base import IncomingSms
    from tests.conftest import fresh_number

    number = fresh_number()
    async with db.write() as session:
        account = await accounts.create_account(session, name="in", numbers=[number])
    worker = Worker(db, {}, RoutingTable([]))
    on_incoming = worker.handlers().on_incoming
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
    _, ids = await account_with_messages(db, 2)
    await only_these_due(db, ids)
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
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)

    def half(message: OutgoingSms) -> SubmitResult:
        failure = SubmitFailure("transient", "part 2 of 2: throttled", maybe_delivered=True)
        return SubmitResult(message.id, (f"c{message.id}-1",), failure)

    worker = Worker(db, {"sim": ScriptedTransport(half)}, RoutingTable([Route("sim")]))
    assert await worker.run_once() == 1
    assert (await status_of(db, ids))[ids[0]] == "queued"
    assert worker._unstored == set()


class SlowCarrier(ScriptedTransport):
    """Never answers in time; the test plays the late answers through ``late``."""

    def __init__(self, maybe_delivered_retries: int = 1) -> None:
        super().__init__(
            lambda m: SubmitResult(
                m.id, (), SubmitFailure("transient", "no response", maybe_delivered=True)
            )
        )
        self.maybe_delivered_retries = maybe_delivered_retries
        self.handlers: list[Callable[[SubmitResult], None]] = []

    def report_late_answers(self, handler: Callable[[SubmitResult], None]) -> None:
        self.handlers.append(handler)

    def late(self, message_id: int, carrier_id: str) -> None:
        [handler] = self.handlers
        handler(SubmitResult(message_id, (carrier_id,)))


def _fast_retries(clock: list[datetime]) -> dict[str, Any]:
    policy = RetryPolicy(max_attempts=10, first_delay=timedelta(seconds=1))
    return {"config": WorkerConfig(retry=policy), "clock": lambda: clock[0]}


async def _one_unanswered(
    db: Database,
) -> tuple[list[int], list[datetime], SlowCarrier, Worker]:
    """A message sent once to a carrier that did not answer in time."""
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    clock = [datetime.now(UTC)]
    carrier = SlowCarrier()
    worker = Worker(db, {"sim": carrier}, RoutingTable([Route("sim")]), **_fast_retries(clock))
    await worker.run_once()
    return ids, clock, carrier, worker


async def _attempts_and_errors(db: Database, ids: list[int]) -> dict[int, tuple[int, str]]:
    async with db.read() as session:
        rows = await session.execute(
            select(MESSAGES.c.id, MESSAGES.c.attempts, MESSAGES.c.error_message).where(
                MESSAGES.c.id.in_(ids)
            )
        )
        return {mid: (attempts, error) for mid, attempts, error in rows}


async def test_a_message_that_may_have_been_delivered_is_resent_at_most_the_limit(
    db: Database,
) -> None:
    """Each resend of an unanswered submit can reach the handset again: the
    connector's maybe_delivered_retries bounds them, then the message fails saying so."""
    _, ids = await account_with_messages(db, 2)
    await only_these_due(db, ids)
    clock = [datetime.now(UTC)]
    carrier = SlowCarrier(maybe_delivered_retries=2)
    worker = Worker(db, {"sim": carrier}, RoutingTable([Route("sim")]), **_fast_retries(clock))
    for _ in range(5):
        await worker.run_once()
        clock[0] += timedelta(seconds=5)
    assert len(carrier.sent) == 2 * 3  # the first try and 2 resends each
    assert set((await status_of(db, ids)).values()) == {"failed"}
    for attempts, error in (await _attempts_and_errors(db, ids)).values():
        assert attempts == 3
        assert "may have been delivered" in error and "maybe_delivered_retries=2" in error


async def test_without_a_setting_a_message_is_resent_once(db: Database) -> None:
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    clock = [datetime.now(UTC)]
    transport = ScriptedTransport(
        lambda m: SubmitResult(m.id, (), SubmitFailure("transient", "lost", maybe_delivered=True))
    )
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]), **_fast_retries(clock))
    for _ in range(4):
        await worker.run_once()
        clock[0] += timedelta(seconds=5)
    assert len(transport.sent) == 2
    assert (await status_of(db, ids))[ids[0]] == "failed"


async def test_a_message_lost_with_its_connection_is_resent_past_the_limit(
    db: Database,
) -> None:
    """A line that drops again and again must not fail what the SMSC discarded with
    each session: those resends follow the retry schedule, not the limit."""
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    clock = [datetime.now(UTC)]
    lost = SubmitFailure("transient", "connection lost", maybe_delivered=True, connection_lost=True)
    answers = iter([lost, lost, lost])

    def line_drops_three_times(message: OutgoingSms) -> SubmitResult:
        failure = next(answers, None)
        return ok(message) if failure is None else SubmitResult(message.id, (), failure)

    transport = ScriptedTransport(line_drops_three_times)
    worker = Worker(db, {"sim": transport}, RoutingTable([Route("sim")]), **_fast_retries(clock))
    for _ in range(6):
        await worker.run_once()
        clock[0] += timedelta(seconds=30)
    assert len(transport.sent) == 4  # three lost with the line, then accepted
    assert (await status_of(db, ids))[ids[0]] == "sent"


async def test_a_late_answer_sends_the_message_and_drops_its_retry(db: Database) -> None:
    """The carrier took the message and said so after the worker gave up waiting:
    the message is sent with that id (its receipt, kept, is applied) and the retry
    it was queued for never goes."""
    ids, clock, carrier, worker = await _one_unanswered(db)
    assert (await status_of(db, ids))[ids[0]] == "queued"
    # The receipt overtakes the late answer, as on an SMSC that answers slowly.
    await worker.handlers().on_report(DeliveryReport("sim", "late-1", delivered=True))
    carrier.late(ids[0], "late-1")
    await worker.flush_receipts()
    assert (await status_of(db, ids))[ids[0]] == "delivered"
    clock[0] += timedelta(seconds=5)
    assert await worker.run_once() == 0
    assert len(carrier.sent) == 1
    assert await _kept(db, "late-1") == 0
    async with db.read() as session:
        parts = await session.scalars(
            select(MessagePart.carrier_id).where(MessagePart.message_id == ids[0])
        )
        assert list(parts) == ["late-1"]


async def test_a_late_answer_in_the_same_write_as_its_timeout_wins(db: Database) -> None:
    _, ids = await account_with_messages(db, 1)
    await only_these_due(db, ids)
    carrier = SlowCarrier()

    def answer_late(message: OutgoingSms) -> SubmitResult:
        # The late answer is reported just after the timeout, before either is stored.
        asyncio.get_running_loop().call_soon(carrier.late, message.id, "late-2")
        return SubmitResult(
            message.id, (), SubmitFailure("transient", "no response", maybe_delivered=True)
        )

    carrier.script = answer_late
    worker = Worker(db, {"sim": carrier}, RoutingTable([Route("sim")]))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        if (await status_of(db, ids))[ids[0]] == "sent":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task
    assert (await status_of(db, ids))[ids[0]] == "sent"
    assert len(carrier.sent) == 1


async def test_a_late_answer_for_a_message_sent_again_keeps_both_ids(db: Database) -> None:
    """The retry went before the late answer came: both copies reached the carrier,
    and each one's receipt must find the message instead of waiting forever."""
    ids, clock, carrier, worker = await _one_unanswered(db)
    clock[0] += timedelta(seconds=5)
    carrier.script = ok
    await worker.run_once()  # the retry, answered at once
    carrier.late(ids[0], "first-copy")
    on_report = worker.handlers().on_report
    await on_report(DeliveryReport("sim", "first-copy", delivered=True))
    await on_report(DeliveryReport("sim", f"c{ids[0]}", delivered=True))
    await worker.flush_receipts()
    assert (await status_of(db, ids))[ids[0]] == "delivered"
    assert await _kept(db, "first-copy", f"c{ids[0]}") == 0


def test_kept_receipts_expire_after_the_configured_hours() -> None:
    settings = load_settings(pending_receipt_ttl_hours=0.5)
    assert WorkerConfig.from_settings(settings).pending_ttl == timedelta(minutes=30)
    assert WorkerConfig.from_settings(load_settings()).pending_ttl == timedelta(hours=48)
    with pytest.raises(ConfigError, match="JOOKSMS_PENDING_RECEIPT_TTL_HOURS"):
        load_settings(pending_receipt_ttl_hours=0)


async def test_the_sweep_drops_kept_receipts_older_than_the_ttl(db: Database) -> None:
    clock = [datetime.now(UTC)]
    worker = Worker(
        db,
        {"sim": ScriptedTransport(ok)},
        RoutingTable([Route("sim")]),
        WorkerConfig(pending_ttl=timedelta(hours=1), sweep_every=0.0),
        clock=lambda: clock[0],
    )
    await worker.handlers().on_report(DeliveryReport("sim", "nobody-s", delivered=True))
    await worker.flush_receipts()
    clock[0] += timedelta(minutes=59)
    await worker.run_once()
    assert await _kept(db, "nobody-s") == 1
    clock[0] += timedelta(minutes=2)
    await worker.run_once()
    assert await _kept(db, "nobody-s") == 0


async def _kept(db: Database, *carrier_ids: str) -> int:
    async with db.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(PendingReceipt)
            .where(PendingReceipt.carrier_id.in_(carrier_ids))
        )
    return int(count or 0)


async def test_a_late_answer_stored_first_is_not_undone_by_the_retrys_failure(
    db: Database,
) -> None:
    """The first copy's late answer is stored while the resend is out; the resend then
    fails (no answer again, so the message is given up): it stays sent, for its
    receipt to settle."""
    ids, clock, carrier, worker = await _one_unanswered(db)
    unanswered = carrier.script

    async def resend(message: OutgoingSms) -> SubmitResult:
        carrier.sent.append(message)
        carrier.late(message.id, "first-answer")
        await worker.flush_receipts()  # stored before the resend's own result
        return unanswered(message)

    carrier.submit = resend  # type: ignore[method-assign]
    clock[0] += timedelta(seconds=5)
    await worker.run_once()
    assert (await status_of(db, ids))[ids[0]] == "sent"
    await worker.handlers().on_report(DeliveryReport("sim", "first-answer", delivered=True))
    await worker.flush_receipts()
    assert (await status_of(db, ids))[ids[0]] == "delivered"

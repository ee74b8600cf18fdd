"""Delivery scenarios against ``jooksms smsc-sim`` in a separate process, on SQLite
and PostgreSQL: messages go in and are read back through the API, a Worker with an
SmppClient runs in this process, and the simulator's HTTP side (/submits, /stats,
/inject) shows what reached the carrier.

Five simulator processes serve the module, started together: a well-behaved one,
one that fails every message, one that throttles, one that drops the connection in
the middle of a window, and one that answers slowly (for POST /drop). Their counters are shared by the tests (and by both
backends), so assertions on them compare before and after; what a test sent is
found by its own destination number in /submits.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping

from jooksms.db.engine import Database
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.delivery.worker import Worker, WorkerConfig
from jooksms.domain.encoding import Encoding, analyse
from jooksms.domain.retry import RetryPolicy
from jooksms.events import log as event_log
from jooksms.store.sql import MESSAGES
from jooksms.transports import registry
from jooksms.transports.smpp.client import SmppClient
from tests.conftest import Tenant, fresh_number
from tests.helpers.simulator_process import (
    SimulatorProcess,
    start_simulators,
    stop_simulators,
)
from tests.helpers.waiting import until

pytestmark = pytest.mark.slow


#: Retries come back within half a second, and give up only long after any test.
RETRY = RetryPolicy(
    max_attempts=100,
    first_delay=timedelta(milliseconds=100),
    max_delay=timedelta(milliseconds=500),
)
WORKER = WorkerConfig(retry=RETRY, stop_timeout=5.0, sweep_every=0.5)
#: A small window and short timeouts, so that misbehaviour shows within a test.
SMPP = {
    "window": 8,
    "response_timeout": 1,
    "reconnect_min": 0.1,
    "reconnect_max": 0.5,
    "throttle_pause": 0.1,
    "enquire_link_interval": 5,
}
FAILURE_ERROR = 34
RECEIPT_DELAY = 0.3  # of the well-behaved simulator: long enough to see `sent`
FINAL = {"delivered", "failed", "canceled"}

#: 3 GSM-7 segments (153 septets each), with characters of the extension table
#: (two septets each), which must not be cut from their escape at a segment border.
LONG_GSM7 = ("Hello {name}, your code is [1234] and costs 5€. " * 8).strip()
#: 3 UCS-2 segments (67 UTF-16 units each), with emoji (two units each), which must
#: not be cut in half at a segment border.
LONG_UCS2 = ("Привет! Ваш заказ 😀 готов, ждём вас. " * 5).strip()


def test_long_texts_are_three_segments() -> None:
    gsm, ucs2 = analyse(LONG_GSM7), analyse(LONG_UCS2)
    assert (gsm.encoding, gsm.segments) == (Encoding.GSM7, 3)
    assert (ucs2.encoding, ucs2.segments) == (Encoding.UCS2, 3)


# --- simulators -----------------------------------------------------------------------


@dataclass
class Simulators:
    plain: SimulatorProcess
    failing: SimulatorProcess
    throttling: SimulatorProcess
    dropping: SimulatorProcess
    slow: SimulatorProcess


THROTTLE_PER_SECOND = 10
DROP_AFTER = 5


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulators]:
    quick = ["--receipt-delay", "0.05"]
    started = start_simulators(
        [
            ["--receipt-delay", str(RECEIPT_DELAY)],
            [*quick, "--failure-rate", "1", "--failure-error", str(FAILURE_ERROR)],
            [*quick, "--throttle", str(THROTTLE_PER_SECOND)],
            # Answers come 0.2 s late, so a full window is out when the line drops.
            [*quick, "--drop-after", str(DROP_AFTER), "--response-delay", "0.2"],
            # Answers 0.3 s late: a window is out whenever POST /drop cuts the line.
            [*quick, "--response-delay", "0.3"],
        ],
        tmp_path_factory.mktemp("smsc-sim"),
    )
    try:
        yield Simulators(*started)
    finally:
        stop_simulators(started)


# --- the worker -----------------------------------------------------------------------

_connectors = itertools.count(1)


@asynccontextmanager
async def delivering(
    db: Database, sim: SimulatorProcess, *, password: str = "secret"
) -> AsyncIterator[Worker]:
    """A Worker with an SmppClient bound to ``sim``, running until the block ends.
    Each gets a connector name of its own: carrier ids are unique per connector, and
    the simulators are shared."""
    name = f"sim{next(_connectors)}"
    transports: dict[str, SmppClient] = {}
    worker = Worker(db, transports, RoutingTable([Route(name)]), WORKER)
    client = registry.build(name, sim.smpp_url(password=password, query=SMPP), worker.handlers())
    assert isinstance(client, SmppClient)
    transports[name] = client
    await client.start()
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        try:
            await asyncio.wait_for(runner, 15)
        finally:
            await client.stop(5)
    assert sim.alive(), sim.output()


async def only_mine_due(db: Database, ids: Sequence[int]) -> None:
    """As tests.helpers.messages.only_these_due: push every other test's waiting
    messages far out, and the leases of those a test left in `sending` too, so that
    this worker's sweep does not take them back and send them here."""
    far = datetime.now(UTC) + timedelta(days=365 * 50)
    async with db.write() as session:
        others = MESSAGES.c.id.not_in(list(ids))
        await session.execute(
            update(MESSAGES)
            .where(MESSAGES.c.status.in_(["queued", "scheduled"]), others)
            .values(send_at=far)
        )
        await session.execute(
            update(MESSAGES).where(MESSAGES.c.status == "sending", others).values(lease_until=far)
        )


# --- helpers --------------------------------------------------------------------------


async def send(t: Tenant, to: str, body: str, **extra: Any) -> dict[str, Any]:
    r = await t.post("/api/v1/sms", json={"to": to, "body": body, **extra})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def send_many(t: Tenant, entries: list[dict[str, Any]]) -> list[int]:
    r = await t.post("/api/v1/sms/many", json={"list": entries})
    assert r.status_code == 200, r.text
    ids: list[int] = r.json()["ids"]
    assert -1 not in ids, r.text
    return ids


async def read(t: Tenant, message_id: int) -> dict[str, Any]:
    r = await t.get(f"/api/v1/sms/{message_id}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def statuses(t: Tenant, ids: Sequence[int]) -> dict[int, str]:
    return {i: (await read(t, i))["status"] for i in ids}


async def all_final(t: Tenant, ids: Sequence[int]) -> dict[int, str] | None:
    now = await statuses(t, ids)
    return now if set(now.values()) <= FINAL else None


async def rows(db: Database, ids: Sequence[int]) -> dict[int, RowMapping]:
    """What the API does not show: error codes, transition times, attempts."""
    async with db.read() as session:
        result = await session.execute(select(MESSAGES).where(MESSAGES.c.id.in_(list(ids))))
        return {row["id"]: row for row in result.mappings()}


async def incoming(t: Tenant) -> list[dict[str, Any]]:
    r = await t.get("/api/v1/sms", params={"per_page": 100})
    assert r.status_code == 200, r.text
    return [m for m in r.json()["data"] if m["direction"] == "incoming"]


def accepted_texts(records: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in records if r["status"] == 0]


async def event_types(db: Database, ids: list[int]) -> dict[int, list[str]]:
    """Each message's events in the log's order (the whole log: messages of this
    run only are asked for)."""

    def read_all(session: Any) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {mid: [] for mid in ids}
        position = event_log.START
        while True:
            events, moved = event_log.read(session, after=position, limit=10_000)
            for e in events:
                if e.message is not None and e.message.id in found:
                    found[e.message.id].append(e.type)
            if moved == position:
                return found
            position = moved

    return await db.run_write(read_all)


def reassembled(records: list[dict[str, Any]]) -> str:
    return "".join(r["text"] for r in sorted(records, key=lambda r: r["part"]["seq"]))


# --- 1. send -> sent -> delivered --------------------------------------------------------


async def test_send_sent_delivered(tenant: Tenant, db: Database, sims: Simulators) -> None:
    to, body = fresh_number(), "Your table is ready"
    created = await send(tenant, to, body)
    assert created["status"] == "queued"
    mid = created["id"]
    await only_mine_due(db, [mid])
    seen = [created["status"]]
    async with delivering(db, sims.plain):

        async def delivered() -> bool:
            status: str = (await read(tenant, mid))["status"]
            if status != seen[-1]:
                seen.append(status)
            return status == "delivered"

        await until(delivered, "delivered", every=0.01)
    # Seen through the API in order; `sending` may pass between two polls, but `sent`
    # lasts the simulator's receipt delay.
    chain = ["queued", "sending", "sent", "delivered"]
    assert set(seen) <= set(chain), seen
    assert seen == sorted(seen, key=chain.index), seen
    assert {"queued", "sent", "delivered"} <= set(seen), seen

    row = (await rows(db, [mid]))[mid]
    assert row["error_code"] is None and row["failed_at"] is None
    assert row["created_at"] <= row["sending_at"] <= row["sent_at"] <= row["delivered_at"]
    # The receipt came RECEIPT_DELAY after the submit was answered.
    assert (row["delivered_at"] - row["sent_at"]).total_seconds() >= RECEIPT_DELAY - 0.1

    [submit] = await sims.plain.submits(to)
    assert submit["status"] == 0 and submit["text"] == body
    assert submit["from"] == tenant.number.removeprefix("+")
    assert submit["data_coding"] == 0 and submit["part"] is None
    # Exactly its events, in order; the claim (sending) is not one.
    assert await event_types(db, [mid]) == {
        mid: ["message.queued", "message.sent", "message.delivered"]
    }


# --- 2. failed receipts ------------------------------------------------------------------


async def test_failed_receipt_keeps_the_carriers_error_code(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    to = fresh_number()
    ids = [(await send(tenant, to, f"Doomed {i}"))["id"] for i in range(2)]
    await only_mine_due(db, ids)
    async with delivering(db, sims.failing):
        final = await until(lambda: all_final(tenant, ids), "final statuses")
    assert set(final.values()) == {"failed"}
    stored = await rows(db, ids)
    for mid in ids:
        row = stored[mid]
        # The receipt's err field, as the carrier wrote it.
        assert row["error_code"] == f"{FAILURE_ERROR:03d}", dict(row)
        assert row["sent_at"] is not None and row["failed_at"] >= row["sent_at"]
        assert row["delivered_at"] is None
        data = await read(tenant, mid)
        # The API document has no error field; if the API grows one it must agree.
        assert data.get("error_code", row["error_code"]) == row["error_code"]
    assert len(accepted_texts(await sims.failing.submits(to))) == 2
    expected = ["message.queued", "message.sent", "message.failed"]
    assert await event_types(db, ids) == {mid: expected for mid in ids}


# --- 3. long messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "data_coding"), [(LONG_GSM7, 0), (LONG_UCS2, 8)], ids=["gsm7", "ucs2"]
)
async def test_long_message_goes_in_three_concatenated_parts(
    tenant: Tenant, db: Database, sims: Simulators, body: str, data_coding: int
) -> None:
    to = fresh_number()
    mid = (await send(tenant, to, body))["id"]
    await only_mine_due(db, [mid])
    async with delivering(db, sims.plain):
        await until(lambda: all_final(tenant, [mid]), "final status")
    assert (await read(tenant, mid))["status"] == "delivered"

    parts = await sims.plain.submits(to)
    assert len(parts) == 3, parts
    assert all(p["status"] == 0 for p in parts)
    assert {p["data_coding"] for p in parts} == {data_coding}
    assert all(p["esm_class"] & 0x40 for p in parts)  # UDHI: a header is there
    assert len({p["part"]["ref"] for p in parts}) == 1
    assert sorted((p["part"]["seq"], p["part"]["total"]) for p in parts) == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    assert reassembled(parts) == body


# --- 4. incoming SMS to the right account and contact --------------------------------------


async def test_incoming_sms_lands_in_the_owner_account_linked_to_its_contact(
    tenant: Tenant, other_tenant: Tenant, db: Database, sims: Simulators
) -> None:
    handset = fresh_number()
    r = await tenant.post(
        "/api/v1/contact", json={"first_name": "Ana", "last_name": "Ruiz", "main_phone": handset}
    )
    assert r.status_code == 200, r.text
    contact = r.json()["data"]
    # The other account knows the same handset: the SMS is still not its.
    r = await other_tenant.post(
        "/api/v1/contact", json={"first_name": "Otra", "last_name": "Ruiz", "main_phone": handset}
    )
    assert r.status_code == 200, r.text

    await only_mine_due(db, [])
    text = "¿Tienen mesa para dos a las 8?"
    async with delivering(db, sims.plain):
        injected = await sims.plain.inject(handset, tenant.number, text)
        assert injected["parts"] == 1
        [message] = await until(lambda: incoming(tenant), "the incoming SMS")
    assert message["content"] == text
    assert message["direction"] == "incoming"
    assert message["status"] == "received"
    assert message["number"] == handset
    assert await event_types(db, [message["id"]]) == {message["id"]: ["message.received"]}
    assert message["contact"]["data"]["id"] == contact["id"]
    assert message["contact"]["data"]["main_phone"] == handset

    assert await incoming(other_tenant) == []
    r = await other_tenant.get(f"/api/v1/sms/{message['id']}")
    assert r.status_code == 404


# --- 5. incoming multipart reassembly ------------------------------------------------------


async def test_incoming_long_sms_is_reassembled_into_one_message(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    handset = fresh_number()
    await only_mine_due(db, [])
    async with delivering(db, sims.plain):
        for text in (LONG_GSM7, LONG_UCS2):
            injected = await sims.plain.inject(handset, tenant.number, text)
            assert injected["parts"] == 3

        async def both() -> list[dict[str, Any]] | None:
            got = await incoming(tenant)
            return got if len(got) >= 2 else None

        got = await until(both, "two incoming messages")
        await asyncio.sleep(0.2)  # a stray part stored on its own would show by now
        got = await incoming(tenant)
    assert sorted(m["content"] for m in got) == sorted([LONG_GSM7, LONG_UCS2])
    assert {(m["status"], m["number"]) for m in got} == {("received", handset)}


# --- 6. throttling -----------------------------------------------------------------------


async def test_throttled_messages_all_get_delivered(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    sim, count = sims.throttling, 2 * THROTTLE_PER_SECOND
    to = fresh_number()
    bodies = [f"Throttle me {i}" for i in range(count)]
    ids = await send_many(tenant, [{"to": to, "body": b} for b in bodies])
    await only_mine_due(db, ids)
    before = await sim.stats()
    async with delivering(db, sim):
        final = await until(lambda: all_final(tenant, ids), "final statuses", timeout=30)
    after = await sim.stats()
    assert set(final.values()) == {"delivered"}
    throttled = after["rejected"].get("ESME_RTHROTTLED", 0)
    throttled -= before["rejected"].get("ESME_RTHROTTLED", 0)
    assert throttled > 0, "the simulator never throttled: the test did not exercise it"
    records = await sim.submits(to)
    assert sorted(accepted_texts(records)) == sorted(bodies)
    assert sum(r["status"] != 0 for r in records) == throttled


# --- 7. connection drop in the middle of a window ------------------------------------------


async def test_connection_drop_mid_window_loses_nothing(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    sim, count = sims.dropping, 3 * DROP_AFTER
    to = fresh_number()
    bodies = [f"Drop test {i}" for i in range(count)]
    ids = await send_many(tenant, [{"to": to, "body": b} for b in bodies])
    await only_mine_due(db, ids)
    before = await sim.stats()
    async with delivering(db, sim):
        final = await until(lambda: all_final(tenant, ids), "final statuses", timeout=30)
    after = await sim.stats()
    # Every message reached the carrier and its handset; a message whose answer was
    # lost with the line may have been sent twice, none was lost.
    assert set(final.values()) == {"delivered"}
    texts = accepted_texts(await sim.submits(to))
    assert set(texts) == set(bodies)
    assert len(texts) >= count
    assert after["dropped"] - before["dropped"] >= count // DROP_AFTER - 1
    assert after["binds"] - before["binds"] >= 2  # the client bound again
    # However often a message was sent again, its log tells one story: the retries
    # are the engine's own business.
    expected = ["message.queued", "message.sent", "message.delivered"]
    assert await event_types(db, ids) == {mid: expected for mid in ids}
    # The window (8) was wider than what each session answered (5): some messages
    # were out when the line dropped, and went again.
    assert max(row["attempts"] for row in (await rows(db, ids)).values()) >= 2


async def test_line_cut_with_answers_outstanding_loses_nothing(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    """The harder drop: the SMSC took the submits of the window but the line goes
    before their answers. Those may go twice (at most a window's worth); none is lost."""
    sim, count = sims.slow, 16
    to = fresh_number()
    bodies = [f"Cut test {i}" for i in range(count)]
    ids = await send_many(tenant, [{"to": to, "body": b} for b in bodies])
    await only_mine_due(db, ids)
    before = await sim.stats()

    async def window_out() -> bool:
        return int((await sim.stats())["accepted"]) - int(before["accepted"]) >= 4

    async with delivering(db, sim):
        await until(window_out, "submits accepted and not yet answered", every=0.01)
        assert await sim.drop() == 1
        final = await until(lambda: all_final(tenant, ids), "final statuses", timeout=30)
    after = await sim.stats()
    assert set(final.values()) == {"delivered"}
    texts = accepted_texts(await sim.submits(to))
    assert set(texts) == set(bodies)
    assert count <= len(texts) <= count + int(SMPP["window"])
    assert after["binds"] - before["binds"] >= 2


# --- 8. bind failure ---------------------------------------------------------------------


async def test_refused_bind_keeps_messages_queued_until_credentials_work(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    sim, to = sims.plain, fresh_number()
    ids = [(await send(tenant, to, f"Wait for the bind {i}"))["id"] for i in range(3)]
    await only_mine_due(db, ids)
    before = await sim.stats()

    async def tried() -> bool:
        refused = int((await sim.stats())["bind_failures"]) - int(before["bind_failures"])
        errors = [row["error_message"] for row in (await rows(db, ids)).values()]
        return refused >= 3 and all(errors)

    async with delivering(db, sim, password="wrong"):
        # The client keeps trying to bind; the worker keeps trying the messages.
        await until(tried, "bind refused 3 times and each message tried")
        now = await statuses(tenant, ids)
    assert set(now.values()) <= {"queued", "sending"}, now
    # Never taken by the carrier: the tries did not use up the messages' attempts.
    assert {row["attempts"] for row in (await rows(db, ids)).values()} <= {0, 1}
    after_stop = await statuses(tenant, ids)
    assert set(after_stop.values()) == {"queued"}, after_stop
    assert await sim.submits(to) == []
    assert (await sim.stats())["binds"] == before["binds"]

    async with delivering(db, sim):
        final = await until(lambda: all_final(tenant, ids), "final statuses")
    assert set(final.values()) == {"delivered"}
    assert len(await sim.submits(to)) == 3  # each once


# --- 9. scheduled sends ------------------------------------------------------------------


async def test_scheduled_message_leaves_on_time(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    to = fresh_number()
    await only_mine_due(db, [])
    # Scheduled while the worker runs and idles, as in production.
    async with delivering(db, sims.plain):
        due = datetime.now(UTC) + timedelta(seconds=2)
        created = await send(tenant, to, "Reminder: dinner at 8", scheduled=due.isoformat())
        assert created["status"] == "scheduled"
        mid = created["id"]
        # Until its time: still waiting, and nothing reached the carrier. Only what
        # was seen entirely before the due time counts (a stalled machine may not
        # come back in time).
        seen_before = 0
        while time.time() < due.timestamp() - 0.05:
            status = (await read(tenant, mid))["status"]
            submits = await sims.plain.submits(to)
            if time.time() < due.timestamp():
                assert (status, submits) == ("scheduled", [])
                seen_before += 1
            await asyncio.sleep(0.1)
        assert seen_before > 0
        [submit] = await until(lambda: sims.plain.submits(to), "the submit", timeout=5)
        await until(lambda: all_final(tenant, [mid]), "final status")
    assert (await read(tenant, mid))["status"] == "delivered"
    # The simulator stamps a submit as it reads it, with the same clock as ours.
    late = submit["at"] - due.timestamp()
    assert 0 <= late <= 1.0, f"submitted {late:+.3f}s after its time"


# --- 10. cancel --------------------------------------------------------------------------


async def test_canceled_scheduled_message_is_never_submitted(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    canceled_to, control_to = fresh_number(), fresh_number()
    await only_mine_due(db, [])
    async with delivering(db, sims.plain):
        due = (datetime.now(UTC) + timedelta(seconds=1)).timestamp()
        when = datetime.fromtimestamp(due, UTC).isoformat()
        doomed = (await send(tenant, canceled_to, "Never mind", scheduled=when))["id"]
        # Due at the same time: shows the worker was there to send the canceled one.
        control = (await send(tenant, control_to, "Still on", scheduled=when))["id"]
        r = await tenant.delete(f"/api/v1/sms/{doomed}")
        assert time.time() < due, "too slow to cancel before the due time"
        assert r.status_code == 200, r.text
        assert r.json()["data"]["status"] == "canceled"
        # The claim that took the control message would have taken the other too.
        await until(lambda: all_final(tenant, [control]), "the control message final")
    assert await statuses(tenant, [doomed, control]) == {
        doomed: "canceled",
        control: "delivered",
    }
    assert await sims.plain.submits(canceled_to) == []
    assert len(await sims.plain.submits(control_to)) == 1
    row = (await rows(db, [doomed]))[doomed]
    assert row["canceled_at"] is not None and row["sending_at"] is None
    assert row["attempts"] == 0


async def test_cancel_racing_the_due_time_never_sends_what_it_canceled(
    tenant: Tenant, db: Database, sims: Simulators
) -> None:
    """Cancels sent one after another across the due time: each either answers 200
    and the message never reaches the carrier, or 409 and it is delivered."""
    numbers = [fresh_number() for _ in range(12)]
    await only_mine_due(db, [])
    async with delivering(db, sims.plain):
        due = datetime.now(UTC) + timedelta(seconds=1)
        ids = await send_many(
            tenant, [{"to": n, "body": "Race", "scheduled": due.isoformat()} for n in numbers]
        )
        await asyncio.sleep(max(0.0, due.timestamp() - time.time() - 0.03))
        answers: dict[int, int] = {}
        for mid in ids:
            r = await tenant.delete(f"/api/v1/sms/{mid}")
            assert r.status_code in (200, 409), r.text
            answers[mid] = r.status_code
        final = await until(lambda: all_final(tenant, ids), "final statuses")
    for mid, number in zip(ids, numbers, strict=True):
        submits = await sims.plain.submits(number)
        if answers[mid] == 200:
            assert (final[mid], submits) == ("canceled", []), mid
        else:
            assert (final[mid], len(submits)) == ("delivered", 1), mid

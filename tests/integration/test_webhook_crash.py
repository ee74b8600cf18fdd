"""A SIGKILL of the process that dispatches webhooks loses no event, and its
successor starts where it left off: on SQLite and PostgreSQL, one event per POST and
in batch mode.

A real dispatcher process sends to a real local receiver the events of messages the
test accepts and moves through the store. It is killed in the middle of fanning out
and sending (once the receiver has a third of the events), and started again. Every
event must reach the receiver, and the only duplicates allowed are of what the
killed process had in flight: one claim's worth of deliveries at most, each POSTed
once more with the same ``webhook-id`` and body.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jooksms import store as stores
from jooksms.db.engine import Database
from jooksms.db.migrate import upgrade
from jooksms.db.types import utcnow
from jooksms.events import log
from jooksms.events.webhooks import fanout
from jooksms.events.webhooks.tables import DELIVERIES
from jooksms.store.types import Sent
from jooksms.transports.base import DeliveryReport
from tests.conftest import POSTGRES_URL, async_url
from tests.helpers.live import throwaway_postgres
from tests.helpers.messages import LEASE
from tests.helpers.waiting import until
from tests.helpers.webhook_receiver import Answer, Received, running
from tests.helpers.webhooks import add_endpoint, new_account, send, start_dispatcher_process

pytestmark = pytest.mark.slow

MESSAGES = 150  # three events each: queued, sent, delivered
LEASE_SECONDS = 2.0  # what the killed process held comes due again after this
#: (deliveries claimed at a time, events fanned out per step): fan-out and sending
#: go in step, so the kill lands in the middle of both.
SIZES = {False: (20, 20), True: (1, 100)}


@pytest.fixture(params=["sqlite", "postgres"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for this test alone: the dispatcher's cursor starts unsaved."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        upgrade(url)
        yield url
        return
    if not POSTGRES_URL:
        pytest.skip("JOOKSMS_TEST_POSTGRES_URL is not set")
    with throwaway_postgres(POSTGRES_URL) as plain:
        url = async_url(plain)
        upgrade(url)
        yield url


@pytest.fixture
async def db(own_database: str) -> AsyncIterator[Database]:
    database = Database(own_database)
    yield database
    await database.dispose()


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
async def test_a_killed_dispatcher_loses_no_event(
    db: Database, own_database: str, tmp_path: Path, batch: bool
) -> None:
    claim, fan_out = SIZES[batch]
    # Answers take a little while, so the kill finds POSTs received and unrecorded.
    async with running(lambda _: Answer(delay=0.02)) as receiver:
        account = await new_account(db)
        await add_endpoint(db, account, receiver.url, batch=batch)

        def start() -> subprocess.Popen[bytes]:
            return start_dispatcher_process(
                own_database, tmp_path, claim=claim, fan_out=fan_out, lease=LEASE_SECONDS
            )

        def output() -> str:
            return (tmp_path / "dispatcher.log").read_text(errors="replace")

        process = start()
        try:
            # Its first start saves the log's head: what is written from now on is owed.
            await until(lambda: _cursor_saved(db), output, timeout=60)
            expected = await _accept_and_deliver(db, account)
            third = len(expected) // 3
            await until(lambda: len(_event_ids(receiver.received)) >= third, output)
            process.kill()
            process.wait()
            # What it wrote before it died is read once its connections close.
            await until(lambda: receiver.connections == 0, "the killed sender's connections")
            at_kill = len(receiver.received)
            assert set(_event_ids(receiver.received)) < expected, "the kill came too late"
            assert await _not_fanned_out_yet(db), "the kill came after the fan-out"

            process = start()
            await until(lambda: _all_sent(db), output, timeout=45)
        finally:
            process.kill()
            process.wait()

    got = receiver.received
    assert set(_event_ids(got)) == expected  # every event, none missing
    posts = Counter(r.headers["webhook-id"] for r in got)
    again = {webhook_id for webhook_id, n in posts.items() if n > 1}
    assert max(posts.values()) <= 2, output()
    assert len(again) <= claim  # what was in flight: one claim at most
    in_flight = {r.headers["webhook-id"] for r in got[:at_kill]}
    assert again <= in_flight  # each first POSTed before the kill
    first = {r.headers["webhook-id"]: r.body for r in got[:at_kill]}
    resent = [r for r in got[at_kill:] if r.headers["webhook-id"] in again]
    assert all(r.body == first[r.headers["webhook-id"]] for r in resent)  # the same bytes


async def _accept_and_deliver(db: Database, account: int) -> set[int]:
    """Accept the messages, then send them and have them delivered through the store,
    as delivery does; the ids of the events all that wrote."""
    ids = await send(db, account, MESSAGES)
    store = stores.for_database(db)
    now = utcnow()
    claimed = await db.run_write(lambda s: store.claim_due(s, now=now, limit=MESSAGES, lease=LEASE))
    assert sorted(c.id for c in claimed) == ids
    sent = [Sent(mid, account, "sim", [f"crash-{mid}"]) for mid in ids]
    await db.run_write(lambda s: store.record_sent(s, sent, now=now))
    reports = [DeliveryReport("sim", f"crash-{mid}", True) for mid in ids]
    await db.run_write(lambda s: store.record_outcomes(s, reports, now=now))
    async with db.read() as session:
        rows = await session.scalars(
            select(log.EVENTS.c.id).where(log.EVENTS.c.account_id == account)
        )
        events = set(rows)
    assert len(events) == 3 * MESSAGES
    return events


def _event_ids(received: list[Received]) -> list[int]:
    """The event ids of every POST (each event of a batch), in arrival order."""
    ids: list[int] = []
    for request in received:
        body = json.loads(request.body)
        events = body["data"] if body.get("type") == "batch" else [body]
        ids.extend(int(e["id"]) for e in events)
    return ids


async def _cursor_saved(db: Database) -> bool:
    return await db.run_write(lambda s: log.load_cursor(s, fanout.CURSOR)) is not None


async def _not_fanned_out_yet(db: Database) -> bool:
    def left(session: Session) -> bool:
        cursor = log.load_cursor(session, fanout.CURSOR)
        assert cursor is not None
        events, _ = log.read(session, after=cursor, limit=1)
        return bool(events)

    return await db.run_write(left)


async def _all_sent(db: Database) -> bool:
    async with db.read() as session:
        pending = await session.scalar(
            select(func.count()).where(DELIVERIES.c.status != "succeeded")
        )
        made = await session.scalar(select(func.count()).select_from(DELIVERIES))
    return pending == 0 and bool(made) and not await _not_fanned_out_yet(db)

"""Webhook test helpers: a clock the test walks, accounts with endpoints, messages
sent, the dispatcher's fan-out drained, and a dispatcher running on its own: in a
task, or in a child process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text, update

from jooksms.db.engine import Database
from jooksms.domain.encoding import analyse
from jooksms.events.webhooks import endpoints, wakeups
from jooksms.events.webhooks.dispatcher import Dispatcher, DispatcherConfig
from jooksms.events.webhooks.endpoints import Endpoint
from jooksms.events.webhooks.tables import DELIVERIES
from jooksms.secret_box import box_for
from jooksms.services import accounts, messages
from jooksms.services.messages import MessageDraft
from tests.conftest import fresh_number
from tests.helpers.waiting import until


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def at(self, when: datetime) -> None:
        self.now = max(self.now, when)


async def put_aside_pending(db: Database, *, except_account: int | None = None) -> None:
    """Fail every pending delivery (but ``except_account``'s): what earlier tests left
    goes nowhere."""
    pending = DELIVERIES.c.status == "pending"
    if except_account is not None:
        pending = pending & (DELIVERIES.c.account_id != except_account)
    async with db.write() as session:
        await session.execute(update(DELIVERIES).where(pending).values(status="failed"))


async def drain(d: Dispatcher) -> None:
    """Fan out everything the log holds (other tests' events too)."""
    while await d.fan_out() >= d.config.fan_out:
        pass


@dataclass
class Hook:
    account_id: int
    endpoint: Endpoint
    secret: str


async def new_account(db: Database) -> int:
    async with db.write() as session:
        account = await accounts.create_account(session, name="wh", numbers=[fresh_number()])
    return account.id


async def add_endpoint(db: Database, account_id: int, url: str, **fields: object) -> Hook:
    box = box_for(db.url)
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "event_types": [],
        "description": None,
        "enabled": True,
        "batch": False,
        **fields,
    }
    endpoint, secret = await db.run_write(
        lambda s: endpoints.create(s, box, account_id=account_id, url=url, now=now, **values)  # type: ignore[arg-type]
    )
    return Hook(account_id, endpoint, secret)


async def send(
    db: Database, account_id: int, count: int = 1, *, callback: str | None = None
) -> list[int]:
    drafts = [
        MessageDraft(to="+50768819519", body="hi", info=analyse("hi"), status_callback=callback)
        for _ in range(count)
    ]
    async with db.write() as session:
        return await messages.accept(
            session, account_id=account_id, from_number=None, drafts=drafts
        )


@asynccontextmanager
async def dispatching(db: Database, config: DispatcherConfig) -> AsyncIterator[Dispatcher]:
    """A dispatcher running (``run``, on the real clock) for as long as the block."""
    stop = asyncio.Event()
    dispatcher = Dispatcher(db, config)
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield dispatcher
    finally:
        stop.set()
        await task


async def until_listening(db: Database) -> None:
    """Until a dispatcher's connection LISTENs (a NOTIFY before that is lost): the
    last channel it LISTENs on is the webhooks' own."""

    async def listening() -> bool:
        async with db.read() as session:
            found = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    f" AND query ILIKE 'LISTEN%{wakeups.CHANNEL}%'"
                )
            )
            return bool(found)

    await until(listening, "a dispatcher LISTENing")


_DISPATCHER = """\
import asyncio, sys
from datetime import timedelta
from jooksms.db.engine import Database
from jooksms.events.webhooks.dispatcher import Dispatcher, DispatcherConfig
url, claim, fan_out, lease = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
config = DispatcherConfig(
    allow_private=True, claim=claim, fan_out=fan_out, lease=timedelta(seconds=lease)
)
asyncio.run(Dispatcher(Database(url), config).run(asyncio.Event()))
"""


def start_dispatcher_process(
    database_url: str, workdir: Path, *, claim: int, fan_out: int, lease: float
) -> subprocess.Popen[bytes]:
    """A dispatcher alone in a child process, as in ``serve`` or ``worker``, on this
    environment (the secret key file is found where this process finds it). Output
    goes to files in ``workdir``, appended to across restarts."""
    args = [str(claim), str(fan_out), str(lease)]
    with (workdir / "dispatcher.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", _DISPATCHER, database_url, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )

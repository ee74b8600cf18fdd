"""Fixtures of the webhook tests: a local receiver, a dispatcher on a clock the test
walks, and an account with an endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from jooksms.db.engine import Database
from jooksms.domain.encoding import analyse
from jooksms.events.webhooks import endpoints, fanout
from jooksms.events.webhooks.dispatcher import Dispatcher, DispatcherConfig
from jooksms.events.webhooks.endpoints import Endpoint
from jooksms.events.webhooks.tables import DELIVERIES
from jooksms.secret_box import box_for
from jooksms.services import accounts, messages
from jooksms.services.messages import MessageDraft
from tests.conftest import fresh_number
from tests.events.webhooks.receiver import Receiver, running


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def at(self, when: datetime) -> None:
        self.now = max(self.now, when)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running() as r:
        yield r


@pytest.fixture
async def dispatcher(db: Database, clock: Clock) -> AsyncIterator[Dispatcher]:
    config = DispatcherConfig(allow_private=True, timeout=0.5)
    async with Dispatcher(db, config, clock=clock) as d:
        yield d
    # Other tests' receivers are gone: leave them nothing pending.
    async with db.write() as session:
        await session.execute(
            update(DELIVERIES).where(DELIVERIES.c.status == "pending").values(status="failed")
        )


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


__all__ = ["CURSOR", "Clock", "Hook", "add_endpoint", "drain", "new_account", "send"]
CURSOR = fanout.CURSOR

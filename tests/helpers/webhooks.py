"""Webhook test helpers: a clock the test walks, accounts with endpoints, messages
sent, and the dispatcher's fan-out drained."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from jooksms.db.engine import Database
from jooksms.domain.encoding import analyse
from jooksms.events.webhooks import endpoints
from jooksms.events.webhooks.dispatcher import Dispatcher
from jooksms.events.webhooks.endpoints import Endpoint
from jooksms.events.webhooks.tables import DELIVERIES
from jooksms.secret_box import box_for
from jooksms.services import accounts, messages
from jooksms.services.messages import MessageDraft
from tests.conftest import fresh_number


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

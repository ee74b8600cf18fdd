"""Accounts with messages in the shared test database, and the queue kept to one
test's messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from jooksms.db.engine import Database
from jooksms.domain.encoding import analyse
from jooksms.services import accounts, messages
from jooksms.services.messages import MessageDraft
from jooksms.store.sql import MESSAGES
from tests.conftest import fresh_number

LEASE = timedelta(seconds=30)


async def account_with_messages(db: Database, count: int, **draft: object) -> tuple[int, list[int]]:
    """A new account with a number, and ``count`` messages it accepted."""
    async with db.write() as session:
        account = await accounts.create_account(session, name="q", numbers=[fresh_number()])
        ids = await messages.accept(
            session,
            account_id=account.id,
            from_number=None,
            drafts=[
                MessageDraft(to="+50768819519", body="queue me", info=analyse("queue me"), **draft)  # type: ignore[arg-type]
                for _ in range(count)
            ],
        )
    return account.id, ids


async def only_these_due(db: Database, ids: list[int]) -> None:
    """Push every other waiting message of the shared test database far out, so a
    claim here takes only this test's messages and leaves other tests' alone."""
    async with db.write() as session:
        await session.execute(
            update(MESSAGES)
            .where(MESSAGES.c.status.in_(["queued", "scheduled"]), MESSAGES.c.id.not_in(ids))
            .values(send_at=far_future())
        )


async def status_of(db: Database, ids: list[int]) -> dict[int, str]:
    async with db.read() as session:
        rows = await session.execute(
            select(MESSAGES.c.id, MESSAGES.c.status).where(MESSAGES.c.id.in_(ids))
        )
        return dict(rows.all())


def far_future() -> datetime:
    return datetime.now(UTC) + timedelta(days=365 * 50)

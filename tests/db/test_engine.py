"""The write doors of ``Database``: a transaction, or statements on their own."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from jooksms.db.engine import Database
from jooksms.store.sql import MESSAGES
from tests.helpers.messages import account_with_messages


class Boom(Exception):
    pass


async def _attempts(db: Database, mid: int) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(MESSAGES.c.attempts).where(MESSAGES.c.id == mid)))


def _bump_then_fail(mid: int):  # type: ignore[no-untyped-def]
    def work(session: Session) -> None:
        session.execute(
            update(MESSAGES).where(MESSAGES.c.id == mid).values(attempts=MESSAGES.c.attempts + 1)
        )
        raise Boom

    return work


async def test_run_write_is_all_or_nothing(db: Database) -> None:
    _, [mid] = await account_with_messages(db, 1)
    with pytest.raises(Boom):
        await db.run_write(_bump_then_fail(mid))
    assert await _attempts(db, mid) == 0


async def test_run_single_commits_each_statement_on_postgres(db: Database) -> None:
    """No BEGIN and COMMIT round trips on PostgreSQL: what ran is kept even if the
    work fails after it. SQLite has one writer and no round trips: a transaction."""
    _, [mid] = await account_with_messages(db, 1)
    with pytest.raises(Boom):
        await db.run_single(_bump_then_fail(mid))
    assert await _attempts(db, mid) == (0 if db.is_sqlite else 1)
    count = await db.run_single(
        lambda s: s.scalar(select(func.count()).select_from(MESSAGES).where(MESSAGES.c.id == mid))
    )
    assert count == 1

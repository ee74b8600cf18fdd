"""Group commit: many requests share a transaction, and each gets its own answer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from jooksms.db.engine import Database
from jooksms.domain.encoding import analyse
from jooksms.errors import ValidationFailed
from jooksms.services import accounts
from jooksms.services.intake import Intake
from jooksms.services.messages import AcceptJob, MessageDraft
from jooksms.store.sql import MESSAGES
from tests.conftest import fresh_number


def _draft(to: str = "+50768819519", body: str = "hi") -> MessageDraft:
    return MessageDraft(to=to, body=body, info=analyse(body))


async def _account(db: Database, *, numbers: int = 1) -> int:
    async with db.write() as session:
        account = await accounts.create_account(
            session, name="intake", numbers=[fresh_number() for _ in range(numbers)]
        )
    return account.id


async def _count(db: Database, account_id: int) -> int:
    async with db.read() as session:
        total = await session.scalar(
            select(func.count()).select_from(MESSAGES).where(MESSAGES.c.account_id == account_id)
        )
    return int(total or 0)


async def test_concurrent_jobs_are_batched_and_answered_in_order(db: Database) -> None:
    a, b = await _account(db), await _account(db)
    intake = Intake(db)
    jobs = [
        AcceptJob(a if i % 2 else b, None, [_draft(body=f"m{i}")] * (1 + i % 3), with_views=True)
        for i in range(60)
    ]
    results = await asyncio.gather(*(intake.submit(job) for job in jobs))
    await intake.close()
    all_ids = [i for r in results for i in r.ids]
    assert len(all_ids) == len(set(all_ids)) == sum(len(j.drafts) for j in jobs)
    for job, result in zip(jobs, results, strict=True):
        assert len(result.ids) == len(job.drafts)
        assert [v.id for v in result.views] == result.ids
        assert {v.content for v in result.views} == {job.drafts[0].body}
    assert await _count(db, a) == sum(len(j.drafts) for j in jobs if j.account_id == a)


async def test_a_job_without_sender_fails_alone(db: Database) -> None:
    good, bare = await _account(db), await _account(db, numbers=0)
    intake = Intake(db)
    ok, bad = await asyncio.gather(
        intake.submit(AcceptJob(good, None, [_draft()])),
        intake.submit(AcceptJob(bare, None, [_draft()])),
        return_exceptions=True,
    )
    await intake.close()
    assert not isinstance(ok, BaseException)
    assert len(ok.ids) == 1
    assert isinstance(bad, ValidationFailed)
    assert "from" in bad.fields
    assert await _count(db, bare) == 0


async def test_a_job_that_breaks_the_database_fails_alone(db: Database) -> None:
    account = await _account(db)
    intake = Intake(db)
    # external_id beyond BIGINT makes the database refuse the row; validation at the
    # edge stops it normally, so here it stands for any unexpected database error.
    broken = MessageDraft(to="+50768819519", body="x", info=analyse("x"), external_id=2**70)
    results = await asyncio.gather(
        intake.submit(AcceptJob(account, None, [_draft(body="before")])),
        intake.submit(AcceptJob(account, None, [broken])),
        intake.submit(AcceptJob(account, None, [_draft(body="after")])),
        return_exceptions=True,
    )
    await intake.close()
    assert not isinstance(results[0], BaseException)
    assert isinstance(results[1], Exception)
    assert not isinstance(results[2], BaseException)
    assert await _count(db, account) == 2


@pytest.mark.parametrize("size", [1, 2_500])
async def test_large_jobs_split_across_batches(db: Database, size: int) -> None:
    account = await _account(db)
    intake = Intake(db, max_batch_messages=1000)
    jobs = [AcceptJob(account, None, [_draft()] * size) for _ in range(3)]
    results = await asyncio.gather(*(intake.submit(j) for j in jobs))
    await intake.close()
    assert [len(r.ids) for r in results] == [size] * 3
    assert await _count(db, account) == 3 * size


def test_postgres_bulk_insert_covers_every_column() -> None:
    from jooksms.store.postgres import _PG_ARRAYS

    assert set(_PG_ARRAYS) == set(MESSAGES.c.keys())

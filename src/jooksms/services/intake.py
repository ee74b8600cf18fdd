"""Group commit for accepting messages.

Every request that sends messages hands its job to the intake and waits. One task
writes whatever has gathered in one transaction, with a handful of statements for
the whole batch, and then answers every waiting request. A lone request is written
at once, so nothing waits for company; under load, each transaction carries many
requests, which is what lets one process accept thousands of messages a second on
SQLite (a single writer) as well as PostgreSQL. Each request still gets its answer
only after its messages are committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from jooksms.db.engine import Database
from jooksms.db.types import utcnow
from jooksms.db.wakeups import notify_sql
from jooksms.errors import JookSMSError, Unavailable
from jooksms.services import idempotency, messages
from jooksms.services.idempotency import Claim, KeyTaken
from jooksms.services.messages import Accepted, AcceptJob

log = logging.getLogger(__name__)


_PRUNE_EVERY = 60.0  # seconds between deletions of expired idempotency keys


@dataclass(slots=True)
class _Waiting:
    job: AcceptJob
    future: asyncio.Future[Accepted]
    claim: Claim | None = None
    render: Callable[[Accepted], bytes] | None = None


class Intake:
    def __init__(self, db: Database, *, max_batch_messages: int = 20_000) -> None:
        self._db = db
        self._max = max_batch_messages
        # SQLite has one writer. PostgreSQL takes several transactions at once, and a
        # batch there mostly waits on round trips and the commit's WAL flush, so
        # overlapping a few batches keeps the server busy.
        self._parallel = 1 if db.is_sqlite else 4
        self._writing: set[asyncio.Task[None]] = set()
        self._pending: list[_Waiting] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0

    async def submit(
        self,
        job: AcceptJob,
        *,
        claim: Claim | None = None,
        render: Callable[[Accepted], bytes] | None = None,
    ) -> Accepted:
        """Accept the job's messages; raises the job's own error when it has one.

        With ``claim``, its idempotency key is claimed in the same transaction and
        ``render``'s answer stored with it; KeyTaken when another request has it."""
        wake = self._ensure_running()
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._pending.append(_Waiting(job, future, claim, render))
        wake.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.gather(*self._writing, return_exceptions=True)

    def _ensure_running(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            # A new loop (tests, a restarted server) gets a writer of its own.
            self._loop = loop
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(self._wake), name="jooksms-intake")
        assert self._wake is not None
        return self._wake

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            while self._pending:
                if len(self._writing) >= self._parallel:
                    await asyncio.wait(self._writing, return_when=asyncio.FIRST_COMPLETED)
                    continue
                writing = asyncio.create_task(self._write(self._take()))
                self._writing.add(writing)
                writing.add_done_callback(self._writing.discard)

    def _take(self) -> list[_Waiting]:
        """The oldest waiting jobs, up to the batch size (always at least one)."""
        count, size = 0, 0
        for waiting in self._pending:
            size += len(waiting.job.drafts)
            if count and size > self._max:
                break
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    async def _write(self, batch: list[_Waiting]) -> None:
        try:
            results = await self._commit(batch)
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, Unavailable):
                # Find the culprit: write each job on its own, so one bad job fails alone.
                for waiting in batch:
                    await self._write([waiting])
                return
            if not isinstance(exc, Unavailable):  # the API logs that one
                log.exception("accepting messages failed")
            for waiting in batch:
                _settle(waiting.future, exc)
            return
        for waiting, result in zip(batch, results, strict=True):
            _settle(waiting.future, result)

    async def _commit(self, batch: Sequence[_Waiting]) -> list[Accepted | Exception]:
        keyed = any(w.claim for w in batch)
        prune = keyed and time.monotonic() - self._pruned_at > _PRUNE_EVERY

        def accept(session: Session) -> list[Accepted | Exception]:
            if not keyed:  # the usual batch: nothing to do but store it
                accepted = messages.accept_batch(session, [w.job for w in batch])
                notify_sql(session)
                return list(accepted)
            now = utcnow()
            results = _accept_keyed(session, batch, now)
            if prune:
                idempotency.prune(session, now=now)
            notify_sql(session)
            return results

        accepted = await self._db.run_write(accept)
        if prune:
            self._pruned_at = time.monotonic()
        self._db.wakeups.set()
        return accepted


def _accept_keyed(
    session: Session, batch: Sequence[_Waiting], now: datetime
) -> list[Accepted | Exception]:
    """Claim the batch's keys; store the jobs without a key and those whose key this
    transaction won, each keyed one with its answer; KeyTaken for the others."""
    taking = _claimed(session, batch, now)
    accepted = messages.accept_batch(session, [w.job for w in taking]) if taking else []
    for waiting, result in zip(taking, accepted, strict=True):
        _keep_answer(session, waiting, result)
    results: dict[int, Accepted | Exception] = {
        id(w): r for w, r in zip(taking, accepted, strict=True)
    }
    return [results[id(w)] if id(w) in results else KeyTaken() for w in batch]


def _claimed(session: Session, batch: Sequence[_Waiting], now: datetime) -> list[_Waiting]:
    """The jobs to store: those without a key, and those whose key this transaction won."""
    keyed = [w for w in batch if w.claim is not None]
    won = idempotency.claim(session, [w.claim for w in keyed if w.claim], now=now)
    lost = {id(w) for w, ok in zip(keyed, won, strict=True) if not ok}
    return [w for w in batch if id(w) not in lost]


def _keep_answer(session: Session, waiting: _Waiting, result: Accepted | JookSMSError) -> None:
    """Store a keyed job's answer with its key; a refused job lets its key go."""
    if waiting.claim is None:
        return
    if isinstance(result, JookSMSError):
        idempotency.release(session, waiting.claim)
    else:
        assert waiting.render is not None
        idempotency.store_answer(session, waiting.claim, 200, waiting.render(result))


def _settle(future: asyncio.Future[Accepted], result: Accepted | BaseException) -> None:
    if future.done():  # the client went away; its messages stay accepted
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)

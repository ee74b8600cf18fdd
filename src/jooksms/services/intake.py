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
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from jooksms.db.engine import Database
from jooksms.db.wakeups import notify_sql
from jooksms.errors import JookSMSError
from jooksms.services import messages
from jooksms.services.messages import Accepted, AcceptJob

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Waiting:
    job: AcceptJob
    future: asyncio.Future[Accepted]


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

    async def submit(self, job: AcceptJob) -> Accepted:
        """Accept the job's messages; raises the job's own error when it has one."""
        wake = self._ensure_running()
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._pending.append(_Waiting(job, future))
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
            if len(batch) > 1:
                # Find the culprit: write each job on its own, so one bad job fails alone.
                for waiting in batch:
                    await self._write([waiting])
                return
            log.exception("accepting messages failed")
            _settle(batch[0].future, exc)
            return
        for waiting, result in zip(batch, results, strict=True):
            _settle(waiting.future, result)

    async def _commit(self, batch: Sequence[_Waiting]) -> list[Accepted | JookSMSError]:
        jobs = [w.job for w in batch]

        def accept(session: Session) -> list[Accepted | JookSMSError]:
            accepted = messages.accept_batch(session, jobs)
            notify_sql(session)
            return accepted

        accepted = await self._db.run_write(accept)
        self._db.wakeups.set()
        return accepted


def _settle(future: asyncio.Future[Accepted], result: Accepted | BaseException) -> None:
    if future.done():  # the client went away; its messages stay accepted
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)

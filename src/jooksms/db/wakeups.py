"""Wake-ups for the delivery queue: a writer that makes messages due says so, and a
waiting worker claims at once instead of at its next poll.

Within one process (``jooksms serve`` on SQLite) this is an event. Across processes
it is PostgreSQL's LISTEN/NOTIFY: the writer calls :func:`notify_sql` inside its
transaction, so the notice goes out when, and only if, the messages are committed;
each worker holds one connection that LISTENs. Polling stays as the fallback, so a
lost notice or a broken listening connection only costs latency, never a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from jooksms.db.listen import listen_forever

log = logging.getLogger(__name__)

CHANNEL = "jooksms_queue"


def notify_sql(session: Session) -> None:
    """Announce, on PostgreSQL, that this transaction makes messages due."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))


class Wakeups:
    """One per process and database. ``set`` wakes this process's waiters; ``listen``
    makes NOTIFYs from other processes wake them too."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def set(self) -> None:
        event = self._current()
        if event is not None:
            event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait for a wake-up for at most ``timeout`` seconds; True if one came."""
        event = self._ensure()
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        woken = event.is_set()
        event.clear()
        return woken

    @contextlib.asynccontextmanager
    async def listen(self, engine: AsyncEngine) -> Any:
        """LISTEN on PostgreSQL for as long as the context lasts (nothing on SQLite).
        A listening connection that is lost (a server restart, a terminated backend)
        is replaced, so wake-ups come back without a restart of the worker."""
        if engine.dialect.name != "postgresql":
            yield
            return
        self._ensure()
        listening = asyncio.create_task(
            listen_forever(engine, [CHANNEL], self.set, what="queue wake-ups"),
            name="jooksms-listen",
        )
        try:
            yield
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)

    def _current(self) -> asyncio.Event | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return self._event if self._loop is loop else None

    def _ensure(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._event is None or self._loop is not loop:
            self._loop, self._event = loop, asyncio.Event()
        return self._event

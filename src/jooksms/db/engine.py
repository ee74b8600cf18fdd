"""Engines and sessions.

Services say whether they read or write. On SQLite that matters: a deferred
transaction that starts with a read and then writes can fail at once with
"database is locked" instead of waiting, so every write transaction opens with
``BEGIN IMMEDIATE`` and, inside one process, writers queue on an asyncio lock
rather than spinning on the file lock.

A lost connection (PostgreSQL restarted, a backend terminated, a proxy's idle
timeout) must not cost a request. A pooled connection the server has closed is seen
at checkout, without a round trip (asyncpg notices the close as it happens), and
replaced; work handed to ``run_write`` or ``run_single`` that meets a dead
connection anyway runs again once on a fresh one, as long as its transaction had
not reached COMMIT (whose outcome is then unknown). What still fails because the
database cannot be reached is raised as :class:`~jooksms.errors.Unavailable` (503).

Every engine hides its SQL parameters from errors and logs (``hide_parameters``):
they are recipients, message texts and secrets.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from jooksms.config import Settings
from jooksms.db.wakeups import Wakeups
from jooksms.errors import Unavailable

T = TypeVar("T")
log = logging.getLogger(__name__)
_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "busy_timeout=30000",
    "cache_size=-65536",
)


class Database:
    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._sync_writer: Engine | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, begin="BEGIN")
            self.write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
            self._sync_writer = _sync_sqlite_engine(url)
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="jooksms-sqlite-writer")
        else:
            # No pool_pre_ping: its ping is a transaction, three round trips on every
            # checkout; the checkout check below costs none.
            engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False, hide_parameters=True
            )
            event.listen(engine.sync_engine, "checkout", _refuse_closed)
            self.read_engine = self.write_engine = engine
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self.wakeups = Wakeups()

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.database_url)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with _translated(), self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on success and rolls back on error."""
        if self._write_lock is None:
            async with _translated(), self._writer() as session, session.begin():
                yield session
            return
        async with _translated(), self._write_lock, self._writer() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """One round trip to the database; Unavailable when it cannot be reached."""

        async def attempt() -> None:
            async with self._reader() as session:
                await session.execute(text("SELECT 1"))

        await _once_more_if_lost(attempt)

    async def run_write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction, with a synchronous Session.

        This is the hot path's door. On SQLite the whole transaction runs on the
        writer thread in one hop: through aiosqlite every statement would cost a
        round trip between threads, which bounds a single writer to a few hundred
        transactions a second. On PostgreSQL asyncpg is native asyncio, so the work
        runs in the event loop through ``run_sync``.
        """
        if self._sync_writer is None:
            return await self._pg_write(work)
        assert self._write_lock is not None and self._writer_thread is not None
        engine = self._sync_writer
        async with _translated(), self._write_lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._writer_thread, _in_transaction, engine, work)

    async def _pg_write(self, work: Callable[[Session], T]) -> T:
        reached_commit = False

        async def attempt() -> T:
            nonlocal reached_commit
            reached_commit = False
            async with self._writer() as session, session.begin():
                result = await session.run_sync(work)
                reached_commit = True  # leaving the block commits
            return result

        return await _once_more_if_lost(attempt, unless=lambda: reached_commit)

    async def run_single(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` without a transaction around it: each of its statements
        commits alone, so use it for one statement, or for statements each of which
        leaves the data right if the next never runs.

        On PostgreSQL a statement is atomic on its own, and BEGIN and COMMIT are two
        more round trips: the delivery path's receipts and submit results each fit
        one statement, and a carrier waits on every round trip before it may send
        the next receipts. On SQLite this is ``run_write``.
        """
        if self._sync_writer is not None:
            return await self.run_write(work)

        async def alone() -> T:
            async with self.write_engine.connect() as connection:
                auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
                return await auto.run_sync(lambda sync: _with_session(sync, work))

        # Running it again is safe by this method's contract: its statements are
        # status transitions guarded by the status they move from.
        return await _once_more_if_lost(alone)

    async def dispose(self) -> None:
        if self._sync_writer is not None:
            self._sync_writer.dispose()
        if self._writer_thread is not None:
            self._writer_thread.shutdown(wait=False)
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()


def is_disconnect(exc: BaseException) -> bool:
    """The connection the statement ran on is gone (SQLAlchemy has invalidated it,
    and the pool's older connections with it)."""
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or will not take work now: a lost or refused
    connection, a server shutting down or starting up, SQLite's lock held too long."""
    if is_disconnect(exc):
        return True
    for cause in _chain(exc):
        if isinstance(cause, OSError | TimeoutError):  # refused, reset, unreachable
            return True
        module = type(cause).__module__
        name = type(cause).__name__
        if module.startswith("asyncpg") and (
            name in _ASYNCPG_UNAVAILABLE or (name == "InterfaceError" and "closed" in str(cause))
        ):
            return True
        if isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause):
            return True
    return False


_ASYNCPG_UNAVAILABLE = frozenset(
    {
        "AdminShutdownError",  # pg_terminate_backend, a fast shutdown
        "CannotConnectNowError",  # starting up or shutting down
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "ConnectionRejectionError",
        "CrashShutdownError",
        "TooManyConnectionsError",
    }
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = (
            orig if isinstance(orig, BaseException) else current.__cause__ or current.__context__
        )


def describe(exc: BaseException) -> str:
    """The driver's own words for a database failure, without SQL or parameters."""
    root = list(_chain(exc))[-1]
    return f"{type(root).__name__}: {str(root).splitlines()[0] if str(root) else ''}"[:200]


async def _once_more_if_lost(
    attempt: Callable[[], Awaitable[T]], *, unless: Callable[[], bool] = lambda: False
) -> T:
    """Run ``attempt``; when its connection was lost, run it again on a new one (at
    most twice: terminating every backend can take the first replacement too),
    unless ``unless()`` says its outcome is unknown. Raise Unavailable when the
    database cannot be reached."""
    async with _translated():
        for _ in range(_RETRIES):
            try:
                return await attempt()
            except Exception as exc:
                if not is_disconnect(exc) or unless():
                    raise
                log.warning("a database connection was lost (%s); trying a new one", describe(exc))
        return await attempt()


_RETRIES = 2


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """Raise a database that cannot be reached as Unavailable, where it enters."""
    try:
        yield
    except Unavailable:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        raise Unavailable(f"the database is unavailable ({describe(exc)})") from exc


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Checkout: a connection whose server end has closed is not handed out; the pool
    drops it and connects anew."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise sa_exc.DisconnectionError("the server closed this pooled connection")


def _sqlite_engine(url: str, *, begin: str) -> AsyncEngine:
    memory = ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:")
    kwargs: dict[str, Any] = {"poolclass": NullPool} if memory else {"pool_size": 8}
    engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that BEGIN is ours to choose.
        dbapi_connection.isolation_level = None
        _apply_pragmas(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _apply_pragmas(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in _PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sync_sqlite_engine(url: str) -> Engine:
    """The writer thread's engine: the stdlib driver, one connection kept open."""
    sync_url = url.replace("sqlite+aiosqlite:", "sqlite+pysqlite:", 1)
    memory = ":memory:" in url
    engine = create_engine(
        sync_url,
        connect_args={"timeout": 30, "check_same_thread": False},
        hide_parameters=True,
        **({"poolclass": NullPool} if memory else {"pool_size": 1, "max_overflow": 0}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        _apply_pragmas(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _in_transaction(engine: Engine, work: Callable[[Session], T]) -> T:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return work(session)


def _with_session(connection: Connection, work: Callable[[Session], T]) -> T:
    with Session(bind=connection) as session:
        return work(session)

"""Engines and sessions.

Services say whether they read or write. On SQLite that matters: a deferred
transaction that starts with a read and then writes can fail at once with
"database is locked" instead of waiting, so every write transaction opens with
``BEGIN IMMEDIATE`` and, inside one process, writers queue on an asyncio lock
rather than spinning on the file lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from jooksms.config import Settings


class Database:
    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, begin="BEGIN")
            self.write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
        else:
            engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False
            )
            self.read_engine = self.write_engine = engine
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.database_url)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on success and rolls back on error."""
        if self._write_lock is None:
            async with self._writer() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._writer() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()


def _sqlite_engine(url: str, *, begin: str) -> AsyncEngine:
    memory = ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:")
    kwargs: dict[str, Any] = {"poolclass": NullPool} if memory else {"pool_size": 8}
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that BEGIN is ours to choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            "cache_size=-65536",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine

"""Alembic environment: async engines, batch mode on SQLite (it cannot ALTER most
things in place)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from jooksms.db.models import Base
from jooksms.db.schema_extras import include_object

config = context.config
target_metadata = Base.metadata


# Any number of processes may upgrade at once (a server starting while the CLI runs):
# each upgrade is one transaction that first takes a database-wide lock, so the
# second one waits, then finds the schema at head and does nothing.
_PG_LOCK = "SELECT pg_advisory_xact_lock(7234541061)"


def _configure(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        include_object=include_object,
        compare_type=True,
        # SQLite does roll DDL back; Alembic only assumes it does not.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if not sqlite:
            connection.exec_driver_sql(_PG_LOCK)
        context.run_migrations()


async def _run_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_async_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        _begin_immediately(engine.sync_engine)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


def _begin_immediately(engine: Engine) -> None:
    """Take SQLite's write lock when the transaction starts, not at its first write,
    so that two upgrades queue instead of both reading the old version."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=60000")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    existing = config.attributes.get("connection")
    if existing is not None:
        _configure(existing)
    else:
        asyncio.run(_run_online())

"""The migrations build exactly the models' schema, and run down and up again."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from jooksms.db.migrate import downgrade, upgrade
from jooksms.db.models import Base
from jooksms.db.schema_extras import include_object
from tests.conftest import BACKENDS, POSTGRES_URL, create_pg_database, drop_pg_database


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"include_object": include_object, "compare_type": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _inspect(url: str, fn: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


async def _search_objects(url: str) -> int:
    engine = create_async_engine(url)
    query = (
        "SELECT count(*) FROM sqlite_master WHERE name LIKE 'messages_fts%'"
        if url.startswith("sqlite")
        else "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_message_search_tsv'"
    )
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, so going down to base touches no other test's data."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    assert POSTGRES_URL
    url = await create_pg_database(POSTGRES_URL)
    yield url
    await drop_pg_database(POSTGRES_URL, url)


async def test_migrations_match_models_and_round_trip(empty_url: str) -> None:
    database_url = empty_url
    await asyncio.to_thread(upgrade, database_url)
    assert await _inspect(database_url, _diff) == []
    assert await _search_objects(database_url) >= 1
    await asyncio.to_thread(downgrade, database_url, "base")
    assert await _inspect(database_url, _tables) <= {"alembic_version"}
    assert await _search_objects(database_url) == 0
    await asyncio.to_thread(upgrade, database_url)
    assert await _inspect(database_url, _diff) == []
    assert await _search_objects(database_url) >= 1


async def test_concurrent_upgrades_do_not_collide(empty_url: str) -> None:
    """A server starting while the CLI runs: both upgrade; neither may fail.
    Separate processes, as in life (Alembic's context is global to a process)."""
    script = "import sys; from jooksms.db.migrate import upgrade; upgrade(sys.argv[1])"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, empty_url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    results = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in results]
    assert await _inspect(empty_url, _diff) == []

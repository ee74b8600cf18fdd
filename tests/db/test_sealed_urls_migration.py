"""Revision 0007 seals the connector URLs stored in plain text, and opens them again
on the way down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from jooksms.config import load_settings
from jooksms.db.migrate import downgrade, upgrade
from jooksms.secret_box import PREFIX, load_box
from tests.conftest import BACKENDS, POSTGRES_URL, async_url, create_pg_database, drop_pg_database

URL = "smpp://acme:s3cretpw@smsc.example:2775"


@pytest.fixture(params=BACKENDS)
async def empty_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    monkeypatch.delenv("JOOKSMS_SECRET_KEY", raising=False)
    monkeypatch.setenv("JOOKSMS_DATA_DIR", str(tmp_path / "data"))
    if request.param == "sqlite":
        yield async_url(f"sqlite:///{tmp_path / 'sealed.db'}")
        return
    assert POSTGRES_URL
    url = await create_pg_database(POSTGRES_URL)
    yield url
    await drop_pg_database(POSTGRES_URL, url)


async def _urls(url: str, sql: str | None = None) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if sql:
                await conn.execute(text(sql))
            return list((await conn.execute(text("SELECT url FROM connectors"))).scalars())
    finally:
        await engine.dispose()


async def test_plain_rows_are_sealed_and_opened_again(empty_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(upgrade, empty_url, "0006")
    insert = f"INSERT INTO connectors (name, url, created_at) VALUES ('old', '{URL}', '2026-01-01')"
    assert await _urls(empty_url, insert) == [URL]
    await asyncio.to_thread(upgrade, empty_url, "0007")
    [sealed] = await _urls(empty_url)
    assert sealed.startswith(PREFIX) and "s3cret" not in sealed
    assert (tmp_path / "data" / "secret.key").exists()
    assert load_box(load_settings(database_url=empty_url)).open(sealed) == URL
    await asyncio.to_thread(downgrade, empty_url, "0006")
    assert await _urls(empty_url) == [URL]

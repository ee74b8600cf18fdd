"""Starting the platform: migrate, create the demo account on first start, serve."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from sqlalchemy import func, select

from jooksms.api.app import create_app
from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.db.migrate import upgrade
from jooksms.db.models import Account
from jooksms.http_timeouts import TimedHttpToolsProtocol
from jooksms.platform import Platform
from jooksms.runtime import settle_gc
from jooksms.services import accounts

log = logging.getLogger("jooksms")

DEMO_NUMBER = "+50672004393"


async def ensure_demo_account(db: Database) -> dict[str, object] | None:
    """On an empty database, create an account with a number and an API client, so a
    new user can follow the README at once. Returns the credentials when created."""
    async with db.write() as session:
        if await session.scalar(select(func.count()).select_from(Account)):
            return None
        account = await accounts.create_account(session, name="Demo", numbers=[DEMO_NUMBER])
        client = await accounts.create_client(session, account_id=account.id, name="demo")
    return {
        "account_id": account.id,
        "number": DEMO_NUMBER,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }


def run_server(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.is_sqlite:
        upgrade(settings.database_url)
    db = Database.from_settings(settings)
    demo = asyncio.run(_first_start(db))
    if demo:
        print(
            "\nCreated a demo account (shown once; keep the secret):\n"
            f"  account id:    {demo['account_id']}\n"
            f"  number:        {demo['number']}\n"
            f"  client_id:     {demo['client_id']}\n"
            f"  client_secret: {demo['client_secret']}\n",
            flush=True,
        )
    app = create_app(Platform(settings), delivery=settings.delivery)
    if not settings.delivery:
        log.info("delivery is off here (JOOKSMS_DELIVERY=false): run `jooksms worker`")
    log.info("serving the API on http://%s:%s", settings.host, settings.port)
    settle_gc()
    uvicorn.run(app, host=settings.host, port=settings.port, **uvicorn_options(settings))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How ``jooksms serve`` runs uvicorn: its loop and parser, and the limits that
    keep slow or idle clients from holding connections (see ``http_timeouts``)."""
    return {
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "loop": "uvloop",
        "http": TimedHttpToolsProtocol.configured(
            header_timeout=settings.http_header_timeout,
            body_timeout=settings.http_body_timeout,
        ),
        "timeout_keep_alive": settings.http_keepalive_timeout,
        "limit_concurrency": settings.http_max_connections,
    }


async def _first_start(db: Database) -> dict[str, object] | None:
    try:
        return await ensure_demo_account(db)
    finally:
        await db.dispose()

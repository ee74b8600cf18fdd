"""Holding one PostgreSQL connection that LISTENs, for as long as a process wants
notices: the event feed and the webhook dispatcher each hold one.

A lost connection (a server restart, a terminated backend) is replaced after a
second, so wake-ups come back without a restart of the process. ``on_notice`` is
called for every NOTIFY, and once each time listening (re)starts: whatever was
committed while nobody listened is owed a look. Callers keep polling as the
fallback, so a lost notice costs latency, never work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

_RELISTEN_AFTER = 1.0  # seconds between attempts to LISTEN again


async def listen_forever(
    engine: AsyncEngine, channels: Sequence[str], on_notice: Callable[[], None], *, what: str
) -> None:
    """LISTEN on ``channels`` until cancelled; ``what`` names the listener in logs."""
    while True:
        try:
            await _listen_until_lost(engine, channels, on_notice)
            log.warning("the connection listening for %s was lost; listening again", what)
        except Exception:  # polling still delivers; say why it is slower
            log.warning("cannot LISTEN for %s; polling only", what, exc_info=True)
        await asyncio.sleep(_RELISTEN_AFTER)


async def _listen_until_lost(
    engine: AsyncEngine, channels: Sequence[str], on_notice: Callable[[], None]
) -> None:
    connection = await engine.connect()
    try:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        lost = asyncio.Event()
        raw.add_termination_listener(lambda _: lost.set())
        for channel in channels:
            await raw.add_listener(channel, lambda *_: on_notice())
        on_notice()
        await lost.wait()
    finally:
        with contextlib.suppress(Exception):
            await connection.invalidate()  # a listening connection is not pooled again
        with contextlib.suppress(Exception):
            await connection.close()

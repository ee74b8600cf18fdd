"""Pruning the event log: events older than ``JOOKSMS_EVENT_RETENTION`` are deleted
in the background, in batches, by every API and worker process.

Several processes may prune at once: each batch deletes the oldest expired rows
still there, so a batch another process deleted first is simply not found again.
Batches are short transactions, so writers are not held up behind a long delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from jooksms.db.engine import Database
from jooksms.events import log as event_log

log = logging.getLogger(__name__)

#: Seconds between prunes: a few times an hour.
INTERVAL = 15 * 60.0
#: Batches one prune deletes at most before it yields to the next interval.
_MAX_BATCHES = 100


async def prune_expired(
    db: Database,
    retention: timedelta,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    max_batches: int = _MAX_BATCHES,
) -> int:
    """Delete the events older than ``retention``; returns how many."""
    cutoff = now() - retention
    total = 0
    for _ in range(max_batches):
        pruned = await db.run_single(lambda s: event_log.prune(s, older_than=cutoff))
        total += pruned
        if pruned == 0:
            break
        await asyncio.sleep(0)  # let the process's other work in between batches
    if total:
        log.info("pruned %d events older than %s", total, cutoff.isoformat(timespec="seconds"))
    return total


async def prune_forever(
    db: Database, retention: timedelta, stop: asyncio.Event, *, interval: float = INTERVAL
) -> None:
    """Prune now and every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            await prune_expired(db, retention)
        except Exception as exc:  # the next round tries again; the log only grows meanwhile
            log.warning("cannot prune the event log now (%s)", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)

"""Fan-out: events become deliveries.

One consumer of the event log, with one durable cursor (``webhooks``): each step
reads the next events, writes a delivery per endpoint that subscribes to each (a
delivery per 100 in batch mode) and per status callback, and moves the cursor, all
in one transaction. A process killed at any point either did all of a step or none
of it: no event is lost and none is fanned out twice. Only one process fans out at a
time (a transaction-scoped advisory lock on PostgreSQL; SQLite has one writer).

With no cursor yet (the first start of a fresh install, or of one upgraded to
webhooks) fan-out starts at the log's head: the log keeps days of events, and none
of them is owed to endpoints that did not exist when it was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import exists, insert, select, text
from sqlalchemy.orm import Session

from jooksms.events import log
from jooksms.events.types import Event
from jooksms.events.webhooks import callbacks, endpoints, wakeups
from jooksms.events.webhooks.endpoints import Endpoint
from jooksms.events.webhooks.tables import CALLBACKS, DELIVERIES, ENDPOINTS

CURSOR = "webhooks"
BATCH_SIZE = 100
#: pg_try_advisory_xact_lock's key for the fan-out ("jwh" in ASCII, any fixed number).
LOCK_KEY = 0x6A7768


def _anyone_listens(session: Session, position: log.Position, now: datetime) -> bool:
    """Whether any event may be owed to someone: an enabled endpoint, or a message
    sent with a status callback. When none is, the cursor moves to the log's head
    and nothing is read, so events cost nothing more than their rows.

    The head is taken before the check: a callback or endpoint committed after the
    check belongs to a transaction that was running, or not yet begun, when the head
    was taken, so its events come after the head and are read next time."""
    head = log.head(session)
    listens = session.execute(
        select(exists().where(ENDPOINTS.c.enabled.is_(True)) | exists().select_from(CALLBACKS))
    ).scalar()
    if listens:
        return True
    if head > position:
        log.save_cursor(session, CURSOR, head, now=now)
    return False


def fan_out(session: Session, *, now: datetime, limit: int = 1000) -> int | None:
    """Fan out up to ``limit`` events; how many were read, or None when another
    process holds the fan-out (it will do the work)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if (
        postgres
        and not session.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}
        ).scalar()
    ):
        return None
    position = log.load_cursor(session, CURSOR)
    if position is None:
        log.save_cursor(session, CURSOR, log.head(session), now=now)
        return 0
    if not _anyone_listens(session, position, now):
        return 0
    events, after = log.read(session, after=position, limit=limit)
    if after == position:
        return 0
    rows = rows_for(session, events, now=now)
    if rows:
        session.execute(insert(DELIVERIES), rows)
        wakeups.announce(session)
    log.save_cursor(session, CURSOR, after, now=now)
    return len(events)


def rows_for(session: Session, events: Sequence[Event], *, now: datetime) -> list[dict[str, Any]]:
    """The delivery rows of ``events``: to their accounts' enabled endpoints that
    subscribe to them, and to their messages' status callbacks."""
    subscribed = endpoints.enabled_for(session, [e.account_id for e in events])
    rows: list[dict[str, Any]] = []
    for account_endpoints in subscribed.values():
        for endpoint in account_endpoints:
            mine = [e for e in events if e.account_id == endpoint.account_id]
            rows.extend(endpoint_rows(endpoint, mine, now=now))
    message_ids = {e.message.id for e in events if e.message is not None}
    urls = callbacks.urls_for(session, message_ids)
    for event in events:
        found = urls.get(event.message.id) if event.message is not None else None
        if found is not None and found[0] == event.account_id:
            rows.append(_row(event.account_id, None, found[1], [event], now))
    return rows


def endpoint_rows(
    endpoint: Endpoint, events: Sequence[Event], *, now: datetime
) -> list[dict[str, Any]]:
    wanted = [e for e in events if e.account_id == endpoint.account_id and endpoint.wants(e.type)]
    if not endpoint.batch:
        return [_row(endpoint.account_id, endpoint.id, None, [e], now) for e in wanted]
    return [
        _row(endpoint.account_id, endpoint.id, None, wanted[i : i + BATCH_SIZE], now, batch=True)
        for i in range(0, len(wanted), BATCH_SIZE)
    ]


def body_of(events: Sequence[Event], *, batch: bool) -> bytes:
    """What is POSTed: the event's payload, or in batch mode
    ``{"type": "batch", "data": [payload, ...]}``."""
    if not batch:
        return orjson.dumps(events[0].payload())
    return orjson.dumps({"type": "batch", "data": [e.payload() for e in events]})


def webhook_id(events: Sequence[Event], *, batch: bool) -> str:
    """The ``webhook-id``: the event's id, or ``batch_<first id>_<last id>``. The same
    events get the same id on every retry and replay, so a receiver can de-duplicate."""
    if not batch:
        return str(events[0].id)
    return f"batch_{events[0].id}_{events[-1].id}"


def _row(
    account_id: int,
    endpoint_id: int | None,
    url: str | None,
    events: Sequence[Event],
    now: datetime,
    *,
    batch: bool = False,
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "endpoint_id": endpoint_id,
        "url": url,
        "webhook_id": webhook_id(events, batch=batch),
        "event_type": "batch" if batch else events[0].type,
        "first_event_id": events[0].id,
        "last_event_id": events[-1].id,
        "event_count": len(events),
        "body": body_of(events, batch=batch).decode(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }

"""Reading the event log in order, from a position, and pruning it.

Events are written by triggers on ``messages`` (``db.schema_extras``), in the same
statement as the change: nothing here writes message events.

The reading order is the order in which events became visible. On SQLite there is
one writer, so ids are committed in order and a position is an event id. On
PostgreSQL ids come from a sequence and are committed in any order: a reader at id
100 could see 102 commit while 101 is still in its transaction, and skipping ahead
would lose 101. So each event keeps the id of the transaction that wrote it
(``txid``), events are read in ``(txid, id)`` order, and only those of transactions
older than every transaction still running (``pg_snapshot_xmin``): all of them have
ended, so nothing can appear behind the position later. The price is that a write
transaction left open holds the readers back; ours last milliseconds.

Clients name positions by event id (``after=``, ``Last-Event-ID``); ``position_of``
turns one into a ``Position``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, delete, func, select, text
from sqlalchemy.orm import Session

from jooksms.db.models import Event as EventRow
from jooksms.db.models import EventCursor, Message
from jooksms.db.types import UTCDateTime
from jooksms.events.types import Event, MessageData
from jooksms.store.sql import is_postgres, upsert

EVENTS = cast(Table, EventRow.__table__)
CURSORS = cast(Table, EventCursor.__table__)
MESSAGES = cast(Table, Message.__table__)

_PRUNE_BATCH = 10_000
_LAST_ID = 2**62


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a reader is: after event ``event_id`` of transaction ``txid`` (0 on
    SQLite, where ids alone give the order)."""

    txid: int
    event_id: int


START = Position(0, 0)


def read(
    session: Session,
    *,
    after: Position,
    limit: int,
    account_id: int | None = None,
    types: Collection[str] | None = None,
) -> tuple[list[Event], Position]:
    """Up to ``limit`` events after ``after``, oldest first, and the position after
    the last one read (``after`` itself when there is none). Filtering by account or
    type still moves the position over what was passed by."""
    # The window is read first, then filtered: the position must move over events of
    # other accounts and types too, or a quiet consumer would re-read them forever.
    if is_postgres(session):
        rows = session.execute(_PG_WINDOW, {"t": after.txid, "i": after.event_id, "n": limit}).all()
        if not rows:
            return [], after
        position = Position(int(rows[-1].txid), int(rows[-1].id))
    else:
        rows = session.execute(_sqlite_window(after.event_id, limit)).all()
        if not rows:
            return [], after
        position = Position(0, int(rows[-1].id))
    wanted = None if types is None else frozenset(types)
    events = [
        event_of(row)
        for row in rows
        if (account_id is None or row.account_id == account_id)
        and (wanted is None or row.type in wanted)
    ]
    return events, position


_MESSAGE_COLUMNS = "external_id, number, from_number, direction, segments"

# The events in order first, by the index, then each one's message by its key: a
# plan written so, whatever the statistics say. Joined in one query, a young log's
# stale statistics had PostgreSQL sort the whole log and hash all messages for
# every window (38 ms at 40,000 events, growing with the log; 1.3 ms so). The
# visibility bound cuts the window short: in (txid, id) order, every event after
# the first of a transaction still running is of one too.
_PG_WINDOW = text(
    f"""
    SELECT e.id, e.account_id, e.type, e.message_id, e.error_code, e.data, e.created_at,
        m.external_id, m.number, m.from_number, m.direction, m.segments, e.txid
    FROM (
        SELECT * FROM events WHERE (txid, id) > (:t, :i) ORDER BY txid, id LIMIT :n
    ) AS e
    LEFT JOIN LATERAL (
        SELECT {_MESSAGE_COLUMNS} FROM messages WHERE messages.id = e.message_id LIMIT 1
    ) AS m ON true
    WHERE e.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
    ORDER BY e.txid, e.id
    """
).columns(created_at=UTCDateTime())


def _sqlite_window(after: int, limit: int) -> Select[Any]:
    """One writer, so ids are committed in order: the events after ``after``."""
    window = select(EVENTS).where(EVENTS.c.id > after).order_by(EVENTS.c.id).limit(limit)
    e = window.subquery("e")
    return (
        select(
            e.c.id,
            e.c.account_id,
            e.c.type,
            e.c.message_id,
            e.c.error_code,
            e.c.data,
            e.c.created_at,
            MESSAGES.c.external_id,
            MESSAGES.c.number,
            MESSAGES.c.from_number,
            MESSAGES.c.direction,
            MESSAGES.c.segments,
        )
        .select_from(e.outerjoin(MESSAGES, MESSAGES.c.id == e.c.message_id))
        .order_by(e.c.id)
    )


def position_of(session: Session, event_id: int) -> Position:
    """The position just after event ``event_id``, for a client that names it. An
    event pruned since takes the transaction of the nearest older one still kept."""
    if event_id <= 0:
        return START
    if not is_postgres(session):
        return Position(0, event_id)
    txid = session.execute(
        text("SELECT txid FROM events WHERE id <= :i ORDER BY id DESC LIMIT 1").bindparams(
            i=event_id
        )
    ).scalar()
    return Position(int(txid or 0), event_id)


def head(session: Session) -> Position:
    """Where a new consumer that wants only what happens from now on starts: after
    every event readable now (on PostgreSQL, of every transaction that has ended)."""
    if not is_postgres(session):
        return Position(0, int(session.execute(select(func.max(EVENTS.c.id))).scalar() or 0))
    xmin = session.execute(
        text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    ).scalar_one()
    return Position(int(xmin) - 1, _LAST_ID)


def load_cursor(session: Session, name: str) -> Position | None:
    row = session.execute(
        select(CURSORS.c.txid, CURSORS.c.event_id).where(CURSORS.c.name == name)
    ).first()
    return None if row is None else Position(int(row.txid), int(row.event_id))


def save_cursor(session: Session, name: str, position: Position, *, now: datetime) -> None:
    """Store a consumer's position, in the transaction that records what it did with
    the events up to it: a consumer killed at any moment starts where it left off."""
    values = {
        "name": name,
        "txid": position.txid,
        "event_id": position.event_id,
        "updated_at": now,
    }
    statement = upsert(session, CURSORS).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"],
            set_={k: statement.excluded[k] for k in ("txid", "event_id", "updated_at")},
        )
    )


def prune(session: Session, *, older_than: datetime) -> int:
    """Delete a batch of the oldest events written before ``older_than``; returns how
    many (call again while it returns a full batch). Reads the oldest ids only, so a
    log with nothing to prune costs one short index scan."""
    oldest = (
        select(EVENTS.c.id, EVENTS.c.created_at).order_by(EVENTS.c.id).limit(_PRUNE_BATCH)
    ).subquery()
    expired = select(oldest.c.id).where(oldest.c.created_at < older_than)
    result = session.execute(delete(EVENTS).where(EVENTS.c.id.in_(expired)))
    return int(getattr(result, "rowcount", 0) or 0)


def count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(EVENTS)).scalar_one())


def event_of(row: Any) -> Event:
    """An event from a row of the log joined to its message (``read``'s columns)."""
    message = None
    if row.message_id is not None and row.number is not None:
        message = MessageData(
            id=row.message_id,
            external_id=row.external_id,
            number=row.number,
            from_number=row.from_number,
            direction=row.direction,
            status=row.type.removeprefix("message."),
            error_code=row.error_code,
            segments=row.segments,
        )
    data = json.loads(row.data) if row.data else None
    return Event(row.id, row.account_id, row.type, row.created_at, message, data)

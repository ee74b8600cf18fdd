"""The message store on SQLite: one writer, so no row locks, and ``executemany``,
which loops in C, for batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    column,
    func,
    insert,
    select,
    table,
    update,
)
from sqlalchemy.orm import Session

from jooksms.db.schema_extras import SQLITE_INDEX_NEW
from jooksms.domain.status import Status
from jooksms.store.base import MessageStore
from jooksms.store.sql import MESSAGES, PARTS, PENDING, status_in
from jooksms.store.types import Applied, Moves, Sent
from jooksms.transports.base import DeliveryReport

# SQLite caps a statement near 32k bound parameters.
_CHUNK = 5000
# FTS5 exposes a hidden column named like its table; MATCH against it searches all.
_FTS = table("messages_fts", column("rowid"), column("messages_fts"))


class SQLiteStore(MessageStore):
    dialect = "sqlite"

    def _insert(self, session: Session, rows: list[dict[str, Any]]) -> list[int]:
        """One ``executemany`` on the driver.

        SQLAlchemy can only keep RETURNING in row order on SQLite by sending one
        statement per row, several times slower. Inside our write transaction (BEGIN
        IMMEDIATE: no other writer) SQLite gives each new row max(rowid) + 1, so the ids
        are the ones that follow the largest id before the insert; the check after it
        guards that. The full-text index is filled after, in one statement (see
        ``db.schema_extras``)."""
        dialect = session.get_bind().dialect
        before = session.scalar(select(func.max(MESSAGES.c.id))) or 0
        processors = _bind_processors(dialect)
        names = [c.name for c in MESSAGES.columns if c.name != "id"]
        converted: dict[tuple[str, Any], Any] = {}  # a batch shares a few timestamps

        def bound(name: str, value: Any) -> Any:
            process = processors.get(name)
            if process is None or value is None:
                return value
            key = (name, value)
            if key not in converted:
                converted[key] = process(value)
            return converted[key]

        session.connection().exec_driver_sql(
            f"INSERT INTO messages ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [tuple(bound(name, row[name]) for name in names) for row in rows],
        )
        after = session.scalar(select(func.max(MESSAGES.c.id))) or 0
        if after != before + len(rows):
            raise RuntimeError("SQLite did not assign consecutive ids to the inserted messages")
        session.connection().exec_driver_sql(SQLITE_INDEX_NEW, (before,))
        return list(range(before + 1, after + 1))

    def matches_words(self, words: list[str]) -> ColumnElement[bool]:
        # FTS5 phrase syntax: each word quoted, so no word is read as an operator.
        fts_query = " ".join(f'"{w}"' for w in words)
        return MESSAGES.c.id.in_(
            select(_FTS.c.rowid).where(_FTS.c.messages_fts.op("MATCH")(fts_query))
        )

    def _count_shard(self) -> int:
        return 0  # one writer: one row per account

    def _lock_due(self, due: Select[Any]) -> Select[Any]:
        return due  # one writer: a claim is a single UPDATE ... RETURNING

    def _move_many(
        self,
        session: Session,
        status: Status,
        params: list[dict[str, Any]],
        *,
        now: datetime,
        extra: dict[str, Any],
        sources: frozenset[Status],
    ) -> Moves:
        """Which messages may move is read first, then they move with one executemany:
        RETURNING cannot come back from an executemany, and with one writer nothing
        can change in between."""
        movable = self._movable(session, [p["mid"] for p in params], sources)
        if not movable:
            return Moves()
        session.execute(
            update(MESSAGES)
            .where(and_(MESSAGES.c.id == bindparam("mid"), status_in(sources)))
            .values(status=status.value, updated_at=now, **extra),
            [p for p in params if p["mid"] in movable],
        )
        return Moves.to(status, sorted(movable.items()))

    def _movable(
        self, session: Session, ids: list[int], sources: frozenset[Status]
    ) -> dict[int, int]:
        """The account of each of ``ids`` whose status is one of ``sources``."""
        wanted = sorted(set(ids))
        found: dict[int, int] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = session.execute(
                select(MESSAGES.c.id, MESSAGES.c.account_id).where(
                    MESSAGES.c.id.in_(wanted[start : start + _CHUNK]), status_in(sources)
                )
            )
            found.update({int(mid): int(account) for mid, account in rows})
        return found

    def _record_sent(self, session: Session, sent: Sequence[Sent], *, now: datetime) -> Moves:
        moves = self._move_to_sent(session, sent, now=now)
        parts = [
            {
                "message_id": s.message_id,
                "account_id": s.account_id,
                "connector": s.connector,
                "carrier_id": carrier_id,
                "seq": seq,
                "created_at": now,
            }
            for s in sent
            for seq, carrier_id in enumerate(s.carrier_ids, start=1)
        ]
        if not parts:
            return moves
        session.execute(insert(PARTS), parts)
        if session.execute(select(PENDING.c.connector).limit(1)).first() is not None:
            moves.extend(self._match_pending_of(session, sent, now=now))
        return moves

    def _record_outcomes(
        self, session: Session, outcomes: Sequence[DeliveryReport], *, now: datetime
    ) -> Applied:
        owner = self._owners(session, {(o.connector, o.carrier_id) for o in outcomes})
        matched = [
            (owner[o.connector, o.carrier_id], o)
            for o in outcomes
            if (o.connector, o.carrier_id) in owner
        ]
        moves = self._apply(session, matched, now=now)
        unmatched = [o for o in outcomes if (o.connector, o.carrier_id) not in owner]
        self._keep_pending(session, unmatched, now=now)
        return Applied(moves, unmatched)


_PROCESSORS: dict[str, dict[str, Any]] = {}


def _bind_processors(dialect: Any) -> dict[str, Any]:
    """The conversion to the driver's value of each column that needs one."""
    cached = _PROCESSORS.get(dialect.name)
    if cached is None:
        found = {c.name: c.type.bind_processor(dialect) for c in MESSAGES.columns}
        cached = _PROCESSORS[dialect.name] = {k: v for k, v in found.items() if v is not None}
    return cached

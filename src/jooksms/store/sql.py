"""What both message stores share: the table handles, the status condition in the
form the partial indexes need, and the dialect's INSERT with ON CONFLICT."""

from __future__ import annotations

from typing import cast

from sqlalchemy import ColumnElement, Table, literal_column
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from jooksms.db.models import (
    Contact,
    Message,
    MessageCount,
    MessagePart,
    PendingReceipt,
    PhoneNumber,
)
from jooksms.domain.status import Status

MESSAGES = cast(Table, Message.__table__)
PARTS = cast(Table, MessagePart.__table__)
PENDING = cast(Table, PendingReceipt.__table__)
COUNTS = cast(Table, MessageCount.__table__)
NUMBERS = cast(Table, PhoneNumber.__table__)
CONTACTS = cast(Table, Contact.__table__)


def status_in(statuses: frozenset[Status]) -> ColumnElement[bool]:
    """The status condition written out with literal values, in the very form of the
    partial indexes (``ix_messages_due``, ``ix_messages_leased``): SQLite uses a
    partial index only when the query repeats its condition, which a bound parameter
    cannot do, and an executemany cannot expand a bound list either. The values are
    our own constants, never user input."""
    if len(statuses) == 1:
        [only] = statuses
        return MESSAGES.c.status == literal_column(f"'{only.value}'")
    return MESSAGES.c.status.op("IN")(literal_column(f"({_listed(statuses)})"))


def status_sql(statuses: frozenset[Status], column: str = "status") -> str:
    """The same condition for the statements written out in SQL."""
    return f"{column} IN ({_listed(statuses)})"


def _listed(statuses: frozenset[Status]) -> str:
    return ", ".join(f"'{s.value}'" for s in sorted(statuses))


def upsert(session: Session | AsyncSession, table: Table) -> PgInsert | SqliteInsert:
    """``INSERT`` in the session's dialect, which can say ``ON CONFLICT``: both
    databases have it with the same meaning, SQLAlchemy only spells it per dialect."""
    if is_postgres(session):
        return pg_insert(table)
    return sqlite_insert(table)


def is_postgres(session: Session | AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"

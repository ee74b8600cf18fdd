"""The message store: the message lifecycle behind one interface (``MessageStore``),
one implementation per database, each holding all of its SQL.

``for_database`` picks the store of a database; ``of`` the store of a session's."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from jooksms.db.engine import Database
from jooksms.store.base import MessageStore
from jooksms.store.postgres import PostgresStore
from jooksms.store.sqlite import SQLiteStore

_STORES: dict[str, MessageStore] = {"sqlite": SQLiteStore(), "postgresql": PostgresStore()}


def for_dialect(name: str) -> MessageStore:
    try:
        return _STORES[name]
    except KeyError:
        raise ValueError(f"no message store for the {name!r} database") from None


def for_database(db: Database) -> MessageStore:
    return for_dialect("sqlite" if db.is_sqlite else "postgresql")


def of(session: Session | AsyncSession) -> MessageStore:
    return for_dialect(session.get_bind().dialect.name)


__all__ = ["MessageStore", "for_database", "for_dialect", "of"]

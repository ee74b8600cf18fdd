"""Accepting, reading, searching and canceling messages.

The accept path is the hot one: a request of 10,000 recipients costs a handful of
statements, never one per message (see PERFORMANCE-FACTS: batched writes are ten
times a transaction per row).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    column,
    func,
    insert,
    literal_column,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from jooksms.db.models import Contact, Message, MessageCount
from jooksms.db.types import utcnow
from jooksms.domain.encoding import SegmentInfo
from jooksms.domain.status import CANCELABLE, Direction, Status
from jooksms.errors import Conflict, NotFound, ValidationFailed
from jooksms.services.accounts import list_numbers
from jooksms.services.contacts import NameUpdate, contact_ids_by_number, upsert_names
from jooksms.services.pagination import Page, PageRequest

MESSAGES = cast(Table, Message.__table__)
CONTACTS = cast(Table, Contact.__table__)
COUNTS = cast(Table, MessageCount.__table__)
_COUNTER_SHARDS = 8
# FTS5 exposes a hidden column named like its table; MATCH against it searches all.
_FTS = table("messages_fts", column("rowid"), column("messages_fts"))
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """One outgoing message as validated at the edge: ``to`` is E.164 already."""

    to: str
    body: str
    info: SegmentInfo
    scheduled_at: datetime | None = None
    external_id: int | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True, slots=True)
class ContactView:
    id: int
    first_name: str
    last_name: str | None
    main_phone: str
    is_public: int
    status: int


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int
    direction: str
    status: str
    number: str
    from_number: str | None
    content: str
    external_id: int | None
    created_at: datetime
    updated_at: datetime
    scheduled_at: datetime | None
    segments: int
    encoding: str
    error_code: str | None
    contact: ContactView | None


@dataclass(frozen=True, slots=True)
class SearchFilter:
    number: str | None = None
    from_date: datetime | None = None
    to_date: datetime | None = None
    query: str | None = None


# -- accept -------------------------------------------------------------------


async def sender_for(session: AsyncSession, *, account_id: int, requested: str | None) -> str:
    """The ``from`` rule of the API: the requested number when the account owns it,
    otherwise the account's first number."""
    numbers = await list_numbers(session, account_id=account_id)
    if not numbers:
        raise ValidationFailed.field("from", "the account has no phone number to send from")
    return requested if requested in numbers else numbers[0]


async def accept(
    session: AsyncSession,
    *,
    account_id: int,
    from_number: str | None,
    drafts: Sequence[MessageDraft],
) -> list[int]:
    """Store the drafts as queued or scheduled messages; return their ids in order.
    The caller's transaction makes accepting and enqueuing one step."""
    if not drafts:
        return []
    sender = await sender_for(session, account_id=account_id, requested=from_number)
    contacts = await _contacts_for(session, account_id=account_id, drafts=drafts)
    now = utcnow()
    rows = [_row(account_id, sender, d, contacts.get(d.to), now) for d in drafts]
    ids: list[int] = []
    for start in range(0, len(rows), 2000):
        result = await session.scalars(
            insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True),
            rows[start : start + 2000],
        )
        ids.extend(result)
    await _count(session, account_id=account_id, added=len(ids))
    return ids


async def _contacts_for(
    session: AsyncSession, *, account_id: int, drafts: Sequence[MessageDraft]
) -> dict[str, int]:
    named = [
        NameUpdate(d.to, d.first_name, d.last_name) for d in drafts if d.first_name or d.last_name
    ]
    found = await upsert_names(session, account_id=account_id, updates=named) if named else {}
    unnamed = {d.to for d in drafts} - found.keys()
    if unnamed:
        found.update(await contact_ids_by_number(session, account_id=account_id, numbers=unnamed))
    return found


def _row(
    account_id: int, sender: str, d: MessageDraft, contact_id: int | None, now: datetime
) -> dict[str, object]:
    later = d.scheduled_at is not None and d.scheduled_at > now
    return {
        "account_id": account_id,
        "direction": Direction.SENDING.value,
        "status": (Status.SCHEDULED if later else Status.QUEUED).value,
        "number": d.to,
        "from_number": sender,
        "content": d.body,
        "external_id": d.external_id,
        "contact_id": contact_id,
        "segments": d.info.segments,
        "encoding": d.info.encoding.value,
        "scheduled_at": d.scheduled_at,
        "send_at": d.scheduled_at if later else now,
        "error_code": None,
        "created_at": now,
        "updated_at": now,
    }


async def _count(session: AsyncSession, *, account_id: int, added: int) -> None:
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    shard = random.randrange(_COUNTER_SHARDS) if dialect == "postgresql" else 0
    stmt = maker(COUNTS).values(account_id=account_id, shard=shard, n=added)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "shard"],
            set_={"n": COUNTS.c.n + stmt.excluded.n},
        )
    )


# -- read ---------------------------------------------------------------------


def _views() -> Select[tuple[object, ...]]:
    return select(
        MESSAGES,
        CONTACTS.c.first_name,
        CONTACTS.c.last_name,
        CONTACTS.c.main_phone,
        CONTACTS.c.is_public,
        CONTACTS.c.status.label("contact_status"),
    ).outerjoin(CONTACTS, CONTACTS.c.id == MESSAGES.c.contact_id)


def _view(row: object) -> MessageView:
    m = row._mapping  # type: ignore[attr-defined]
    contact = None
    if m["contact_id"] is not None:
        contact = ContactView(
            id=m["contact_id"],
            first_name=m["first_name"],
            last_name=m["last_name"],
            main_phone=m["main_phone"],
            is_public=m["is_public"],
            status=m["contact_status"],
        )
    return MessageView(
        id=m["id"],
        direction=m["direction"],
        status=m["status"],
        number=m["number"],
        from_number=m["from_number"],
        content=m["content"],
        external_id=m["external_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        scheduled_at=m["scheduled_at"],
        segments=m["segments"],
        encoding=m["encoding"],
        error_code=m["error_code"],
        contact=contact,
    )


async def get(session: AsyncSession, *, account_id: int, message_id: int) -> MessageView:
    row = (
        await session.execute(
            _views().where(MESSAGES.c.id == message_id, MESSAGES.c.account_id == account_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"message {message_id} not found")
    return _view(row)


async def get_by_external(
    session: AsyncSession, *, account_id: int, external_id: int
) -> MessageView:
    """The account's newest message carrying that external id."""
    row = (
        await session.execute(
            _views()
            .where(MESSAGES.c.account_id == account_id, MESSAGES.c.external_id == external_id)
            .order_by(MESSAGES.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        raise NotFound(f"no message with external_id {external_id}")
    return _view(row)


async def list_page(
    session: AsyncSession, *, account_id: int, page: PageRequest
) -> Page[MessageView]:
    total = await session.scalar(
        select(func.coalesce(func.sum(MessageCount.n), 0)).where(
            MessageCount.account_id == account_id
        )
    )
    rows = await session.execute(
        _views()
        .where(MESSAGES.c.account_id == account_id)
        .order_by(MESSAGES.c.id.desc())
        .limit(page.per_page)
        .offset(page.offset)
    )
    return Page(items=[_view(r) for r in rows], total=int(total or 0), request=page)


async def search(
    session: AsyncSession, *, account_id: int, criteria: SearchFilter, page: PageRequest
) -> Page[MessageView]:
    where = [MESSAGES.c.account_id == account_id, *_criteria(session, criteria)]
    total = await session.scalar(select(func.count()).select_from(MESSAGES).where(*where))
    rows = await session.execute(
        _views()
        .where(*where)
        .order_by(MESSAGES.c.id.desc())
        .limit(page.per_page)
        .offset(page.offset)
    )
    return Page(items=[_view(r) for r in rows], total=int(total or 0), request=page)


def _criteria(session: AsyncSession, c: SearchFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if c.number:
        where.append(MESSAGES.c.number == c.number)
    if c.from_date:
        where.append(MESSAGES.c.created_at >= c.from_date)
    if c.to_date:
        where.append(MESSAGES.c.created_at <= c.to_date)
    if c.query is not None:
        where.append(_matches(session.get_bind().dialect.name, search_words(c.query)))
    return where


def search_words(query: str) -> list[str]:
    """The words of a search query; a query with none is refused."""
    words = _WORD.findall(query.lower())
    if not words:
        raise ValidationFailed.field("query", "must contain at least one word")
    return words[:32]


def _matches(dialect: str, words: list[str]) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return literal_column("messages.content_tsv").op("@@")(
            func.plainto_tsquery(literal_column("'simple'"), " ".join(words))
        )
    # FTS5 phrase syntax: each word quoted, so no word is read as an operator.
    fts_query = " ".join(f'"{w}"' for w in words)
    return MESSAGES.c.id.in_(select(_FTS.c.rowid).where(_FTS.c.messages_fts.op("MATCH")(fts_query)))


# -- cancel -------------------------------------------------------------------


async def cancel(session: AsyncSession, *, account_id: int, message_id: int) -> MessageView:
    """Cancel a message that has not left yet. The status check and the change are one
    UPDATE, so a worker claiming the row at the same moment cannot also send it."""
    result = await session.execute(
        update(MESSAGES)
        .where(
            and_(
                MESSAGES.c.id == message_id,
                MESSAGES.c.account_id == account_id,
                MESSAGES.c.status.in_([s.value for s in CANCELABLE]),
            )
        )
        .values(status=Status.CANCELED.value, updated_at=utcnow(), send_at=None)
    )
    current = await get(session, account_id=account_id, message_id=message_id)
    if not getattr(result, "rowcount", 0):
        raise Conflict(
            f"message {message_id} is {current.status} and can no longer be canceled",
            fields={"status": current.status},
        )
    return current

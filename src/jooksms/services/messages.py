"""Accepting, reading, searching and canceling messages.

The accept path is the hot one: a request of 10,000 recipients costs a handful of
statements, never one per message (see PERFORMANCE-FACTS: batched writes are ten
times a transaction per row).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from jooksms.db.models import Contact, Message, MessageCount, PhoneNumber
from jooksms.db.schema_extras import SQLITE_INDEX_NEW
from jooksms.db.types import utcnow
from jooksms.domain.encoding import SegmentInfo, analyse
from jooksms.domain.phone import normalise_or_keep
from jooksms.domain.status import CANCELABLE, Direction, Status
from jooksms.errors import Conflict, JookSMSError, NotFound, ValidationFailed
from jooksms.events.webhooks import callbacks as webhook_callbacks
from jooksms.services.pagination import Page, PageRequest

MESSAGES = cast(Table, Message.__table__)
CONTACTS = cast(Table, Contact.__table__)
COUNTS = cast(Table, MessageCount.__table__)
NUMBERS = cast(Table, PhoneNumber.__table__)
_COUNTER_SHARDS = 8
# SQLite and asyncpg both cap a statement near 32k bound parameters.
_CHUNK = 5000
# FTS5 exposes a hidden column named like its table; MATCH against it searches all.
_FTS = table("messages_fts", column("rowid"), column("messages_fts"))
_SEARCH = table("message_search", column("message_id"), column("tsv"))
_CONTACT_COLUMNS = select(
    CONTACTS.c.id,
    CONTACTS.c.first_name,
    CONTACTS.c.last_name,
    CONTACTS.c.main_phone,
    CONTACTS.c.is_public,
    CONTACTS.c.status,
)
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
    #: Called on each status change of the message (events.webhooks.callbacks).
    status_callback: str | None = None


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


@dataclass(frozen=True, slots=True)
class AcceptJob:
    """One request's messages: they share an account and a requested sender.
    ``with_views`` asks for the stored messages back, as the single send answers."""

    account_id: int
    from_number: str | None
    drafts: Sequence[MessageDraft]
    with_views: bool = False


@dataclass(frozen=True, slots=True)
class Accepted:
    ids: list[int]
    views: list[MessageView]


async def accept(
    session: AsyncSession,
    *,
    account_id: int,
    from_number: str | None,
    drafts: Sequence[MessageDraft],
) -> list[int]:
    """Store the drafts as queued or scheduled messages; return their ids in order.
    The caller's transaction makes accepting and enqueuing one step."""
    job = AcceptJob(account_id, from_number, drafts)
    [outcome] = await session.run_sync(accept_batch, [job])
    if isinstance(outcome, JookSMSError):
        raise outcome
    return outcome.ids


def accept_batch(session: Session, jobs: Sequence[AcceptJob]) -> list[Accepted | JookSMSError]:
    """Accept many requests' messages with a few statements in all.

    A job that cannot be accepted (its account has no number to send from) gets its
    error in its place and writes nothing; the others go ahead. Each statement covers
    the whole batch, so the cost per message falls as the batch grows. Synchronous,
    so that SQLite can run it on its writer thread in one hop (``Database.run_write``).
    """
    numbers = _numbers_by_account(session, {j.account_id for j in jobs})
    outcomes: list[Accepted | JookSMSError] = [Accepted([], []) for _ in jobs]
    accepted: dict[int, list[int]] = {}  # account -> indexes of its accepted jobs
    for index, job in enumerate(jobs):
        if not job.drafts:
            continue
        if not numbers.get(job.account_id):
            outcomes[index] = ValidationFailed.field(
                "from", "the account has no phone number to send from"
            )
            continue
        accepted.setdefault(job.account_id, []).append(index)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    order: list[int] = []  # the job index of each block of rows, in row order
    for account_id, indexes in accepted.items():
        owned = numbers[account_id]
        drafts = [d for i in indexes for d in jobs[i].drafts]
        _save_names(session, account_id=account_id, drafts=drafts)
        for i in indexes:
            sender = _sender(owned, jobs[i].from_number)
            rows.extend(_row(account_id, sender, d, now) for d in jobs[i].drafts)
            order.append(i)
    ids = _insert(session, rows)
    webhook_callbacks.store(session, jobs, order, ids)
    _count(session, {a: sum(len(jobs[i].drafts) for i in ix) for a, ix in accepted.items()})
    _hand_out(session, jobs, order, rows, ids, outcomes)
    return outcomes


def _hand_out(
    session: Session,
    jobs: Sequence[AcceptJob],
    order: list[int],
    rows: list[dict[str, Any]],
    ids: list[int],
    outcomes: list[Accepted | JookSMSError],
) -> None:
    """Give each job its ids, and its views when it asked for them. Views are built
    from the rows just written rather than read back, which would double the work."""
    wanted: dict[int, set[str]] = {}  # account -> numbers whose contact a view shows
    for i in order:
        if jobs[i].with_views:
            wanted.setdefault(jobs[i].account_id, set()).update(d.to for d in jobs[i].drafts)
    contacts = {
        account_id: contacts_by_number(session, account_id, numbers)
        for account_id, numbers in wanted.items()
    }
    position = 0
    for i in order:
        count = len(jobs[i].drafts)
        found = contacts.get(jobs[i].account_id, {})
        views = [
            _view(rows[p], found.get(rows[p]["number"]), ids[p])
            for p in range(position, position + count)
            if jobs[i].with_views
        ]
        outcomes[i] = Accepted(ids[position : position + count], views)
        position += count


@dataclass(frozen=True, slots=True)
class Inbound:
    """An SMS a client sent to one of our numbers."""

    source: str
    destination: str
    text: str


def receive_batch(session: Session, inbound: Sequence[Inbound]) -> tuple[list[int], list[Inbound]]:
    """Store incoming SMS in the accounts that own their destination numbers.

    Returns the new message ids and the SMS that no account owns the number of: those
    are the caller's to log and count, never stored in an account.
    """
    now = utcnow()
    destinations = {normalise_or_keep(i.destination) for i in inbound}
    owners = dict(
        session.execute(
            select(NUMBERS.c.number, NUMBERS.c.account_id).where(NUMBERS.c.number.in_(destinations))
        ).all()
    )
    rows: list[dict[str, Any]] = []
    unowned: list[Inbound] = []
    added: dict[int, int] = {}
    for sms in inbound:
        account_id = owners.get(normalise_or_keep(sms.destination))
        if account_id is None:
            unowned.append(sms)
            continue
        rows.append(
            _blank_row(
                account_id=account_id,
                direction=Direction.INCOMING,
                status=Status.RECEIVED,
                number=normalise_or_keep(sms.source),
                from_number=normalise_or_keep(sms.destination),
                content=sms.text,
                info=analyse(sms.text),
                now=now,
            )
        )
        added[account_id] = added.get(account_id, 0) + 1
    ids = _insert(session, rows)
    _count(session, added)
    return ids, unowned


def _sender(owned: list[str], requested: str | None) -> str:
    """The ``from`` rule of the API: the requested number when the account owns it,
    otherwise the account's first number."""
    return requested if requested in owned else owned[0]


def _numbers_by_account(session: Session, account_ids: set[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(NUMBERS.c.account_id, NUMBERS.c.number)
        .where(NUMBERS.c.account_id.in_(account_ids))
        .order_by(NUMBERS.c.id)
    )
    owned: dict[int, list[str]] = {}
    for account_id, number in rows:
        owned.setdefault(account_id, []).append(number)
    return owned


def _insert(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows; return their ids in row order."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "sqlite":
        return _insert_sqlite(session, rows)
    return _insert_postgres(session, rows)


def _insert_postgres(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Take the ids from the sequence first, then insert every row with one
    ``INSERT ... SELECT FROM unnest(...)``: one statement whatever the batch size,
    and the ids are in row order by construction (RETURNING promises no order)."""
    ids = list(
        session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": len(rows)},
        )
    )
    columns = {name: [row[name] for row in rows] for name in _PG_ARRAYS if name != "id"}
    session.execute(_PG_INSERT, {"id": ids, **columns})
    return ids


def _insert_sqlite(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """One ``executemany`` on the driver, which loops in C.

    SQLAlchemy can only keep RETURNING in row order on SQLite by sending one statement
    per row, several times slower. Inside our write transaction (BEGIN IMMEDIATE: no
    other writer) SQLite gives each new row max(rowid) + 1, so the ids are the ones
    that follow the largest id before the insert; the check after it guards that.
    """
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


_PG_ARRAYS = {
    "id": "bigint",
    "account_id": "bigint",
    "direction": "text",
    "status": "text",
    "number": "text",
    "from_number": "text",
    "content": "text",
    "external_id": "bigint",
    "segments": "smallint",
    "encoding": "text",
    "scheduled_at": "timestamptz",
    "send_at": "timestamptz",
    "error_code": "text",
    "error_message": "text",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "attempts": "smallint",
    "lease_until": "timestamptz",
    "connector": "text",
    "sending_at": "timestamptz",
    "sent_at": "timestamptz",
    "delivered_at": "timestamptz",
    "failed_at": "timestamptz",
    "canceled_at": "timestamptz",
}
_PG_INSERT = text(
    f"INSERT INTO messages ({', '.join(_PG_ARRAYS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{n} AS {t}[])' for n, t in _PG_ARRAYS.items())})"
)

_PROCESSORS: dict[str, dict[str, Any]] = {}


def _bind_processors(dialect: Any) -> dict[str, Any]:
    """The conversion to the driver's value of each column that needs one."""
    cached = _PROCESSORS.get(dialect.name)
    if cached is None:
        found = {c.name: c.type.bind_processor(dialect) for c in MESSAGES.columns}
        cached = _PROCESSORS[dialect.name] = {k: v for k, v in found.items() if v is not None}
    return cached


def _save_names(session: Session, *, account_id: int, drafts: Sequence[MessageDraft]) -> None:
    """Names given with a message create the contact of its number, or update the one
    that holds it. Messages without names touch no contact at all."""
    named = {d.to: d for d in drafts if d.first_name or d.last_name}  # the last one wins
    if not named:
        return
    found = _first_contact_by_number(session, account_id, set(named))
    now = utcnow()
    _rename(session, [(found[n], d) for n, d in named.items() if n in found], now)
    new = [d for n, d in named.items() if n not in found and d.first_name]
    for start in range(0, len(new), _CHUNK):
        session.execute(
            insert(CONTACTS),
            [
                {
                    "account_id": account_id,
                    "first_name": d.first_name,
                    "last_name": d.last_name,
                    "main_phone": d.to,
                    "created_at": now,
                    "updated_at": now,
                }
                for d in new[start : start + _CHUNK]
            ],
        )


def _first_contact_by_number(
    session: Session, account_id: int, numbers: set[str]
) -> dict[str, int]:
    """The first contact (lowest id) holding each number, for the numbers that have one."""
    wanted = sorted(numbers)
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            select(CONTACTS.c.main_phone, func.min(CONTACTS.c.id))
            .where(
                CONTACTS.c.account_id == account_id,
                CONTACTS.c.main_phone.in_(wanted[start : start + _CHUNK]),
            )
            .group_by(CONTACTS.c.main_phone)
        )
        found.update({phone: int(cid) for phone, cid in rows})
    return found


def _rename(session: Session, changes: list[tuple[int, MessageDraft]], now: datetime) -> None:
    """Apply the names sent with messages; a name left out is left as it was."""
    by_fields: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for contact_id, d in changes:
        values = {k: v for k, v in (("first_name", d.first_name), ("last_name", d.last_name)) if v}
        by_fields.setdefault(tuple(values), []).append({"cid": contact_id, **values})
    for fields, batch in by_fields.items():
        session.execute(
            update(CONTACTS)
            .where(CONTACTS.c.id == bindparam("cid"))
            .values({**{f: bindparam(f) for f in fields}, "updated_at": now}),
            batch,
        )


def _row(account_id: int, sender: str, d: MessageDraft, now: datetime) -> dict[str, Any]:
    later = d.scheduled_at is not None and d.scheduled_at > now
    return _blank_row(
        account_id=account_id,
        direction=Direction.SENDING,
        status=Status.SCHEDULED if later else Status.QUEUED,
        number=d.to,
        from_number=sender,
        content=d.body,
        info=d.info,
        now=now,
        external_id=d.external_id,
        scheduled_at=d.scheduled_at,
        send_at=d.scheduled_at if later else now,
    )


def _blank_row(
    *,
    account_id: int,
    direction: Direction,
    status: Status,
    number: str,
    from_number: str,
    content: str,
    info: SegmentInfo,
    now: datetime,
    external_id: int | None = None,
    scheduled_at: datetime | None = None,
    send_at: datetime | None = None,
) -> dict[str, Any]:
    """Every column of a new message row (the bulk inserts name them all)."""
    return {
        "account_id": account_id,
        "direction": direction.value,
        "status": status.value,
        "number": number,
        "from_number": from_number,
        "content": content,
        "external_id": external_id,
        "segments": info.segments,
        "encoding": info.encoding.value,
        "scheduled_at": scheduled_at,
        "send_at": send_at,
        "error_code": None,
        "error_message": None,
        "created_at": now,
        "updated_at": now,
        "attempts": 0,
        "lease_until": None,
        "connector": None,
        "sending_at": None,
        "sent_at": None,
        "delivered_at": None,
        "failed_at": None,
        "canceled_at": None,
    }


def _count(session: Session, added: dict[int, int]) -> None:
    if not added:
        return
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    # One row per account on SQLite (one writer); spread over shards on PostgreSQL so
    # that concurrent writers do not queue on one row lock.
    shard = random.randrange(_COUNTER_SHARDS) if dialect == "postgresql" else 0
    stmt = maker(COUNTS).values(
        [{"account_id": a, "shard": shard, "n": n} for a, n in sorted(added.items())]
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "shard"],
            set_={"n": COUNTS.c.n + stmt.excluded.n},
        )
    )


# -- read ---------------------------------------------------------------------


def _view(m: Mapping[str, Any], contact: ContactView | None, message_id: int = 0) -> MessageView:
    return MessageView(
        id=message_id or m["id"],
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


def contacts_by_number(
    session: Session, account_id: int, numbers: set[str]
) -> dict[str, ContactView]:
    """The contact each number belongs to now (the first, where several share it).

    A message shows the contact its number belongs to when it is read, not when it
    was sent: a contact made, renumbered or deleted later is reflected.
    """
    if not numbers:
        return {}
    first = (
        select(func.min(CONTACTS.c.id))
        .where(CONTACTS.c.account_id == account_id, CONTACTS.c.main_phone.in_(sorted(numbers)))
        .group_by(CONTACTS.c.main_phone)
    )
    rows = session.execute(_CONTACT_COLUMNS.where(CONTACTS.c.id.in_(first)))
    return {row.main_phone: ContactView(*row) for row in rows}


async def get(session: AsyncSession, *, account_id: int, message_id: int) -> MessageView:
    rows = await _fetch(
        session,
        account_id,
        select(MESSAGES).where(MESSAGES.c.id == message_id, MESSAGES.c.account_id == account_id),
    )
    if not rows:
        raise NotFound(f"message {message_id} not found")
    return rows[0]


async def get_by_external(
    session: AsyncSession, *, account_id: int, external_id: int
) -> MessageView:
    """The account's newest message carrying that external id."""
    rows = await _fetch(
        session,
        account_id,
        select(MESSAGES)
        .where(MESSAGES.c.account_id == account_id, MESSAGES.c.external_id == external_id)
        .order_by(MESSAGES.c.id.desc())
        .limit(1),
    )
    if not rows:
        raise NotFound(f"no message with external_id {external_id}")
    return rows[0]


async def list_page(
    session: AsyncSession, *, account_id: int, page: PageRequest
) -> Page[MessageView]:
    total = await session.scalar(
        select(func.coalesce(func.sum(COUNTS.c.n), 0)).where(COUNTS.c.account_id == account_id)
    )
    items = await _fetch(
        session,
        account_id,
        select(MESSAGES)
        .where(MESSAGES.c.account_id == account_id)
        .order_by(MESSAGES.c.id.desc())
        .limit(page.per_page)
        .offset(page.offset),
    )
    return Page(items=items, total=int(total or 0), request=page)


async def search(
    session: AsyncSession, *, account_id: int, criteria: SearchFilter, page: PageRequest
) -> Page[MessageView]:
    """Search results use the flat form, which carries no contact."""
    where = [MESSAGES.c.account_id == account_id, *_criteria(session, criteria)]
    total = await session.scalar(select(func.count()).select_from(MESSAGES).where(*where))
    items = await _fetch(
        session,
        account_id,
        select(MESSAGES)
        .where(*where)
        .order_by(MESSAGES.c.id.desc())
        .limit(page.per_page)
        .offset(page.offset),
        contacts=False,
    )
    return Page(items=items, total=int(total or 0), request=page)


async def _fetch(
    session: AsyncSession, account_id: int, query: Select[Any], *, contacts: bool = True
) -> list[MessageView]:
    rows = (await session.execute(query)).all()
    found: dict[str, ContactView] = {}
    if contacts and rows:
        numbers = {row.number for row in rows}
        found = await session.run_sync(contacts_by_number, account_id, numbers)
    return [_view(row._mapping, found.get(row.number)) for row in rows]


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
        return MESSAGES.c.id.in_(
            select(_SEARCH.c.message_id).where(
                _SEARCH.c.tsv.op("@@")(
                    func.plainto_tsquery(literal_column("'simple'"), " ".join(words))
                )
            )
        )
    # FTS5 phrase syntax: each word quoted, so no word is read as an operator.
    fts_query = " ".join(f'"{w}"' for w in words)
    return MESSAGES.c.id.in_(select(_FTS.c.rowid).where(_FTS.c.messages_fts.op("MATCH")(fts_query)))


# -- cancel -------------------------------------------------------------------


async def cancel(session: AsyncSession, *, account_id: int, message_id: int) -> MessageView:
    """Cancel a message that has not left yet. The status check and the change are one
    UPDATE, so a worker claiming the row at the same moment cannot also send it."""
    now = utcnow()
    result = await session.execute(
        update(MESSAGES)
        .where(
            and_(
                MESSAGES.c.id == message_id,
                MESSAGES.c.account_id == account_id,
                MESSAGES.c.status.in_([s.value for s in CANCELABLE]),
            )
        )
        .values(status=Status.CANCELED.value, updated_at=now, canceled_at=now, send_at=None)
    )
    current = await get(session, account_id=account_id, message_id=message_id)
    if not getattr(result, "rowcount", 0):
        raise Conflict(
            f"message {message_id} is {current.status} and can no longer be canceled",
            fields={"status": current.status},
        )
    return current

"""Accepting, reading, searching and canceling messages.

The accept path is the hot one: a request of 10,000 recipients costs a handful of
statements, never one per message (see PERFORMANCE-FACTS: batched writes are ten
times a transaction per row).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from jooksms import store as stores
from jooksms.db.types import utcnow
from jooksms.domain.encoding import SegmentInfo, analyse
from jooksms.domain.phone import normalise_or_keep
from jooksms.domain.status import Direction, Status
from jooksms.errors import Conflict, JookSMSError, NotFound, ValidationFailed
from jooksms.events.webhooks import callbacks as webhook_callbacks
from jooksms.services.pagination import Page, PageRequest
from jooksms.store.sql import CONTACTS, COUNTS, MESSAGES, NUMBERS
from jooksms.transports.base import IncomingSms

# SQLite and asyncpg both cap a statement near 32k bound parameters.
_CHUNK = 5000
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
    store = stores.of(session)
    ids = store.insert_messages(session, rows)
    webhook_callbacks.store(session, jobs, order, ids)
    store.count_added(
        session, {a: sum(len(jobs[i].drafts) for i in ix) for a, ix in accepted.items()}
    )
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


def receive_batch(
    session: Session, inbound: Sequence[IncomingSms]
) -> tuple[list[int], list[IncomingSms]]:
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
    unowned: list[IncomingSms] = []
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
    store = stores.of(session)
    ids = store.insert_messages(session, rows)
    store.count_added(session, added)
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
        where.append(stores.of(session).matches_words(search_words(c.query)))
    return where


def search_words(query: str) -> list[str]:
    """The words of a search query; a query with none is refused."""
    words = _WORD.findall(query.lower())
    if not words:
        raise ValidationFailed.field("query", "must contain at least one word")
    return words[:32]


# -- cancel -------------------------------------------------------------------


async def cancel(session: AsyncSession, *, account_id: int, message_id: int) -> MessageView:
    """Cancel a message that has not left yet (the store's one UPDATE decides, so a
    worker claiming it at the same moment cannot also send it)."""
    now = utcnow()
    moved = await session.run_sync(
        lambda s: stores.of(s).cancel(s, account_id=account_id, message_id=message_id, now=now)
    )
    current = await get(session, account_id=account_id, message_id=message_id)
    if not moved:
        raise Conflict(
            f"message {message_id} is {current.status} and can no longer be canceled",
            fields={"status": current.status},
        )
    return current

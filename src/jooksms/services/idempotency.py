"""``Idempotency-Key`` on the send endpoints: a request retried with the same key gets
the first answer again, and no new messages.

The key is claimed in the very transaction that stores the request's messages (see
``services.intake``), with ``INSERT ... ON CONFLICT DO NOTHING``, and the answer is
stored there too. So a key and its messages are committed together or not at all,
and of two requests with one key only one can claim it: on PostgreSQL the second
insert waits for the first transaction and then finds the key taken, on SQLite the
writer is single. The request that finds the key taken answers what is stored.
As Stripe does, a key reused for a different request is refused (422), and only
accepted requests are kept: one refused before or by the store may be sent again
with its key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import orjson
from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from jooksms.db.engine import Database
from jooksms.db.models import IdempotencyKey
from jooksms.db.types import utcnow
from jooksms.errors import Conflict, ValidationFailed
from jooksms.services.messages import Accepted, AcceptJob
from jooksms.store.sql import upsert

if TYPE_CHECKING:  # the intake calls this module's claim(); no import cycle at run time
    from jooksms.services.intake import Intake

HEADER = "Idempotency-Key"
KEPT = timedelta(hours=24)
_MAX_LENGTH = 255

_KEYS = cast(Table, IdempotencyKey.__table__)


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: bytes
    replayed: bool


@dataclass(slots=True)
class Claim:
    """One request's key, and the answer it gets once its messages are stored."""

    account_id: int
    key: str
    fingerprint: str
    answer: bytes | None = field(default=None)


class KeyTaken(Exception):
    """Another request holds this key: answer what it stored."""


def checked_key(value: str) -> str:
    """The header's value, or a 422 naming the header."""
    if not 1 <= len(value) <= _MAX_LENGTH or not value.isascii() or not value.isprintable():
        raise ValidationFailed.field(
            HEADER, f"must be 1 to {_MAX_LENGTH} printable ASCII characters"
        )
    return value


def fingerprint(method: str, path: str, payload: dict[str, Any]) -> str:
    """The same request, whatever the order of its fields or its encoding (JSON or form)."""
    canonical = orjson.dumps([method, path.rstrip("/"), payload], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


async def stored_answer(session: AsyncSession, claim: Claim, *, now: datetime) -> Answer | None:
    """What a request with this key got, if one did in the last 24 hours; a 422 when
    that request was a different one."""
    row = (
        await session.execute(
            select(IdempotencyKey.fingerprint, IdempotencyKey.status_code, IdempotencyKey.answer)
            .where(IdempotencyKey.account_id == claim.account_id)
            .where(IdempotencyKey.key == claim.key)
            .where(IdempotencyKey.created_at >= now - KEPT)
        )
    ).first()
    if row is None or row.answer is None or row.status_code is None:
        return None
    if row.fingerprint != claim.fingerprint:
        raise ValidationFailed.field(
            HEADER, "was already used with a different request; use a new key for a new request"
        )
    return Answer(row.status_code, row.answer.encode(), replayed=True)


# -- inside the intake's transaction (a synchronous Session) ----------------------------


def claim(session: Session, claims: list[Claim], *, now: datetime) -> list[bool]:
    """Claim each key; whether each was won. An expired row of the key goes first."""
    won = [False] * len(claims)
    # In one order everywhere, so two transactions claiming the same keys cannot
    # each wait for the other.
    for index in sorted(range(len(claims)), key=lambda i: (claims[i].account_id, claims[i].key)):
        item = claims[index]
        session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.account_id == item.account_id)
            .where(IdempotencyKey.key == item.key)
            .where(IdempotencyKey.created_at < now - KEPT)
        )
        inserted = session.execute(
            upsert(session, _KEYS)
            .values(
                account_id=item.account_id,
                key=item.key,
                fingerprint=item.fingerprint,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        ).first()
        won[index] = inserted is not None
    return won


def store_answer(session: Session, item: Claim, status_code: int, answer: bytes) -> None:
    item.answer = answer
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.account_id == item.account_id)
        .where(IdempotencyKey.key == item.key)
        .values(status_code=status_code, answer=answer.decode())
    )


def release(session: Session, item: Claim) -> None:
    """The request was refused: its key may be used again."""
    session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.account_id == item.account_id)
        .where(IdempotencyKey.key == item.key)
    )


def prune(session: Session, *, now: datetime) -> None:
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEPT))


async def send_once(
    db: Database,
    intake: Intake,
    job: AcceptJob,
    item: Claim,
    render: Callable[[Accepted], bytes],
) -> Answer:
    """Accept ``job`` under ``item``'s key, or answer what the key's request got."""
    for _ in range(3):  # again if the key's holder was refused and let the key go
        async with db.read() as session:
            stored = await stored_answer(session, item, now=utcnow())
        if stored is not None:
            return stored
        try:
            await intake.submit(job, claim=item, render=render)
        except KeyTaken:
            continue
        assert item.answer is not None
        return Answer(200, item.answer, replayed=False)
    raise Conflict(f"another request with this {HEADER} is in progress; try again")

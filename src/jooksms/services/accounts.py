"""Accounts, the numbers they own, and their API clients."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jooksms.db.models import Account, ApiClient, PhoneNumber
from jooksms.domain.phone import InvalidPhoneNumber, to_e164
from jooksms.errors import Conflict, NotFound, ValidationFailed


@dataclass(frozen=True, slots=True)
class NewClient:
    client_id: str
    client_secret: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    """Secrets and tokens are 256-bit random values, so a plain SHA-256 cannot be
    brute-forced; a slow password hash would only slow every request down."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_account(session: AsyncSession, *, name: str, numbers: list[str]) -> Account:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed.field("name", "must be 1 to 200 characters")
    account = Account(name=name)
    session.add(account)
    await session.flush()
    for number in numbers:
        await add_number(session, account_id=account.id, number=number)
    return account


async def get_account(session: AsyncSession, *, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


async def add_number(session: AsyncSession, *, account_id: int, number: str) -> PhoneNumber:
    try:
        e164 = to_e164(number)
    except InvalidPhoneNumber as exc:
        raise ValidationFailed.field("number", str(exc)) from None
    await get_account(session, account_id=account_id)
    owned = PhoneNumber(account_id=account_id, number=e164)
    session.add(owned)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"number {e164} already belongs to an account") from None
    return owned


async def list_numbers(session: AsyncSession, *, account_id: int) -> list[str]:
    """The account's numbers, first number first."""
    rows = await session.scalars(
        select(PhoneNumber.number)
        .where(PhoneNumber.account_id == account_id)
        .order_by(PhoneNumber.id)
    )
    return list(rows)


async def create_client(
    session: AsyncSession, *, account_id: int, name: str | None = None
) -> NewClient:
    if name is not None and len(name) > 200:
        raise ValidationFailed.field("name", "must be at most 200 characters")
    await get_account(session, account_id=account_id)
    client_id = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiClient(
            account_id=account_id, client_id=client_id, secret_hash=hash_secret(secret), name=name
        )
    )
    await session.flush()
    return NewClient(client_id=client_id, client_secret=secret)

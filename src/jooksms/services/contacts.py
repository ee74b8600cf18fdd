"""Contacts and contact groups of one account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jooksms.db.models import Contact, ContactGroup, ContactGroupMember
from jooksms.db.types import utcnow
from jooksms.errors import Conflict, NotFound
from jooksms.services.pagination import Page, PageRequest
from jooksms.store.sql import upsert

MEMBERS = cast(Table, ContactGroupMember.__table__)


@dataclass(frozen=True, slots=True)
class ContactFields:
    first_name: str
    last_name: str | None
    main_phone: str
    reference: str | None = None


async def get_contact(session: AsyncSession, *, account_id: int, contact_id: int) -> Contact:
    contact = await session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.account_id == account_id)
    )
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    return contact


async def create_contact(
    session: AsyncSession, *, account_id: int, fields: ContactFields, group_id: int | None = None
) -> Contact:
    if group_id is not None:
        await get_group(session, account_id=account_id, group_id=group_id)
    contact = Contact(
        account_id=account_id,
        first_name=fields.first_name,
        last_name=fields.last_name,
        main_phone=fields.main_phone,
        reference=fields.reference,
    )
    session.add(contact)
    await session.flush()
    if group_id is not None:
        await add_members(
            session, account_id=account_id, group_id=group_id, contact_ids=[contact.id]
        )
    return contact


async def update_contact(
    session: AsyncSession, *, account_id: int, contact_id: int, changes: dict[str, str | None]
) -> Contact:
    contact = await get_contact(session, account_id=account_id, contact_id=contact_id)
    for name, value in changes.items():
        setattr(contact, name, value)
    contact.updated_at = utcnow()
    await session.flush()
    return contact


async def delete_contact(session: AsyncSession, *, account_id: int, contact_id: int) -> None:
    contact = await get_contact(session, account_id=account_id, contact_id=contact_id)
    await session.delete(contact)


async def list_contacts(
    session: AsyncSession, *, account_id: int, page: PageRequest, group_id: int | None = None
) -> Page[Contact]:
    where = [Contact.account_id == account_id]
    if group_id is not None:
        await get_group(session, account_id=account_id, group_id=group_id)
        where.append(
            Contact.id.in_(
                select(ContactGroupMember.contact_id).where(ContactGroupMember.group_id == group_id)
            )
        )
    total = await session.scalar(select(func.count()).select_from(Contact).where(*where))
    rows = await session.scalars(
        select(Contact)
        .where(*where)
        .order_by(Contact.id.desc())
        .limit(page.per_page)
        .offset(page.offset)
    )
    return Page(items=list(rows), total=total or 0, request=page)


# -- groups -----------------------------------------------------------------


async def get_group(session: AsyncSession, *, account_id: int, group_id: int) -> ContactGroup:
    group = await session.scalar(
        select(ContactGroup).where(
            ContactGroup.id == group_id, ContactGroup.account_id == account_id
        )
    )
    if group is None:
        raise NotFound(f"contact group {group_id} not found")
    return group


async def create_group(session: AsyncSession, *, account_id: int, name: str) -> ContactGroup:
    group = ContactGroup(account_id=account_id, name=name)
    session.add(group)
    await _flush_unique_name(session, name)
    return group


async def rename_group(
    session: AsyncSession, *, account_id: int, group_id: int, name: str
) -> ContactGroup:
    group = await get_group(session, account_id=account_id, group_id=group_id)
    group.name = name
    await _flush_unique_name(session, name)
    return group


async def delete_group(session: AsyncSession, *, account_id: int, group_id: int) -> None:
    group = await get_group(session, account_id=account_id, group_id=group_id)
    await session.delete(group)


async def list_groups(
    session: AsyncSession, *, account_id: int, page: PageRequest
) -> Page[ContactGroup]:
    where = ContactGroup.account_id == account_id
    total = await session.scalar(select(func.count()).select_from(ContactGroup).where(where))
    rows = await session.scalars(
        select(ContactGroup)
        .where(where)
        .order_by(ContactGroup.id.desc())
        .limit(page.per_page)
        .offset(page.offset)
    )
    return Page(items=list(rows), total=total or 0, request=page)


async def add_members(
    session: AsyncSession, *, account_id: int, group_id: int, contact_ids: Sequence[int]
) -> int:
    """Add contacts to a group; already-present members are left as they are.
    Returns how many were added."""
    await get_group(session, account_id=account_id, group_id=group_id)
    wanted = set(contact_ids)
    if not wanted:
        return 0
    owned = set(
        await session.scalars(
            select(Contact.id).where(Contact.account_id == account_id, Contact.id.in_(wanted))
        )
    )
    missing = sorted(wanted - owned)
    if missing:
        raise NotFound(f"contact {missing[0]} not found")
    now = utcnow()
    rows = [
        {"group_id": group_id, "contact_id": cid, "account_id": account_id, "created_at": now}
        for cid in sorted(wanted)
    ]
    # A read-then-insert lets two concurrent adds of one contact collide on the primary
    # key (a 500 on PostgreSQL); ON CONFLICT keeps the call idempotent, and RETURNING
    # yields only the rows this call inserted.
    stmt = (
        upsert(session, MEMBERS)
        .on_conflict_do_nothing(index_elements=["group_id", "contact_id"])
        .returning(MEMBERS.c.contact_id)
    )
    return len((await session.execute(stmt, rows)).all())


async def remove_member(
    session: AsyncSession, *, account_id: int, group_id: int, contact_id: int
) -> None:
    await get_group(session, account_id=account_id, group_id=group_id)
    result = await session.execute(
        delete(ContactGroupMember).where(
            ContactGroupMember.group_id == group_id,
            ContactGroupMember.contact_id == contact_id,
            ContactGroupMember.account_id == account_id,
        )
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"contact {contact_id} is not in contact group {group_id}")


async def _flush_unique_name(session: AsyncSession, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(
            f"a contact group named {name!r} already exists", fields={"name": "taken"}
        ) from None

"""/api/v1/contact and /api/v1/contact_group: the account's address book."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from jooksms.api import shapes
from jooksms.api.deps import Caller
from jooksms.api.envelopes import Json, contact_json, group_json, ok
from jooksms.api.openapi_docs import body, link, responses
from jooksms.api.schemas import (
    INT64,
    ContactChanges,
    GroupMembers,
    GroupName,
    NewContact,
    PageQuery,
    PerPageQuery,
    source,
    validate,
)
from jooksms.errors import ValidationFailed
from jooksms.services import contacts
from jooksms.services.contacts import ContactFields

router = APIRouter(prefix="/api/v1", tags=["Contacts"])
ObjectId = Annotated[int, Path(ge=1, le=INT64[1])]
_NEW_ID = "$response.body#/data/id"
_CONTACT = "/api/v1/contact/{contact_id}"
_GROUP = "/api/v1/contact_group/{group_id}"
_CONTACT_LINKS = {
    f"{verb.title()}Contact": link(f"{verb} {_CONTACT}", contact_id=_NEW_ID)
    for verb in ("GET", "PUT", "PATCH", "DELETE")
}
_GROUP_LINKS = {
    **{
        f"{verb.title()}Group": link(f"{verb} {_GROUP}", group_id=_NEW_ID)
        for verb in ("GET", "PUT", "PATCH", "DELETE")
    },
    "AddContacts": link(f"POST {_GROUP}/contacts", group_id=_NEW_ID),
    "ListContacts": link(f"GET {_GROUP}/contacts", group_id=_NEW_ID),
}


def _deleted(object_id: int) -> Json:
    return ok({"id": object_id, "deleted": True})


@router.get("/contact", summary="List contacts", responses=responses(shapes.ContactList, 422))
async def list_contacts(
    call: Caller, page: PageQuery = None, per_page: PerPageQuery = None
) -> Json:
    return await call.listing(
        lambda session, pages: contacts.list_contacts(session, account_id=call.account, page=pages),
        contact_json,
        page,
        per_page,
    )


@router.post(
    "/contact",
    summary="Create a contact",
    openapi_extra=body(NewContact),
    responses=responses(shapes.ContactEnvelope, 400, 404, 413, 422, links=_CONTACT_LINKS),
)
async def create_contact(call: Caller) -> Json:
    req = validate(NewContact, await call.payload())
    fields = ContactFields(
        first_name=req.first_name,
        last_name=req.last_name,
        main_phone=req.main_phone,
        reference=req.reference,
    )
    async with call.state.db.write() as session:
        contact = await contacts.create_contact(
            session, account_id=call.account, fields=fields, group_id=req.contact_group_id
        )
    return ok(contact_json(contact))


@router.get(
    "/contact/{contact_id}",
    summary="Get a contact",
    responses=responses(shapes.ContactEnvelope, 404),
)
async def get_contact(call: Caller, contact_id: ObjectId) -> Json:
    async with call.state.db.read() as session:
        contact = await contacts.get_contact(
            session, account_id=call.account, contact_id=contact_id
        )
    return ok(contact_json(contact))


@router.put(
    "/contact/{contact_id}",
    summary="Change a contact (only the fields sent)",
    openapi_extra=body(ContactChanges),
    responses=responses(shapes.ContactEnvelope, 400, 404, 413, 422),
)
@router.patch(
    "/contact/{contact_id}",
    summary="Change a contact (only the fields sent)",
    operation_id="patch_contact",
    openapi_extra=body(ContactChanges),
    responses=responses(shapes.ContactEnvelope, 400, 404, 413, 422),
)
async def update_contact(call: Caller, contact_id: ObjectId) -> Json:
    req = validate(ContactChanges, await call.payload())
    changes: dict[str, Any] = req.model_dump(include=req.model_fields_set)
    async with call.state.db.write() as session:
        contact = await contacts.update_contact(
            session, account_id=call.account, contact_id=contact_id, changes=changes
        )
    return ok(contact_json(contact))


@router.delete(
    "/contact/{contact_id}",
    summary="Delete a contact",
    responses=responses(shapes.DeletedEnvelope, 404),
)
async def delete_contact(call: Caller, contact_id: ObjectId) -> Json:
    async with call.state.db.write() as session:
        await contacts.delete_contact(session, account_id=call.account, contact_id=contact_id)
    return _deleted(contact_id)


@router.get(
    "/contact_group", summary="List contact groups", responses=responses(shapes.GroupList, 422)
)
async def list_groups(call: Caller, page: PageQuery = None, per_page: PerPageQuery = None) -> Json:
    return await call.listing(
        lambda session, pages: contacts.list_groups(session, account_id=call.account, page=pages),
        group_json,
        page,
        per_page,
    )


@router.post(
    "/contact_group",
    summary="Create a contact group",
    openapi_extra=body(GroupName),
    responses=responses(shapes.GroupEnvelope, 400, 409, 413, 422, links=_GROUP_LINKS),
)
async def create_group(call: Caller) -> Json:
    req = validate(GroupName, await call.payload())
    async with call.state.db.write() as session:
        group = await contacts.create_group(session, account_id=call.account, name=req.name)
    return ok(group_json(group))


@router.get(
    "/contact_group/{group_id}",
    summary="Get a contact group",
    responses=responses(shapes.GroupEnvelope, 404),
)
async def get_group(call: Caller, group_id: ObjectId) -> Json:
    async with call.state.db.read() as session:
        group = await contacts.get_group(session, account_id=call.account, group_id=group_id)
    return ok(group_json(group))


@router.put(
    "/contact_group/{group_id}",
    summary="Rename a contact group",
    openapi_extra=body(GroupName),
    responses=responses(shapes.GroupEnvelope, 400, 404, 409, 413, 422),
)
@router.patch(
    "/contact_group/{group_id}",
    summary="Rename a contact group",
    operation_id="patch_contact_group",
    openapi_extra=body(GroupName),
    responses=responses(shapes.GroupEnvelope, 400, 404, 409, 413, 422),
)
async def rename_group(call: Caller, group_id: ObjectId) -> Json:
    req = validate(GroupName, await call.payload())
    async with call.state.db.write() as session:
        group = await contacts.rename_group(
            session, account_id=call.account, group_id=group_id, name=req.name
        )
    return ok(group_json(group))


@router.delete(
    "/contact_group/{group_id}",
    summary="Delete a contact group (its contacts stay)",
    responses=responses(shapes.DeletedEnvelope, 404),
)
async def delete_group(call: Caller, group_id: ObjectId) -> Json:
    async with call.state.db.write() as session:
        await contacts.delete_group(session, account_id=call.account, group_id=group_id)
    return _deleted(group_id)


@router.get(
    "/contact_group/{group_id}/contacts",
    summary="List a group's contacts",
    responses=responses(shapes.ContactList, 404, 422),
)
async def list_members(
    call: Caller, group_id: ObjectId, page: PageQuery = None, per_page: PerPageQuery = None
) -> Json:
    return await call.listing(
        lambda session, pages: contacts.list_contacts(
            session, account_id=call.account, page=pages, group_id=group_id
        ),
        contact_json,
        page,
        per_page,
    )


@router.post(
    "/contact_group/{group_id}/contacts",
    summary="Add contacts to a group",
    openapi_extra=body(GroupMembers, form=False),
    responses=responses(shapes.MembersEnvelope, 400, 404, 413, 422),
)
async def add_members(call: Caller, group_id: ObjectId) -> Json:
    payload = await call.payload()
    contact_ids = _member_ids(payload)
    async with call.state.db.write() as session:
        added = await contacts.add_members(
            session, account_id=call.account, group_id=group_id, contact_ids=contact_ids
        )
    return ok({"added": added})


def _member_ids(payload: dict[str, Any]) -> list[int]:
    """``{"contact_id": n}`` is shorthand for ``{"contact_ids": [n]}``; its errors must
    name the field the client sent, not ``contact_ids.0``."""
    if "contact_id" not in payload or "contact_ids" in payload:
        return validate(GroupMembers, payload).contact_ids
    try:
        shorthand = {"contact_ids": [payload["contact_id"]]}
        return validate(GroupMembers, shorthand, context=source(payload)).contact_ids
    except ValidationFailed as exc:
        problem = next(iter(exc.fields.values()))
        raise ValidationFailed.field("contact_id", problem) from None


@router.delete(
    "/contact_group/{group_id}/contacts/{contact_id}",
    summary="Remove a contact from a group",
    responses=responses(shapes.DeletedEnvelope, 404),
)
async def remove_member(call: Caller, group_id: ObjectId, contact_id: ObjectId) -> Json:
    async with call.state.db.write() as session:
        await contacts.remove_member(
            session, account_id=call.account, group_id=group_id, contact_id=contact_id
        )
    return _deleted(contact_id)

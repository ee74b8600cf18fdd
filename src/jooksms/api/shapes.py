"""Response shapes, for the OpenAPI document only: the envelopes module builds the
bodies, and a test checks real responses against these schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class PhpDate(BaseModel):
    date: str
    timezone: Literal["UTC"]
    timezone_type: Literal[3]


class ContactBrief(BaseModel):
    display_name: str
    first_name: str
    id: int
    is_public: int
    last_name: str | None
    main_phone: str
    status: int


class ContactOut(ContactBrief):
    reference: str | None


class ContactWrapper(BaseModel):
    data: ContactBrief


class SmsOut(BaseModel):
    contact: ContactWrapper | None = None
    content: str
    created: PhpDate
    direction: Literal["sending", "incoming"]
    external_id: int | None
    id: int
    number: str
    status: str


class SearchHit(BaseModel):
    id: int
    external_id: int | None
    direction: Literal["sending", "incoming"]
    status: str
    number: str
    content: str
    created: str
    updated: str


class GroupOut(BaseModel):
    id: int
    name: str


class Links(BaseModel):
    next: str | None = None
    previous: str | None = None


class Pagination(BaseModel):
    count: int
    current_page: int
    links: Links | list[str]
    per_page: int
    total: int
    total_pages: int


class Meta(BaseModel):
    pagination: Pagination


class SmsEnvelope(BaseModel):
    result: Literal["ok"]
    data: SmsOut


class SmsList(BaseModel):
    result: Literal["ok"]
    meta: Meta
    data: list[SmsOut]


class SearchList(BaseModel):
    result: Literal["ok"]
    meta: Meta
    data: list[SearchHit]


class EntryError(BaseModel):
    index: int
    fields: dict[str, str]


class IdList(BaseModel):
    result: Literal["ok"]
    ids: list[int]
    errors: list[EntryError] | None = None


class ContactEnvelope(BaseModel):
    result: Literal["ok"]
    data: ContactOut


class ContactList(BaseModel):
    result: Literal["ok"]
    meta: Meta
    data: list[ContactOut]


class GroupEnvelope(BaseModel):
    result: Literal["ok"]
    data: GroupOut


class GroupList(BaseModel):
    result: Literal["ok"]
    meta: Meta
    data: list[GroupOut]


class Deleted(BaseModel):
    id: int
    deleted: Literal[True]


class DeletedEnvelope(BaseModel):
    result: Literal["ok"]
    data: Deleted


class MembersAdded(BaseModel):
    added: int


class MembersEnvelope(BaseModel):
    result: Literal["ok"]
    data: MembersAdded


class NumberOut(BaseModel):
    number: str
    first: bool


class NumberList(BaseModel):
    result: Literal["ok"]
    data: list[NumberOut]


class Token(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorEnvelope(BaseModel):
    result: Literal["error"]
    error: ErrorBody | str
    error_description: str | None = None

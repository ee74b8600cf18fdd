"""Response shapes, for the OpenAPI document only: the envelopes module builds the
bodies, and a test checks real responses against these schemas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from jooksms.domain.status import Status

# Keys the API leaves out rather than sending null are typed ``X | SkipJsonSchema[None]``:
# optional in the document, and never null there, as on the wire.


class PhpDate(BaseModel):
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")]
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
    # Present only when the number belongs to one of the account's contacts.
    contact: ContactWrapper | SkipJsonSchema[None] = None
    content: str
    created: PhpDate
    direction: Literal["sending", "incoming"]
    external_id: int | None
    id: int
    number: str
    status: Status


class SearchHit(BaseModel):
    id: int
    external_id: int | None
    direction: Literal["sending", "incoming"]
    status: Status
    number: str
    content: str
    created: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    updated: Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class GroupOut(BaseModel):
    id: int
    name: str


class Links(BaseModel):
    # With neither link the seed sends an empty list, never an empty object.
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    next: str | SkipJsonSchema[None] = None
    previous: str | SkipJsonSchema[None] = None


class Pagination(BaseModel):
    count: int
    current_page: int
    links: Links | Annotated[list[str], Field(max_length=0)]
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
    # Only when some entry was refused; its place in ``ids`` holds -1.
    errors: list[EntryError] | SkipJsonSchema[None] = None


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
    fields: dict[str, str] | SkipJsonSchema[None] = None


class ErrorEnvelope(BaseModel):
    result: Literal["error"]
    error: ErrorBody


class OAuthError(BaseModel):
    """The token endpoint's errors: RFC 6749 section 5.2, plus the API's ``result``."""

    result: Literal["error"]
    error: Literal["invalid_request", "invalid_client", "unsupported_grant_type", "rate_limited"]
    error_description: str

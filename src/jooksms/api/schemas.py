"""Request models: what a client may send, validated at the edge. Their JSON Schemas
also document the API in OpenAPI."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from jooksms.api.openapi_docs import ref
from jooksms.api.payload import FormFields
from jooksms.domain.dates import parse_datetime
from jooksms.domain.encoding import MAX_SEGMENTS, analyse
from jooksms.domain.phone import address_book_number, normalise_or_keep, to_e164
from jooksms.errors import ValidationFailed
from jooksms.services.pagination import MAX_PER_PAGE

INT64 = (-(2**63), 2**63 - 1)
_M = TypeVar("_M", bound=BaseModel)


def _blank_is_none(value: Any) -> Any:
    """Forms cannot send null: an empty field means 'not given'."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


def _date(value: str) -> datetime:
    return parse_datetime(value)


def _body(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    info = analyse(value)
    if info.segments > MAX_SEGMENTS:
        raise ValueError(
            f"is {info.segments} segments long ({info.units} {info.encoding} units); "
            f"at most {MAX_SEGMENTS} are allowed"
        )
    return value


# Optional values may be left out, null or blank (None). Their constraints sit on the
# inner type: on the union pydantic would also apply them to None, and ``ge`` then
# raises TypeError (a 500) instead of reporting a field. Spelled out per length, not
# built by a function, so that type checkers can read them as types.
_Blank = BeforeValidator(_blank_is_none)
Text40 = Annotated[Annotated[str, Field(max_length=40)] | None, _Blank]
Text100 = Annotated[Annotated[str, Field(max_length=100)] | None, _Blank]
Text255 = Annotated[Annotated[str, Field(max_length=255)] | None, _Blank]
Text500 = Annotated[Annotated[str, Field(max_length=500)] | None, _Blank]

Phone = Annotated[
    str, AfterValidator(to_e164), Field(max_length=40, examples=["+50768819519", "+507 6881-9519"])
]
# Documented as the text it is read from: the seed's forms are not RFC 3339, so
# ``format: date-time`` would tell clients (and the fuzzer) that they are refused.
DateText = Annotated[
    datetime | None,
    BeforeValidator(_blank_is_none),
    BeforeValidator(lambda v: _date(v) if isinstance(v, str) else v),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "description": "yyyy/mm/dd hh:mm[:ss] and a zone (GMT-5, +0600, +05:00, "
                    "UTC, America/Panama), or ISO 8601; no zone means UTC",
                    "examples": ["2016/06/26 10:00 GMT-5", "2018-03-22 10:20 +0600"],
                },
                {"type": "null"},
            ]
        }
    ),
]
ExternalId = Annotated[
    Annotated[int, Field(ge=INT64[0], le=INT64[1])] | None,
    _Blank,
    BeforeValidator(_no_bool),
]
GroupId = Annotated[
    Annotated[int, Field(ge=1, le=INT64[1])] | None,
    _Blank,
    BeforeValidator(_no_bool),
]
PageNumber = Annotated[
    Annotated[int, Field(ge=1, le=10_000_000)] | None, _Blank, BeforeValidator(_no_bool)
]
PerPage = Annotated[
    Annotated[int, Field(ge=1, le=MAX_PER_PAGE)] | None, _Blank, BeforeValidator(_no_bool)
]
Body = Annotated[str, AfterValidator(_body), Field(examples=["Just a test"])]
# "If not given or invalid we use the first number": a bad ``from`` is not an error.
Sender = Annotated[
    Text40,
    AfterValidator(lambda v: v and normalise_or_keep(v)),
    Field(default=None, alias="from"),
]
Name = Text100
# A contact's number: E.164 where it parses, else kept as written (an address book
# keeps what it cannot place), but always written like a number.
ContactPhone = Annotated[
    str,
    Field(min_length=1, max_length=32, examples=["+50768819519", "+1301585886967"]),
    AfterValidator(address_book_number),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here, as the field's 422, rather
        # than fail the INSERT with a 500 (SQLite would store it, so both backends agree).
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class SendSms(_Model):
    to: Phone
    body: Body
    from_: Sender = None
    scheduled: DateText = None
    external_id: ExternalId = None


class ToManyEntry(_Model):
    to: Phone
    external_id: ExternalId = None
    first_name: Name = None
    last_name: Name = None
    scheduled: DateText = None


class ManyEntry(ToManyEntry):
    body: Body


class ToMany(_Model):
    body: Body
    from_: Sender = None
    scheduled: DateText = None
    # Entries stay raw here: each is validated on its own, so a bad one costs only its
    # place (-1) and not the request. The document still shows what an entry holds.
    list: Annotated[
        list[Any],
        Field(min_length=1, max_length=10_000, json_schema_extra={"items": ref(ToManyEntry)}),
    ]


class Many(_Model):
    from_: Sender = None
    scheduled: DateText = None
    list: Annotated[
        list[Any],
        Field(min_length=1, max_length=10_000, json_schema_extra={"items": ref(ManyEntry)}),
    ]


class SearchMessages(_Model):
    number: Annotated[Text40, AfterValidator(lambda v: v and normalise_or_keep(v))] = None
    from_date: DateText = None
    to_date: DateText = None
    query: Text500 = None
    page: PageNumber = None
    per_page: PerPage = None


# Page numbers in a query string, declared as the integers they are.
PageQuery = Annotated[int | None, BeforeValidator(_blank_is_none), Query(ge=1, le=10_000_000)]
PerPageQuery = Annotated[int | None, BeforeValidator(_blank_is_none), Query(ge=1, le=MAX_PER_PAGE)]


class NewContact(_Model):
    first_name: Annotated[str, Field(min_length=1, max_length=100)]
    last_name: Annotated[str, Field(min_length=1, max_length=100)]
    main_phone: ContactPhone
    reference: Text255 = None
    contact_group_id: GroupId = None


class ContactChanges(_Model):
    """Only the fields sent change, and at least one must be sent. A default of None
    means "not sent"; an explicit null for a required field fails validation, since
    defaults are not validated."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name]}
                for name in ("first_name", "last_name", "main_phone", "reference")
            ]
        }
    )

    first_name: Annotated[str, Field(min_length=1, max_length=100)] = None  # type: ignore[assignment]
    last_name: Name = None
    main_phone: ContactPhone = None  # type: ignore[assignment]
    reference: Text255 = None

    @model_validator(mode="after")
    def _something_sent(self) -> ContactChanges:
        if not self.model_fields_set:
            raise ValueError("send at least one of first_name, last_name, main_phone, reference")
        return self


class GroupName(_Model):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class GroupMembers(_Model):
    contact_ids: Annotated[
        # The bounds come before the validator so that they stay JSON Schema keywords.
        list[Annotated[int, Field(ge=1, le=INT64[1]), BeforeValidator(_no_bool)]],
        Field(min_length=1, max_length=10_000),
    ]


class TokenRequest(_Model):
    client_id: Annotated[str, Field(min_length=1, max_length=200)]
    client_secret: Annotated[str, Field(min_length=1, max_length=200)]
    grant_type: Text100 = None


def field_problems(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """Pydantic's errors as ``{"field": "what is wrong"}``, the API's error shape."""
    problems: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        name = (
            prefix + ".".join(str(p) for p in err["loc"])
            if err["loc"]
            else prefix.rstrip(".") or "body"
        )
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "is required"
        problems.setdefault(name, message)
    return problems


def json_typed(payload: Mapping[str, Any]) -> bool:
    """Whether ``payload``'s values must already have their fields' types: a JSON body's
    must (``"from_date": 12.5`` is refused, not read as a timestamp or ignored), while a
    form's are all text, converted by the field."""
    return not isinstance(payload, FormFields)


def validate(model: type[_M], payload: Mapping[str, Any], *, strict: bool | None = None) -> _M:
    """``payload`` as ``model``, strictly typed unless it is a form (see ``json_typed``)."""
    try:
        return model.model_validate(
            payload, strict=json_typed(payload) if strict is None else strict
        )
    except ValidationError as exc:
        problems = field_problems(exc)
        first = next(iter(problems.items()))
        raise ValidationFailed(f"{first[0]}: {first[1]}", fields=problems) from None

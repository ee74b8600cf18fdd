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
    ValidationInfo,
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
from jooksms.events.webhooks.urls import MAX_URL_LENGTH, URL_PATTERN, UrlRefused, check_syntax
from jooksms.services.pagination import MAX_PER_PAGE

INT64 = (-(2**63), 2**63 - 1)
# Validation context key: the payload is a form (or query string), so its values are text.
FORM = "form"
_M = TypeVar("_M", bound=BaseModel)


def _blank_is_none(value: Any) -> Any:
    """Forms cannot send null: an empty field means 'not given'."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _integer(value: Any, info: ValidationInfo) -> Any:
    """An integer field takes a JSON integer (12.0 is one, in JSON Schema), or a form's
    text: a boolean, or a string in JSON, is the wrong type, not a number to read."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, str) and value.strip() and not (info.context or {}).get(FORM):
        raise ValueError("must be a JSON integer, not a string")
    return value


def _date(value: Any) -> Any:
    """Dates are text: a JSON number is refused, not read as a Unix time."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date written as text")
    # Blank text goes on to _blank_is_none: no date.
    return parse_datetime(value) if value.strip() else value


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

# Custom string formats of the document, explained where they are used. A fuzzer (our
# schemathesis run) generates them with strategies of its own.
PHONE_FORMAT = "phone"
DATE_FORMAT = "jooksms-date"
# Where blank means "missing" (as it does once spaces are stripped), a string needs
# one character that is not a space (nor NUL, which no text field holds).
NOT_BLANK = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
_NotBlank = Field(json_schema_extra={"pattern": NOT_BLANK})
# A search query must hold a word (what it matches); ASCII ones are the documented subset.
SEARCH_WORDS = r"^[^\u0000]*[0-9A-Za-z_][^\u0000]*$"
_SearchWords = Field(
    description="words to find in the content, case-insensitively; at least one",
    json_schema_extra={"pattern": SEARCH_WORDS},
)

Phone = Annotated[
    str,
    AfterValidator(to_e164),
    Field(max_length=40),
    WithJsonSchema(
        {
            "type": "string",
            "format": PHONE_FORMAT,
            # No maxLength: a fuzzer's boundary cases would fill it with digits, which no
            # number has. The description states the limit.
            "description": "an international number (at most 40 characters) written any "
            "common way: E.164, "
            "spaces, - . / ( ), the country code in parentheses, a leading 00 or none; "
            "normalised to E.164. An impossible number (wrong length for its country, "
            "unknown country code) is a 422.",
            "examples": ["+50768819519", "+507 6881-9519", "(+507) 6881 9519"],
        }
    ),
]
# Documented as the text it is read from: the seed's forms are not RFC 3339, so
# ``format: date-time`` would tell clients (and the fuzzer) that they are refused.
_DATE_TEXT = {
    "type": "string",
    "format": DATE_FORMAT,
    "description": "yyyy/mm/dd hh:mm[:ss] and a zone (GMT-5, +0600, +05:00, "
    "UTC, America/Panama), or ISO 8601; no zone means UTC",
    "examples": ["2016/06/26 10:00 GMT-5", "2018-03-22 10:20 +0600"],
}
# A search's own examples, in order: its to_date may not be before its from_date.
_FROM_EXAMPLE = {"examples": ["2016/06/26 10:00 GMT-5"]}
_TO_EXAMPLE = {"examples": ["2018-03-22 10:20 +0600"]}
DateText = Annotated[
    datetime | None,
    BeforeValidator(_blank_is_none),
    # Validators run last first: _date, then _blank_is_none.
    BeforeValidator(_date),
    WithJsonSchema({"anyOf": [_DATE_TEXT, {"type": "null"}]}),
]
#: A date that must be given.
RequiredDate = Annotated[
    datetime,
    BeforeValidator(_blank_is_none),
    BeforeValidator(_date),
    WithJsonSchema(_DATE_TEXT),
]
ExternalId = Annotated[
    Annotated[int, Field(ge=INT64[0], le=INT64[1])] | None,
    _Blank,
    BeforeValidator(_integer),
]
GroupId = Annotated[
    Annotated[int, Field(ge=1, le=INT64[1])] | None,
    _Blank,
    BeforeValidator(_integer),
]
PageNumber = Annotated[
    Annotated[int, Field(ge=1, le=10_000_000)] | None, _Blank, BeforeValidator(_integer)
]
PerPage = Annotated[
    Annotated[int, Field(ge=1, le=MAX_PER_PAGE)] | None, _Blank, BeforeValidator(_integer)
]
Body = Annotated[
    str,
    AfterValidator(_body),
    Field(
        examples=["Just a test"],
        description="at most 10 segments: 1,530 GSM-7 characters (€[]{} count two) "
        "or 670 UCS-2 units",
        json_schema_extra={"pattern": NOT_BLANK},
    ),
]
# "If not given or invalid we use the first number": a bad ``from`` is not an error.
Sender = Annotated[
    Text40,
    AfterValidator(lambda v: v and normalise_or_keep(v)),
    Field(default=None, alias="from"),
]
Name = Text100
# What address_book_number keeps (or a little less): digits and separators, at most 20
# digits after a leading + (the digits of a leading 00 count), never only "00".
_S = "[ ().\\-/]*"
_WRITTEN_LIKE_A_NUMBER = (
    f"^{_S}(\\+{_S})?([1-9]{_S}([0-9]{_S}){{0,19}}|0{_S}([1-9]{_S}([0-9]{_S}){{0,18}})?"
    f"|0{_S}0{_S}([0-9]{_S}){{1,18}})$"
)
# A contact's number: E.164 where it parses, else kept as written (an address book
# keeps what it cannot place), but always written like a number.
ContactPhone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        examples=["+50768819519", "+1301585886967"],
        description="written like a phone number (digits, a leading + or 00, spaces and "
        "- . / ( )); stored in E.164 where it is a possible number, else as written",
        json_schema_extra={"pattern": _WRITTEN_LIKE_A_NUMBER},
    ),
    AfterValidator(address_book_number),
]
# A name that must be given: blank is refused.
RequiredName = Annotated[str, Field(min_length=1, max_length=100), _NotBlank]


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


def _callback_syntax(value: str) -> str:
    try:
        return check_syntax(value)
    except UrlRefused as exc:
        raise ValueError(str(exc)) from None


# A documented extension: called, signed, on each status change of the message (see
# events.webhooks). Its host is checked, as a webhook's, by the route.
StatusCallback = Annotated[
    Annotated[
        str,
        Field(
            max_length=MAX_URL_LENGTH,
            pattern=URL_PATTERN,
            description="an http(s) URL (a public address, at most 2,000 characters) "
            "POSTed each status change of the message, signed as webhooks are, with the "
            "account's signing secret (GET /api/v1/webhooks/signing_secret)",
        ),
        AfterValidator(_callback_syntax),
    ]
    | None,
    _Blank,
]


class SendSms(_Model):
    to: Phone
    body: Body
    from_: Sender = None
    scheduled: DateText = None
    external_id: ExternalId = None
    status_callback: StatusCallback = None


class ToManyEntry(_Model):
    to: Phone
    external_id: ExternalId = None
    first_name: Name = None
    last_name: Name = None
    scheduled: DateText = None
    status_callback: StatusCallback = None


class ManyEntry(ToManyEntry):
    body: Body


class ToMany(_Model):
    body: Body
    from_: Sender = None
    scheduled: DateText = None
    status_callback: StatusCallback = None
    # Entries stay raw here: each is validated on its own, so a bad one costs only its
    # place (-1) and not the request. The document still shows what an entry holds.
    list: Annotated[
        list[Any],
        Field(min_length=1, max_length=10_000, json_schema_extra={"items": ref(ToManyEntry)}),
    ]


class Many(_Model):
    from_: Sender = None
    scheduled: DateText = None
    status_callback: StatusCallback = None
    list: Annotated[
        list[Any],
        Field(min_length=1, max_length=10_000, json_schema_extra={"items": ref(ManyEntry)}),
    ]


class SearchMessages(_Model):
    """At least one filter, not blank; ``to_date`` not before ``from_date``."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("number", "from_date", "to_date", "query")
            ]
        }
    )

    number: Annotated[Text40, AfterValidator(lambda v: v and normalise_or_keep(v)), _NotBlank] = (
        None
    )
    from_date: Annotated[DateText, Field(json_schema_extra=_FROM_EXAMPLE)] = None
    to_date: Annotated[DateText, Field(json_schema_extra=_TO_EXAMPLE)] = None
    query: Annotated[Text500, _SearchWords] = None
    page: PageNumber = None
    per_page: PerPage = None


# Page numbers in a query string, declared as the integers they are.
PageQuery = Annotated[
    Annotated[int, Field(ge=1, le=10_000_000)] | None,
    BeforeValidator(_blank_is_none),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 10_000_000}),
    Query(),
]
FromDateQuery = Annotated[str | None, WithJsonSchema({**_DATE_TEXT, **_FROM_EXAMPLE}), Query()]
ToDateQuery = Annotated[str | None, WithJsonSchema({**_DATE_TEXT, **_TO_EXAMPLE}), Query()]
# Search filters in a query string: blank means not given, so it is documented as refused.
NumberQuery = Annotated[
    str | None, WithJsonSchema({"type": "string", "pattern": NOT_BLANK}), Query()
]
WordsQuery = Annotated[
    str | None, WithJsonSchema({"type": "string", "pattern": SEARCH_WORDS}), Query()
]
PerPageQuery = Annotated[
    Annotated[int, Field(ge=1, le=MAX_PER_PAGE)] | None,
    BeforeValidator(_blank_is_none),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}),
    Query(),
]


class NewContact(_Model):
    first_name: RequiredName
    last_name: RequiredName
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

    first_name: RequiredName = None  # type: ignore[assignment]
    last_name: Name = None
    main_phone: ContactPhone = None  # type: ignore[assignment]
    reference: Text255 = None

    @model_validator(mode="after")
    def _something_sent(self) -> ContactChanges:
        if not self.model_fields_set:
            raise ValueError("send at least one of first_name, last_name, main_phone, reference")
        return self


class GroupName(_Model):
    name: RequiredName


class GroupMembers(_Model):
    contact_ids: Annotated[
        # The bounds come before the validator so that they stay JSON Schema keywords.
        list[Annotated[int, Field(ge=1, le=INT64[1]), BeforeValidator(_integer)]],
        Field(min_length=1, max_length=10_000),
    ]


class TokenRequest(_Model):
    client_id: Annotated[str, Field(min_length=1, max_length=200), _NotBlank]
    client_secret: Annotated[str, Field(min_length=1, max_length=200), _NotBlank]
    # Any other value is refused with RFC 6749's unsupported_grant_type, so it is read as
    # text and documented as the one value accepted.
    grant_type: Annotated[
        Text100, WithJsonSchema({"enum": ["client_credentials"], "type": "string"})
    ] = None


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


def source(payload: Mapping[str, Any]) -> dict[str, bool]:
    """The validation context of ``payload``: a JSON body's values must already have
    their fields' types (``"from_date": 12.5`` or ``"page": "2"`` is refused, not read
    or ignored), while a form's are all text, converted by the field."""
    return {FORM: isinstance(payload, FormFields)}


def validate(
    model: type[_M], payload: Mapping[str, Any], *, context: dict[str, bool] | None = None
) -> _M:
    """``payload`` as ``model``, read as the kind of body it came in (see ``source``)."""
    try:
        return model.model_validate(payload, context=context or source(payload))
    except ValidationError as exc:
        problems = field_problems(exc)
        first = next(iter(problems.items()))
        raise ValidationFailed(f"{first[0]}: {first[1]}", fields=problems) from None

"""/api/v1/webhooks: an account's outbound webhooks, their deliveries and replays,
and the account's signing secret for status callbacks (see events.webhooks)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.orm import Session

from jooksms.api.deps import Call, Caller
from jooksms.api.envelopes import Json, ok
from jooksms.api.openapi_docs import body, responses
from jooksms.api.schemas import (
    FORM,
    INT64,
    DateText,
    PageQuery,
    PerPageQuery,
    RequiredDate,
    Text500,
    _Model,
    validate,
)
from jooksms.db.types import utcnow
from jooksms.errors import ValidationFailed
from jooksms.events.types import EVENT_TYPES
from jooksms.events.webhooks import deliveries, endpoints, secrets, urls
from jooksms.events.webhooks.deliveries import DeliveryView
from jooksms.events.webhooks.endpoints import Endpoint
from jooksms.secret_box import SecretBox, box_for

router = APIRouter(prefix="/api/v1/webhooks", tags=["Webhooks"])
WebhookId = Annotated[int, Path(ge=1, le=INT64[1])]
T = TypeVar("T")


def _syntax(value: str) -> str:
    try:
        return urls.check_syntax(value)
    except urls.UrlRefused as exc:
        raise ValueError(str(exc)) from None


def _boolean(value: Any, info: ValidationInfo) -> Any:
    """A JSON boolean, or a form's text: ``"yes"`` in JSON is the wrong type."""
    if isinstance(value, bool) or (info.context or {}).get(FORM):
        return value
    raise ValueError("must be a JSON boolean (true or false)")


def _types(value: Any) -> Any:
    """``"*"`` alone is all types, as ``["*"]`` or ``[]`` is."""
    return [value] if value == endpoints.ALL else value


#: An http(s) URL of at most 2,000 characters; its host must be a public address.
WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=urls.MAX_URL_LENGTH,
        pattern=urls.URL_PATTERN,
        description="http:// or https://, at most 2,000 characters; its host must "
        "resolve to public addresses only (JOOKSMS_WEBHOOKS_ALLOW_PRIVATE=true lifts it)",
        examples=["https://example.com/jooksms/events"],
    ),
    AfterValidator(_syntax),
]
EventTypeName = Literal[
    "*",
    "message.queued",
    "message.scheduled",
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.canceled",
    "message.received",
]
assert set(EventTypeName.__args__) == {"*", *EVENT_TYPES}  # type: ignore[attr-defined]
EventTypes = Annotated[
    list[EventTypeName],
    BeforeValidator(_types),
    Field(
        max_length=len(EVENT_TYPES) + 1,
        description='the event types to send; `[]` or `["*"]` (or `"*"`) for all',
    ),
]
Flag = Annotated[bool, BeforeValidator(_boolean)]


_CHANGEABLE = ("url", "event_types", "description", "enabled", "batch")


class NewWebhook(_Model):
    url: WebhookUrl
    event_types: EventTypes = Field(default_factory=list)
    description: Text500 = None
    enabled: Flag = True
    batch: Annotated[Flag, Field(description="POST up to 100 events at a time, as a batch")] = False


class WebhookChanges(_Model):
    """Only the fields sent change, and at least one must be sent."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": [name]} for name in _CHANGEABLE]}
    )

    url: WebhookUrl = None  # type: ignore[assignment]
    event_types: EventTypes = None  # type: ignore[assignment]
    description: Text500 = None
    enabled: Flag = None  # type: ignore[assignment]
    batch: Flag = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _something_sent(self) -> WebhookChanges:
        if not self.model_fields_set & set(_CHANGEABLE):
            raise ValueError(f"send at least one of {', '.join(_CHANGEABLE)}")
        for name in ("url", "event_types", "enabled", "batch"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self


class ReplayRange(_Model):
    since: Annotated[RequiredDate, Field(description="the first event's time (inclusive)")]
    until: Annotated[
        DateText,
        Field(
            description="the end (exclusive); now if not given. A range that ends "
            "before it starts holds no event: nothing is replayed"
        ),
    ] = None


# -- response shapes (the OpenAPI document's) ----------------------------------


class WebhookOut(BaseModel):
    id: int
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    batch: bool
    disabled_reason: str | None
    disabled_at: str | None
    failing_since: str | None
    created_at: str
    updated_at: str
    #: Only in the answer that made it (create, rotate_secret): shown once.
    secret: str | SkipJsonSchema[None] = None


class WebhookEnvelope(BaseModel):
    result: Literal["ok"]
    data: WebhookOut


class _Pagination(BaseModel):
    pagination: dict[str, Any]


class WebhookList(BaseModel):
    result: Literal["ok"]
    meta: _Pagination
    data: list[WebhookOut]


class AttemptOut(BaseModel):
    attempted_at: str
    status_code: int | None
    error: str | None
    latency_ms: int
    response: str | None


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str
    event_type: str
    event_count: int
    first_event_id: int
    last_event_id: int
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    updated_at: str
    attempt_log: list[AttemptOut]


class DeliveryEnvelope(BaseModel):
    result: Literal["ok"]
    data: DeliveryOut


class DeliveryList(BaseModel):
    result: Literal["ok"]
    meta: _Pagination
    data: list[DeliveryOut]


class Replayed(BaseModel):
    replayed: int


class ReplayedEnvelope(BaseModel):
    result: Literal["ok"]
    data: Replayed


class SigningSecret(BaseModel):
    secret: str


class SigningSecretEnvelope(BaseModel):
    result: Literal["ok"]
    data: SigningSecret


class DeletedOut(BaseModel):
    id: int
    deleted: Literal[True]


class DeletedEnvelope(BaseModel):
    result: Literal["ok"]
    data: DeletedOut


# -- routes --------------------------------------------------------------------
# The literal paths come first: /webhooks/signing_secret is not a webhook id.


@router.get(
    "/signing_secret",
    summary="The account's signing secret for status callbacks (made on first use)",
    responses=responses(SigningSecretEnvelope),
)
async def get_signing_secret(call: Caller) -> Json:
    now = utcnow()
    secret = await _write(
        call, lambda s, box: secrets.account_secret(s, box, account_id=call.account, now=now)
    )
    return ok({"secret": secret})


@router.post(
    "/signing_secret/rotate",
    summary="A new signing secret for status callbacks; the old one signs for 24 hours more",
    responses=responses(SigningSecretEnvelope),
)
async def rotate_signing_secret(call: Caller) -> Json:
    now = utcnow()
    secret = await _write(
        call,
        lambda s, box: secrets.rotate(s, box, account_id=call.account, endpoint_id=None, now=now),
    )
    return ok({"secret": secret})


@router.post(
    "",
    summary="Add a webhook (its secret is shown in this answer only)",
    openapi_extra=body(NewWebhook, form=False),
    responses=responses(WebhookEnvelope, 400, 413, 422),
)
async def create_webhook(call: Caller) -> Json:
    req = _validate(NewWebhook, await call.payload())
    await _check_url(call, req.url)
    now = utcnow()
    endpoint, secret = await _write(
        call,
        lambda s, box: endpoints.create(
            s,
            box,
            account_id=call.account,
            url=req.url,
            event_types=req.event_types,
            description=req.description,
            enabled=req.enabled,
            batch=req.batch,
            now=now,
        ),
    )
    return ok(webhook_json(endpoint, secret=secret))


@router.get("", summary="List webhooks", responses=responses(WebhookList, 422))
async def list_webhooks(
    call: Caller, page: PageQuery = None, per_page: PerPageQuery = None
) -> Json:
    return await call.listing(
        lambda session, pages: session.run_sync(
            lambda s: endpoints.list_page(s, account_id=call.account, page=pages)
        ),
        webhook_json,
        page,
        per_page,
    )


@router.get("/{webhook_id}", summary="Get a webhook", responses=responses(WebhookEnvelope, 404))
async def get_webhook(call: Caller, webhook_id: WebhookId) -> Json:
    endpoint = await call.state.db.run_write(
        lambda s: endpoints.get(s, account_id=call.account, endpoint_id=webhook_id)
    )
    return ok(webhook_json(endpoint))


@router.patch(
    "/{webhook_id}",
    summary="Change a webhook (only the fields sent); enabling it clears why it was disabled",
    openapi_extra=body(WebhookChanges, form=False),
    responses=responses(WebhookEnvelope, 400, 404, 413, 422),
)
async def change_webhook(call: Caller, webhook_id: WebhookId) -> Json:
    req = _validate(WebhookChanges, await call.payload())
    changes = req.model_dump(include=req.model_fields_set)
    if "url" in changes:
        await _check_url(call, req.url)
    now = utcnow()
    endpoint = await call.state.db.run_write(
        lambda s: endpoints.change(
            s, account_id=call.account, endpoint_id=webhook_id, changes=changes, now=now
        )
    )
    return ok(webhook_json(endpoint))


@router.delete(
    "/{webhook_id}",
    summary="Delete a webhook and its deliveries",
    responses=responses(DeletedEnvelope, 404),
)
async def delete_webhook(call: Caller, webhook_id: WebhookId) -> Json:
    await call.state.db.run_write(
        lambda s: endpoints.remove(s, account_id=call.account, endpoint_id=webhook_id)
    )
    return ok({"id": webhook_id, "deleted": True})


@router.post(
    "/{webhook_id}/rotate_secret",
    summary="A new secret (shown once); the old one keeps signing for 24 hours",
    responses=responses(WebhookEnvelope, 404),
)
async def rotate_secret(call: Caller, webhook_id: WebhookId) -> Json:
    now = utcnow()

    def rotate(s: Session, box: SecretBox) -> tuple[Endpoint, str]:
        endpoint = endpoints.get(s, account_id=call.account, endpoint_id=webhook_id)
        secret = secrets.rotate(s, box, account_id=call.account, endpoint_id=webhook_id, now=now)
        return endpoint, secret

    endpoint, secret = await _write(call, rotate)
    return ok(webhook_json(endpoint, secret=secret))


@router.get(
    "/{webhook_id}/deliveries",
    summary="A webhook's deliveries, newest first, with their attempts",
    responses=responses(DeliveryList, 404, 422),
)
async def list_deliveries(
    call: Caller,
    webhook_id: WebhookId,
    status: Annotated[Literal["pending", "succeeded", "failed"] | None, Query()] = None,
    page: PageQuery = None,
    per_page: PerPageQuery = None,
) -> Json:
    return await call.listing(
        lambda session, pages: session.run_sync(
            lambda s: deliveries.list_page(
                s, account_id=call.account, endpoint_id=webhook_id, status=status, page=pages
            )
        ),
        delivery_json,
        page,
        per_page,
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    summary="Send a delivery again, now, with a fresh retry schedule",
    responses=responses(DeliveryEnvelope, 404),
)
async def replay_delivery(
    call: Caller, webhook_id: WebhookId, delivery_id: Annotated[int, Path(ge=1, le=INT64[1])]
) -> Json:
    now = utcnow()
    view = await call.state.db.run_write(
        lambda s: deliveries.replay_one(
            s, account_id=call.account, endpoint_id=webhook_id, delivery_id=delivery_id, now=now
        )
    )
    return ok(delivery_json(view))


@router.post(
    "/{webhook_id}/replay",
    summary="Send the webhook again the events of a time range (at most 10,000)",
    openapi_extra=body(ReplayRange),
    responses=responses(ReplayedEnvelope, 400, 404, 413, 422),
)
async def replay_range(call: Caller, webhook_id: WebhookId) -> Json:
    req = _validate(ReplayRange, await call.payload())
    assert req.since is not None
    since, until, now = req.since, req.until, utcnow()
    count = await call.state.db.run_write(
        lambda s: deliveries.replay_range(
            s, account_id=call.account, endpoint_id=webhook_id, since=since, until=until, now=now
        )
    )
    return ok({"replayed": count})


# -- helpers -------------------------------------------------------------------


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], payload: dict[str, Any]) -> M:
    """``validate``, with a model-level rule's error named after the field it is
    about (its message starts with the field's name)."""
    try:
        return validate(model, payload)
    except ValidationFailed as exc:
        problem = exc.fields.get("body")
        if problem is None:
            raise
        first = problem.split(" ", 1)[0]
        name = first if first in model.model_fields else "body"
        raise ValidationFailed.field(name, problem) from None


async def _check_url(call: Call, url: str) -> None:
    try:
        await urls.check_url(url, allow_private=call.state.settings.webhooks_allow_private)
    except urls.UrlRefused as exc:
        raise ValidationFailed.field("url", str(exc)) from None


async def _write(call: Call, work: Callable[[Session, SecretBox], T]) -> T:
    box = box_for(call.state.db.url)
    return await call.state.db.run_write(lambda s: work(s, box))


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def webhook_json(e: Endpoint, *, secret: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": e.id,
        "url": e.url,
        "description": e.description,
        "event_types": e.event_types,
        "enabled": e.enabled,
        "batch": e.batch,
        "disabled_reason": e.disabled_reason,
        "disabled_at": _time(e.disabled_at),
        "failing_since": _time(e.failing_since),
        "created_at": _time(e.created_at),
        "updated_at": _time(e.updated_at),
    }
    if secret is not None:
        data["secret"] = secret
    return data


def delivery_json(d: DeliveryView) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event_type": d.event_type,
        "event_count": d.event_count,
        "first_event_id": d.first_event_id,
        "last_event_id": d.last_event_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": _time(d.next_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": _time(d.created_at),
        "updated_at": _time(d.updated_at),
        "attempt_log": [
            {
                "attempted_at": _time(a.attempted_at),
                "status_code": a.status_code,
                "error": a.error,
                "latency_ms": a.latency_ms,
                "response": a.response,
            }
            for a in d.attempt_log
        ],
    }

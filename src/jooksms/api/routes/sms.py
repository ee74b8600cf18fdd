"""/api/v1/sms: send, read, list, search and cancel messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ValidationError

from jooksms.api import shapes
from jooksms.api.deps import AccountId, ListUrl, Payload, State
from jooksms.api.envelopes import Json, message_json, ok, paginated, search_hit_json
from jooksms.api.openapi_docs import body, responses
from jooksms.api.schemas import (
    INT64,
    Many,
    ManyEntry,
    SearchMessages,
    SendSms,
    ToMany,
    ToManyEntry,
    field_problems,
    validate,
)
from jooksms.domain.encoding import analyse
from jooksms.errors import ValidationFailed
from jooksms.services import messages
from jooksms.services.messages import AcceptJob, MessageDraft, SearchFilter
from jooksms.services.pagination import PageRequest

router = APIRouter(prefix="/api/v1/sms", tags=["SMS"])
MessageId = Annotated[int, Path(ge=1, le=INT64[1])]


@router.post(
    "",
    summary="Send a message",
    openapi_extra=body(SendSms),
    responses=responses(shapes.SmsEnvelope, 400, 413, 422),
)
async def send(account: AccountId, state: State, payload: Payload) -> Json:
    req = validate(SendSms, payload)
    draft = MessageDraft(
        to=req.to,
        body=req.body,
        info=analyse(req.body),
        scheduled_at=req.scheduled,
        external_id=req.external_id,
    )
    accepted = await state.intake.submit(AcceptJob(account, req.from_, [draft], with_views=True))
    return ok(message_json(accepted.views[0]))


@router.get("", summary="List messages, newest first", responses=responses(shapes.SmsList, 422))
async def list_messages(
    account: AccountId,
    state: State,
    url: ListUrl,
    request: Request,
    page: str | None = None,
    per_page: str | None = None,
) -> Json:
    pages = PageRequest.parse(page, per_page)
    async with state.db.read() as session:
        result = await messages.list_page(session, account_id=account, page=pages)
    return paginated(result, message_json, url=url, query=request.query_params)


@router.post(
    "/to_many",
    summary="Send one body to many recipients",
    openapi_extra=body(ToMany),
    responses=responses(shapes.IdList, 400, 413, 422),
)
async def to_many(account: AccountId, state: State, payload: Payload) -> Json:
    req = validate(ToMany, payload)
    info = analyse(req.body)

    def draft(entry: BaseModel) -> MessageDraft:
        assert isinstance(entry, ToManyEntry)
        return MessageDraft(
            to=entry.to,
            body=req.body,
            info=info,
            scheduled_at=entry.scheduled or req.scheduled,
            external_id=entry.external_id,
            first_name=entry.first_name,
            last_name=entry.last_name,
        )

    return await _send_each(state, account, req.from_, req.list, ToManyEntry, draft)


@router.post(
    "/many",
    summary="Send different bodies to many recipients",
    openapi_extra=body(Many),
    responses=responses(shapes.IdList, 400, 413, 422),
)
async def many(account: AccountId, state: State, payload: Payload) -> Json:
    req = validate(Many, payload)

    def draft(entry: BaseModel) -> MessageDraft:
        assert isinstance(entry, ManyEntry)
        return MessageDraft(
            to=entry.to,
            body=entry.body,
            info=analyse(entry.body),
            scheduled_at=entry.scheduled or req.scheduled,
            external_id=entry.external_id,
            first_name=entry.first_name,
            last_name=entry.last_name,
        )

    return await _send_each(state, account, req.from_, req.list, ManyEntry, draft)


async def _send_each(
    state: State,
    account: int,
    from_number: str | None,
    entries: list[Any],
    model: type[BaseModel],
    draft: Any,
) -> Json:
    """Validate each entry on its own: a bad one gets -1 at its position, the rest go."""
    ids: list[int] = [-1] * len(entries)
    drafts: list[MessageDraft] = []
    positions: list[int] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(entries):
        if not isinstance(raw, dict):
            errors.append({"index": index, "fields": {"list": "each entry must be an object"}})
            continue
        try:
            entry = model.model_validate(raw)
        except ValidationError as exc:
            errors.append({"index": index, "fields": field_problems(exc)})
            continue
        drafts.append(draft(entry))
        positions.append(index)
    accepted = (await state.intake.submit(AcceptJob(account, from_number, drafts))).ids
    for index, message_id in zip(positions, accepted, strict=True):
        ids[index] = message_id
    body: dict[str, Any] = {"result": "ok", "ids": ids}
    if errors:
        body["errors"] = errors
    return Json(body)


@router.get(
    "/by_external/{external_id}",
    summary="Get the newest message with an external id",
    responses=responses(shapes.SmsEnvelope, 404),
)
async def by_external(
    account: AccountId,
    state: State,
    external_id: Annotated[int, Path(ge=INT64[0], le=INT64[1])],
) -> Json:
    async with state.db.read() as session:
        view = await messages.get_by_external(session, account_id=account, external_id=external_id)
    return ok(message_json(view))


async def _search(
    account: int, state: State, url: str, request: Request, payload: dict[str, Any]
) -> Json:
    # Links of a result page carry the filters in the query string, so a client can
    # follow them with GET or POST; a body, when sent, wins over the query.
    merged = {**request.query_params, **payload}
    req = validate(SearchMessages, merged)
    if not any(v is not None for v in (req.number, req.from_date, req.to_date, req.query)):
        raise ValidationFailed(
            "give at least one of number, from_date, to_date, query",
            fields={"query": "at least one of number, from_date, to_date, query is required"},
        )
    if req.from_date and req.to_date and req.from_date > req.to_date:
        raise ValidationFailed.field("to_date", "must not be before from_date")
    pages = PageRequest.parse(merged.get("page"), merged.get("per_page"))
    criteria = SearchFilter(
        number=req.number, from_date=req.from_date, to_date=req.to_date, query=req.query
    )
    async with state.db.read() as session:
        result = await messages.search(session, account_id=account, criteria=criteria, page=pages)
    query = {
        k: str(v) for k, v in merged.items() if v is not None and not isinstance(v, list | dict)
    }
    return paginated(result, search_hit_json, url=url, query=query)


@router.post(
    "/search/messages",
    summary="Search messages",
    openapi_extra=body(SearchMessages),
    responses=responses(shapes.SearchList, 400, 413, 422),
)
async def search_post(
    account: AccountId, state: State, url: ListUrl, request: Request, payload: Payload
) -> Json:
    return await _search(account, state, url, request, payload)


@router.get(
    "/search/messages",
    summary="Search messages (filters in the query string)",
    responses=responses(shapes.SearchList, 422),
)
async def search_get(
    account: AccountId,
    state: State,
    url: ListUrl,
    request: Request,
    number: str | None = None,
    from_date: str | None = None,
    to_date: str | None = None,
    query: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
) -> Json:
    return await _search(account, state, url, request, {})


@router.get("/{message_id}", summary="Get a message", responses=responses(shapes.SmsEnvelope, 404))
async def get_message(account: AccountId, state: State, message_id: MessageId) -> Json:
    async with state.db.read() as session:
        view = await messages.get(session, account_id=account, message_id=message_id)
    return ok(message_json(view))


@router.delete(
    "/{message_id}",
    summary="Cancel a scheduled or queued message",
    responses=responses(shapes.SmsEnvelope, 404, 409),
)
async def cancel_message(account: AccountId, state: State, message_id: MessageId) -> Json:
    async with state.db.write() as session:
        view = await messages.cancel(session, account_id=account, message_id=message_id)
    return ok(message_json(view))

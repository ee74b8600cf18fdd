"""/api/v1/sms: send, read, list, search and cancel messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.routing import Route

from jooksms.api import shapes
from jooksms.api.deps import Caller, authenticated
from jooksms.api.envelopes import Json, message_json, ok, ok_body, paginated, search_hit_json
from jooksms.api.openapi_docs import body, link, responses
from jooksms.api.payload import FormFields
from jooksms.api.schemas import (
    INT64,
    FromDateQuery,
    Many,
    ManyEntry,
    NumberQuery,
    PageQuery,
    PerPageQuery,
    SearchMessages,
    SendSms,
    ToDateQuery,
    ToMany,
    ToManyEntry,
    WordsQuery,
    field_problems,
    source,
    validate,
)
from jooksms.domain.encoding import analyse
from jooksms.errors import ValidationFailed
from jooksms.events.webhooks.urls import UrlRefused, check_url
from jooksms.services import messages
from jooksms.services.messages import Accepted, AcceptJob, MessageDraft, SearchFilter
from jooksms.services.pagination import PageRequest

router = APIRouter(prefix="/api/v1/sms", tags=["SMS"])
MessageId = Annotated[int, Path(ge=1, le=INT64[1])]
_NEW_ID = "$response.body#/data/id"


@router.post(
    "",
    summary="Send a message",
    openapi_extra=body(SendSms, idempotent=True),
    responses=responses(
        shapes.SmsEnvelope,
        400,
        413,
        422,
        links={
            "GetMessage": link("GET /api/v1/sms/{message_id}", message_id=_NEW_ID),
            "CancelMessage": link("DELETE /api/v1/sms/{message_id}", message_id=_NEW_ID),
        },
    ),
)
async def send(call: Caller) -> Json:
    req = validate(SendSms, await call.payload())
    await _check_callback(call, req.status_callback)
    draft = MessageDraft(
        to=req.to,
        body=req.body,
        info=analyse(req.body),
        scheduled_at=req.scheduled,
        external_id=req.external_id,
        status_callback=req.status_callback,
    )
    job = AcceptJob(call.account, req.from_, [draft], with_views=True)
    return await call.accept(job, lambda accepted: ok_body(message_json(accepted.views[0])))


async def send_direct(request: Request) -> Json:
    """``send`` served as a plain Starlette route: the hottest endpoint skips FastAPI's
    per-request machinery (dependency solving, response handling), which was a large
    share of its time. The FastAPI route above stays for the OpenAPI document; errors
    still go through the app's handlers."""
    return await send(await authenticated(request))


#: Served ahead of the API routes (see ``api.app``).
FAST_ROUTES = [Route("/api/v1/sms", send_direct, methods=["POST"])]


@router.get("", summary="List messages, newest first", responses=responses(shapes.SmsList, 422))
async def list_messages(
    call: Caller, page: PageQuery = None, per_page: PerPageQuery = None
) -> Json:
    return await call.listing(
        lambda session, pages: messages.list_page(session, account_id=call.account, page=pages),
        message_json,
        page,
        per_page,
    )


@router.post(
    "/to_many",
    summary="Send one body to many recipients",
    openapi_extra=body(ToMany, form=False, idempotent=True),
    responses=responses(shapes.IdList, 400, 413, 422),
)
async def to_many(call: Caller) -> Json:
    payload = await call.payload()
    req = validate(ToMany, payload)
    await _check_callback(call, req.status_callback)
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
            status_callback=entry.status_callback or req.status_callback,
        )

    return await _send_each(call, req.from_, req.list, ToManyEntry, draft, source(payload))


@router.post(
    "/many",
    summary="Send different bodies to many recipients",
    openapi_extra=body(Many, form=False, idempotent=True),
    responses=responses(shapes.IdList, 400, 413, 422),
)
async def many(call: Caller) -> Json:
    payload = await call.payload()
    req = validate(Many, payload)
    await _check_callback(call, req.status_callback)

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
            status_callback=entry.status_callback or req.status_callback,
        )

    return await _send_each(call, req.from_, req.list, ManyEntry, draft, source(payload))


async def _send_each(
    call: Caller,
    from_number: str | None,
    entries: list[Any],
    model: type[BaseModel],
    draft: Any,
    context: dict[str, bool],
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
            entry = model.model_validate(raw, context=context)
        except ValidationError as exc:
            errors.append({"index": index, "fields": field_problems(exc)})
            continue
        drafts.append(draft(entry))
        positions.append(index)
    if any(d.status_callback for d in drafts):
        drafts, positions = await _without_refused_callbacks(call, drafts, positions, errors)

    def answer(accepted: Accepted) -> dict[str, Any]:
        for index, message_id in zip(positions, accepted.ids, strict=True):
            ids[index] = message_id
        body: dict[str, Any] = {"result": "ok", "ids": ids}
        if errors:
            body["errors"] = errors
        return body

    return await call.accept(AcceptJob(call.account, from_number, drafts), answer)


async def _check_callback(call: Caller, url: str | None) -> None:
    """A status callback's host must be public, as a webhook's (a 422 naming it)."""
    if url is not None:
        try:
            await check_url(url, allow_private=call.state.settings.webhooks_allow_private)
        except UrlRefused as exc:
            raise ValidationFailed.field("status_callback", str(exc)) from None


async def _without_refused_callbacks(
    call: Caller, drafts: list[MessageDraft], positions: list[int], errors: list[dict[str, Any]]
) -> tuple[list[MessageDraft], list[int]]:
    """The entries whose status callback may be called; the others get their -1.
    Each distinct URL is checked once."""
    refused: dict[str, str] = {}
    for url in {d.status_callback for d in drafts if d.status_callback}:
        try:
            await check_url(url, allow_private=call.state.settings.webhooks_allow_private)
        except UrlRefused as exc:
            refused[url] = str(exc)
    if not refused:
        return drafts, positions
    kept: list[tuple[MessageDraft, int]] = []
    for d, index in zip(drafts, positions, strict=True):
        if d.status_callback in refused:
            errors.append(
                {"index": index, "fields": {"status_callback": refused[d.status_callback]}}
            )
        else:
            kept.append((d, index))
    errors.sort(key=lambda e: int(e["index"]))
    return [d for d, _ in kept], [i for _, i in kept]


@router.get(
    "/by_external/{external_id}",
    summary="Get the newest message with an external id",
    responses=responses(shapes.SmsEnvelope, 404),
)
async def by_external(
    call: Caller, external_id: Annotated[int, Path(ge=INT64[0], le=INT64[1])]
) -> Json:
    async with call.state.db.read() as session:
        view = await messages.get_by_external(
            session, account_id=call.account, external_id=external_id
        )
    return ok(message_json(view))


async def _search(call: Caller, payload: dict[str, Any]) -> Json:
    # Links of a result page carry the filters in the query string, so a client can
    # follow them with GET or POST; a body, when sent, wins over the query.
    # The query string is text, the body typed as it was sent: each is read as what it is.
    in_query = validate(SearchMessages, FormFields(call.request.query_params))
    in_body = validate(SearchMessages, payload)
    req = in_query.model_copy(update={k: getattr(in_body, k) for k in in_body.model_fields_set})
    merged = {**call.request.query_params, **payload}
    if not any(v is not None for v in (req.number, req.from_date, req.to_date, req.query)):
        raise ValidationFailed(
            "give at least one of number, from_date, to_date, query",
            fields={"query": "at least one of number, from_date, to_date, query is required"},
        )
    if req.from_date and req.to_date and req.from_date > req.to_date:
        raise ValidationFailed.field("to_date", "must not be before from_date")
    pages = PageRequest.parse(req.page, req.per_page)
    criteria = SearchFilter(
        number=req.number, from_date=req.from_date, to_date=req.to_date, query=req.query
    )
    async with call.state.db.read() as session:
        result = await messages.search(
            session, account_id=call.account, criteria=criteria, page=pages
        )
    query = {
        k: str(v) for k, v in merged.items() if v is not None and not isinstance(v, list | dict)
    }
    return paginated(result, search_hit_json, url=call.list_url, query=query)


@router.post(
    "/search/messages",
    summary="Search messages",
    openapi_extra=body(SearchMessages),
    responses=responses(shapes.SearchList, 400, 413, 422),
)
async def search_post(call: Caller) -> Json:
    return await _search(call, await call.payload())


@router.get(
    "/search/messages",
    summary="Search messages (filters in the query string)",
    responses=responses(shapes.SearchList, 422),
)
async def search_get(
    call: Caller,
    number: NumberQuery = None,
    from_date: FromDateQuery = None,
    to_date: ToDateQuery = None,
    query: WordsQuery = None,
    page: PageQuery = None,
    per_page: PerPageQuery = None,
) -> Json:
    return await _search(call, {})


@router.get("/{message_id}", summary="Get a message", responses=responses(shapes.SmsEnvelope, 404))
async def get_message(call: Caller, message_id: MessageId) -> Json:
    async with call.state.db.read() as session:
        view = await messages.get(session, account_id=call.account, message_id=message_id)
    return ok(message_json(view))


@router.delete(
    "/{message_id}",
    summary="Cancel a scheduled or queued message",
    responses=responses(shapes.SmsEnvelope, 404, 409),
)
async def cancel_message(call: Caller, message_id: MessageId) -> Json:
    async with call.state.db.write() as session:
        view = await messages.cancel(session, account_id=call.account, message_id=message_id)
    return ok(message_json(view))

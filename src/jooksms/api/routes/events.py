"""/api/v1/events: the caller's events, live (Server-Sent Events) or by polling.

Both name positions by event id: the stream's ``id:`` lines, ``Last-Event-ID`` and
``after=`` are the same ids, so a client can switch between them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import StreamingResponse

from jooksms.api.deps import Caller
from jooksms.api.envelopes import Json
from jooksms.api.openapi_docs import responses
from jooksms.api.schemas import INT64
from jooksms.errors import ValidationFailed
from jooksms.events import log as event_log
from jooksms.events.feed import Feed, Subscription
from jooksms.events.log import Position
from jooksms.events.types import EVENT_TYPES, Event

T = TypeVar("T")
router = APIRouter(prefix="/api/v1/events", tags=["Events"])

#: Seconds between comment lines on an idle stream, so proxies keep it open.
HEARTBEAT = 15.0
#: Milliseconds a client waits before it reconnects (the ``retry:`` hint).
RETRY_MS = 2000
#: Windows of the log one poll reads at most: an account with few events among
#: many costs a bounded amount per request, and the answer says where to go on.
_POLL_WINDOWS = 20
_WINDOW = 1000
MAX_LIMIT = 1000
_TYPES_HELP = (
    "Event types to include, comma separated or repeated (types=message.sent"
    "&types=message.delivered); all when left out. An unknown type is a 422."
)

TypesQuery = Annotated[
    list[str] | None,
    WithJsonSchema({"type": "array", "items": {"type": "string", "enum": sorted(EVENT_TYPES)}}),
    Query(description=_TYPES_HELP),
]


class MessageEventData(BaseModel):
    message_id: int
    external_id: int | None
    number: str
    from_: str | None = Field(alias="from")
    direction: Literal["sending", "incoming"]
    status: str
    error_code: str | None
    segments: int


class EventOut(BaseModel):
    id: int
    type: Annotated[str, Field(json_schema_extra={"enum": sorted(EVENT_TYPES)})]
    account_id: int
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    # The message's data; events not about a message (later issues) carry their own.
    data: MessageEventData | dict[str, Any] | SkipJsonSchema[None] = None


class EventCursor(BaseModel):
    #: Pass as ``after`` to the next poll (or as ``Last-Event-ID`` to the stream).
    next_after: int
    count: int
    limit: int
    #: Whether more may be readable right now (poll again at once).
    has_more: bool


class EventMeta(BaseModel):
    cursor: EventCursor


class EventList(BaseModel):
    result: Literal["ok"]
    meta: EventMeta
    data: list[EventOut]


@router.get(
    "",
    summary="Poll the account's events, oldest first",
    description=(
        "The events of the caller's account after the event `after` (from the oldest "
        "one kept when left out), in the order they happened. `meta.cursor.next_after` "
        "is the `after` of the next poll, even when no event of this account was "
        "found (it moves over other accounts' events too). An extension of the seed's "
        "API."
    ),
    responses=responses(EventList, 422),
)
async def poll(
    call: Caller,
    after: Annotated[int, Query(ge=0, le=INT64[1])] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    types: TypesQuery = None,
) -> Json:
    wanted = _types(types)
    events, next_after, more = await _reading(
        call, lambda s: _page(s, call.account, after, limit, wanted)
    )
    cursor = {"next_after": next_after, "count": len(events), "limit": limit, "has_more": more}
    return Json({"result": "ok", "meta": {"cursor": cursor}, "data": [e.payload() for e in events]})


def _page(
    session: Any, account_id: int, after: int, limit: int, types: frozenset[str] | None
) -> tuple[list[Event], int, bool]:
    position = event_log.position_of(session, after)
    found: list[Event] = []
    for _ in range(_POLL_WINDOWS):
        window, end = event_log.read(
            session, after=position, limit=_WINDOW, account_id=account_id, types=types
        )
        found.extend(window)
        if len(found) >= limit:
            found = found[:limit]
            return found, found[-1].id, True
        if end == position:  # the end of what is readable now
            return found, position.event_id, False
        position = end
    return found, position.event_id, True


_STREAM_DESCRIPTION = (
    "Server-Sent Events: one message per event, `id:` the event id, `event:` its "
    "type, `data:` the event as JSON (the shape of `GET /api/v1/events`' items). "
    "Without a position it starts with what happens from now on; with "
    "`Last-Event-ID` (the header browsers send when they reconnect) or "
    "`last_event_id` / `after` in the query it starts after that event, missing "
    "nothing the log still keeps. A comment line every 15 seconds keeps idle "
    "proxies from closing it. An extension of the seed's API."
)


@router.get(
    "/stream",
    summary="Stream the account's events (Server-Sent Events)",
    description=_STREAM_DESCRIPTION,
    responses={
        **responses(None, 422),
        200: {
            "description": "An event stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
    openapi_extra={
        "parameters": [
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "description": "Resume after this event id (wins over the query).",
                "schema": {"type": "integer", "minimum": 0},
            }
        ]
    },
)
async def stream(
    call: Caller,
    types: TypesQuery = None,
    last_event_id: Annotated[int | None, Query(ge=0, le=INT64[1])] = None,
    after: Annotated[int | None, Query(ge=0, le=INT64[1])] = None,
) -> StreamingResponse:
    wanted = _types(types)
    resume = _header_id(call.request.headers.get("last-event-id"))
    if resume is None:
        resume = last_event_id if last_event_id is not None else after
    feed: Feed = call.request.app.state.feed
    start: Position | None = None
    if resume is not None:
        start = await _reading(call, lambda s: event_log.position_of(s, resume))
    subscription = feed.subscribe(account_id=call.account, types=wanted, after=start)
    draining: asyncio.Event = call.request.app.state.draining
    return StreamingResponse(
        _sse(subscription, draining),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _sse(subscription: Subscription, draining: asyncio.Event) -> AsyncIterator[bytes]:
    """The stream's lines. It ends when the client goes (Starlette cancels it), when
    the server shuts down (``draining``) or when the feed closes."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    events = aiter(subscription)
    stopping: asyncio.Future[Any] = asyncio.ensure_future(draining.wait())
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            # The pending read is kept across heartbeats: cancelling it would end
            # the subscription.
            waiting: set[asyncio.Future[Any]] = {pending, stopping}
            done, _ = await asyncio.wait(
                waiting, timeout=HEARTBEAT, return_when=asyncio.FIRST_COMPLETED
            )
            if stopping in done:
                return
            if pending not in done:
                yield b": heartbeat\n\n"
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield _message(event)
    finally:
        for future in (pending, stopping):
            if future is not None:
                future.cancel()
                with contextlib.suppress(BaseException):
                    await future
        await events.aclose()  # type: ignore[attr-defined]


async def _reading(call: Caller, work: Callable[[Any], T]) -> T:
    """``work`` on a read session: on SQLite, not on the one writer's thread."""
    async with call.state.db.read() as session:
        return await session.run_sync(work)


def _message(event: Event) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        event.id,
        event.type.encode(),
        orjson.dumps(event.payload()),
    )


def _types(values: list[str] | None) -> frozenset[str] | None:
    if not values:
        return None
    wanted = frozenset(t.strip() for value in values for t in value.split(",") if t.strip())
    unknown = sorted(wanted - EVENT_TYPES)
    if unknown:
        problem = f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(EVENT_TYPES))}"
        raise ValidationFailed(f"types: {problem}", fields={"types": problem})
    return wanted or None


def _header_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isdigit() or int(text) > INT64[1]:
        problem = "must be an event id (a non-negative integer)"
        raise ValidationFailed(f"Last-Event-ID: {problem}", fields={"Last-Event-ID": problem})
    return int(text)

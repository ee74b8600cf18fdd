"""GET /api/v1/events/stream and GET /api/v1/events, on both databases.

The stream is read by a real SSE client (httpx, lines parsed here) from the app
served by uvicorn on a free port: it reads, disconnects, misses events, reconnects
with Last-Event-ID and receives exactly the missed ones, once, in order. The server
ends open streams when it shuts down. Events are made by sending and canceling
through the API and by moving statuses with the delivery queue's functions."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from sqlalchemy import text

from jooksms import store as stores
from jooksms.api.app import create_app
from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.http_timeouts import TimedHttpToolsProtocol
from jooksms.platform import Platform
from jooksms.store.types import Sent
from tests.conftest import Tenant, make_tenant
from tests.helpers.messages import LEASE, only_these_due

# Only a guard against a hung test: nothing here asserts how fast anything is.
_GUARD = 30.0
_STREAM = "/api/v1/events/stream"


@dataclass
class Live:
    base_url: str
    app: Any
    server: uvicorn.Server
    task: asyncio.Task[None]


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[Live]:
    """The app under uvicorn, in this loop, with jooksms serve's HTTP protocol."""
    app = create_app(Platform(settings))  # it owns its engine: a database of its own connections
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        access_log=False,
        loop="asyncio",
        ws="none",
        http=TimedHttpToolsProtocol.configured(header_timeout=10, body_timeout=60),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield Live(f"http://127.0.0.1:{sock.getsockname()[1]}", app, server, task)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, _GUARD)
        sock.close()


@dataclass
class SseEvent:
    id: int | None = None
    type: str | None = None
    data: dict[str, Any] | None = None
    retry: int | None = None


@dataclass
class SseReader:
    """The text/event-stream format, read line by line (the WHATWG rules we need)."""

    lines: AsyncIterator[str]
    comments: list[str] = field(default_factory=list)

    async def next(self) -> SseEvent | None:
        """The next message (an event or a bare ``retry:``); None at the end."""
        current = SseEvent()
        data: list[str] = []
        async for line in self.lines:
            if line == "":
                if data or current.retry is not None or current.id is not None:
                    if data:
                        current.data = orjson.loads("\n".join(data))
                    return current
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                current.id = int(value)
            elif name == "event":
                current.type = value
            elif name == "data":
                data.append(value)
            elif name == "retry":
                current.retry = int(value)
        return None

    async def events(self, count: int) -> list[SseEvent]:
        async def read() -> list[SseEvent]:
            got: list[SseEvent] = []
            while len(got) < count:
                message = await self.next()
                assert message is not None, f"the stream ended after {got}"
                if message.id is not None:
                    got.append(message)
            return got

        return await asyncio.wait_for(read(), _GUARD)


@asynccontextmanager
async def streaming(
    client: httpx.AsyncClient, url: str = _STREAM, **kw: Any
) -> AsyncIterator[SseReader]:
    async with client.stream("GET", url, timeout=httpx.Timeout(_GUARD), **kw) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response.aiter_lines())
        first = await asyncio.wait_for(reader.next(), _GUARD)
        assert first is not None and first.retry is not None  # the reconnection hint
        yield reader


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    async with served(settings) as server:
        yield server


@pytest.fixture
async def client(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        yield http


async def tenant_of(db: Database, client: httpx.AsyncClient) -> Tenant:
    """An account with a token, whose client talks to the live server."""
    tenant = await make_tenant(db, client)
    token = tenant.http.headers["Authorization"]
    await tenant.http.aclose()
    tenant.http = httpx.AsyncClient(base_url=client.base_url, headers={"Authorization": token})
    return tenant


@pytest.fixture
async def caller(db: Database, client: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    tenant = await tenant_of(db, client)
    yield tenant
    await tenant.http.aclose()


@pytest.fixture
async def stranger(db: Database, client: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    tenant = await tenant_of(db, client)
    yield tenant
    await tenant.http.aclose()


async def _send(tenant: Tenant, count: int) -> list[int]:
    ids = []
    for n in range(count):
        r = await tenant.post("/api/v1/sms", json={"to": "+50768819519", "body": f"ev {n}"})
        assert r.status_code == 200, r.text
        ids.append(r.json()["data"]["id"])
    return ids


async def _cancel(tenant: Tenant, message_id: int) -> None:
    r = await tenant.delete(f"/api/v1/sms/{message_id}")
    assert r.status_code == 200, r.text


async def _mark_sent(db: Database, account_id: int, ids: list[int]) -> None:
    await only_these_due(db, ids)
    now = datetime.now(UTC)
    claimed = await db.run_write(
        lambda s: stores.of(s).claim_due(s, now=now, limit=100, lease=LEASE)
    )
    assert sorted(c.id for c in claimed) == sorted(ids)
    sent = [Sent(m, account_id, "sim", [f"stream-{m}"]) for m in ids]
    await db.run_write(lambda s: stores.of(s).record_sent(s, sent, now=now))


def _kinds(events: list[SseEvent]) -> list[tuple[str | None, int]]:
    return [(e.type, e.data["data"]["message_id"] if e.data else 0) for e in events]


async def _last_event_id(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(text("SELECT coalesce(max(id), 0) FROM events")) or 0)


async def test_a_client_that_reconnects_with_last_event_id_misses_nothing(
    db: Database, caller: Tenant, stranger: Tenant, live: Live
) -> None:
    async with streaming(caller.http) as stream:
        first = await _send(caller, 3)
        seen = await stream.events(3)
    assert _kinds(seen) == [("message.queued", m) for m in first]
    assert all(e.data and e.data["account_id"] == caller.account_id for e in seen)
    assert seen[0].data and seen[0].data["data"]["number"] == "+50768819519"

    # Disconnected: the stream leaves the feed, and events happen meanwhile.
    await _until(lambda: live.app.state.feed.subscribers == 0)
    await _cancel(caller, first[0])
    await _send(stranger, 2)
    later = await _send(caller, 2)
    await _mark_sent(db, caller.account_id, later)

    resume = {"Last-Event-ID": str(seen[-1].id)}
    async with streaming(caller.http, headers=resume) as stream:
        missed = await stream.events(5)
        assert _kinds(missed) == [
            ("message.canceled", first[0]),
            ("message.queued", later[0]),
            ("message.queued", later[1]),
            ("message.sent", later[0]),
            ("message.sent", later[1]),
        ]
        # And then live, the next event once: nothing of the above comes again.
        newest = await _send(caller, 1)
        assert _kinds(await stream.events(1)) == [("message.queued", newest[0])]
    ids = [e.id for e in seen + missed]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_the_query_names_the_position_where_headers_cannot(
    caller: Tenant, live: Live
) -> None:
    start = await _send(caller, 1)
    async with streaming(caller.http) as stream:
        await _send(caller, 2)
        two = await stream.events(2)
    for query in ("last_event_id", "after"):
        async with streaming(caller.http, params={query: two[0].id}) as stream:
            assert [e.id for e in await stream.events(1)] == [two[1].id]
    del start


async def test_the_types_filter_of_the_stream(caller: Tenant, live: Live) -> None:
    async with streaming(
        caller.http, params={"types": "message.canceled,message.failed"}
    ) as stream:
        ids = await _send(caller, 2)
        await _cancel(caller, ids[1])
        assert _kinds(await stream.events(1)) == [("message.canceled", ids[1])]


async def test_shutting_the_server_down_ends_open_streams(db: Database, settings: Settings) -> None:
    async with served(settings) as live, httpx.AsyncClient(base_url=live.base_url) as http:
        tenant = await tenant_of(db, http)
        async with streaming(tenant.http) as stream:
            live.server.should_exit = True
            # The stream ends cleanly (a complete chunked body), not cut off.
            assert await asyncio.wait_for(stream.next(), _GUARD) is None
        await asyncio.wait_for(live.task, _GUARD)
        await tenant.http.aclose()


async def test_the_stream_needs_a_token_and_good_parameters(
    client: httpx.AsyncClient, caller: Tenant
) -> None:
    r = await client.get(_STREAM)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    for params, headers, named in [
        ({"types": "message.nope"}, {}, "types"),
        ({"last_event_id": "-1"}, {}, "last_event_id"),
        ({"after": "x"}, {}, "after"),
        ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
    ]:
        r = await caller.get(_STREAM, params=params, headers=headers)
        assert r.status_code == 422, (params, headers, r.text)
        assert named in r.json()["error"]["fields"], r.text


# Polling: through the ASGI transport (no stream, so no server is needed).


async def test_polling_pages_through_the_callers_events_only(
    db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    after = await _last_event_id(db)
    ours: list[int] = []
    for _ in range(3):
        ours += await _send(tenant, 2)
        await _send(other_tenant, 1)
    await _cancel(tenant, ours[0])
    got: list[dict[str, Any]] = []
    pages = 0
    while True:
        r = await tenant.get("/api/v1/events", params={"after": after, "limit": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["result"] == "ok" and body["meta"]["cursor"]["limit"] == 3
        got += body["data"]
        pages += 1
        after = body["meta"]["cursor"]["next_after"]
        if not body["meta"]["cursor"]["has_more"]:
            break
    assert pages == 3
    assert [(e["type"], e["data"]["message_id"]) for e in got] == [
        *(("message.queued", m) for m in ours),
        ("message.canceled", ours[0]),
    ]
    assert {e["account_id"] for e in got} == {tenant.account_id}
    # At the end: nothing more, and the cursor stays where it is.
    r = await tenant.get("/api/v1/events", params={"after": after})
    assert r.json()["data"] == [] and r.json()["meta"]["cursor"]["next_after"] == after


async def test_polling_moves_over_other_accounts_events(
    db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    after = await _last_event_id(db)
    await _send(other_tenant, 3)
    r = await tenant.get("/api/v1/events", params={"after": after})
    cursor = r.json()["meta"]["cursor"]
    assert r.json()["data"] == []
    assert cursor["next_after"] > after and not cursor["has_more"]


async def test_polling_filters_by_type(db: Database, tenant: Tenant) -> None:
    after = await _last_event_id(db)
    ids = await _send(tenant, 3)
    await _cancel(tenant, ids[2])
    for params in (
        {"types": "message.canceled"},
        {"types": "message.canceled,message.delivered"},
        {"types": ["message.canceled", "message.failed"]},
    ):
        r = await tenant.get("/api/v1/events", params={"after": after, **params})
        assert [(e["type"], e["data"]["message_id"]) for e in r.json()["data"]] == [
            ("message.canceled", ids[2])
        ], params


async def test_polling_refuses_bad_parameters_naming_them(
    anon: httpx.AsyncClient, tenant: Tenant
) -> None:
    assert (await anon.get("/api/v1/events")).status_code == 401
    for params, named in [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"after": "-1"}, "after"),
        ({"after": "1.5"}, "after"),
        ({"types": "message.sent,nope"}, "types"),
    ]:
        r = await tenant.get("/api/v1/events", params=params)
        assert r.status_code == 422, (params, r.text)
        assert named in r.json()["error"]["fields"], r.text


async def _until(condition: Any) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), _GUARD)

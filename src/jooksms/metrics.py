"""Prometheus metrics, served as text by ``GET /metrics`` (the API) and by
``jooksms worker --metrics-port``.

Two kinds live here. What a process does (submits timed, receipts matched, messages
moved, connectors bound) is counted in memory, in :data:`REGISTRY`, through the small
functions below that the delivery worker calls: each process is scraped for its own.
What the database holds (messages by status, the queue, receipts kept for later) is
the same from every process and is read at scrape time by :class:`DatabaseGauges`,
which keeps each figure for a while so that scrapers cannot load the database.

:data:`REGISTRY` is ours rather than prometheus_client's global default: the endpoint
shows only what we put there (not whatever an imported library registers), and the
database gauges, one per app, are never registered in a process-wide registry, so
several apps in one process (the tests) do not collide.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import SecretStr
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.db.models import Message, PendingReceipt
from jooksms.db.types import utcnow
from jooksms.domain.status import CLAIMABLE, Direction, Status
from jooksms.errors import Forbidden, JookSMSError, NotFound, Unauthorized
from jooksms.store.sql import status_in
from jooksms.store.types import Moves
from jooksms.transports.base import Transport

log = logging.getLogger(__name__)

T = TypeVar("T")

# ``*_created`` series (when each counter was made) would double the series for no
# use with Prometheus's rate(); this switch is process-wide, and ours is the only use.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_TRANSITIONS = Counter(
    "jooksms_message_transitions",
    "Status changes this process stored, by the status reached.",
    ["status"],
    registry=REGISTRY,
)
_SUBMITS = Histogram(
    "jooksms_submit_duration_seconds",
    "Time a connector took to answer for a message (all its parts), from the moment it "
    "was handed over: waiting for room in the connector's window included.",
    ["connector", "result"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
_RECEIPTS = Counter(
    "jooksms_receipts",
    "Final delivery receipts as they arrive: matched to their message at once, or "
    "unmatched (the part is not stored yet, or unknown) and kept.",
    ["connector", "result"],
    registry=REGISTRY,
)
_KEPT_RECEIPTS = Counter(
    "jooksms_receipts_kept",
    "What became of receipts kept unmatched: matched once their part was stored, or "
    "dropped when they were kept too long.",
    ["result"],
    registry=REGISTRY,
)
_UNOWNED = Counter(
    "jooksms_incoming_unowned",
    "Incoming SMS to a number no account owns (logged, not stored).",
    registry=REGISTRY,
)
# Every series with known labels exists from the start, at 0.
for _status in Status:
    _TRANSITIONS.labels(_status.value)
for _result in ("matched", "dropped"):
    _KEPT_RECEIPTS.labels(_result)


# -- what the worker calls -------------------------------------------------------------


def count_transitions(status: Status, n: int) -> None:
    """This process stored ``n`` messages as reaching ``status``."""
    if n:
        _TRANSITIONS.labels(status.value).inc(n)


def count_moves(moves: Moves) -> None:
    """The transitions a store write reports it made (``store.types.Moves``): every
    path that changes a message, whatever transport it came from, counts here."""
    for status, n in moves.by_status().items():
        count_transitions(status, n)


def observe_submit(connector: str, seconds: float, ok: bool) -> None:
    """One message handed to ``connector`` was answered after ``seconds``."""
    _SUBMITS.labels(connector, "ok" if ok else "failed").observe(seconds)


def count_receipts(connector: str, *, matched: int, unmatched: int) -> None:
    """Final receipts from ``connector`` as they are stored: ``matched`` were applied
    to their message, ``unmatched`` were kept for later (``pending_receipts``)."""
    if matched:
        _RECEIPTS.labels(connector, "matched").inc(matched)
    if unmatched:
        _RECEIPTS.labels(connector, "unmatched").inc(unmatched)


def count_kept_receipts(*, matched: int = 0, dropped: int = 0) -> None:
    """Kept receipts that were applied after all, or forgotten as stale."""
    if matched:
        _KEPT_RECEIPTS.labels("matched").inc(matched)
    if dropped:
        _KEPT_RECEIPTS.labels("dropped").inc(dropped)


def count_unowned_incoming(n: int) -> None:
    if n:
        _UNOWNED.inc(n)


@runtime_checkable
class _Binds(Protocol):
    @property
    def bound(self) -> bool: ...


class _Connectors:
    """``jooksms_connector_bound``, read from the transports at scrape time."""

    def __init__(self) -> None:
        self._watched: dict[int, Mapping[str, Transport]] = {}
        self._keys = itertools.count()

    def watch(self, transports: Mapping[str, Transport]) -> Callable[[], None]:
        key = next(self._keys)
        self._watched[key] = transports

        def unwatch() -> None:
            self._watched.pop(key, None)

        return unwatch

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "jooksms_connector_bound",
            "1 while the connector can send (SMPP: bound; others: started), else 0.",
            labels=["connector"],
        )
        states: dict[str, bool] = {}
        for transports in list(self._watched.values()):
            for name, transport in list(transports.items()):
                # A transport with no session to lose is up while it is watched.
                states[name] = transport.bound if isinstance(transport, _Binds) else True
        for name, bound in sorted(states.items()):
            family.add_metric([name], 1.0 if bound else 0.0)
        yield family


_CONNECTORS = _Connectors()
REGISTRY.register(_CONNECTORS)


def watch_transports(transports: Mapping[str, Transport]) -> Callable[[], None]:
    """Report each transport's bind state as ``jooksms_connector_bound{connector=name}``
    until the returned function is called. The mapping is read at each scrape."""
    return _CONNECTORS.watch(transports)


# -- what the database holds -----------------------------------------------------------


def _direction_of(status: Status) -> Direction:
    return Direction.INCOMING if status is Status.RECEIVED else Direction.SENDING


def _waiting() -> ColumnElement[bool]:
    """The predicate of the partial index ``ix_messages_due`` (``store.sql.status_in``)."""
    return status_in(CLAIMABLE)


def queue_query(now: datetime) -> Select[int, int]:
    """Waiting messages due by ``now``, and those due later: two range counts over
    ``ix_messages_due``, never the table."""
    waiting = _waiting()
    return select(
        select(func.count()).where(waiting, Message.send_at <= now).scalar_subquery(),
        select(func.count()).where(waiting, Message.send_at > now).scalar_subquery(),
    )


async def _count_queue(session: AsyncSession, now: datetime) -> tuple[int, int]:
    due, later = (await session.execute(queue_query(now))).one()
    return int(due), int(later)


async def _count_by_status(session: AsyncSession, _: datetime) -> dict[tuple[str, str], int]:
    counts = {(s.value, _direction_of(s).value): 0 for s in Status}
    rows = await session.execute(
        select(Message.status, Message.direction, func.count()).group_by(
            Message.status, Message.direction
        )
    )
    counts.update({(status, direction): int(n) for status, direction, n in rows})
    return counts


async def _count_pending_receipts(session: AsyncSession, _: datetime) -> dict[str, int]:
    rows = await session.execute(
        select(PendingReceipt.connector, func.count()).group_by(PendingReceipt.connector)
    )
    return {connector: int(n) for connector, n in rows}


@dataclass(slots=True)
class _Figure(Generic[T]):
    read: Callable[[AsyncSession, datetime], Awaitable[T]]
    value: T | None = None
    next_at: float = float("-inf")


class DatabaseGauges:
    """``jooksms_messages``, ``jooksms_queue_depth``, ``jooksms_queue_scheduled`` and
    ``jooksms_receipts_pending``.

    Each figure is read again at most every ``period`` seconds, and never sooner than
    its last read took divided by ``budget``: counting messages by status reads the
    whole table (0.4 s for 1,000,000 rows on SQLite), so however large the table and
    however often it is scraped, the database spends at most ``budget`` (1 %) of its
    time on it. The queue counts use the partial index and take a millisecond, as does
    counting the receipts kept for parts not stored yet (a small table).
    """

    def __init__(
        self,
        db: Database,
        *,
        period: float = 5.0,
        budget: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._period = period
        self._budget = budget
        self._clock = clock
        self._now = now
        self._by_status: _Figure[dict[tuple[str, str], int]] = _Figure(_count_by_status)
        self._queue: _Figure[tuple[int, int]] = _Figure(_count_queue)
        self._pending: _Figure[dict[str, int]] = _Figure(_count_pending_receipts)
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Read again what is older than its period. A database that cannot answer
        leaves the figures out (and is logged) rather than failing the scrape: the
        process's own metrics matter most when the database is in trouble."""
        async with self._lock:  # concurrent scrapes wait for one read
            for figure in (self._by_status, self._queue, self._pending):
                await self._refresh(figure)

    async def _refresh(self, figure: _Figure[Any]) -> None:
        started = self._clock()
        if started < figure.next_at:
            return
        try:
            async with self._db.read() as session:
                figure.value = await figure.read(session, self._now())
        except (SQLAlchemyError, OSError) as exc:
            log.warning("metrics: cannot read the database: %s", exc)
            figure.value = None
            figure.next_at = started + self._period
            return
        took = self._clock() - started
        figure.next_at = started + max(self._period, took / self._budget)

    def collect(self) -> Iterator[Metric]:
        by_status = self._by_status.value
        if by_status is not None:
            messages = GaugeMetricFamily(
                "jooksms_messages",
                "Messages stored, by status and direction (all accounts).",
                labels=["status", "direction"],
            )
            for (status, direction), n in sorted(by_status.items()):
                messages.add_metric([status, direction], n)
            yield messages
        queue = self._queue.value
        if queue is not None:
            due, later = queue
            yield GaugeMetricFamily(
                "jooksms_queue_depth",
                "Messages waiting to be sent whose time has come.",
                value=due,
            )
            yield GaugeMetricFamily(
                "jooksms_queue_scheduled",
                "Messages waiting to be sent at a later time.",
                value=later,
            )
        pending = self._pending.value
        if pending is not None:
            receipts = GaugeMetricFamily(
                "jooksms_receipts_pending",
                "Final receipts kept until their part is stored (matched later, or dropped "
                "after a while).",
                labels=["connector"],
            )
            for connector, n in sorted(pending.items()):
                receipts.add_metric([connector], n)
            yield receipts


# -- exposition ------------------------------------------------------------------------


class _Chain:
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


async def exposition(database: DatabaseGauges) -> bytes:
    """This process's metrics and the database's, in Prometheus text format."""
    await database.refresh()
    return generate_latest(_Chain(REGISTRY, database))


def check_access(authorization: str | None, token: SecretStr | None, client: str | None) -> None:
    """Raise unless the scraper may read the metrics. With a token set, only
    ``Bearer <token>`` may (compared in constant time), from anywhere; without one,
    only a loopback client, so that message volumes are not public by default."""
    if token is None:
        if not _is_loopback(client):
            raise Forbidden(LOOPBACK_ONLY)
        return
    scheme, _, given = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    if not (scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)):
        raise Unauthorized(UNAUTHORIZED)


def _is_loopback(host: str | None) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


UNAUTHORIZED = "send the metrics token as 'Authorization: Bearer <token>'"
LOOPBACK_ONLY = (
    "metrics answer loopback clients only; set JOOKSMS_METRICS_TOKEN to scrape from elsewhere"
)


@asynccontextmanager
async def serve_metrics(db: Database, settings: Settings, *, port: int) -> AsyncIterator[int]:
    """``GET /metrics`` on ``port`` (0: any free port, yielded) at ``settings.host``,
    for a process without the API (``jooksms worker``). A few lines of HTTP/1.1 on
    asyncio: one request per connection, nothing else served."""
    gauges = DatabaseGauges(db)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                peer = writer.get_extra_info("peername")
                client = peer[0] if peer else None
                writer.write(await _answer(head, gauges, settings.metrics_token, client))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # not a request we answer; just close
        except ConnectionError:
            pass  # the scraper left
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, settings.host, port, limit=16 * 1024)
    bound_port: int = server.sockets[0].getsockname()[1]
    log.info("serving metrics on http://%s:%d/metrics", settings.host, bound_port)
    try:
        yield bound_port
    finally:
        server.close()
        await server.wait_closed()


async def _answer(
    head: bytes, gauges: DatabaseGauges, token: SecretStr | None, client: str | None
) -> bytes:
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, _, rest = request_line.partition(" ")
    path = rest.partition(" ")[0].partition("?")[0]
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if path != "/metrics":
        return _error(NotFound("no such object"))
    if method != "GET":
        failure = JookSMSError("Method Not Allowed")
        failure.status_code, failure.code = 405, "method_not_allowed"
        return _error(failure, {"Allow": "GET"})
    try:
        check_access(headers.get("authorization"), token, client)
    except Unauthorized as exc:
        return _error(exc, {"WWW-Authenticate": "Bearer"})
    except Forbidden as exc:
        return _error(exc)
    return _response(200, "OK", CONTENT_TYPE_LATEST, await exposition(gauges))


def _error(exc: JookSMSError, headers: Mapping[str, str] | None = None) -> bytes:
    """The API's error envelope (``api.envelopes.error``)."""
    body = orjson.dumps({"result": "error", "error": {"code": exc.code, "message": exc.message}})
    reasons = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
    return _response(
        exc.status_code, reasons[exc.status_code], "application/json", body, headers or {}
    )


def _response(
    status: int,
    reason: str,
    content_type: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

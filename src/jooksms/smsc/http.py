"""A small HTTP control endpoint for the simulator.

``POST /inject``  ``{"from": "+5076...", "to": "+5067...", "text": "...", "system_id"?}``
                  sends an incoming SMS as deliver_sm; 202 ``{"parts": n, "sent": bool}``
``GET /stats``    the counters as JSON
``GET /submits?to=5067...&limit=50``  the recorded submits to one destination
``POST /drop``    ``{"system_id"?}`` cuts connections as a network failure would

A hand-written HTTP/1.1 handler on ``asyncio.start_server`` rather than uvicorn:
it runs on the simulator's own loop, starts instantly, installs no signal handlers
of its own, and four JSON routes need nothing more. One request per connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from .simulator import Simulator
    from .stats import SubmitRecord

__all__ = ["HttpApi"]

log = logging.getLogger("jooksms.smsc.http")

_MAX_BODY: Final = 1 << 20
_MAX_HEAD: Final = 64 * 1024
_TIMEOUT: Final = 10.0
_DEFAULT_LIMIT: Final = 100


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except (ValueError, UnicodeDecodeError) as err:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {err}") from None
        if not isinstance(data, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return data

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


Response = tuple[HTTPStatus, Any]
Route = Callable[[Request], Awaitable[Response]]


class HttpApi:
    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator
        self._server: asyncio.Server | None = None
        self._routes: dict[tuple[str, str], Route] = {
            ("POST", "/inject"): self._inject,
            ("GET", "/stats"): self._stats,
            ("GET", "/submits"): self._submits,
            ("POST", "/drop"): self._drop,
        }

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, limit=_MAX_HEAD)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, payload = await self._answer(reader)
            writer.write(_response(status, payload))
            await writer.drain()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> Response:
        try:
            request = await asyncio.wait_for(_read_request(reader), _TIMEOUT)
            return await self._route(request)
        except HttpError as err:
            return err.status, {"error": err.message}

    async def _route(self, request: Request) -> Response:
        route = self._routes.get((request.method, request.path))
        if route is not None:
            return await route(request)
        if any(path == request.path for _, path in self._routes):
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method} not allowed here")
        raise HttpError(HTTPStatus.NOT_FOUND, f"no route {request.path}")

    # --- routes ------------------------------------------------------------------------

    async def _inject(self, request: Request) -> Response:
        data = request.json()
        fields = {key: _string(data, key) for key in ("from", "to", "text")}
        system_id = _optional_string(data, "system_id")
        try:
            injected = await self._simulator.inject(
                source=fields["from"],
                destination=fields["to"],
                text=fields["text"],
                system_id=system_id,
            )
        except ValueError as err:
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, str(err)) from None
        return HTTPStatus.ACCEPTED, {"parts": injected.parts, "sent": injected.sent}

    async def _stats(self, request: Request) -> Response:
        return HTTPStatus.OK, self._simulator.stats.as_dict()

    async def _submits(self, request: Request) -> Response:
        destination = request.param("to")
        if not destination:
            raise HttpError(HTTPStatus.BAD_REQUEST, "give the destination as ?to=")
        limit = _limit(request.param("limit", str(_DEFAULT_LIMIT)))
        records = self._simulator.stats.to(destination.removeprefix("+"))[-limit:]
        return HTTPStatus.OK, [_record_json(r) for r in records]

    async def _drop(self, request: Request) -> Response:
        system_id = _optional_string(request.json(), "system_id")
        return HTTPStatus.OK, {"dropped": self._simulator.drop(system_id)}


# --- HTTP/1.1, just enough ----------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers too large") from None
    except asyncio.IncompleteReadError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "incomplete request") from None
    method, target, headers = _parse_head(head.decode("latin-1"))
    body = await _read_body(reader, headers)
    url = urlsplit(target)
    return Request(method, url.path.rstrip("/") or "/", parse_qs(url.query), body)


def _parse_head(head: str) -> tuple[str, str, dict[str, str]]:
    request_line, *lines = head.rstrip("\r\n").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HttpError(HTTPStatus.BAD_REQUEST, "malformed request line")
    headers = {}
    for line in lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1], headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length, not chunks")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
    if not 0 <= length <= _MAX_BODY:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {_MAX_BODY} octets")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length") from None


def _response(status: HTTPStatus, payload: Any) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode() + b"\n"
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _string(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (key != "text" and not value.strip()):
        raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, f"{key!r} must be a non-empty string")
    return value


def _optional_string(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, f"{key!r} must be a string")
    return value


def _limit(value: str | None) -> int:
    try:
        limit = int(value or _DEFAULT_LIMIT)
    except ValueError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "limit must be an integer") from None
    return max(1, limit)


def _record_json(record: SubmitRecord) -> dict[str, Any]:
    concat = record.concat
    return {
        "message_id": record.message_id,
        "status": record.status,
        "system_id": record.system_id,
        "from": record.source,
        "to": record.destination,
        "text": record.text,
        "data_coding": record.data_coding,
        "esm_class": record.esm_class,
        "part": None if concat is None else asdict(concat),
        "at": record.at,
    }

"""A real HTTP/1.1 receiver on a local port for the webhook tests: it records every
request it gets and answers as told (a status, a timeout, a closed connection)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    #: Close the connection without answering.
    close: bool = False
    #: Hold the request this long before answering (a timeout for the sender).
    delay: float = 0.0


OK = Answer()
Behaviour = Callable[[Received], Answer]


class Receiver:
    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour: Behaviour = behaviour or (lambda _: OK)
        self.received: list[Received] = []
        self.arrived = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0
        #: Connections open now: none once a killed sender's have all been read.
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer_with(self, *answers: Answer, then: Answer = OK) -> None:
        """Answer these in turn, then ``then`` for ever."""
        queue = list(answers)
        self.behaviour = lambda _: queue.pop(0) if queue else then

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def until(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Wait until ``count`` requests have come (a bound against a hang, not a
        measurement)."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                self.received.append(request)
                self.arrived.set()
                answer = self.behaviour(request)
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                if answer.close:
                    return
                head = [f"HTTP/1.1 {answer.status} X", f"content-length: {len(answer.body)}"]
                head += [f"{k}: {v}" for k, v in answer.headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + answer.body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a client gone, or the receiver stopping with a request held
        finally:
            self.connections -= 1
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    line = await reader.readline()
    if not line:
        return None
    _, path, _ = line.decode().split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = (await reader.readline()).decode().rstrip("\r\n")
        if not header:
            break
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(path, headers, body)


@contextlib.asynccontextmanager
async def running(behaviour: Behaviour | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(behaviour)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()

"""A small SMSC for the SMPP client's tests, written with our codec.

It binds anyone (or refuses with ``bind_status``), answers submit_sm through
``on_submit`` (by default at once, with a fresh message_id), answers enquire_link
and unbind, and lets a test send deliver_sm or unbind to the client and read the
answers. It counts what it sees so tests can wait on conditions instead of sleeping.

Run it as a benchmark of the client (no assertion, prints messages/s):
    python -m tests.transports.smpp.fake_smsc [submits] [window]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from jooksms.transports.smpp.framing import Framer, encode_many
from jooksms.transports.smpp.pdu import (
    RESPONSES,
    Bind,
    EnquireLink,
    EnquireLinkResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from jooksms.transports.smpp.status import CommandStatus

SubmitHandler = Callable[["Peer", SubmitSm], object]


def answer_now(peer: Peer, pdu: SubmitSm) -> None:
    peer.answer(pdu)


class Peer:
    """One client connection to the fake SMSC."""

    def __init__(
        self, smsc: FakeSmsc, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.smsc = smsc
        self._reader, self._writer = reader, writer
        self._framer = Framer()
        self._outbox: list[Pdu] = []
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._numbers = itertools.count(1)
        self.bind: Bind | None = None
        self.submits: list[SubmitSm] = []
        self.outstanding = 0
        self.closed = asyncio.Event()

    def send(self, pdu: Pdu) -> None:
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(pdu)

    def answer(
        self, pdu: SubmitSm, status: int = CommandStatus.ESME_ROK, message_id: str | None = None
    ) -> str:
        """Send the submit_sm_resp for ``pdu``; returns the message_id given."""
        if message_id is None:
            message_id = self.smsc.next_id() if status == CommandStatus.ESME_ROK else ""
        self.outstanding -= 1
        self.send(
            SubmitSmResp(
                sequence_number=pdu.sequence_number, command_status=status, message_id=message_id
            )
        )
        return message_id

    async def request(self, pdu: Pdu, timeout: float = 5.0) -> Pdu:
        """Send a request to the client and wait for its response."""
        number = next(self._numbers)
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        self.send(replace(pdu, sequence_number=number))
        async with asyncio.timeout(timeout):
            return await future

    def write_raw(self, data: bytes) -> None:
        """Bytes the codec would never produce (a broken SMSC)."""
        self._writer.write(data)

    def abort(self) -> None:
        """Drop the TCP connection without a word, as a crashed SMSC would."""
        transport = self._writer.transport
        transport.abort()

    async def run(self) -> None:
        try:
            while data := await self._reader.read(65536):
                for pdu in self._framer.feed(data):
                    self._dispatch(pdu)
                self.smsc.notify()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()
            self._writer.close()
            self.smsc.notify()

    def _flush(self) -> None:
        pdus, self._outbox = self._outbox, []
        if pdus and not self._writer.is_closing():
            self._writer.write(encode_many(pdus))

    def _dispatch(self, pdu: Pdu) -> None:
        smsc = self.smsc
        smsc.received.append(pdu)
        if pdu.is_response:
            future = self._pending.pop(pdu.sequence_number, None)
            if future is not None and not future.done():
                future.set_result(pdu)
        elif isinstance(pdu, Bind):
            self._bind(pdu)
        elif isinstance(pdu, SubmitSm):
            smsc.submits.append(pdu)
            self.submits.append(pdu)
            self.outstanding += 1
            smsc.max_outstanding = max(smsc.max_outstanding, self.outstanding)
            smsc.on_submit(self, pdu)
        elif isinstance(pdu, EnquireLink):
            smsc.enquire_links += 1
            if smsc.answer_enquire_link:
                self.send(EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif isinstance(pdu, Unbind):
            smsc.unbinds += 1
            self.send(UnbindResp(sequence_number=pdu.sequence_number))

    def _bind(self, pdu: Bind) -> None:
        self.smsc.binds.append(pdu)
        status = self.smsc.bind_status
        if status == CommandStatus.ESME_ROK:
            self.bind = pdu
        response = RESPONSES[pdu.command_id]
        self.send(response(sequence_number=pdu.sequence_number, command_status=status))


class FakeSmsc:
    def __init__(self) -> None:
        self.bind_status: int = CommandStatus.ESME_ROK
        self.answer_enquire_link = True
        self.on_submit: SubmitHandler = answer_now
        self.peers: list[Peer] = []
        self.binds: list[Bind] = []
        self.submits: list[SubmitSm] = []
        self.received: list[Pdu] = []
        self.enquire_links = 0
        self.unbinds = 0
        self.max_outstanding = 0
        self.port = 0
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._scripts: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._scripts:
            task.cancel()
        for peer in self.peers:
            peer.abort()
        if self._tasks or self._scripts:
            await asyncio.wait(self._tasks | self._scripts)
        if self._server is not None:
            await self._server.wait_closed()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a scripted behaviour in the background; close() cancels it."""
        task = asyncio.create_task(coroutine)
        self._scripts.add(task)
        task.add_done_callback(self._scripts.discard)

    def next_id(self) -> str:
        return f"msg-{next(self._ids)}"

    @property
    def bound_peers(self) -> list[Peer]:
        return [p for p in self.peers if p.bind is not None and not p.closed.is_set()]

    def peer(self) -> Peer:
        """The one live bound connection (transceiver tests)."""
        (peer,) = self.bound_peers
        return peer

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until ``predicate()`` holds, re-checked whenever the SMSC sees something."""
        async with asyncio.timeout(timeout):
            while not predicate():
                # Woken by what the SMSC sees; the short poll covers conditions that
                # change inside the client alone (its state, its callbacks).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.01):
                        await self._changed.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self, reader, writer)
        self.peers.append(peer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await peer.run()
        finally:
            self._tasks.discard(task)


async def _benchmark(count: int, window: int) -> None:
    from jooksms.transports.smpp.client import OutgoingSms, SmppClient, SmppConfig

    smsc = FakeSmsc()
    port = await smsc.start()
    config = SmppConfig(host="127.0.0.1", port=port, system_id="bench", window=window)

    async def ignore(_: object) -> None:
        return None

    client = SmppClient(config, on_receipt=ignore, on_incoming=ignore)
    await client.start()
    messages = [OutgoingSms(i, "+15550001", "+15550002", f"message {i}") for i in range(count)]
    started = time.perf_counter()
    results = await asyncio.gather(*map(client.submit, messages))
    elapsed = time.perf_counter() - started
    await client.stop(5)
    await smsc.close()
    ok = sum(r.ok for r in results)
    print(f"{ok}/{count} submits, window {window}: {elapsed:.2f} s, {count / elapsed:,.0f} msgs/s")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(_benchmark(*(arguments + [20_000, 32][len(arguments) :])))

"""How many submit_sm/s the simulator answers: a one-off measurement, not a test.

    python -m tests.smsc.throughput --submits 200000 --window 64 [--receipts]

Starts ``python -m jooksms.smsc.cli`` as its own process (its own core), then
drives it from here with a deliberately lean ESME: PDUs are built once with our
codec and only their sequence numbers are patched, and replies are read from their
headers alone, so the client costs far less per PDU than the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import struct
import sys
import time
from typing import Final, cast

from jooksms.transports.smpp.pdu import (
    BindTransceiver,
    CommandId,
    DeliverSmResp,
    SubmitSm,
)

_HEADER: Final = struct.Struct(">IIII")
_LISTENING: Final = re.compile(r"SMPP listening on [\d.]+:(\d+)")


def _with_sequence(template: bytes, sequence: int) -> bytes:
    return template[:12] + sequence.to_bytes(4, "big") + template[16:]


class Client(asyncio.Protocol):
    """Keeps ``window`` submits in flight until ``total`` are answered."""

    def __init__(self, total: int, window: int, receipts: bool) -> None:
        self.total = total
        self.window = window
        self.expect_receipts = receipts
        self.sent = self.answered = self.refused = self.receipts = 0
        self.done = asyncio.get_running_loop().create_future()
        self.bound = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._submit = SubmitSm(
            sequence_number=1,
            source_addr="50760001111",
            destination_addr="50688887777",
            registered_delivery=1 if receipts else 0,
            short_message=b"A benchmark message of about sixty octets, like a real one.",
        ).encode()
        self._ack = DeliverSmResp(sequence_number=1).encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but behave as one.
        self._transport = cast(asyncio.Transport, transport)
        bind = BindTransceiver(sequence_number=1, system_id="bench", password="bench")
        self._transport.write(bind.encode())

    def start(self) -> None:
        self._send(self.window)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        replies: list[bytes] = []
        freed = self._read_all(replies)
        if freed:
            self._send(freed, replies)
        elif replies:
            assert self._transport is not None
            self._transport.write(b"".join(replies))
        self._check_done()

    def _read_all(self, replies: list[bytes]) -> int:
        freed = start = 0
        buffer = self._buffer
        while len(buffer) - start >= 16:
            length, command_id, status, sequence = _HEADER.unpack_from(buffer, start)
            if len(buffer) - start < length:
                break
            start += length
            if command_id == CommandId.SUBMIT_SM_RESP:
                freed += 1
                self.answered += 1
                self.refused += status != 0
            elif command_id == CommandId.DELIVER_SM:
                self.receipts += 1
                replies.append(_with_sequence(self._ack, sequence))
            elif command_id == CommandId.BIND_TRANSCEIVER_RESP and not self.bound.done():
                self.bound.set_result(status)
        del buffer[:start]
        return freed

    def _send(self, count: int, prefix: list[bytes] | None = None) -> None:
        count = min(count, self.total - self.sent)
        first = self.sent + 2  # sequence 1 was the bind
        pdus = prefix or []
        pdus += [_with_sequence(self._submit, n) for n in range(first, first + count)]
        self.sent += count
        if pdus:
            assert self._transport is not None
            self._transport.write(b"".join(pdus))

    def _check_done(self) -> None:
        finished = self.answered >= self.total
        if self.expect_receipts:
            finished = finished and self.receipts >= self.total - self.refused
        if finished and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"lost after {self.answered}: {exc}"))


async def _start_simulator(receipts: bool) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jooksms.smsc.cli",
        "--port=0",
        "--no-http",
        "--system-id=bench",
        "--password=bench",
        "--receipt-delay=0",
        f"--receipts={'always' if receipts else 'never'}",
        "--stats-interval=0",
        "--record-limit=1000",
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    while line := (await proc.stderr.readline()).decode():
        if match := _LISTENING.search(line):
            return proc, int(match[1])
    raise RuntimeError("the simulator exited before listening")


async def _run(args: argparse.Namespace) -> None:
    proc, port = await _start_simulator(args.receipts)
    try:
        loop = asyncio.get_running_loop()
        per_session = args.submits // args.sessions
        clients = []
        for _ in range(args.sessions):
            _, client = await loop.create_connection(
                lambda: Client(per_session, args.window, args.receipts), "127.0.0.1", port
            )
            assert await asyncio.wait_for(client.bound, 10) == 0
            clients.append(client)
        started = time.perf_counter()
        for client in clients:
            client.start()
        await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), 600)
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        await proc.wait()
    total = sum(c.answered for c in clients)
    refused = sum(c.refused for c in clients)
    receipts = sum(c.receipts for c in clients)
    print(
        f"{total} submit_sm in {elapsed:.2f}s: {total / elapsed:,.0f}/s"
        f" (window {args.window}, {args.sessions} session(s), refused {refused},"
        f" receipts {receipts})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submits", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--receipts", action="store_true", help="ask for and await receipts")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(_run(args))
    else:
        uvloop.run(_run(args))


if __name__ == "__main__":
    main()

"""A tiny ESME for tests: our codec over asyncio streams.

A background task reads every PDU into ``received`` (in stream order), resolves
the request each response answers, answers enquire_link and unbind as a client
must, and acknowledges each deliver_sm unless told not to: with ESME_ROK, or with
the next status queued in ``answers`` (an error, to test the SMSC's retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from typing import Any, Literal

from jooksms.transports.smpp.framing import Framer, encode_many
from jooksms.transports.smpp.pdu import (
    BindReceiver,
    BindResp,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)

TIMEOUT = 5.0
BindKind = Literal["transmitter", "receiver", "transceiver"]
_BIND = {
    "transmitter": BindTransmitter,
    "receiver": BindReceiver,
    "transceiver": BindTransceiver,
}


class Esme:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, auto_ack: bool
    ) -> None:
        self.received: list[Pdu] = []
        self.deliveries: asyncio.Queue[DeliverSm] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.auto_ack = auto_ack
        #: command_status for the next deliver_sm answers, in turn; ESME_ROK once empty.
        self.answers: deque[int] = deque()
        self._reader = reader
        self._writer = writer
        self._sequences = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Pdu]] = {}
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int, *, auto_ack: bool = True) -> Esme:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, auto_ack=auto_ack)

    @classmethod
    async def bound(
        cls,
        port: int,
        kind: BindKind = "transceiver",
        *,
        system_id: str = "jooksms",
        password: str = "secret",
        auto_ack: bool = True,
    ) -> Esme:
        esme = await cls.connect(port, auto_ack=auto_ack)
        resp = await esme.bind(kind, system_id=system_id, password=password)
        assert resp.command_status == 0, resp
        return esme

    def next_sequence(self) -> int:
        return next(self._sequences)

    def send(self, *pdus: Pdu) -> None:
        self._writer.write(encode_many(pdus))

    async def request(self, pdu: Pdu, timeout: float = TIMEOUT) -> Pdu:
        future = asyncio.get_running_loop().create_future()
        self._waiting[pdu.sequence_number] = future
        self.send(pdu)
        return await asyncio.wait_for(future, timeout)

    async def bind(
        self,
        kind: BindKind = "transceiver",
        *,
        system_id: str = "jooksms",
        password: str = "secret",
    ) -> BindResp:
        pdu = _BIND[kind](
            sequence_number=self.next_sequence(), system_id=system_id, password=password
        )
        resp = await self.request(pdu)
        assert isinstance(resp, BindResp), resp
        return resp

    def submit_pdu(self, **fields: Any) -> SubmitSm:
        values: dict[str, Any] = {
            "source_addr": "50760001111",
            "destination_addr": "50688887777",
            "registered_delivery": 1,
            "short_message": b"Hello from the test",
        }
        values.update(fields)
        return SubmitSm(sequence_number=self.next_sequence(), **values)

    async def submit(self, **fields: Any) -> SubmitSmResp:
        resp = await self.request(self.submit_pdu(**fields))
        assert isinstance(resp, SubmitSmResp), resp
        return resp

    async def next_delivery(self, timeout: float = TIMEOUT) -> DeliverSm:
        return await asyncio.wait_for(self.deliveries.get(), timeout)

    async def wait_closed(self, timeout: float = TIMEOUT) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
        await asyncio.wait_for(self._task, TIMEOUT)

    async def _read(self) -> None:
        framer = Framer()
        try:
            while data := await self._reader.read(1 << 16):
                for pdu in framer.feed(data):
                    self._on_pdu(pdu)
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("closed before the response"))

    def _on_pdu(self, pdu: Pdu) -> None:
        self.received.append(pdu)
        future = self._waiting.pop(pdu.sequence_number, None) if pdu.is_response else None
        if future is not None and not future.done():
            future.set_result(pdu)
        elif isinstance(pdu, DeliverSm):
            if self.auto_ack:
                status = self.answers.popleft() if self.answers else 0
                self.send(DeliverSmResp(sequence_number=pdu.sequence_number, command_status=status))
            self.deliveries.put_nowait(pdu)
        elif isinstance(pdu, EnquireLink):
            self.send(EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif isinstance(pdu, Unbind):
            self.send(UnbindResp(sequence_number=pdu.sequence_number))


async def submit_many(esme: Esme, count: int, **fields: object) -> list[SubmitSmResp]:
    """Pipelined: all sent in one write, then all responses awaited."""
    pdus = [esme.submit_pdu(**fields) for _ in range(count)]
    answers = await asyncio.gather(*(esme.request(p) for p in pdus))
    assert all(isinstance(a, SubmitSmResp) for a in answers)
    return [a for a in answers if isinstance(a, SubmitSmResp)]

"""One ESME connection: framing, bind state, and one write per loop turn.

The session knows SMPP mechanics (states, sequence numbers, which PDU answers
which); what to answer a bind or a submit is the :class:`SessionHandler`'s call,
the simulator's. PDUs to send go to an outbox flushed once per loop turn, so a burst
of requests read together is answered in a single write.

Each deliver_sm sent is remembered until its answer comes: the answer, error status
included, goes to the handler with the :class:`Delivery` it answers (whose error
may mean sending it again), and those never answered when the session closes are
handed back by ``take_unacked`` to be sent on another session.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from jooksms.transports.smpp.errors import PduError
from jooksms.transports.smpp.framing import Framer, encode_many
from jooksms.transports.smpp.pdu import (
    INTERFACE_VERSION_34,
    Bind,
    BindReceiver,
    BindReceiverResp,
    BindResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    InvalidPdu,
    Pdu,
    SubmitSm,
    Unbind,
    UnbindResp,
    UnknownPdu,
    error_response,
)
from jooksms.transports.smpp.status import CommandStatus, name
from jooksms.transports.smpp.tlv import Tag, Tlv

__all__ = ["BindState", "BuildDeliverSm", "Delivery", "Session", "SessionHandler"]

log = logging.getLogger("jooksms.smsc")

_READ_SIZE: Final = 256 * 1024
_QUICKACK: Final[int] = getattr(socket, "TCP_QUICKACK", 0)  # 0: not Linux, not there
#: Stop reading from a client that does not read our answers, rather than buffer them.
_WRITE_HIGH_WATER: Final = 4 * 1024 * 1024
_MAX_SEQUENCE: Final = 0x7FFFFFFF
_SC_INTERFACE_VERSION: Final = (Tlv.integer(Tag.SC_INTERFACE_VERSION, INTERFACE_VERSION_34),)


class BindState(enum.Enum):
    OPEN = "open"
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"

    @property
    def can_submit(self) -> bool:
        return self in (BindState.TRANSMITTER, BindState.TRANSCEIVER)

    @property
    def can_receive(self) -> bool:
        return self in (BindState.RECEIVER, BindState.TRANSCEIVER)


_BINDS: Final[dict[type[Bind], tuple[BindState, type[BindResp]]]] = {
    BindTransmitter: (BindState.TRANSMITTER, BindTransmitterResp),
    BindReceiver: (BindState.RECEIVER, BindReceiverResp),
    BindTransceiver: (BindState.TRANSCEIVER, BindTransceiverResp),
}


#: Makes a deliver_sm with the given sequence_number. Built when sent, not before, so
#: that a resend (after a reconnect or an error) gets the current numbering for free.
BuildDeliverSm = Callable[[int], DeliverSm]


@dataclass(slots=True, eq=False)
class Delivery:
    """One deliver_sm (a receipt or an incoming part) until it is answered OK or given
    up: the same object goes back and forth between sessions, queues and timers."""

    build: BuildDeliverSm
    #: Times the ESME answered it with a temporary error.
    refusals: int = 0


class SessionHandler(Protocol):
    def authenticate(self, session: Session, pdu: Bind) -> CommandStatus: ...

    def bound(self, session: Session) -> None: ...

    def submit(self, session: Session, pdu: SubmitSm) -> None: ...

    def acknowledged(self, session: Session, delivery: Delivery, status: int) -> None: ...

    def closed(self, session: Session) -> None: ...


class Session:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: SessionHandler,
        *,
        number: int,
        smsc_id: str,
    ) -> None:
        self.number = number
        self.peer = _peer(writer)
        self.state = BindState.OPEN
        self.system_id = ""
        #: submit_sm received on this connection.
        self.submits = 0
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self._smsc_id = smsc_id
        self._outbox: list[Pdu] = []
        self._closing = False
        # Set when the session is about to close: what arrives meanwhile goes unread.
        self._deaf = False
        self._sequences = itertools.count(1)
        #: Each deliver_sm we sent, by sequence_number, until answered.
        self._unacked: dict[int, Delivery] = {}
        self._dispatch: dict[type[Pdu], Callable[[Pdu], None]] = {
            SubmitSm: self._on_submit,
            DeliverSmResp: self._on_ack,
            GenericNack: self._on_ack,
            EnquireLink: self._on_enquire_link,
            BindTransmitter: self._on_bind,
            BindReceiver: self._on_bind,
            BindTransceiver: self._on_bind,
            Unbind: self._on_unbind,
            UnbindResp: self._on_unbind_resp,
            UnknownPdu: self._on_unreadable,
            InvalidPdu: self._on_unreadable,
        }

    def __repr__(self) -> str:
        return f"<session {self.number} {self.system_id or '-'} {self.state.value} {self.peer}>"

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def in_flight(self) -> int:
        """Our deliver_sm not yet answered."""
        return len(self._unacked)

    # --- the read loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Read and answer until the peer leaves or the session is closed.

        Every read is ACKed at once (``TCP_QUICKACK``, which Linux clears after each
        ACK, so it is set again after every read). A delayed ACK (up to 40 ms) stalls
        an ESME that keeps Nagle's algorithm on, as Kannel does: it holds its next small
        write until the last one is ACKed, and when that write was only deliver_sm_resp
        we have nothing to answer that would carry the ACK sooner. Carriers' SMSCs do
        not stall such clients, so neither may the simulator."""
        framer = Framer()
        sock = self._writer.get_extra_info("socket") if _QUICKACK else None
        try:
            while not self._closing and (data := await self._reader.read(_READ_SIZE)):
                if sock is not None:
                    _ack_at_once(sock)
                self._handle_all(framer.feed(data))
                await self._drain_if_backed_up()
        except PduError as err:
            # A length we cannot believe: the stream is lost. Say why, then go.
            log.warning("%r: %s; closing", self, err)
            self._send_reply(error_response(err))
        except (ConnectionError, TimeoutError) as err:
            log.info("%r: connection lost: %s", self, err)
        finally:
            self.close()
            self._handler.closed(self)

    def _handle_all(self, pdus: list[Pdu]) -> None:
        for pdu in pdus:
            if self._closing or self._deaf:
                # Closed by a PDU of this batch (unbind, a drop): the rest go unanswered.
                return
            handle = self._dispatch.get(type(pdu), self._on_other)
            handle(pdu)

    async def _drain_if_backed_up(self) -> None:
        if self._writer.transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
            await self._writer.drain()

    # --- sending -----------------------------------------------------------------------

    def send(self, pdu: Pdu) -> None:
        """Queue ``pdu`` for this loop turn's write; dropped once the session closes."""
        if self._closing:
            return
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(pdu)

    def deliver(self, delivery: Delivery) -> DeliverSm:
        """Send ``delivery``'s deliver_sm, and remember it until answered."""
        sequence = self._next_sequence()
        self._unacked[sequence] = delivery
        pdu = delivery.build(sequence)
        self.send(pdu)
        return pdu

    def take_unacked(self) -> list[Delivery]:
        """The deliver_sm never answered, oldest first, forgotten by this session."""
        pdus = list(self._unacked.values())
        self._unacked.clear()
        return pdus

    def unbind(self) -> None:
        """Ask the ESME to unbind; the session closes on its unbind_resp."""
        if self.state is BindState.OPEN:
            self.close()
            return
        self.send(Unbind(sequence_number=self._next_sequence()))

    def stop_reading(self) -> None:
        """Ignore whatever arrives from now on, but still send: a session about to be
        closed once its last answers are out."""
        self._deaf = True

    def close(self) -> None:
        """Write what is queued, then close the connection."""
        if self._closing:
            return
        self._flush()
        self._closing = True
        self._writer.close()

    def abort(self) -> None:
        """Close at once, throwing away what is queued: a connection that just dies."""
        self._outbox.clear()
        self._closing = True
        self._writer.transport.abort()

    def _flush(self) -> None:
        if self._outbox and not self._closing:
            self._writer.write(encode_many(self._outbox))
        self._outbox.clear()

    def _next_sequence(self) -> int:
        sequence = next(self._sequences)
        if sequence >= _MAX_SEQUENCE:
            self._sequences = itertools.count(1)
        return sequence

    def _send_reply(self, pdu: Pdu | None) -> None:
        if pdu is not None:
            self.send(pdu)

    # --- one handler per request -------------------------------------------------------

    def _on_submit(self, pdu: Pdu) -> None:
        assert isinstance(pdu, SubmitSm)
        self.submits += 1
        self._handler.submit(self, pdu)

    def _on_ack(self, pdu: Pdu) -> None:
        delivery = self._unacked.pop(pdu.sequence_number, None)
        if delivery is None:
            log.debug("%r: %s for nothing we sent", self, type(pdu).__name__)
            return
        self._handler.acknowledged(self, delivery, pdu.command_status)

    def _on_enquire_link(self, pdu: Pdu) -> None:
        self.send(EnquireLinkResp(sequence_number=pdu.sequence_number))

    def _on_bind(self, pdu: Pdu) -> None:
        assert isinstance(pdu, Bind)
        state, response = _BINDS[type(pdu)]
        status = CommandStatus.ESME_RALYBND
        if self.state is BindState.OPEN:
            status = self._handler.authenticate(self, pdu)
        self.send(_bind_resp(response, pdu, status, self._smsc_id))
        if status != CommandStatus.ESME_ROK:
            log.info("%r: %s as %r refused: %s", self, state.value, pdu.system_id, name(status))
            return
        self.state, self.system_id = state, pdu.system_id
        log.info("%r: bound", self)
        self._handler.bound(self)

    def _on_unbind(self, pdu: Pdu) -> None:
        self.send(UnbindResp(sequence_number=pdu.sequence_number))
        log.info("%r: unbind", self)
        self.close()

    def _on_unbind_resp(self, pdu: Pdu) -> None:
        self.close()

    def _on_unreadable(self, pdu: Pdu) -> None:
        assert isinstance(pdu, UnknownPdu | InvalidPdu)
        if isinstance(pdu, InvalidPdu):
            log.info("%r: invalid PDU: %s", self, pdu.error)
        self._send_reply(pdu.reply())

    def _on_other(self, pdu: Pdu) -> None:
        # Decodable but not for an SMSC to serve (data_sm, outbind, alert_notification),
        # or a response to nothing we sent.
        if not pdu.is_response:
            self.send(
                GenericNack(
                    sequence_number=pdu.sequence_number,
                    command_status=CommandStatus.ESME_RINVCMDID,
                )
            )


def _bind_resp(
    response: type[BindResp], pdu: Bind, status: CommandStatus, smsc_id: str
) -> BindResp:
    if status != CommandStatus.ESME_ROK:
        return response(sequence_number=pdu.sequence_number, command_status=status)
    # sc_interface_version tells the client it may send TLVs.
    return response(
        sequence_number=pdu.sequence_number, system_id=smsc_id, tlvs=_SC_INTERFACE_VERSION
    )


def _ack_at_once(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer has gone: the read loop finds out next
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)

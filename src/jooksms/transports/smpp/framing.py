"""Cutting a TCP byte stream into PDUs, and joining PDUs for one write.

A read may hold half a PDU or several; :class:`Framer` keeps the remainder for the
next read. A command_length outside [16, max_length] means we no longer know where
PDUs start, so that error is fatal and the framer refuses further input. A bad body
inside a well-framed PDU is not fatal: it comes out as an :class:`InvalidPdu` in its
place, so the PDUs around it are neither lost nor reordered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .errors import PduError
from .pdu import HEADER_SIZE, InvalidPdu, Pdu, decode, decode_header
from .status import CommandStatus

#: Far above any real PDU (a submit_sm is under 1 KiB), low enough that a peer
#: cannot make us buffer megabytes by announcing a huge length.
MAX_COMMAND_LENGTH: Final = 64 * 1024
_LENGTH_SIZE: Final = 4


class Framer:
    def __init__(self, max_length: int = MAX_COMMAND_LENGTH) -> None:
        if max_length < HEADER_SIZE:
            raise ValueError(f"max_length must be at least {HEADER_SIZE}")
        self._max_length = max_length
        self._buffer = bytearray()
        self._error: PduError | None = None

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a whole PDU."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Pdu]:
        """The PDUs completed by ``data``, in stream order.

        Raises a fatal :class:`PduError` (ESME_RINVCMDLEN) on an impossible length,
        then again on every later call: close the connection.
        """
        if self._error is not None:
            raise self._error
        self._buffer += data
        pdus: list[Pdu] = []
        start = 0
        while (length := self._next_length(start)) is not None:
            pdus.append(_decode_frame(bytes(self._buffer[start : start + length])))
            start += length
        # One deletion per read keeps a burst of small PDUs linear, not quadratic.
        del self._buffer[:start]
        return pdus

    def _next_length(self, start: int) -> int | None:
        """command_length of the PDU at ``start`` once all of it is buffered."""
        available = len(self._buffer) - start
        if available < _LENGTH_SIZE:
            return None
        length = int.from_bytes(self._buffer[start : start + _LENGTH_SIZE], "big")
        if not HEADER_SIZE <= length <= self._max_length:
            self._error = self._length_error(start, length)
            raise self._error
        return length if available >= length else None

    def _length_error(self, start: int, length: int) -> PduError:
        header = self._buffer[start : start + HEADER_SIZE]
        # With a whole header we can still name the PDU, so the generic_nack sent
        # before closing carries its sequence_number.
        command_id = sequence_number = None
        if len(header) == HEADER_SIZE:
            parsed = decode_header(bytes(header))
            command_id, sequence_number = parsed.command_id, parsed.sequence_number
        return PduError(
            CommandStatus.ESME_RINVCMDLEN,
            f"command_length {length} outside [{HEADER_SIZE}, {self._max_length}]",
            command_id=command_id,
            sequence_number=sequence_number,
            fatal=True,
        )


def _decode_frame(frame: bytes) -> Pdu:
    try:
        return decode(frame)
    except PduError as err:
        header = decode_header(frame)
        return InvalidPdu(
            raw_command_id=header.command_id,
            sequence_number=header.sequence_number,
            command_status=header.command_status,
            body=frame[HEADER_SIZE:],
            error=err,
        )


def encode_many(pdus: Iterable[Pdu]) -> bytes:
    """All of ``pdus`` as one buffer, so a loop turn's PDUs leave in one write."""
    return b"".join(pdu.encode() for pdu in pdus)

"""Reading and writing the SMPP primitive types: integers and C-Octet Strings.

C-Octet String sizes below always include the terminating NUL, as the spec's tables
give them (``source_addr`` is "Var. max 21": up to 20 characters).
"""

from __future__ import annotations

from .errors import PduError
from .status import CommandStatus

_TRUNCATED = CommandStatus.ESME_RINVCMDLEN


class Reader:
    """A cursor over a PDU body; running past the end is a bad command_length."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def integer(self, size: int) -> int:
        return int.from_bytes(self.octets(size), "big")

    def octets(self, size: int) -> bytes:
        if size > self.remaining:
            raise PduError(_TRUNCATED, f"body ends {size - self.remaining} octets early")
        start = self._pos
        self._pos += size
        return self._data[start : self._pos]

    def cstring(self, size: int, status: CommandStatus) -> str:
        """A NUL-terminated string of at most ``size`` octets, NUL included."""
        limit = min(self._pos + size, len(self._data))
        end = self._data.find(b"\0", self._pos, limit)
        if end < 0:
            if limit == len(self._data):
                raise PduError(_TRUNCATED, "body ends inside a C-Octet String")
            raise PduError(status, f"C-Octet String longer than {size - 1} characters")
        # latin-1 maps every octet, so a carrier's odd byte is kept, not an error.
        value = self._data[self._pos : end].decode("latin-1")
        self._pos = end + 1
        return value

    def rest(self) -> bytes:
        start = self._pos
        self._pos = len(self._data)
        return self._data[start:]


def put_integer(out: bytearray, value: int, size: int, status: CommandStatus) -> None:
    if not 0 <= value < 1 << (8 * size):
        raise PduError(status, f"{value} does not fit in {size} octet(s)")
    out += value.to_bytes(size, "big")


def put_cstring(out: bytearray, value: str, size: int, status: CommandStatus) -> None:
    out += cstring_bytes(value, size, status)


def cstring_bytes(value: str, size: int, status: CommandStatus) -> bytes:
    """``value`` as a C-Octet String of at most ``size`` octets, NUL included."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise PduError(status, f"{value!r} has characters outside Latin-1") from None
    if b"\0" in raw:
        raise PduError(status, f"{value!r} contains NUL, which would end the string")
    if len(raw) >= size:
        raise PduError(status, f"{value!r} is longer than {size - 1} characters")
    return raw + b"\0"

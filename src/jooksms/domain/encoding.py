"""SMS body encoding and segmentation, per GSM 03.38 / 3GPP TS 23.038.

A body is sent as GSM-7 when every character is in the default alphabet or its
extension table, otherwise as UCS-2. Segment counts follow the carrier's splitting
rule: an escape pair or a UTF-16 surrogate pair is never cut in two, so a segment may
carry one unit less than its limit, and ``len(split(t)) == analyse(t).segments`` holds.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate, pairwise
from types import MappingProxyType
from typing import Final

MAX_SEGMENTS: Final = 10

# Index is the septet value. 0x1B is the escape to the extension table, not a
# character; "\x1b" only holds its place so the table stays 128 entries long.
GSM7_BASIC_TABLE: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# Character -> septet that follows the 0x1B escape.
GSM7_EXTENSION_TABLE: Final[Mapping[str, int]] = MappingProxyType(
    {
        "\f": 0x0A,
        "^": 0x14,
        "{": 0x28,
        "}": 0x29,
        "\\": 0x2F,
        "[": 0x3C,
        "~": 0x3D,
        "]": 0x3E,
        "|": 0x40,
        "€": 0x65,
    }
)

_ESC: Final = 0x1B
# Single and concatenated capacities; the 6-byte UDH costs 7 septets or 3 UCS-2 units.
_GSM7_LIMITS: Final = (160, 153)
_UCS2_LIMITS: Final = (70, 67)
_ASTRAL_START: Final = "\U00010000"

# A literal ESC in user text would be read back as an escape, so it is not encodable.
_BASIC_CHARS: Final = frozenset(GSM7_BASIC_TABLE) - {chr(_ESC)}
_EXT_CHARS: Final = frozenset(GSM7_EXTENSION_TABLE)
_GSM_CHARS: Final = _BASIC_CHARS | _EXT_CHARS
# Byte sets for bytes.translate(None, delete), which checks ASCII text in C.
_ASCII_BASIC: Final = bytes(sorted(ord(c) for c in _BASIC_CHARS if c.isascii()))
_ASCII_EXT: Final = bytes(sorted(ord(c) for c in _EXT_CHARS if c.isascii()))

_SEPTET_WEIGHTS: Final[Mapping[str, int]] = {c: 1 for c in _BASIC_CHARS} | {
    c: 2 for c in _EXT_CHARS
}
_ENCODE_TABLE: Final = str.maketrans(
    {c: chr(code) for code, c in enumerate(GSM7_BASIC_TABLE) if c in _BASIC_CHARS}
    | {c: chr(_ESC) + chr(code) for c, code in GSM7_EXTENSION_TABLE.items()}
)
_DECODE_TABLE: Final = str.maketrans(dict(enumerate(GSM7_BASIC_TABLE)))
_EXT_DECODE: Final = {code: c for c, code in GSM7_EXTENSION_TABLE.items()}


class Encoding(enum.StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    encoding: Encoding
    #: Septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2.
    units: int
    segments: int


def analyse(text: str) -> SegmentInfo:
    """Pick the encoding for ``text`` and count its units and carrier segments."""
    encoding, units = _measure(text)
    return SegmentInfo(encoding, units, len(_segment_ends(text, encoding, units)))


def split(text: str) -> list[str]:
    """Cut ``text`` into segments the way a carrier does; joins back to ``text``."""
    ends = _segment_ends(text, *_measure(text))
    if len(ends) == 1:
        return [text]
    return [text[start:end] for start, end in pairwise([0, *ends])]


def split_ucs2(text: str) -> list[str]:
    """Cut ``text`` into UCS-2 segments even when it would fit GSM-7, for a carrier
    whose default alphabet is not GSM 03.38 (so a text outside its own 8-bit charset
    has only UCS-2 left). A surrogate pair is never cut, as in :func:`split`."""
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    ends = _segment_ends(text, Encoding.UCS2, units)
    return [text[start:end] for start, end in pairwise([0, *ends])]


def encode_gsm7(text: str) -> bytes:
    """Unpacked septets, one byte each, as SMPP sends with ``data_coding=0``."""
    invalid = set(text) - _GSM_CHARS
    if invalid:
        first = next(c for c in text if c in invalid)
        raise ValueError(f"{first!r} (U+{ord(first):04X}) is not in the GSM 03.38 alphabet")
    return text.translate(_ENCODE_TABLE).encode("ascii")


def decode_gsm7(data: bytes) -> str:
    """Inverse of :func:`encode_gsm7`; unknown escapes fall back as TS 23.038 says."""
    if not data.isascii():
        raise ValueError("GSM-7 septets must be below 0x80")
    if _ESC not in data:
        return data.decode("ascii").translate(_DECODE_TABLE)
    return _decode_escaped(data)


def encode_ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


def decode_ucs2(data: bytes) -> str:
    return data.decode("utf-16-be")


def _measure(text: str) -> tuple[Encoding, int]:
    septets = _gsm7_septets(text)
    if septets is not None:
        return Encoding.GSM7, septets
    # surrogatepass so a stray lone surrogate is counted rather than raising.
    return Encoding.UCS2, len(text.encode("utf-16-le", "surrogatepass")) // 2


def _gsm7_septets(text: str) -> int | None:
    """Septet count, or None when ``text`` needs UCS-2."""
    if text.isascii():
        return _ascii_septets(text)
    chars = set(text)
    if not chars <= _GSM_CHARS:
        return None
    return len(text) + sum(text.count(c) for c in chars & _EXT_CHARS)


def _ascii_septets(text: str) -> int | None:
    # Most bodies are plain ASCII; deleting known bytes in C beats building a set.
    non_basic = text.encode("ascii").translate(None, _ASCII_BASIC)
    if non_basic.translate(None, _ASCII_EXT):
        return None
    return len(text) + len(non_basic)


def _segment_ends(text: str, encoding: Encoding, units: int) -> list[int]:
    """Index in ``text`` where each segment ends."""
    single, multi = _GSM7_LIMITS if encoding is Encoding.GSM7 else _UCS2_LIMITS
    if units <= single:
        return [len(text)]
    if units == len(text):
        # Every character is one unit, so no pair can straddle a boundary.
        return [*range(multi, units, multi), units]
    return _greedy_ends(_running_units(text, encoding), multi)


def _running_units(text: str, encoding: Encoding) -> list[int]:
    """``totals[i]`` is the number of units in ``text[:i]``."""
    weights: Iterable[int]
    if encoding is Encoding.GSM7:
        weights = map(_SEPTET_WEIGHTS.__getitem__, text)
    else:
        weights = (2 if c >= _ASTRAL_START else 1 for c in text)
    return list(accumulate(weights, initial=0))


def _greedy_ends(totals: list[int], limit: int) -> list[int]:
    # Fill each segment with as many whole characters as fit, as carriers do.
    ends: list[int] = []
    start = 0
    while start < len(totals) - 1:
        start = bisect_right(totals, totals[start] + limit) - 1
        ends.append(start)
    return ends


def _decode_escaped(data: bytes) -> str:
    chars: list[str] = []
    septets = iter(data)
    for septet in septets:
        if septet == _ESC:
            chars.append(_unescape(next(septets, None)))
        else:
            chars.append(GSM7_BASIC_TABLE[septet])
    return "".join(chars)


def _unescape(septet: int | None) -> str:
    # TS 23.038: a dangling escape or ESC ESC (reserved for a further table) shows as
    # a space; any other unknown escape shows the basic-table character.
    if septet is None or septet == _ESC:
        return " "
    return _EXT_DECODE.get(septet, GSM7_BASIC_TABLE[septet])

"""Long messages over SMPP: concatenation UDH out, reassembly in (3GPP TS 23.040
9.2.3.24.1 and 9.2.3.24.8).

Outgoing text is cut by :func:`jooksms.domain.encoding.split`, so the parts sent are
exactly the segments the API counted and charged. GSM-7 goes out as unpacked septets
(one per octet, ``data_coding=0``) and the SMSC packs them: a part of 153 septets
plus a 6-octet UDH is 159 octets in SMPP but 140 on the air, which is what
:attr:`SubmitPart.air_octets` reports.

Not every carrier reads ``data_coding=0`` as GSM 03.38: :class:`Charset` names what a
connector's SMSC takes it for, and :func:`split_for_charset` cuts text for the 8-bit
ones (one octet per character, so 140 octets a part, 134 after the UDH).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from jooksms.domain.encoding import (
    Encoding,
    analyse,
    decode_gsm7,
    encode_gsm7,
    encode_ucs2,
    split,
    split_ucs2,
)

from .errors import PduError
from .pdu import DataSm, DeliverSm
from .status import CommandStatus
from .tlv import Tag, Tlv, find_tlv

#: esm_class bit 6: short_message starts with a User Data Header.
ESM_UDHI: Final = 0x40
DATA_CODING_GSM7: Final = 0x00
DATA_CODING_LATIN1: Final = 0x03
DATA_CODING_UCS2: Final = 0x08
IEI_CONCAT_8BIT: Final = 0x00
IEI_CONCAT_16BIT: Final = 0x08

# Octets after the header length for each IEI: reference, total, sequence number.
_CONCAT_SIZES: Final = {IEI_CONCAT_8BIT: 3, IEI_CONCAT_16BIT: 4}
_BAD_UDH: Final = CommandStatus.ESME_RINVMSGLEN
_SAR_TAGS: Final = (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)


class Charset(enum.StrEnum):
    """What an SMSC takes ``data_coding=0`` (its "default alphabet") to be."""

    GSM7 = "gsm7"
    LATIN1 = "latin1"
    ASCII = "ascii"


# The Python codec of each 8-bit default alphabet.
_CODECS: Final[Mapping[Charset, str]] = {Charset.LATIN1: "latin-1", Charset.ASCII: "ascii"}
# Octets of text in one part: alone, and after the 6-octet concatenation UDH.
_OCTET_LIMITS: Final = (140, 134)


@dataclass(frozen=True, slots=True)
class Concat:
    """Where a part sits in its message; ``seq`` counts from 1."""

    ref: int
    total: int
    seq: int


@dataclass(frozen=True, slots=True)
class SubmitPart:
    """The submit_sm fields for one segment. OR other esm_class bits in as needed."""

    data_coding: int
    esm_class: int
    short_message: bytes

    @property
    def air_octets(self) -> int:
        """Octets on the air interface, where the SMSC packs GSM-7 septets. Counts
        ``data_coding=0`` as septets, so it holds only for :attr:`Charset.GSM7`."""
        if self.data_coding != DATA_CODING_GSM7:
            return len(self.short_message)
        udh = _udh_length(self.short_message) if self.esm_class & ESM_UDHI else 0
        # The UDH is padded to a septet boundary; the text follows as 7-bit septets.
        septets = -(-udh * 8 // 7) + len(self.short_message) - udh
        return -(-septets * 7 // 8)


@dataclass(frozen=True, slots=True)
class IncomingText:
    text: str
    #: None for a message in one part.
    concat: Concat | None


# --- outgoing -----------------------------------------------------------------------


def concat_udh(ref: int, total: int, seq: int, *, wide: bool = False) -> bytes:
    """The whole UDH (length octet included) for one part of a concatenated message."""
    if not 1 <= seq <= total <= 255:
        raise ValueError(f"part {seq} of {total} is not a valid concatenation")
    if wide:
        _check_ref(ref, 0xFFFF)
        return bytes([6, IEI_CONCAT_16BIT, 4, *ref.to_bytes(2, "big"), total, seq])
    _check_ref(ref, 0xFF)
    return bytes([5, IEI_CONCAT_8BIT, 3, ref, total, seq])


def split_for_smpp(text: str, *, ref: int) -> list[SubmitPart]:
    """One :class:`SubmitPart` per carrier segment of ``text``.

    ``ref`` (0-255) must differ between long messages in flight to the same handset;
    the 8-bit form is used because the segment sizes in the encoding module assume
    its 6-octet header. Raises ValueError for text that cannot be encoded.
    """
    _check_ref(ref, 0xFF)
    segments = split(text)
    if analyse(text).encoding is Encoding.GSM7:
        data_coding, encode = DATA_CODING_GSM7, encode_gsm7
    else:
        data_coding, encode = DATA_CODING_UCS2, encode_ucs2
    if len(segments) == 1:
        return [SubmitPart(data_coding, 0, encode(text))]
    total = len(segments)
    return [
        SubmitPart(data_coding, ESM_UDHI, concat_udh(ref, total, seq) + encode(segment))
        for seq, segment in enumerate(segments, start=1)
    ]


def split_for_charset(text: str, *, ref: int, charset: Charset) -> list[SubmitPart]:
    """:func:`split_for_smpp` for an SMSC that reads ``data_coding=0`` as ``charset``.

    A text that fits ``charset`` goes as its octets in ``data_coding=0``; any other
    goes as UCS-2, even when GSM-7 could carry it, since this SMSC does not read
    GSM-7. The parts may then outnumber the segments the API counted. Raises
    ValueError for text that cannot be encoded.
    """
    if charset is Charset.GSM7:
        return split_for_smpp(text, ref=ref)
    _check_ref(ref, 0xFF)
    try:
        data = text.encode(_CODECS[charset])
    except UnicodeEncodeError:
        return _with_udh(DATA_CODING_UCS2, [encode_ucs2(s) for s in split_ucs2(text)], ref)
    single, multi = _OCTET_LIMITS
    if len(data) <= single:
        return [SubmitPart(DATA_CODING_GSM7, 0, data)]
    # One octet per character: no pair to keep whole, so cut at fixed offsets.
    chunks = [data[start : start + multi] for start in range(0, len(data), multi)]
    return _with_udh(DATA_CODING_GSM7, chunks, ref)


def _with_udh(data_coding: int, payloads: list[bytes], ref: int) -> list[SubmitPart]:
    if len(payloads) == 1:
        return [SubmitPart(data_coding, 0, payloads[0])]
    total = len(payloads)
    return [
        SubmitPart(data_coding, ESM_UDHI, concat_udh(ref, total, seq) + payload)
        for seq, payload in enumerate(payloads, start=1)
    ]


def _check_ref(ref: int, limit: int) -> None:
    if not 0 <= ref <= limit:
        raise ValueError(f"concatenation reference {ref} is outside 0..{limit}")


# --- incoming -----------------------------------------------------------------------


def parse_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """Split a short_message sent with UDHI into its concatenation and its payload.

    Other information elements (ports, special SMS indication...) are skipped. A
    concatenation element with a zero or out-of-range part number is ignored, as
    TS 23.040 asks, and the message is then treated as a single part.
    """
    end = _udh_length(short_message)
    concat: Concat | None = None
    pos = 1
    while pos < end:
        if pos + 2 > end or pos + 2 + short_message[pos + 1] > end:
            raise PduError(_BAD_UDH, "an information element runs past the UDH")
        iei, size = short_message[pos], short_message[pos + 1]
        value = short_message[pos + 2 : pos + 2 + size]
        # TS 23.040: when an element repeats, the last one counts.
        concat = _concat_element(iei, value) or concat
        pos += 2 + size
    return concat, short_message[end:]


def _udh_length(short_message: bytes) -> int:
    """Octets taken by the UDH, its length octet included."""
    if not short_message or 1 + short_message[0] > len(short_message):
        raise PduError(_BAD_UDH, "UDHI is set but the UDH is longer than short_message")
    return 1 + short_message[0]


def _concat_element(iei: int, value: bytes) -> Concat | None:
    if _CONCAT_SIZES.get(iei) != len(value):
        return None
    ref = int.from_bytes(value[:-2], "big")
    return _valid_concat(ref, value[-2], value[-1])


def _valid_concat(ref: int, total: int, seq: int) -> Concat | None:
    return Concat(ref, total, seq) if 1 <= seq <= total else None


def decode_short_message(data_coding: int, payload: bytes, charset: Charset = Charset.GSM7) -> str:
    """Text of an incoming message; ESME_RX_P_APPN for codings we cannot show.
    ``charset`` is what the SMSC means by ``data_coding=0``."""
    if data_coding == DATA_CODING_GSM7 and charset is not Charset.GSM7:
        # Latin-1 is a superset of ASCII, and an "ASCII" SMSC that sends octets above
        # 0x7F most likely means Latin-1 by them: decoding never fails.
        return payload.decode("latin-1")
    if data_coding == DATA_CODING_GSM7:
        # Some SMSCs deliver Latin-1 under data_coding 0 ("SMSC default alphabet");
        # octets above 0x7F cannot be septets, so they mark that case.
        return decode_gsm7(payload) if payload.isascii() else payload.decode("latin-1")
    if data_coding in (0x01, DATA_CODING_LATIN1):
        return payload.decode("latin-1")
    if data_coding == DATA_CODING_UCS2:
        return _decode_ucs2_part(payload)
    raise PduError(CommandStatus.ESME_RX_P_APPN, f"data_coding 0x{data_coding:02X} not supported")


def _decode_ucs2_part(payload: bytes) -> str:
    if len(payload) % 2:
        raise PduError(_BAD_UDH, "UCS-2 text with an odd number of octets")
    # Unlike domain.encoding.decode_ucs2, keep a surrogate half: other senders cut
    # parts in the middle of a pair, and the Reassembler joins the halves again.
    return payload.decode("utf-16-be", "surrogatepass")


def read_incoming(pdu: DeliverSm | DataSm, charset: Charset = Charset.GSM7) -> IncomingText:
    """Text and concatenation of an incoming message, from UDH or SAR TLVs.
    ``charset`` is what the SMSC means by ``data_coding=0``."""
    data = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    payload = find_tlv(pdu.tlvs, Tag.MESSAGE_PAYLOAD)
    if not data and payload is not None:
        data = payload.value
    concat: Concat | None = None
    if pdu.esm_class & ESM_UDHI:
        concat, data = parse_udh(data)
    concat = concat or _sar_concat(pdu.tlvs)
    return IncomingText(decode_short_message(pdu.data_coding, data, charset), concat)


def _sar_concat(tlvs: tuple[Tlv, ...]) -> Concat | None:
    found = [find_tlv(tlvs, tag) for tag in _SAR_TAGS]
    if any(tlv is None for tlv in found):
        return None
    ref, total, seq = (tlv.as_int() for tlv in found if tlv is not None)
    return _valid_concat(ref, total, seq)


# --- reassembly ---------------------------------------------------------------------


@dataclass(slots=True)
class _Partial:
    started: float
    parts: dict[int, str] = field(default_factory=dict)


class Reassembler:
    """Collects the parts of incoming long messages until each is complete.

    A message is keyed by sender, reference and part count. Parts may arrive in any
    order and more than once (an SMSC resends a deliver_sm whose response it missed);
    a repeat is ignored. A message still incomplete ``timeout`` seconds after its
    first part is dropped, and so is the oldest one when ``max_pending`` are open,
    so a peer cannot grow memory without bound.
    """

    def __init__(
        self,
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = 10_000,
    ) -> None:
        self._timeout = timeout
        self._clock = clock
        self._max_pending = max_pending
        # Insertion order is start order, which lets expire() stop at the first fresh one.
        self._partials: dict[tuple[str, int, int], _Partial] = {}

    @property
    def pending(self) -> int:
        return len(self._partials)

    def add(self, source: str, ref: int, total: int, seq: int, text: str) -> str | None:
        """The whole text once ``seq`` completes its message, else None."""
        if not 1 <= seq <= total:
            raise ValueError(f"part {seq} of {total} is not a valid concatenation")
        if total == 1:
            return text
        self.expire()
        key = (source, ref, total)
        partial = self._partials.get(key) or self._start(key)
        partial.parts.setdefault(seq, text)
        if len(partial.parts) < total:
            return None
        del self._partials[key]
        return _join(partial.parts, total)

    def expire(self) -> int:
        """Drop messages older than the timeout; returns how many were dropped."""
        deadline = self._clock() - self._timeout
        dropped = 0
        for key, partial in list(self._partials.items()):
            if partial.started > deadline:
                break
            del self._partials[key]
            dropped += 1
        return dropped

    def _start(self, key: tuple[str, int, int]) -> _Partial:
        while len(self._partials) >= self._max_pending:
            del self._partials[next(iter(self._partials))]
        partial = self._partials[key] = _Partial(self._clock())
        return partial


def _join(parts: dict[int, str], total: int) -> str:
    text = "".join(parts[seq] for seq in range(1, total + 1))
    # A surrogate pair cut across two parts becomes one character again.
    return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")

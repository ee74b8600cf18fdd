"""Optional parameters (TLVs, SMPP 3.4 section 5.3): a 2-octet tag, a 2-octet length
and the value.

PDUs keep their TLVs as an ordered tuple of raw :class:`Tlv`, unknown tags included,
so a PDU re-encodes to the bytes it came from and vendor tags pass through. Typed
access goes through :meth:`Tlv.as_int` / :meth:`Tlv.as_str` and :func:`find_tlv`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from .errors import PduError
from .status import CommandStatus
from .wire import cstring_bytes

_HEADER_SIZE: Final = 4
_MAX_VALUE: Final = 0xFFFF


class Tag(enum.IntEnum):
    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


_T = Tag

#: Value size of the TLVs the spec defines as fixed-size integers. A known tag with
#: another length is rejected (ESME_RINVPARLEN) when decoding. network_error_code is
#: three octets: network type, then a 2-octet error code. alert_on_message_delivery is
#: left out: the spec gives it no value, but some SMSCs send one octet.
INTEGER_SIZES: Final[Mapping[int, int]] = MappingProxyType(
    {
        _T.DEST_ADDR_SUBUNIT: 1,
        _T.DEST_NETWORK_TYPE: 1,
        _T.DEST_BEARER_TYPE: 1,
        _T.DEST_TELEMATICS_ID: 2,
        _T.SOURCE_ADDR_SUBUNIT: 1,
        _T.SOURCE_NETWORK_TYPE: 1,
        _T.SOURCE_BEARER_TYPE: 1,
        _T.SOURCE_TELEMATICS_ID: 2,
        _T.QOS_TIME_TO_LIVE: 4,
        _T.PAYLOAD_TYPE: 1,
        _T.MS_MSG_WAIT_FACILITIES: 1,
        _T.PRIVACY_INDICATOR: 1,
        _T.USER_MESSAGE_REFERENCE: 2,
        _T.USER_RESPONSE_CODE: 1,
        _T.SOURCE_PORT: 2,
        _T.DESTINATION_PORT: 2,
        _T.SAR_MSG_REF_NUM: 2,
        _T.LANGUAGE_INDICATOR: 1,
        _T.SAR_TOTAL_SEGMENTS: 1,
        _T.SAR_SEGMENT_SEQNUM: 1,
        _T.SC_INTERFACE_VERSION: 1,
        _T.CALLBACK_NUM_PRES_IND: 1,
        _T.NUMBER_OF_MESSAGES: 1,
        _T.DPF_RESULT: 1,
        _T.SET_DPF: 1,
        _T.MS_AVAILABILITY_STATUS: 1,
        _T.NETWORK_ERROR_CODE: 3,
        _T.DELIVERY_FAILURE_REASON: 1,
        _T.MORE_MESSAGES_TO_SEND: 1,
        _T.MESSAGE_STATE: 1,
        _T.USSD_SERVICE_OP: 1,
        _T.DISPLAY_TIME: 1,
        _T.SMS_SIGNAL: 2,
        _T.MS_VALIDITY: 1,
        _T.ITS_REPLY_TYPE: 1,
        _T.ITS_SESSION_INFO: 2,
    }
)

#: TLVs whose value is a C-Octet String; the size includes the NUL.
STRING_SIZES: Final[Mapping[int, int]] = MappingProxyType(
    {_T.RECEIPTED_MESSAGE_ID: 65, _T.ADDITIONAL_STATUS_INFO_TEXT: 256}
)


class MessageState(enum.IntEnum):
    """Values of the message_state TLV (section 5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes = b""

    @classmethod
    def integer(cls, tag: int, value: int, size: int | None = None) -> Tlv:
        """A big-endian integer TLV; ``size`` defaults to the spec's size for ``tag``."""
        size = size if size is not None else INTEGER_SIZES.get(tag)
        if size is None:
            raise ValueError(f"tag 0x{tag:04X} has no known size; pass size=")
        if not 0 <= value < 1 << (8 * size):
            raise PduError(CommandStatus.ESME_RINVOPTPARAMVAL, f"{value} overflows {size} octets")
        return cls(tag, value.to_bytes(size, "big"))

    @classmethod
    def string(cls, tag: int, value: str) -> Tlv:
        size = STRING_SIZES.get(tag, _MAX_VALUE)
        return cls(tag, cstring_bytes(value, size, CommandStatus.ESME_RINVOPTPARAMVAL))

    def as_int(self) -> int:
        return int.from_bytes(self.value, "big")

    def as_str(self) -> str:
        # Some SMSCs leave out the NUL of receipted_message_id, so it is optional here.
        raw = self.value[:-1] if self.value.endswith(b"\0") else self.value
        return raw.decode("latin-1")


def find_tlv(tlvs: Iterable[Tlv], tag: int) -> Tlv | None:
    """The first TLV with ``tag``; the spec allows each tag once per PDU."""
    return next((tlv for tlv in tlvs if tlv.tag == tag), None)


def encode_tlvs(tlvs: Iterable[Tlv]) -> bytes:
    out = bytearray()
    for tlv in tlvs:
        if not 0 <= tlv.tag <= 0xFFFF:
            raise PduError(CommandStatus.ESME_RINVOPTPARSTREAM, f"tag {tlv.tag} overflows 16 bits")
        if len(tlv.value) > _MAX_VALUE:
            raise PduError(CommandStatus.ESME_RINVPARLEN, f"tag 0x{tlv.tag:04X} value too long")
        out += tlv.tag.to_bytes(2, "big") + len(tlv.value).to_bytes(2, "big") + tlv.value
    return bytes(out)


def decode_tlvs(data: bytes) -> tuple[Tlv, ...]:
    tlvs: list[Tlv] = []
    pos = 0
    while pos < len(data):
        tlv, pos = _decode_one(data, pos)
        tlvs.append(tlv)
    return tuple(tlvs)


def _decode_one(data: bytes, pos: int) -> tuple[Tlv, int]:
    if len(data) - pos < _HEADER_SIZE:
        raise PduError(CommandStatus.ESME_RINVOPTPARSTREAM, "truncated TLV header")
    tag = int.from_bytes(data[pos : pos + 2], "big")
    length = int.from_bytes(data[pos + 2 : pos + 4], "big")
    end = pos + _HEADER_SIZE + length
    if end > len(data):
        raise PduError(CommandStatus.ESME_RINVOPTPARSTREAM, f"TLV 0x{tag:04X} runs past the PDU")
    expected = INTEGER_SIZES.get(tag)
    if expected is not None and length != expected:
        raise PduError(
            CommandStatus.ESME_RINVPARLEN, f"TLV 0x{tag:04X} has {length} octets, not {expected}"
        )
    return Tlv(tag, data[pos + _HEADER_SIZE : end]), end

"""Delivery receipts: reading them from deliver_sm / data_sm, and writing them.

The receipt text is not standardised: SMPP 3.4 Appendix B only gives an example,
``id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
stat:DDDDDDD err:E text: ...``, and SMSCs vary it (case, spacing, missing fields,
seconds in dates, hex or zero-padded ids). So the text is read field by field, by
name, in any order, and anything missing except ``id`` and ``stat`` is optional.
When the receipted_message_id and message_state TLVs are present they win, as the
spec defines them exactly.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from types import MappingProxyType
from typing import Final, Literal

from .pdu import DataSm, DeliverSm
from .tlv import MessageState, Tag, Tlv, find_tlv

#: esm_class bits 2-5 give the message type; 0x04 is an SMSC delivery receipt.
ESM_TYPE_MASK: Final = 0x3C
ESM_DELIVERY_RECEIPT: Final = 0x04
#: Appendix B: the text field carries the first 20 characters of the message.
RECEIPT_TEXT_CHARS: Final = 20
#: GSM in the network type octet of network_error_code.
_NETWORK_GSM: Final = 3


class ReceiptState(enum.StrEnum):
    DELIVRD = "DELIVRD"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"
    UNDELIV = "UNDELIV"
    ACCEPTD = "ACCEPTD"
    UNKNOWN = "UNKNOWN"
    REJECTD = "REJECTD"
    ENROUTE = "ENROUTE"

    @property
    def is_final(self) -> bool:
        # The spec calls ACCEPTD final, but many SMSCs send it as an intermediate
        # "accepted by the SMSC" notice before the real outcome, so we wait for more.
        return self not in (ReceiptState.ENROUTE, ReceiptState.ACCEPTD)


@dataclass(frozen=True, slots=True)
class Receipt:
    #: As the SMSC wrote it; compare through :func:`message_id_key`.
    message_id: str
    state: ReceiptState
    #: The ``err`` field as written (often "000"), or the network_error_code TLV.
    error_code: str | None = None
    done_at: datetime | None = None


_STATE_OF_TLV: Final[Mapping[int, ReceiptState]] = MappingProxyType(
    {
        MessageState.ENROUTE: ReceiptState.ENROUTE,
        MessageState.DELIVERED: ReceiptState.DELIVRD,
        MessageState.EXPIRED: ReceiptState.EXPIRED,
        MessageState.DELETED: ReceiptState.DELETED,
        MessageState.UNDELIVERABLE: ReceiptState.UNDELIV,
        MessageState.ACCEPTED: ReceiptState.ACCEPTD,
        MessageState.UNKNOWN: ReceiptState.UNKNOWN,
        MessageState.REJECTED: ReceiptState.REJECTD,
    }
)
_TLV_OF_STATE: Final = {state: value for value, state in _STATE_OF_TLV.items()}

# Spelled-out states some SMSCs send instead of the 7-letter abbreviations.
_STATE_SYNONYMS: Final[Mapping[str, ReceiptState]] = MappingProxyType(
    {
        "DELIVERED": ReceiptState.DELIVRD,
        "UNDELIVERABLE": ReceiptState.UNDELIV,
        "UNDELIVERED": ReceiptState.UNDELIV,
        "FAILED": ReceiptState.UNDELIV,
        "ACCEPTED": ReceiptState.ACCEPTD,
        "REJECTED": ReceiptState.REJECTD,
    }
)

# A field name, not preceded by a letter or digit so that "dlvrd" never matches "id".
_KEY: Final = re.compile(
    r"(?<![a-z0-9_])(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:",
    re.IGNORECASE,
)


# The layout of the SMPP 3.4 appendix B, which nearly every SMSC writes: read in one
# match. Anything else goes through the field-by-field reader.
_STANDARD: Final = re.compile(
    r"id:(?P<id>\S+) sub:\S* dlvrd:\S* submit date:(?P<submitdate>\d*) "
    r"done date:(?P<donedate>\d*) stat:(?P<stat>\S+) err:(?P<err>\S*)(?: text:(?P<text>.*))?",
    re.IGNORECASE | re.DOTALL,
)


def is_receipt(esm_class: int) -> bool:
    return esm_class & ESM_TYPE_MASK == ESM_DELIVERY_RECEIPT


# --- reading --------------------------------------------------------------------------


def parse_receipt(pdu: DeliverSm | DataSm, *, tz: tzinfo = UTC) -> Receipt | None:
    """The receipt in ``pdu`` (check :func:`is_receipt` first), or None if there is none.

    Dates carry no zone, so ``tz`` says which one the SMSC writes them in.
    """
    text = _receipt_text(pdu)
    from_text = parse_receipt_text(text, tz=tz) if text else None
    tlv_id, tlv_state = _tlv_id_and_state(pdu.tlvs)
    message_id = tlv_id or (from_text.message_id if from_text else None)
    state = tlv_state or (from_text.state if from_text else None)
    if not message_id or state is None:
        return None
    error_code = from_text.error_code if from_text else None
    return Receipt(
        message_id=message_id,
        state=state,
        error_code=error_code or _network_error(pdu.tlvs),
        done_at=from_text.done_at if from_text else None,
    )


def _tlv_id_and_state(tlvs: tuple[Tlv, ...]) -> tuple[str | None, ReceiptState | None]:
    tlv_id = find_tlv(tlvs, Tag.RECEIPTED_MESSAGE_ID)
    tlv_state = find_tlv(tlvs, Tag.MESSAGE_STATE)
    message_id = tlv_id.as_str() if tlv_id is not None else None
    state = None
    if tlv_state is not None:
        state = _STATE_OF_TLV.get(tlv_state.as_int(), ReceiptState.UNKNOWN)
    return message_id, state


def parse_receipt_text(text: str, *, tz: tzinfo = UTC) -> Receipt | None:
    """A receipt from its text form, or None when ``id`` or ``stat`` is missing."""
    fields = _fields(text)
    message_id, stat = fields.get("id"), fields.get("stat")
    if not message_id or not stat:
        return None
    return Receipt(
        message_id=message_id,
        state=_state(stat),
        error_code=fields.get("err") or None,
        done_at=_date(fields.get("donedate", ""), tz),
    )


def _receipt_text(pdu: DeliverSm | DataSm) -> str:
    data = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    payload = find_tlv(pdu.tlvs, Tag.MESSAGE_PAYLOAD)
    if not data and payload is not None:
        data = payload.value
    if pdu.data_coding == 0x08:
        return data.decode("utf-16-be", "replace")
    # Receipts are ASCII; latin-1 reads any octet without failing.
    return data.decode("latin-1")


def _fields(text: str) -> dict[str, str]:
    """Field name (lower case, no spaces) -> value, up to the free ``text`` field."""
    standard = _STANDARD.fullmatch(text)
    if standard is not None:
        return {k: v for k, v in standard.groupdict().items() if v is not None}
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    # Each value runs to the start of the next field name.
    ends = [match.start() for match in matches[1:]] + [len(text)] if matches else []
    for match, end in zip(matches, ends, strict=True):
        key = "".join(match.group(1).lower().split()).replace("_", "")
        if key == "text":
            fields.setdefault(key, text[match.end() :])
            break
        words = text[match.end() : end].split()
        fields.setdefault(key, words[0] if words else "")
    return fields


def _state(stat: str) -> ReceiptState:
    stat = stat.upper()
    if stat in ReceiptState.__members__:
        return ReceiptState(stat)
    return _STATE_SYNONYMS.get(stat, ReceiptState.UNKNOWN)


def _date(value: str, tz: tzinfo) -> datetime | None:
    """YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss; None for anything else."""
    if len(value) not in (10, 12, 14) or not (value.isascii() and value.isdigit()):
        return None
    if len(value) < 14:
        # Receipts are about messages sent this century; strptime's %y would put
        # "69" in 1969.
        value = "20" + value + "00" * (len(value) == 10)
    # Sliced by hand: strptime costs ten times as much, on every receipt.
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[8:10]),
            int(value[10:12]),
            int(value[12:14]),
            tzinfo=tz,
        )
    except ValueError:
        return None


def _network_error(tlvs: tuple[Tlv, ...]) -> str | None:
    tlv = find_tlv(tlvs, Tag.NETWORK_ERROR_CODE)
    if tlv is None:
        return None
    return f"{int.from_bytes(tlv.value[1:], 'big'):03d}"


def message_id_key(message_id: str, *, base: Literal[10, 16] | None = None) -> str:
    """A form of ``message_id`` under which the submit_sm_resp id and the receipt id
    compare equal.

    SMSCs disagree with themselves: "0000012345" in the receipt for "12345" in the
    response, or hex in one and decimal in the other (Kannel's msg-id-type). With
    ``base`` the id is read as a number in that base; without, a decimal id loses its
    leading zeros and anything else is kept as it is.
    """
    value = message_id.strip()
    if base is None:
        return str(int(value)) if value.isascii() and value.isdigit() else value
    try:
        return str(int(value, base))
    except ValueError:
        return value


# --- writing --------------------------------------------------------------------------


def format_receipt(
    receipt: Receipt,
    *,
    submitted_at: datetime | None = None,
    submitted: int = 1,
    delivered: int | None = None,
    text: str = "",
    seconds: bool = False,
    tz: tzinfo = UTC,
) -> str:
    """The Appendix B text for ``receipt``, as an SMSC (our simulator) sends it."""
    if delivered is None:
        delivered = submitted if receipt.state is ReceiptState.DELIVRD else 0
    return (
        f"id:{receipt.message_id} sub:{submitted:03d} dlvrd:{delivered:03d}"
        f" submit date:{_format_date(submitted_at, seconds, tz)}"
        f" done date:{_format_date(receipt.done_at, seconds, tz)}"
        f" stat:{receipt.state} err:{receipt.error_code or '000'}"
        f" text:{text[:RECEIPT_TEXT_CHARS]}"
    )


def receipt_tlvs(receipt: Receipt) -> tuple[Tlv, ...]:
    """receipted_message_id and message_state, plus network_error_code for a
    non-zero numeric error, for an SMSC that sends receipts the SMPP 3.4 way."""
    tlvs = [
        Tlv.string(Tag.RECEIPTED_MESSAGE_ID, receipt.message_id),
        Tlv.integer(Tag.MESSAGE_STATE, _TLV_OF_STATE[receipt.state]),
    ]
    code = receipt.error_code or ""
    if code.isascii() and code.isdigit() and 0 < int(code) <= 0xFFFF:
        value = bytes([_NETWORK_GSM]) + int(code).to_bytes(2, "big")
        tlvs.append(Tlv(Tag.NETWORK_ERROR_CODE, value))
    return tuple(tlvs)


def _format_date(moment: datetime | None, seconds: bool, tz: tzinfo) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return moment.strftime("%y%m%d%H%M%S" if seconds else "%y%m%d%H%M")

"""The PDUs the simulator originates: message ids, delivery receipts, incoming SMS.

Randomness comes from generators seeded per purpose (ids, fates), so that with a
seed a run repeats exactly, and turning one feature on does not shift another's
draws.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from jooksms.transports.smpp.pdu import DeliverSm, SubmitSm
from jooksms.transports.smpp.receipt import (
    ESM_DELIVERY_RECEIPT,
    Receipt,
    ReceiptState,
    format_receipt,
    receipt_tlvs,
)
from jooksms.transports.smpp.udh import split_for_smpp

from .config import IdFormat, ReceiptPolicy
from .stats import submit_text

__all__ = ["Fate", "Fates", "MessageIds", "incoming_parts", "receipt_pdu", "wants_receipt"]

#: registered_delivery bits 0-1: 1 asks for a receipt on any outcome, 2 on failure only.
_RECEIPT_BITS: Final = 0x03
_ON_ANY_OUTCOME: Final = 0x01
_ON_FAILURE: Final = 0x02
#: TON/NPI of an E.164 number ("+5076...") and of an alphanumeric sender ("Bank").
_INTERNATIONAL: Final = (1, 1)
_ALPHANUMERIC: Final = (5, 0)
_UNKNOWN: Final = (0, 1)
_MAX_ADDRESS: Final = 20


class MessageIds:
    """Unique ids for one run. They count up from a random base: a restarted simulator
    does not hand out the ids of the last run, which a client may still be matching
    receipts against."""

    def __init__(self, id_format: IdFormat, *, seed: int | None = None) -> None:
        base = random.Random(None if seed is None else f"{seed}:ids").randrange(10**9, 2 * 10**9)
        self._numbers = itertools.count(base)
        self._hex = id_format is IdFormat.HEX

    def next(self) -> str:
        number = next(self._numbers)
        return f"{number:x}" if self._hex else str(number)


@dataclass(frozen=True, slots=True)
class Fate:
    state: ReceiptState
    #: The receipt's ``err`` field, "000" on success.
    error: str

    @property
    def failed(self) -> bool:
        return self.state is not ReceiptState.DELIVRD


class Fates:
    """Draws whether each accepted message reaches its handset."""

    def __init__(self, failure_rate: float, failure_error: int, *, seed: int | None) -> None:
        self._rate = failure_rate
        self._random = random.Random(None if seed is None else f"{seed}:fate")
        self._delivered = Fate(ReceiptState.DELIVRD, "000")
        self._failed = Fate(ReceiptState.UNDELIV, f"{failure_error:03d}")

    def draw(self) -> Fate:
        # Drawn even at rate 0, so that changing the rate keeps the sequence aligned.
        return self._failed if self._random.random() < self._rate else self._delivered


def wants_receipt(policy: ReceiptPolicy, registered_delivery: int, fate: Fate) -> bool:
    if policy is ReceiptPolicy.ALWAYS:
        return True
    if policy is ReceiptPolicy.NEVER:
        return False
    asked = registered_delivery & _RECEIPT_BITS
    return asked == _ON_ANY_OUTCOME or (asked == _ON_FAILURE and fate.failed)


def receipt_pdu(
    submit: SubmitSm, message_id: str, fate: Fate, submitted_at: float, sequence_number: int
) -> DeliverSm:
    """The deliver_sm reporting ``fate``, from the handset back to the sender, with
    both the Appendix B text and the receipted_message_id / message_state TLVs."""
    receipt = Receipt(message_id, fate.state, fate.error, datetime.now(UTC))
    text = format_receipt(
        receipt,
        submitted_at=datetime.fromtimestamp(submitted_at, UTC),
        text=submit_text(submit) or "",
    )
    return DeliverSm(
        sequence_number=sequence_number,
        source_addr_ton=submit.dest_addr_ton,
        source_addr_npi=submit.dest_addr_npi,
        source_addr=submit.destination_addr,
        dest_addr_ton=submit.source_addr_ton,
        dest_addr_npi=submit.source_addr_npi,
        destination_addr=submit.source_addr,
        esm_class=ESM_DELIVERY_RECEIPT,
        # The quoted message text may hold anything; a receipt is read as ASCII.
        short_message=text.encode("ascii", "replace"),
        tlvs=receipt_tlvs(receipt),
    )


def incoming_parts(source: str, destination: str, text: str, *, ref: int) -> list[DeliverSm]:
    """deliver_sm for a mobile-originated message, one per segment, with a
    concatenation UDH when there are several. Raises ValueError for an address that
    does not fit SMPP or a text that cannot be sent."""
    source_ton, source_npi, source_addr = _address(source)
    dest_ton, dest_npi, dest_addr = _address(destination)
    return [
        DeliverSm(
            sequence_number=0,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            source_addr=source_addr,
            dest_addr_ton=dest_ton,
            dest_addr_npi=dest_npi,
            destination_addr=dest_addr,
            esm_class=part.esm_class,
            data_coding=part.data_coding,
            short_message=part.short_message,
        )
        for part in split_for_smpp(text, ref=ref)
    ]


def _address(value: str) -> tuple[int, int, str]:
    """TON, NPI and address_value for a number as a person writes it."""
    value = value.strip()
    if value.startswith("+") and value[1:].isdigit():
        ton, npi = _INTERNATIONAL
        value = value[1:]
    elif value.isdigit():
        ton, npi = _UNKNOWN
    elif value:
        ton, npi = _ALPHANUMERIC
    else:
        raise ValueError("an address must not be empty")
    if len(value) > _MAX_ADDRESS or not value.isascii():
        raise ValueError(f"address {value!r} does not fit SMPP ({_MAX_ADDRESS} ASCII characters)")
    return ton, npi, value

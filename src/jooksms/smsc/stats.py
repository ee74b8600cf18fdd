"""What the simulator saw and did: exact counters, and a log of recent submits.

The counters are plain integers bumped on the hot path. Each submit is kept as its
decoded PDU and decoded into text only when a test asks, so recording costs a
benchmark one append, and the log is bounded so a long run does not grow forever.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from jooksms.transports.smpp.errors import PduError
from jooksms.transports.smpp.pdu import SubmitSm
from jooksms.transports.smpp.status import CommandStatus, name
from jooksms.transports.smpp.tlv import Tag, find_tlv
from jooksms.transports.smpp.udh import ESM_UDHI, Concat, decode_short_message, parse_udh

__all__ = ["Stats", "SubmitRecord", "submit_text"]


@dataclass(frozen=True, slots=True)
class SubmitRecord:
    """One submit_sm as received, and how it was answered."""

    pdu: SubmitSm
    system_id: str
    status: int
    #: Empty when the submit was rejected.
    message_id: str
    #: Wall-clock seconds (time.time()) when it arrived.
    at: float

    @property
    def accepted(self) -> bool:
        return self.status == CommandStatus.ESME_ROK

    @property
    def source(self) -> str:
        return self.pdu.source_addr

    @property
    def destination(self) -> str:
        return self.pdu.destination_addr

    @property
    def data_coding(self) -> int:
        return self.pdu.data_coding

    @property
    def esm_class(self) -> int:
        return self.pdu.esm_class

    @property
    def udh(self) -> bytes | None:
        """The User Data Header, length octet included, when esm_class says there is one."""
        if not self.pdu.esm_class & ESM_UDHI:
            return None
        data = _user_data(self.pdu)
        return data[: 1 + data[0]] if data else b""

    @property
    def concat(self) -> Concat | None:
        """Where this part sits in a concatenated message; None for a single part or
        a UDH we cannot read."""
        if not self.pdu.esm_class & ESM_UDHI:
            return None
        try:
            return parse_udh(_user_data(self.pdu))[0]
        except PduError:
            return None

    @property
    def text(self) -> str | None:
        """This part's text; None for a data_coding or a UDH we cannot read."""
        return submit_text(self.pdu)


def submit_text(pdu: SubmitSm) -> str | None:
    """The text of one submit_sm (one part of a long message), UDH removed."""
    data = _user_data(pdu)
    try:
        if pdu.esm_class & ESM_UDHI:
            data = parse_udh(data)[1]
        return decode_short_message(pdu.data_coding, data)
    except (PduError, ValueError):
        return None


def _user_data(pdu: SubmitSm) -> bytes:
    # Long bodies may come in message_payload, with short_message left empty.
    if pdu.short_message:
        return pdu.short_message
    payload = find_tlv(pdu.tlvs, Tag.MESSAGE_PAYLOAD)
    return payload.value if payload is not None else b""


@dataclass(slots=True)
class Stats:
    connections: int = 0
    sessions_open: int = 0
    binds: int = 0
    bind_failures: int = 0
    #: Connections the simulator closed on purpose (drop_after, ``drop()``).
    dropped: int = 0

    #: Every submit_sm received, answered OK or not.
    submits: int = 0
    accepted: int = 0
    #: Status name (ESME_RTHROTTLED) -> submits answered with it.
    rejected: Counter[str] = field(default_factory=Counter)
    #: The fate drawn for each accepted message, whether or not a receipt was asked.
    delivered: int = 0
    undelivered: int = 0

    #: deliver_sm written to a session (each resend, after a reconnect or an error, counts).
    receipts_sent: int = 0
    incoming_sent: int = 0
    deliveries_acked: int = 0
    #: deliver_sm answered with an error status or generic_nack.
    deliveries_refused: int = 0
    #: Refused with a temporary error and scheduled to go again after redeliver_delay.
    deliveries_redelivered: int = 0
    #: Refused and given up: a permanent error, or redeliver_attempts temporary ones.
    deliveries_dropped: int = 0
    #: Unacknowledged deliver_sm put back in the queue when their session closed.
    deliveries_requeued: int = 0
    #: Held deliver_sm discarded because the queue of a system_id was full.
    deliveries_discarded: int = 0
    deliveries_pending: int = 0
    #: Refused ones waiting out redeliver_delay now (not in deliveries_pending).
    deliveries_delayed: int = 0

    records: deque[SubmitRecord] = field(default_factory=deque)

    def record(self, record: SubmitRecord) -> None:
        self.submits += 1
        if record.status == CommandStatus.ESME_ROK:
            self.accepted += 1
        else:
            self.rejected[name(record.status)] += 1
        self.records.append(record)

    def to(self, destination: str) -> list[SubmitRecord]:
        """The recorded submits to ``destination`` (as written in destination_addr)."""
        return [r for r in self.records if r.pdu.destination_addr == destination]

    def by_message_id(self, message_id: str) -> SubmitRecord | None:
        return next((r for r in self.records if r.message_id == message_id), None)

    def as_dict(self) -> dict[str, Any]:
        """The counters, for JSON."""
        counters = {
            key: getattr(self, key) for key in self.__dataclass_fields__ if key != "records"
        }
        counters["rejected"] = dict(self.rejected)
        counters["recorded"] = len(self.records)
        return counters

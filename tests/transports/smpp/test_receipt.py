from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jooksms.transports.smpp.pdu import DataSm, DeliverSm, decode
from jooksms.transports.smpp.receipt import (
    Receipt,
    ReceiptState,
    format_receipt,
    is_receipt,
    message_id_key,
    parse_receipt,
    parse_receipt_text,
    receipt_tlvs,
)
from jooksms.transports.smpp.tlv import MessageState, Tag, Tlv

Base = Literal[10, 16] | None
D, U = ReceiptState.DELIVRD, ReceiptState.UNDELIV


def at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# (receipt text as some SMSC sends it, expected id, state, err, done date)
REAL_WORLD = [
    pytest.param(
        "id:0123456789 sub:001 dlvrd:001 submit date:0610190851 done date:0610190951"
        " stat:DELIVRD err:000 text:Hello world",
        "0123456789",
        D,
        "000",
        at(2006, 10, 19, 9, 51),
        id="spec-appendix-b",
    ),
    pytest.param(
        "id:0000000012345678 sub:001 dlvrd:001 submit date:1601010100 done date:1601010101"
        " stat:DELIVRD err:000 text:none",
        "0000000012345678",
        D,
        "000",
        at(2016, 1, 1, 1, 1),
        id="vonage-zero-padded-id",
    ),
    pytest.param(
        "id:64567564356765435676 sub:001 dlvrd:001 submit date:190608165232"
        " done date:190608165237 stat:DELIVRD err:000 text:Hello World",
        "64567564356765435676",
        D,
        "000",
        at(2019, 6, 8, 16, 52, 37),
        id="seconds-in-dates",
    ),
    pytest.param(
        "id:0911897980 sub:001 dlvrd:000 submit date:1201121551 done date:1201121551"
        " stat:UNDELIV err:075 text:-PROFILE",
        "0911897980",
        U,
        "075",
        at(2012, 1, 12, 15, 51),
        id="undelivered-with-error",
    ),
    pytest.param(
        # Kannel opensmppbox: "... err:%s text:%12s", the text right-aligned in 12.
        "id:a1b2c3d4 sub:001 dlvrd:001 submit date:2405061230 done date:2405061231"
        " stat:DELIVRD err:000 text:       Hello",
        "a1b2c3d4",
        D,
        "000",
        at(2024, 5, 6, 12, 31),
        id="kannel",
    ),
    pytest.param(
        # Jasmin: no sub, dlvrd or text; a UUID id.
        "id:16fd2706-8baf-433b-82eb-8c7fada847da submit date:2405061230"
        " done date:2405061231 stat:DELIVRD err:000",
        "16fd2706-8baf-433b-82eb-8c7fada847da",
        D,
        "000",
        at(2024, 5, 6, 12, 31),
        id="jasmin",
    ),
    pytest.param(
        "ID:abc SUB:1 DLVRD:1 SUBMIT DATE:2405061230 DONE DATE:2405061231 STAT:delivrd"
        " ERR:0 Text:x",
        "abc",
        D,
        "0",
        at(2024, 5, 6, 12, 31),
        id="any-case",
    ),
    pytest.param(
        "id: 12345  sub:001  dlvrd:000   submit date: 2405061230  done date: 2405061231\n"
        "stat: EXPIRED  err:000  text: ",
        "12345",
        ReceiptState.EXPIRED,
        "000",
        at(2024, 5, 6, 12, 31),
        id="extra-whitespace",
    ),
    pytest.param(
        "id:98765 stat:REJECTD", "98765", ReceiptState.REJECTD, None, None, id="only-id-and-stat"
    ),
    pytest.param(
        "id:1A2B3C4D sub:001 dlvrd:000 submit date:2405061230 done date:2405061231"
        " stat:UNDELIV err:00B text:",
        "1A2B3C4D",
        U,
        "00B",
        at(2024, 5, 6, 12, 31),
        id="hex-id-and-error",
    ),
    pytest.param(
        "id:42 sub:001 dlvrd:001 submit date:2405061230 done date:2405061231"
        " stat:DELIVERED err:000 text:",
        "42",
        D,
        "000",
        at(2024, 5, 6, 12, 31),
        id="spelled-out-state",
    ),
    pytest.param(
        "id:555 sub:001 dlvrd:000 submit date:2405061230 done date:2405061231"
        " stat:EXPIRED err:000 text:id:999 stat:DELIVRD",
        "555",
        ReceiptState.EXPIRED,
        "000",
        at(2024, 5, 6, 12, 31),
        id="field-names-inside-text",
    ),
    pytest.param(
        "stat:ACCEPTD err:000 id:777", "777", ReceiptState.ACCEPTD, "000", None, id="shuffled-order"
    ),
    pytest.param(
        "id:8 sub:001 dlvrd:000 submit date:20240506123000 done date:20240506123015"
        " stat:ENROUTE err:000 text:",
        "8",
        ReceiptState.ENROUTE,
        "000",
        at(2024, 5, 6, 12, 30, 15),
        id="four-digit-years",
    ),
    pytest.param(
        "id:9 submit_date:2405061230 done_date:2405061231 stat:UNDELIVERABLE err:001",
        "9",
        U,
        "001",
        at(2024, 5, 6, 12, 31),
        id="underscored-dates",
    ),
    pytest.param(
        "id:10 sub:001 dlvrd:000 submit date:2413451299 done date:2413451299 stat:WEIRDST",
        "10",
        ReceiptState.UNKNOWN,
        None,
        None,
        id="bad-date-and-unknown-state",
    ),
]


@pytest.mark.parametrize(("text", "message_id", "state", "error", "done_at"), REAL_WORLD)
def test_parse_real_world_text(
    text: str, message_id: str, state: ReceiptState, error: str | None, done_at: datetime | None
) -> None:
    assert parse_receipt_text(text) == Receipt(message_id, state, error, done_at)


@pytest.mark.parametrize("text", ["Hello there", "id:123 but no state", "stat:DELIVRD", ""])
def test_not_a_receipt(text: str) -> None:
    assert parse_receipt_text(text) is None


def test_dates_in_another_zone() -> None:
    cet = timezone(timedelta(hours=1))
    receipt = parse_receipt_text("id:1 done date:2405061231 stat:DELIVRD", tz=cet)
    assert receipt is not None
    assert receipt.done_at == at(2024, 5, 6, 11, 31)


@pytest.mark.parametrize(
    ("esm_class", "expected"),
    [(0x04, True), (0x00, False), (0x08, False), (0x20, False), (0x44, True), (0x07, True)],
)
def test_is_receipt(esm_class: int, expected: bool) -> None:
    # Bits 2-5 give the message type; mode bits 0-1 and UDHI (bit 6) do not matter.
    assert is_receipt(esm_class) is expected


# --- from PDUs -------------------------------------------------------------------------


def test_tlvs_alone() -> None:
    tlvs = (
        Tlv.string(Tag.RECEIPTED_MESSAGE_ID, "abc"),
        Tlv.integer(Tag.MESSAGE_STATE, MessageState.UNDELIVERABLE),
        Tlv(Tag.NETWORK_ERROR_CODE, bytes.fromhex("03 0022")),
    )
    assert parse_receipt(DataSm(sequence_number=1, esm_class=4, tlvs=tlvs)) == Receipt(
        "abc", U, "034", None
    )


def test_tlvs_win_over_text() -> None:
    text = b"id:12345 sub:001 dlvrd:000 submit date:2405061230 done date:2405061231 stat:UNDELIV err:005"
    tlvs = (
        Tlv.string(Tag.RECEIPTED_MESSAGE_ID, "3039"),
        Tlv.integer(Tag.MESSAGE_STATE, MessageState.DELIVERED),
    )
    pdu = DeliverSm(sequence_number=1, esm_class=4, short_message=text, tlvs=tlvs)
    assert parse_receipt(pdu) == Receipt("3039", D, "005", at(2024, 5, 6, 12, 31))


def test_jasmin_deliver_sm() -> None:
    text = b"id:16fd2706-8baf submit date:2405061230 done date:2405061231 stat:DELIVRD err:000"
    tlvs = (
        Tlv.string(Tag.RECEIPTED_MESSAGE_ID, "16fd2706-8baf"),
        Tlv.integer(Tag.MESSAGE_STATE, MessageState.DELIVERED),
    )
    pdu = DeliverSm(sequence_number=1, esm_class=4, short_message=text, tlvs=tlvs)
    assert parse_receipt(pdu) == Receipt("16fd2706-8baf", D, "000", at(2024, 5, 6, 12, 31))


def test_text_in_message_payload() -> None:
    payload = Tlv(Tag.MESSAGE_PAYLOAD, b"id:77 stat:EXPIRED err:000")
    pdu = DeliverSm(sequence_number=1, esm_class=4, tlvs=(payload,))
    assert parse_receipt(pdu) == Receipt("77", ReceiptState.EXPIRED, "000", None)


def test_ucs2_receipt_text() -> None:
    text = "id:5 stat:DELIVRD".encode("utf-16-be")
    pdu = DeliverSm(sequence_number=1, esm_class=4, data_coding=8, short_message=text)
    assert parse_receipt(pdu) == Receipt("5", D)


def test_unknown_message_state_value() -> None:
    tlvs = (Tlv.string(Tag.RECEIPTED_MESSAGE_ID, "1"), Tlv(Tag.MESSAGE_STATE, b"\x63"))
    receipt = parse_receipt(DeliverSm(sequence_number=1, esm_class=4, tlvs=tlvs))
    assert receipt is not None
    assert receipt.state is ReceiptState.UNKNOWN


def test_no_receipt_in_pdu() -> None:
    assert parse_receipt(DeliverSm(sequence_number=1, short_message=b"hi mum")) is None
    only_id = (Tlv.string(Tag.RECEIPTED_MESSAGE_ID, "1"),)
    assert parse_receipt(DeliverSm(sequence_number=1, tlvs=only_id)) is None


# --- matching ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resp_id", "resp_base", "receipt_id", "receipt_base"),
    [
        ("12345", None, "0000012345", None),
        ("1A2B3C4D", 16, "439041101", 10),
        ("1a2b3c4d", 16, "1A2B3C4D", 16),
        ("16fd2706-8baf", None, "16fd2706-8baf", None),
    ],
)
def test_message_id_keys_match(
    resp_id: str, resp_base: int | None, receipt_id: str, receipt_base: int | None
) -> None:
    assert message_id_key(resp_id, base=resp_base) == message_id_key(  # type: ignore[arg-type]
        receipt_id,
        base=receipt_base,  # type: ignore[arg-type]
    )


def test_message_id_key_keeps_what_it_cannot_read() -> None:
    assert message_id_key(" abc-1 ") == "abc-1"
    assert message_id_key("xyz", base=16) == "xyz"


# --- formatting ------------------------------------------------------------------------


def test_format_like_appendix_b() -> None:
    receipt = Receipt("abc123", D, None, at(2024, 1, 2, 15, 5))
    text = format_receipt(
        receipt, submitted_at=at(2024, 1, 2, 15, 4), text="Hello world, this is long"
    )
    assert text == (
        "id:abc123 sub:001 dlvrd:001 submit date:2401021504 done date:2401021505"
        " stat:DELIVRD err:000 text:Hello world, this is"
    )


def test_format_with_seconds_and_failure() -> None:
    receipt = Receipt("9", U, "069", at(2024, 1, 2, 15, 5, 7))
    text = format_receipt(receipt, seconds=True)
    assert text == (
        "id:9 sub:001 dlvrd:000 submit date: done date:240102150507 stat:UNDELIV err:069 text:"
    )


def test_format_converts_to_the_smsc_zone() -> None:
    receipt = Receipt("1", D, "000", at(2024, 1, 2, 23, 30))
    text = format_receipt(receipt, tz=timezone(timedelta(hours=2)))
    assert "done date:2401030130" in text


receipts = st.builds(
    Receipt,
    message_id=st.text(st.sampled_from("0123456789abcdefABCDEF-"), min_size=1, max_size=64),
    state=st.sampled_from(ReceiptState),
    error_code=st.integers(0, 999).map("{:03d}".format),
    done_at=st.none()
    | st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
)


@given(receipt=receipts, text=st.text(max_size=40))
def test_format_parse_round_trip(receipt: Receipt, text: str) -> None:
    assert parse_receipt_text(format_receipt(receipt, text=text)) == receipt


@given(receipt=receipts)
def test_pdu_round_trip(receipt: Receipt) -> None:
    pdu = DeliverSm(
        sequence_number=1,
        esm_class=0x04,
        short_message=format_receipt(receipt).encode("ascii"),
        tlvs=receipt_tlvs(receipt),
    )
    decoded = decode(pdu.encode())
    assert isinstance(decoded, DeliverSm)
    assert is_receipt(decoded.esm_class)
    assert parse_receipt(decoded) == receipt


def test_receipt_tlvs() -> None:
    tlvs = receipt_tlvs(Receipt("abc", U, "069"))
    assert tlvs == (
        Tlv(Tag.RECEIPTED_MESSAGE_ID, b"abc\0"),
        Tlv(Tag.MESSAGE_STATE, b"\x05"),
        Tlv(Tag.NETWORK_ERROR_CODE, b"\x03\x00\x45"),
    )
    assert len(receipt_tlvs(Receipt("abc", D, "000"))) == 2


def test_final_states() -> None:
    assert {s for s in ReceiptState if not s.is_final} == {
        ReceiptState.ENROUTE,
        ReceiptState.ACCEPTD,
    }

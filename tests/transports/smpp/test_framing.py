from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jooksms.transports.smpp.errors import PduError
from jooksms.transports.smpp.framing import MAX_COMMAND_LENGTH, Framer, encode_many
from jooksms.transports.smpp.pdu import (
    CommandId,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    InvalidPdu,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)
from jooksms.transports.smpp.status import CommandStatus
from tests.helpers.pdu_strategies import any_pdu

S = CommandStatus


def header(length: int, command_id: int, sequence: int) -> bytes:
    return b"".join(n.to_bytes(4, "big") for n in (length, command_id, 0, sequence))


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in pairwise(points)]


@given(pdus=st.lists(any_pdu, max_size=8), cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_any_chunking_yields_the_pdus_in_order(pdus: list[Pdu], cuts: list[int]) -> None:
    framer = Framer()
    received: list[Pdu] = []
    for chunk in chunks(encode_many(pdus), cuts):
        received += framer.feed(chunk)
    assert received == pdus
    assert framer.buffered == 0


@given(pdus=st.lists(any_pdu, min_size=1, max_size=8))
def test_one_octet_at_a_time(pdus: list[Pdu]) -> None:
    framer = Framer()
    data = encode_many(pdus)
    received = [pdu for i in range(len(data)) for pdu in framer.feed(data[i : i + 1])]
    assert received == pdus


def test_several_pdus_in_one_read() -> None:
    pdus = [EnquireLink(sequence_number=n) for n in range(1, 4)]
    assert Framer().feed(encode_many(pdus)) == pdus


def test_partial_pdu_waits_for_the_rest() -> None:
    framer = Framer()
    wire = SubmitSm(sequence_number=1, short_message=b"hello").encode()
    assert framer.feed(wire[:3]) == []
    assert framer.feed(wire[3:20]) == []
    assert framer.buffered == 20
    assert framer.feed(wire[20:] + wire[:5]) == [
        SubmitSm(sequence_number=1, short_message=b"hello")
    ]
    assert framer.buffered == 5


def test_encode_many_is_concatenation() -> None:
    pdus = [EnquireLink(sequence_number=1), EnquireLinkResp(sequence_number=2)]
    assert encode_many(pdus) == pdus[0].encode() + pdus[1].encode()
    assert encode_many([]) == b""


@pytest.mark.parametrize("length", [0, 1, 15, MAX_COMMAND_LENGTH + 1, 0xFFFFFFFF])
def test_impossible_length_is_fatal(length: int) -> None:
    framer = Framer()
    with pytest.raises(PduError) as caught:
        framer.feed(header(length, CommandId.SUBMIT_SM, 42))
    err = caught.value
    assert err.status == S.ESME_RINVCMDLEN
    assert err.fatal
    assert err.sequence_number == 42
    # The stream cannot be resynchronised: every later read fails too.
    with pytest.raises(PduError):
        framer.feed(EnquireLink(sequence_number=1).encode())


def test_impossible_length_is_caught_before_the_header_is_complete() -> None:
    with pytest.raises(PduError) as caught:
        Framer().feed(b"\x00\x00\x00\x08")
    assert caught.value.sequence_number is None


def test_max_length_is_configurable() -> None:
    framer = Framer(max_length=32)
    [pdu] = framer.feed(header(32, 0x00001234, 1) + bytes(16))
    assert pdu.sequence_number == 1
    with pytest.raises(PduError):
        framer.feed(header(33, CommandId.SUBMIT_SM, 2))
    with pytest.raises(ValueError):
        Framer(max_length=15)


def test_bad_body_becomes_invalid_pdu_between_its_neighbours() -> None:
    bad_body = b"\0" * 5  # submit_sm cut short inside its fixed fields
    bad = header(16 + len(bad_body), CommandId.SUBMIT_SM, 2) + bad_body
    stream = EnquireLink(sequence_number=1).encode() + bad + EnquireLink(sequence_number=3).encode()
    first, invalid, last = Framer().feed(stream)
    assert first == EnquireLink(sequence_number=1)
    assert last == EnquireLink(sequence_number=3)
    assert isinstance(invalid, InvalidPdu)
    assert invalid.error.status == S.ESME_RINVCMDLEN
    assert invalid.encode() == bad
    assert invalid.reply() == GenericNack(sequence_number=2, command_status=S.ESME_RINVCMDLEN)


def test_bad_field_is_answered_with_the_matching_response() -> None:
    body = b"\0" + b"\x00\x00" + b"x" * 30 + b"\0"  # source_addr longer than 20
    wire = header(16 + len(body), CommandId.SUBMIT_SM, 9) + body
    [invalid] = Framer().feed(wire)
    assert isinstance(invalid, InvalidPdu)
    assert invalid.reply() == SubmitSmResp(sequence_number=9, command_status=S.ESME_RINVSRCADR)


@given(st.binary(max_size=400))
def test_garbage_yields_pdus_or_pdu_error(data: bytes) -> None:
    framer = Framer()
    try:
        pdus = framer.feed(data)
    except PduError as err:
        assert err.fatal
    else:
        assert all(isinstance(pdu, Pdu) for pdu in pdus)
        assert framer.buffered <= len(data)

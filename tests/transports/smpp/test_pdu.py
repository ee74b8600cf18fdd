from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jooksms.transports.smpp.errors import PduError
from jooksms.transports.smpp.pdu import (
    PDU_CLASSES,
    RESPONSE_BIT,
    RESPONSES,
    AlertNotification,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    CommandId,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Header,
    InvalidPdu,
    Outbind,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    UnknownPdu,
    decode,
    decode_header,
    error_response,
)
from jooksms.transports.smpp.status import CommandStatus
from jooksms.transports.smpp.tlv import MessageState, Tag, Tlv
from tests.helpers.pdu_strategies import STRATEGIES, any_pdu

S = CommandStatus


def header(length: int, command_id: int, status: int, sequence: int) -> bytes:
    """The 16-octet header, written field by field as the spec's table lists it."""
    return b"".join(n.to_bytes(4, "big") for n in (length, command_id, status, sequence))


# --- byte-exact vectors, built from the SMPP 3.4 section 4 layouts ---------------------

BIND_TRANSCEIVER = (
    bytes.fromhex("0000002A 00000009 00000000 00000001")
    + b"smppclient1\0"  # system_id
    + b"password\0"  # password
    + b"\0"  # system_type
    + bytes.fromhex("34 00 00")  # interface_version, addr_ton, addr_npi
    + b"\0"  # address_range
)

BIND_TRANSCEIVER_RESP = (
    bytes.fromhex("0000001A 80000009 00000000 00000001")
    + b"SMSC\0"  # system_id
    + bytes.fromhex("0210 0001 34")  # sc_interface_version TLV
)

SUBMIT_SM = (
    bytes.fromhex("00000039 00000004 00000000 00000002")
    + b"\0"  # service_type
    + bytes.fromhex("05 00")  # source_addr_ton (alphanumeric), source_addr_npi
    + b"JookSMS\0"  # source_addr
    + bytes.fromhex("01 01")  # dest_addr_ton (international), dest_addr_npi (E.164)
    + b"447700900123\0"  # destination_addr
    + bytes.fromhex("00 00 00")  # esm_class, protocol_id, priority_flag
    + b"\0\0"  # schedule_delivery_time, validity_period
    + bytes.fromhex("01 00 00 00")  # registered_delivery, replace, data_coding, default id
    + bytes.fromhex("05")  # sm_length
    + b"Hello"  # short_message
)

SUBMIT_SM_WITH_TLVS = (
    bytes.fromhex("00000043 00000004 00000000 00000003")
    + b"\0"
    + bytes.fromhex("05 00")
    + b"JookSMS\0"
    + bytes.fromhex("01 01")
    + b"447700900123\0"
    + bytes.fromhex("00 00 00")
    + b"\0\0"
    + bytes.fromhex("01 00 00 00")
    + bytes.fromhex("00")  # sm_length 0: the text is in message_payload
    + bytes.fromhex("0424 0005")
    + b"Hello"  # message_payload
    + bytes.fromhex("0204 0002 002A")  # user_message_reference 42
)

RECEIPT_TEXT = (
    b"id:abc123 sub:001 dlvrd:001 submit date:2401021504 done date:2401021505"
    b" stat:DELIVRD err:000 text:Hello"
)

DELIVER_SM_RECEIPT = (
    bytes.fromhex("000000AB 00000005 00000000 00000009")
    + b"\0"  # service_type
    + bytes.fromhex("01 01")
    + b"447700900123\0"  # source_addr: the handset
    + bytes.fromhex("05 00")
    + b"JookSMS\0"  # destination_addr: our sender id
    + bytes.fromhex("04 00 00")  # esm_class 0x04: SMSC delivery receipt
    + b"\0\0"
    + bytes.fromhex("00 00 00 00")
    + bytes.fromhex("67")  # sm_length 103
    + RECEIPT_TEXT
    + bytes.fromhex("001E 0007")
    + b"abc123\0"  # receipted_message_id
    + bytes.fromhex("0427 0001 02")  # message_state DELIVERED
)

VECTORS: list[tuple[bytes, Pdu]] = [
    (
        BIND_TRANSCEIVER,
        BindTransceiver(sequence_number=1, system_id="smppclient1", password="password"),
    ),
    (
        BIND_TRANSCEIVER_RESP,
        BindTransceiverResp(
            sequence_number=1, system_id="SMSC", tlvs=(Tlv(Tag.SC_INTERFACE_VERSION, b"\x34"),)
        ),
    ),
    (
        SUBMIT_SM,
        SubmitSm(
            sequence_number=2,
            source_addr_ton=5,
            source_addr="JookSMS",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="447700900123",
            registered_delivery=1,
            short_message=b"Hello",
        ),
    ),
    (
        SUBMIT_SM_WITH_TLVS,
        SubmitSm(
            sequence_number=3,
            source_addr_ton=5,
            source_addr="JookSMS",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="447700900123",
            registered_delivery=1,
            tlvs=(
                Tlv(Tag.MESSAGE_PAYLOAD, b"Hello"),
                Tlv.integer(Tag.USER_MESSAGE_REFERENCE, 42),
            ),
        ),
    ),
    (
        bytes.fromhex("00000017 80000004 00000000 00000002") + b"abc123\0",
        SubmitSmResp(sequence_number=2, message_id="abc123"),
    ),
    (
        # An error response carries no body (section 4.4.2).
        bytes.fromhex("00000010 80000004 00000058 00000002"),
        SubmitSmResp(sequence_number=2, command_status=S.ESME_RTHROTTLED),
    ),
    (
        DELIVER_SM_RECEIPT,
        DeliverSm(
            sequence_number=9,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            dest_addr_ton=5,
            destination_addr="JookSMS",
            esm_class=0x04,
            short_message=RECEIPT_TEXT,
            tlvs=(
                Tlv.string(Tag.RECEIPTED_MESSAGE_ID, "abc123"),
                Tlv.integer(Tag.MESSAGE_STATE, MessageState.DELIVERED),
            ),
        ),
    ),
    (
        bytes.fromhex("00000011 80000005 00000000 00000009 00"),
        DeliverSmResp(sequence_number=9),
    ),
    (bytes.fromhex("00000010 00000015 00000000 00000007"), EnquireLink(sequence_number=7)),
    (bytes.fromhex("00000010 80000015 00000000 00000007"), EnquireLinkResp(sequence_number=7)),
    (
        bytes.fromhex("00000010 80000000 00000003 00000005"),
        GenericNack(sequence_number=5, command_status=S.ESME_RINVCMDID),
    ),
    (
        bytes.fromhex("00000018 0000000B 00000000 00000004") + b"SMSC\0pw\0",
        Outbind(sequence_number=4, system_id="SMSC", password="pw"),
    ),
    (
        bytes.fromhex("0000002E 00000102 00000000 00000003")
        + bytes.fromhex("01 01")
        + b"447700900123\0"  # source_addr: the handset now reachable
        + bytes.fromhex("05 00")
        + b"JookSMS\0"  # esme_addr
        + bytes.fromhex("0422 0001 00"),  # ms_availability_status: available
        AlertNotification(
            sequence_number=3,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            esme_addr_ton=5,
            esme_addr="JookSMS",
            tlvs=(Tlv(Tag.MS_AVAILABILITY_STATUS, b"\x00"),),
        ),
    ),
]


@pytest.mark.parametrize(("wire", "pdu"), VECTORS, ids=lambda v: type(v).__name__)
def test_vector_encodes_to_the_spec_bytes(wire: bytes, pdu: Pdu) -> None:
    assert pdu.encode() == wire


@pytest.mark.parametrize(("wire", "pdu"), VECTORS, ids=lambda v: type(v).__name__)
def test_vector_decodes_to_the_pdu(wire: bytes, pdu: Pdu) -> None:
    assert decode(wire) == pdu


def test_header_fields() -> None:
    assert decode_header(SUBMIT_SM) == Header(0x39, CommandId.SUBMIT_SM, 0, 2)


# --- round trips ------------------------------------------------------------------------


def test_every_implemented_command_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(PDU_CLASSES.values())


@pytest.mark.parametrize("cls", list(STRATEGIES), ids=lambda c: c.__name__)
@given(data=st.data())
def test_round_trip(cls: type[Pdu], data: st.DataObject) -> None:
    pdu = data.draw(STRATEGIES[cls])
    wire = pdu.encode()
    assert int.from_bytes(wire[:4], "big") == len(wire)
    assert decode(wire) == pdu
    assert decode(wire).encode() == wire


@given(any_pdu)
def test_encoding_is_stable(pdu: Pdu) -> None:
    assert decode(pdu.encode()).encode() == pdu.encode()


# --- leniency toward real SMSCs ---------------------------------------------------------


def test_error_bind_resp_without_body() -> None:
    wire = header(16, CommandId.BIND_RECEIVER_RESP, S.ESME_RINVPASWD, 1)
    assert decode(wire) == BindReceiverResp(sequence_number=1, command_status=S.ESME_RINVPASWD)


def test_deliver_sm_resp_without_body() -> None:
    # Some SMSCs leave out the unused message_id entirely.
    assert decode(header(16, CommandId.DELIVER_SM_RESP, 0, 8)) == DeliverSmResp(sequence_number=8)


def test_error_response_with_fields_keeps_its_body() -> None:
    pdu = SubmitSmResp(sequence_number=1, command_status=S.ESME_RSYSERR, message_id="x")
    assert decode(pdu.encode()) == pdu
    assert pdu.encode().endswith(b"x\0")


def test_unknown_tlvs_pass_through() -> None:
    vendor = Tlv(0x1401, b"\x01\x02\x03")
    pdu = SubmitSm(sequence_number=1, tlvs=(vendor,))
    decoded = decode(pdu.encode())
    assert isinstance(decoded, SubmitSm)
    assert decoded.tlvs == (vendor,)


def test_latin1_octets_in_strings_survive() -> None:
    pdu = DeliverSm(sequence_number=1, source_addr="Café")
    assert decode(pdu.encode()) == pdu


def test_password_is_not_in_repr() -> None:
    pdu = BindTransmitter(sequence_number=1, system_id="me", password="s3cret")
    assert "s3cret" not in repr(pdu)
    assert "s3cret" not in repr(Outbind(sequence_number=1, password="s3cret"))


def test_command_id_and_response_bit() -> None:
    assert SubmitSm(sequence_number=1).command_id == CommandId.SUBMIT_SM
    assert not SubmitSm(sequence_number=1).is_response
    assert SubmitSmResp(sequence_number=1).is_response
    assert GenericNack(sequence_number=1).is_response


# --- unknown commands -------------------------------------------------------------------


def test_unknown_command_decodes_to_a_generic_pdu() -> None:
    wire = header(20, CommandId.QUERY_SM, 0, 11) + b"abcd"
    pdu = decode(wire)
    assert pdu == UnknownPdu(raw_command_id=CommandId.QUERY_SM, sequence_number=11, body=b"abcd")
    assert pdu.command_id == CommandId.QUERY_SM
    assert pdu.encode() == wire


def test_unknown_request_is_nacked() -> None:
    pdu = decode(header(16, 0x00001234, 0, 11))
    assert isinstance(pdu, UnknownPdu)
    assert pdu.reply() == GenericNack(sequence_number=11, command_status=S.ESME_RINVCMDID)


def test_unknown_response_is_not_answered() -> None:
    pdu = decode(header(16, 0x80001234, 0, 11))
    assert isinstance(pdu, UnknownPdu)
    assert pdu.reply() is None


# --- malformed input --------------------------------------------------------------------


def raises(wire: bytes) -> PduError:
    with pytest.raises(PduError) as caught:
        decode(wire)
    return caught.value


def test_shorter_than_a_header() -> None:
    assert raises(b"\x00\x00\x00\x10\x00").status == S.ESME_RINVCMDLEN


def test_length_disagrees_with_data() -> None:
    err = raises(header(20, CommandId.ENQUIRE_LINK, 0, 3))
    assert err.status == S.ESME_RINVCMDLEN
    assert (err.command_id, err.sequence_number) == (CommandId.ENQUIRE_LINK, 3)


def test_header_only_pdu_with_a_body() -> None:
    err = raises(header(17, CommandId.ENQUIRE_LINK, 0, 3) + b"\0")
    assert err.status == S.ESME_RINVCMDLEN
    assert error_response(err) == GenericNack(sequence_number=3, command_status=S.ESME_RINVCMDLEN)


def test_truncated_body() -> None:
    wire = SUBMIT_SM[:-3]
    wire = len(wire).to_bytes(4, "big") + wire[4:]
    err = raises(wire)
    assert err.status == S.ESME_RINVCMDLEN
    assert err.sequence_number == 2


def with_destination(destination: bytes) -> bytes:
    body = b"\0" + b"\x05\x00" + b"JookSMS\0" + b"\x01\x01" + destination
    body += b"\0\0\0" + b"\0\0" + b"\0\0\0\0" + b"\0"
    return header(16 + len(body), CommandId.SUBMIT_SM, 0, 77) + body


def test_overlong_c_octet_string_gets_the_field_status() -> None:
    err = raises(with_destination(b"1" * 21 + b"\0"))
    assert err.status == S.ESME_RINVDSTADR
    assert error_response(err) == SubmitSmResp(sequence_number=77, command_status=S.ESME_RINVDSTADR)


def test_longest_c_octet_string_is_accepted() -> None:
    pdu = decode(with_destination(b"1" * 20 + b"\0"))
    assert isinstance(pdu, SubmitSm)
    assert pdu.destination_addr == "1" * 20


def test_time_must_be_empty_or_16_characters() -> None:
    wire = SubmitSm(sequence_number=5, schedule_delivery_time="0" * 16).encode()
    bad = wire.replace(b"0" * 16 + b"\0", b"0" * 15 + b"\0")
    bad = len(bad).to_bytes(4, "big") + bad[4:]
    assert raises(bad).status == S.ESME_RINVSCHED


def test_short_message_longer_than_the_body() -> None:
    wire = SUBMIT_SM[:-6] + b"\x09Hello"
    assert raises(wire).status == S.ESME_RINVCMDLEN


def test_broken_tlv_stream() -> None:
    wire = SUBMIT_SM + b"\x04\x24\x00"
    wire = len(wire).to_bytes(4, "big") + wire[4:]
    assert raises(wire).status == S.ESME_RINVOPTPARSTREAM


@given(
    command_id=st.sampled_from(sorted(PDU_CLASSES)) | st.integers(0, 0xFFFFFFFF),
    body=st.binary(max_size=300),
)
def test_arbitrary_bodies_raise_only_pdu_error(command_id: int, body: bytes) -> None:
    try:
        pdu = decode(header(16 + len(body), command_id, 0, 1) + body)
    except PduError as err:
        assert err.sequence_number == 1
        assert err.command_id == command_id
    else:
        assert pdu.sequence_number == 1


# --- encoding errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pdu", "status"),
    [
        (SubmitSm(sequence_number=1, source_addr="x" * 21), S.ESME_RINVSRCADR),
        (SubmitSm(sequence_number=1, destination_addr="1\x002"), S.ESME_RINVDSTADR),
        (SubmitSm(sequence_number=1, source_addr="Jöök☃"), S.ESME_RINVSRCADR),
        (SubmitSm(sequence_number=1, short_message=b"x" * 255), S.ESME_RINVMSGLEN),
        (SubmitSm(sequence_number=1, validity_period="1d"), S.ESME_RINVEXPIRY),
        (SubmitSm(sequence_number=1, esm_class=256), S.ESME_RINVESMCLASS),
        (SubmitSm(sequence_number=1, dest_addr_ton=-1), S.ESME_RINVDSTTON),
        (SubmitSm(sequence_number=2**32), S.ESME_RSYSERR),
        (BindTransmitter(sequence_number=1, system_id="s" * 16), S.ESME_RINVSYSID),
        (BindTransmitter(sequence_number=1, system_id="s", password="p" * 9), S.ESME_RINVPASWD),
        (
            DataSm(sequence_number=1, tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, b"x" * 70000),)),
            S.ESME_RINVPARLEN,
        ),
    ],
)
def test_unencodable_values_raise_pdu_error(pdu: Pdu, status: CommandStatus) -> None:
    with pytest.raises(PduError) as caught:
        pdu.encode()
    assert caught.value.status == status


# --- answering errors -------------------------------------------------------------------


def test_every_implemented_request_has_a_response_class() -> None:
    requests = {cid for cid in PDU_CLASSES if not cid & RESPONSE_BIT}
    unanswered = {CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION}
    assert set(RESPONSES) == requests - unanswered
    for request, response in RESPONSES.items():
        assert request | RESPONSE_BIT == response.COMMAND_ID


def test_error_for_a_response_is_not_answered() -> None:
    err = PduError(S.ESME_RINVMSGID, "x", command_id=CommandId.SUBMIT_SM_RESP, sequence_number=1)
    assert error_response(err) is None


def test_error_without_a_header_is_nacked_with_sequence_zero() -> None:
    err = PduError(S.ESME_RINVCMDLEN, "x")
    assert error_response(err) == GenericNack(sequence_number=0, command_status=S.ESME_RINVCMDLEN)


def test_invalid_pdu_replies_like_error_response() -> None:
    err = PduError(S.ESME_RINVSRCADR, "x", command_id=CommandId.DELIVER_SM, sequence_number=6)
    pdu = InvalidPdu(raw_command_id=CommandId.DELIVER_SM, sequence_number=6, body=b"", error=err)
    assert pdu.reply() == DeliverSmResp(sequence_number=6, command_status=S.ESME_RINVSRCADR)
    assert pdu.command_id == CommandId.DELIVER_SM

from __future__ import annotations

import pytest

from jooksms.transports.smpp.errors import PduError
from jooksms.transports.smpp.status import CommandStatus
from jooksms.transports.smpp.tlv import (
    INTEGER_SIZES,
    STRING_SIZES,
    Tag,
    Tlv,
    decode_tlvs,
    encode_tlvs,
    find_tlv,
)

S = CommandStatus


def test_common_tags_have_the_spec_values() -> None:
    assert Tag.RECEIPTED_MESSAGE_ID.value == 0x001E
    assert Tag.MESSAGE_STATE.value == 0x0427
    assert Tag.NETWORK_ERROR_CODE.value == 0x0423
    assert Tag.MESSAGE_PAYLOAD.value == 0x0424
    sar = (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)
    assert [tag.value for tag in sar] == [0x020C, 0x020E, 0x020F]
    assert Tag.USER_MESSAGE_REFERENCE.value == 0x0204
    assert [Tag.SOURCE_PORT.value, Tag.DESTINATION_PORT.value] == [0x020A, 0x020B]


def test_sizes_cover_only_known_tags() -> None:
    assert set(INTEGER_SIZES) <= set(Tag)
    assert set(STRING_SIZES) <= set(Tag)
    assert INTEGER_SIZES[Tag.SAR_MSG_REF_NUM] == 2
    assert INTEGER_SIZES[Tag.NETWORK_ERROR_CODE] == 3


def test_integer_uses_the_spec_size() -> None:
    assert Tlv.integer(Tag.SAR_MSG_REF_NUM, 0x1234) == Tlv(0x020C, b"\x12\x34")
    assert Tlv.integer(Tag.MESSAGE_STATE, 2) == Tlv(0x0427, b"\x02")
    assert Tlv.integer(0x1400, 7, size=4).value == b"\x00\x00\x00\x07"


def test_integer_rejects_overflow_and_unknown_size() -> None:
    with pytest.raises(PduError) as caught:
        Tlv.integer(Tag.SAR_TOTAL_SEGMENTS, 256)
    assert caught.value.status == S.ESME_RINVOPTPARAMVAL
    with pytest.raises(ValueError, match="no known size"):
        Tlv.integer(0x1400, 1)


def test_string_is_nul_terminated_and_bounded() -> None:
    assert Tlv.string(Tag.RECEIPTED_MESSAGE_ID, "abc").value == b"abc\0"
    with pytest.raises(PduError):
        Tlv.string(Tag.RECEIPTED_MESSAGE_ID, "x" * 65)


def test_as_str_tolerates_a_missing_nul() -> None:
    assert Tlv(Tag.RECEIPTED_MESSAGE_ID, b"abc\0").as_str() == "abc"
    assert Tlv(Tag.RECEIPTED_MESSAGE_ID, b"abc").as_str() == "abc"


def test_encode_decode() -> None:
    tlvs = (Tlv.integer(Tag.SOURCE_PORT, 2948), Tlv(Tag.MESSAGE_PAYLOAD, b"hi"))
    wire = encode_tlvs(tlvs)
    assert wire == bytes.fromhex("020A 0002 0B84 0424 0002 6869")
    assert decode_tlvs(wire) == tlvs
    assert decode_tlvs(b"") == ()


def test_find_returns_the_first() -> None:
    tlvs = (Tlv(1, b"a"), Tlv(2, b"b"), Tlv(1, b"c"))
    assert find_tlv(tlvs, 1) == Tlv(1, b"a")
    assert find_tlv(tlvs, 3) is None


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (bytes.fromhex("0424 00"), S.ESME_RINVOPTPARSTREAM),
        (bytes.fromhex("0424 0005 6869"), S.ESME_RINVOPTPARSTREAM),
        (bytes.fromhex("0427 0002 0001"), S.ESME_RINVPARLEN),
        (bytes.fromhex("020C 0001 01"), S.ESME_RINVPARLEN),
    ],
)
def test_malformed(wire: bytes, status: CommandStatus) -> None:
    with pytest.raises(PduError) as caught:
        decode_tlvs(wire)
    assert caught.value.status == status


def test_encode_rejects_oversize_values_and_tags() -> None:
    with pytest.raises(PduError):
        encode_tlvs([Tlv(0x10000, b"")])
    with pytest.raises(PduError):
        encode_tlvs([Tlv(Tag.MESSAGE_PAYLOAD, bytes(0x10000))])

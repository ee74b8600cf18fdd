from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jooksms.domain.encoding import GSM7_BASIC_TABLE, analyse, split_ucs2
from jooksms.transports.smpp.errors import PduError
from jooksms.transports.smpp.pdu import DataSm, DeliverSm
from jooksms.transports.smpp.status import CommandStatus
from jooksms.transports.smpp.tlv import Tag, Tlv
from jooksms.transports.smpp.udh import (
    ESM_UDHI,
    Charset,
    Concat,
    Reassembler,
    SubmitPart,
    concat_udh,
    decode_short_message,
    parse_udh,
    read_incoming,
    split_for_charset,
    split_for_smpp,
)

S = CommandStatus

# Extension characters cost two septets, emoji two UCS-2 units: both must never be cut.
GSM_TEXTS = {
    1: "Hello {world}, that is €5 ~ [ok]",
    3: ("€" + "a" * 9) * 40,
    10: ("x{" + "b" * 8) * 130,
}
UCS2_TEXTS = {
    1: "Привет 😀, ça va?",
    3: ("Ж😀" + "ы" * 8) * 15,
    10: ("Ж😀" + "ы" * 8) * 60,
}
CASES = [(n, t, 0x00) for n, t in GSM_TEXTS.items()] + [(n, t, 0x08) for n, t in UCS2_TEXTS.items()]


def reassemble(
    parts: list[SubmitPart], source: str = "447700900123", charset: Charset = Charset.GSM7
) -> str | None:
    """What a receiving ESME makes of ``parts``, through the incoming path."""
    reassembler = Reassembler(timeout=60)
    result = None
    for part in parts:
        pdu = DeliverSm(
            sequence_number=1,
            esm_class=part.esm_class,
            data_coding=part.data_coding,
            short_message=part.short_message,
        )
        incoming = read_incoming(pdu, charset)
        if incoming.concat is None:
            return incoming.text
        c = incoming.concat
        result = reassembler.add(source, c.ref, c.total, c.seq, incoming.text)
    return result


@pytest.mark.parametrize(("segments", "text", "data_coding"), CASES)
def test_split_matches_the_charged_segments(segments: int, text: str, data_coding: int) -> None:
    parts = split_for_smpp(text, ref=7)
    assert analyse(text).segments == segments
    assert len(parts) == segments
    assert {p.data_coding for p in parts} == {data_coding}


@pytest.mark.parametrize(("segments", "text", "data_coding"), CASES)
def test_parts_reassemble_to_the_text(segments: int, text: str, data_coding: int) -> None:
    assert reassemble(split_for_smpp(text, ref=200)) == text


@pytest.mark.parametrize(("segments", "text", "data_coding"), CASES)
def test_every_part_fits_one_sms(segments: int, text: str, data_coding: int) -> None:
    for part in split_for_smpp(text, ref=1):
        assert part.air_octets <= 140
        assert len(part.short_message) <= 254
        if data_coding == 0x08:
            assert len(part.short_message) <= 140


@pytest.mark.parametrize(("segments", "text", "data_coding"), CASES)
def test_udhi_and_headers(segments: int, text: str, data_coding: int) -> None:
    parts = split_for_smpp(text, ref=0x2A)
    if segments == 1:
        assert parts[0].esm_class == 0
        return
    for seq, part in enumerate(parts, start=1):
        assert part.esm_class == ESM_UDHI
        assert part.short_message[:6] == bytes([5, 0, 3, 0x2A, segments, seq])


def test_single_gsm_part_is_unpacked_septets() -> None:
    [part] = split_for_smpp("@€", ref=0)
    assert part == SubmitPart(data_coding=0, esm_class=0, short_message=b"\x00\x1b\x65")


def test_single_ucs2_part_is_utf16be() -> None:
    [part] = split_for_smpp("Жы😀", ref=0)
    assert part.short_message == bytes.fromhex("0416 044B D83D DE00")


def test_air_octets_count_packed_septets() -> None:
    full_gsm = split_for_smpp("a" * 306, ref=0)
    assert [len(p.short_message) for p in full_gsm] == [159, 159]
    assert [p.air_octets for p in full_gsm] == [140, 140]
    assert split_for_smpp("a" * 160, ref=0)[0].air_octets == 140


def test_ref_must_fit_eight_bits() -> None:
    with pytest.raises(ValueError):
        split_for_smpp("a" * 200, ref=256)
    with pytest.raises(ValueError):
        split_for_smpp("hi", ref=-1)


gsm_text = st.text(st.sampled_from([c for c in GSM7_BASIC_TABLE if c != "\x1b"] + list("{}€[]~")))
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=700)


@given(text=gsm_text | any_text, ref=st.integers(0, 255))
def test_split_round_trip_property(text: str, ref: int) -> None:
    parts = split_for_smpp(text, ref=ref)
    assert len(parts) == analyse(text).segments
    assert all(p.air_octets <= 140 for p in parts)
    assert reassemble(parts) == text


# --- 8-bit default alphabets ---------------------------------------------------------

# Not in GSM 03.38 ("é" is), but in Latin-1.
LATIN1_ONLY = "ð¢"


def test_gsm7_charset_is_split_for_smpp() -> None:
    for text in ["@€", "é" * 300, LATIN1_ONLY * 100]:
        assert split_for_charset(text, ref=3, charset=Charset.GSM7) == split_for_smpp(text, ref=3)


@pytest.mark.parametrize(
    ("charset", "text", "octets"),
    [
        (Charset.LATIN1, "@ Café ð ¢", "@ Café ð ¢".encode("latin-1")),
        (Charset.LATIN1, "a" * 140, b"a" * 140),
        # Backquote is ASCII but not GSM-7, and "@" is 0x40 here, not septet 0x00.
        (Charset.ASCII, "`@{x}`", b"`@{x}`"),
    ],
)
def test_single_8bit_part_is_the_charset_octets(charset: Charset, text: str, octets: bytes) -> None:
    assert split_for_charset(text, ref=0, charset=charset) == [SubmitPart(0x00, 0, octets)]


def test_long_latin1_text_goes_in_parts_of_134_octets() -> None:
    text = "ð" * 300
    parts = split_for_charset(text, ref=0x2A, charset=Charset.LATIN1)
    assert [p.data_coding for p in parts] == [0x00] * 3
    assert [p.short_message[:6] for p in parts] == [bytes([5, 0, 3, 0x2A, 3, s]) for s in (1, 2, 3)]
    assert [len(p.short_message) - 6 for p in parts] == [134, 134, 32]
    assert all(p.short_message[6:] == b"\xf0" * len(p.short_message[6:]) for p in parts)
    assert reassemble(parts, charset=Charset.LATIN1) == text
    # The default charset has no "ð" and must use UCS-2: 67 characters a part.
    assert {p.data_coding for p in split_for_smpp(text, ref=0)} == {0x08}
    assert len(split_for_smpp(text, ref=0)) == 5


def test_latin1_cuts_at_134_where_gsm7_cuts_at_153() -> None:
    text = "é" * 300  # in both GSM-7 and Latin-1
    assert len(split_for_smpp(text, ref=0)) == 2
    assert len(split_for_charset(text, ref=0, charset=Charset.LATIN1)) == 3
    assert len(split_for_charset("a" * 141, ref=0, charset=Charset.LATIN1)) == 2


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        # GSM-7 could carry these, but the SMSC does not read GSM-7: UCS-2 it is.
        (Charset.LATIN1, "Price: 5€ " * 20),
        (Charset.LATIN1, "ΔΦΓ"),
        (Charset.ASCII, "Café " * 40),
        (Charset.ASCII, "Привет 😀" * 30),
    ],
)
def test_text_outside_the_charset_goes_as_ucs2(charset: Charset, text: str) -> None:
    parts = split_for_charset(text, ref=9, charset=charset)
    assert {p.data_coding for p in parts} == {0x08}
    assert len(parts) == len(split_ucs2(text))
    assert all(len(p.short_message) <= 140 for p in parts)
    assert reassemble(parts, charset=charset) == text


def test_split_ucs2_keeps_pairs_whole() -> None:
    text = "a" * 66 + "😀" + "b" * 10
    assert split_ucs2(text) == ["a" * 66, "😀" + "b" * 10]
    assert split_ucs2("ΔΦ") == ["ΔΦ"]
    assert split_ucs2("") == [""]


def test_8bit_charset_refuses_a_bad_ref_and_too_many_parts() -> None:
    with pytest.raises(ValueError):
        split_for_charset("hi", ref=256, charset=Charset.LATIN1)
    with pytest.raises(ValueError):
        split_for_charset("a" * 134 * 256, ref=0, charset=Charset.ASCII)


latin1_text = st.text(st.characters(max_codepoint=0xFF), max_size=700)


@given(
    text=latin1_text | any_text,
    ref=st.integers(0, 255),
    charset=st.sampled_from([Charset.LATIN1, Charset.ASCII]),
)
def test_8bit_round_trip_property(text: str, ref: int, charset: Charset) -> None:
    parts = split_for_charset(text, ref=ref, charset=charset)
    assert all(len(p.short_message) <= 140 for p in parts)
    assert reassemble(parts, charset=charset) == text


# --- concat_udh / parse_udh ----------------------------------------------------------


def test_concat_udh_forms() -> None:
    assert concat_udh(0xAB, 3, 2) == bytes.fromhex("05 00 03 AB 03 02")
    assert concat_udh(0xABCD, 3, 2, wide=True) == bytes.fromhex("06 08 04 AB CD 03 02")
    for bad in [(0, 3, 0), (0, 3, 4), (256, 2, 1), (0, 256, 1)]:
        with pytest.raises(ValueError):
            concat_udh(*bad)


@pytest.mark.parametrize(
    ("message", "concat", "payload"),
    [
        (bytes.fromhex("050003AB0302") + b"hi", Concat(0xAB, 3, 2), b"hi"),
        (bytes.fromhex("06080412340201") + b"hi", Concat(0x1234, 2, 1), b"hi"),
        # A port-addressing element before the concatenation one is skipped.
        (bytes.fromhex("0B 05040B8423F0 00030A0201") + b"x", Concat(0x0A, 2, 1), b"x"),
        # Only a port-addressing element: a single message.
        (bytes.fromhex("06 05040B8423F0") + b"x", None, b"x"),
        # TS 23.040: a part number of 0 or above the total voids the element.
        (bytes.fromhex("0500030A0200") + b"x", None, b"x"),
        (bytes.fromhex("0500030A0203") + b"x", None, b"x"),
        # A concatenation element of the wrong length is ignored.
        (bytes.fromhex("04 0002 0A02") + b"x", None, b"x"),
        # When the element repeats, the last one counts.
        (bytes.fromhex("0A 00030A0201 00030B0302") + b"x", Concat(0x0B, 3, 2), b"x"),
    ],
)
def test_parse_udh(message: bytes, concat: Concat | None, payload: bytes) -> None:
    assert parse_udh(message) == (concat, payload)


@pytest.mark.parametrize(
    "message",
    [b"", bytes.fromhex("05 0003AB03"), bytes.fromhex("03 0005AB"), bytes.fromhex("01 00")],
)
def test_malformed_udh(message: bytes) -> None:
    with pytest.raises(PduError) as caught:
        parse_udh(message)
    assert caught.value.status == S.ESME_RINVMSGLEN


@given(st.binary(max_size=200))
def test_parse_udh_raises_only_pdu_error(message: bytes) -> None:
    try:
        concat, payload = parse_udh(message)
    except PduError:
        return
    assert message.endswith(payload)
    assert concat is None or 1 <= concat.seq <= concat.total


# --- incoming text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_coding", "payload", "text"),
    [
        (0x00, b"\x00\x1b\x65abc", "@€abc"),
        (0x00, "Café".encode("latin-1"), "Café"),
        (0x01, b"plain", "plain"),
        (0x03, "Café".encode("latin-1"), "Café"),
        (0x08, "Жы😀".encode("utf-16-be"), "Жы😀"),
    ],
)
def test_decode_short_message(data_coding: int, payload: bytes, text: str) -> None:
    assert decode_short_message(data_coding, payload) == text


def test_decode_short_message_errors() -> None:
    with pytest.raises(PduError) as caught:
        decode_short_message(0x08, b"\x00")
    assert caught.value.status == S.ESME_RINVMSGLEN
    with pytest.raises(PduError) as caught:
        decode_short_message(0x04, b"\x00")
    assert caught.value.status == S.ESME_RX_P_APPN


@pytest.mark.parametrize(
    ("charset", "payload", "text"),
    [
        # Today's reading: septets, or Latin-1 once an octet is above 0x7F.
        (Charset.GSM7, b"\x00\x1b\x65abc", "@€abc"),
        (Charset.GSM7, "Café".encode("latin-1"), "Café"),
        (Charset.LATIN1, b"\x40 Caf\xe9 \xf0", "@ Café ð"),
        (Charset.LATIN1, b"\x00\x1b\x65", "\x00\x1be"),
        (Charset.ASCII, b"`@{x}`", "`@{x}`"),
        # An "ASCII" SMSC sending 8-bit octets most likely means Latin-1.
        (Charset.ASCII, b"Caf\xe9", "Café"),
    ],
)
def test_decode_data_coding_0_per_charset(charset: Charset, payload: bytes, text: str) -> None:
    assert decode_short_message(0x00, payload, charset) == text
    pdu = DeliverSm(sequence_number=1, data_coding=0x00, short_message=payload)
    assert read_incoming(pdu, charset).text == text


@pytest.mark.parametrize("charset", list(Charset))
def test_other_codings_ignore_the_charset(charset: Charset) -> None:
    assert decode_short_message(0x03, b"Caf\xe9", charset) == "Café"
    assert decode_short_message(0x08, "Жы".encode("utf-16-be"), charset) == "Жы"


def test_read_incoming_single() -> None:
    pdu = DeliverSm(sequence_number=1, short_message=b"hello")
    incoming = read_incoming(pdu)
    assert (incoming.text, incoming.concat) == ("hello", None)


def test_read_incoming_sar_tlvs() -> None:
    tlvs = (
        Tlv.integer(Tag.SAR_MSG_REF_NUM, 0x0102),
        Tlv.integer(Tag.SAR_TOTAL_SEGMENTS, 2),
        Tlv.integer(Tag.SAR_SEGMENT_SEQNUM, 2),
    )
    incoming = read_incoming(DeliverSm(sequence_number=1, short_message=b"part", tlvs=tlvs))
    assert incoming.concat == Concat(0x0102, 2, 2)
    incomplete = read_incoming(DeliverSm(sequence_number=1, tlvs=tlvs[:2]))
    assert incomplete.concat is None


def test_read_incoming_message_payload() -> None:
    payload = Tlv(Tag.MESSAGE_PAYLOAD, "Жы".encode("utf-16-be"))
    assert read_incoming(DataSm(sequence_number=1, data_coding=8, tlvs=(payload,))).text == "Жы"
    assert read_incoming(DeliverSm(sequence_number=1, tlvs=(payload,), data_coding=8)).text == "Жы"


def test_pair_cut_by_another_sender_is_joined() -> None:
    # Other senders cut UCS-2 at 67 units regardless of surrogate pairs.
    raw = ("a" * 66 + "😀" + "b").encode("utf-16-be")
    halves = [raw[:134], raw[134:]]
    texts = [decode_short_message(0x08, half) for half in halves]
    reassembler = Reassembler(timeout=60)
    assert reassembler.add("s", 1, 2, 1, texts[0]) is None
    assert reassembler.add("s", 1, 2, 2, texts[1]) == "a" * 66 + "😀" + "b"


# --- Reassembler ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_out_of_order() -> None:
    r = Reassembler(timeout=60)
    assert r.add("a", 5, 3, 3, "three") is None
    assert r.add("a", 5, 3, 1, "one ") is None
    assert r.pending == 1
    assert r.add("a", 5, 3, 2, "two ") == "one two three"
    assert r.pending == 0


def test_duplicates_are_ignored() -> None:
    r = Reassembler(timeout=60)
    assert r.add("a", 5, 2, 1, "first ") is None
    assert r.add("a", 5, 2, 1, "resent ") is None
    assert r.add("a", 5, 2, 2, "second") == "first second"


def test_messages_do_not_mix() -> None:
    r = Reassembler(timeout=60)
    assert r.add("alice", 1, 2, 1, "A1") is None
    assert r.add("bob", 1, 2, 1, "B1") is None
    assert r.add("alice", 2, 2, 1, "X1") is None
    assert r.add("alice", 1, 3, 1, "Y1") is None
    assert r.add("bob", 1, 2, 2, "B2") == "B1B2"
    assert r.add("alice", 1, 2, 2, "A2") == "A1A2"
    assert r.pending == 2


def test_single_part_passes_straight_through() -> None:
    r = Reassembler(timeout=60)
    assert r.add("a", 0, 1, 1, "whole") == "whole"
    assert r.pending == 0


def test_invalid_part_number() -> None:
    r = Reassembler(timeout=60)
    with pytest.raises(ValueError):
        r.add("a", 0, 2, 3, "x")
    with pytest.raises(ValueError):
        r.add("a", 0, 2, 0, "x")


def test_stale_messages_are_dropped() -> None:
    clock = FakeClock()
    r = Reassembler(timeout=30, clock=clock)
    assert r.add("a", 1, 2, 1, "old ") is None
    clock.now += 10
    assert r.add("b", 1, 2, 1, "newer ") is None
    clock.now += 25  # "a" is 35 s old, "b" 25 s
    assert r.expire() == 1
    assert r.pending == 1
    # The late second part of "a" now starts a new message instead of completing it.
    assert r.add("a", 1, 2, 2, "late") is None
    assert r.add("b", 1, 2, 2, "part") == "newer part"


def test_expiry_happens_on_add() -> None:
    clock = FakeClock()
    r = Reassembler(timeout=30, clock=clock)
    r.add("a", 1, 2, 1, "x")
    clock.now += 31
    r.add("b", 1, 2, 1, "y")
    assert r.pending == 1


def test_oldest_is_evicted_when_full() -> None:
    r = Reassembler(timeout=60, max_pending=2)
    r.add("a", 1, 2, 1, "a1")
    r.add("b", 1, 2, 1, "b1")
    r.add("c", 1, 2, 1, "c1")
    assert r.pending == 2
    assert r.add("a", 1, 2, 2, "a2") is None
    assert r.add("c", 1, 2, 2, "c2") == "c1c2"

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jooksms.domain.encoding import (
    GSM7_BASIC_TABLE,
    GSM7_EXTENSION_TABLE,
    MAX_SEGMENTS,
    Encoding,
    SegmentInfo,
    analyse,
    decode_gsm7,
    decode_ucs2,
    encode_gsm7,
    encode_ucs2,
    split,
)

EXTENSION = "\f^{}\\[~]|€"
GSM_CHARS = [c for c in GSM7_BASIC_TABLE if c != "\x1b"] + list(EXTENSION)
EMOJI = "😀"
LIMITS = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


def units_of(part: str, encoding: Encoding) -> int:
    """Independent unit count, so split() is not checked against itself."""
    if encoding is Encoding.GSM7:
        return sum(2 if c in EXTENSION else 1 for c in part)
    return sum(2 if ord(c) > 0xFFFF else 1 for c in part)


# --- the tables -----------------------------------------------------------------


def test_basic_table_has_128_unique_chars() -> None:
    assert len(GSM7_BASIC_TABLE) == 128
    assert len(set(GSM7_BASIC_TABLE)) == 128


@pytest.mark.parametrize(
    ("septet", "char"),
    [
        (0x00, "@"),
        (0x01, "£"),
        (0x02, "$"),
        (0x03, "¥"),
        (0x09, "Ç"),
        (0x0A, "\n"),
        (0x0D, "\r"),
        (0x10, "\u0394"),  # Greek capital delta
        (0x11, "_"),
        (0x15, "\u03a9"),  # Greek capital omega, not the ohm sign
        (0x1A, "\u039e"),
        (0x1C, "Æ"),
        (0x1F, "É"),
        (0x20, " "),
        (0x24, "¤"),
        (0x40, "¡"),
        (0x41, "A"),
        (0x5B, "Ä"),
        (0x5F, "§"),
        (0x60, "¿"),
        (0x61, "a"),
        (0x7B, "ä"),
        (0x7F, "à"),
    ],
)
def test_basic_table_positions(septet: int, char: str) -> None:
    assert GSM7_BASIC_TABLE[septet] == char


def test_basic_table_ascii_ranges() -> None:
    assert GSM7_BASIC_TABLE[0x30:0x3A] == "0123456789"
    assert GSM7_BASIC_TABLE[0x41:0x5B] == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert GSM7_BASIC_TABLE[0x61:0x7B] == "abcdefghijklmnopqrstuvwxyz"


def test_extension_table() -> None:
    assert dict(GSM7_EXTENSION_TABLE) == {
        "\f": 0x0A,
        "^": 0x14,
        "{": 0x28,
        "}": 0x29,
        "\\": 0x2F,
        "[": 0x3C,
        "~": 0x3D,
        "]": 0x3E,
        "|": 0x40,
        "€": 0x65,
    }


# --- analyse --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SegmentInfo(Encoding.GSM7, 0, 1)),
        ("a" * 160, SegmentInfo(Encoding.GSM7, 160, 1)),
        ("a" * 161, SegmentInfo(Encoding.GSM7, 161, 2)),
        ("a" * 306, SegmentInfo(Encoding.GSM7, 306, 2)),
        ("a" * 307, SegmentInfo(Encoding.GSM7, 307, 3)),
        ("a" * 1530, SegmentInfo(Encoding.GSM7, 1530, 10)),
        ("a" * 1531, SegmentInfo(Encoding.GSM7, 1531, 11)),
        ("é" * 160, SegmentInfo(Encoding.GSM7, 160, 1)),
        ("€" * 80, SegmentInfo(Encoding.GSM7, 160, 1)),
        ("€" * 81, SegmentInfo(Encoding.GSM7, 162, 2)),
        ("a" * 158 + "[", SegmentInfo(Encoding.GSM7, 160, 1)),
        ("a" * 159 + "[", SegmentInfo(Encoding.GSM7, 161, 2)),
        # 152 + escape pair: the pair moves whole to segment 2, pushing one char to 3.
        ("a" * 152 + "€" + "a" * 152, SegmentInfo(Encoding.GSM7, 306, 3)),
        ("a" * 151 + "€" + "a" * 153, SegmentInfo(Encoding.GSM7, 306, 2)),
        # Only 76 escape pairs fit in 153 septets, so plain ceil division says 10.
        ("€" * 765, SegmentInfo(Encoding.GSM7, 1530, 11)),
        ("ç" * 70, SegmentInfo(Encoding.UCS2, 70, 1)),
        ("ç" * 71, SegmentInfo(Encoding.UCS2, 71, 2)),
        ("ç" * 134, SegmentInfo(Encoding.UCS2, 134, 2)),
        ("ç" * 135, SegmentInfo(Encoding.UCS2, 135, 3)),
        ("ç" * 670, SegmentInfo(Encoding.UCS2, 670, 10)),
        (EMOJI, SegmentInfo(Encoding.UCS2, 2, 1)),
        ("a" * 68 + EMOJI, SegmentInfo(Encoding.UCS2, 70, 1)),
        ("a" * 69 + EMOJI, SegmentInfo(Encoding.UCS2, 71, 2)),
        # The emoji would take units 67-68 of segment 1, so it moves to segment 2.
        ("ç" * 66 + EMOJI + "ç" * 66, SegmentInfo(Encoding.UCS2, 134, 3)),
        ("ç" * 65 + EMOJI + "ç" * 67, SegmentInfo(Encoding.UCS2, 134, 2)),
        (EMOJI * 35, SegmentInfo(Encoding.UCS2, 70, 1)),
        (EMOJI * 36, SegmentInfo(Encoding.UCS2, 72, 2)),
    ],
)
def test_analyse(text: str, expected: SegmentInfo) -> None:
    assert analyse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "@£$¥èéùìòÇ\nØø\rÅå_ÆæßÉ¤¡ÄÖÑÜ§¿äöñüà",
        "\u0394\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e",  # Greek capitals
        EXTENSION,
    ],
)
def test_gsm7_text_stays_gsm7(text: str) -> None:
    assert analyse(text).encoding is Encoding.GSM7


@pytest.mark.parametrize(
    "text",
    [
        "Ça va, ç",  # only capital Ç is in the alphabet
        "café " + EMOJI,
        "`backtick`",
        "\u03b1",  # Greek small alpha
        "\u2126",  # ohm sign, which only looks like Ω
        "\x1b",  # the escape code is not a character
        "tab\there",
        "Привет",
    ],
)
def test_non_gsm7_text_needs_ucs2(text: str) -> None:
    assert analyse(text).encoding is Encoding.UCS2


def test_emoji_counts_two_units() -> None:
    assert analyse("hi" + EMOJI) == SegmentInfo(Encoding.UCS2, 4, 1)


def test_max_segments_matches_the_longest_plain_gsm_body() -> None:
    assert MAX_SEGMENTS == 10
    assert analyse("a" * 153 * MAX_SEGMENTS).segments == MAX_SEGMENTS


# --- split ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [""]),
        ("short", ["short"]),
        ("€" * 80, ["€" * 80]),
        ("a" * 161, ["a" * 153, "a" * 8]),
        ("a" * 307, ["a" * 153, "a" * 153, "a"]),
        ("a" * 152 + "€" + "a" * 152, ["a" * 152, "€" + "a" * 151, "a"]),
        ("a" * 151 + "€" + "a" * 9, ["a" * 151 + "€", "a" * 9]),
        ("€" * 81, ["€" * 76, "€" * 5]),
        ("ç" * 71, ["ç" * 67, "ç" * 4]),
        ("ç" * 66 + EMOJI + "ç" * 66, ["ç" * 66, EMOJI + "ç" * 65, "ç"]),
        ("ç" * 65 + EMOJI + "ç" * 4, ["ç" * 65 + EMOJI, "ç" * 4]),
    ],
)
def test_split(text: str, expected: list[str]) -> None:
    assert split(text) == expected


# --- encode / decode ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "septets"),
    [
        ("", b""),
        ("@", b"\x00"),
        ("$¤", b"\x02\x24"),
        ("Hi!", b"Hi!"),
        ("\n\r", b"\x0a\x0d"),
        ("€", b"\x1b\x65"),
        ("a[b]", b"a\x1b\x3cb\x1b\x3e"),
        ("{}\\^~|\f", b"\x1b\x28\x1b\x29\x1b\x2f\x1b\x14\x1b\x3d\x1b\x40\x1b\x0a"),
        ("\u0394\u03a9", b"\x10\x15"),
        ("¿à", b"\x60\x7f"),
    ],
)
def test_gsm7_codec(text: str, septets: bytes) -> None:
    assert encode_gsm7(text) == septets
    assert decode_gsm7(septets) == text


@pytest.mark.parametrize(
    ("text", "named"),
    [("abc ç def", "'ç'"), ("x" + EMOJI + "ç", "'😀'"), ("\x1b", "'\\x1b'")],
)
def test_encode_gsm7_names_first_invalid_char(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        encode_gsm7(text)


@pytest.mark.parametrize(
    ("septets", "text"),
    [
        (b"\x1b\x41", "A"),  # unknown escape falls back to the basic table
        (b"\x1b\x00", "@"),
        (b"ab\x1b", "ab "),  # dangling escape shows as a space
        (b"\x1b\x1bx", " x"),  # ESC ESC is reserved and shows as a space
    ],
)
def test_decode_gsm7_fallbacks(septets: bytes, text: str) -> None:
    assert decode_gsm7(septets) == text


def test_decode_gsm7_rejects_eight_bit_bytes() -> None:
    with pytest.raises(ValueError, match="0x80"):
        decode_gsm7(b"a\x80")


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("", b""),
        ("ç", b"\x00\xe7"),
        ("€", b"\x20\xac"),
        (EMOJI, b"\xd8\x3d\xde\x00"),
    ],
)
def test_ucs2_codec(text: str, data: bytes) -> None:
    assert encode_ucs2(text) == data
    assert decode_ucs2(data) == text


# --- properties -----------------------------------------------------------------

gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=1600)
mixed_text = st.text(
    alphabet=st.one_of(st.sampled_from(GSM_CHARS), st.sampled_from(["ç", EMOJI, "中"])),
    max_size=800,
)
any_text = st.one_of(st.text(max_size=800), gsm_text, mixed_text)


@given(any_text)
def test_split_is_consistent_with_analyse(text: str) -> None:
    info = analyse(text)
    parts = split(text)

    assert "".join(parts) == text
    assert len(parts) == info.segments
    assert units_of(text, info.encoding) == info.units


@given(any_text)
def test_split_parts_fit_and_are_full(text: str) -> None:
    info = analyse(text)
    parts = split(text)
    single, multi = LIMITS[info.encoding]
    limit = single if len(parts) == 1 else multi

    assert all(units_of(part, info.encoding) <= limit for part in parts)
    # Greedy: the next segment's first character would not have fitted.
    for part, following in pairwise(parts):
        assert units_of(part + following[0], info.encoding) > limit


@given(gsm_text)
def test_gsm_alphabet_text_is_gsm7(text: str) -> None:
    assert analyse(text).encoding is Encoding.GSM7


@given(gsm_text)
def test_gsm7_round_trip(text: str) -> None:
    septets = encode_gsm7(text)

    assert len(septets) == analyse(text).units
    assert decode_gsm7(septets) == text


@given(st.text(max_size=200))
def test_ucs2_round_trip(text: str) -> None:
    assert decode_ucs2(encode_ucs2(text)) == text
    assert len(encode_ucs2(text)) == 2 * units_of(text, Encoding.UCS2)

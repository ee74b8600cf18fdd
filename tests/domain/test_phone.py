from __future__ import annotations

import pickle

import phonenumbers
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from jooksms.domain import phone
from jooksms.domain.phone import (
    InvalidPhoneNumber,
    address_book_number,
    normalise_or_keep,
    to_e164,
)

ACCEPTED = [
    ("+50768819519", "+50768819519"),
    ("+507 6881-9519", "+50768819519"),
    ("+507 (6881) 9519", "+50768819519"),
    ("+507.6881.9519", "+50768819519"),
    ("+ 507 6881 9519", "+50768819519"),
    ("0050768819519", "+50768819519"),
    ("00 507 6881 9519", "+50768819519"),
    ("50768819519", "+50768819519"),
    ("50672004393", "+50672004393"),
    ("  +50672004393\n", "+50672004393"),
    ("+44 20 7946 0958", "+442079460958"),
    # phonenumbers drops the UK trunk prefix people often keep in brackets.
    ("+44 (0) 20 7946 0958", "+442079460958"),
    ("+49 30/12345678", "+493012345678"),
    ("+39 06 1234 5678", "+390612345678"),
    ("+1 (201) 555-0123", "+12015550123"),
    # The country code in parentheses, prefix included, as many print it.
    ("(+507) 6804 1432", "+50768041432"),
    ("(+507)6804-1432", "+50768041432"),
    ("(00507) 6804 1432", "+50768041432"),
    # A form's unescaped + arrives as a space; the number is international anyway.
    ("( 507) 6804 1432", "+50768041432"),
    ("1.201.555.0123", "+12015550123"),
    # Possible but unassigned: the API only rejects impossible numbers.
    ("+15551234567", "+15551234567"),
    # Non-geographic calling code.
    ("+800 1234 5678", "+80012345678"),
]

REJECTED = [
    ("", "no digits"),
    ("   ", "no digits"),
    ("+", "no digits"),
    ("00", "no digits"),
    ("abc", "only digits"),
    ("+1 800 FLOWERS", "only digits"),
    ("+507 6881 95a9", "only digits"),
    ("++50768819519", "only digits"),
    ("(+507) (+6804) 1432", "only digits"),
    ("507+68041432", "only digits"),
    ("+507 6881 9519 ext. 12", "only digits"),
    ("+５０７６８８１９５１９", "only digits"),
    ("+1234", "too short"),
    ("+1301585886967", "too long"),
    ("+999 1234567", "unknown country calling code"),
    ("0999 1234567", "unknown country calling code"),
    ("+0050768819519", "unknown country calling code"),
    ("+123456789012345678901", "more than 20 digits"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted(raw: str, expected: str) -> None:
    assert to_e164(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), REJECTED)
def test_rejected(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        to_e164(raw)
    message = str(caught.value)
    assert message.startswith(f"{raw!r} is not a possible phone number")
    assert reason in message


def test_seed_example_message() -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        to_e164("+1234")
    assert str(caught.value) == "'+1234' is not a possible phone number: too short"


def test_repeated_rejections_raise_fresh_exceptions() -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(InvalidPhoneNumber) as caught:
            to_e164("+1234")
        errors.append(caught.value)
    assert errors[0] is not errors[1]


def test_error_is_value_error_and_survives_pickling() -> None:
    error = InvalidPhoneNumber("x", "why")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.value, copy.reason, str(copy)) == ("x", "why", str(error))


def test_seed_address_book_number_is_impossible_so_kept() -> None:
    # +1 numbers have ten national digits; this one has twelve.
    number = phonenumbers.parse("+1301585886967", None)
    assert not phonenumbers.is_possible_number(number)
    assert normalise_or_keep("+1301585886967") == "+1301585886967"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+507 6881-9519", "+50768819519"),
        ("  +1301585886967 ", "+1301585886967"),
        ("  call me maybe ", "call me maybe"),
        ("", ""),
    ],
)
def test_normalise_or_keep(raw: str, expected: str) -> None:
    assert normalise_or_keep(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+507 6881-9519", "+50768819519"),
        ("(+507) 6804 1432", "+50768041432"),
        # The seed's own example: one digit too long for +1, kept as written.
        (" +1301585886967 ", "+1301585886967"),
        ("+1234", "+1234"),
    ],
)
def test_address_book_number_keeps_what_is_written_like_a_number(raw: str, expected: str) -> None:
    assert address_book_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("hello", "only digits"),
        ("", "no digits"),
        ("+1 800 FLOWERS", "only digits"),
        ("+123456789012345678901", "more than 20 digits"),
    ],
)
def test_address_book_number_refuses_words(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason):
        address_book_number(raw)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["", "+", "00", "(+", "(00", "( +", "(", " "]),
    st.text(alphabet="0123456789 ().-/", min_size=1, max_size=24),
)
def test_what_the_error_lists_as_allowed_is_never_refused_for_its_characters(
    prefix: str, rest: str
) -> None:
    # The refusal "only digits, one leading + or 00, spaces and - . ( ) / are allowed"
    # must be true: a string made of just those is refused, if at all, for another reason.
    try:
        to_e164(prefix + rest)
    except InvalidPhoneNumber as exc:
        assert "only digits" not in exc.reason


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@st.composite
def written_examples(draw: st.DrawFn) -> tuple[str, str]:
    """An example number written some common international way, and its E.164 form."""
    number = phonenumbers.example_number(draw(st.sampled_from(REGIONS)))
    if number is None:
        reject()
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    spaced = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    written = draw(st.sampled_from([e164, spaced, "00" + e164[1:], e164[1:]]))
    padding = draw(st.sampled_from(["", " ", "\t", "\n"]))
    return padding + written + padding, e164


@given(written_examples())
def test_example_numbers_normalise_idempotently(example: tuple[str, str]) -> None:
    written, e164 = example
    once = to_e164(written)
    assert once == e164
    assert to_e164(once) == once


@pytest.mark.parametrize("region", REGIONS)
def test_every_region_example_is_accepted(region: str) -> None:
    number = phonenumbers.example_number(region)
    if number is None:
        pytest.skip(f"phonenumbers has no example for {region}")
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    assert to_e164(phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)) == e164


# -- the shortcut past the parser agrees with the parser -------------------------------


def _parser_answer(digits: str) -> str | None:
    outcome = phone._parsed(digits)
    return outcome if isinstance(outcome, str) else None


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789", min_size=4, max_size=17))
def test_shortcut_agrees_with_parser_on_any_digits(digits: str) -> None:
    shortcut = phone._plain_possible(digits)
    if shortcut is not None:
        assert shortcut == _parser_answer(digits)


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_shortcut_agrees_with_parser_on_example_numbers(region: str) -> None:
    for kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    ):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        digits = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[1:]
        shortcut = phone._plain_possible(digits)
        assert shortcut is None or shortcut == _parser_answer(digits)
        assert phone.to_e164("+" + digits) == _parser_answer(digits)

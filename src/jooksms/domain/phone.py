"""Normalise international phone numbers to E.164.

The API promise is that only *impossible* numbers are rejected: a number that has the right
length for its country is accepted even if no carrier has assigned it yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneMetadata,
    PhoneNumberFormat,
    ValidationResult,
)

__all__ = ["InvalidPhoneNumber", "address_book_number", "normalise_or_keep", "to_e164"]

# Longer than any real number; refusing early keeps pasted garbage away from the parser.
_MAX_DIGITS = 20
# Numbers already in E.164 are the common case in bulk sends, so they skip the cleaning.
_ALREADY_E164 = re.compile(r"\+[0-9]{8,15}", re.ASCII)
# Punctuation people use when writing numbers; anything else (letters included) means the
# string is not a number, which is stricter than phonenumbers' vanity-letter support.
_SEPARATORS = re.compile(r"[\s().\-/]+")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)

_POSSIBILITY_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country calling code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
}


class InvalidPhoneNumber(ValueError):
    """A user-supplied phone number is impossible; ``str()`` is safe to show them."""

    def __init__(self, value: str, reason: str) -> None:
        # Both go into args so the exception survives pickling across worker processes.
        super().__init__(value, reason)
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.value!r} is not a possible phone number: {self.reason}"


@dataclass(frozen=True, slots=True)
class _Rejected:
    reason: str


def to_e164(raw: str) -> str:
    """Return ``raw`` in E.164; a number without a leading ``+`` or ``00`` is international."""
    outcome = _convert(raw)
    if isinstance(outcome, _Rejected):
        # A fresh exception each time: re-raising a cached instance would keep growing
        # its traceback.
        raise InvalidPhoneNumber(raw, outcome.reason)
    return outcome


def normalise_or_keep(raw: str) -> str:
    """Return E.164 when possible, else what the user wrote, as address books must keep it."""
    outcome = _convert(raw)
    return raw.strip() if isinstance(outcome, _Rejected) else outcome


def address_book_number(raw: str) -> str:
    """E.164 when possible, else ``raw`` as written if it is at least written like a
    number (digits and separators): an address book keeps numbers it cannot place,
    such as the seed's ``+1301585886967``, but not words."""
    outcome = _convert(raw)
    if not isinstance(outcome, _Rejected):
        return outcome
    shape = _international_digits(raw)
    if isinstance(shape, _Rejected):
        raise InvalidPhoneNumber(raw, shape.reason)
    return raw.strip()


# Rejections are cached as values because lru_cache does not remember raised exceptions,
# and a bulk request may repeat the same bad number thousands of times.
@lru_cache(maxsize=65536)
def _convert(raw: str) -> str | _Rejected:
    if _ALREADY_E164.fullmatch(raw):
        return _check(raw[1:])
    digits = _international_digits(raw)
    return digits if isinstance(digits, _Rejected) else _check(digits)


def _international_digits(raw: str) -> str | _Rejected:
    # Separators go first, so that a prefix written inside them, as in "(+507) 6804 1432"
    # or "(00507) ...", is still the leading prefix.
    digits = _SEPARATORS.sub("", raw)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not digits:
        return _Rejected("no digits")
    if not _DIGITS.fullmatch(digits):
        return _Rejected("only digits, one leading + or 00, spaces and - . ( ) / are allowed")
    if len(digits) > _MAX_DIGITS:
        return _Rejected(f"more than {_MAX_DIGITS} digits")
    return digits


def _check(digits: str) -> str | _Rejected:
    return _plain_possible(digits) or _parsed(digits)


def _plain_possible(digits: str) -> str | None:
    """E.164 for the common case without the full parser, or None to ask the parser.

    ``phonenumbers.parse`` costs about 14 µs, which is most of a 10,000-recipient
    request whose numbers are all different. When the digits are already a country
    code and a national number of a possible length, with nothing the parser would
    strip (a national prefix) or keep specially (leading zeros), its answer is known:
    the same digits. Every other case goes to the parser; a test checks that both give
    the same answer.
    """
    if digits[:1] in ("", "0"):  # no country code starts with 0
        return None
    for size in (1, 2, 3):
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
        if regions:
            break
    else:
        return None
    metadata = _metadata(int(digits[:size]), regions[0])
    national = digits[size:]
    if metadata is None or not national or national[0] == "0":
        return None
    if metadata.national_prefix_for_parsing and re.match(
        metadata.national_prefix_for_parsing, national
    ):
        return None
    desc = metadata.general_desc
    if desc is None:
        return None
    lengths = (desc.possible_length or ()) + (desc.possible_length_local_only or ())
    return "+" + digits if len(national) in lengths else None


@lru_cache(maxsize=512)
def _metadata(country_code: int, region: str) -> PhoneMetadata | None:
    metadata: PhoneMetadata | None = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, region
    )
    return metadata


def _parsed(digits: str) -> str | _Rejected:
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            return _Rejected("unknown country calling code")
        return _Rejected("not a phone number")
    reason = phonenumbers.is_possible_number_with_reason(number)
    # Same acceptance as is_possible_number, which also allows numbers dialable only locally.
    if reason not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        return _Rejected(_POSSIBILITY_REASONS.get(reason, "not a phone number"))
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)

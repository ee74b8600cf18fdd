"""Parse the date formats promised by the public API into aware UTC datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DateParseError", "parse_datetime"]

# Offsets that no real zone uses are almost always typos (e.g. "+5000"), so refuse them.
_MAX_OFFSET = timedelta(hours=14)
# Timestamps are stored relative to the Unix epoch and must fit in a four-digit year.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

# Valid tzdata keys that do not name a place: "localtime" would silently depend on the
# server's configuration, and the others carry no meaningful offset for users.
_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})

_PATTERN = re.compile(
    r"""
    (?P<year>[0-9]{4}) (?P<sep>[/-]) (?P<month>[0-9]{1,2}) (?P=sep) (?P<day>[0-9]{1,2})
    (?:
        (?:\s+|T) (?P<hour>[0-9]{1,2}) : (?P<minute>[0-9]{2})
        (?: : (?P<second>[0-9]{2}) (?: [.,] (?P<fraction>[0-9]{1,6}) )? )?
    )?
    (?:
        \s* (?i:Z)
      | \s* (?P<sign>[+-]) (?P<off_h>[0-9]{2}) (?: :? (?P<off_m>[0-9]{2}) )?
      | \s+ (?i:GMT|UTC)
            (?: (?P<gmt_sign>[+-]) (?P<gmt_h>[0-9]{1,2}) (?: :? (?P<gmt_m>[0-9]{2}) )? )?
      | \s+ (?P<name>[A-Za-z][A-Za-z0-9_+/-]*)
    )?
    """,
    re.VERBOSE | re.ASCII,
)

_FORMAT_HINT = "expected 'YYYY/MM/DD [HH:MM[:SS]] [zone]' or ISO 8601"
_TOO_EARLY = "before 1970-01-01 00:00 UTC"


class DateParseError(ValueError):
    """A date supplied by a user could not be understood; ``str()`` is safe to show them."""

    def __init__(self, value: str, reason: str) -> None:
        # Both go into args so the exception survives pickling across worker processes.
        super().__init__(value, reason)
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid date {self.value!r}: {self.reason}"


def parse_datetime(value: str) -> datetime:
    """Return the instant ``value`` denotes as an aware UTC datetime; no zone means UTC."""
    text = value.strip()
    if not text:
        raise DateParseError(value, "empty")
    match = _PATTERN.fullmatch(text)
    local = _from_match(value, match) if match else _from_isoformat(value, text)
    return _to_utc(value, local)


def _from_match(value: str, match: re.Match[str]) -> datetime:
    fields = match.groupdict()
    # Local 1969 can still be 1970 in UTC, but anything earlier would otherwise surface
    # datetime's "year 0 is out of range" instead of the real reason.
    if int(fields["year"] or 0) < _EARLIEST.year - 1:
        raise DateParseError(value, _TOO_EARLY)
    zone = _zone(value, fields)
    fraction = (fields["fraction"] or "").ljust(6, "0")
    try:
        return datetime(
            int(fields["year"]),
            int(fields["month"]),
            int(fields["day"]),
            int(fields["hour"] or 0),
            int(fields["minute"] or 0),
            int(fields["second"] or 0),
            int(fraction),
            tzinfo=zone,
        )
    except ValueError as exc:
        raise DateParseError(value, str(exc)) from None


def _zone(value: str, fields: dict[str, str | None]) -> tzinfo:
    if fields["sign"]:
        return _fixed_offset(value, fields["sign"], fields["off_h"], fields["off_m"])
    if fields["gmt_sign"]:
        # "GMT-5" is read the way people write it (five hours behind UTC), which is the
        # opposite of the POSIX convention behind IANA's "Etc/GMT-5".
        return _fixed_offset(value, fields["gmt_sign"], fields["gmt_h"], fields["gmt_m"])
    if fields["name"]:
        return _named_zone(value, fields["name"])
    return UTC


def _fixed_offset(value: str, sign: str, hours: str | None, minutes: str | None) -> tzinfo:
    minute_count = int(minutes or 0)
    if minute_count > 59:
        raise DateParseError(value, "offset minutes must be in 0..59")
    offset = timedelta(hours=int(hours or 0), minutes=minute_count)
    # Checked before building the timezone, which itself rejects anything of 24h or more
    # with a message meant for programmers.
    if offset > _MAX_OFFSET:
        raise DateParseError(value, "offset beyond ±14:00")
    return timezone(-offset if sign == "-" else offset)


def _named_zone(value: str, name: str) -> tzinfo:
    if name in _NOT_PLACES:
        raise DateParseError(value, f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError covers keys that resolve to a directory or an unreadable tzdata file.
        raise DateParseError(value, f"unknown time zone {name!r}") from None


def _from_isoformat(value: str, text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise DateParseError(value, _FORMAT_HINT) from None
    offset = parsed.utcoffset()
    if offset is not None and abs(offset) > _MAX_OFFSET:
        raise DateParseError(value, "offset beyond ±14:00")
    return parsed


def _to_utc(value: str, local: datetime) -> datetime:
    if local.tzinfo is None:
        local = local.replace(tzinfo=UTC)
    # Ambiguous or skipped wall times in DST zones follow PEP 495 fold=0: the earlier
    # reading of a repeated hour, and a shift forward out of a spring-forward gap.
    try:
        instant = local.astimezone(UTC)
    except OverflowError:
        raise DateParseError(value, "after year 9999") from None
    if instant < _EARLIEST:
        raise DateParseError(value, _TOO_EARLY)
    return instant

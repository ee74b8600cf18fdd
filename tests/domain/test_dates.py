from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from jooksms.domain.dates import DateParseError, parse_datetime


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


ACCEPTED = [
    # "GMT±N" as people read it: GMT-5 is five hours behind UTC.
    ("2016/06/26 10:00 GMT-5", utc(2016, 6, 26, 15, 0)),
    ("2016/06/26 10:00 GMT+5", utc(2016, 6, 26, 5, 0)),
    ("2016/06/26 10:00 GMT+5:30", utc(2016, 6, 26, 4, 30)),
    ("2016/06/26 10:00 GMT+0530", utc(2016, 6, 26, 4, 30)),
    ("2016/06/26 10:00 GMT-03:30", utc(2016, 6, 26, 13, 30)),
    ("2016/06/26 10:00 UTC+3", utc(2016, 6, 26, 7, 0)),
    ("2016/06/26 10:00 UTC-12", utc(2016, 6, 26, 22, 0)),
    ("2016/06/26 10:00 GMT", utc(2016, 6, 26, 10, 0)),
    ("2016/06/26 10:00 UTC", utc(2016, 6, 26, 10, 0)),
    ("2016/06/26 10:00 Z", utc(2016, 6, 26, 10, 0)),
    ("2016/06/26 10:00 gmt-5", utc(2016, 6, 26, 15, 0)),
    ("2016/06/26 10:00 utc", utc(2016, 6, 26, 10, 0)),
    # Numeric offsets.
    ("2018-03-22 10:20 +0600", utc(2018, 3, 22, 4, 20)),
    ("2018/03/01 00:00 +05:00", utc(2018, 2, 28, 19, 0)),
    ("2018/03/01 00:00 -05:00", utc(2018, 3, 1, 5, 0)),
    ("2018/03/01 00:00 +05", utc(2018, 2, 28, 19, 0)),
    ("2018/03/01 00:00 +14:00", utc(2018, 2, 28, 10, 0)),
    ("2018/03/01 00:00 -1400", utc(2018, 3, 1, 14, 0)),
    ("2018/03/01 00:00 +0000", utc(2018, 3, 1, 0, 0)),
    ("2018-03-01 10:00+02:00", utc(2018, 3, 1, 8, 0)),
    # IANA names, DST-aware.
    ("2018/03/01 00:00 UTC", utc(2018, 3, 1, 0, 0)),
    ("2018/03/01 00:00 America/Panama", utc(2018, 3, 1, 5, 0)),
    ("2018/01/15 12:00 America/New_York", utc(2018, 1, 15, 17, 0)),
    ("2018/07/01 12:00 America/New_York", utc(2018, 7, 1, 16, 0)),
    ("2018/07/01 12:00 Europe/London", utc(2018, 7, 1, 11, 0)),
    ("2018/03/01 12:00 Asia/Kolkata", utc(2018, 3, 1, 6, 30)),
    ("2018/03/01 12:00 America/Argentina/Buenos_Aires", utc(2018, 3, 1, 15, 0)),
    ("2018/03/01 12:00 America/Port-au-Prince", utc(2018, 3, 1, 17, 0)),
    # IANA's own Etc/GMT-5 keeps its POSIX meaning (UTC+5).
    ("2018/03/01 00:00 Etc/GMT-5", utc(2018, 2, 28, 19, 0)),
    # Skipped and repeated wall times follow fold=0.
    ("2018/03/11 02:30 America/New_York", utc(2018, 3, 11, 7, 30)),
    ("2018/11/04 01:30 America/New_York", utc(2018, 11, 4, 5, 30)),
    # ISO 8601.
    ("2018-03-01T00:00:00Z", utc(2018, 3, 1, 0, 0)),
    ("2018-03-01T00:00:00+02:00", utc(2018, 2, 28, 22, 0)),
    ("2018-03-01T10:00:00+0530", utc(2018, 3, 1, 4, 30)),
    ("2018-03-01T00:00:00.123456+02:00", utc(2018, 2, 28, 22, 0, 0, 123456)),
    ("2018-03-01T00:00:00.5Z", utc(2018, 3, 1, 0, 0, 0, 500000)),
    ("2018-03-01T00:00:00.123456789+00:00", utc(2018, 3, 1, 0, 0, 0, 123456)),
    ("2018-03-01T00:00", utc(2018, 3, 1, 0, 0)),
    ("20180301T000000Z", utc(2018, 3, 1, 0, 0)),
    ("20180301T103000+0100", utc(2018, 3, 1, 9, 30)),
    ("2018-W09-4", utc(2018, 3, 1, 0, 0)),
    # Seconds optional, separators, no zone, whitespace, date only.
    ("2018/03/01 00:00:30 UTC", utc(2018, 3, 1, 0, 0, 30)),
    ("2018-03-01 00:00:30", utc(2018, 3, 1, 0, 0, 30)),
    ("2018/03/01 10:00", utc(2018, 3, 1, 10, 0)),
    ("2018-03-01 10:00", utc(2018, 3, 1, 10, 0)),
    ("2018/3/1 9:05", utc(2018, 3, 1, 9, 5)),
    ("  2018/03/01 10:00 UTC \n", utc(2018, 3, 1, 10, 0)),
    ("2018/03/01", utc(2018, 3, 1)),
    ("2018-03-01", utc(2018, 3, 1)),
    ("2018/03/01 America/Panama", utc(2018, 3, 1, 5, 0)),
    ("2016/02/29 10:00", utc(2016, 2, 29, 10, 0)),
    # Range limits apply to the UTC instant.
    ("1970/01/01 00:00 UTC", utc(1970, 1, 1)),
    ("1969/12/31 20:00 -05:00", utc(1970, 1, 1, 1, 0)),
    ("9999/12/31 23:59:59 UTC", utc(9999, 12, 31, 23, 59, 59)),
]

REJECTED = [
    ("", "empty"),
    ("   ", "empty"),
    ("garbage", "expected"),
    ("10:00", "expected"),
    ("2018/03/01 10", "expected"),
    ("2018/03-01 10:00", "expected"),
    ("2018/03/01 10:00 +05:00 extra", "expected"),
    ("2018/03/01 10:00 America/../../etc/passwd", "expected"),
    ("2018/02/30 10:00", "day is out of range"),
    ("2017/02/29 10:00", "day is out of range"),
    ("2018/13/01 10:00", "month must be in 1..12"),
    ("2018/00/01 10:00", "month must be in 1..12"),
    ("2018/03/01 25:00", "hour must be in 0..23"),
    ("2018/03/01 24:00", "hour must be in 0..23"),
    ("2018/03/01 10:60", "minute must be in 0..59"),
    ("2018/03/01 10:00:60", "second must be in 0..59"),
    ("2018/03/01 00:00 +5000", "offset beyond ±14:00"),
    ("2018/03/01 00:00 +14:01", "offset beyond ±14:00"),
    ("2018/03/01 00:00 -1500", "offset beyond ±14:00"),
    ("2018/03/01 00:00 GMT-15", "offset beyond ±14:00"),
    ("2018/03/01 00:00 UTC+99", "offset beyond ±14:00"),
    ("2018-03-01T00:00:00+14:30", "offset beyond ±14:00"),
    ("20180301T000000+1430", "offset beyond ±14:00"),
    ("2018/03/01 00:00 +05:75", "offset minutes"),
    ("2018/03/01 00:00 Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
    ("2018/03/01 00:00 America", "unknown time zone 'America'"),
    ("2018/03/01 00:00 localtime", "unknown time zone 'localtime'"),
    ("2018/03/01 00:00 GMT-5x", "unknown time zone 'GMT-5x'"),
    ("2018/03/01 00:00 america/panama", "unknown time zone"),
    ("1969/12/31 23:59 UTC", "before 1970"),
    ("1970/01/01 00:00 +00:01", "before 1970"),
    ("0000/01/01", "before 1970"),
    ("1000-01-01T00:00:00Z", "before 1970"),
    ("9999/12/31 23:00 -05:00", "after year 9999"),
]


@pytest.mark.parametrize(("value", "expected"), ACCEPTED)
def test_accepted(value: str, expected: datetime) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(("value", "reason"), REJECTED)
def test_rejected(value: str, reason: str) -> None:
    with pytest.raises(DateParseError) as caught:
        parse_datetime(value)
    message = str(caught.value)
    assert message.startswith(f"invalid date {value!r}: ")
    assert reason in message


def test_seed_example_message() -> None:
    with pytest.raises(DateParseError) as caught:
        parse_datetime("2018/03/01 00:00 +5000")
    assert str(caught.value) == "invalid date '2018/03/01 00:00 +5000': offset beyond ±14:00"


def test_error_is_value_error_and_survives_pickling() -> None:
    error = DateParseError("x", "why")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.value, copy.reason, str(copy)) == ("x", "why", str(error))


instants = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=0))
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))


def _format_offset(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    hours, minutes = divmod(int(abs(offset).total_seconds()) // 60, 60)
    return f"{sign}{hours:02d}{minutes:02d}"


@given(instants, offsets)
def test_round_trips_any_offset(instant: datetime, offset: timedelta) -> None:
    try:
        local = instant.astimezone(timezone(offset))
    except OverflowError:
        reject()
    text = f"{local:%Y/%m/%d %H:%M:%S} {_format_offset(offset)}"
    assert parse_datetime(text) == instant


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.timezones(),
    )
)
def test_round_trips_isoformat(moment: datetime) -> None:
    parsed = parse_datetime(moment.isoformat())
    # Converted first: PEP 495 makes repeated wall times unequal to any other zone's times.
    assert parsed == moment.astimezone(UTC)
    assert parsed.tzinfo is UTC

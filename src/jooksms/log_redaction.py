"""What logs may not carry: message bodies, secrets, passwords in URLs, and (except
at DEBUG) phone numbers. Applied to every record as it is made, whoever logs it
(our modules, SQLAlchemy, uvicorn), message and traceback alike, so that a log call
written tomorrow with ``%r`` of a PDU or a receipt cannot leak what it holds.

SQL parameters are kept out at the source as well: the engines are made with
``hide_parameters=True`` (db/engine.py), so a failed insert's error names its
statement, not the recipients and texts it carried.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from typing import Any

#: Fields whose value is a message body or a secret, as they appear in a repr
#: (``short_message=b'...'``) or a pydantic error (``input_value='...'``).
_HIDDEN_FIELDS = (
    "short_message",
    "message_payload",
    "text",
    "body",
    "message",
    "input_value",
    "password",
    "secret",
    "client_secret",
    "auth_token",
    "token",
    "access_token",
)
_QUOTED = r"(?P<q>b?(?P<quote>['\"]))(?:\\.|(?!(?P=quote)).)*(?P=quote)"
_HIDDEN = re.compile(rf"\b(?P<key>{'|'.join(_HIDDEN_FIELDS)})=" + _QUOTED)
#: Address fields of PDUs, receipts and incoming messages, written without a +.
_ADDRESS_FIELDS = ("source_addr", "destination_addr", "source", "destination", "sender", "to")
_ADDRESS = re.compile(
    rf"\b(?P<key>{'|'.join(_ADDRESS_FIELDS)})=(?P<quote>['\"])(?P<number>\+?\d{{5,15}})(?P=quote)"
)
#: E.164 numbers, also as a query string writes them (``%2B507...``, access logs).
_E164 = re.compile(r"(?<![\w+%])(?:\+|%2B)\d{7,15}\b", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)


def mask_number(number: str) -> str:
    """``+50768041432`` as ``+507******32``: enough to tell numbers apart in a log."""
    plus = 3 if number[:3].upper() == "%2B" else 1 if number.startswith("+") else 0
    keep = plus + 3
    return number[:keep] + "*" * max(0, len(number) - keep - 2) + number[-2:]


def redact(text: str, *, numbers: bool = True) -> str:
    """``text`` without bodies, secrets and URL passwords; without whole phone numbers
    when ``numbers``."""
    text = _HIDDEN.sub(lambda m: f"{m['key']}=<hidden>", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***@", text)
    if numbers:
        text = _ADDRESS.sub(
            lambda m: f"{m['key']}={m['quote']}{mask_number(m['number'])}{m['quote']}", text
        )
        text = _E164.sub(lambda m: mask_number(m[0]), text)
    return text


def install() -> None:
    """Redact every log record from now on, in this process (idempotent). Numbers are
    kept in full when the logger that emits the record is enabled for DEBUG."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_jooksms_redacts", False):
        return
    logging.setLogRecordFactory(_redacting(factory))


def _redacting(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        numbers = not logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it itself later
            return record
        record.msg, record.args = redact(message, numbers=numbers), None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(formatted, numbers=numbers)
        return record

    factory._jooksms_redacts = True  # type: ignore[attr-defined]
    return factory

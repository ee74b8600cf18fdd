"""Webhooks from HTTP providers: Twilio's status callbacks and incoming SMS.

Each request is checked first: the connector must exist (404) and the request must
carry the signature Twilio computes with that connector's auth token (403), so that
nobody else can mark messages delivered or put SMS in an account. Then the fields
(422 naming the first missing one) become a delivery outcome or an incoming message,
written as the worker writes the ones that come over SMPP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from twilio.request_validator import RequestValidator

from jooksms import metrics
from jooksms import store as stores
from jooksms.db.engine import Database
from jooksms.db.types import utcnow
from jooksms.errors import Forbidden, ValidationFailed
from jooksms.services import connectors, messages
from jooksms.transports.base import DeliveryReport, IncomingSms

log = logging.getLogger(__name__)

#: Twilio MessageStatus values that are a final word on delivery.
DELIVERED: Final = frozenset({"delivered", "read"})
NOT_DELIVERED: Final = frozenset({"undelivered", "failed", "canceled", "partially_delivered"})
#: On the way (queued, accepted, sending, sent, scheduled...): nothing to record.


@dataclass(frozen=True, slots=True)
class SignedForm:
    """A form POST as a provider signs it: the URL it called, its fields (a name may
    repeat, so they are pairs) and the signature header."""

    url: str
    fields: Sequence[tuple[str, str]]
    signature: str | None

    def get(self, name: str) -> str | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None or not value.strip():
            raise ValidationFailed.field(name, "missing")
        return value.strip()


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a status callback did: the outcome recorded, or None when the status was
    not final; ``matched`` is False when its message is not known (yet)."""

    outcome: DeliveryReport | None
    matched: bool = True


async def twilio_status(db: Database, *, connector: str, form: SignedForm) -> Recorded:
    """A Twilio status callback: ``delivered`` moves the message to delivered,
    ``undelivered`` and ``failed`` to failed with Twilio's ErrorCode; other statuses
    are steps on the way and change nothing."""
    await _verify(db, connector, form)
    sid = form.require("MessageSid")
    status = form.require("MessageStatus").lower()
    if status not in DELIVERED and status not in NOT_DELIVERED:
        return Recorded(None)
    outcome = DeliveryReport(
        connector,
        sid,  # Twilio's ids are opaque strings: the form the client stored
        delivered=status in DELIVERED,
        error_code=None if status in DELIVERED else (form.get("ErrorCode") or "").strip() or None,
    )
    now = utcnow()
    applied = await db.run_write(
        lambda session: stores.of(session).record_outcomes(session, [outcome], now=now)
    )
    metrics.count_moves(applied.moves)
    if applied.unmatched:
        log.info("Twilio status %s for %s on %s: message not known yet", status, sid, connector)
    return Recorded(outcome, matched=not applied.unmatched)


async def twilio_incoming(db: Database, *, connector: str, form: SignedForm) -> bool:
    """An SMS sent to one of our numbers. True when stored; an SMS to a number no
    account owns is logged and not stored."""
    await _verify(db, connector, form)
    sms = IncomingSms(form.require("From"), form.require("To"), _text(form), connector)
    _, unowned = await db.run_write(lambda session: messages.receive_batch(session, [sms]))
    if unowned:
        log.warning(
            "incoming SMS on %s to %s, a number no account owns: not stored",
            connector,
            sms.destination,
        )
    return not unowned


def _text(form: SignedForm) -> str:
    """The body, with the links of any pictures sent along (MMS): we store text."""
    text = form.get("Body") or ""
    try:
        media = int(form.get("NumMedia") or 0)
    except ValueError:
        media = 0
    links = [url for i in range(min(media, 10)) if (url := form.get(f"MediaUrl{i}"))]
    return "\n".join([text, *links]) if links else text


async def _verify(db: Database, connector: str, form: SignedForm) -> None:
    async with db.read() as session:
        token = await connectors.twilio_auth_token(session, name=connector)
    if not form.signature or not valid_signature(token, form.url, form.fields, form.signature):
        raise Forbidden("the X-Twilio-Signature header is missing or wrong")


def valid_signature(
    token: str, url: str, fields: Sequence[tuple[str, str]] | Mapping[str, str], signature: str
) -> bool:
    """Whether ``signature`` is Twilio's signature of this request (HMAC-SHA1 with the
    auth token of the URL followed by the sorted fields). Twilio's own validator, which
    also accepts the URL with and without its default port."""
    params = _MultiFields(fields.items() if isinstance(fields, Mapping) else fields)
    return bool(RequestValidator(token).validate(url, params, signature))


class _MultiFields(dict[str, list[str]]):
    """The fields in the form RequestValidator reads repeated names from (getlist)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        for key, value in pairs:
            self.setdefault(key, []).append(value)

    def getlist(self, name: str) -> list[str]:
        return self[name]

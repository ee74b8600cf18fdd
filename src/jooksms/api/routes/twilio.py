"""Twilio's webhooks: status callbacks and incoming SMS, per Twilio connector.

Not in the OpenAPI document: Twilio calls these, not the API's clients.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from jooksms.api.deps import app_state
from jooksms.api.payload import form_pairs, read_body
from jooksms.errors import BadRequest
from jooksms.services import twilio_webhooks
from jooksms.services.twilio_webhooks import SignedForm
from jooksms.transports.twilio import INCOMING_PATH, STATUS_PATH

router = APIRouter(include_in_schema=False)
# ":path" so that a connector name with a "/" (sent as %2F, decoded before routing) matches.
_STATUS = STATUS_PATH.replace("{connector}", "{connector:path}")
_INCOMING = INCOMING_PATH.replace("{connector}", "{connector:path}")

#: What Twilio expects back from an incoming SMS webhook when there is nothing to reply.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@router.post(_STATUS)
async def status(request: Request, connector: str) -> Response:
    state = app_state(request)
    form = await _signed_form(request)
    await twilio_webhooks.twilio_status(state.db, connector=connector, form=form)
    return _twiml()


@router.post(_INCOMING)
async def incoming(request: Request, connector: str) -> Response:
    state = app_state(request)
    form = await _signed_form(request)
    await twilio_webhooks.twilio_incoming(state.db, connector=connector, form=form)
    return _twiml()


async def _signed_form(request: Request) -> SignedForm:
    settings = app_state(request).settings
    body = await read_body(request, limit=settings.max_body_bytes)
    try:
        fields = form_pairs(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the form body is not valid UTF-8") from None
    return SignedForm(
        _signed_url(request, settings.public_url),
        fields,
        request.headers.get("x-twilio-signature"),
    )


def _signed_url(request: Request, public_url: str | None) -> str:
    """The URL Twilio called, as it signed it: the public URL (behind a proxy the
    request's own host and scheme are not the ones Twilio used) and the path as sent,
    percent-encoding and trailing slash included."""
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string", b"")
    base = public_url.rstrip("/") if public_url else f"{request.url.scheme}://{request.url.netloc}"
    url = base + raw_path.decode("latin-1")
    return url + "?" + query.decode("latin-1") if query else url


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")

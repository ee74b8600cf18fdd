"""A local server that speaks the part of Twilio's Messages API that JookSMS uses, as
Twilio documents it, for tests of the Twilio transport and webhooks.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` takes a form with ``To``,
``Body`` and ``From`` or ``MessagingServiceSid``, checks HTTP basic auth (the Account
SID and auth token), and answers ``201`` with the message resource (``sid`` "SM...",
``status`` "queued"), or Twilio's error object (``code``, ``message``, ``more_info``,
``status``): 400/21211 for a 'To' that is not a phone number, 21602/21603/21604 for
missing fields, 401/20003 for bad credentials. On demand it answers 429 (20429) or
500, or answers slowly. When the request names a ``StatusCallback``, it reports
``sent`` and then ``delivered`` (``undelivered`` with ErrorCode 30003 for the numbers
in :attr:`FakeTwilio.undelivered`) to that URL, signed with ``X-Twilio-Signature``.

The signature is computed here with a few lines of hmac, as Twilio documents it, and
not with the twilio library, so that tests check our validation against an
independent implementation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from tests.helpers.live import serve_in_thread

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def twilio_signature(token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature: base64 of HMAC-SHA1, keyed with the auth token, of the full
    URL followed by each POST parameter's name and value, sorted by name."""
    data = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Callback:
    """A status callback the fake made, and what the receiver answered (0: no answer)."""

    url: str
    fields: dict[str, str]
    answer: int


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "f" * 32
    auth_token: str = "fake-auth-token"
    #: Seconds between accepting a message and reporting it, and between reports.
    callback_delay: float = 0.05
    #: Seconds to wait before answering a create request.
    delay: float = 0.0
    #: Answer the next this many create requests with 429, then with 500.
    throttle: int = 0
    fail: int = 0
    #: Destinations whose messages end ``undelivered`` (ErrorCode 30003).
    undelivered: set[str] = field(default_factory=set)
    #: Every create request's form, accepted or not, and the messages created.
    requests: list[dict[str, str]] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    unauthorized: int = 0
    in_flight: int = 0
    most_in_flight: int = 0

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    f"/{API_VERSION}/Accounts/{{sid}}/Messages.json",
                    self._create,
                    methods=["POST"],
                ),
                Route("/healthz", lambda _: PlainTextResponse("ok")),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve in a thread; yield the base URL (a connector's ``base_url``)."""
        with serve_in_thread(self.app) as base_url:
            yield base_url

    async def _create(self, request: Request) -> JSONResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            self.requests.append(form)
            return self._answer(request, form)
        finally:
            self.in_flight -= 1

    def _answer(self, request: Request, form: dict[str, str]) -> JSONResponse:
        if not self._authorized(request):
            self.unauthorized += 1
            return _error(401, 20003, "Authenticate")
        if request.path_params["sid"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        if self.throttle:
            self.throttle -= 1
            return _error(429, 20429, "Too Many Requests")
        if self.fail:
            self.fail -= 1
            return _error(500, 20500, "Internal Server Error")
        to = form.get("To", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "The 'From' phone number is required.")
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=True)
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        self.messages.append({**form, "sid": sid})
        callback = form.get("StatusCallback")
        report = BackgroundTask(self._report, callback, sid, form) if callback else None
        return JSONResponse(resource, status_code=201, background=report)

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    async def _report(self, url: str, sid: str, form: dict[str, str]) -> None:
        final = "undelivered" if form["To"] in self.undelivered else "delivered"
        async with httpx.AsyncClient(timeout=10) as http:
            for status in ("sent", final):
                await asyncio.sleep(self.callback_delay)
                fields = {
                    "AccountSid": self.account_sid,
                    "ApiVersion": API_VERSION,
                    "From": form.get("From") or "+15005550006",
                    "MessageSid": sid,
                    "MessageStatus": status,
                    "SmsSid": sid,
                    "SmsStatus": status,
                    "To": form["To"],
                }
                if status == "undelivered":
                    fields["ErrorCode"] = "30003"
                signature = twilio_signature(self.auth_token, url, fields)
                try:
                    answer = await http.post(
                        url, data=fields, headers={"X-Twilio-Signature": signature}
                    )
                    code = answer.status_code
                except httpx.HTTPError:
                    code = 0
                self.callbacks.append(Callback(url, fields, code))


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )

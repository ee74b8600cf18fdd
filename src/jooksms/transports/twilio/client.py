"""A transport for Twilio's Messages API (and servers that speak it).

One POST per message to ``/2010-04-01/Accounts/{sid}/Messages.json``; Twilio splits
long messages itself and answers one message SID for them. Delivery is reported
later, by Twilio calling the status callback URL we send with each message (see
``api/routes/twilio.py``); incoming SMS come the same way. So this transport never
calls its receipt or incoming callbacks: the webhooks reach the API process instead.

Twilio's answers map to the worker's kinds of failure as its documentation reads:
2xx with a ``sid`` is accepted; 429 (error 20429) is "slow down"; 5xx and network
errors are transient; any other 4xx carries a Twilio error code (21211: invalid
'To') and is permanent, except 401: refused credentials are the operator's to fix,
and the messages wait for that rather than fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import httpx

from jooksms.transports.base import FailureKind, OutgoingSms, SubmitFailure, SubmitResult
from jooksms.transports.ratelimit import TokenBucket

from .config import TwilioConfig

log = logging.getLogger(__name__)

#: Network failures after which the request cannot have reached the API.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Pauses after 429: doubling from the first while throttling lasts, up to the last.
_FIRST_PAUSE: Final = 1.0
_LONGEST_PAUSE: Final = 30.0
_USER_AGENT: Final = "jooksms"


class TwilioClient:
    """Sends messages through one Twilio account, at most ``config.window`` requests
    at once and, when ``config.rate`` is set, at most that many a second.

    ``status_callback`` is the absolute URL Twilio should report delivery to; without
    one, messages stay ``sent``. ``transport`` replaces httpx's network transport, for
    tests (``httpx.MockTransport``), and ``sleep`` the pauses after a 429.
    """

    def __init__(
        self,
        config: TwilioConfig,
        *,
        status_callback: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.status_callback = status_callback
        self._transport = transport
        self._sleep = sleep
        self._http: httpx.AsyncClient | None = None
        self._window = asyncio.Semaphore(config.window)
        self._bucket = TokenBucket(config.rate) if config.rate is not None else None
        self._pause_until = 0.0
        self._throttle_streak = 0
        self._in_flight = 0  # submits not yet answered, waiting for a slot or not
        self._sending = 0  # requests on the wire
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        #: Most requests in flight at once so far (what the window allowed).
        self.most_in_flight = 0

    async def start(self) -> None:
        if self._http is not None:
            raise RuntimeError("a TwilioClient is started once")
        window = self.config.window
        self._http = httpx.AsyncClient(
            auth=httpx.BasicAuth(self.config.account_sid, self.config.auth_token),
            timeout=httpx.Timeout(self.config.timeout),
            limits=httpx.Limits(max_connections=window, max_keepalive_connections=window),
            headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
            transport=self._transport,
        )
        if self.status_callback is None:
            log.warning(
                "Twilio account %s: JOOKSMS_PUBLIC_URL is not set, so Twilio cannot report "
                "delivery and sent messages stay 'sent'",
                self.config.account_sid,
            )

    async def stop(self, timeout: float = 10.0) -> None:
        """Refuse new submits, wait up to ``timeout`` for the requests in flight, close."""
        self._stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("Twilio: %d requests still in flight at stop", self._in_flight)
        if self._http is not None:
            await self._http.aclose()

    async def submit(self, message: OutgoingSms) -> SubmitResult:
        if self._http is None:
            raise RuntimeError("start() the TwilioClient before submitting")
        self._in_flight += 1
        self._idle.clear()
        try:
            async with self._window:
                if self._stopping:
                    return _not_sent(message.id, "the Twilio client is stopping; not sent")
                if self._bucket is not None:
                    await self._bucket.acquire()
                await self._wait_out_pause()
                return await self._post(self._http, message)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _post(self, http: httpx.AsyncClient, message: OutgoingSms) -> SubmitResult:
        self._sending += 1
        self.most_in_flight = max(self.most_in_flight, self._sending)
        try:
            response = await http.post(self.config.messages_url, data=self.form(message))
        except _NOT_SENT as exc:
            return _not_sent(message.id, f"could not reach Twilio: {_describe(exc)}")
        except httpx.HTTPError as exc:
            # The request may have been read and acted on before the answer was lost.
            failure = SubmitFailure(
                "transient", f"no answer from Twilio: {_describe(exc)}", maybe_delivered=True
            )
            return SubmitResult(message.id, (), failure)
        finally:
            self._sending -= 1
        result = interpret(message.id, response)
        if result.failure is not None and result.failure.kind == "throttled":
            self._throttled(response)
        elif result.ok:
            self._throttle_streak = 0
        return result

    def form(self, message: OutgoingSms) -> dict[str, str]:
        """The form fields of the Messages API request for ``message``."""
        fields = {"To": message.destination, "Body": message.text}
        if self.config.messaging_service_sid is not None:
            # The Messaging Service picks the sender from its pool of numbers.
            fields["MessagingServiceSid"] = self.config.messaging_service_sid
        else:
            fields["From"] = message.source
        if self.status_callback is not None:
            fields["StatusCallback"] = self.status_callback
        return fields

    def _throttled(self, response: httpx.Response) -> None:
        pause = _retry_after(response)
        if pause is None:
            pause = min(_FIRST_PAUSE * 2**self._throttle_streak, _LONGEST_PAUSE)
        self._throttle_streak += 1
        self._pause_until = max(self._pause_until, self._now() + min(pause, _LONGEST_PAUSE))

    async def _wait_out_pause(self) -> None:
        wait = self._pause_until - self._now()
        if wait > 0:
            await self._sleep(wait)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()


def interpret(message_id: int, response: httpx.Response) -> SubmitResult:
    """What a Messages API answer means for the message ``message_id``."""
    status = response.status_code
    body = _json_object(response)
    if 200 <= status < 300:
        sid = body.get("sid")
        if isinstance(sid, str) and sid.strip():
            return SubmitResult(message_id, (sid.strip(),))
        # Accepted, but we cannot match its receipts: retrying may send it twice.
        failure = SubmitFailure(
            "transient", f"Twilio answered {status} without a message sid", maybe_delivered=True
        )
        return SubmitResult(message_id, (), failure)
    code = body.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    text = body.get("message")
    if not isinstance(text, str) or not text.strip():
        text = response.text.strip()[:200] or response.reason_phrase
    description = (
        f"Twilio error {code}: {text}" if code is not None else f"Twilio HTTP {status}: {text}"
    )
    if status == 429:
        return SubmitResult(message_id, (), _failure("throttled", description, code))
    if status >= 500:
        # A 503 is Twilio turning requests away; after other 5xx the message may exist.
        failure = _failure("transient", description, code, maybe_delivered=status != 503)
        return SubmitResult(message_id, (), failure)
    if status == 401:
        return SubmitResult(
            message_id,
            (),
            _failure("transient", f"{description} (check the connector's credentials)", code),
        )
    return SubmitResult(message_id, (), _failure("permanent", description, code))


def _failure(
    kind: FailureKind, description: str, code: int | None, *, maybe_delivered: bool = False
) -> SubmitFailure:
    carrier_code = None if code is None else str(code)
    return SubmitFailure(kind, description, code, maybe_delivered, carrier_code)


def _not_sent(message_id: int, description: str) -> SubmitResult:
    return SubmitResult(message_id, (), SubmitFailure("transient", description))


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:  # not JSON, or not UTF-8
        return {}
    return value if isinstance(value, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, when the answer gives it as a number."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _describe(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

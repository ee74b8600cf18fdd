"""An asyncio SMPP 3.4 ESME: binds to a carrier's SMSC, submits messages, and hands
receipts and incoming messages to the application.

Three layers, each owning one thing:

* :class:`SmppClient` is what the delivery worker holds. :meth:`SmppClient.submit`
  never raises for anything the carrier or the network does: it returns a
  :class:`SubmitResult` saying what happened, whether to retry, and whether a retry
  could send the message twice (``maybe_delivered``).
* ``_Link`` keeps one bind up: connect, bind, serve until the connection ends,
  back off, again. Transceiver mode has one link; transmitter+receiver mode has two.
* ``_Connection`` is one TCP connection: it frames PDUs, writes the PDUs of one loop
  turn together, matches responses by sequence number, answers the SMSC's
  enquire_link and unbind, and sends enquire_link when the line is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import math
import random
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Container, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from jooksms.transports.base import (
    FailureKind,
    IncomingSms,
    OutgoingSms,
    SubmitFailure,
    SubmitResult,
)
from jooksms.transports.ratelimit import TokenBucket
from jooksms.transports.urls import ConnectorUrlError, query_values

from .errors import PduError
from .framing import Framer, encode_many
from .pdu import (
    RESPONSES,
    AlertNotification,
    Bind,
    BindReceiver,
    BindResp,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    InvalidPdu,
    Outbind,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
    error_response,
)
from .receipt import ESM_TYPE_MASK, Receipt, is_receipt, message_id_key, parse_receipt
from .status import CommandStatus, StatusKind, describe, kind, name
from .udh import (
    Charset,
    Concat,
    Reassembler,
    SubmitPart,
    read_incoming,
    split_for_charset,
    split_for_smpp,
)

__all__ = [
    "BindMode",
    "Charset",
    "FailureKind",
    "IncomingSms",
    "OutgoingSms",
    "Receipt",
    "SequenceNumbers",
    "SessionState",
    "SmppClient",
    "SmppConfig",
    "SmppConfigError",
    "SubmitFailure",
    "SubmitResult",
]

log = logging.getLogger(__name__)

_S = CommandStatus
_T = TypeVar("_T")

DEFAULT_PORT: Final = 2775
#: The largest sequence number SMPP 3.4 allows (section 3.2); then it wraps to 1.
MAX_SEQUENCE: Final = 0x7FFFFFFF
_READ_SIZE: Final = 64 * 1024
# Completed long messages whose callback failed, kept for the SMSC's resend.
_MAX_UNDELIVERED: Final = 1000
# Type of number / numbering plan indicator (SMPP 3.4 5.2.5, 5.2.6).
_TON_UNKNOWN, _TON_INTERNATIONAL, _TON_ALPHANUMERIC = 0, 1, 5
_NPI_UNKNOWN, _NPI_ISDN = 0, 1
_MAX_ADDRESS: Final = 20
_MAX_ALPHANUMERIC: Final = 11
# esm_class message type of an intermediate delivery notification (ENROUTE and the
# like): a receipt that is not the last word.
_ESM_INTERMEDIATE_NOTIFICATION: Final = 0x20
# Requests that timed out, kept per connection for their late answer; the oldest go.
_MAX_LATE: Final = 10_000


# --- configuration --------------------------------------------------------------------


class BindMode(enum.StrEnum):
    TRANSCEIVER = "transceiver"
    #: Two connections: submits on a transmitter bind, receipts and incoming SMS on a
    #: receiver bind, for carriers without transceiver support.
    TRANSMITTER_RECEIVER = "transmitter+receiver"


class SmppConfigError(ConnectorUrlError):
    """A bad SMPP setting. ``part`` names the URL part or field, for the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppConfig:
    """One SMPP account at a carrier. Times are in seconds."""

    host: str
    port: int = DEFAULT_PORT
    system_id: str
    password: str = field(default="", repr=False)
    system_type: str = ""
    bind: BindMode = BindMode.TRANSCEIVER
    #: submit_sm sent and not yet answered, at most.
    window: int = 32
    #: Messages per second (token bucket); None leaves pacing to the window.
    rate: float | None = None
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    registered_delivery: bool = True
    #: Resends of a throttled submit_sm before it is reported as throttled.
    throttle_retries: int = 3
    #: The first pause after ESME_RTHROTTLED; it doubles while throttling persists.
    throttle_pause: float = 1.0
    #: Parts of a long incoming message wait this long for the rest.
    reassembly_timeout: float = 600.0
    #: What the carrier takes data_coding 0 to be (Kannel's alt-charset): GSM 03.38,
    #: or an 8-bit charset for carriers that read it as Latin-1 or ASCII.
    charset: Charset = Charset.GSM7
    #: Resends of a message that may already have been delivered (no answer in time,
    #: or the line lost with it outstanding): each one can reach the handset twice.
    maybe_delivered_retries: int = 1

    def __post_init__(self) -> None:
        _check_config(self)

    @classmethod
    def from_url(cls, url: str) -> SmppConfig:
        """``smpp://SYSTEM_ID:PASSWORD@HOST:PORT?window=32&bind=transceiver&rate=50``.

        Query parameters are the field names below ``password``. The password may be
        percent-encoded; errors never repeat it.
        """
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as err:
            raise SmppConfigError(
                "port" if "port" in str(err).lower() else "url", str(err)
            ) from None
        if parts.scheme.lower() != "smpp":
            raise SmppConfigError("scheme", f"expected smpp://, got {parts.scheme or 'none'!r}")
        if parts.path not in ("", "/"):
            raise SmppConfigError("path", "an smpp URL has no path; put settings in the query")
        if parts.fragment:
            raise SmppConfigError("fragment", "an smpp URL has no #fragment")
        if not parts.username:
            raise SmppConfigError("system_id", "missing: write smpp://SYSTEM_ID:PASSWORD@HOST")
        if not parts.hostname:
            raise SmppConfigError("host", "missing: write smpp://SYSTEM_ID:PASSWORD@HOST")
        values: dict[str, Any] = {
            "host": parts.hostname,
            "port": DEFAULT_PORT if port is None else port,
            "system_id": unquote(parts.username),
            "password": unquote(parts.password or ""),
        }
        values.update(
            query_values(parts.query, _URL_PARAMETERS, error=SmppConfigError, empty_ok=True)
        )
        return cls(**values)


_BOOLEANS: Final[Mapping[str, bool]] = {
    "1": True,
    "true": True,
    "yes": True,
    "0": False,
    "false": False,
    "no": False,
}
_CHARSETS: Final = "gsm7, latin1 or ascii"
# name -> (parser, what a valid value looks like). Parsers raise ValueError.
_URL_PARAMETERS: Final[Mapping[str, tuple[Callable[[str], object], str]]] = {
    "system_type": (str, "text"),
    "bind": (BindMode, "transceiver or transmitter+receiver"),
    "window": (int, "a whole number"),
    "rate": (float, "a number of messages per second"),
    "enquire_link_interval": (float, "a number of seconds"),
    "response_timeout": (float, "a number of seconds"),
    "reconnect_min": (float, "a number of seconds"),
    "reconnect_max": (float, "a number of seconds"),
    "registered_delivery": (lambda v: _BOOLEANS[v.lower()], "true or false"),
    "throttle_retries": (int, "a whole number"),
    "throttle_pause": (float, "a number of seconds"),
    "reassembly_timeout": (float, "a number of seconds"),
    "charset": (lambda v: Charset(v.lower()), _CHARSETS),
    "maybe_delivered_retries": (int, "a whole number"),
}


def _check_config(config: SmppConfig) -> None:
    if not config.host:
        raise SmppConfigError("host", "missing")
    _check_range("port", config.port, 1, 65535)
    # Lengths are the C-Octet String sizes of bind_transmitter (SMPP 3.4 4.1.1).
    _check_text("system_id", config.system_id, 15, required=True)
    _check_text("password", config.password, 8, show=False)
    _check_text("system_type", config.system_type, 12)
    try:
        object.__setattr__(config, "bind", BindMode(config.bind))
    except ValueError:
        raise SmppConfigError("bind", "must be transceiver or transmitter+receiver") from None
    try:
        object.__setattr__(config, "charset", Charset(config.charset))
    except ValueError:
        raise SmppConfigError("charset", f"{config.charset!r} is not {_CHARSETS}") from None
    _check_range("window", config.window, 1, 10_000)
    _check_range("throttle_retries", config.throttle_retries, 0, 100)
    _check_range("maybe_delivered_retries", config.maybe_delivered_retries, 0, 100)
    if config.rate is not None:
        _check_positive("rate", config.rate)
    for part in (
        "enquire_link_interval",
        "response_timeout",
        "reconnect_min",
        "reconnect_max",
        "throttle_pause",
        "reassembly_timeout",
    ):
        _check_positive(part, getattr(config, part))
    if config.reconnect_max < config.reconnect_min:
        raise SmppConfigError("reconnect_max", "must not be below reconnect_min")


def _check_range(part: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SmppConfigError(part, f"{value!r} is not a whole number from {low} to {high}")


def _check_positive(part: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SmppConfigError(part, f"{value!r} is not a number")
    if not (math.isfinite(value) and value > 0):
        raise SmppConfigError(part, f"{value!r} is not a positive number")


def _check_text(
    part: str, value: str, limit: int, *, required: bool = False, show: bool = True
) -> None:
    shown = repr(value) if show else "it"
    if required and not value:
        raise SmppConfigError(part, "missing")
    if not value.isprintable() or not value.isascii():
        raise SmppConfigError(part, f"{shown} must be printable ASCII")
    if len(value) > limit:
        raise SmppConfigError(part, f"{shown} is longer than {limit} characters")


# --- what goes in and out -------------------------------------------------------------


_SEVERITY: Final[Mapping[FailureKind, int]] = {"throttled": 0, "transient": 1, "permanent": 2}


class SessionState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"


_STATE_ORDER: Final = {
    SessionState.DISCONNECTED: 0,
    SessionState.BINDING: 1,
    SessionState.BOUND: 2,
    SessionState.UNBINDING: 3,
}


class _Request(Protocol):
    """Makes a request PDU once its sequence number is known (a PDU class or a partial
    of one): building it then is cheaper than copying a template."""

    def __call__(self, *, sequence_number: int) -> Pdu: ...


class _Splitter(Protocol):
    """Cuts a text into submit_sm parts for one connector's charset."""

    def __call__(self, text: str, *, ref: int) -> list[SubmitPart]: ...


def _splitter(charset: Charset) -> _Splitter:
    # GSM-7 calls split_for_smpp directly, so the default path pays nothing for the
    # option (the delivery benchmark counts every call in _build).
    if charset is Charset.GSM7:
        return split_for_smpp
    return partial(split_for_charset, charset=charset)


class _NoAnswer(Exception):
    """A request that got no usable answer; ``sent`` says whether it left us. ``late``
    is resolved with the answer should it come after all (cancelled if the connection
    ends first)."""

    def __init__(
        self,
        description: str,
        *,
        sent: bool,
        late: asyncio.Future[Pdu] | None = None,
        connection_lost: bool = False,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.sent = sent
        self.late = late
        self.connection_lost = connection_lost


class _BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {name(status)} ({describe(status)})")
        self.status = status


class _Refused(Exception):
    """A message we will not send: the SMSC would refuse it with ``status``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# --- small parts ----------------------------------------------------------------------


class SequenceNumbers:
    """1 .. 0x7FFFFFFF, wrapping, skipping numbers still waiting for a response."""

    def __init__(self, start: int = 1) -> None:
        if not 1 <= start <= MAX_SEQUENCE:
            raise ValueError(f"sequence numbers run from 1 to {MAX_SEQUENCE}")
        self._next = start

    def next(self, in_use: Container[int] = ()) -> int:
        while True:
            number = self._next
            self._next = 1 if number >= MAX_SEQUENCE else number + 1
            if number not in in_use:
                return number


class _Window:
    """At most ``limit`` submit_sm in flight. The limit halves when the SMSC throttles
    and grows back by one per ``limit`` answers (TCP's AIMD), so the session slows
    down for a while and then finds its pace again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.limit = size
        self.in_use = 0
        self._answers = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed: str | None = None

    async def acquire(self) -> None:
        if self._closed is not None:
            raise _NoAnswer(self._closed, sent=False)
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            # Granted and then cancelled before running: hand the slot on.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.in_use -= 1
        self._wake()

    def throttled(self) -> None:
        self.limit = max(1, self.limit // 2)
        self._answers = 0

    def answered(self) -> None:
        if self.limit >= self.size:
            return
        self._answers += 1
        if self._answers >= self.limit:
            self.limit += 1
            self._answers = 0
            self._wake()

    def close(self, reason: str) -> None:
        """Refuse every waiter and later caller with ``reason``."""
        self._closed = reason
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(_NoAnswer(reason, sent=False))

    def _wake(self) -> None:
        while self._waiters and self.in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_use += 1
                waiter.set_result(None)


class _Backoff:
    """Reconnect delays: doubling from ``low`` up to ``high``, each drawn from the
    upper half of its step so that many clients cut off together do not come back in
    step, and never under ``low`` so a refusing SMSC never sees a storm."""

    def __init__(self, low: float, high: float, rng: random.Random) -> None:
        self._low, self._high, self._rng = low, high, rng
        self._failures = 0

    def next_delay(self) -> float:
        ceiling = min(self._high, self._low * 2.0 ** min(self._failures + 1, 60))
        self._failures += 1
        return max(self._low, self._rng.uniform(ceiling / 2, ceiling))

    def reset(self) -> None:
        self._failures = 0


# --- one TCP connection ---------------------------------------------------------------

MessageHandler = Callable[["_Connection", DeliverSm | DataSm], None]


class _Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        sequence: SequenceNumbers,
        on_message: MessageHandler,
        label: str,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._sequence = sequence
        self._on_message = on_message
        self.label = label
        self._loop = asyncio.get_running_loop()
        self._framer = Framer()
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._deadlines: dict[float, deque[tuple[float, int, asyncio.Future[Pdu]]]] = {}
        #: Sequence number -> the late answer of a request that timed out.
        self._late: OrderedDict[int, asyncio.Future[Pdu]] = OrderedDict()
        self._expiry: asyncio.TimerHandle | None = None
        self._outbox: list[Pdu] = []
        self._flush_scheduled = False
        self._last_received = self._loop.time()
        self._drained: asyncio.Event | None = None
        self.closed = asyncio.Event()
        self.close_reason = ""
        #: Requests answered: a connection that carried traffic was no flapping bind.
        self.answered = 0
        self._reader_task = asyncio.create_task(self._read_loop())
        self._keepalive_task: asyncio.Task[None] | None = None

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    def send(self, pdu: Pdu) -> None:
        """Queue ``pdu``; everything queued in this loop turn leaves in one write."""
        if self.closed.is_set():
            return  # a late response to a peer that is gone: nobody to tell
        self._outbox.append(pdu)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    async def call(self, request: _Request, timeout: float) -> Pdu:
        """Send ``request()`` under a fresh sequence number and return the response.

        Raises _NoAnswer when the connection ends or no response comes in time.
        """
        if self.closed.is_set():
            raise _NoAnswer(f"connection lost ({self.close_reason}); not sent", sent=False)
        number = self._sequence.next(self._pending)
        future: asyncio.Future[Pdu] = self._loop.create_future()
        self._pending[number] = future
        self._expire_at(self._loop.time() + timeout, timeout, number, future)
        self.send(request(sequence_number=number))
        try:
            return await future
        finally:
            self._pending.pop(number, None)
            if self._drained is not None and not self._pending:
                self._drained.set()

    def _expire_at(
        self, deadline: float, timeout: float, number: int, future: asyncio.Future[Pdu]
    ) -> None:
        """Fail ``future`` if it has no answer by ``deadline``. One timer per
        connection and a queue per timeout value (so each queue is in deadline order)
        instead of a timer per request: the submit path's cheapest way to time out."""
        queue = self._deadlines.setdefault(timeout, deque())
        while queue and queue[0][2].done():  # answered already: forget them
            queue.popleft()
        queue.append((deadline, number, future))
        if self._expiry is None or deadline < self._expiry.when():
            if self._expiry is not None:
                self._expiry.cancel()
            self._expiry = self._loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        # Loops may run a timer a little early (asyncio: by its clock resolution).
        now = self._loop.time() + 0.001
        earliest = math.inf
        for timeout, queue in self._deadlines.items():
            while queue and (queue[0][0] <= now or queue[0][2].done()):
                _, number, future = queue.popleft()
                if not future.done():
                    future.set_exception(
                        _NoAnswer(
                            f"no response within {timeout:g} s; may or may not have been delivered",
                            sent=True,
                            late=self._wait_late(number),
                        )
                    )
            if queue:
                earliest = min(earliest, queue[0][0])
        if earliest < math.inf:
            self._expiry = self._loop.call_at(earliest, self._expire)

    def _wait_late(self, number: int) -> asyncio.Future[Pdu]:
        """From now on an answer to ``number`` is late: it resolves the future returned
        (a slow SMSC that did take the message says so, with its message_id)."""
        self._pending.pop(number, None)
        late: asyncio.Future[Pdu] = self._loop.create_future()
        self._late[number] = late
        while len(self._late) > _MAX_LATE:
            self._late.popitem(last=False)[1].cancel()
        return late

    async def drain(self, timeout: float) -> None:
        """Wait until every request has its response, or ``timeout`` passes."""
        self._drained = asyncio.Event()
        if self._pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, timeout)):
                    await self._drained.wait()

    def start_keepalive(self, interval: float, timeout: float) -> None:
        self._keepalive_task = asyncio.create_task(self._keepalive(interval, timeout))

    def close(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self._flush()  # an unbind_resp or generic_nack queued just before must still go
        self.close_reason = reason
        self.closed.set()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._writer.close()
        failure = _NoAnswer(
            f"connection lost ({reason}); may or may not have been delivered",
            sent=True,
            connection_lost=True,
        )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(failure)
        for late in self._late.values():
            late.cancel()  # no answer can come on this connection any more
        self._late.clear()
        current = asyncio.current_task()
        for task in (self._reader_task, self._keepalive_task):
            if task is not None and task is not current:
                task.cancel()

    async def wait_closed(self) -> None:
        tasks = [t for t in (self._reader_task, self._keepalive_task) if t is not None]
        await asyncio.wait(tasks)
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def _flush(self) -> None:
        self._flush_scheduled = False
        pdus, self._outbox = self._outbox, []
        if not pdus or self.closed.is_set() or self._writer.is_closing():
            return
        try:
            data = encode_many(pdus)
        except PduError as err:
            # Our PDUs are checked before they are queued, so this is a bug; dropping
            # the connection fails the batch loudly instead of leaving it to time out.
            log.error("%s: could not encode a PDU: %s", self.label, err)
            self.close(f"could not encode a PDU: {err}")
            return
        # No drain(): what can be unwritten is bounded by our window (submit_sm) and
        # the SMSC's (deliver_sm_resp), so the buffer cannot grow without limit.
        self._writer.write(data)

    async def _read_loop(self) -> None:
        reason = "closed by the SMSC"
        try:
            while data := await self._reader.read(_READ_SIZE):
                self._last_received = self._loop.time()
                for pdu in self._framer.feed(data):
                    self._dispatch(pdu)
        except PduError as err:
            # The stream can no longer be cut into PDUs: say why, then hang up.
            reply = error_response(err)
            if reply is not None:
                self.send(reply)
            reason = f"unreadable data from the SMSC: {err}"
        except OSError as err:
            reason = f"connection error: {err}"
        except Exception as err:
            # A bug while handling one PDU: a new connection beats a reader that died
            # silently and left the bind looking alive.
            log.exception("%s: failed to handle a PDU", self.label)
            reason = f"internal error: {err!r}"
        self.close(reason)

    def _dispatch(self, pdu: Pdu) -> None:
        if pdu.is_response:
            self._resolve(pdu)
        elif isinstance(pdu, DeliverSm | DataSm):
            self._on_message(self, pdu)
        elif isinstance(pdu, EnquireLink):
            self.send(EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif isinstance(pdu, Unbind):
            self.send(UnbindResp(sequence_number=pdu.sequence_number))
            self.close("unbound by the SMSC")
        elif isinstance(pdu, InvalidPdu | UnknownPdu):
            reply = pdu.reply()
            if reply is not None:
                self.send(reply)
        elif isinstance(pdu, Outbind | AlertNotification):
            log.info("%s: ignored %s (no response is defined)", self.label, type(pdu).__name__)
        else:
            self.send(_refusal(pdu))

    def _resolve(self, response: Pdu) -> None:
        future = self._pending.pop(response.sequence_number, None)
        if future is None:
            late = self._late.pop(response.sequence_number, None)
            if late is not None:
                if not late.done():
                    late.set_result(response)
                return
            # A nack about nothing we sent, or an answer later than we keep waiting.
            log.warning("%s: unmatched %r", self.label, response)
        elif not future.done():
            self.answered += 1
            future.set_result(response)

    async def _keepalive(self, interval: float, timeout: float) -> None:
        # Without traffic a dead peer (or a NAT that forgot us) goes unnoticed until
        # the next submit times out; an enquire_link after each idle interval finds it.
        while not self.closed.is_set():
            idle = self._loop.time() - self._last_received
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                await self.call(EnquireLink, timeout)
            except _NoAnswer as err:
                self.close(f"enquire_link unanswered: {err.description}")


def _refusal(request: Pdu) -> Pdu:
    """The answer to a request an ESME does not take (submit_sm from the SMSC...)."""
    response = RESPONSES.get(request.command_id)
    if response is None:
        return GenericNack(
            sequence_number=request.sequence_number, command_status=_S.ESME_RINVCMDID
        )
    return response(sequence_number=request.sequence_number, command_status=_S.ESME_RINVBNDSTS)


# --- one bind, kept up ----------------------------------------------------------------


class _Link:
    def __init__(
        self,
        config: SmppConfig,
        bind: type[Bind],
        *,
        on_message: MessageHandler,
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random,
    ) -> None:
        self._config = config
        self._bind = bind
        self._on_message = on_message
        self._sleep = sleep
        self._backoff = _Backoff(config.reconnect_min, config.reconnect_max, rng)
        self._sequence = SequenceNumbers()
        self.label = f"{bind.__name__} {config.system_id}@{config.host}:{config.port}"
        self.state = SessionState.DISCONNECTED
        self.connection: _Connection | None = None
        self.last_error: str | None = None
        self.stopping = False
        self.attempted = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.label)

    async def wait_bound(self, timeout: float) -> _Connection:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self.stopping:
                        raise _NoAnswer("the SMPP client is stopping; not sent", sent=False)
                    if self.state is SessionState.BOUND and self.connection is not None:
                        return self.connection
                    await self._changed.wait()
        except TimeoutError:
            problem = f" (last error: {self.last_error})" if self.last_error else ""
            raise _NoAnswer(f"not bound to the SMSC{problem}; not sent", sent=False) from None

    def begin_stop(self) -> None:
        self.stopping = True
        self._notify()

    async def stop(self, timeout: float) -> None:
        self.begin_stop()
        connection = self.connection
        if connection is not None and self.state is SessionState.BOUND:
            self._set_state(SessionState.UNBINDING)
            with contextlib.suppress(_NoAnswer):
                await connection.call(Unbind, max(0.0, timeout))
            connection.close("unbound")
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
        self._set_state(SessionState.DISCONNECTED)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            try:
                served = await self._session()
            except Exception:
                # The loop that keeps the bind up must outlive any bug in one round.
                log.exception("%s: session failed", self.label)
                self._set_state(SessionState.DISCONNECTED)
                served = None
            self.attempted.set()
            if self.stopping:
                break
            # A bind that lasted, or carried traffic, is a recovery; one that drops at
            # once is flapping and keeps backing off. (An SMSC that drops the line
            # every 1,000 submits must not make each reconnect wait longer.)
            if served is not None:
                bound_at, answered = served
                if answered > 1 or loop.time() - bound_at >= self._config.reconnect_max:
                    self._backoff.reset()
            await self._sleep(self._backoff.next_delay())

    async def _session(self) -> tuple[float, int] | None:
        """Connect, bind and serve until the connection ends; when it was bound and
        how many requests it answered (the bind's own included)."""
        self._set_state(SessionState.BINDING)
        try:
            connection = await self._connect_and_bind()
        except (OSError, TimeoutError, _NoAnswer, _BindRefused) as err:
            self.last_error = str(err) or type(err).__name__
            log.warning("%s: %s", self.label, self.last_error)
            self._set_state(SessionState.DISCONNECTED)
            return None
        bound_at = asyncio.get_running_loop().time()
        self.connection = connection
        self.last_error = None
        self._set_state(SessionState.BOUND)
        self.attempted.set()
        log.info("%s: bound", self.label)
        try:
            await connection.closed.wait()
        finally:
            connection.close("client stopped")
            self.connection = None
            self._set_state(SessionState.DISCONNECTED)
            self.last_error = connection.close_reason
            await connection.wait_closed()
        if not self.stopping:
            log.warning("%s: connection ended: %s", self.label, connection.close_reason)
        return bound_at, connection.answered

    async def _connect_and_bind(self) -> _Connection:
        config = self._config
        async with asyncio.timeout(config.response_timeout):
            reader, writer = await asyncio.open_connection(config.host, config.port)
        connection = _Connection(
            reader,
            writer,
            sequence=self._sequence,
            on_message=self._on_message,
            label=self.label,
        )
        try:
            await self._bind_on(connection)
        except BaseException:
            connection.close("bind failed")
            await connection.wait_closed()
            raise
        connection.start_keepalive(config.enquire_link_interval, config.response_timeout)
        return connection

    async def _bind_on(self, connection: _Connection) -> None:
        config = self._config
        request = partial(
            self._bind,
            system_id=config.system_id,
            password=config.password,
            system_type=config.system_type,
        )
        response = await connection.call(request, config.response_timeout)
        if not isinstance(response, BindResp) or response.command_status != _S.ESME_ROK:
            raise _BindRefused(response.command_status or _S.ESME_RBINDFAIL)

    def _set_state(self, state: SessionState) -> None:
        self.state = state
        self._notify()

    def _notify(self) -> None:
        # Waiters hold the old event, which is set; later waiters get a fresh one.
        self._changed.set()
        self._changed = asyncio.Event()


# --- the client -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Unanswered(SubmitFailure):
    """A part that timed out: ``late`` brings its answer if the SMSC sends it yet."""

    late: asyncio.Future[Pdu] | None = field(default=None, compare=False)


_PartOutcome = str | SubmitFailure

#: Told of a message whose submit reported no answer, once the SMSC has accepted
#: every part after all; the result carries the parts' message_ids.
LateAnswerHandler = Callable[[SubmitResult], None]


class _LateAnswers:
    """Waits for the late answers of a message's timed-out parts, and reports the
    message accepted once every part is (a refusal, or a connection lost first, ends
    the wait: the message is retried as it would have been)."""

    def __init__(
        self, message_id: int, outcomes: list[_PartOutcome], report: LateAnswerHandler
    ) -> None:
        self._message_id = message_id
        self._ids = [o if isinstance(o, str) else "" for o in outcomes]
        self._report = report
        self._waiting: set[int] = set()
        self._over = False
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, _Unanswered) and outcome.late is not None:
                self._waiting.add(index)
                outcome.late.add_done_callback(partial(self._answered, index))

    @staticmethod
    def worth_waiting(outcomes: list[_PartOutcome]) -> bool:
        """Whether late answers could make the message accepted: every part that
        failed is waiting for one."""
        failed = [o for o in outcomes if isinstance(o, SubmitFailure)]
        return bool(failed) and all(
            isinstance(o, _Unanswered) and o.late is not None for o in failed
        )

    def _answered(self, index: int, late: asyncio.Future[Pdu]) -> None:
        if self._over:
            return
        response = None if late.cancelled() else late.result()
        if not (isinstance(response, SubmitSmResp) and response.command_status == _S.ESME_ROK):
            self._over = True
            return
        self._ids[index] = message_id_key(response.message_id)
        self._waiting.discard(index)
        if self._waiting:
            return
        self._over = True
        log.info("message %d: a late submit_sm_resp accepted it after all", self._message_id)
        try:
            self._report(SubmitResult(self._message_id, tuple(self._ids)))
        except Exception:
            log.exception("storing the late answer for message %d failed", self._message_id)


class SmppClient:
    """An SMPP session to one carrier account, kept bound until :meth:`stop`.

    ``on_receipt`` and ``on_incoming`` run in their own tasks, many at once; the SMSC
    gets its deliver_sm_resp when the callback returns, so a callback should return
    once the item is stored, and raise if it could not be (the SMSC then resends).
    The same receipt or message may come twice (the SMSC resends what it did not see
    acknowledged), so storing must be idempotent. ``sleep`` and ``rng`` drive the
    reconnect back-off, for tests.
    """

    def __init__(
        self,
        config: SmppConfig,
        *,
        on_receipt: Callable[[Receipt], Awaitable[None]],
        on_incoming: Callable[[IncomingSms], Awaitable[None]],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._on_receipt = on_receipt
        self._on_incoming = on_incoming
        self._window = _Window(config.window)
        self._bucket = TokenBucket(config.rate) if config.rate is not None else None
        self._refs = itertools.cycle(range(256))
        self._split = _splitter(config.charset)
        self._pause_until = 0.0
        self._throttle_streak = 0
        self._callbacks: set[asyncio.Task[None]] = set()
        self._inbox: deque[tuple[_Connection, DeliverSm | DataSm]] = deque()
        self._inbox_task: asyncio.Task[None] | None = None
        self._undelivered: OrderedDict[tuple[str, int, int], str] = OrderedDict()
        self._on_late: LateAnswerHandler | None = None
        self._started = False
        self._stopping = False
        self._stopped = asyncio.Event()
        self._links = self._make_links(sleep, rng or random.Random())
        self._reassembler = Reassembler(timeout=config.reassembly_timeout)

    def _make_links(
        self, sleep: Callable[[float], Awaitable[None]], rng: random.Random
    ) -> list[_Link]:
        binds: list[type[Bind]] = [BindTransceiver]
        if self.config.bind is BindMode.TRANSMITTER_RECEIVER:
            binds = [BindTransmitter, BindReceiver]
        # The first link carries the submits.
        return [
            _Link(self.config, bind, on_message=self._on_message, sleep=sleep, rng=rng)
            for bind in binds
        ]

    @property
    def state(self) -> SessionState:
        """The least advanced of the binds (both must be up in transmitter+receiver)."""
        states = [link.state for link in self._links]
        if SessionState.UNBINDING in states:
            return SessionState.UNBINDING
        return min(states, key=_STATE_ORDER.__getitem__)

    @property
    def bound(self) -> bool:
        """Whether the session can carry submits and receipts now (every bind is up)."""
        return self.state is SessionState.BOUND

    @property
    def last_error(self) -> str | None:
        """Why the last bind attempt failed or the last connection ended, for operators."""
        errors = [link.last_error for link in self._links if link.last_error]
        return "; ".join(errors) or None

    @property
    def maybe_delivered_retries(self) -> int:
        """How often the worker may resend a message this session may have delivered."""
        return self.config.maybe_delivered_retries

    def report_late_answers(self, handler: LateAnswerHandler) -> None:
        """Call ``handler`` when a message whose submit timed out turns out accepted:
        a slow SMSC's submit_sm_resp arrives after ``response_timeout``."""
        self._on_late = handler

    @property
    def window_limit(self) -> int:
        """The window now: ``config.window``, or less for a while after throttling."""
        return self._window.limit

    async def start(self) -> None:
        """Connect and bind, returning after the first attempt whatever its outcome;
        on failure (see :attr:`last_error`) the client keeps trying in the background."""
        if self._started:
            raise RuntimeError("an SmppClient is started once")
        self._started = True
        for link in self._links:
            link.start()
        for link in self._links:
            await link.attempted.wait()

    async def stop(self, timeout: float = 10.0) -> None:
        """Refuse new submits, wait up to ``timeout`` for the answers to those sent,
        unbind and close. Submits not yet sent fail as transient, not delivered."""
        if self._stopping:
            await self._stopped.wait()  # a second caller returns when the first is done
            return
        self._stopping = True
        try:
            await self._shut_down(timeout)
        finally:
            self._stopped.set()

    async def _shut_down(self, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        self._window.close("the SMPP client is stopping; not sent")
        for link in self._links:
            link.begin_stop()
        sender = self._links[0].connection
        if sender is not None:
            await sender.drain(_remaining(deadline))
        await self._finish_callbacks(deadline)
        for link in self._links:
            await link.stop(_remaining(deadline))
        # Callbacks still running past the deadline: their answers have nowhere to go.
        late = set(self._callbacks)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    async def submit(self, message: OutgoingSms) -> SubmitResult:
        """Send ``message`` (in as many parts as it needs) and say what became of it."""
        if not self._started:
            raise RuntimeError("start() the SmppClient before submitting")
        if self._stopping:
            failure = SubmitFailure("transient", "the SMPP client is stopping; not sent")
            return SubmitResult(message.id, (), failure)
        try:
            pdus = self._build(message)
        except _Refused as err:
            return SubmitResult(
                message.id, (), SubmitFailure("permanent", err.description, err.status)
            )
        if len(pdus) == 1:
            outcomes: list[_PartOutcome] = [await self._submit_part(pdus[0])]
        else:
            outcomes = list(await asyncio.gather(*map(self._submit_part, pdus)))
        result = _result(message.id, outcomes)
        late = self._on_late
        if result.failure is not None and late is not None and _LateAnswers.worth_waiting(outcomes):
            _LateAnswers(message.id, outcomes, late)
        return result

    # --- submitting -------------------------------------------------------------------

    def _build(self, message: OutgoingSms) -> list[_Request]:
        """A submit_sm maker per part. Everything the encoder could refuse is checked
        here, so a bad message fails alone instead of taking a whole write with it."""
        source_ton, source_npi, source = _address(message.source, "source", _S.ESME_RINVSRCADR)
        dest_ton, dest_npi, dest = _address(message.destination, "destination", _S.ESME_RINVDSTADR)
        if dest_ton == _TON_ALPHANUMERIC:
            raise _Refused(_S.ESME_RINVDSTADR, f"destination {dest!r} is not a phone number")
        try:
            parts = self._split(message.text, ref=next(self._refs))
        except ValueError as err:
            raise _Refused(_S.ESME_RINVMSGLEN, f"the text cannot be encoded: {err}") from None
        registered = 1 if self.config.registered_delivery else 0
        return [
            partial(
                SubmitSm,
                source_addr_ton=source_ton,
                source_addr_npi=source_npi,
                source_addr=source,
                dest_addr_ton=dest_ton,
                dest_addr_npi=dest_npi,
                destination_addr=dest,
                esm_class=part.esm_class,
                registered_delivery=registered,
                data_coding=part.data_coding,
                short_message=part.short_message,
            )
            for part in parts
        ]

    async def _submit_part(self, pdu: _Request) -> _PartOutcome:
        outcome = await self._attempt(pdu)
        for _ in range(self.config.throttle_retries):
            if not (isinstance(outcome, SubmitFailure) and outcome.kind == "throttled"):
                break
            # _attempt waits out the pause the throttling set before resending.
            outcome = await self._attempt(pdu)
        return outcome

    async def _attempt(self, pdu: _Request) -> _PartOutcome:
        try:
            await self._window.acquire()
        except _NoAnswer as err:
            return SubmitFailure("transient", err.description)
        try:
            await self._pace()
            connection = await self._links[0].wait_bound(self.config.response_timeout)
            response = await connection.call(pdu, self.config.response_timeout)
        except _NoAnswer as err:
            return _Unanswered(
                "transient",
                err.description,
                maybe_delivered=err.sent,
                connection_lost=err.connection_lost,
                late=err.late,
            )
        finally:
            self._window.release()
        if response.command_status == _S.ESME_RINVBNDSTS:
            # The SMSC no longer counts us as bound, so everything else sent on this
            # connection fails too: start over with a fresh bind.
            connection.close("the SMSC answered ESME_RINVBNDSTS (not bound)")
        return self._read_response(response)

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        # A loop, not one sleep: another throttled answer may extend the pause.
        while (delay := self._pause_until - loop.time()) > 0:
            await asyncio.sleep(delay)
        if self._bucket is not None:
            await self._bucket.acquire()

    def _read_response(self, response: Pdu) -> _PartOutcome:
        status = response.command_status
        if status == _S.ESME_ROK and isinstance(response, SubmitSmResp):
            self._answered()
            # The form receipts are matched in (see ``reports``).
            return message_id_key(response.message_id)
        if status == _S.ESME_ROK:
            # "OK" in a PDU we cannot read: the SMSC probably took the message.
            description = f"unreadable answer {response!r}; may or may not have been delivered"
            return SubmitFailure("transient", description, maybe_delivered=True)
        status_kind = _failure_kind(kind(status))
        if status_kind == "throttled":
            self._throttled()
        else:
            self._answered()
        return SubmitFailure(status_kind, f"{name(status)}: {describe(status)}", status)

    def _throttled(self) -> None:
        now = asyncio.get_running_loop().time()
        # Answers to PDUs sent before the current pause began say nothing new; only a
        # throttle after a pause has ended means the SMSC still wants us slower.
        if now < self._pause_until:
            return
        self._throttle_streak += 1
        self._window.throttled()
        pause = self.config.throttle_pause * 2.0 ** min(self._throttle_streak - 1, 5)
        self._pause_until = now + pause
        log.warning("SMSC throttling: pausing %.2f s, window %d", pause, self._window.limit)

    def _answered(self) -> None:
        self._window.answered()
        if asyncio.get_running_loop().time() >= self._pause_until:
            self._throttle_streak = 0

    # --- receiving --------------------------------------------------------------------

    def _on_message(self, connection: _Connection, pdu: DeliverSm | DataSm) -> None:
        # Answered in a task of their own, so a slow callback never holds up the
        # reading of submit_sm_resp on the same connection; one task takes all the
        # messages that arrive meanwhile.
        self._inbox.append((connection, pdu))
        if self._inbox_task is None or self._inbox_task.done():
            task = asyncio.create_task(self._answer_inbox())
            self._inbox_task = task
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)

    async def _answer_inbox(self) -> None:
        # All at once: a callback may wait for a database commit, and the messages of
        # a burst should share it rather than wait for one commit each.
        while self._inbox:
            burst = list(self._inbox)
            self._inbox.clear()
            await asyncio.gather(*(self._answer_message(c, pdu) for c, pdu in burst))

    async def _answer_message(self, connection: _Connection, pdu: DeliverSm | DataSm) -> None:
        message_type = pdu.esm_class & ESM_TYPE_MASK
        if is_receipt(pdu.esm_class) or message_type == _ESM_INTERMEDIATE_NOTIFICATION:
            status = await self._take_receipt(pdu)
        elif message_type:
            # An SME acknowledgement or conversation abort: we never ask for those,
            # and their text must not turn up as a message from a handset.
            log.info("ignored deliver_sm of message type 0x%02X: %r", message_type, pdu)
            status = _S.ESME_ROK
        else:
            status = await self._take_incoming(pdu)
        response = DeliverSmResp if isinstance(pdu, DeliverSm) else DataSmResp
        connection.send(response(sequence_number=pdu.sequence_number, command_status=status))

    async def _take_receipt(self, pdu: DeliverSm | DataSm) -> int:
        receipt = parse_receipt(pdu)
        if receipt is None:
            # A resend would bring the same bytes, so accept it and leave a trace.
            log.warning("unreadable delivery receipt: %r", pdu)
            return _S.ESME_ROK
        return await _call_back(self._on_receipt, receipt)

    async def _take_incoming(self, pdu: DeliverSm | DataSm) -> int:
        try:
            incoming = read_incoming(pdu, self.config.charset)
        except PduError as err:
            log.warning("unreadable incoming message (%s): %r", err, pdu)
            return err.status
        text = self._assemble(pdu.source_addr, incoming.text, incoming.concat)
        if text is None:
            return _S.ESME_ROK  # a part, kept until the rest arrives
        sms = IncomingSms(
            source=_from_address(pdu.source_addr, pdu.source_addr_ton),
            destination=_from_address(pdu.destination_addr, pdu.dest_addr_ton),
            text=text,
        )
        status = await _call_back(self._on_incoming, sms)
        if status != _S.ESME_ROK and incoming.concat is not None:
            self._hold_undelivered(pdu.source_addr, incoming.concat, text)
        return status

    def _assemble(self, source: str, text: str, concat: Concat | None) -> str | None:
        if concat is None:
            return text
        key = (source, concat.ref, concat.total)
        # The SMSC resends only the part we refused, and the reassembler has already
        # let go of the others: answer the resend with the text we held.
        held = self._undelivered.pop(key, None)
        if held is not None:
            return held
        return self._reassembler.add(source, concat.ref, concat.total, concat.seq, text)

    def _hold_undelivered(self, source: str, concat: Concat, text: str) -> None:
        self._undelivered[(source, concat.ref, concat.total)] = text
        while len(self._undelivered) > _MAX_UNDELIVERED:
            self._undelivered.popitem(last=False)

    async def _finish_callbacks(self, deadline: float) -> None:
        if self._callbacks:
            await asyncio.wait(set(self._callbacks), timeout=_remaining(deadline))


# --- helpers --------------------------------------------------------------------------


async def _call_back(callback: Callable[[_T], Awaitable[None]], item: _T) -> int:
    """ESME_ROK once the callback has taken ``item``; ESME_RX_T_APPN if it raised,
    so the SMSC keeps the message and tries again later."""
    try:
        await callback(item)
    except Exception:
        log.exception("callback failed for %r; asking the SMSC to retry", item)
        return _S.ESME_RX_T_APPN
    return _S.ESME_ROK


def _address(value: str, part: str, status: CommandStatus) -> tuple[int, int, str]:
    """TON, NPI and address for ``value``: "+digits" is international, bare digits are
    left to the carrier's numbering plan, letters make an alphanumeric sender."""
    digits = value[1:] if value.startswith("+") else value
    if digits.isascii() and digits.isdigit() and len(digits) <= _MAX_ADDRESS:
        ton = _TON_INTERNATIONAL if value.startswith("+") else _TON_UNKNOWN
        return ton, _NPI_ISDN, digits
    alphanumeric = value.isascii() and value.isprintable() and not value.startswith("+")
    if alphanumeric and 0 < len(value) <= _MAX_ALPHANUMERIC:
        return _TON_ALPHANUMERIC, _NPI_UNKNOWN, value
    raise _Refused(
        status, f"{part} address {value!r} is neither a number nor an alphanumeric sender"
    )


def _from_address(value: str, ton: int) -> str:
    if ton == _TON_INTERNATIONAL and value.isascii() and value.isdigit():
        return "+" + value
    return value


def _failure_kind(status_kind: StatusKind) -> FailureKind:
    # kind() says "ok" only for ESME_ROK, which never gets here.
    return "transient" if status_kind == "ok" else status_kind


def _result(message_id: int, outcomes: list[_PartOutcome]) -> SubmitResult:
    carrier_ids = tuple(o for o in outcomes if isinstance(o, str))
    failures = [(seq, o) for seq, o in enumerate(outcomes, 1) if isinstance(o, SubmitFailure)]
    if not failures:
        return SubmitResult(message_id, carrier_ids)
    seq, worst = max(failures, key=lambda item: _SEVERITY[item[1].kind])
    description = worst.description
    if len(outcomes) > 1:
        description = f"part {seq} of {len(outcomes)}: {description}"
    maybe = bool(carrier_ids) or any(f.maybe_delivered for _, f in failures)
    # A resend repeats accepted parts for certain, so only a message none of whose
    # parts got further than a lost connection is resent without counting.
    lost = not carrier_ids and all(f.connection_lost for _, f in failures if f.maybe_delivered)
    # A plain SubmitFailure: what waits for a late answer stays in here.
    failure = SubmitFailure(
        worst.kind, description, worst.status, maybe, worst.carrier_code, maybe and lost
    )
    return SubmitResult(message_id, carrier_ids, failure)


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())

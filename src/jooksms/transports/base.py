"""What every transport offers the delivery worker, whatever it speaks (SMPP, an HTTP
provider, the built-in simulator): start, submit, stop; delivery reports and incoming
SMS come back through the callbacks it was built with, each carrying the connector it
came on. These types are the whole interface: nothing outside a transport's package
sees its protocol's own (an SMPP receipt, a Twilio status form)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    id: int
    #: E.164 ("+447700900123"), a short code ("12345") or an alphanumeric sender ("Jook").
    source: str
    #: E.164, or digits in whatever national form the carrier accepts.
    destination: str
    text: str


@dataclass(frozen=True, slots=True)
class IncomingSms:
    #: E.164 when the SMSC marks the number international; as sent otherwise.
    source: str
    destination: str
    text: str
    #: The connector it came on ("" until the transport's builder names it).
    connector: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A carrier's final word on one submitted part: delivered or not. Reports that
    are steps on the way (en route, accepted) are not passed on."""

    connector: str
    #: The id the carrier gave the part, in the form ``SubmitResult.carrier_ids``
    #: holds it: a transport normalises both the same way.
    carrier_id: str
    delivered: bool
    #: The carrier's error code as it writes it, when it says why.
    error_code: str | None = None


FailureKind = Literal["transient", "throttled", "permanent"]


@dataclass(frozen=True, slots=True)
class SubmitFailure:
    #: permanent: do not retry. transient: retry later. throttled: the carrier wants
    #: us slower; retry later, ideally through a calmer connector.
    kind: FailureKind
    description: str
    #: The command_status that says what went wrong: the SMSC's answer, or the one it
    #: would have given for a message we refused to send. None when no answer came.
    status: int | None = None
    #: True when some part may have reached the SMSC, so a resend may duplicate it.
    maybe_delivered: bool = False
    #: The carrier's own error code as it writes it (Twilio's "21211"), when it is not
    #: an SMPP command_status.
    carrier_code: str | None = None
    #: True when what may have reached the carrier was outstanding when the connection
    #: ended. Such a resend is bounded by the retry schedule, not by
    #: ``maybe_delivered_retries``: a line that keeps dropping must not fail messages
    #: the SMSC most likely discarded with the session (Kannel resends them too). A
    #: carrier that held a request past the timeout on a live connection probably has
    #: it, so that resend is counted.
    connection_lost: bool = False

    @property
    def error_code(self) -> str | None:
        """The code to store on the failed message."""
        if self.carrier_code is not None:
            return self.carrier_code
        return None if self.status is None else f"0x{self.status:08X}"


@dataclass(frozen=True, slots=True)
class SubmitResult:
    #: :attr:`OutgoingSms.id`.
    id: int
    #: The carrier's message_id of each accepted part, in part order: every part on
    #: success, the accepted ones on failure. Delivery reports carry these ids.
    carrier_ids: tuple[str, ...]
    failure: SubmitFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class Transport(Protocol):
    """A carrier connection. ``submit`` never raises for what the carrier or the
    network does; it reports it in the result."""

    async def start(self) -> None: ...

    async def submit(self, message: OutgoingSms) -> SubmitResult: ...

    async def stop(self, timeout: float = 10.0) -> None: ...


@runtime_checkable
class ReportsLateAnswers(Protocol):
    """A transport that can learn, after ``submit`` reported no answer (a failure that
    may have been delivered), that the carrier took the message after all: SMPP's
    late submit_sm_resp. The handler gets the message's result, with its carrier ids.
    ``maybe_delivered_retries`` is how often such a message may be sent again."""

    maybe_delivered_retries: int

    def report_late_answers(self, handler: Callable[[SubmitResult], None]) -> None: ...

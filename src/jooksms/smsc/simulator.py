"""The SMSC simulator: an SMPP 3.4 server for development, tests and benchmarks.

::

    async with Simulator(SimulatorConfig(receipt_delay=0.1, failure_rate=0.2, seed=1)) as sim:
        ...  # bind an ESME to sim.port, submit, read receipts
        assert sim.stats.accepted == 3
        await sim.inject(source="+50760001111", destination="+50688887777", text="Hi")

It answers binds, submits and enquire_links as a carrier does, records every
submit in ``stats``, sends receipts after ``receipt_delay``, and misbehaves as
``config`` (or ``sim.misbehaviours``, changeable while it runs) says.

Receipts and incoming SMS (deliver_sm) are not lost to a busy or failing client: they
wait while it has no room, go again on its next bind when the connection is lost
before their answer, and go again after ``redeliver_delay`` when it answers with a
temporary error, up to ``redeliver_attempts`` times (see ``router.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from types import TracebackType

from jooksms.transports.smpp.pdu import Bind, DeliverSm, SubmitSm, SubmitSmResp
from jooksms.transports.smpp.status import CommandStatus, name

from .config import SimulatorConfig
from .deliveries import Fate, Fates, MessageIds, incoming_parts, receipt_pdu, wants_receipt
from .http import HttpApi
from .misbehaviour import Misbehaviours, misbehaviours_from
from .router import Router
from .session import Delivery, Session
from .stats import Stats, SubmitRecord
from .timers import Timers

__all__ = ["Injected", "Simulator"]

log = logging.getLogger("jooksms.smsc")

_OK = CommandStatus.ESME_ROK


@dataclass(frozen=True, slots=True)
class Injected:
    """What became of an injected incoming message."""

    parts: int
    #: False when no receiver had room: the parts wait for one to bind or answer.
    sent: bool


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.stats = Stats(records=deque(maxlen=self.config.record_limit))
        #: What goes wrong on purpose; add or remove items while it runs.
        self.misbehaviours: Misbehaviours = misbehaviours_from(self.config)
        self._ids = MessageIds(self.config.id_format, seed=self.config.seed)
        self._fates = Fates(
            self.config.failure_rate, self.config.failure_error, seed=self.config.seed
        )
        self._router = Router(
            self.stats,
            window=self.config.deliver_window,
            pending_limit=self.config.pending_limit,
            redeliver_delay=self.config.redeliver_delay,
            redeliver_attempts=self.config.redeliver_attempts,
            later=self._later,
        )
        self._sessions: dict[Session, asyncio.Task[None]] = {}
        self._numbers = itertools.count(1)
        self._refs = itertools.count()
        self._server: asyncio.Server | None = None
        self._http: HttpApi | None = None
        self._timers: Timers | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._timers = Timers(asyncio.get_running_loop())
        self._server = await asyncio.start_server(
            self._serve, self.config.host, self.config.port, limit=1 << 20
        )
        log.info("SMPP listening on %s:%d", self.config.host, self.port)
        if self.config.http_port is not None:
            self._http = HttpApi(self)
            await self._http.start(self.config.host, self.config.http_port)
            log.info("HTTP listening on %s:%d", self.config.host, self.http_port)

    async def stop(self) -> None:
        """Stop listening, unbind every session (aborting those that do not answer
        within ``stop_grace``), and forget receipts not yet due."""
        if self._server is None:
            return
        self._server.close()
        if self._http is not None:
            await self._http.stop()
        if self._timers is not None:
            self._timers.cancel_all()
        await self._close_sessions()
        await self._server.wait_closed()
        self._server = self._http = None
        log.info("stopped")

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def http_port(self) -> int:
        if self._http is None:
            raise RuntimeError("the simulator serves no HTTP (set http_port)")
        return self._http.port

    @property
    def sessions(self) -> list[Session]:
        return list(self._sessions)

    async def _close_sessions(self) -> None:
        for session in self._sessions:
            session.unbind()
        tasks = list(self._sessions.values())
        if tasks:
            await asyncio.wait(tasks, timeout=self.config.stop_grace)
        for session in list(self._sessions):
            session.abort()
        if tasks:
            await asyncio.wait(tasks)

    # --- what tests and the HTTP endpoint call ----------------------------------------

    async def inject(
        self, *, source: str, destination: str, text: str, system_id: str | None = None
    ) -> Injected:
        """Send an incoming (mobile-originated) SMS to a receiver of ``system_id``
        (the first configured account by default), in parts when it is long.
        Raises ValueError for an address or a text that cannot be sent."""
        system_id = system_id or next(iter(self.config.accounts))
        if system_id not in self.config.accounts:
            raise ValueError(f"no account {system_id!r} to deliver to")
        parts = incoming_parts(source, destination, text, ref=next(self._refs) % 256)
        for part in parts:
            self._router.deliver(system_id, partial(_numbered, part))
        sent = self._router.pending(system_id) == 0
        log.info(
            "incoming %s -> %s in %d part(s) for %s", source, destination, len(parts), system_id
        )
        return Injected(parts=len(parts), sent=sent)

    def drop(self, system_id: str | None = None) -> int:
        """Cut the connections (of ``system_id``, or all) at once, without unbind, as a
        network failure does. Returns how many were cut."""
        cut = [s for s in self._sessions if system_id is None or s.system_id == system_id]
        for session in cut:
            session.abort()
        self.stats.dropped += len(cut)
        log.info("dropped %d connection(s)", len(cut))
        return len(cut)

    # --- the SessionHandler -------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(
            reader, writer, self, number=next(self._numbers), smsc_id=self.config.smsc_id
        )
        task = asyncio.current_task()
        assert task is not None
        self._sessions[session] = task
        self.stats.connections += 1
        self.stats.sessions_open += 1
        log.info("%r: connected", session)
        await session.run()

    def authenticate(self, session: Session, pdu: Bind) -> CommandStatus:
        status = self._credentials_status(pdu)
        if status == _OK:
            status = self.misbehaviours.bind_status(pdu.system_id) or _OK
        if status == _OK:
            self.stats.binds += 1
        else:
            self.stats.bind_failures += 1
        return status

    def _credentials_status(self, pdu: Bind) -> CommandStatus:
        password = self.config.accounts.get(pdu.system_id)
        if password is None:
            return CommandStatus.ESME_RINVSYSID
        if password != pdu.password:
            return CommandStatus.ESME_RINVPASWD
        return _OK

    def bound(self, session: Session) -> None:
        if session.state.can_receive:
            self._router.add(session)

    def submit(self, session: Session, pdu: SubmitSm) -> None:
        status = self._submit_status(session, pdu)
        message_id = self._ids.next() if status == _OK else ""
        now = time.time()
        self.stats.record(SubmitRecord(pdu, session.system_id, status, message_id, now))
        resp = SubmitSmResp(
            sequence_number=pdu.sequence_number, command_status=status, message_id=message_id
        )
        receipt = self._settle(session, pdu, message_id, now) if status == _OK else None
        delay = self.misbehaviours.response_delay()
        self._answer(session, resp, receipt, delay)
        if self.misbehaviours.drop_now(session.submits):
            log.info("%r: dropping after %d submits", session, session.submits)
            self.stats.dropped += 1
            # Once the last answer is out, even a slowed one; nothing more is read.
            session.stop_reading()
            self._later(delay, session.close)

    def _answer(
        self,
        session: Session,
        resp: SubmitSmResp,
        receipt: Callable[[], None] | None,
        delay: float,
    ) -> None:
        """Send the response after ``delay`` and the receipt after the response,
        unless a misbehaviour sends the receipt first."""
        if receipt is not None and self.misbehaviours.receipt_first():
            receipt()
            receipt = None
        if delay > 0:
            self._later(delay, partial(session.send, resp))
        else:
            session.send(resp)
        if receipt is not None:
            self._later(delay + self.config.receipt_delay, receipt)

    def _submit_status(self, session: Session, pdu: SubmitSm) -> CommandStatus:
        if not session.state.can_submit:
            return CommandStatus.ESME_RINVBNDSTS
        if not pdu.destination_addr:
            return CommandStatus.ESME_RINVDSTADR
        now = asyncio.get_running_loop().time()
        return self.misbehaviours.submit_status(session.system_id, now) or _OK

    def _settle(
        self, session: Session, pdu: SubmitSm, message_id: str, at: float
    ) -> Callable[[], None] | None:
        """Draw the message's fate; what sends its receipt, if one was asked for."""
        fate = self._fates.draw()
        if fate.failed:
            self.stats.undelivered += 1
        else:
            self.stats.delivered += 1
        if not wants_receipt(self.config.receipts, pdu.registered_delivery, fate):
            return None
        return partial(self._send_receipt, session.system_id, pdu, message_id, fate, at)

    def _send_receipt(
        self, system_id: str, pdu: SubmitSm, message_id: str, fate: Fate, at: float
    ) -> None:
        self._router.deliver(system_id, partial(receipt_pdu, pdu, message_id, fate, at))

    def acknowledged(self, session: Session, delivery: Delivery, status: int) -> None:
        if status == _OK:
            self.stats.deliveries_acked += 1
        else:
            self.stats.deliveries_refused += 1
            again = self._router.refused(session.system_id, delivery, status)
            log.info(
                "%r: deliver_sm refused with %s; %s",
                session,
                name(status),
                f"again in {self.config.redeliver_delay:g} s" if again else "dropped",
            )
        self._router.refill(session)

    def closed(self, session: Session) -> None:
        self._sessions.pop(session, None)
        self.stats.sessions_open -= 1
        if session.state.can_receive:
            self._router.remove(session)
        log.info("%r: closed", session)

    # --- helpers -----------------------------------------------------------------------

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        assert self._timers is not None
        if delay <= 0:
            callback()
        else:
            self._timers.call_later(delay, callback)


def _numbered(pdu: DeliverSm, sequence_number: int) -> DeliverSm:
    return replace(pdu, sequence_number=sequence_number)

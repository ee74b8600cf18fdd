"""uvicorn's HTTP protocol with the two timeouts it lacks.

uvicorn closes an idle keep-alive connection and limits concurrency, but a client
that connects and sends half a request line, or headers one byte a minute, or a
body that never ends, holds its connection (and the memory behind it) forever.
This subclass arms a timer for the headers (from connecting, or from a request's
first byte after a keep-alive pause) and one for the body (from the end of the
headers to the end of the body), and closes the connection when either fires.
Time the application spends answering is not counted.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

#: The key, in the app's lifespan state, of an ``asyncio.Event`` that is set when the
#: server starts to shut down: answers that never end by themselves (event streams)
#: end then, instead of holding the shutdown until they are cancelled.
DRAINING = "jooksms.draining"


class TimedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    body_timeout: float = 60.0

    _waiting_for_headers = True
    _timer: asyncio.TimerHandle | None = None

    @classmethod
    def configured(cls, *, header_timeout: float, body_timeout: float) -> type[HttpToolsProtocol]:
        """This protocol with these timeouts, as uvicorn's ``http`` setting takes it."""
        return type(
            cls.__name__,
            (cls,),
            {"header_timeout": header_timeout, "body_timeout": body_timeout},
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_for_headers = True
        self._arm(self.header_timeout, "headers")

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_headers and self._timer is None:
            self._arm(self.header_timeout, "headers")  # a request after a keep-alive pause
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._waiting_for_headers = False
        self._arm(self.body_timeout, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._waiting_for_headers = True
        super().on_response_complete()

    def shutdown(self) -> None:
        draining = self.app_state.get(DRAINING)
        if draining is not None:
            draining.set()
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, what: str) -> None:
        self._timer = None
        if not self.transport.is_closing():
            log.info("closing a connection whose %s did not arrive in time", what)
            self.transport.close()

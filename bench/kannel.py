"""Kannel (Debian's ``kannel`` 1.4.5: bearerbox + smsbox) as the reference gateway in the
delivery benchmark, and a tiny HTTP counter for its delivery reports.

The boxes are written, started and stopped by the interop test's harness
(``tests/integration/interop/kannel.py``); this module holds the bench's settings for
it, written for throughput, where they depart from Kannel's defaults (and the test's):
logs at warning level and no access logs (a line per message otherwise), the message
store as one unsynced file (``store-type = file``: what a default install keeps;
``spool``, a file per message, would slow it down), delivery reports kept in memory
(``dlr-storage = internal``), no throughput limit, and the same SMPP window as our
connector (``max-pending-submits``).

``python bench/kannel.py --dlr-counter PORT`` runs the counter: every
``GET /dlr?type=N`` is counted by type, ``GET /count`` answers the counts as JSON.
It runs as its own process so that it does not compete with the load generator for
the GIL; smsbox makes one HTTP request per delivery report, so it must be fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from servers import ROOT, free_port

# The boxes are run by the interop test's harness, the one implementation of it. Its
# package, ``tests``, lives at the repository root, which is not on sys.path when a
# bench script runs as ``python bench/delivery.py`` (sys.path[0] is then bench/).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.helpers.live import LOOPBACK, stop_processes
from tests.integration.interop import kannel as harness
from tests.integration.interop.kannel import (
    Boxes,
    KannelConfig,
    Settings,
    listening,
    missing,
    running,
)

__all__ = [
    "SETTINGS",
    "Boxes",
    "KannelConfig",
    "config_for",
    "dlr_counter",
    "dlr_counts",
    "logs",
    "missing",
    "running",
]

#: Kannel tuned for throughput (see above); ``config_for`` adds the window.
SETTINGS = Settings(
    smsc_id="sim",
    admin_password="bench-admin",
    sendsms_user="bench",
    sendsms_password="bench",
    log_level=2,  # warning
    access_logs=False,
    file_store=True,
    enquire_link_interval=30,
    max_pending_requests=4096,
    # Longer than the test's (20 s, 5 s): here Kannel shares the machine's cores with
    # the simulator and the DLR counter, all of them busy.
    start_timeout=30.0,
    stop_grace=10.0,
)

logs = harness.output


def config_for(
    directory: Path, *, smsc_port: int, system_id: str, password: str, window: int
) -> KannelConfig:
    return harness.config_for(
        directory,
        smsc_port=smsc_port,
        system_id=system_id,
        password=password,
        settings=replace(SETTINGS, window=window),
    )


# -- the delivery report counter ----------------------------------------------------------


@dataclass(slots=True)
class DlrCounts:
    by_type: Counter[str]
    first: float | None = None
    last: float | None = None


class _Http(asyncio.Protocol):
    """Just enough HTTP/1.1 for GET requests on kept-alive connections."""

    def __init__(self, counts: DlrCounts) -> None:
        self.counts = counts
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        close = False
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            close = close or any(line.lower() == "connection: close" for line in lines[1:])
            out.append(self._answer(target))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
            if close:
                self.transport.close()

    def _answer(self, target: str) -> bytes:
        url = urlsplit(target)
        if url.path == "/count":
            c = self.counts
            body = json.dumps({"by_type": c.by_type, "first": c.first, "last": c.last}).encode()
        else:
            now = time.time()
            dlr_type = parse_qs(url.query).get("type", ["?"])[0]
            self.counts.by_type[dlr_type] += 1
            self.counts.first = self.counts.first or now
            self.counts.last = now
            body = b"ok"
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )


async def _serve_counter(port: int) -> None:
    counts = DlrCounts(Counter())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(counts), LOOPBACK, port)
    print(f"counting on {port}", flush=True)
    async with server:
        await server.serve_forever()


@contextmanager
def dlr_counter(log: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The counter in its own process: (port, process)."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--dlr-counter", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while not listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the DLR counter did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield port, proc
    finally:
        stop_processes(proc)


def dlr_counts(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/count", timeout=5) as response:
        counts: dict[str, Any] = json.loads(response.read())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="the delivery report counter")
    parser.add_argument("--dlr-counter", type=int, required=True, metavar="PORT")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(_serve_counter(args.dlr_counter))
    except ImportError:
        asyncio.run(_serve_counter(args.dlr_counter))


if __name__ == "__main__":
    main()

"""Kannel (Debian's ``kannel`` 1.4.5: bearerbox + smsbox) as the reference gateway in the
delivery benchmark, and a tiny HTTP counter for its delivery reports.

The configuration is written for throughput, and says so where it departs from
Kannel's defaults: logs at warning level and no access logs (a line per message
otherwise), the message store as one unsynced file (``store-type = file``: what a
default install keeps; ``spool``, a file per message, would slow it down), delivery
reports kept in memory (``dlr-storage = internal``), no throughput limit, and the same
SMPP window as our connector (``max-pending-submits``).

``python bench/kannel.py --dlr-counter PORT`` runs the counter: every
``GET /dlr?type=N`` is counted by type, ``GET /count`` answers the counts as JSON.
It runs as its own process so that it does not compete with the load generator for
the GIL; smsbox makes one HTTP request per delivery report, so it must be fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from servers import free_port

BOXES = ("bearerbox", "smsbox")
SMSC_ID = "sim"
ADMIN_PASSWORD = "bench-admin"
USER, PASSWORD = "bench", "bench"
LOOPBACK = "127.0.0.1"


def missing() -> str | None:
    absent = [box for box in BOXES if shutil.which(box) is None]
    return f"{', '.join(absent)} not on PATH (Debian package kannel)" if absent else None


@dataclass(frozen=True, slots=True)
class KannelConfig:
    directory: Path
    smsc_port: int
    system_id: str
    password: str
    window: int
    admin_port: int
    smsbox_port: int
    sendsms_port: int

    @property
    def path(self) -> Path:
        return self.directory / "kannel.conf"

    def text(self) -> str:
        d = self.directory
        return f"""\
group = core
admin-port = {self.admin_port}
admin-password = {ADMIN_PASSWORD}
admin-interface = {LOOPBACK}
admin-allow-ip = {LOOPBACK}
smsbox-port = {self.smsbox_port}
smsbox-interface = {LOOPBACK}
box-allow-ip = {LOOPBACK}
log-file = "{d / "bearerbox.log"}"
log-level = 3
dlr-storage = internal
store-type = file
store-location = "{d / "kannel.store"}"

group = smsc
smsc = smpp
smsc-id = {SMSC_ID}
host = {LOOPBACK}
port = {self.smsc_port}
transceiver-mode = true
smsc-username = {self.system_id}
smsc-password = {self.password}
system-type = ""
source-addr-ton = 1
source-addr-npi = 1
dest-addr-ton = 1
dest-addr-npi = 1
max-pending-submits = {self.window}
reconnect-delay = 1
enquire-link-interval = 30

group = smsbox
bearerbox-host = {LOOPBACK}
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = {LOOPBACK}
log-file = "{d / "smsbox.log"}"
log-level = 3
max-pending-requests = 4096

group = sendsms-user
username = {USER}
password = {PASSWORD}
concatenation = true
max-messages = 10
user-allow-ip = {LOOPBACK}
"""

    def sendsms_url(self, params: dict[str, str | int]) -> str:
        query = urlencode({"username": USER, "password": PASSWORD, **params})
        return f"http://{LOOPBACK}:{self.sendsms_port}/cgi-bin/sendsms?{query}"

    def status(self) -> str:
        url = f"http://{LOOPBACK}:{self.admin_port}/status.txt?password={ADMIN_PASSWORD}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
        return body.decode("utf-8", "replace")


def config_for(
    directory: Path, *, smsc_port: int, system_id: str, password: str, window: int
) -> KannelConfig:
    return KannelConfig(
        directory, smsc_port, system_id, password, window, free_port(), free_port(), free_port()
    )


@dataclass(slots=True)
class Boxes:
    config: KannelConfig
    procs: dict[str, subprocess.Popen[bytes]]

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"Kannel's {name} (pid {proc.pid}) exited with status {proc.returncode}:\n"
                    + logs(self.config)
                )


@contextmanager
def running(config: KannelConfig, timeout: float = 30.0) -> Iterator[Boxes]:
    """bearerbox and smsbox, once the SMPP link is bound and smsbox is connected;
    both stopped (SIGTERM, then SIGKILL) however the block ends."""
    config.path.write_text(config.text())
    boxes = Boxes(config, {})
    deadline = time.monotonic() + timeout
    try:
        boxes.procs["bearerbox"] = _start("bearerbox", config.path)
        _wait(boxes, deadline, lambda: _listening(config.smsbox_port))
        boxes.procs["smsbox"] = _start("smsbox", config.path)
        # A sendsms request before smsbox has read its users crashes it: wait for the
        # status page to show it connected instead of probing sendsms.
        _wait(boxes, deadline, lambda: _online(config))
        yield boxes
    finally:
        for proc in reversed(list(boxes.procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(list(boxes.procs.values())):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def logs(config: KannelConfig) -> str:
    parts = []
    for name in ("bearerbox.out", "bearerbox.log", "smsbox.out", "smsbox.log"):
        path = config.directory / name
        if path.exists():
            parts.append(f"--- {name}\n{path.read_text(errors='replace')[-3000:]}")
    return "\n".join(parts)


def _start(box: str, path: Path) -> subprocess.Popen[bytes]:
    with (path.parent / f"{box}.out").open("wb") as out:
        return subprocess.Popen(
            [box, str(path)],
            cwd=path.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(boxes: Boxes, deadline: float, ready: Callable[[], bool]) -> None:
    while time.monotonic() < deadline:
        boxes.check_alive()
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError("Kannel was not ready in time:\n" + logs(boxes.config))


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def _online(config: KannelConfig) -> bool:
    try:
        lines = config.status().splitlines()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    smsc = any(SMSC_ID in line and "online" in line for line in lines)
    smsbox = any(line.strip().startswith("smsbox:") and "on-line" in line for line in lines)
    return smsc and smsbox


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
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the DLR counter did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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

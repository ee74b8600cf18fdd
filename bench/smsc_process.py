"""The SMSC simulator (``jooksms smsc-sim``) as a separate process, for the benchmarks
that need an SMSC: where it listens, what it has seen (``GET /stats``), and what its
process costs.

It is started with the same entry point as the console script, but through
``python -c`` (as bench/servers.py starts ``jooksms serve``), so that a name-based
cleanup elsewhere on a shared machine (``pkill -f "jooksms smsc-sim"``) does not kill
it mid-run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import cpu
from servers import ROOT

#: The simulator's default account (src/jooksms/smsc/config.py, DEFAULT_ACCOUNTS).
SYSTEM_ID, PASSWORD = "jooksms", "secret"

_SIMULATOR = (
    "import sys; from jooksms.cli import main; "
    "sys.argv = ['jooksms', 'smsc-sim', *sys.argv[1:]]; main()"
)
_SMPP = re.compile(r"SMPP listening on [\d.]+:(\d+)")
_HTTP = re.compile(r"HTTP listening on [\d.]+:(\d+)")


def smpp_url(port: int, **query: object) -> str:
    """``smpp://jooksms:secret@127.0.0.1:PORT?k=v``: our default account at ``port``."""
    params = "&".join(f"{k}={v}" for k, v in query.items())
    url = f"smpp://{SYSTEM_ID}:{PASSWORD}@127.0.0.1:{port}"
    return f"{url}?{params}" if params else url


@dataclass(frozen=True, slots=True)
class Simulator:
    popen: subprocess.Popen[bytes]
    port: int
    http_port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def smpp_url(self, **query: object) -> str:
        """``smpp://jooksms:secret@127.0.0.1:PORT?k=v`` for our client and connectors."""
        return smpp_url(self.port, **query)

    def stats(self) -> dict[str, Any]:
        self.check_alive()
        stats: dict[str, Any] = self._get("/stats")
        return stats

    def submits_to(self, destination: str, limit: int = 10) -> list[dict[str, Any]]:
        """The recorded submit_sm to one destination (``at`` is the wall-clock time the
        simulator received it)."""
        query = urlencode({"to": destination.removeprefix("+"), "limit": limit})
        records: list[dict[str, Any]] = self._get(f"/submits?{query}")
        return records

    def _get(self, path: str) -> Any:
        # urllib, not httpx.get: a bare httpx.get builds a TLS context each call (tens of
        # ms), which thousands of /submits look-ups cannot afford. The simulator
        # answers one request per connection anyway.
        with urllib.request.urlopen(self.http + path, timeout=30) as response:
            return json.loads(response.read())

    def cpu_seconds(self) -> float:
        return cpu.process_seconds(self.pid)

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"the SMSC simulator (pid {self.pid}) exited with status "
                f"{self.popen.returncode}; its log ends:\n{tail(self.log)}"
            )


@contextmanager
def simulator(
    log: Path,
    *options: str,
    pending_limit: int | None = None,
    timeout: float = 30.0,
) -> Iterator[Simulator]:
    """Start ``jooksms smsc-sim`` on free ports with ``options`` (its own command-line
    options, e.g. ``--receipts=never``); stop it on the way out.

    ``pending_limit`` is ``--pending-limit`` (deliver_sm held per account while the ESME
    has no room for them; the oldest are discarded past it): a benchmark that submits
    faster than it takes receipts raises it, or it loses receipts to the limit and never
    sees every message delivered."""
    log.parent.mkdir(parents=True, exist_ok=True)
    limit = [] if pending_limit is None else [f"--pending-limit={pending_limit}"]
    cmd = [
        sys.executable,
        "-c",
        _SIMULATOR,
        "--port=0",
        "--http-port=0",
        "--log-level=INFO",
        *limit,
        *options,
    ]
    with log.open("wb") as out:
        popen = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        smpp, http = _wait_listening(popen, log, timeout)
        yield Simulator(popen, smpp, http, log)
    finally:
        stop(popen)


def _wait_listening(popen: subprocess.Popen[bytes], log: Path, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        smpp, http = _SMPP.search(text), _HTTP.search(text)
        if smpp and http:
            return int(smpp[1]), int(http[1])
        if popen.poll() is not None:
            raise RuntimeError(f"the SMSC simulator exited at start:\n{tail(log)}")
        time.sleep(0.05)
    raise RuntimeError(f"the SMSC simulator did not listen within {timeout:.0f} s:\n{tail(log)}")


def stop(popen: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout``: only this one process of ours."""
    if popen.poll() is not None:
        return
    popen.terminate()
    try:
        popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- an SMSC we did not write --------------------------------------------------------------

#: tests/integration/interop/netsmpp_smsc.pl: an SMSC on Perl's Net::SMPP (Debian's
#: libnet-smpp-perl) that answers each submit_sm and sends its receipt at once.
NETSMPP_SCRIPT = ROOT / "tests" / "integration" / "interop" / "netsmpp_smsc.pl"


@dataclass(frozen=True, slots=True)
class NetSmppSmsc:
    """The Net::SMPP SMSC in --quiet mode: the same face as :class:`Simulator` for the
    benchmark's loop (port, pid, ``stats()``), its counters read from the last stats
    line of its log (one every ``stats_every`` submits and when the ESME leaves)."""

    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def smpp_url(self, **query: object) -> str:
        return smpp_url(self.port, **query)

    def stats(self) -> dict[str, Any]:
        """The last counters, and ``sessions_open`` (binds accepted less ESMEs gone)."""
        self.check_alive()
        last: dict[str, Any] = {"submits": 0, "receipts_sent": 0}
        sessions = 0
        for line in self.log.read_text(errors="replace").splitlines():
            if '"stats"' in line:
                last = json.loads(line)
            elif '"bind_transceiver"' in line and '"accepted":true' in line:
                sessions += 1
            elif '"disconnected"' in line:
                sessions = max(0, sessions - 1)
        return {**last, "sessions_open": sessions}

    def submits_seen_at(self, submits: int) -> float | None:
        """When the SMSC had seen ``submits`` submit_sm (exact for a multiple of its
        ``stats_every``: it notes its counters at each), or None if not yet."""
        for line in self.log.read_text(errors="replace").splitlines():
            if '"stats"' in line and (stats := json.loads(line))["submits"] >= submits:
                return float(stats["at"])
        return None

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"the Net::SMPP SMSC (pid {self.pid}) exited with status "
                f"{self.popen.returncode}; its log ends:\n{tail(self.log)}"
            )


@contextmanager
def netsmpp_smsc(
    log: Path,
    *,
    receipts: bool = True,
    receipt_delay: float = 0.0,
    stats_every: int = 1000,
    timeout: float = 30.0,
) -> Iterator[NetSmppSmsc]:
    """Start the Net::SMPP SMSC on a free port, for our default account; stop it on the
    way out. ``receipts``: send the receipts asked for (``receipt_delay`` seconds after
    the submit_sm_resp), or none."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    cmd = [
        "perl",
        str(NETSMPP_SCRIPT),
        "--port=0",
        f"--log={log}",
        f"--system-id={SYSTEM_ID}",
        f"--password={PASSWORD}",
        "--quiet",
        f"--stats-every={stats_every}",
        f"--receipt-delay={receipt_delay}",
        *([] if receipts else ["--no-receipts"]),
    ]
    with log.with_suffix(".err").open("wb") as err:
        popen = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := re.search(r'"port":(\d+)', log.read_text(errors="replace")):
                break
            if popen.poll() is not None:
                raise RuntimeError(f"the Net::SMPP SMSC exited at start:\n{tail(log)}")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the Net::SMPP SMSC did not listen within {timeout:.0f} s")
        yield NetSmppSmsc(popen, int(match[1]), log)
    finally:
        stop(popen)

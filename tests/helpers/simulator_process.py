"""``jooksms smsc-sim`` as a child process, and its HTTP side (/inject, /stats,
/submits, /drop) for async tests.

The simulator listens on ports it picks itself (``--port 0 --http-port 0``) and the
ports are read back from its log, so two runs never race for a port. Its output goes
to a file, never a pipe, so a chatty simulator cannot block on a full pipe, and the
file is there to read when a test fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from tests.helpers.live import stop_processes

LOOPBACK = "127.0.0.1"
#: The simulator's default account (``--system-id`` / ``--password``).
SYSTEM_ID = "jooksms"
PASSWORD = "secret"

_LISTENING = re.compile(r"\b(SMPP|HTTP) listening on [^\s:]+:(\d+)")


@dataclass
class SimulatorProcess:
    proc: subprocess.Popen[bytes]
    port: int
    http_port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    def smpp_url(
        self,
        *,
        system_id: str = SYSTEM_ID,
        password: str = PASSWORD,
        query: Mapping[str, object] | None = None,
    ) -> str:
        """``smpp://SYSTEM_ID:PASSWORD@127.0.0.1:PORT?query`` for SmppConfig.from_url."""
        account = f"{quote(system_id, safe='')}:{quote(password, safe='')}"
        url = f"smpp://{account}@{LOOPBACK}:{self.port}"
        return f"{url}?{urlencode(query)}" if query else url

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    # --- HTTP ---------------------------------------------------------------------------

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:
            response = await http.request(method, path, **kw)
        response.raise_for_status()
        return response.json()

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self._call("GET", "/stats")
        return stats

    async def submits(self, to: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The submit_sm recorded for destination ``to`` (E.164, "+" optional), oldest
        first, rejected ones included (see ``status``)."""
        records: list[dict[str, Any]] = await self._call(
            "GET", "/submits", params={"to": to.removeprefix("+"), "limit": limit}
        )
        return records

    async def inject(self, source: str, destination: str, text: str) -> dict[str, Any]:
        """An SMS from handset ``source`` to our number ``destination``; the answer
        says in how many parts it went."""
        answer: dict[str, Any] = await self._call(
            "POST", "/inject", json={"from": source, "to": destination, "text": text}
        )
        return answer

    async def drop(self) -> int:
        answer = await self._call("POST", "/drop", json={})
        return int(answer["dropped"])

    # --- lifecycle ----------------------------------------------------------------------

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not go in time."""
        stop_processes(self.proc, timeout=timeout)


def stop_simulators(simulators: Iterable[SimulatorProcess], timeout: float = 10.0) -> None:
    """SIGTERM to all at once, then wait for each (SIGKILL if it does not go)."""
    stop_processes(*(sim.proc for sim in simulators), timeout=timeout)


def start_simulators(
    option_sets: Iterable[Sequence[str]], workdir: Path, *, timeout: float = 30.0
) -> list[SimulatorProcess]:
    """Start one ``python -m jooksms smsc-sim`` per option set, all at once (each takes
    about a second to import), and wait until every one listens. On any failure the
    ones started are stopped before the error is raised."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for index, options in enumerate(option_sets):
            started.append(_spawn(list(options), workdir / f"smsc-sim-{index}.log"))
        return [_wait_listening(proc, log, timeout) for proc, log in started]
    except BaseException:
        for proc, _ in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        raise


def _spawn(options: list[str], log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    command = [
        sys.executable,
        "-m",
        "jooksms",
        "smsc-sim",
        "--host",
        LOOPBACK,
        "--port",
        "0",
        "--http-port",
        "0",
        "--stats-interval",
        "0",
        *options,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOOKSMS_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return proc, log


def _wait_listening(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> SimulatorProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = dict(_LISTENING.findall(log.read_text(errors="replace")))
        if {"SMPP", "HTTP"} <= ports.keys():
            return SimulatorProcess(proc, int(ports["SMPP"]), int(ports["HTTP"]), log)
        if proc.poll() is not None:
            raise RuntimeError(
                f"jooksms smsc-sim exited with {proc.returncode}:\n{log.read_text()}"
            )
        time.sleep(0.02)
    raise TimeoutError(f"jooksms smsc-sim did not listen within {timeout}s:\n{log.read_text()}")

"""Load generation: wrk for throughput, a sequential httpx loop for latency."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cpu
import httpx
from servers import BENCH, Server

LUA = BENCH / "post_json.lua"


@dataclass(frozen=True, slots=True)
class WrkRun:
    """One wrk run, plus what the server process and the machine spent during it."""

    command: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    cpu: cpu.Usage
    output: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def wrk_post(
    server: Server,
    path: str,
    body: dict[str, Any],
    *,
    threads: int,
    connections: int,
    seconds: int,
    token: str | None = None,
) -> WrkRun:
    """POST ``body`` to ``path`` as fast as wrk can for ``seconds``."""
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        server.base_url + path,
    ]
    env = {
        **os.environ,
        "WRK_BODY": json.dumps(body),
        "WRK_AUTH": f"Bearer {token}" if token else "",
    }
    before = cpu.sample(server.pid, server.database_marker)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    used = cpu.usage(before, cpu.sample(server.pid, server.database_marker))
    summary = _summary(done.stdout)
    return WrkRun(
        command=" ".join(cmd[:4]) + f" -s {LUA.name} URL",
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        max_ms=summary["max_us"] / 1000,
        non_2xx=summary["status_errors"],
        socket_errors=sum(
            summary[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        cpu=used,
        output=done.stdout,
    )


def _summary(stdout: str) -> dict[str, int]:
    for line in stdout.splitlines():
        if line.startswith("BENCH "):
            parsed: dict[str, int] = json.loads(line[len("BENCH ") :])
            return parsed
    raise RuntimeError(f"wrk printed no summary:\n{stdout}")


@dataclass(frozen=True, slots=True)
class Latencies:
    ms: list[float]
    last: dict[str, Any]

    @property
    def p50(self) -> float:
        return percentile(self.ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.ms, 99)


def timed_requests(
    send: Callable[[], httpx.Response], count: int, *, warmup: int = 10
) -> Latencies:
    """Send the same request ``count`` times one after another, after a warm-up;
    every answer must be a 200."""
    response = None
    for _ in range(warmup):
        response = _checked(send())
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = send()
        times.append((time.perf_counter() - started) * 1000)
        _checked(response)
    assert response is not None
    return Latencies(times, response.json())


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]

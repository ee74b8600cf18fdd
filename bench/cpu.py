"""Where the CPU went during a measurement: the server process, the load generator,
the database's backend processes, and everything else on the (shared) machine.

On two cores these four compete; "other" shows when someone else's work was running
at the same time and the figure is noisier than usual.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    server: float
    database: float
    load_generator: float
    machine: float


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU used between two samples, in cores (1.0 = one core busy all the time)."""

    server: float
    load_generator: float
    database: float
    other: float

    def describe(self, database: bool) -> str:
        parts = [f"server {self.server:.2f}", f"load gen {self.load_generator:.2f}"]
        if database:
            parts.append(f"postgres {self.database:.2f}")
        return ", ".join([*parts, f"other {self.other:.2f} cores"])


def process_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _database_seconds(marker: str | None) -> float:
    """CPU of the processes whose command line names the database (PostgreSQL shows
    ``postgres: ... user dbname host(port) state`` for each backend)."""
    if marker is None:
        return 0.0
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"postgres:") and marker.encode() in cmdline:
            total += process_seconds(int(entry.name))
    return total


def _machine_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(values[:8]) - values[3] - values[4]  # all but idle and iowait
    return busy / _TICKS


def _load_generator_seconds() -> float:
    """This process (the httpx client) plus the children it has waited for (wrk)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def sample(server_pid: int, database_marker: str | None) -> Sample:
    return Sample(
        at=time.monotonic(),
        server=process_seconds(server_pid),
        database=_database_seconds(database_marker),
        load_generator=_load_generator_seconds(),
        machine=_machine_seconds(),
    )


def usage(before: Sample, after: Sample) -> Usage:
    """Between two samples. Child processes count only once waited for, so take the
    samples around one whole wrk run."""
    wall = max(after.at - before.at, 1e-9)
    server = (after.server - before.server) / wall
    load = (after.load_generator - before.load_generator) / wall
    database = (after.database - before.database) / wall
    machine = (after.machine - before.machine) / wall
    return Usage(server, load, database, max(0.0, machine - server - load - database))


def others_busy(seconds: float = 1.0) -> float:
    """Cores the machine uses over ``seconds`` while the bench's own processes idle."""
    before, started = _machine_seconds(), time.monotonic()
    time.sleep(seconds)
    return (_machine_seconds() - before) / (time.monotonic() - started)


def wait_for_quiet(limit: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until the rest of the machine uses under ``limit``
    cores, so that a measurement does not share two cores with someone's test run.
    Returns the last reading."""
    deadline = time.monotonic() + max_wait
    busy = others_busy()
    if busy >= limit:
        print(f"  waiting up to {max_wait:.0f} s: other work uses {busy:.2f} cores", flush=True)
    while busy >= limit and time.monotonic() < deadline:
        busy = others_busy()
    return busy

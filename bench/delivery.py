"""End-to-end delivery benchmark: messages accepted by the HTTP API until the SMSC has
received every submit_sm and every delivery receipt is stored, and Kannel side by side.

Usage::

    .venv/bin/python bench/delivery.py --backend sqlite|postgres [--workers 1|2]
                                       [--messages 200000] [--profile] [--kannel]
    .venv/bin/python bench/delivery.py --kannel            # Kannel alone
    .venv/bin/python bench/delivery.py --all               # the whole table (make bench-delivery)

Processes, each its own (all on this machine): ``jooksms smsc-sim`` (receipts on,
failure share 0, receipt delay 0.1 s); on SQLite one ``jooksms serve`` that accepts
and delivers (the embedded setup); on PostgreSQL a ``jooksms serve`` with delivery off
(an API process) and 1 or 2 ``jooksms worker`` processes, on a throwaway database
created and dropped by the bench. The connector is configured with ``jooksms
connector add``, the account, number and API client with the CLI.

Per run: (1) throughput: ``to_many`` batches of 1,000 from several concurrent posters
until N are accepted, then wait until every message is ``delivered`` in the database
(counted with SQL); (2) latency: paced load at half the end-to-end rate just measured,
accept (``created_at``) to the SMSC's receipt of the submit_sm (the simulator's
``/submits`` timestamps). Figures: see bench/README.md. Results also go to
``bench/results/delivery.json``.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import itertools
import json
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import cpu
import httpx
import kannel
import orjson
from httpload import percentile
from servers import BENCH, POSTGRES_URL, ROOT, Server, cli, postgres_reachable, serve_jooksms
from smsc_process import (
    PASSWORD,
    SYSTEM_ID,
    NetSmppSmsc,
    Simulator,
    netsmpp_smsc,
    simulator,
    stop,
    tail,
)

RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"

BATCH = 1_000
FROM_NUMBER = "+50760000001"
TEXT = "JookSMS: your code is 482913. It expires in 10 minutes. Reply STOP to opt out."
#: Submits the simulator keeps for /submits: the latency phase's, at most this many.
RECORD_LIMIT = 20_000
RECEIPT_DELAY = 0.1
#: Receipts the simulator may hold for a busy ESME before it drops the oldest (its
#: default, 100,000, is lower than a run's backlog can grow when submits outrun
#: receipts; a carrier keeps them for days).
PENDING_LIMIT = 10_000_000
WINDOW = 32
TARGET_E2E = 5_000.0
TARGET_P99_MS = 200.0
ALL_MESSAGES = 20_000
DEFAULT_MESSAGES = 200_000
#: No progress for this long (no submit, no receipt, nothing delivered) ends a run.
STALL_SECONDS = 60.0

WORKER_CODE = "import sys; from jooksms.cli import main; sys.argv = ['jooksms', 'worker']; main()"
# The same worker, timing Python's cyclic garbage collector (gc.callbacks) and printing
# the totals when it exits (after SIGTERM), for the profiled run.
_WORKER_GC = """
import atexit, gc, sys, time
runs, seconds, started = [0, 0, 0], [0.0, 0.0, 0.0], [0.0]
def timed(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        runs[info["generation"]] += 1
        seconds[info["generation"]] += time.perf_counter() - started[0]
gc.callbacks.append(timed)
cpu0 = time.process_time()
atexit.register(lambda: print("GCSTATS", runs, seconds, time.process_time() - cpu0, flush=True))
from jooksms.cli import main
sys.argv = ["jooksms", "worker"]
main()
"""
PY_SPY = Path(sys.executable).with_name("py-spy")


def destination(i: int) -> str:
    """Distinct Panama mobile numbers (+507 6XXX XXXX)."""
    return f"+5076{i:07d}"


# -- the database, read directly -----------------------------------------------------------


def epoch(value: Any) -> float:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.timestamp()
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


class Probe:
    """Counts and timestamps straight from the messages table."""

    def delivered(self, status: str = "delivered") -> int:
        """Messages in ``status`` (a final one: delivered, or sent when no receipt comes)."""
        return int(self._one(f"SELECT count(*) FROM messages WHERE status = '{status}'")[0])

    def statuses(self) -> dict[str, int]:
        rows = self._all("SELECT status, count(*) FROM messages GROUP BY status")
        return {str(s): int(n) for s, n in rows}

    def max_id(self) -> int:
        return int(self._one("SELECT coalesce(max(id), 0) FROM messages")[0])

    def span(
        self, after_id: int, through_id: int, final: str = "delivered"
    ) -> tuple[float, float, float]:
        """First accept, last accept, last delivery stored (or last sent, ``final`` "sent"),
        of ids in (after, through]."""
        row = self._one(
            f"SELECT min(created_at), max(created_at), max({final}_at) FROM messages "
            f"WHERE id > {int(after_id)} AND id <= {int(through_id)}"
        )
        return epoch(row[0]), epoch(row[1]), epoch(row[2])

    def timeline(self, after_id: int) -> list[tuple[str, float, float | None, float | None]]:
        """number, created_at, sending_at, sent_at of every message past ``after_id``."""
        rows = self._all(
            "SELECT number, created_at, sending_at, sent_at FROM messages "
            f"WHERE id > {int(after_id)} ORDER BY id"
        )
        return [
            (
                str(n),
                epoch(c),
                None if s is None else epoch(s),
                None if t is None else epoch(t),
            )
            for n, c, s, t in rows
        ]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Any query's rows (for the benches built on this one)."""
        return self._all(sql)

    def _one(self, sql: str) -> tuple[Any, ...]:
        return self._all(sql)[0]

    def _all(self, sql: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SqliteProbe(Probe):
    def __init__(self, path: Path) -> None:
        self._con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def _all(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._con.execute(sql).fetchall()]

    def close(self) -> None:
        self._con.close()


class PostgresProbe(Probe):
    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._con: asyncpg.Connection = self._loop.run_until_complete(asyncpg.connect(url))

    def _all(self, sql: str) -> list[tuple[Any, ...]]:
        rows = self._loop.run_until_complete(self._con.fetch(sql))
        return [tuple(r) for r in rows]

    def close(self) -> None:
        self._loop.run_until_complete(self._con.close())
        self._loop.close()


_DB_STATS = (
    "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched "
    "FROM pg_stat_database WHERE datname = $1"
)


@contextmanager
def throwaway_postgres(base_url: str, stats: dict[str, int]) -> Iterator[str]:
    """A fresh database on the server of ``base_url``, dropped on the way out. Just
    before the drop (every client gone, so their statistics are flushed), ``stats``
    gets the database's counters from pg_stat_database."""
    server, _ = base_url.rsplit("/", 1)
    name = f"jooksms_delivery_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server + "/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def counters() -> None:
        conn = await asyncpg.connect(server + "/postgres")
        try:
            row = await conn.fetchrow(_DB_STATS, name)
            if row is not None:
                stats.update({k: int(v) for k, v in row.items()})
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        try:
            time.sleep(1.0)  # backends that just exited report their counters
            asyncio.run(counters())
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- processes -------------------------------------------------------------------------------


@dataclass(slots=True)
class Proc:
    name: str
    pid: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        return self.popen is None or self.popen.poll() is None

    def rss_mib(self) -> float:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0


@dataclass(slots=True)
class Fleet:
    """The processes of one run: checked for life, sampled for CPU and RSS."""

    procs: list[Proc] = field(default_factory=list)
    database_marker: str | None = None

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def check(self) -> None:
        for proc in self.procs:
            if not proc.alive():
                assert proc.popen is not None
                code = proc.popen.returncode
                how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
                raise RuntimeError(
                    f"{proc.name} (pid {proc.pid}) {how} during the run; "
                    f"its log ({proc.log.name}) ends:\n{tail(proc.log)}"
                )

    def cpu_sample(self) -> dict[str, float]:
        sample = {p.name: cpu.process_seconds(p.pid) for p in self.procs}
        any_pid = self.procs[0].pid if self.procs else os.getpid()
        whole = cpu.sample(any_pid, self.database_marker)
        if self.database_marker:
            sample["postgres"] = whole.database
        own = resource.getrusage(resource.RUSAGE_SELF)
        sample["bench (load generator)"] = own.ru_utime + own.ru_stime
        sample["_machine"] = whole.machine
        sample["_at"] = whole.at
        return sample


def cpu_ms_per_message(
    before: dict[str, float], after: dict[str, float], messages: int
) -> dict[str, float]:
    return {
        k: 1000 * (after[k] - before[k]) / messages
        for k in after
        if not k.startswith("_") and "bench" not in k
    }


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Cores each process used between two samples; 'others' is the rest of the machine."""
    wall = max(after["_at"] - before["_at"], 1e-9)
    used = {k: (after[k] - before[k]) / wall for k in after if not k.startswith("_")}
    machine = (after["_machine"] - before["_machine"]) / wall
    used["others"] = max(0.0, machine - sum(used.values()))
    return used


def start_worker(database_url: str, log: Path, n: int, *, gc_stats: bool = False) -> Proc:
    env = {
        **os.environ,
        "JOOKSMS_DATABASE_URL": database_url,
        "JOOKSMS_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-c", _WORKER_GC if gc_stats else WORKER_CODE],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    return Proc(f"worker {n}", popen.pid, log, popen)


def wait_sessions(
    sim: Simulator | NetSmppSmsc, fleet: Fleet, count: int, timeout: float = 60
) -> None:
    """Until ``count`` SMPP sessions are bound at the simulator (the workers are up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fleet.check()
        if sim.stats()["sessions_open"] >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{count} SMPP session(s) did not bind within {timeout:.0f} s")


# -- load ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Posted:
    accepted: int = 0
    rejected: int = 0
    requests: int = 0
    first_sent: float | None = None
    last_answer: float | None = None
    error: str | None = None


def to_many_body(first: int, count: int) -> bytes:
    return orjson.dumps(
        {"body": TEXT, "list": [{"to": destination(i)} for i in range(first, first + count)]}
    )


async def _post(client: httpx.AsyncClient, body: bytes, count: int, posted: Posted) -> None:
    now = time.time()
    posted.first_sent = posted.first_sent or now
    response = await client.post("/api/v1/sms/to_many", content=body)
    posted.requests += 1
    if response.status_code != 200:
        raise RuntimeError(f"to_many answered {response.status_code}: {response.text[:300]}")
    ids = response.json().get("ids", [])
    good = sum(1 for i in ids if i and i > 0)
    posted.accepted += good
    posted.rejected += count - good
    posted.last_answer = time.time()


def _client(base_url: str, token: str, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=120,
        # Idle connections are let go before uvicorn's own 5 s keep-alive timeout: a
        # request sent on one the server is closing at that moment fails (ReadError).
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=2.0,
        ),
    )


async def post_flat_out(
    base_url: str, token: str, first: int, total: int, posters: int, posted: Posted
) -> None:
    """``posters`` concurrent loops posting batches of 1,000 until ``total`` accepted."""
    starts = iter(range(first, first + total, BATCH))

    async def loop(client: httpx.AsyncClient) -> None:
        for start in starts:
            count = min(BATCH, first + total - start)
            await _post(client, to_many_body(start, count), count, posted)

    async with _client(base_url, token, posters) as client:
        await asyncio.gather(*(loop(client) for _ in range(posters)))


async def post_paced(
    base_url: str, token: str, first: int, total: int, rate: float, batch: int, posted: Posted
) -> None:
    """Open-loop pacing: a batch every ``batch / rate`` seconds, whatever the answers."""
    interval = batch / rate
    tasks = []
    async with _client(base_url, token, 64) as client:
        started = time.perf_counter()
        for n, start in enumerate(range(first, first + total, batch)):
            delay = started + n * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            count = min(batch, first + total - start)
            tasks.append(
                asyncio.create_task(_post(client, to_many_body(start, count), count, posted))
            )
        await asyncio.gather(*tasks)


class Background:
    """A coroutine run to completion in its own thread (and event loop), so that the main
    thread can watch the processes meanwhile."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(make,), daemon=True)
        self._thread.start()

    def _run(self, make: Callable[[], Any]) -> None:
        try:
            asyncio.run(make())
        except BaseException as exc:
            self.error = exc

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise RuntimeError(f"posting failed: {self.error!r}") from self.error


def token_for(base_url: str, database_url: str, account: int) -> str:
    client = cli(database_url, "client", "create", "--account", str(account), "--name", "bench")
    response = httpx.post(
        base_url + "/api/v1/oauth/access_token",
        data={"client_id": client["client_id"], "client_secret": client["client_secret"]},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


# -- one run of ours ---------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    at: float
    submits: int
    receipts: int
    delivered: int | None
    rss: dict[str, float]


@dataclass(slots=True)
class DeliveryReport:
    """The figures of one run (ours or Kannel's)."""

    setup: str
    messages: int
    accepted_per_s: float | None = None
    e2e_per_s: float | None = None
    smsc_submit_per_s: float | None = None
    e2e_seconds: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    #: CPU milliseconds each process spent per message delivered (throughput phase).
    cpu_ms_per_message: dict[str, float] = field(default_factory=dict)
    #: pg_stat_database counters of the throwaway database, whole run.
    db_stats: dict[str, int] = field(default_factory=dict)
    #: Messages the run sent in all (throughput and latency phases).
    total_messages: int = 0
    #: RSS (MiB) of the first delivering process at 0, 10, ... 100 % of the submits.
    rss_by_tenth: list[float] = field(default_factory=list)
    #: Wall time of the whole run, setup included.
    run_seconds: float = 0.0
    rss_mib: dict[str, dict[str, float]] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    profile: Profile | None = None
    #: The profiled worker's garbage collections: counts and seconds per generation.
    gc: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(slots=True)
class Options:
    backend: str
    workers: int
    messages: int
    posters: int
    latency: bool
    latency_seconds: float
    latency_batch: int
    latency_sample: int
    profile: bool
    profile_seconds: float
    postgres_url: str
    quiet_wait: float
    #: The simulator's deliver_sm window: receipts sent to a session and not yet
    #: acknowledged. A worker acknowledges a receipt once it is stored, so receipts
    #: flow at most at window / (time to store one).
    deliver_window: int
    #: The SMSC: ours ("simulator") or the Net::SMPP one ("netsmpp").
    smsc: str = "simulator"
    #: Ask for receipts (the connector's registered_delivery) and wait for every one.
    receipts: bool = True
    #: Seconds from a submit_sm_resp to its receipt, at either SMSC.
    receipt_delay: float = RECEIPT_DELAY

    @property
    def final_status(self) -> str:
        return "delivered" if self.receipts else "sent"


def setup_name(opts: Options) -> str:
    label = _smsc_label(opts.smsc, opts.receipts)
    if opts.backend == "sqlite":
        return "JookSMS SQLite, 1 process (serve)" + label
    workers = opts.workers
    return f"JookSMS PostgreSQL, API + {workers} worker{'s' if workers > 1 else ''}" + label


def timed(outcome: DeliveryReport, label: str, body: Callable[[ExitStack], None]) -> None:
    """Run ``body`` with an exit stack for what it starts; a failure is kept in the
    outcome (the other setups still run) and the time taken either way."""
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            body(stack)
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        print(f"\n!!! {label}: {outcome.error}\n", flush=True)
    outcome.run_seconds = time.monotonic() - started


def run_ours(opts: Options, run_no: int) -> DeliveryReport:
    outcome = DeliveryReport(setup_name(opts), opts.messages)
    tag = f"{opts.backend}-w{opts.workers}-{opts.smsc}-r{run_no}"
    print(f"\n=== {outcome.setup}, run {run_no or 'profiled'} ===", flush=True)
    timed(outcome, outcome.setup, lambda stack: _run_ours(opts, tag, outcome, stack))
    if opts.profile and opts.backend == "postgres":
        outcome.gc = _gc_stats(LOGS / f"delivery-{tag}-worker1.log")
    return outcome


def _gc_stats(log: Path) -> dict[str, Any]:
    """What the worker's garbage collector cost it over its whole life (see _WORKER_GC)."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("GCSTATS "):
            runs, seconds, cpu_seconds = ast.literal_eval(
                "(" + line[len("GCSTATS ") :].replace("] ", "], ") + ")"
            )
            return {"collections": runs, "seconds": seconds, "process_cpu_seconds": cpu_seconds}
    return {}


@dataclass(slots=True)
class OursRun:
    """The processes of one run of ours, started, bound and ready for load."""

    url: str
    account: int
    sim: Simulator | NetSmppSmsc
    fleet: Fleet
    workers: list[Proc]
    server: Server
    token: str
    probe: Probe


def _run_ours(opts: Options, tag: str, outcome: DeliveryReport, stack: ExitStack) -> None:
    run = start_ours(opts, tag, outcome, stack)
    throughput(opts, outcome, run.sim, run.fleet, run.workers, run.probe, run.server, run.token)
    # The latency phase reads our simulator's record of each submit_sm.
    if opts.latency and outcome.e2e_per_s and isinstance(run.sim, Simulator):
        latency(opts, outcome, run.sim, run.fleet, run.probe, run.server, run.token)
    outcome.statuses = run.probe.statuses()


def start_ours(opts: Options, tag: str, outcome: DeliveryReport, stack: ExitStack) -> OursRun:
    """Database, SMSC, account, connector, API process and workers of one run, each
    stopped by ``stack``; returns once the workers are bound to the SMSC."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jooksms-delivery-")))
    if opts.backend == "sqlite":
        db_path = tmp / "delivery.db"
        url = f"sqlite:///{db_path}"
    else:
        url = stack.enter_context(throwaway_postgres(opts.postgres_url, outcome.db_stats))
    sim = _our_smsc(opts, tag, stack)
    fleet = Fleet(database_marker=None if opts.backend == "sqlite" else url.rsplit("/", 1)[1])
    fleet.add(Proc("smsc-sim", sim.pid, sim.log, sim.popen))
    print(f"  preparing the database ({opts.backend}) ...", flush=True)
    cli(url, "db", "upgrade")
    account = int(cli(url, "account", "create", "--name", "bench", "--number", FROM_NUMBER)["id"])
    query: dict[str, object] = {"window": WINDOW}
    if not opts.receipts:
        query["registered_delivery"] = "false"
    cli(url, "connector", "add", "--name", "sim", "--url", sim.smpp_url(**query))
    delivery_in_serve = opts.backend == "sqlite"
    server: Server = stack.enter_context(
        serve_jooksms(url, LOGS / f"delivery-{tag}-serve.log", delivery=delivery_in_serve)
    )
    fleet.add(
        Proc(
            "serve (API + delivery)" if delivery_in_serve else "serve (API)",
            server.pid,
            server.log,
            server.popen,
        )
    )
    workers = []
    if not delivery_in_serve:
        for n in range(1, opts.workers + 1):
            proc = start_worker(
                url, LOGS / f"delivery-{tag}-worker{n}.log", n, gc_stats=opts.profile
            )
            stack.callback(stop, proc.popen)
            workers.append(fleet.add(proc))
    else:
        workers.append(fleet.procs[-1])
    wait_sessions(sim, fleet, len(workers))
    token = token_for(server.base_url, url, account)
    probe: Probe = SqliteProbe(db_path) if opts.backend == "sqlite" else PostgresProbe(url)
    stack.callback(probe.close)

    return OursRun(url, account, sim, fleet, workers, server, token, probe)


def _our_smsc(opts: Options, tag: str, stack: ExitStack) -> Simulator | NetSmppSmsc:
    if opts.smsc == "netsmpp":
        log = LOGS / f"delivery-{tag}-smsc.log"
        smsc = netsmpp_smsc(log, receipts=opts.receipts, receipt_delay=opts.receipt_delay)
        return stack.enter_context(smsc)
    return stack.enter_context(
        simulator(
            LOGS / f"delivery-{tag}-simulator.log",
            "--receipts=requested",
            f"--receipt-delay={opts.receipt_delay}",
            "--failure-rate=0",
            f"--record-limit={RECORD_LIMIT}",
            f"--deliver-window={opts.deliver_window}",
            "--stats-interval=10",
            pending_limit=PENDING_LIMIT,
        )
    )


def throughput(
    opts: Options,
    outcome: DeliveryReport,
    sim: Simulator | NetSmppSmsc,
    fleet: Fleet,
    workers: list[Proc],
    probe: Probe,
    server: Server,
    token: str,
) -> None:
    n = opts.messages
    first_id = probe.max_id()
    rss_start = {w.name: w.rss_mib() for w in workers}
    print(f"  throughput: posting {n:,} messages in to_many batches of {BATCH:,} ...", flush=True)
    cpu.wait_for_quiet(0.3, opts.quiet_wait)
    before = fleet.cpu_sample()
    posted = Posted()
    poster = Background(lambda: post_flat_out(server.base_url, token, 0, n, opts.posters, posted))
    samples: list[Sample] = []
    profiler: subprocess.Popen[bytes] | None = None
    profile_out = LOGS / f"profile-{opts.backend}-w{opts.workers}.txt"
    rss_mid: dict[str, float] = {}
    last_progress, last_key = time.monotonic(), (-1, -1, -1)
    while True:
        time.sleep(0.5)
        fleet.check()
        stats = sim.stats()
        _check_discards(stats)
        submits, receipts = int(stats["submits"]), int(stats["receipts_sent"])
        # Counting rows costs the database a scan: only once the SMSC is done.
        done = receipts >= n if opts.receipts else submits >= n
        delivered = probe.delivered(opts.final_status) if done else None
        samples.append(
            Sample(
                time.time(), submits, receipts, delivered, {w.name: w.rss_mib() for w in workers}
            )
        )
        if opts.profile and profiler is None and submits > 0:
            profiler = start_profiler(workers[0].pid, opts.profile_seconds, profile_out)
        if not rss_mid and submits >= n // 2:
            rss_mid = {w.name: w.rss_mib() for w in workers}
        if poster.done and poster.error:
            poster.join()
        if delivered is not None and delivered >= n:
            break
        key = (submits, receipts, delivered or 0)
        if key != last_key:
            last_progress, last_key = time.monotonic(), key
        elif time.monotonic() - last_progress > STALL_SECONDS:
            raise RuntimeError(
                f"no progress for {STALL_SECONDS:.0f} s: SMSC saw {submits:,} submits, sent "
                f"{receipts:,} receipts; statuses {probe.statuses()}"
            )
        _progress(samples[-1], n, posted)
    after = fleet.cpu_sample()
    poster.join()
    last_id = probe.max_id()
    first_accept, last_accept, last_delivered = probe.span(first_id, last_id, opts.final_status)
    assert posted.first_sent is not None and posted.last_answer is not None
    outcome.accepted_per_s = posted.accepted / (posted.last_answer - posted.first_sent)
    outcome.e2e_seconds = last_delivered - first_accept
    outcome.e2e_per_s = n / outcome.e2e_seconds
    outcome.smsc_submit_per_s = _submit_rate(samples, n)
    outcome.cpu = cpu_used(before, after)
    outcome.cpu_ms_per_message = cpu_ms_per_message(before, after, n)
    outcome.total_messages = n
    outcome.rss_mib = {
        w.name: {
            "start": rss_start[w.name],
            "middle": rss_mid.get(w.name, 0.0),
            "end": w.rss_mib(),
            "max": max(s.rss[w.name] for s in samples),
        }
        for w in workers
    }
    outcome.rss_by_tenth = _rss_by_tenth(samples, workers[0].name, n)
    if posted.rejected:
        outcome.notes.append(f"{posted.rejected:,} recipients refused by the API")
    print(
        f"\r  accepted {posted.accepted:,} at {outcome.accepted_per_s:,.0f}/s; all delivered "
        f"{outcome.e2e_seconds:.1f} s after the first accept: {outcome.e2e_per_s:,.0f}/s end "
        f"to end; SMSC saw {outcome.smsc_submit_per_s or 0:,.0f} submit_sm/s"
        f" (last accept at +{last_accept - first_accept:.1f} s)",
        flush=True,
    )
    if profiler is not None:
        outcome.profile = finish_profiler(profiler, profile_out)


def _check_discards(stats: dict[str, Any]) -> None:
    """Receipts the simulator will never send: the run could not finish."""
    if stats.get("deliveries_discarded"):
        raise RuntimeError(
            f"the simulator discarded {stats['deliveries_discarded']:,} receipts (more than "
            f"its pending limit waited for room in its deliver window): they never come "
            f"back; {stats['deliveries_pending']:,} pending"
        )
    if stats.get("deliveries_dropped"):
        raise RuntimeError(
            f"the simulator dropped {stats['deliveries_dropped']:,} receipts that the "
            f"worker answered with an error (see the worker's log): they never come back"
        )


def _rss_by_tenth(samples: list[Sample], name: str, n: int) -> list[float]:
    """RSS of one process when the SMSC had seen 0 %, 10 %, ... 100 % of the submits."""
    marks = []
    for tenth in range(11):
        sample = next((s for s in samples if s.submits >= n * tenth // 10), samples[-1])
        marks.append(sample.rss[name])
    return marks


def _progress(sample: Sample, n: int, posted: Posted) -> None:
    if sys.stdout.isatty():
        sys.stdout.write(
            f"\r  accepted {posted.accepted:,}, SMSC submits {sample.submits:,}/{n:,}, "
            f"receipts {sample.receipts:,}   "
        )
        sys.stdout.flush()


def _submit_rate(samples: list[Sample], n: int) -> float | None:
    """submit_sm/s at the SMSC, from its first submit to its N-th, by the samples."""
    start = next((s for s in samples if s.submits > 0), None)
    end = next((s for s in samples if s.submits >= n), None)
    if start is None or end is None or end.at <= start.at:
        return None
    return (end.submits - start.submits) / (end.at - start.at)


def latency(
    opts: Options,
    outcome: DeliveryReport,
    sim: Simulator,
    fleet: Fleet,
    probe: Probe,
    server: Server,
    token: str,
    *,
    rate: float | None = None,
) -> None:
    """Paced load at ``rate`` (default: half the end-to-end rate just measured)."""
    assert outcome.e2e_per_s is not None
    rate = rate or outcome.e2e_per_s / 2
    batch = opts.latency_batch
    total = int(min(rate * opts.latency_seconds, RECORD_LIMIT)) // batch * batch
    if total < batch:
        outcome.notes.append("latency: too few messages at half the rate; skipped")
        return
    first_id = probe.max_id()
    already = probe.delivered()
    print(
        f"  latency: {total:,} messages at {rate:,.0f}/s (half the end-to-end rate), "
        f"to_many batches of {batch} every {1000 * batch / rate:.1f} ms ...",
        flush=True,
    )
    posted = Posted()
    poster = Background(
        lambda: post_paced(server.base_url, token, opts.messages, total, rate, batch, posted)
    )
    deadline = time.monotonic() + opts.latency_seconds + STALL_SECONDS
    while True:
        time.sleep(0.5)
        fleet.check()
        if poster.done:
            poster.join()
            if probe.delivered() >= already + total:
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"latency phase: not all delivered; statuses {probe.statuses()}")
    rows = probe.timeline(first_id)
    step = max(1, len(rows) // opts.latency_sample)
    sampled = rows[::step]
    submit_ms, claim_ms, sent_ms = [], [], []
    missing = 0
    for number, created, sending, sent in sampled:
        records = sim.submits_to(number, limit=1)
        if not records:
            missing += 1
            continue
        submit_ms.append(1000 * (float(records[-1]["at"]) - created))
        if sending is not None:
            claim_ms.append(1000 * (sending - created))
        if sent is not None:
            sent_ms.append(1000 * (sent - created))
    if missing:
        outcome.notes.append(f"latency: {missing} sampled messages not found at the SMSC")
    outcome.total_messages += total
    outcome.latency = {
        "rate": rate,
        "batch": batch,
        "messages": total,
        "sampled": len(submit_ms),
        "offered_per_s": posted.accepted
        / max(1e-9, (posted.last_answer or 0) - (posted.first_sent or 0)),
        "accept_to_submit_ms": _percentiles(submit_ms),
        "accept_to_claim_ms": _percentiles(claim_ms),
        "accept_to_sent_stored_ms": _percentiles(sent_ms),
    }
    p = outcome.latency["accept_to_submit_ms"]
    print(
        f"  accept -> submit_sm at the SMSC: p50 {p['p50']:.0f} ms, p95 {p['p95']:.0f} ms, "
        f"p99 {p['p99']:.0f} ms, max {p['max']:.0f} ms ({len(submit_ms):,} sampled)",
        flush=True,
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
    }


# -- the profile ------------------------------------------------------------------------------


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    if not PY_SPY.exists() and shutil.which("py-spy") is None:
        print("  (py-spy is not installed: no profile; install the bench extra)", flush=True)
        return None
    exe = str(PY_SPY) if PY_SPY.exists() else "py-spy"
    print(f"  profiling pid {pid} with py-spy for {seconds:.0f} s ...", flush=True)
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "100",
        "--format",
        "raw",
        "--idle",
        "--nonblocking",
        "--output",
        str(out),
    ]
    log = out.with_suffix(".log")
    with log.open("wb") as stream:
        return subprocess.Popen(cmd, stdout=stream, stderr=subprocess.STDOUT)


def finish_profiler(proc: subprocess.Popen[bytes], out: Path) -> Profile | None:
    try:
        proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.returncode != 0 or not out.exists():
        print(f"  py-spy failed:\n{tail(out.with_suffix('.log'))}", flush=True)
        return None
    return read_profile(out.read_text())


#: Leaf frames that mean the thread was waiting, not running (py-spy --idle keeps them).
IDLE_LEAVES = ("EpollSelector.select (selectors.py)", "select (selectors.py)")
AREAS = (
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("aiosqlite/", "aiosqlite / sqlite3"),
    ("sqlite3/", "aiosqlite / sqlite3"),
    ("jooksms/transports/", "jooksms.transports (SMPP client)"),
    ("jooksms/delivery/", "jooksms.delivery (worker, queue)"),
    ("jooksms/api/", "jooksms.api"),
    ("jooksms/", "jooksms (other)"),
    ("asyncio/", "asyncio event loop"),
    ("uvloop/", "uvloop"),
    ("uvicorn/", "uvicorn / starlette / fastapi"),
    ("starlette/", "uvicorn / starlette / fastapi"),
    ("fastapi/", "uvicorn / starlette / fastapi"),
    ("pydantic", "pydantic"),
)


@dataclass(slots=True)
class Profile:
    samples: int
    idle: int
    #: (function, own share, total share) over all samples (idle ones included).
    functions: list[tuple[str, float, float]]
    #: (area, own share) of the leaf frames, idle excluded.
    areas: list[tuple[str, float]]


def read_profile(raw: str, limit: int = 30) -> Profile | None:
    """From py-spy's collapsed stacks ("frame;frame;... count", --idle): each function's
    own samples (it was the leaf) and total samples (it was on the stack)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    samples = idle = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";")]
        samples += count
        leaf = frames[-1]
        own[leaf] += count
        for name in set(frames):
            total[name] += count
        if leaf in IDLE_LEAVES:
            idle += count
        else:
            areas[_area(leaf)] += count
    if not samples:
        return None
    busy = max(1, samples - idle)
    return Profile(
        samples,
        idle,
        [(name, n / samples, total[name] / samples) for name, n in own.most_common(limit)],
        [(area, n / busy) for area, n in areas.most_common()],
    )


def _area(function: str) -> str:
    where = function.rpartition(" (")[2]
    for marker, area in AREAS:
        if where.startswith(marker) or f"/{marker}" in where:
            return area
    return "other (stdlib, builtins)"


def _function(frame: str) -> str:
    """ "name (path/to/module.py:123)" -> "name (path/to/module.py)"."""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/", "/lib/python3.12/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


# -- Kannel --------------------------------------------------------------------------------


@dataclass(slots=True)
class KannelOptions:
    messages: int
    posters: int
    batch: int
    quiet_wait: float
    #: Seconds a run may take before it is stopped and reported as too slow.
    timeout: float
    deliver_window: int
    #: max-pending-submits: 32 is our connector's window.
    window: int
    #: The SMSC: ours ("simulator") or the Net::SMPP one ("netsmpp").
    smsc: str = "simulator"
    #: Ask for delivery reports (dlr-mask 3) and wait for every one of them.
    receipts: bool = True
    receipt_delay: float = RECEIPT_DELAY


def kannel_setup_name(opts: KannelOptions) -> str:
    name = f"Kannel 1.4.5 (bearerbox + smsbox), max-pending-submits {opts.window}"
    return name + _smsc_label(opts.smsc, opts.receipts)


def _smsc_label(smsc: str, receipts: bool) -> str:
    """What a setup's name adds for an SMSC or a mode other than the default ones."""
    return (", Net::SMPP SMSC" if smsc == "netsmpp" else "") + ("" if receipts else ", no receipts")


def run_kannel(opts: KannelOptions, run_no: int) -> DeliveryReport:
    outcome = DeliveryReport(kannel_setup_name(opts), opts.messages)
    why = kannel.missing()
    if why:
        outcome.error = f"Kannel is not installed: {why}"
        return outcome
    timed(outcome, "Kannel", lambda stack: _run_kannel(opts, run_no, outcome, stack))
    return outcome


def _kannel_smsc(opts: KannelOptions, run_no: int, stack: ExitStack) -> Simulator | NetSmppSmsc:
    tag = f"delivery-kannel-w{opts.window}-{opts.smsc}-r{run_no}"
    if opts.smsc == "netsmpp":
        smsc = netsmpp_smsc(LOGS / f"{tag}-smsc.log", receipt_delay=opts.receipt_delay)
        return stack.enter_context(smsc)
    return stack.enter_context(
        simulator(
            LOGS / f"{tag}-simulator.log",
            "--receipts=requested",
            f"--receipt-delay={opts.receipt_delay}",
            "--failure-rate=0",
            "--record-limit=1000",
            f"--deliver-window={opts.deliver_window}",
            "--stats-interval=10",
            pending_limit=PENDING_LIMIT,
        )
    )


def _run_kannel(
    opts: KannelOptions, run_no: int, outcome: DeliveryReport, stack: ExitStack
) -> None:
    print(f"\n=== {outcome.setup}, run {run_no} ===", flush=True)
    n = opts.messages
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jooksms-kannel-")))
    sim = _kannel_smsc(opts, run_no, stack)
    counter_port, counter = stack.enter_context(kannel.dlr_counter(tmp / "dlr-counter.log"))
    config = kannel.config_for(
        tmp, smsc_port=sim.port, system_id=SYSTEM_ID, password=PASSWORD, window=opts.window
    )
    boxes = stack.enter_context(kannel.running(config))
    fleet = Fleet()
    fleet.add(Proc("SMSC", sim.pid, sim.log, sim.popen))
    for name, proc in boxes.procs.items():
        fleet.add(Proc(name, proc.pid, config.directory / f"{name}.log", proc))
    fleet.add(Proc("DLR counter (bench)", counter.pid, tmp / "dlr-counter.log", counter))
    dlr_url = f"http://127.0.0.1:{counter_port}/dlr?type=%d&to=%p" if opts.receipts else None
    print(
        f"  Kannel: posting {n:,} messages to sendsms, {opts.batch} recipients per request, "
        f"{opts.posters} posters, " + ("dlr-mask 3" if opts.receipts else "no receipts") + " ...",
        flush=True,
    )
    cpu.wait_for_quiet(0.3, opts.quiet_wait)
    before = fleet.cpu_sample()
    started = time.monotonic()
    posted = Posted()
    poster = Background(lambda: _post_kannel(config, opts, dlr_url, posted))
    samples: list[Sample] = []
    last_progress, last_key = time.monotonic(), (-1, -1)
    while True:
        time.sleep(0.1)
        fleet.check()
        stats = sim.stats()
        _check_discards(stats)
        dlrs = kannel.dlr_counts(counter_port)
        reported = sum(dlrs["by_type"].values())
        samples.append(
            Sample(time.time(), int(stats["submits"]), int(stats["receipts_sent"]), reported, {})
        )
        if poster.done and poster.error:
            poster.join()
        if samples[-1].submits >= n and (reported >= n or not opts.receipts):
            break
        key = (samples[-1].submits, reported)
        if key != last_key:
            last_progress, last_key = time.monotonic(), key
        elif time.monotonic() - last_progress > STALL_SECONDS:
            raise RuntimeError(
                f"Kannel: no progress for {STALL_SECONDS:.0f} s: SMSC saw "
                f"{samples[-1].submits:,} submits, {reported:,} DLRs came back\n"
                + kannel.logs(config)
            )
        if time.monotonic() - started > opts.timeout:
            raise RuntimeError(_kannel_slow(opts, samples, fleet, before))
    after = fleet.cpu_sample()
    poster.join()
    assert posted.first_sent is not None and posted.last_answer is not None
    dlrs = kannel.dlr_counts(counter_port)
    outcome.accepted_per_s = posted.accepted / (posted.last_answer - posted.first_sent)
    last = float(dlrs["last"]) if opts.receipts else _nth_submit_at(sim, samples, n)
    outcome.e2e_seconds = last - posted.first_sent
    outcome.e2e_per_s = n / outcome.e2e_seconds
    outcome.smsc_submit_per_s = _submit_rate(samples, n)
    outcome.cpu = cpu_used(before, after)
    outcome.cpu_ms_per_message = cpu_ms_per_message(before, after, n)
    outcome.statuses = {f"DLR type {k}": v for k, v in dlrs["by_type"].items()}
    if posted.rejected:
        outcome.notes.append(f"{posted.rejected:,} recipients refused by sendsms")
    print(
        f"  accepted {posted.accepted:,} at {outcome.accepted_per_s:,.0f}/s; "
        + ("every DLR back " if opts.receipts else "every submit_sm at the SMSC ")
        + f"{outcome.e2e_seconds:.1f} s after the first request: {outcome.e2e_per_s:,.0f}/s "
        f"end to end; SMSC saw {outcome.smsc_submit_per_s or 0:,.0f} submit_sm/s",
        flush=True,
    )


def _nth_submit_at(sim: Simulator | NetSmppSmsc, samples: list[Sample], n: int) -> float:
    """When the SMSC saw its N-th submit_sm: the Net::SMPP SMSC says (its stats line
    at every 1,000th); for ours, the first sample that saw it, less half a period."""
    if isinstance(sim, NetSmppSmsc) and (at := sim.submits_seen_at(n)) is not None:
        return at
    first = next(s for s in samples if s.submits >= n)
    return first.at - 0.05


def _kannel_slow(
    opts: KannelOptions, samples: list[Sample], fleet: Fleet, before: dict[str, float]
) -> str:
    """Why a Kannel run was stopped at its time limit, with the rates of its last 20 s."""
    last, earlier = samples[-1], samples[max(0, len(samples) - 41)]
    span = max(1e-9, last.at - earlier.at)
    reported = last.delivered or 0
    used = cpu_used(before, fleet.cpu_sample())
    return (
        f"Kannel did not finish within {opts.timeout:.0f} s: the SMSC saw {last.submits:,} "
        f"submit_sm and sent {last.receipts:,} receipts, {reported:,} delivery reports came "
        f"back; in the last {span:.0f} s: {(last.submits - earlier.submits) / span:,.0f} "
        f"submit_sm/s, {(reported - (earlier.delivered or 0)) / span:,.0f} reports/s; "
        f"bearerbox {used.get('bearerbox', 0):.2f} cores, smsbox {used.get('smsbox', 0):.2f} "
        "cores since the start. (With dlr-storage = internal, Kannel keeps the reports it "
        "waits for in a list that each receipt searches: once submits outrun receipts, "
        "tens of thousands pile up and bearerbox spends its core searching.)"
    )


async def _post_kannel(
    config: kannel.KannelConfig, opts: KannelOptions, dlr_url: str | None, posted: Posted
) -> None:
    starts = iter(range(0, opts.messages, opts.batch))

    async def loop(client: httpx.AsyncClient) -> None:
        for start in starts:
            count = min(opts.batch, opts.messages - start)
            params: dict[str, str | int] = {
                "from": FROM_NUMBER.removeprefix("+"),
                "to": " ".join(destination(i)[1:] for i in range(start, start + count)),
                "text": TEXT,
            }
            if dlr_url is not None:
                params |= {"dlr-mask": 3, "dlr-url": dlr_url}
            url = config.sendsms_url(params)
            posted.first_sent = posted.first_sent or time.time()
            response = await client.get(url)
            posted.requests += 1
            if response.status_code not in (200, 202):
                raise RuntimeError(f"sendsms answered {response.status_code}: {response.text}")
            posted.accepted += count
            posted.last_answer = time.time()

    limits = httpx.Limits(max_connections=opts.posters, max_keepalive_connections=opts.posters)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(loop(client) for _ in range(opts.posters)))


# -- output -------------------------------------------------------------------------------------


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))


def print_report(outcomes: list[DeliveryReport]) -> None:
    setups = list(dict.fromkeys(o.setup for o in outcomes))
    print("\n=== End to end (median (min-max) over runs) ===")
    rows: list[tuple[str, ...]] = [
        (
            "setup",
            "runs",
            "messages",
            "accepted/s",
            "end-to-end msg/s",
            "SMSC submit_sm/s",
            "vs target",
        )
    ]
    for setup in setups:
        group = [o for o in outcomes if o.setup == setup and o.error is None]
        failed = [o for o in outcomes if o.setup == setup and o.error is not None]
        e2e = [o.e2e_per_s for o in group if o.e2e_per_s]
        verdict = ""
        if "PostgreSQL, API + 1 worker" in setup and e2e:
            verdict = f">= {TARGET_E2E:,.0f}: " + (
                "met" if statistics.median(e2e) >= TARGET_E2E else "MISSED"
            )
        rows.append(
            (
                setup,
                f"{len(group)}" + (f" (+{len(failed)} failed)" if failed else ""),
                f"{outcomes[0].messages if not group else group[0].messages:,}",
                _spread([o.accepted_per_s for o in group if o.accepted_per_s]),
                _spread(e2e),
                _spread([o.smsc_submit_per_s for o in group if o.smsc_submit_per_s]),
                verdict,
            )
        )
    table(rows)
    _print_kannel_ratio(outcomes, setups)
    _print_latency(outcomes, setups)
    _print_cpu(outcomes, setups)
    _print_rss(outcomes, setups)
    for o in outcomes:
        if o.error:
            print(f"\nFAILED run of {o.setup}: {o.error}")
        for note in o.notes:
            print(f"note ({o.setup}): {note}")
    for o in outcomes:
        if o.profile:
            _print_profile(o)


def _median_e2e(outcomes: list[DeliveryReport], setup: str) -> float | None:
    values = [o.e2e_per_s for o in outcomes if o.setup == setup and o.e2e_per_s and not o.error]
    return statistics.median(values) if values else None


def _print_kannel_ratio(outcomes: list[DeliveryReport], setups: list[str]) -> None:
    for kannel_setup in (s for s in setups if s.startswith("Kannel")):
        reference = _median_e2e(outcomes, kannel_setup)
        if not reference:
            continue
        print(f"\nAs a multiple of {kannel_setup} ({reference:,.0f} msg/s end to end):")
        for setup in setups:
            ours = _median_e2e(outcomes, setup)
            if ours and not setup.startswith("Kannel"):
                print(f"  {setup}: {ours / reference:.2f} x")


def _print_latency(outcomes: list[DeliveryReport], setups: list[str]) -> None:
    rows: list[tuple[str, ...]] = [
        (
            "setup",
            "offered msg/s",
            "batch",
            "accept->submit_sm p50 / p95 / p99 / max (ms)",
            "accept->claim p50 / p99",
            "p99 < 200 ms",
        )
    ]
    for setup in setups:
        for o in outcomes:
            lat = o.latency
            if o.setup != setup or not lat or not lat.get("accept_to_submit_ms"):
                continue
            p = lat["accept_to_submit_ms"]
            claim = lat["accept_to_claim_ms"]
            rows.append(
                (
                    setup,
                    f"{lat['rate']:,.0f}",
                    str(lat["batch"]),
                    f"{p['p50']:.0f} / {p['p95']:.0f} / {p['p99']:.0f} / {p['max']:.0f}",
                    f"{claim['p50']:.0f} / {claim['p99']:.0f}" if claim else "-",
                    "met" if p["p99"] < TARGET_P99_MS else "MISSED",
                )
            )
    if len(rows) > 1:
        print("\n=== Latency at half the measured end-to-end rate (one row per run) ===")
        table(rows)


def _print_cpu(outcomes: list[DeliveryReport], setups: list[str]) -> None:
    print(
        "\n=== CPU during the throughput phase: cores, and CPU ms per message "
        "(median over runs) ==="
    )
    for setup in setups:
        group = [o for o in outcomes if o.setup == setup and o.cpu]
        if not group:
            continue
        names = list(dict.fromkeys(k for o in group for k in o.cpu))
        parts = []
        for name in names:
            cores = statistics.median(o.cpu.get(name, 0.0) for o in group)
            per = [o.cpu_ms_per_message[name] for o in group if name in o.cpu_ms_per_message]
            parts.append(
                f"{name} {cores:.2f}" + (f" ({statistics.median(per):.3f} ms/msg)" if per else "")
            )
        print(f"  {setup}:\n    " + ", ".join(parts))
        _print_serial_bound(group)
        _print_db_stats(group)


def _print_serial_bound(group: list[DeliveryReport]) -> None:
    """If the delivering process and the database took turns (never overlapped), the
    rate could not pass 1 / (their CPU per message added up). A measured rate close to
    that bound says they do take turns."""
    bounds = []
    for o in group:
        per = o.cpu_ms_per_message
        workers = [v for k, v in per.items() if k.startswith(("worker", "serve (API + "))]
        # One delivering process only: two workers overlap each other by design.
        if len(workers) != 1 or "postgres" not in per or not o.e2e_per_s:
            continue
        serial_ms = workers[0] + per["postgres"]
        bounds.append((1000 / serial_ms, o.e2e_per_s))
    if bounds:
        bound = statistics.median(b for b, _ in bounds)
        measured = statistics.median(m for _, m in bounds)
        print(
            f"    worker(s) + PostgreSQL CPU per message added up: {1000 / bound:.3f} ms, "
            f"so taking turns they could reach {bound:,.0f} msg/s; measured {measured:,.0f}"
        )


def _print_db_stats(group: list[DeliveryReport]) -> None:
    rows = [o for o in group if o.db_stats and o.total_messages]
    if not rows:
        return
    o = rows[0]
    per = {k: v / o.total_messages for k, v in o.db_stats.items()}
    print(
        f"    PostgreSQL, whole run ({o.total_messages:,} messages): "
        f"{1000 * per['xact_commit']:.1f} commits per 1,000 messages; per message "
        f"{per['tup_inserted']:.2f} rows inserted, {per['tup_updated']:.2f} updated, "
        f"{per['tup_fetched']:.1f} fetched"
    )


def _print_rss(outcomes: list[DeliveryReport], setups: list[str]) -> None:
    print("\n=== RSS of the delivering process(es), MiB: start / middle / end (max), per run ===")
    for setup in setups:
        for o in outcomes:
            if o.setup != setup or not o.rss_mib:
                continue
            parts = [
                f"{name}: {r['start']:.0f} / {r['middle']:.0f} / {r['end']:.0f} ({r['max']:.0f})"
                for name, r in o.rss_mib.items()
            ]
            print(f"  {setup}, {o.messages:,} messages: " + "; ".join(parts))
            if o.rss_by_tenth:
                marks = " ".join(f"{m:.0f}" for m in o.rss_by_tenth)
                growth = o.rss_by_tenth[-1] - o.rss_by_tenth[2]
                print(
                    f"    at 0, 10, ... 100 % of the submits: {marks} (from 20 %: {growth:+.0f} MiB)"
                )


def _print_profile(o: DeliveryReport) -> None:
    prof = o.profile
    if prof is None:
        return
    print(
        f"\n=== Profile of the delivering process ({o.setup}): py-spy, 100 Hz, "
        f"{prof.samples:,} samples ==="
    )
    print(
        f"waiting in epoll (idle): {100 * prof.idle / prof.samples:.0f} % of the samples; "
        f"running: {100 * (1 - prof.idle / prof.samples):.0f} %"
    )
    rows: list[tuple[str, ...]] = [("own %", "total %", "function (module), by own time")]
    for name, own, total in prof.functions[:15]:
        rows.append((f"{100 * own:5.1f}", f"{100 * total:5.1f}", name))
    table(rows)
    print("\nRunning time by area (the leaf frame's package), idle excluded:")
    for area, share in prof.areas:
        print(f"  {100 * share:5.1f} %  {area}")
    if o.gc:
        seconds, runs = o.gc["seconds"], o.gc["collections"]
        cpu_total = o.gc["process_cpu_seconds"]
        print(
            f"\nGarbage collector of the worker, its whole life (gc.callbacks): "
            f"{sum(seconds):.1f} s of its {cpu_total:.1f} CPU seconds "
            f"({100 * sum(seconds) / max(cpu_total, 1e-9):.0f} %); collections by "
            f"generation {runs[0]:,} / {runs[1]:,} / {runs[2]:,}, seconds "
            f"{seconds[0]:.2f} / {seconds[1]:.2f} / {seconds[2]:.2f}"
        )


def write_json(name: str, key: str, items: list[Any], argv: list[str]) -> None:
    """``bench/results/<name>.json``: when, how, and the dataclasses ``items``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": argv,
        "cpus": os.cpu_count(),
        key: [asdict(item) for item in items],
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, default=str))
    print(f"\nwrote {path.relative_to(ROOT)}")


# -- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--workers", type=int, default=1, help="jooksms worker processes (postgres)"
    )
    parser.add_argument(
        "--messages", type=int, help=f"default {DEFAULT_MESSAGES:,}; {ALL_MESSAGES:,} with --all"
    )
    parser.add_argument("--kannel", action="store_true", help="measure Kannel on the same SMSC")
    parser.add_argument(
        "--all", action="store_true", help="SQLite, PostgreSQL 1 and 2 workers, Kannel"
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs of each setup (default 1; 2 with --all)"
    )
    parser.add_argument("--posters", type=int, default=4, help="concurrent to_many posters")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--latency-batch", type=int, default=10, help="to_many size, paced phase")
    parser.add_argument("--latency-sample", type=int, default=2_000, help="messages looked up")
    parser.add_argument("--profile", action="store_true", help="py-spy on the (first) worker")
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument("--kannel-batch", type=int, default=100, help="recipients per sendsms")
    parser.add_argument(
        "--deliver-window",
        type=int,
        default=100,
        help="the simulator's window of unacknowledged deliver_sm (its default: 100)",
    )
    parser.add_argument(
        "--kannel-posters", type=int, default=16, help="concurrent sendsms requests"
    )
    parser.add_argument(
        "--smsc",
        choices=["simulator", "netsmpp"],
        action="append",
        help="the SMSC of every setup, repeatable: ours (default) or the Net::SMPP one "
        "(tests/integration/interop/netsmpp_smsc.pl; no latency phase)",
    )
    parser.add_argument(
        "--receipt-delay",
        type=float,
        default=RECEIPT_DELAY,
        help=f"seconds from a submit_sm_resp to its receipt, either SMSC (default {RECEIPT_DELAY})",
    )
    parser.add_argument(
        "--receipts",
        choices=["yes", "no"],
        action="append",
        help="ask for receipts and wait for every one (default), or not; repeatable",
    )
    parser.add_argument(
        "--kannel-timeout",
        type=float,
        default=300.0,
        help="seconds before a Kannel run is stopped and reported as too slow",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="seconds to wait, before each throughput phase, for other work to calm down",
    )
    parser.add_argument(
        "--kannel-window",
        type=int,
        action="append",
        help="Kannel's max-pending-submits, repeatable (default: 32, as ours, and 256)",
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="a server; its database name is replaced by a throwaway one",
    )
    args = parser.parse_args()
    if not (args.backend or args.kannel or args.all):
        parser.error("give --backend, --kannel or --all")
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    if args.all:
        setups = [("sqlite", 1), ("postgres", 1), ("postgres", 2)]
    elif args.backend:
        setups = [(args.backend, args.workers if args.backend == "postgres" else 1)]
    else:
        setups = []
    if any(b == "postgres" for b, _ in setups) and not postgres_reachable(args.postgres_url):
        if args.all:
            print("PostgreSQL is not reachable: SQLite and Kannel only", flush=True)
            setups = [s for s in setups if s[0] != "postgres"]
        else:
            sys.exit("PostgreSQL is not reachable (give --postgres-url or BENCH_POSTGRES_URL)")
    return setups


def main() -> int:
    args = parse_args()
    messages = args.messages or (ALL_MESSAGES if args.all else DEFAULT_MESSAGES)
    repeat = args.repeat or (2 if args.all else 1)
    setups = plan(args)
    with_kannel = args.all or args.kannel
    print(
        f"JookSMS delivery benchmark: {messages:,} messages per run, {repeat} run(s) per setup; "
        f"SMSC with receipts after {args.receipt_delay} s, our SMPP window {WINDOW}, "
        f"its deliver_sm window {args.deliver_window}. "
        f"{os.cpu_count()} cores, load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        flush=True,
    )
    outcomes: list[DeliveryReport] = []
    jobs: list[Callable[[int], DeliveryReport]] = []
    profiled: list[Options] = []
    smscs, receipts_modes = args.smsc or ["simulator"], args.receipts or ["yes"]
    for (backend, workers), smsc, receipts in itertools.product(setups, smscs, receipts_modes):
        opts = Options(
            backend=backend,
            workers=workers,
            messages=messages,
            posters=args.posters,
            latency=not args.no_latency,
            latency_seconds=args.latency_seconds,
            latency_batch=args.latency_batch,
            latency_sample=args.latency_sample,
            profile=False,
            profile_seconds=args.profile_seconds,
            postgres_url=args.postgres_url,
            quiet_wait=args.quiet_wait,
            deliver_window=args.deliver_window,
            smsc=smsc,
            receipts=receipts == "yes",
            receipt_delay=args.receipt_delay,
        )
        # With --all, one profile: the one-worker PostgreSQL setup's.
        if args.profile and (not args.all or (backend, workers) == ("postgres", 1)):
            profiled.append(replace(opts, profile=True))
        jobs.append(lambda r, o=opts: run_ours(o, r))
    if with_kannel:
        for window, smsc, receipts in itertools.product(
            args.kannel_window or [WINDOW, 256], smscs, receipts_modes
        ):
            kopts = KannelOptions(
                messages,
                args.kannel_posters,
                args.kannel_batch,
                args.quiet_wait,
                args.kannel_timeout,
                args.deliver_window,
                window,
                smsc,
                receipts == "yes",
                args.receipt_delay,
            )
            jobs.append(lambda r, k=kopts: run_kannel(k, r))
    # Every setup once, then again: a noisy minute on the shared machine then hits one
    # run of several setups rather than every run of one.
    for run_no, job in itertools.product(range(1, repeat + 1), jobs):
        outcome = job(run_no)
        print(f"- done in {outcome.run_seconds:.0f} s: {outcome.setup}, run {run_no}", flush=True)
        outcomes.append(outcome)
    # The profile gets a run of its own: py-spy takes CPU on this small machine, so its
    # run's figures are shown apart, not mixed into the medians above.
    for opts in profiled:
        outcome = run_ours(opts, 0)
        outcome.setup += " [py-spy attached]"
        outcomes.append(outcome)
    print_report(outcomes)
    write_json("delivery", "outcomes", outcomes, sys.argv[1:])
    return 1 if any(o.error for o in outcomes) else 0


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so every process and database of the run is cleaned up.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

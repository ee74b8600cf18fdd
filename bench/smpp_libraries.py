"""SMPP client libraries side by side: submit_sm/s against our SMSC simulator.

Usage: ``.venv/bin/python bench/smpp_libraries.py [--messages 20000] [--repeat 2]``

The simulator (``jooksms smsc-sim``) runs as its own process, a fresh one per run. Each
library runs in its own subprocess (``--child LIBRARY``), so a crash or a panic at
interpreter exit is recorded as a finding, not a failure of the bench. Each run sends
``--messages`` submit_sm and ends when every submit_sm_resp is in (and, in the
"receipts" mode, every delivery receipt too), or at ``--time-limit``; the rate is what
was answered divided by the time it took. Every library is used as its documentation
recommends for throughput:

* jooksms ``SmppClient``: ``submit()`` from many tasks, its window (32) bounds what is
  in flight; one write per loop turn.
* smpplib: ``send_message()`` from the main thread, ``listen()`` in a thread (its
  README); it has no window, so a semaphore of the same size stands in for one.
* aiosmpplib: messages go into its broker queue, the ESME sends them; results come
  back through a hook. It has no window either.
* smpp34: ``Client(window_size=32)``, ``await smsc.submit_sm()`` from many tasks,
  receipts pulled with ``await smsc.next()``.

Also measured: the simulator's own ceiling (tests/smsc/throughput.py, a lean client),
so that it is known not to be what bounds the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cpu
from servers import BENCH, ROOT
from smsc_process import PASSWORD, SYSTEM_ID, simulator

RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"

WINDOW = 32
SOURCE = "50760001111"
TEXT = "A benchmark message of about sixty octets, like a real one."
MODES = ("no receipts", "receipts")

LIBRARIES: dict[str, str] = {
    "jooksms": "jooksms SmppClient (asyncio)",
    "jooksms-uvloop": "jooksms SmppClient (uvloop)",
    "smpplib": "smpplib 2.2.4",
    "smpplib-nodelay": "smpplib 2.2.4 + TCP_NODELAY",
    "aiosmpplib": "aiosmpplib 0.7.4",
    "smpp34": "smpp34 1.5.0",
}
NOTES: dict[str, str] = {
    "jooksms": "asyncio; window 32; receipts parsed (text and TLVs); UDH split/reassembly",
    "jooksms-uvloop": "the same client on uvloop (jooksms serve runs uvloop)",
    "smpplib": "threads, sync socket; no window (semaphore of 32 added); receipts raw PDUs "
    "(receipted_message_id attribute), no text parsing; UDH splitting (gsm.make_parts); "
    "its socket keeps Nagle on, so with receipts to acknowledge while submitting, small "
    "writes wait for delayed ACKs",
    "smpplib-nodelay": "the same with TCP_NODELAY set on its socket by us (not a library "
    "option): shows what the Nagle stalls cost",
    "aiosmpplib": "asyncio; broker queue, no window (semaphore of 32 added: without one, "
    "20,000 queued at once make its correlator time out most answers); receipts parsed "
    "(parse_receipt); SAR/UDH segmentation. CPU-bound: its SimpleCorrelator scans every "
    "receipt correlation it holds on each answer (_remove_expired, ~97 % of its CPU in a "
    "py-spy profile), so it slows down as unreceipted messages pile up: fast while "
    "receipts come back at once, slow without them (as with real, late receipts)",
    "smpp34": "Rust/tokio core, asyncio API; window_size 32; receipts raw deliver_sm "
    "(auto-acked), no parsing, no splitting. With receipts flowing and 128 tasks "
    "submitting, the session wedges after ~3,000 messages: it stops acknowledging "
    "deliver_sm and every later submit_sm fails locally with ESME_RSYSERR (the SMSC never "
    "sees it); with as many tasks as its window it runs, at ~800/s (~40 ms per round "
    "trip: the Nagle/delayed-ACK signature). Said to panic at interpreter exit: a run where "
    "it crashes at exit shows 'exited with signal N' in the notes (seen: 6, 11).",
}


def destination(i: int) -> str:
    return f"5076{i:07d}"


# -- the child: one library, one run -----------------------------------------------------


@dataclass(slots=True)
class Counts:
    """What one run saw; the child prints it as JSON."""

    sent: int = 0
    answered: int = 0
    refused: int = 0
    receipts: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    timed_out: bool = False
    error: str | None = None
    #: Exceptions a submit raised, by repr, counted (the library's own errors).
    raised: dict[str, int] = field(default_factory=dict)

    def count_raised(self, exc: Exception) -> None:
        key = f"{type(exc).__name__}: {exc}"
        self.raised[key] = self.raised.get(key, 0) + 1

    def finished(self, total: int, receipts: bool) -> bool:
        done = self.answered >= total
        return done and (not receipts or self.receipts >= total - self.refused)


class Clock:
    """Wall and CPU time (every thread of this process) of the measured part."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self, counts: Counts) -> None:
        counts.seconds = time.perf_counter() - self.wall
        counts.cpu_seconds = time.process_time() - self.cpu


async def _pump(total: int, tasks: int, send_one: Callable[[int], Awaitable[None]]) -> None:
    """``tasks`` coroutines, each sending the next message as soon as its last one is
    answered: the library's window, not this loop, bounds what is in flight."""
    numbers = iter(range(total))

    async def worker() -> None:
        for i in numbers:
            await send_one(i)

    await asyncio.gather(*(worker() for _ in range(tasks)))


async def _until(
    counts: Counts, total: int, receipts: bool, limit: float, work: Awaitable[None]
) -> None:
    """Run ``work`` and wait for the receipts, up to ``limit`` seconds."""
    task = asyncio.ensure_future(work)
    deadline = time.perf_counter() + limit
    try:
        await asyncio.wait_for(asyncio.shield(task), limit)
        while not counts.finished(total, receipts):
            if time.perf_counter() > deadline:
                raise TimeoutError
            await asyncio.sleep(0.001)
    except TimeoutError:
        counts.timed_out = True
        task.cancel()


async def run_jooksms(port: int, total: int, receipts: bool, limit: float) -> Counts:
    from jooksms.transports.base import IncomingSms, OutgoingSms
    from jooksms.transports.smpp.client import Receipt, SmppClient, SmppConfig

    counts = Counts()

    async def on_receipt(receipt: Receipt) -> None:
        counts.receipts += 1

    async def on_incoming(sms: IncomingSms) -> None:
        pass

    url = (
        f"smpp://{SYSTEM_ID}:{PASSWORD}@127.0.0.1:{port}"
        f"?window={WINDOW}&registered_delivery={'true' if receipts else 'false'}"
    )
    client = SmppClient(SmppConfig.from_url(url), on_receipt=on_receipt, on_incoming=on_incoming)
    await client.start()

    async def send_one(i: int) -> None:
        counts.sent += 1
        result = await client.submit(OutgoingSms(i, "+" + SOURCE, "+" + destination(i), TEXT))
        counts.answered += 1
        counts.refused += not result.ok

    clock = Clock()
    await _until(counts, total, receipts, limit, _pump(total, 4 * WINDOW, send_one))
    clock.stop(counts)
    await client.stop(5)
    return counts


async def run_smpp34(port: int, total: int, receipts: bool, limit: float) -> Counts:
    import smpp34

    counts = Counts()
    client = smpp34.Client(
        "127.0.0.1", port, SYSTEM_ID, PASSWORD, bind_type="TRX", window_size=WINDOW
    )
    smsc = await client.connect()
    text = TEXT.encode()

    async def read_receipts() -> None:
        try:
            while True:
                event = await smsc.next()
                if isinstance(event, smpp34.Disconnected):
                    return
                if isinstance(event, smpp34.DeliverSmEvent) and event.esm_class & 0x04:
                    counts.receipts += 1
        except Exception as exc:
            counts.error = f"receipt reader: {type(exc).__name__}: {exc}"
            raise

    reader = asyncio.create_task(read_receipts())

    async def send_one(i: int) -> None:
        counts.sent += 1
        try:
            resp = await smsc.submit_sm(
                destination(i),
                text,
                source_addr=SOURCE,
                source_addr_ton=1,
                source_addr_npi=1,
                dest_addr_ton=1,
                dest_addr_npi=1,
                registered_delivery=1 if receipts else 0,
            )
        except smpp34.SmppError as exc:
            counts.count_raised(exc)
            counts.answered += 1
            counts.refused += 1
            return
        counts.answered += 1
        counts.refused += not resp.is_success

    clock = Clock()
    await _until(counts, total, receipts, limit, _pump(total, 4 * WINDOW, send_one))
    clock.stop(counts)
    reader.cancel()
    try:
        await asyncio.wait_for(smsc.unbind(), 5)
        await asyncio.wait_for(client.stop(), 5)
    except Exception as exc:  # a finding to report, not a reason to lose the figure
        counts.error = f"at unbind/stop: {type(exc).__name__}: {exc}"
    return counts


async def run_aiosmpplib(port: int, total: int, receipts: bool, limit: float) -> Counts:
    import aiosmpplib
    from aiosmpplib import (
        ESME,
        AbstractHook,
        DeliverSm,
        PhoneNumber,
        SmppCommandStatus,
        SubmitSm,
        SubmitSmResp,
    )
    from aiosmpplib.broker import SimpleBroker

    counts = Counts()
    # No window of its own: everything enqueued goes out at once, and with a backlog of
    # thousands its correlator times the answers out before it reads them. A semaphore
    # of our window's size, released by the hook, bounds what is in flight.
    window = asyncio.Semaphore(WINDOW)

    class Hook(AbstractHook):
        async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
            pass

        async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
            if isinstance(smpp_message, SubmitSmResp):
                counts.answered += 1
                window.release()
                if smpp_message.command_status != SmppCommandStatus.ESME_ROK:
                    counts.refused += 1
                    counts.count_raised(RuntimeError(smpp_message.command_status.name))
            elif isinstance(smpp_message, DeliverSm) and smpp_message.is_receipt():
                smpp_message.parse_receipt()
                counts.receipts += 1

        async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
            counts.answered += 1
            counts.refused += 1
            counts.count_raised(error)
            window.release()

    esme = ESME(
        smsc_host="127.0.0.1",
        smsc_port=port,
        system_id=SYSTEM_ID,
        password=PASSWORD,
        log_level=aiosmpplib.log.WARNING,
        hook=Hook(),
        broker=SimpleBroker(maxsize=total + 1),
    )
    starter = asyncio.create_task(esme.start())
    while esme.session_state != esme.bind_mode.session_state:
        if starter.done():
            starter.result()
            raise RuntimeError("aiosmpplib stopped before binding")
        await asyncio.sleep(0.01)
    source = PhoneNumber(SOURCE, aiosmpplib.TON.INTERNATIONAL, aiosmpplib.NPI.ISDN)

    async def enqueue() -> None:
        for i in range(total):
            await window.acquire()
            message = SubmitSm(
                short_message=TEXT,
                source=source,
                destination=PhoneNumber(
                    destination(i), aiosmpplib.TON.INTERNATIONAL, aiosmpplib.NPI.ISDN
                ),
                registered_delivery=1 if receipts else 0,
                log_id=str(i),
            )
            await esme.broker.enqueue(message)
            counts.sent += 1

    async def all_answered() -> None:
        await enqueue()
        while counts.answered < total:
            await asyncio.sleep(0.001)

    clock = Clock()
    await _until(counts, total, receipts, limit, all_answered())
    clock.stop(counts)
    try:
        await asyncio.wait_for(esme.stop(), 10)
        starter.cancel()
        await asyncio.gather(starter, return_exceptions=True)
    except Exception as exc:  # a finding to report, not a reason to lose the figure
        counts.error = f"at stop: {type(exc).__name__}: {exc!r}"
    return counts


def run_smpplib(
    port: int, total: int, receipts: bool, limit: float, *, nodelay: bool = False
) -> Counts:
    import smpplib.client
    import smpplib.consts
    import smpplib.exceptions

    counts = Counts()
    window = threading.BoundedSemaphore(WINDOW)
    lock = threading.Lock()
    done = threading.Event()

    def check_done() -> None:
        if counts.finished(total, receipts):
            done.set()

    def on_sent(pdu: Any, **_: Any) -> None:
        with lock:
            counts.answered += 1
            counts.refused += pdu.status != 0
        window.release()
        check_done()

    def on_received(pdu: Any, **_: Any) -> None:
        if pdu.command == "deliver_sm" and pdu.esm_class & 0x04:
            with lock:
                counts.receipts += 1
            check_done()

    client = smpplib.client.Client("127.0.0.1", port, timeout=30, allow_unknown_opt_params=True)
    client.set_message_sent_handler(on_sent)
    client.set_message_received_handler(on_received)
    client.connect()
    if nodelay:
        client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)

    def listen() -> None:
        try:
            client.listen()
        except (smpplib.exceptions.ConnectionError, OSError):
            pass  # the socket closed at the end of the run
        except Exception as exc:
            counts.error = f"listener thread: {type(exc).__name__}: {exc}"
            done.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    text = TEXT.encode()
    clock = Clock()
    deadline = time.perf_counter() + limit
    for i in range(total):
        if not window.acquire(timeout=max(0.0, deadline - time.perf_counter())):
            break
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_INTL,
            source_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            source_addr=SOURCE,
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr=destination(i),
            short_message=text,
            registered_delivery=1 if receipts else 0,
        )
        counts.sent += 1
    done.wait(max(0.0, deadline - time.perf_counter()))
    counts.timed_out = not done.is_set()
    clock.stop(counts)
    # The listener thread is blocked in recv(): closing the socket ends it. An unbind
    # from this thread would race it for the unbind_resp.
    client.disconnect()
    return counts


def child(args: argparse.Namespace) -> None:
    library, port, total = args.child, args.port, args.messages
    receipts, limit = args.mode == "receipts", args.time_limit
    runners: dict[str, Callable[[], Counts]] = {
        "jooksms": lambda: asyncio.run(run_jooksms(port, total, receipts, limit)),
        "jooksms-uvloop": lambda: _uvloop_run(run_jooksms(port, total, receipts, limit)),
        "smpp34": lambda: asyncio.run(run_smpp34(port, total, receipts, limit)),
        "aiosmpplib": lambda: asyncio.run(run_aiosmpplib(port, total, receipts, limit)),
        "smpplib": lambda: run_smpplib(port, total, receipts, limit),
        "smpplib-nodelay": lambda: run_smpplib(port, total, receipts, limit, nodelay=True),
    }
    counts = runners[library]()
    print("RESULT " + json.dumps(asdict(counts)), flush=True)


def _uvloop_run(coro: Awaitable[Counts]) -> Counts:
    import uvloop

    async def wrapped() -> Counts:
        return await coro

    return uvloop.run(wrapped())


# -- the parent: the simulator, the runs, the table ---------------------------------------


@dataclass(slots=True)
class Run:
    library: str
    mode: str
    counts: Counts | None
    exit_code: int
    usage: cpu.Usage
    simulator_submits: int
    stderr_tail: str
    findings: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        """submit_sm answered OK per second: a submit that failed is no throughput."""
        counts = self.counts
        if counts is None or counts.seconds <= 0 or counts.answered <= counts.refused:
            return None
        return (counts.answered - counts.refused) / counts.seconds

    @property
    def client_cores(self) -> float | None:
        if self.counts is None or self.counts.seconds <= 0:
            return None
        return self.counts.cpu_seconds / self.counts.seconds


_PANIC = re.compile(r"panicked|PanicException|fatal runtime error|Segmentation fault", re.I)


def run_one(library: str, mode: str, args: argparse.Namespace) -> Run:
    """A fresh simulator, one child process running one library."""
    log = LOGS / f"smpp-{library}-{mode.replace(' ', '-')}-simulator.log"
    receipts_option = "--receipts=requested" if mode == "receipts" else "--receipts=never"
    options = (receipts_option, "--receipt-delay=0", "--stats-interval=0", "--record-limit=1000")
    with simulator(log, *options) as sim:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            library,
            "--port",
            str(sim.port),
            "--messages",
            str(args.messages),
            "--mode",
            mode,
            "--time-limit",
            str(args.time_limit),
        ]
        cpu.wait_for_quiet(0.3, args.quiet_wait)
        before = cpu.sample(sim.pid, None)
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=args.time_limit + 90,
                cwd=ROOT,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            exit_code, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            exit_code = -999
            stdout = _text(exc.stdout)
            stderr = _text(exc.stderr) + "\n(killed: the child did not finish in time)"
        usage = cpu.usage(before, cpu.sample(sim.pid, None))
        submits = int(sim.stats()["submits"])
    counts = _parse(stdout)
    run = Run(library, mode, counts, exit_code, usage, submits, _last_lines(stderr, 6))
    _findings(run, args.messages, sim_log=log)
    return run


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _parse(stdout: str) -> Counts | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return Counts(**json.loads(line[len("RESULT ") :]))
    return None


def _last_lines(text: str, n: int) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _findings(run: Run, total: int, sim_log: Path) -> None:
    counts = run.counts
    if counts is None:
        run.findings.append(f"no result (exit {run.exit_code}): {run.stderr_tail or '?'}")
        return
    if counts.error:
        run.findings.append(counts.error)
    if counts.timed_out:
        run.findings.append(f"stopped at the time limit after {counts.answered:,} answers")
    if counts.refused:
        run.findings.append(f"{counts.refused:,} submits refused or failed")
    for what, n in counts.raised.items():
        run.findings.append(f"submit raised {what} x{n:,}")
    if run.simulator_submits != counts.answered and not counts.timed_out:
        run.findings.append(f"the SMSC counted {run.simulator_submits:,} submit_sm")
    if run.exit_code != 0:
        how = f"signal {-run.exit_code}" if run.exit_code < 0 else f"status {run.exit_code}"
        panic = " (a panic)" if _PANIC.search(run.stderr_tail) else ""
        run.findings.append(f"the process exited with {how}{panic} after printing its result")
    elif _PANIC.search(run.stderr_tail):
        run.findings.append("a panic on stderr, exit status 0")


# -- the simulator's ceiling ------------------------------------------------------------

_CEILING = re.compile(r"([\d,]+)/s")


def simulator_ceiling(submits: int, receipts: bool) -> float | None:
    """tests/smsc/throughput.py: a lean client (pre-encoded PDUs) with window 64."""
    cmd = [sys.executable, "-m", "tests.smsc.throughput", "--submits", str(submits)]
    if receipts:
        cmd.append("--receipts")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    match = _CEILING.search(done.stdout)
    if done.returncode != 0 or match is None:
        print(f"  the simulator ceiling run failed:\n{done.stdout}{done.stderr}", flush=True)
        return None
    print(f"  {done.stdout.strip()}", flush=True)
    return float(match[1].replace(",", ""))


# -- output ------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.0f}"
    return f"{med:,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def print_table(runs: list[Run], ceiling: dict[str, list[float]]) -> None:
    rows = [
        (
            "library",
            "mode",
            "submit/s median (min-max)",
            "client CPU",
            "SMSC CPU",
            "others",
            "notes",
        )
    ]
    for library in LIBRARIES:
        for mode in MODES:
            group = [r for r in runs if r.library == library and r.mode == mode]
            if not group:
                continue
            rates = [r.rate for r in group if r.rate is not None]
            client = [r.client_cores for r in group if r.client_cores is not None]
            findings = sorted({f for r in group for f in r.findings})
            rows.append(
                (
                    LIBRARIES[library],
                    mode,
                    spread(rates) + f" [{len(rates)}/{len(group)} runs]",
                    f"{statistics.median(client):.2f} cores" if client else "-",
                    f"{statistics.median(r.usage.server for r in group):.2f} cores",
                    f"{statistics.median(r.usage.other for r in group):.2f}",
                    "; ".join(findings) or "ok",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    print()
    for i, row in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        print(" | ".join([*cells, row[-1]]))
        if i == 0:
            print("-+-".join("-" * w for w in widths) + "-+-" + "-" * 20)
    print()
    for mode, values in ceiling.items():
        if values:
            print(
                f"SMSC simulator ceiling, {mode} (tests/smsc/throughput.py, lean client, "
                f"window 64): {spread(values)} submit_sm/s over {len(values)} runs"
            )
    print("\nWhat each library offers:")
    for library, note in NOTES.items():
        print(f"  {LIBRARIES[library]}: {note}")
    print(
        "\nsubmit/s: submit_sm answered OK / seconds from the first send to the last answer "
        "(and, in 'receipts' mode, the last receipt). Client CPU: the library's process, "
        "every thread, over that time. SMSC CPU and 'others' (everything else on this "
        f"{os.cpu_count()}-core machine) over the whole child run, in cores."
    )


def write_json(runs: list[Run], ceiling: dict[str, list[float]], args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "messages": args.messages,
        "window": WINDOW,
        "simulator_ceiling": ceiling,
        "runs": [
            {
                **{k: v for k, v in asdict(r).items() if k != "usage"},
                "usage": asdict(r.usage),
                "rate": r.rate,
            }
            for r in runs
        ],
    }
    path = RESULTS / "smpp-libraries.json"
    path.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {path.relative_to(ROOT)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per library and mode")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per run")
    parser.add_argument(
        "--libraries",
        default=",".join(LIBRARIES),
        help="comma-separated, of: " + ", ".join(LIBRARIES),
    )
    parser.add_argument("--modes", default=",".join(MODES), help="no receipts, receipts")
    parser.add_argument("--ceiling-submits", type=int, default=200_000)
    parser.add_argument("--quiet-wait", type=float, default=10.0)
    parser.add_argument("--child", choices=list(LIBRARIES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="no receipts", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.child:
        child(args)
        return 0
    libraries = [lib.strip() for lib in args.libraries.split(",") if lib.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [x for x in libraries if x not in LIBRARIES] + [m for m in modes if m not in MODES]
    if unknown:
        sys.exit(f"unknown: {', '.join(unknown)}")
    print(
        f"SMPP libraries: {args.messages:,} submit_sm per run, window {WINDOW}, {args.repeat} "
        f"run(s) each, against `jooksms smsc-sim` in its own process (receipt delay 0). "
        f"{os.cpu_count()} cores; load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        flush=True,
    )
    print("- the simulator's ceiling ...", flush=True)
    ceiling = {
        mode: [
            c
            for _ in range(args.repeat)
            if (c := simulator_ceiling(args.ceiling_submits, mode == "receipts"))
        ]
        for mode in MODES
    }
    runs: list[Run] = []
    # Interleaved (every library once, then again) so that a noisy minute on the
    # shared machine does not fall on one library's runs only.
    for repeat, mode, library in itertools.product(range(args.repeat), modes, libraries):
        print(f"- {LIBRARIES[library]}, {mode}, run {repeat + 1} ...", flush=True)
        try:
            run = run_one(library, mode, args)
        except Exception as exc:
            print(f"  the run could not be made: {type(exc).__name__}: {exc}", flush=True)
            continue
        rate = f"{run.rate:,.0f} submit/s" if run.rate else "no figure"
        extra = f" [{'; '.join(run.findings)}]" if run.findings else ""
        print(f"  {rate}{extra}", flush=True)
        runs.append(run)
    print_table(runs, ceiling)
    write_json(runs, ceiling, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

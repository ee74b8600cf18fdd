"""Events benchmark: outbound webhooks under the delivery bench's load, end to end.

Usage::

    .venv/bin/python bench/events.py [--messages 100000] [--workers 1] [--repeat 1]
                                     [--latency-seconds 10] [--profile worker|serve]

The processes of ``bench/delivery.py`` on PostgreSQL (``jooksms smsc-sim``, a
``jooksms serve`` with delivery off, ``jooksms worker``), started by its harness,
plus a webhook receiver of the bench's (``bench/webhook_receiver.py``, its own
process: answers 200, records each event with its time of arrival, checks the
signature of every 10th POST). One webhook of the account, made with ``jooksms
webhook add``, subscribes to ``message.delivered``.

1. **Webhook throughput** (batch mode): N messages (``to_many`` of 1,000 from 4
   posters) until every one is delivered in the database and the receiver has its
   ``message.delivered`` event. Figures: the delivery bench's (accepted/s, end to end
   to the last ``delivered_at``) and end to end to the last event received; events
   received, duplicates, missing (must be 0); CPU per message of every process.
2. **Event latency** (the webhook switched to one event per POST): the delivery
   bench's paced load at half the end-to-end rate just measured; for every message,
   its ``delivered_at`` (the receipt stored) to the POST's arrival at the receiver
   (both this machine's clock): p50/p95/p99/max.

Results also go to ``bench/results/events.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import servers
from httpload import percentile
from pg_activity import Activity
from servers import BENCH, POSTGRES_URL, Server, cli, free_port, postgres_reachable, running
from smsc_process import Simulator

import delivery
from delivery import LOGS, DeliveryReport, Options, OursRun, PostgresProbe, Proc

# The receiver listens on loopback, which webhooks refuse unless this is set (in the
# environment of every process the bench starts: the CLI, serve and the worker).
os.environ["JOOKSMS_WEBHOOKS_ALLOW_PRIVATE"] = "true"

EVENT_TYPE = "message.delivered"
TARGET_E2E = 4_000.0
TARGET_P99_MS = 500.0
#: The dispatcher's fallback poll on PostgreSQL (``DispatcherConfig.poll``): it
#: wakes on NOTIFY, so this is only the floor if a notice is lost.
DISPATCHER_POLL_S = 5.0
#: How the latency phase's webhook takes events (set from --latency-in-batches).
LATENCY_MODE = "one event per POST"
#: The receiver's last event this long ago, and not all in: the run has stalled.
STALL_SECONDS = 60.0

# Diagnosis only (``--experiment``), to tell apart what the events cost: serve and
# the worker with the webhook dispatcher idle (it waits for its stop and does
# nothing), or the event triggers disabled on the throwaway database.
_IDLE_DISPATCHER = (
    "import jooksms.events.webhooks.dispatcher as _d\n"
    "async def _idle(self, stop):\n"
    "    await stop.wait()\n"
    "_d.Dispatcher.run = _idle\n"
)
EXPERIMENTS = ("no-dispatcher", "no-event-triggers", "custom-plans")


@contextlib.contextmanager
def _custom_plans(base_url: str, stats: dict[str, int]) -> Iterator[str]:
    """delivery.throwaway_postgres, whose sessions plan every execution of a prepared
    statement with its parameters and the tables' current sizes (``plan_cache_mode =
    force_custom_plan``), instead of keeping a generic plan made when the young
    database was empty (it has no statistics: autovacuum may be off or not there yet)."""
    with _THROWAWAY(base_url, stats) as url:
        server, name = url.rsplit("/", 1)

        async def alter() -> None:
            conn = await asyncpg.connect(server + "/postgres")
            try:
                await conn.execute(
                    f'ALTER DATABASE "{name}" SET plan_cache_mode = force_custom_plan'
                )
            finally:
                await conn.close()

        asyncio.run(alter())
        yield url


_THROWAWAY = delivery.throwaway_postgres


@dataclass(slots=True)
class EventsReport:
    delivery: DeliveryReport
    #: Phase 1: the events received, and when (batch mode).
    webhook: dict[str, Any] = field(default_factory=dict)
    #: Phase 2: receipt stored -> POST received (one event per POST).
    latency: dict[str, Any] = field(default_factory=dict)
    #: CPU ms per message from the first post until the receiver had every event.
    cpu_ms_per_message: dict[str, float] = field(default_factory=dict)
    receiver: dict[str, Any] = field(default_factory=dict)
    #: pg_stat_activity samples of the throughput phase, by statement (--pg-activity).
    pg_activity: dict[str, Any] = field(default_factory=dict)
    experiments: list[str] = field(default_factory=list)
    error: str | None = None


# -- the receiver -------------------------------------------------------------------------


class Receiver:
    """The receiver process, seen from the bench."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.url = server.base_url + "/hook"
        self._http = httpx.Client(base_url=server.base_url, timeout=60)
        #: Every record fetched so far: (event id, message id, type, received at).
        self.records: list[tuple[int, int | None, str, float]] = []

    def set_secret(self, secret: str) -> None:
        self._http.post("/control/secret", content=secret).raise_for_status()

    def stats(self) -> dict[str, Any]:
        answer = self._http.get("/stats")
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def fetch(self) -> list[tuple[int, int | None, str, float]]:
        """The records that came since the last fetch (all of them are kept too)."""
        answer = self._http.get("/received", params={"after": len(self.records)})
        answer.raise_for_status()
        new = [(int(e), m, str(t), float(at)) for e, m, t, at in answer.json()]
        self.records.extend(new)
        return new

    def close(self) -> None:
        self._http.close()


def start_receiver(stack: ExitStack, tag: str, verify_every: int) -> Receiver:
    port = free_port()
    cmd = [
        sys.executable,
        str(BENCH / "webhook_receiver.py"),
        "--port",
        str(port),
        "--verify-every",
        str(verify_every),
    ]
    server = stack.enter_context(
        running(cmd, port=port, log=LOGS / f"events-{tag}-receiver.log", env={})
    )
    receiver = Receiver(server)
    stack.callback(receiver.close)
    return receiver


def wait_for_events(
    receiver: Receiver, message_ids: set[int], run: OursRun, timeout: float | None = None
) -> dict[int, float]:
    """Until the receiver has a ``message.delivered`` event of every message in
    ``message_ids``; the time each first arrived, by message id."""
    arrived: dict[int, float] = {}
    last_news, deadline = time.monotonic(), None if timeout is None else time.monotonic() + timeout
    while True:
        run.fleet.check()
        new = receiver.fetch()
        for _, message_id, kind, at in new:
            if kind == EVENT_TYPE and message_id in message_ids:
                arrived.setdefault(message_id, at)
        if len(arrived) >= len(message_ids):
            return arrived
        if new:
            last_news = time.monotonic()
        stalled = time.monotonic() - last_news > STALL_SECONDS
        if stalled or (deadline is not None and time.monotonic() > deadline):
            raise RuntimeError(
                f"the receiver has {len(arrived):,} of {len(message_ids):,} delivered events "
                f"(no new event for {time.monotonic() - last_news:.0f} s); "
                f"receiver stats {receiver.stats()}"
            )
        time.sleep(0.25)


# -- the database -------------------------------------------------------------------------


def delivered_at(probe: PostgresProbe, after_id: int, through_id: int) -> dict[int, float]:
    """``delivered_at`` (epoch seconds) of the delivered messages with ids in (after, through]."""
    rows = probe.rows(
        "SELECT id, delivered_at FROM messages WHERE status = 'delivered' "
        f"AND id > {int(after_id)} AND id <= {int(through_id)}"
    )
    return {int(i): delivery.epoch(at) for i, at in rows}


# -- one run ------------------------------------------------------------------------------


def options(args: argparse.Namespace) -> Options:
    return Options(
        backend="postgres",
        workers=args.workers,
        messages=args.messages,
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
    )


def run_events(opts: Options, run_no: int, args: argparse.Namespace) -> EventsReport:
    setup = delivery.setup_name(opts) + (
        ", no webhook" if args.no_webhook else f", a webhook on {EVENT_TYPE}"
    )
    if args.experiment:
        setup += " [" + ", ".join(args.experiment) + "]"
    report = EventsReport(DeliveryReport(setup, opts.messages), experiments=args.experiment)
    tag = f"w{opts.workers}-r{run_no}"
    print(f"\n=== {setup}, run {run_no} ===", flush=True)
    delivery.timed(report.delivery, setup, lambda stack: _run(opts, tag, report, stack, args))
    report.error = report.delivery.error
    return report


def _run(
    opts: Options, tag: str, report: EventsReport, stack: ExitStack, args: argparse.Namespace
) -> None:
    run = delivery.start_ours(opts, f"events-{tag}", report.delivery, stack)
    assert isinstance(run.probe, PostgresProbe)
    if "no-event-triggers" in args.experiment:
        run.probe.rows("ALTER TABLE messages DISABLE TRIGGER messages_events_ai")
        run.probe.rows("ALTER TABLE messages DISABLE TRIGGER messages_events_au")
    receiver, hook = None, None
    if not args.no_webhook:
        receiver = start_receiver(stack, tag, args.verify_every)
        server = receiver.server
        run.fleet.add(Proc("webhook receiver (bench)", server.pid, server.log, server.popen))
        hook = cli(
            run.url,
            *("webhook", "add", "--account", str(run.account), "--url", receiver.url),
            *("--event-type", EVENT_TYPE, "--batch"),
        )
        receiver.set_secret(str(hook["secret"]))
    with ExitStack() as sampling:
        activity = sampling.enter_context(Activity(run.url)) if args.pg_activity else None
        throughput(opts, run, receiver, report, args)
    if activity is not None:
        report.pg_activity = activity.summary()
    assert isinstance(run.sim, Simulator)
    if opts.latency and report.delivery.e2e_per_s:
        if receiver is None or hook is None:
            delivery.latency(
                opts, report.delivery, run.sim, run.fleet, run.probe, run.server, run.token
            )
        else:
            if not args.latency_in_batches:
                _switch_batch(run, int(hook["id"]), batch=False)
            latency(opts, run, receiver, report, args)
    report.delivery.statuses = run.probe.statuses()
    if receiver is not None:
        report.receiver = receiver.stats()


def throughput(
    opts: Options,
    run: OursRun,
    receiver: Receiver | None,
    report: EventsReport,
    args: argparse.Namespace,
) -> None:
    first_id = run.probe.max_id()
    profilers = _profiles(run, opts, args, "throughput")
    before = run.fleet.cpu_sample()
    delivery.throughput(
        opts, report.delivery, run.sim, run.fleet, run.workers, run.probe, run.server, run.token
    )
    last_id = run.probe.max_id()
    if receiver is None:
        report.cpu_ms_per_message = dict(report.delivery.cpu_ms_per_message)
        _finish_profiles(profilers, report)
        return
    print(
        f"  waiting for the receiver to have all {opts.messages:,} {EVENT_TYPE} events ...",
        flush=True,
    )
    assert isinstance(run.probe, PostgresProbe)
    stored = delivered_at(run.probe, first_id, last_id)
    arrived = wait_for_events(receiver, set(stored), run)
    after = run.fleet.cpu_sample()
    first_accept, _, last_delivered = run.probe.span(first_id, last_id)
    last_arrival = max(arrived.values())
    stats = receiver.stats()
    report.cpu_ms_per_message = delivery.cpu_ms_per_message(before, after, opts.messages)
    received = [r for r in receiver.records if r[2] == EVENT_TYPE]
    report.webhook = {
        "messages": opts.messages,
        "events_received": len(received),
        "distinct_messages": len({r[1] for r in received}),
        "duplicates": len(received) - len({r[0] for r in received}),
        "missing": len(set(stored) - set(arrived)),
        "posts": stats["posts"],
        "batch_sizes": stats["batch_sizes"],
        "verified_signatures": stats["verified"],
        "bad_signatures": stats["bad_signatures"],
        "seconds_to_last_event": last_arrival - first_accept,
        "e2e_to_last_event_per_s": opts.messages / (last_arrival - first_accept),
        "last_event_after_last_delivered_s": last_arrival - last_delivered,
        "stored_to_received_ms": _percentiles([1000 * (arrived[m] - stored[m]) for m in arrived]),
    }
    w = report.webhook
    print(
        f"  receiver: {w['events_received']:,} events in {w['posts']:,} POSTs, "
        f"{w['duplicates']} duplicates, {w['missing']} missing; the last "
        f"{w['seconds_to_last_event']:.1f} s after the first accept "
        f"({w['e2e_to_last_event_per_s']:,.0f} msg/s end to end to the webhook), "
        f"{w['last_event_after_last_delivered_s']:.2f} s after the last receipt stored",
        flush=True,
    )
    _finish_profiles(profilers, report)


def _finish_profiles(profilers: list[tuple[Any, Path, str]], report: EventsReport) -> None:
    for profiler, out, target in profilers:
        if profiler is not None:
            profile = delivery.finish_profiler(profiler, out)
            if profile is not None:
                report.webhook.setdefault("profiles", {})[target] = asdict(profile)


def _profiles(
    run: OursRun, opts: Options, args: argparse.Namespace, phase: str
) -> list[tuple[Any, Path, str]]:
    if args.profile_phase != phase:
        return []
    return [
        _profile(run, target, opts.profile_seconds, tag=f"events-{phase}-{target}")
        for target in args.profile
    ]


def _profile(run: OursRun, target: str, seconds: float, tag: str) -> tuple[Any, Path, str]:
    pid = run.server.pid if target == "serve" else run.workers[0].pid
    out = LOGS / f"profile-{tag}.txt"
    return delivery.start_profiler(pid, seconds, out), out, target


def _switch_batch(run: OursRun, webhook_id: int, *, batch: bool) -> None:
    answer = httpx.patch(
        f"{run.server.base_url}/api/v1/webhooks/{webhook_id}",
        json={"batch": batch},
        headers={"Authorization": f"Bearer {run.token}"},
    )
    answer.raise_for_status()


def latency(
    opts: Options,
    run: OursRun,
    receiver: Receiver,
    report: EventsReport,
    args: argparse.Namespace,
) -> None:
    """The delivery bench's paced phase at half the rate (to the last event received,
    or to the last receipt stored if lower), then each message's receipt stored to its
    event's arrival."""
    assert report.delivery.e2e_per_s is not None
    rate = args.latency_rate or (
        min(report.delivery.e2e_per_s, report.webhook["e2e_to_last_event_per_s"]) / 2
    )
    first_id = run.probe.max_id()
    assert isinstance(run.sim, Simulator)
    profilers = _profiles(run, opts, args, "latency")
    delivery.latency(
        opts, report.delivery, run.sim, run.fleet, run.probe, run.server, run.token, rate=rate
    )
    assert isinstance(run.probe, PostgresProbe)
    stored = delivered_at(run.probe, first_id, run.probe.max_id())
    if not stored:
        return
    print(
        f"  waiting for the receiver to have the {len(stored):,} events, one per POST ...",
        flush=True,
    )
    arrived = wait_for_events(receiver, set(stored), run)
    _finish_profiles(profilers, report)
    waits = [1000 * (arrived[m] - stored[m]) for m in stored]
    span = max(arrived.values()) - min(arrived.values())
    report.latency = {
        "rate": rate,
        "messages": len(stored),
        "received_per_s": len(arrived) / span if span > 0 else None,
        "stored_to_received_ms": _percentiles(waits),
        "dispatcher_poll_s": DISPATCHER_POLL_S,
    }
    p = report.latency["stored_to_received_ms"]
    print(
        f"  receipt stored -> webhook POST received: p50 {p['p50']:.0f} ms, p95 {p['p95']:.0f} ms, "
        f"p99 {p['p99']:.0f} ms, max {p['max']:.0f} ms ({len(waits):,} messages)",
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
        "min": min(values),
    }


# -- output --------------------------------------------------------------------------------


def print_report(reports: list[EventsReport]) -> None:
    good = [r for r in reports if r.error is None]
    print("\n=== Webhook throughput (batch mode), one row per run ===")
    rows: list[tuple[str, ...]] = [
        (
            "messages",
            "accepted/s",
            "e2e msg/s (last receipt)",
            "e2e msg/s (last event received)",
            "events / duplicates / missing",
            "POSTs",
            "signatures ok / bad",
            f">= {TARGET_E2E:,.0f}, none missing",
        )
    ]
    for r in good:
        w, d = r.webhook, r.delivery
        if not w:
            print(
                f"{d.setup}: {d.messages:,} messages, accepted {d.accepted_per_s or 0:,.0f}/s, "
                f"end to end {d.e2e_per_s or 0:,.0f}/s (no webhook)"
            )
            continue
        met = w["e2e_to_last_event_per_s"] >= TARGET_E2E and w["missing"] == 0
        rows.append(
            (
                f"{d.messages:,}",
                f"{d.accepted_per_s or 0:,.0f}",
                f"{d.e2e_per_s or 0:,.0f}",
                f"{w['e2e_to_last_event_per_s']:,.0f}",
                f"{w['events_received']:,} / {w['duplicates']} / {w['missing']}",
                f"{w['posts']:,}",
                f"{w['verified_signatures']} / {w['bad_signatures']}",
                "met" if met else "MISSED",
            )
        )
    if len(rows) > 1:
        delivery.table(rows)
    e2e = [r.webhook["e2e_to_last_event_per_s"] for r in good if r.webhook]
    if len(e2e) > 1:
        print(f"median end to end to the last event: {statistics.median(e2e):,.0f} msg/s")
    _print_latency(good)
    _print_cpu(good)
    _print_pg_activity(good)
    _print_profiles(good)
    for r in reports:
        if r.error:
            print(f"\nFAILED run: {r.error}")
        for note in r.delivery.notes:
            print(f"note: {note}")


def _print_latency(reports: list[EventsReport]) -> None:
    rows: list[tuple[str, ...]] = [
        (
            "offered msg/s",
            "messages",
            "receipt stored -> POST received p50 / p95 / p99 / max (ms)",
            "accept -> submit_sm p99",
            f"p99 < {TARGET_P99_MS:.0f} ms",
        )
    ]
    for r in reports:
        lat = r.latency
        if not lat:
            continue
        p = lat["stored_to_received_ms"]
        submit = r.delivery.latency.get("accept_to_submit_ms") or {}
        rows.append(
            (
                f"{lat['rate']:,.0f}",
                f"{lat['messages']:,}",
                f"{p['p50']:.0f} / {p['p95']:.0f} / {p['p99']:.0f} / {p['max']:.0f}",
                f"{submit.get('p99', 0):.0f} ms",
                "met" if p["p99"] < TARGET_P99_MS else "MISSED",
            )
        )
    if len(rows) > 1:
        print(
            f"\n=== Event latency at half load, {LATENCY_MODE} (the dispatcher wakes on "
            f"NOTIFY; {DISPATCHER_POLL_S} s fallback poll) ==="
        )
        delivery.table(rows)


def _print_cpu(reports: list[EventsReport]) -> None:
    print("\n=== CPU ms per message, first post to the last event received (median) ===")
    names = list(dict.fromkeys(k for r in reports for k in r.cpu_ms_per_message))
    parts = [
        f"{n} {statistics.median(r.cpu_ms_per_message.get(n, 0.0) for r in reports):.3f}"
        for n in names
    ]
    print("  " + ", ".join(parts))
    for r in reports:
        if r.delivery.cpu:
            cores = ", ".join(f"{k} {v:.2f}" for k, v in r.delivery.cpu.items())
            print(f"  cores until the last receipt stored: {cores}")


def _print_pg_activity(reports: list[EventsReport]) -> None:
    for r in reports:
        act = r.pg_activity
        if not act:
            continue
        busy = act["active_backend_samples"] * act["period_s"]
        print(
            f"\n=== PostgreSQL backends by statement (pg_stat_activity every "
            f"{1000 * act['period_s']:.1f} ms, {act['samples']:,} samples; {busy:.1f} s of "
            f"backend time active) ==="
        )
        rows: list[tuple[str, ...]] = [("share", "seconds", "mostly", "statement")]
        for st in act["statements"][:15]:
            rows.append(
                (
                    f"{100 * st['share']:5.1f} %",
                    f"{st['seconds']:.1f}",
                    st["mostly"],
                    st["statement"][:110],
                )
            )
        delivery.table(rows)


def _print_profiles(reports: list[EventsReport]) -> None:
    for r in reports:
        for target, prof in r.webhook.get("profiles", {}).items():
            samples, idle = prof["samples"], prof["idle"]
            print(
                f"\n=== py-spy of {target} ({samples:,} samples at 100 Hz): idle "
                f"{100 * idle / max(samples, 1):.0f} % ==="
            )
            rows: list[tuple[str, ...]] = [("own %", "total %", "function (module)")]
            for name, own, total in prof["functions"][:15]:
                rows.append((f"{100 * own:5.1f}", f"{100 * total:5.1f}", name))
            delivery.table(rows)
            print("  by area: " + ", ".join(f"{a} {100 * x:.0f} %" for a, x in prof["areas"][:8]))


# -- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="jooksms worker processes")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--posters", type=int, default=4, help="concurrent to_many posters")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--latency-rate",
        type=float,
        help="msg/s of the latency phase (default: half the end-to-end rate just measured)",
    )
    parser.add_argument("--latency-batch", type=int, default=10, help="to_many size, paced phase")
    parser.add_argument("--latency-sample", type=int, default=2_000)
    parser.add_argument(
        "--latency-in-batches",
        action="store_true",
        help="keep the webhook in batch mode for the latency phase (the mode for "
        "subscribers that take volume; without it, one event per POST)",
    )
    parser.add_argument(
        "--verify-every", type=int, default=10, help="signature checks: every Nth POST"
    )
    parser.add_argument(
        "--profile",
        choices=["worker", "serve"],
        action="append",
        default=[],
        help="py-spy on that process during the throughput phase (repeatable)",
    )
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument(
        "--profile-phase",
        choices=["throughput", "latency"],
        default="throughput",
        help="the phase --profile records (from its start, for --profile-seconds)",
    )
    parser.add_argument("--deliver-window", type=int, default=100)
    parser.add_argument("--quiet-wait", type=float, default=10.0)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument(
        "--no-webhook",
        action="store_true",
        help="no webhook and no receiver: the delivery bench's no-subscriber case",
    )
    parser.add_argument(
        "--pg-activity",
        action="store_true",
        help="sample pg_stat_activity during the throughput phase: PostgreSQL time by statement",
    )
    parser.add_argument(
        "--experiment",
        choices=EXPERIMENTS,
        action="append",
        default=[],
        help="diagnosis: the dispatcher idle in serve and worker, or the event triggers off",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    global LATENCY_MODE
    if args.latency_in_batches:
        LATENCY_MODE = "batches of up to 100 events per POST"
    if "custom-plans" in args.experiment:
        delivery.throwaway_postgres = _custom_plans
    if "no-dispatcher" in args.experiment:
        servers.SERVE_CODE = _IDLE_DISPATCHER + servers.SERVE_CODE
        delivery.WORKER_CODE = _IDLE_DISPATCHER + delivery.WORKER_CODE
    if not postgres_reachable(args.postgres_url):
        sys.exit("PostgreSQL is not reachable (give --postgres-url or BENCH_POSTGRES_URL)")
    opts = options(args)
    print(
        f"JookSMS events benchmark: {opts.messages:,} messages per run, {args.repeat} run(s); "
        f"a webhook on {EVENT_TYPE}, batch mode then one event per POST. "
        f"{os.cpu_count()} cores, load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        flush=True,
    )
    reports = [run_events(opts, n, args) for n in range(1, args.repeat + 1)]
    # The results first: a figure the report cannot print is still kept.
    delivery.write_json("events", "runs", reports, sys.argv[1:])
    print_report(reports)
    return 1 if any(r.error for r in reports) else 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

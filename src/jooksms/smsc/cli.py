"""``jooksms smsc-sim``: run the SMSC simulator until SIGINT or SIGTERM.

Kept apart from the main typer app so that it runs alone as
``python -m jooksms.smsc`` (or ``python -m jooksms.smsc.cli``), and takes plain
``argv`` so the main CLI can hand its arguments over unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import sys
import time
from typing import NoReturn

from jooksms.runtime import loop_factory, settle_gc

from .config import IdFormat, ReceiptPolicy, SimulatorConfig
from .simulator import Simulator

__all__ = ["build_parser", "main"]

log = logging.getLogger("jooksms.smsc")


class _OneLineErrors(argparse.ArgumentParser):
    """A bad option is one line naming it (argparse would print the whole usage
    first), and status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog="jooksms smsc-sim",
        description="An SMPP 3.4 SMSC simulator for development, tests and benchmarks.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _network_options(parser.add_argument_group("network"))
    _message_options(parser.add_argument_group("messages and receipts"))
    _misbehaviour_options(parser.add_argument_group("misbehaviours"))
    _running_options(parser.add_argument_group("running"))
    return parser


def _network_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--host", default="127.0.0.1", help="address to listen on")
    group.add_argument("--port", type=int, default=2775, help="SMPP port (0: any free port)")
    group.add_argument(
        "--http-port", type=int, default=2776, help="port of POST /inject and GET /stats"
    )
    group.add_argument("--no-http", action="store_true", help="serve no HTTP endpoint")
    group.add_argument("--system-id", default="jooksms", help="system_id ESMEs bind with")
    group.add_argument("--password", default="secret", help="their password (8 characters max)")
    group.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="SYSTEM_ID:PASSWORD",
        help="another account allowed to bind (repeatable)",
    )
    group.add_argument("--smsc-id", default="JookSMSC", help="system_id in bind responses")


def _message_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--id-format", choices=[f.value for f in IdFormat], default="hex", help="message ids"
    )
    group.add_argument(
        "--receipts",
        choices=[p.value for p in ReceiptPolicy],
        default="requested",
        help="when to send delivery receipts (requested: as registered_delivery asks)",
    )
    group.add_argument("--receipt-delay", type=float, default=1.0, help="seconds")
    group.add_argument(
        "--failure-rate", type=float, default=0.0, help="share of receipts that say UNDELIV"
    )
    group.add_argument("--failure-error", type=int, default=1, help="err of failed receipts")
    group.add_argument("--seed", type=int, default=None, help="repeat ids and fates exactly")
    group.add_argument(
        "--deliver-window", type=int, default=100, help="unanswered deliver_sm per session"
    )
    group.add_argument(
        "--pending-limit",
        type=int,
        default=100_000,
        metavar="N",
        help="deliver_sm held per account while its ESMEs have no room (oldest dropped past N)",
    )
    group.add_argument(
        "--redeliver-delay",
        type=float,
        default=5.0,
        help="seconds before a deliver_sm answered with a temporary error goes again",
    )
    group.add_argument(
        "--redeliver-attempts",
        type=int,
        default=5,
        metavar="N",
        help="drop a deliver_sm after N temporary errors (permanent errors drop it at once)",
    )
    group.add_argument(
        "--record-limit", type=int, default=100_000, help="submits kept for /submits"
    )


def _misbehaviour_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--throttle", type=float, default=None, metavar="N", help="ESME_RTHROTTLED above N/s"
    )
    group.add_argument(
        "--queue-full-rate", type=float, default=0.0, help="share answered ESME_RMSGQFUL"
    )
    group.add_argument(
        "--drop-after", type=int, default=None, metavar="N", help="close a session after N submits"
    )
    group.add_argument(
        "--response-delay", type=float, default=0.0, help="seconds before each submit_sm_resp"
    )
    group.add_argument(
        "--receipt-first", action="store_true", help="send receipts before the submit_sm_resp"
    )
    group.add_argument("--refuse-binds", action="store_true", help="ESME_RBINDFAIL to all binds")


def _running_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--stats-interval", type=float, default=10.0, help="seconds between stats lines (0: none)"
    )
    group.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    group.add_argument(
        "--loop",
        choices=["auto", "asyncio", "uvloop"],
        default="auto",
        help="event loop (auto: uvloop when installed)",
    )


def config_from(args: argparse.Namespace) -> SimulatorConfig:
    """Raises ValueError for a bad value, with a message naming it."""
    accounts = {args.system_id: args.password}
    for account in args.account:
        system_id, sep, password = account.partition(":")
        if not sep:
            raise ValueError(f"--account {account!r} is not SYSTEM_ID:PASSWORD")
        accounts[system_id] = password
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        http_port=None if args.no_http else args.http_port,
        accounts=accounts,
        smsc_id=args.smsc_id,
        id_format=IdFormat(args.id_format),
        receipts=ReceiptPolicy(args.receipts),
        receipt_delay=args.receipt_delay,
        failure_rate=args.failure_rate,
        failure_error=args.failure_error,
        seed=args.seed,
        throttle=args.throttle,
        queue_full_rate=args.queue_full_rate,
        drop_after=args.drop_after,
        response_delay=args.response_delay,
        receipt_first=args.receipt_first,
        refuse_binds=args.refuse_binds,
        deliver_window=args.deliver_window,
        pending_limit=args.pending_limit,
        redeliver_delay=args.redeliver_delay,
        redeliver_attempts=args.redeliver_attempts,
        record_limit=args.record_limit,
    )


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (sys.argv[1:] when None), serve until SIGINT or SIGTERM, return
    after a clean stop. Exits with status 2 on bad options, 1 when it cannot listen."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (math.isfinite(args.stats_interval) and args.stats_interval >= 0):
        parser.error(f"argument --stats-interval: must be >= 0, not {args.stats_interval}")
    try:
        config = config_from(args)
    except ValueError as err:
        parser.error(_naming_the_option(parser, str(err)))
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        code = runner.run(_run(config, args.stats_interval))
    if code:
        sys.exit(code)


def _naming_the_option(parser: argparse.ArgumentParser, message: str) -> str:
    """The simulator's config names its fields (``port must be ...``); say which
    option that is, as argparse does."""
    for action in parser._actions:
        if action.option_strings and message.startswith(f"{action.dest} "):
            return f"argument {action.option_strings[-1]}: {message}"
    return message


async def _run(config: SimulatorConfig, stats_interval: float) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    simulator = Simulator(config)
    try:
        await simulator.start()
    except OSError as err:
        log.error("cannot listen: %s", err)
        await simulator.stop()
        return 1
    settle_gc()
    reporter = asyncio.create_task(_report(simulator, stats_interval))
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await simulator.stop()
    return 0


async def _report(simulator: Simulator, interval: float) -> None:
    """A line of counters now and then, while anything moves: the rate a benchmark
    achieved is visible without asking /stats."""
    if interval <= 0:
        return
    last, last_at = _progress(simulator), time.monotonic()
    while True:
        await asyncio.sleep(interval)
        now, now_at = _progress(simulator), time.monotonic()
        if now != last:
            log.info(_summary(simulator, (now[0] - last[0]) / (now_at - last_at)))
        last, last_at = now, now_at


def _progress(simulator: Simulator) -> tuple[int, ...]:
    stats = simulator.stats
    return stats.submits, stats.receipts_sent, stats.incoming_sent, stats.binds


def _summary(simulator: Simulator, rate: float) -> str:
    stats = simulator.stats
    rejected = sum(stats.rejected.values())
    return (
        f"submits={stats.submits} ({rate:.0f}/s) accepted={stats.accepted}"
        f" rejected={rejected} receipts={stats.receipts_sent} incoming={stats.incoming_sent}"
        f" pending={stats.deliveries_pending} sessions={stats.sessions_open}"
    )


if __name__ == "__main__":
    main()

"""Reliability under faults, full size: the figures of README's Reliability section.

    .venv/bin/python bench/reliability.py                    # SQLite and PostgreSQL
    .venv/bin/python bench/reliability.py --messages 2000    # a quick look

Real processes throughout (``jooksms serve``, ``jooksms worker``, ``jooksms
smsc-sim``), the same runs as ``tests/integration/test_delivery_faults.py`` at a
larger size:

1. **Worker SIGKILLed** when a quarter of ``--messages`` is submitted. On SQLite the
   only worker dies and a new one starts at once; on PostgreSQL one of two workers
   dies and the other carries on. Lost messages, duplicate submit_sm (at most
   ``--in-flight``), seconds from the kill until every message is final (promise:
   within the lease + 10 s).
2. **Every database connection terminated** (``pg_terminate_backend`` of all of
   them) ``--faults`` times, ``--every`` seconds apart, while ``--clients`` clients
   send to_many of ``--batch`` through the API and retry a 503 with their
   ``Idempotency-Key``. Lost messages, messages stored twice, duplicate submit_sm,
   answers by status (no 5xx but 503), whether every client recovered.

PostgreSQL is ``BENCH_POSTGRES_URL`` (default the local server), one fresh database
per run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.fault_runs import (
    Figures,
    killed_worker_run,
    terminated_connections_run,
)
from tests.helpers.live import jooksms, throwaway_postgres

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--lease", type=int, default=10, help="JOOKSMS_LEASE_SECONDS")
    parser.add_argument("--in-flight", type=int, default=1000, help="JOOKSMS_IN_FLIGHT")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100, help="recipients per to_many")
    parser.add_argument("--faults", type=int, default=10)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between faults")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    postgres = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'reliability.db'}"
            _print("worker SIGKILLed, SQLite, 1 worker restarted", _killed(args, url, Path(tmp), 0))
    if "postgres" in backends:
        with throwaway_postgres(postgres) as url, tempfile.TemporaryDirectory() as tmp:
            jooksms("db", "upgrade", database_url=url)
            _print("worker SIGKILLed, PostgreSQL, 1 of 2 workers", _killed(args, url, Path(tmp), 1))
        with throwaway_postgres(postgres) as url, tempfile.TemporaryDirectory() as tmp:
            figures, recovered = terminated_connections_run(
                url,
                Path(tmp),
                clients=args.clients,
                batch=args.batch,
                faults=args.faults,
                every=args.every,
            )
            _print(
                f"every connection terminated x{args.faults}, PostgreSQL, {args.clients} clients",
                figures,
                recovered=recovered,
                fivexx_but_503=figures.server_errors_but_503,
            )


def _killed(args: argparse.Namespace, url: str, workdir: Path, survivors: int) -> Figures:
    return killed_worker_run(
        url,
        workdir,
        count=args.messages,
        lease=args.lease,
        in_flight=args.in_flight,
        survivors=survivors,
    )


def _print(title: str, figures: Figures, **more: object) -> None:
    print(f"\n{title}")
    for name, value in {**asdict(figures), **more}.items():
        shown = f"{value:.1f} s" if name == "time_to_final" else json.dumps(value)
        print(f"  {name:16} {shown}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

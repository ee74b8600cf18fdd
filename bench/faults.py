"""What each SMSC fault costs: the full-size runs of tests/integration/test_smsc_faults.py.

Usage::

    .venv/bin/python bench/faults.py [--backend postgres|sqlite] [--messages 20000]
                                     [--faults clean,drops,throttle,queue-full,slow]

Processes, each its own: ``jooksms smsc-sim`` with one misbehaviour flag (receipts
after 0.05 s), and the messages delivered by one ``jooksms worker`` on PostgreSQL
(``BENCH_POSTGRES_URL``, recreated for each run) or by ``jooksms serve`` on SQLite
(embedded). The messages are accepted straight into the database before the
deliverer starts, so a run times delivery alone.

Per fault, one run of N messages (``slow``: N/100, each answer taking 12 s):

* **msg/s end to end**: N / seconds from the first submit_sm until every message is
  final (delivered or failed), a retry's wait included;
* **first pass msg/s**: submit_sm accepted per second until 70 % of the messages were
  accepted: how fast the others keep flowing while some are refused;
* **duplicates**: submit_sm the SMSC accepted minus messages (copies that can reach a
  handset twice); **lost**: messages not final at the end (must be 0); failed; kept
  receipts left in ``pending_receipts``.

Faults: ``drops`` (``--drop-after 1000``), ``throttle`` (``--throttle``, half the
fault-free rate), ``queue-full`` (``--queue-full-rate 0.2``), ``slow``
(``--response-delay 12``, over the 10 s response timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from servers import BENCH, POSTGRES_URL, ROOT, cli, free_port, postgres_reachable, recreate_postgres
from smsc_process import Simulator, simulator
from sqlalchemy import text

from jooksms.config import load_settings
from jooksms.db.engine import Database
from jooksms.domain.encoding import analyse
from jooksms.services import messages

_NUMBER = "+50760000091"
_DESTINATION = "+50768819519"
_RUN = "import sys; from jooksms.cli import main; sys.argv = ['jooksms', *sys.argv[1:]]; main()"


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    options: tuple[str, ...]
    #: Messages as a share of --messages.
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Figures:
    fault: str
    messages: int
    seconds: float
    end_to_end: float
    first_pass: float
    duplicates: int
    lost: int
    failed: int
    kept_receipts: int
    refused: dict[str, int]
    dropped_connections: int


def faults(clean_rate: float | None) -> dict[str, Fault]:
    throttle = max(50, int((clean_rate or 2000) / 2))
    return {
        "clean": Fault("clean", ()),
        "drops": Fault("drops", ("--drop-after", "1000")),
        "throttle": Fault(f"throttle {throttle}/s", ("--throttle", str(throttle))),
        "queue-full": Fault("queue-full 20 %", ("--queue-full-rate", "0.2", "--seed", "9")),
        "slow": Fault("answers after 12 s", ("--response-delay", "12"), scale=0.01),
    }


def run(backend: str, fault: Fault, count: int, workdir: Path, timeout: float) -> Figures:
    log = workdir / f"{fault.name.split()[0]}-smsc.log"
    with (
        simulator(
            log, "--receipt-delay=0.05", f"--record-limit={20 * count}", *fault.options
        ) as sim,
        _database(backend, workdir) as db_url,
    ):
        account = cli(db_url, "account", "create", "--name", "faults", "--number", _NUMBER)
        cli(db_url, "connector", "add", "--name", "sim", "--url", sim.smpp_url())
        asyncio.run(_accept(db_url, int(account["id"]), count))
        with _delivering(backend, db_url, workdir):
            ended = _wait_final(db_url, timeout)
            time.sleep(1.0)  # late answers to copies already final
        return _figures(fault, count, sim, db_url, ended)


def _figures(fault: Fault, count: int, sim: Simulator, db_url: str, ended: float) -> Figures:
    stats = sim.stats()
    records = sim.submits_to(_DESTINATION, limit=20 * count)
    first = min(float(r["at"]) for r in records)
    accepted = sorted(float(r["at"]) for r in records if r["status"] == 0)
    needed = int(0.7 * count)
    statuses = dict(_query(db_url, "SELECT status, count(*) FROM messages GROUP BY status"))
    [(kept,)] = _query(db_url, "SELECT count(*) FROM pending_receipts")
    final = statuses.get("delivered", 0) + statuses.get("failed", 0)
    return Figures(
        fault=fault.name,
        messages=count,
        seconds=round(ended - first, 2),
        end_to_end=round(count / (ended - first)),
        first_pass=round(needed / max(accepted[needed - 1] - first, 1e-3)),
        duplicates=int(stats["accepted"]) - count,
        lost=count - final,
        failed=statuses.get("failed", 0),
        kept_receipts=int(kept),
        refused=dict(stats["rejected"]),
        dropped_connections=int(stats["dropped"]),
    )


async def _accept(db_url: str, account_id: int, count: int) -> None:
    db = Database(load_settings(database_url=db_url).database_url)
    draft = messages.MessageDraft(to=_DESTINATION, body="fault run", info=analyse("fault run"))
    try:
        for start in range(0, count, 5000):
            async with db.write() as session:
                await messages.accept(
                    session,
                    account_id=account_id,
                    from_number=None,
                    drafts=[draft] * min(5000, count - start),
                )
    finally:
        await db.dispose()


def _wait_final(db_url: str, timeout: float) -> float:
    """Until no message is open; the wall-clock time (time.time()) it was seen so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [(open_,)] = _query(
            db_url, "SELECT count(*) FROM messages WHERE status NOT IN ('delivered', 'failed')"
        )
        if open_ == 0:
            return time.time()
        time.sleep(0.1)
    raise TimeoutError(f"messages still open after {timeout:.0f} s")


def _query(db_url: str, sql: str) -> list[Any]:
    async def go() -> list[Any]:
        db = Database(load_settings(database_url=db_url).database_url)
        try:
            async with db.read() as session:
                return list((await session.execute(text(sql))).all())
        finally:
            await db.dispose()

    return asyncio.run(go())


@contextmanager
def _database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = workdir / f"faults-{time.monotonic_ns()}.db"
        yield f"sqlite:///{path}"
        return
    recreate_postgres(POSTGRES_URL)
    yield POSTGRES_URL


@contextmanager
def _delivering(backend: str, db_url: str, workdir: Path) -> Iterator[None]:
    """``jooksms worker`` on PostgreSQL; ``jooksms serve`` (embedded delivery) on SQLite."""
    command = ["worker"] if backend == "postgres" else ["serve", "--port", str(free_port())]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOOKSMS_")},
        "JOOKSMS_DATABASE_URL": db_url,
        "JOOKSMS_LOG_LEVEL": "WARNING",
        "JOOKSMS_SECRET_KEY": os.environ["JOOKSMS_SECRET_KEY"],  # set by servers
    }
    log = workdir / f"{command[0]}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-c", _RUN, *command], env=env, cwd=workdir, stdout=out, stderr=out
        )
    try:
        yield
    finally:
        popen.terminate()
        try:
            popen.wait(30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def _print(rows: list[Figures]) -> None:
    clean = next((r for r in rows if r.fault == "clean"), None)
    head = (
        f"{'fault':<22} {'messages':>8} {'msg/s e2e':>9} {'vs clean':>8} {'1st pass/s':>10}"
        f" {'dupl.':>6} {'lost':>4} {'failed':>6} {'kept rcpt':>9}  refused / drops"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r.end_to_end / clean.end_to_end:.2f}" if clean and clean.end_to_end else "-"
        refused = ", ".join(f"{k} {v}" for k, v in r.refused.items()) or "-"
        print(
            f"{r.fault:<22} {r.messages:>8,} {r.end_to_end:>9,} {ratio:>8} {r.first_pass:>10,}"
            f" {r.duplicates:>6,} {r.lost:>4} {r.failed:>6,} {r.kept_receipts:>9,}"
            f"  {refused}; {r.dropped_connections} drops"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--faults", default="clean,drops,throttle,queue-full,slow")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    args = parser.parse_args()
    if args.backend == "postgres" and not postgres_reachable():
        parser.error(f"PostgreSQL is not reachable at {POSTGRES_URL} (BENCH_POSTGRES_URL)")
    names = args.faults.split(",")
    unknown = set(names) - set(faults(None))
    if unknown:
        parser.error(f"--faults: unknown {', '.join(sorted(unknown))}")
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="jooksms-faults-") as tmp:
        for name in names:
            clean = rows[0].end_to_end if rows and rows[0].fault == "clean" else None
            fault = faults(clean)[name]
            count = max(100, int(args.messages * fault.scale))
            print(f"--- {fault.name}: {count:,} messages ({args.backend}) ...", flush=True)
            rows.append(run(args.backend, fault, count, Path(tmp), args.timeout))
            print(json.dumps(asdict(rows[-1])), flush=True)
    print()
    _print(rows)
    out = BENCH / "results" / "faults.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""A misbehaving carrier, with real processes: ``jooksms smsc-sim`` with one of its
misbehaviour flags, and the messages delivered by ``jooksms worker`` on PostgreSQL or
by ``jooksms serve`` on SQLite (the embedded setup). Short runs; the full-size ones,
with their figures, are ``bench/faults.py``.

What each fault may cost: nothing accepted is lost (every message ends delivered or
failed), a fault that concerns some messages does not stall the others, and a
message is sent twice only when the carrier may have taken it, at most
``maybe_delivered_retries`` times.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from jooksms.config import load_settings
from tests.conftest import POSTGRES_URL
from tests.helpers.live import start_serve, stop_processes, throwaway_postgres
from tests.helpers.processes import (
    accept_messages,
    account_with_connector,
    open_messages,
    start_workers,
    status_counts,
    wait_until,
)
from tests.helpers.simulator_process import SimulatorProcess, start_simulators

pytestmark = pytest.mark.slow

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason="JOOKSMS_TEST_POSTGRES_URL is not set"),
    ),
]
#: Where accept_messages sends every message (digits as the SMSC records them).
DESTINATION = "50768819519"


@dataclass
class Run:
    """What one delivery run left behind."""

    count: int
    statuses: dict[str, int]
    stats: dict[str, Any]
    #: The submits the SMSC recorded: status and arrival time (time.time()).
    submits: list[dict[str, Any]]
    #: Receipts still waiting for a part once every message was final.
    pending_receipts: int
    failure_reasons: list[str]

    @property
    def duplicates(self) -> int:
        return int(self.stats["accepted"]) - self.count

    def accepted_rate(self, share: float) -> float:
        """submit_sm accepted per second from the first submit until ``share`` of the
        messages were accepted: how fast the connector moves what the carrier takes."""
        first = min(float(r["at"]) for r in self.submits)
        accepted = sorted(float(r["at"]) for r in self.submits if r["status"] == 0)
        needed = int(self.count * share)
        return needed / max(accepted[needed - 1] - first, 1e-3)


def deliver(
    tmp_path: Path,
    backend: str,
    sim_options: list[str],
    count: int,
    *,
    query: str = "",
    timeout: float = 120.0,
) -> Run:
    """Accept ``count`` messages, deliver them through a simulator started with
    ``sim_options`` until every one is final, and read what happened."""
    workdir = tmp_path / f"run-{time.monotonic_ns()}"
    workdir.mkdir()
    [sim] = start_simulators([["--receipt-delay", "0.05", *sim_options]], workdir)
    try:
        with _database(backend, workdir) as db_url:
            account_id = account_with_connector(db_url, "+50760000090", sim.port, query)
            accept_messages(db_url, account_id, count)
            with _delivering(backend, db_url, workdir):
                wait_until(lambda: open_messages(db_url) == 0, timeout)
                # Late answers to copies of messages already final still come in.
                wait_until(lambda: _pending_receipts(db_url) == 0, 15)
            return Run(
                count,
                status_counts(db_url),
                _get(sim, "/stats"),
                _get(sim, f"/submits?to={DESTINATION}&limit={10 * count}"),
                _pending_receipts(db_url),
                _failure_reasons(db_url),
            )
    finally:
        sim.stop()


def test_connection_dropped_every_1000_submits_loses_nothing(tmp_path: Path, backend: str) -> None:
    run = deliver(tmp_path, backend, ["--drop-after", "1000"], 3000)
    assert sum(run.statuses.values()) == 3000
    assert set(run.statuses) <= {"delivered", "failed"}, run.statuses
    assert run.stats["dropped"] >= 2
    # The SMSC never read the submits pipelined past a drop, so each message it took
    # is one delivered: no copies, and the rest failed only as possibly delivered.
    assert run.statuses.get("delivered", 0) == run.stats["accepted"]
    assert all("may have been delivered" in why for why in run.failure_reasons)


def test_throttling_loses_nothing(tmp_path: Path, backend: str) -> None:
    run = deliver(tmp_path, backend, ["--throttle", "400"], 1600)
    assert run.statuses == {"delivered": 1600}
    assert run.stats["rejected"].get("ESME_RTHROTTLED", 0) > 0
    assert run.duplicates == 0


def test_queue_full_on_a_fifth_of_submits_keeps_the_others_flowing(
    tmp_path: Path, backend: str
) -> None:
    count, share = 4000, 0.7
    rates: dict[str, list[float]] = {"clean": [], "faulty": []}
    # Two runs of each, taking turns, and the faster of each kept: the machine's other
    # work only ever slows a run down, and it must not decide the comparison.
    for _ in range(2):
        clean = deliver(tmp_path, backend, [], count)
        faulty = deliver(tmp_path, backend, ["--queue-full-rate", "0.2", "--seed", "9"], count)
        assert clean.statuses == faulty.statuses == {"delivered": count}
        assert faulty.stats["rejected"]["ESME_RMSGQFUL"] >= count // 10
        assert faulty.duplicates == 0
        # The first pass: 80 % are taken at once while the refused wait for a retry.
        rates["clean"].append(clean.accepted_rate(share))
        rates["faulty"].append(faulty.accepted_rate(share))
    assert max(rates["faulty"]) > max(rates["clean"]) / 2, rates


def test_answers_later_than_the_timeout_are_used(tmp_path: Path, backend: str) -> None:
    """Every submit_sm_resp comes 4 s after its submit, 3 s past the connector's
    response timeout. The late answers are used: a message is sent again only when
    its retry comes before the answer, and never more than once (the default
    maybe_delivered_retries); every receipt finds its message."""
    count = 100
    run = deliver(tmp_path, backend, ["--response-delay", "4"], count, query="?response_timeout=1")
    assert run.statuses == {"delivered": count}
    assert 0 <= run.duplicates <= count * 1
    assert run.pending_receipts == 0


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


# --- helpers --------------------------------------------------------------------------


@contextmanager
def _database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'faults.db'}"
        return
    assert POSTGRES_URL
    with throwaway_postgres(POSTGRES_URL) as url:
        yield url


@contextmanager
def _delivering(backend: str, db_url: str, workdir: Path) -> Iterator[None]:
    """SQLite: ``jooksms serve`` accepts and delivers in one process. PostgreSQL: a
    ``jooksms worker`` process delivers."""
    if backend == "sqlite":
        server = start_serve(db_url, workdir)
        try:
            yield
        finally:
            server.stop()
        return
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOOKSMS_")},
        "JOOKSMS_DATABASE_URL": db_url,
    }
    workers: list[subprocess.Popen[str]] = start_workers(env, 1)
    try:
        yield
    finally:
        stop_processes(*workers, timeout=30)


def _get(sim: SimulatorProcess, path: str) -> Any:
    with urllib.request.urlopen(f"{sim.base_url}{path}", timeout=10) as response:
        return json.loads(response.read())


def _query(db_url: str, sql: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_async_engine(load_settings(database_url=db_url).database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql))).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _pending_receipts(db_url: str) -> int:
    [(count,)] = _query(db_url, "SELECT count(*) FROM pending_receipts")
    return int(count)


def _failure_reasons(db_url: str) -> list[str]:
    rows = _query(db_url, "SELECT error_message FROM messages WHERE status = 'failed'")
    return [str(why) for (why,) in rows]

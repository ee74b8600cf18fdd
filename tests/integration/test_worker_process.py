"""``jooksms worker`` as a real process, against ``jooksms smsc-sim`` as another:
messages accepted before it starts are delivered, and SIGTERM makes it unbind and
exit cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.helpers.live import free_port, throwaway_postgres
from tests.helpers.processes import (
    accept_messages,
    account_with_connector,
    kill,
    open_messages,
    sim_stats,
    start_simulator,
    start_workers,
    status_counts,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_worker_delivers_and_stops_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    smpp_port, http_port = free_port(), free_port()
    sim = start_simulator(smpp_port, http_port, log=subprocess.PIPE)
    worker = None
    try:
        account_id = account_with_connector(db_url, "+50760000001", smpp_port)
        accept_messages(db_url, account_id, 20)
        env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url}
        worker = subprocess.Popen(
            [sys.executable, "-m", "jooksms", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(lambda: sim_stats(http_port).get("delivered", 0) >= 20, 30)
        assert sim_stats(http_port)["submits"] == 20
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        sim.send_signal(signal.SIGTERM)
        _, sim_log = sim.communicate(timeout=30)
        # The worker unbound before it left: the SMSC saw an unbind, not a dropped line.
        assert any(line.endswith(": unbind") for line in sim_log.splitlines()), sim_log
    finally:
        kill(worker, sim)


@pytest.mark.skipif(not POSTGRES_URL, reason="JOOKSMS_TEST_POSTGRES_URL is not set")
def test_two_workers_share_the_queue_and_send_each_message_once(tmp_path: Path) -> None:
    """Two worker processes on one PostgreSQL queue: the SMSC receives exactly one
    submit_sm per message, with both workers bound to it."""
    assert POSTGRES_URL
    count = 10_000
    smpp_port, http_port = free_port(), free_port()
    sim = start_simulator(smpp_port, http_port)
    workers: list[subprocess.Popen[str]] = []
    try:
        with throwaway_postgres(POSTGRES_URL) as db_url:
            account_id = account_with_connector(db_url, "+50760000003", smpp_port)
            accept_messages(db_url, account_id, count)
            env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url}
            workers += start_workers(env, 2)
            wait_until(lambda: open_messages(db_url) == 0, 120)
            assert status_counts(db_url) == {"delivered": count}
            stats = sim_stats(http_port)
            assert stats["submits"] == count
            assert stats["binds"] == 2
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(30) == 0
    finally:
        kill(*workers, sim)


@pytest.mark.skipif(not POSTGRES_URL, reason="JOOKSMS_TEST_POSTGRES_URL is not set")
def test_connector_rate_holds_across_two_workers(tmp_path: Path) -> None:
    """Each worker alone could send at the connector's rate; together they must too."""
    assert POSTGRES_URL
    count, rate = 200, 50
    smpp_port, http_port = free_port(), free_port()
    sim = start_simulator(smpp_port, http_port)
    workers: list[subprocess.Popen[str]] = []
    try:
        with throwaway_postgres(POSTGRES_URL) as db_url:
            account_id = account_with_connector(
                db_url, "+50760000004", smpp_port, "", "--rate", str(rate)
            )
            accept_messages(db_url, account_id, count)
            # Small claims, so that both workers hold messages at once.
            env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url, "JOOKSMS_BATCH": "10"}
            workers += start_workers(env, 2)
            wait_until(lambda: open_messages(db_url) == 0, 60)
    finally:
        kill(*workers)
    try:
        url = f"http://127.0.0.1:{http_port}/submits?to=50768819519&limit={count * 2}"
        with urllib.request.urlopen(url, timeout=5) as r:
            times = sorted(record["at"] for record in json.loads(r.read()))
    finally:
        kill(sim)
    assert len(times) == count
    allowance = rate // 10  # what each worker may hold (a tenth of a second's worth)
    # The SMSC stamps submits as it reads them, so a stall of the machine can bunch
    # them up: allow half a second's worth of bunching in any two-second window.
    busiest = max(sum(1 for t in times[i:] if t < start + 2.0) for i, start in enumerate(times))
    assert busiest <= 2 * rate + 2 * allowance + rate // 2
    assert times[-1] - times[0] >= (count - rate - 2 * allowance) / rate

"""``jooksms worker`` as a real process, against ``jooksms smsc-sim`` as another:
messages accepted before it starts are delivered, and SIGTERM makes it unbind and
exit cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from jooksms.config import load_settings
from tests.conftest import POSTGRES_URL
from tests.integration.live import free_port, throwaway_postgres

pytestmark = pytest.mark.slow


def _jooksms(db_url: str, *args: str) -> str:
    env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-m", "jooksms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _stats(http_port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stats", timeout=5) as r:
        stats: dict[str, int] = json.loads(r.read())
    return stats


def test_worker_delivers_and_stops_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    smpp_port, http_port = free_port(), free_port()
    sim = _simulator(smpp_port, http_port, log=subprocess.PIPE)
    worker = None
    try:
        account_id = _account_with_connector(db_url, "+50760000001", smpp_port)
        _accept(db_url, account_id, 20)
        env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url}
        worker = subprocess.Popen(
            [sys.executable, "-m", "jooksms", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait(lambda: _stats(http_port).get("delivered", 0) >= 20, 30)
        assert _stats(http_port)["submits"] == 20
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        sim.send_signal(signal.SIGTERM)
        _, sim_log = sim.communicate(timeout=30)
        # The worker unbound before it left: the SMSC saw an unbind, not a dropped line.
        assert any(line.endswith(": unbind") for line in sim_log.splitlines()), sim_log
    finally:
        _kill(worker, sim)


def test_killed_worker_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL in the middle of a batch: a new worker takes the dead one's messages
    back once its lease runs out, and every message reaches a final status."""
    db_url = f"sqlite:///{tmp_path / 'k.db'}"
    smpp_port, http_port = free_port(), free_port()
    sim = _simulator(smpp_port, http_port, "--response-delay", "0.2")
    workers: list[subprocess.Popen[str]] = []
    in_flight = 16
    env = {
        **os.environ,
        "JOOKSMS_DATABASE_URL": db_url,
        "JOOKSMS_LEASE_SECONDS": "2",
        "JOOKSMS_IN_FLIGHT": str(in_flight),
    }
    try:
        account_id = _account_with_connector(db_url, "+50760000002", smpp_port, "?window=8")
        _accept(db_url, account_id, 200)
        start = [sys.executable, "-m", "jooksms", "worker"]
        workers.append(subprocess.Popen(start, env=env, stderr=subprocess.DEVNULL, text=True))
        _wait(lambda: _stats(http_port).get("submits", 0) >= 20, 30)
        workers[0].kill()  # SIGKILL: no chance to tidy up
        workers[0].wait()
        workers.append(subprocess.Popen(start, env=env, stderr=subprocess.DEVNULL, text=True))
        _wait(lambda: _open_messages(db_url) == 0, 60)
        statuses = _status_counts(db_url)
        assert set(statuses) <= {"delivered", "failed"}
        assert sum(statuses.values()) == 200
        # At least once, and at most the in-flight limit twice: the killed worker had
        # at most that many messages submitted and not yet stored.
        submits = _stats(http_port)["submits"]
        assert 200 <= submits <= 200 + in_flight
    finally:
        _kill(*workers, sim)


@pytest.mark.skipif(not POSTGRES_URL, reason="JOOKSMS_TEST_POSTGRES_URL is not set")
def test_two_workers_share_the_queue_and_send_each_message_once(tmp_path: Path) -> None:
    """Two worker processes on one PostgreSQL queue: the SMSC receives exactly one
    submit_sm per message, with both workers bound to it."""
    assert POSTGRES_URL
    count = 10_000
    smpp_port, http_port = free_port(), free_port()
    sim = _simulator(smpp_port, http_port)
    workers: list[subprocess.Popen[str]] = []
    try:
        with throwaway_postgres(POSTGRES_URL) as db_url:
            account_id = _account_with_connector(db_url, "+50760000003", smpp_port)
            _accept(db_url, account_id, count)
            env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url}
            workers += _start_workers(env, 2)
            _wait(lambda: _open_messages(db_url) == 0, 120)
            assert _status_counts(db_url) == {"delivered": count}
            stats = _stats(http_port)
            assert stats["submits"] == count
            assert stats["binds"] == 2
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(30) == 0
    finally:
        _kill(*workers, sim)


@pytest.mark.skipif(not POSTGRES_URL, reason="JOOKSMS_TEST_POSTGRES_URL is not set")
def test_connector_rate_holds_across_two_workers(tmp_path: Path) -> None:
    """Each worker alone could send at the connector's rate; together they must too."""
    assert POSTGRES_URL
    count, rate = 200, 50
    smpp_port, http_port = free_port(), free_port()
    sim = _simulator(smpp_port, http_port)
    workers: list[subprocess.Popen[str]] = []
    try:
        with throwaway_postgres(POSTGRES_URL) as db_url:
            account_id = _account_with_connector(
                db_url, "+50760000004", smpp_port, "", "--rate", str(rate)
            )
            _accept(db_url, account_id, count)
            # Small claims, so that both workers hold messages at once.
            env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url, "JOOKSMS_BATCH": "10"}
            workers += _start_workers(env, 2)
            _wait(lambda: _open_messages(db_url) == 0, 60)
    finally:
        _kill(*workers)
    try:
        url = f"http://127.0.0.1:{http_port}/submits?to=50768819519&limit={count * 2}"
        with urllib.request.urlopen(url, timeout=5) as r:
            times = sorted(record["at"] for record in json.loads(r.read()))
    finally:
        _kill(sim)
    assert len(times) == count
    allowance = rate // 10  # what each worker may hold (a tenth of a second's worth)
    # The SMSC stamps submits as it reads them, so a stall of the machine can bunch
    # them up: allow half a second's worth of bunching in any two-second window.
    busiest = max(sum(1 for t in times[i:] if t < start + 2.0) for i, start in enumerate(times))
    assert busiest <= 2 * rate + 2 * allowance + rate // 2
    assert times[-1] - times[0] >= (count - rate - 2 * allowance) / rate


def _start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen[str]]:
    start = [sys.executable, "-m", "jooksms", "worker"]
    return [
        subprocess.Popen(start, env=env, stderr=subprocess.DEVNULL, text=True) for _ in range(count)
    ]


def _kill(*procs: subprocess.Popen[str] | None) -> None:
    for proc in procs:
        if proc is None:
            continue
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _simulator(
    smpp_port: int, http_port: int, *extra: str, log: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jooksms",
            "smsc-sim",
            "--port",
            str(smpp_port),
            "--http-port",
            str(http_port),
            "--receipt-delay",
            "0.05",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def _account_with_connector(
    db_url: str, number: str, smpp_port: int, query: str = "", *options: str
) -> int:
    created = _jooksms(db_url, "account", "create", "--name", "W", "--number", number)
    url = f"smpp://jooksms:secret@127.0.0.1:{smpp_port}{query}"
    _jooksms(db_url, "connector", "add", "--name", "sim", "--url", url, *options)
    return int(json.loads(created)["id"])


def _accept(db_url: str, account_id: int, count: int) -> None:
    script = (
        "import asyncio, sys\n"
        "from jooksms.config import load_settings\n"
        "from jooksms.db.engine import Database\n"
        "from jooksms.domain.encoding import analyse\n"
        "from jooksms.services import messages\n"
        "async def main():\n"
        "    db = Database(load_settings(database_url=sys.argv[1]).database_url)\n"
        "    async with db.write() as s:\n"
        "        await messages.accept(s, account_id=int(sys.argv[2]), from_number=None,\n"
        "            drafts=[messages.MessageDraft(to='+50768819519', body='hi',\n"
        "                    info=analyse('hi'))] * int(sys.argv[3]))\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, db_url, str(account_id), str(count)], check=True, timeout=60
    )


def _status_counts(db_url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = create_async_engine(load_settings(database_url=db_url).database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT status, count(*) FROM messages GROUP BY status")
                )
                return {status: n for status, n in rows}
        finally:
            await engine.dispose()

    return asyncio.run(count())


def _open_messages(db_url: str) -> int:
    counts = _status_counts(db_url)
    return sum(n for status, n in counts.items() if status not in ("delivered", "failed"))


def _wait(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")

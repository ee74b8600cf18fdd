"""The metrics: what the worker counts, what the database holds (on SQLite and
PostgreSQL), connector bind states against the real simulator, and the worker's own
metrics port, in process and as ``jooksms worker --metrics-port``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from pydantic import SecretStr
from sqlalchemy import delete, text

from jooksms import metrics
from jooksms.config import load_settings
from jooksms.db.engine import Database
from jooksms.db.models import PendingReceipt
from jooksms.db.types import utcnow
from jooksms.domain.status import Status
from jooksms.errors import Forbidden, Unauthorized
from jooksms.metrics import (
    REGISTRY,
    DatabaseGauges,
    count_kept_receipts,
    count_receipts,
    count_transitions,
    count_unowned_incoming,
    observe_submit,
    queue_query,
    serve_metrics,
    watch_transports,
)
from jooksms.smsc.config import SimulatorConfig
from jooksms.smsc.simulator import Simulator
from jooksms.transports.base import IncomingSms, OutgoingSms, SubmitResult
from jooksms.transports.smpp.client import SmppClient, SmppConfig
from jooksms.transports.smpp.receipt import Receipt
from tests.conftest import Tenant
from tests.helpers.live import free_port
from tests.helpers.metrics_text import Samples, parse, send, value
from tests.helpers.waiting import until


def always_fresh(db: Database) -> DatabaseGauges:
    """Gauges whose clock never moves and whose period is 0: every read queries."""
    return DatabaseGauges(db, period=0, clock=lambda: 0.0)


async def read(gauges: DatabaseGauges) -> Samples:
    await gauges.refresh()
    return parse(generate_latest(gauges))


def process_samples() -> Samples:
    return parse(generate_latest(REGISTRY))


# -- what the database holds -----------------------------------------------------------


async def test_status_counts_and_queue_follow_what_is_accepted(
    db: Database, tenant: Tenant
) -> None:
    gauges = always_fresh(db)
    before = await read(gauges)
    await send(tenant, now=3, later=1)
    after = await read(gauges)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("jooksms_messages", status="queued", direction="sending") == 3
    assert delta("jooksms_messages", status="scheduled", direction="sending") == 1
    assert delta("jooksms_queue_depth") == 3
    assert delta("jooksms_queue_scheduled") == 1
    others = [
        key for key in after if key[0] == "jooksms_messages" and ("status", "queued") not in key[1]
    ]
    assert sum(after[k] - before.get(k, 0) for k in others) == 1  # only the scheduled one
    # Every status has a series, at 0 if no message has it.
    statuses = {dict(labels)["status"] for name, labels in after if name == "jooksms_messages"}
    assert statuses == {s.value for s in Status}
    assert value(after, "jooksms_messages", status="received", direction="incoming") >= 0


async def test_receipts_kept_for_later_are_counted(db: Database) -> None:
    gauges = always_fresh(db)
    assert value(await read(gauges), "jooksms_receipts_pending", connector="kept-test") == 0
    async with db.write() as session:
        session.add_all(
            PendingReceipt(
                connector="kept-test", carrier_id=f"c{i}", delivered=True, received_at=utcnow()
            )
            for i in range(3)
        )
    try:
        assert value(await read(gauges), "jooksms_receipts_pending", connector="kept-test") == 3
    finally:
        async with db.write() as session:
            await session.execute(
                delete(PendingReceipt).where(PendingReceipt.connector == "kept-test")
            )


async def test_figures_are_kept_for_their_period(db: Database, tenant: Tenant) -> None:
    clock = [1000.0]
    gauges = DatabaseGauges(db, period=30, clock=lambda: clock[0])
    first = await read(gauges)
    await send(tenant, now=1)
    clock[0] += 29
    assert await read(gauges) == first  # still the cached reading
    clock[0] += 2
    later = await read(gauges)
    assert value(later, "jooksms_queue_depth") == value(first, "jooksms_queue_depth") + 1
    assert value(later, "jooksms_messages", status="queued", direction="sending") == (
        value(first, "jooksms_messages", status="queued", direction="sending") + 1
    )


class Ticking:
    """A clock that moves half a second each time it is read: every query seems to
    take half a second."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


async def test_a_slow_count_is_read_less_often(db: Database, tenant: Tenant) -> None:
    """With a 1 % budget, a count that took 0.5 s is not read again for 50 s, however
    short the period."""
    clock = Ticking()
    gauges = DatabaseGauges(db, period=1, budget=0.01, clock=clock)
    first = await read(gauges)
    await send(tenant, now=1)
    clock.now = 40
    assert await read(gauges) == first
    clock.now = 60
    assert value(await read(gauges), "jooksms_queue_depth") == (
        value(first, "jooksms_queue_depth") + 1
    )


async def test_queue_counts_read_the_partial_index(db: Database) -> None:
    """Counting the queue must stay a range read of ``ix_messages_due`` however big
    the table: the condition is written as the index's own."""
    query = queue_query(datetime(2030, 1, 1, tzinfo=UTC))
    sql = str(query.compile(db.read_engine, compile_kwargs={"literal_binds": True}))
    async with db.read() as session:
        if db.is_sqlite:
            plan = [row[-1] for row in await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
        else:
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = [row[0] for row in await session.execute(text(f"EXPLAIN {sql}"))]
    # Two reads of the partial index (PostgreSQL may add a bitmap heap scan on top
    # of each), and never a scan of the whole table.
    assert sum("ix_messages_due" in line for line in plan) == 2, plan
    assert not any("Seq Scan" in line or "SCAN messages" in line for line in plan), plan


async def test_a_database_that_cannot_answer_leaves_its_figures_out(
    tmp_path: Path,
) -> None:
    broken = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
    try:
        samples = await read(DatabaseGauges(broken))
    finally:
        await broken.dispose()
    assert not [key for key in samples if key[0].startswith(("jooksms_messages", "jooksms_queue"))]


# -- what the worker counts ------------------------------------------------------------


def test_submit_histogram_counts_observations() -> None:
    before = process_samples()
    for seconds in (0.003, 0.004, 0.2):
        observe_submit("hist-test", seconds, ok=True)
    observe_submit("hist-test", 12.0, ok=False)
    after = process_samples()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"connector": "hist-test", "result": "ok"}
    assert delta("jooksms_submit_duration_seconds_count", **ok) == 3
    assert delta("jooksms_submit_duration_seconds_sum", **ok) == pytest.approx(0.207)
    assert delta("jooksms_submit_duration_seconds_bucket", le="0.005", **ok) == 2
    assert delta("jooksms_submit_duration_seconds_bucket", le="0.25", **ok) == 3
    assert delta("jooksms_submit_duration_seconds_bucket", le="+Inf", **ok) == 3
    failed = {"connector": "hist-test", "result": "failed"}
    assert delta("jooksms_submit_duration_seconds_count", **failed) == 1
    assert delta("jooksms_submit_duration_seconds_bucket", le="10.0", **failed) == 0
    assert delta("jooksms_submit_duration_seconds_bucket", le="30.0", **failed) == 1


def test_receipts_transitions_and_unowned_are_counted() -> None:
    before = process_samples()
    count_receipts("rcpt-test", matched=5, unmatched=2)
    count_receipts("rcpt-test", matched=1, unmatched=0)
    count_kept_receipts(matched=1)
    count_kept_receipts(dropped=3)
    count_transitions(Status.DELIVERED, 6)
    count_transitions(Status.FAILED, 0)
    count_unowned_incoming(2)
    after = process_samples()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("jooksms_receipts_total", connector="rcpt-test", result="matched") == 6
    assert delta("jooksms_receipts_total", connector="rcpt-test", result="unmatched") == 2
    assert delta("jooksms_receipts_kept_total", result="matched") == 1
    assert delta("jooksms_receipts_kept_total", result="dropped") == 3
    assert delta("jooksms_message_transitions_total", status="delivered") == 6
    assert delta("jooksms_incoming_unowned_total") == 2
    # Every status's counter exists from the start.
    for status in Status:
        assert ("jooksms_message_transitions_total", frozenset({("status", status.value)})) in after


class HttpProvider:
    """A transport with no session to lose (like an HTTP provider): no ``bound``."""

    async def start(self) -> None: ...

    async def submit(self, message: OutgoingSms) -> SubmitResult:
        return SubmitResult(message.id, ("x",))

    async def stop(self, timeout: float = 10.0) -> None: ...


async def _ignore_receipt(_: Receipt) -> None: ...


async def _ignore_incoming(_: IncomingSms) -> None: ...


def bound(name: str) -> float | None:
    return process_samples().get(("jooksms_connector_bound", frozenset({("connector", name)})))


async def test_bound_gauge_follows_a_real_smpp_session() -> None:
    simulator = Simulator(SimulatorConfig(port=0, http_port=None))
    await simulator.start()
    client = SmppClient(
        SmppConfig.from_url(f"smpp://jooksms:secret@127.0.0.1:{simulator.port}"),
        on_receipt=_ignore_receipt,
        on_incoming=_ignore_incoming,
    )
    unwatch = watch_transports({"bind-smpp": client, "bind-http": HttpProvider()})
    try:
        assert bound("bind-smpp") == 0  # not started yet
        assert bound("bind-http") == 1
        await client.start()
        assert bound("bind-smpp") == 1
        await simulator.stop()
        await until(lambda: bound("bind-smpp") == 0)
    finally:
        unwatch()
        await client.stop(5)
        await simulator.stop()
    assert bound("bind-smpp") is None
    assert bound("bind-http") is None


# -- settings and serving --------------------------------------------------------------


def test_metrics_token_setting() -> None:
    assert load_settings(metrics_token="").metrics_token is None
    assert load_settings(metrics_token="  ").metrics_token is None
    settings = load_settings(metrics_token="s3cret-token")
    assert isinstance(settings.metrics_token, SecretStr)
    assert settings.metrics_token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(settings)


def test_check_access() -> None:
    token = SecretStr("abc")
    for client in ("127.0.0.1", "127.8.0.1", "::1", "::ffff:127.0.0.1"):
        metrics.check_access(None, None, client)
        metrics.check_access("Bearer whatever", None, client)
    for client in ("192.0.2.7", "::ffff:192.0.2.7", "fd00::1", "testclient", "", None):
        with pytest.raises(Forbidden):
            metrics.check_access(None, None, client)
    for client in ("192.0.2.7", "127.0.0.1"):
        metrics.check_access("Bearer abc", token, client)
        metrics.check_access("bearer  abc", token, client)
        for refused in (None, "Bearer abd", "Basic abc", "Bearer "):
            with pytest.raises(Unauthorized):
                metrics.check_access(refused, token, client)


def _outward_address() -> str | None:
    """This machine's address on its way out (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_serve_metrics_without_token_answers_loopback_only(
    database_url: str, db: Database
) -> None:
    outward = _outward_address()
    if outward is None:
        pytest.skip("no address but loopback")
    settings = load_settings(database_url=database_url, host="0.0.0.0")
    async with serve_metrics(db, settings, port=0) as port, httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
        refused = await http.get(f"http://{outward}:{port}/metrics")
        assert refused.status_code == 403
        assert refused.json() == {
            "result": "error",
            "error": {"code": "forbidden", "message": metrics.LOOPBACK_ONLY},
        }


async def test_serve_metrics_answers_scrapes(database_url: str, db: Database) -> None:
    settings = load_settings(database_url=database_url, host="127.0.0.1", metrics_token="tok")
    async with (
        serve_metrics(db, settings, port=0) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        refused = await http.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "unauthorized"
        assert (
            await http.get("/metrics", headers={"Authorization": "Bearer no"})
        ).status_code == 401
        assert (await http.get("/other")).status_code == 404
        assert (await http.post("/metrics")).status_code == 405
        r = await http.get("/metrics?x=1", headers={"Authorization": "Bearer tok"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        samples = parse(r.text)
        assert ("jooksms_queue_depth", frozenset()) in samples
        assert ("process_resident_memory_bytes", frozenset()) in samples or sys.platform != "linux"


@pytest.mark.slow
def test_worker_serves_metrics_on_its_port(tmp_path: Path) -> None:
    from tests.helpers.processes import (
        accept_messages,
        account_with_connector,
        start_simulator,
    )

    db_url = f"sqlite:///{tmp_path / 'm.db'}"
    smpp_port, http_port, metrics_port = free_port(), free_port(), free_port()
    sim = start_simulator(smpp_port, http_port)
    worker = None
    try:
        account_id = account_with_connector(db_url, "+50760000009", smpp_port)
        accept_messages(db_url, account_id, 5)
        env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url, "JOOKSMS_METRICS_TOKEN": "tok"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "jooksms", "worker", "--metrics-port", str(metrics_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        deadline = time.monotonic() + 20
        while True:
            try:
                refused = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert worker.poll() is None, worker.communicate()[1]
                assert time.monotonic() < deadline, "the worker never served its metrics"
                time.sleep(0.1)
        assert refused.status_code == 401
        r = httpx.get(url, headers={"Authorization": "Bearer tok"}, timeout=5)
        assert r.status_code == 200
        samples = parse(r.text)
        stored = sum(v for (name, _), v in samples.items() if name == "jooksms_messages")
        assert stored == 5
        assert ("jooksms_queue_depth", frozenset()) in samples
        # The worker's own figures: its bind, its submits and the statuses it stored.
        sent = ("jooksms_message_transitions_total", frozenset({("status", "sent")}))
        while samples.get(sent, 0) < 5:
            assert time.monotonic() < deadline, "the worker never counted its sends"
            time.sleep(0.1)
            r = httpx.get(url, headers={"Authorization": "Bearer tok"}, timeout=5)
            samples = parse(r.text)
        assert samples[sent] == 5
        assert samples[("jooksms_connector_bound", frozenset({("connector", "sim")}))] == 1
        submits = (
            "jooksms_submit_duration_seconds_count",
            frozenset({("connector", "sim"), ("result", "ok")}),
        )
        assert samples[submits] == 5
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
    finally:
        for proc in (worker, sim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()

"""The whole flow on one machine: the API accepts, the worker sends through a real
SMPP session to the SMSC simulator (its own TCP server), receipts come back, and an
SMS a client sends arrives in the right account. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from jooksms.db.engine import Database
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.delivery.worker import Worker, WorkerConfig
from jooksms.smsc.config import SimulatorConfig
from jooksms.smsc.simulator import Simulator
from jooksms.transports import registry
from jooksms.transports.smpp.client import SmppClient
from tests.conftest import Tenant
from tests.helpers.messages import only_these_due
from tests.helpers.waiting import until


@pytest.fixture
async def delivering(db: Database) -> AsyncIterator[tuple[Simulator, Worker, asyncio.Event]]:
    simulator = Simulator(
        SimulatorConfig(port=0, http_port=None, receipt_delay=0.05, failure_rate=0.0, seed=1)
    )
    await simulator.start()
    transports: dict[str, SmppClient] = {}
    worker = Worker(
        db,
        transports,
        RoutingTable([Route("sim")]),
        WorkerConfig(idle_poll=0.02),  # type: ignore[arg-type]
    )
    client = registry.build(
        "sim", f"smpp://jooksms:secret@127.0.0.1:{simulator.port}", worker.handlers()
    )
    assert isinstance(client, SmppClient)
    transports["sim"] = client
    await client.start()
    stop = asyncio.Event()
    yield simulator, worker, stop
    stop.set()
    await client.stop(5)
    await simulator.stop()


async def _statuses(t: Tenant, ids: list[int]) -> list[str]:
    return [(await t.get(f"/api/v1/sms/{i}")).json()["data"]["status"] for i in ids]


async def test_send_sent_delivered_and_incoming(
    tenant: Tenant, db: Database, delivering: tuple[Simulator, Worker, asyncio.Event]
) -> None:
    simulator, worker, stop = delivering
    long_ucs2 = "Привет, это длинное сообщение. " * 5  # 3 UCS-2 segments
    r = await tenant.post(
        "/api/v1/sms/many",
        json={
            "list": [
                {"to": "+50768819519", "body": "Hello from JookSMS"},
                {"to": "+50767832484", "body": long_ucs2},
            ]
        },
    )
    ids = r.json()["ids"]
    await only_these_due(db, ids)
    runner = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: _all(tenant, ids, "delivered"))
        assert simulator.stats.submits >= 4  # 1 + 3 parts
        await simulator.inject(source="+50768819519", destination=tenant.number, text="¡Gracias!")
        await until(lambda: _has_incoming(tenant, "¡Gracias!"))
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


async def _all(t: Tenant, ids: list[int], status: str) -> bool:
    return set(await _statuses(t, ids)) == {status}


async def _has_incoming(t: Tenant, text: str) -> bool:
    data = (await t.get("/api/v1/sms")).json()["data"]
    return any(m["direction"] == "incoming" and m["content"] == text for m in data)

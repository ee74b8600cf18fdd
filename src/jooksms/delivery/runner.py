"""Running delivery: build the connectors' transports and a worker, run until told to
stop, then close everything in order. Run by the platform (``platform.Platform``) in
``jooksms worker`` and, in-process, in ``jooksms serve``."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from jooksms import metrics
from jooksms.db.engine import Database
from jooksms.delivery.buckets import configured_rates
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.delivery.worker import Worker, WorkerConfig
from jooksms.services import connectors
from jooksms.smsc.config import SimulatorConfig
from jooksms.smsc.simulator import Simulator
from jooksms.transports import registry
from jooksms.transports.base import Transport

log = logging.getLogger(__name__)

SIMULATOR = "simulator"


class NoConnectors(RuntimeError):
    pass


async def run_delivery(
    db: Database,
    stop: asyncio.Event,
    *,
    simulator_if_unconfigured: bool,
    config: WorkerConfig | None = None,
    public_url: str | None = None,
) -> None:
    """``public_url`` is where carriers reach our webhooks (Twilio's status callbacks)."""
    async with AsyncExitStack() as stack:
        worker, transports = await _build(db, stack, simulator_if_unconfigured, config, public_url)
        for name, transport in transports.items():
            await transport.start()
            stack.push_async_callback(transport.stop, 10.0)
            log.info("connector %s started", name)
        stack.callback(metrics.watch_transports(transports))

        async def stop_transports() -> None:
            # Before the worker's last write: receipts that come in while the
            # transports unbind are stored before the carrier hears they were taken.
            await asyncio.gather(*(t.stop(10.0) for t in transports.values()))

        await worker.run(stop, before_finish=stop_transports)


async def _build(
    db: Database,
    stack: AsyncExitStack,
    simulator_if_unconfigured: bool,
    config: WorkerConfig | None,
    public_url: str | None,
) -> tuple[Worker, dict[str, Transport]]:
    async with db.read() as session:
        table = await connectors.routing_table(session)
        rates = await configured_rates(session)
    if not table.routes and not simulator_if_unconfigured:
        raise NoConnectors("no connector is configured: add one with `jooksms connector add`")
    # The worker is made first: the transports are built with its receipt and
    # incoming handlers, and it holds this dict, filled in below.
    transports: dict[str, Transport] = {}
    embedded = not table.routes
    if embedded:
        table = RoutingTable([Route(SIMULATOR)])
    worker = Worker(db, transports, table, config, rates=rates)
    if not embedded:
        async with db.read() as session:
            transports.update(
                await connectors.transports(
                    session, handlers=worker.handlers(), public_url=public_url
                )
            )
        return worker, transports
    simulator = Simulator(SimulatorConfig(port=0, http_port=None))
    await simulator.start()
    stack.push_async_callback(simulator.stop)
    log.warning(
        "NO CONNECTOR IS CONFIGURED: messages go to the built-in SMSC simulator "
        "(127.0.0.1:%d) and never reach a phone. Add a carrier with "
        "`jooksms connector add --name NAME --url smpp://...`.",
        simulator.port,
    )
    url = f"smpp://jooksms:secret@127.0.0.1:{simulator.port}"
    transports[SIMULATOR] = registry.build(SIMULATOR, url, worker.handlers())
    return worker, transports

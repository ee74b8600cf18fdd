"""Simulators and ESMEs that clean up after each test, on real loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from jooksms.smsc import Simulator, SimulatorConfig
from tests.helpers.esme import BindKind, Esme

StartSimulator = Callable[..., Awaitable[Simulator]]
Connect = Callable[..., Awaitable[Esme]]


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """Start a simulator with test defaults (free port, receipts at once) plus options."""
    started: list[Simulator] = []

    async def start(**options: Any) -> Simulator:
        settings: dict[str, Any] = {"receipt_delay": 0.0, "stop_grace": 0.5}
        settings.update(options)
        simulator = Simulator(SimulatorConfig(**settings))
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Simulator:
    return await start_simulator()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """An ESME bound to a simulator (``kind=None`` leaves it unbound)."""
    esmes: list[Esme] = []

    async def open_esme(
        simulator: Simulator, kind: BindKind | None = "transceiver", **options: Any
    ) -> Esme:
        if kind is None:
            esme = await Esme.connect(simulator.port, **options)
        else:
            esme = await Esme.bound(simulator.port, kind, **options)
        esmes.append(esme)
        return esme

    yield open_esme
    for esme in esmes:
        await esme.close()

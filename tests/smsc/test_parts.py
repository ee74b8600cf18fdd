"""The simulator's pieces without sockets: config checks, timers, ids, fates."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jooksms.smsc import IdFormat, ReceiptPolicy, SimulatorConfig
from jooksms.smsc.deliveries import Fates, MessageIds, incoming_parts, wants_receipt
from jooksms.smsc.timers import Timers


@pytest.mark.parametrize(
    "options",
    [
        {"failure_rate": 1.5},
        {"queue_full_rate": -0.1},
        {"receipt_delay": -1},
        {"response_delay": float("nan")},
        {"throttle": 0},
        {"drop_after": 0},
        {"port": 70000},
        {"accounts": {}},
        {"accounts": {"a" * 16: "pw"}},
        {"accounts": {"ok": "123456789"}},
        {"id_format": "base64"},
        {"failure_error": 70000},
    ],
)
def test_bad_config_fails_loudly(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**options)


def test_config_takes_enum_values_as_strings() -> None:
    config = SimulatorConfig(id_format="decimal", receipts="always")  # type: ignore[arg-type]
    assert (config.id_format, config.receipts) == (IdFormat.DECIMAL, ReceiptPolicy.ALWAYS)


def test_ids_repeat_with_a_seed_and_differ_without() -> None:
    def ids(seed: int | None) -> list[str]:
        generator = MessageIds(IdFormat.HEX, seed=seed)
        return [generator.next() for _ in range(3)]

    assert ids(5) == ids(5)
    assert ids(None) != ids(None)
    first, second, _ = ids(5)
    assert int(second, 16) == int(first, 16) + 1


def test_fates_and_receipt_requests() -> None:
    fates = Fates(0.0, 1, seed=1)
    fate = fates.draw()
    assert not fate.failed
    failed = Fates(1.0, 12, seed=1).draw()
    assert (failed.failed, failed.error) == (True, "012")
    requested = ReceiptPolicy.REQUESTED
    assert wants_receipt(requested, 1, fate)
    assert not wants_receipt(requested, 0, fate)
    assert not wants_receipt(requested, 2, fate)
    assert wants_receipt(requested, 2, failed)
    assert wants_receipt(ReceiptPolicy.ALWAYS, 0, fate)
    assert not wants_receipt(ReceiptPolicy.NEVER, 1, failed)


@pytest.mark.parametrize(
    ("address", "ton_npi_value"),
    [("+50760001111", (1, 1, "50760001111")), ("12345", (0, 1, "12345")), ("Bank", (5, 0, "Bank"))],
)
def test_incoming_addresses(address: str, ton_npi_value: tuple[int, int, str]) -> None:
    (pdu,) = incoming_parts(address, "+50688887777", "hi", ref=0)
    assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == ton_npi_value


@pytest.mark.parametrize("address", ["", "+" + "1" * 21])
def test_impossible_incoming_addresses(address: str) -> None:
    with pytest.raises(ValueError):
        incoming_parts(address, "+50688887777", "hi", ref=0)


async def test_timers_run_in_due_order_and_cancel_together() -> None:
    timers = Timers(asyncio.get_running_loop())
    ran: list[str] = []
    done = asyncio.Event()
    timers.call_later(0.03, lambda: ran.append("late"))
    timers.call_later(0.01, lambda: ran.append("early"))
    timers.call_later(0.01, lambda: ran.append("early, second"))
    timers.call_later(0.04, done.set)
    timers.call_later(10, lambda: ran.append("never"))
    await asyncio.wait_for(done.wait(), 2)
    assert ran == ["early", "early, second", "late"]
    assert len(timers) == 1
    timers.cancel_all()
    assert len(timers) == 0

"""The client's ``charset`` option against the in-process simulator (jooksms.smsc).

The simulator reads ``data_coding=0`` as GSM-7, as most carriers do, so what it
decodes from a Latin-1 connector is not the text: these tests look at the octets it
received instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jooksms.smsc.config import SimulatorConfig
from jooksms.smsc.simulator import Simulator
from jooksms.transports.base import IncomingSms, OutgoingSms
from jooksms.transports.smpp.client import Charset, Receipt, SmppClient, SmppConfig
from jooksms.transports.smpp.udh import ESM_UDHI, parse_udh
from tests.helpers.waiting import until

DESTINATION = "50768819519"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorConfig(port=0, http_port=None, receipt_delay=0.0))
    await sim.start()
    yield sim
    await sim.stop()


async def test_latin1_connector_end_to_end(simulator: Simulator) -> None:
    receipts: list[Receipt] = []
    incoming: list[IncomingSms] = []

    async def on_receipt(receipt: Receipt) -> None:
        receipts.append(receipt)

    async def on_incoming(sms: IncomingSms) -> None:
        incoming.append(sms)

    url = f"smpp://jooksms:secret@127.0.0.1:{simulator.port}?charset=latin1"
    client = SmppClient(SmppConfig.from_url(url), on_receipt=on_receipt, on_incoming=on_incoming)
    assert client.config.charset is Charset.LATIN1
    await client.start()
    try:
        short = await client.submit(OutgoingSms(1, "+50760000001", "+" + DESTINATION, "@ Café ¢"))
        long = await client.submit(OutgoingSms(2, "+50760000001", "+" + DESTINATION, "ð" * 300))
        await simulator.inject(source="+50768819519", destination="+50760000001", text="hi there")
        await until(lambda: len(receipts) == 4 and len(incoming) == 1)
    finally:
        await client.stop(2)
    assert short.ok and len(long.carrier_ids) == 3
    first, *parts = simulator.stats.to(DESTINATION)
    assert (first.data_coding, first.pdu.short_message) == (0x00, "@ Café ¢".encode("latin-1"))
    assert [p.data_coding for p in parts] == [0x00] * 3
    assert all(p.esm_class & ESM_UDHI for p in parts)
    payloads = [parse_udh(p.pdu.short_message)[1] for p in parts]
    assert [len(p) for p in payloads] == [134, 134, 32]
    assert b"".join(payloads) == b"\xf0" * 300
    assert [sms.text for sms in incoming] == ["hi there"]

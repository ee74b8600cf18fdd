"""The client under uvloop, the loop ``jooksms serve`` runs on: it must not lean on
asyncio's private parts."""

from __future__ import annotations

import asyncio

import uvloop

from jooksms.smsc.config import SimulatorConfig
from jooksms.smsc.misbehaviour import SlowResponses
from jooksms.smsc.simulator import Simulator
from jooksms.transports.base import OutgoingSms, SubmitResult
from jooksms.transports.smpp.client import SmppClient, SmppConfig


async def ignore(_: object) -> None:
    return None


def test_submit_and_response_timeout_under_uvloop() -> None:
    async def scenario() -> tuple[SubmitResult, SubmitResult]:
        simulator = Simulator(SimulatorConfig(port=0, http_port=None, receipt_delay=60))
        await simulator.start()
        url = f"smpp://jooksms:secret@127.0.0.1:{simulator.port}?response_timeout=0.2"
        client = SmppClient(SmppConfig.from_url(url), on_receipt=ignore, on_incoming=ignore)
        await client.start()
        try:
            answered = await client.submit(OutgoingSms(1, "+50760000001", "+50768819519", "hi"))
            simulator.misbehaviours.add(SlowResponses(1.0))
            unanswered = await client.submit(OutgoingSms(2, "+50760000001", "+50768819519", "hi"))
        finally:
            await client.stop(2)
            await simulator.stop()
        return answered, unanswered

    answered, unanswered = uvloop.run(asyncio.wait_for(scenario(), 10))
    assert answered.ok and len(answered.carrier_ids) == 1
    failure = unanswered.failure
    assert failure is not None and failure.kind == "transient" and failure.maybe_delivered
    assert "no response within 0.2 s" in failure.description

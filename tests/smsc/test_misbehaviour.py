"""Each misbehaviour, through the config and changed while the simulator runs."""

from __future__ import annotations

import asyncio
import time

import pytest

from jooksms.smsc import DropAfter, QueueFull, RefuseBinds, Simulator, Throttle
from jooksms.transports.smpp.pdu import DeliverSm, SubmitSmResp
from jooksms.transports.smpp.status import CommandStatus
from tests.helpers.esme import submit_many
from tests.smsc.conftest import Connect, StartSimulator

S = CommandStatus


async def test_throttle_refuses_submits_above_the_rate(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(throttle=5)
    esme = await connect(sim)
    statuses = [r.command_status for r in await submit_many(esme, 20)]
    # One second's worth goes through at once; the burst beyond it does not.
    assert 5 <= statuses.count(S.ESME_ROK) <= 6
    assert statuses[:5] == [S.ESME_ROK] * 5
    assert statuses.count(S.ESME_RTHROTTLED) == sim.stats.rejected["ESME_RTHROTTLED"] >= 14


def test_throttle_refills_at_its_rate() -> None:
    throttle = Throttle(2)
    assert [throttle.submit_status("a", 0.0) for _ in range(3)] == [None, None, S.ESME_RTHROTTLED]
    assert throttle.submit_status("b", 0.0) is None  # per system_id
    assert throttle.submit_status("a", 0.5) is None  # one token back after half a second
    assert throttle.submit_status("a", 0.5) == S.ESME_RTHROTTLED


async def test_queue_full_share(start_simulator: StartSimulator, connect: Connect) -> None:
    sim = await start_simulator(queue_full_rate=1.0)
    esme = await connect(sim)
    resp = await esme.submit()
    assert (resp.command_status, resp.message_id) == (S.ESME_RMSGQFUL, "")
    assert sim.stats.records[0].accepted is False


def test_queue_full_draws_repeat_with_a_seed() -> None:
    def draws() -> list[CommandStatus | None]:
        queue_full = QueueFull(0.5, seed=3)
        return [queue_full.submit_status("a", 0.0) for _ in range(40)]

    assert draws() == draws()
    assert set(draws()) == {None, S.ESME_RMSGQFUL}


async def test_drop_after_n_submits(start_simulator: StartSimulator, connect: Connect) -> None:
    sim = await start_simulator(drop_after=3)
    esme = await connect(sim)
    pdus = [esme.submit_pdu() for _ in range(5)]
    answers = await asyncio.gather(*(esme.request(p) for p in pdus), return_exceptions=True)
    assert [type(a) for a in answers] == [SubmitSmResp] * 3 + [ConnectionError] * 2
    await esme.wait_closed()
    # The fourth and fifth were never read, so never recorded: their fate is unknown.
    assert (sim.stats.submits, sim.stats.dropped) == (3, 1)


async def test_drop_on_demand(sim: Simulator, connect: Connect) -> None:
    first, second = await connect(sim), await connect(sim)
    assert sim.drop() == 2
    await first.wait_closed()
    await second.wait_closed()


async def test_slow_responses(start_simulator: StartSimulator, connect: Connect) -> None:
    sim = await start_simulator(response_delay=0.2)
    esme = await connect(sim)
    started = time.monotonic()
    resp = await esme.submit()
    assert time.monotonic() - started >= 0.19
    # The receipt still follows the response.
    receipt = await esme.next_delivery()
    assert esme.received.index(resp) < esme.received.index(receipt)


async def test_receipt_before_the_response(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(receipt_first=True)
    esme = await connect(sim)
    resp = await esme.submit()
    kinds = [type(p) for p in esme.received[1:]]  # after the bind_resp
    assert kinds == [DeliverSm, SubmitSmResp]
    receipt = esme.received[1]
    assert isinstance(receipt, DeliverSm)
    assert f"id:{resp.message_id} ".encode() in receipt.short_message


async def test_refuse_binds(start_simulator: StartSimulator, connect: Connect) -> None:
    sim = await start_simulator(refuse_binds=True)
    esme = await connect(sim, None)
    assert (await esme.bind()).command_status == S.ESME_RBINDFAIL
    assert sim.stats.bind_failures == 1


async def test_misbehaviours_change_while_running(sim: Simulator, connect: Connect) -> None:
    sim.misbehaviours.add(RefuseBinds(count=1))
    esme = await connect(sim, None)
    assert (await esme.bind()).command_status == S.ESME_RBINDFAIL
    assert (await esme.bind()).command_status == S.ESME_ROK
    sim.misbehaviours.add(DropAfter(1))
    await esme.submit()
    await esme.wait_closed()


@pytest.mark.parametrize("count", [0, -1])
def test_bad_misbehaviour_values_fail_loudly(count: int) -> None:
    with pytest.raises(ValueError):
        DropAfter(count)
    with pytest.raises(ValueError):
        Throttle(count)


async def test_a_drop_waits_for_slowed_answers(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(drop_after=2, response_delay=0.05)
    esme = await connect(sim)
    pdus = [esme.submit_pdu() for _ in range(4)]
    answers = await asyncio.gather(*(esme.request(p) for p in pdus), return_exceptions=True)
    assert [type(a) for a in answers] == [SubmitSmResp] * 2 + [ConnectionError] * 2
    assert sim.stats.submits == 2

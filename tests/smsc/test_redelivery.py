"""deliver_sm the ESME refuses or never answers: sent again, held, or dropped and counted."""

from __future__ import annotations

import pytest

from jooksms.smsc import Simulator, SimulatorConfig
from jooksms.transports.smpp.pdu import DeliverSm, EnquireLink
from jooksms.transports.smpp.receipt import parse_receipt
from jooksms.transports.smpp.status import CommandStatus
from jooksms.transports.smpp.udh import read_incoming
from tests.helpers.esme import Esme
from tests.helpers.waiting import until
from tests.smsc.conftest import Connect, StartSimulator

S = CommandStatus
#: Short, so the tests are quick; what they check is what comes again, not when.
DELAY = 0.05


def receipted_id(pdu: DeliverSm) -> str:
    receipt = parse_receipt(pdu)
    assert receipt is not None
    return receipt.message_id


async def settled(esme: Esme) -> None:
    """A round trip: the simulator has read every answer the ESME sent before it."""
    await esme.request(EnquireLink(sequence_number=esme.next_sequence()))


@pytest.mark.parametrize(
    "status", [S.ESME_RX_T_APPN, S.ESME_RMSGQFUL, S.ESME_RTHROTTLED, S.ESME_RSYSERR]
)
async def test_a_temporary_error_gets_the_receipt_again_after_the_delay(
    start_simulator: StartSimulator, connect: Connect, status: S
) -> None:
    sim = await start_simulator(redeliver_delay=DELAY)
    esme = await connect(sim)
    esme.answers.append(status)
    resp = await esme.submit()
    first = await esme.next_delivery()
    again = await esme.next_delivery()
    assert receipted_id(first) == receipted_id(again) == resp.message_id
    assert again.short_message == first.short_message
    # A new PDU on the wire, numbered as such.
    assert again.sequence_number != first.sequence_number

    await until(lambda: sim.stats.deliveries_acked == 1)
    stats = sim.stats
    assert (stats.deliveries_refused, stats.deliveries_redelivered) == (1, 1)
    assert (stats.deliveries_dropped, stats.deliveries_delayed) == (0, 0)
    assert stats.receipts_sent == 2


async def test_an_incoming_sms_refused_for_now_comes_again(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(redeliver_delay=DELAY)
    esme = await connect(sim, "receiver")
    esme.answers.append(S.ESME_RX_T_APPN)
    await sim.inject(source="+50760001111", destination="+50688887777", text="Try again")
    first, again = await esme.next_delivery(), await esme.next_delivery()
    assert read_incoming(first).text == read_incoming(again).text == "Try again"
    await until(lambda: sim.stats.deliveries_acked == 1)
    assert (sim.stats.incoming_sent, sim.stats.deliveries_redelivered) == (2, 1)


async def test_it_waits_out_the_delay_before_going_again(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(redeliver_delay=60.0)
    esme = await connect(sim)
    esme.answers.append(S.ESME_RX_T_APPN)
    await esme.submit()
    await esme.next_delivery()
    await settled(esme)
    assert (sim.stats.deliveries_delayed, sim.stats.deliveries_pending) == (1, 0)
    with pytest.raises(TimeoutError):
        await esme.next_delivery(timeout=0.1)


@pytest.mark.parametrize("status", [S.ESME_RX_P_APPN, S.ESME_RINVMSGLEN, 0x400])
async def test_a_permanent_error_drops_it_and_counts_it(
    start_simulator: StartSimulator, connect: Connect, status: int
) -> None:
    # No delay: had it been scheduled again, it would go out before the next receipt.
    sim = await start_simulator(redeliver_delay=0.0)
    esme = await connect(sim)
    esme.answers.append(status)
    refused = await esme.submit()
    assert receipted_id(await esme.next_delivery()) == refused.message_id
    await settled(esme)
    assert (sim.stats.deliveries_refused, sim.stats.deliveries_dropped) == (1, 1)
    assert sim.stats.deliveries_redelivered == 0

    accepted = await esme.submit()
    assert receipted_id(await esme.next_delivery()) == accepted.message_id
    assert sim.stats.receipts_sent == 2


async def test_it_is_dropped_after_redeliver_attempts_temporary_errors(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(redeliver_delay=DELAY, redeliver_attempts=3)
    esme = await connect(sim)
    esme.answers.extend([S.ESME_RX_T_APPN] * 3)
    resp = await esme.submit()
    tries = [await esme.next_delivery() for _ in range(3)]
    assert {receipted_id(p) for p in tries} == {resp.message_id}
    await until(lambda: sim.stats.deliveries_dropped == 1)
    stats = sim.stats
    assert (stats.deliveries_refused, stats.deliveries_redelivered) == (3, 2)
    # Nothing scheduled nor held: it is not coming a fourth time.
    assert (stats.deliveries_delayed, stats.deliveries_pending) == (0, 0)
    assert (stats.receipts_sent, stats.deliveries_acked) == (3, 0)


async def test_one_attempt_never_sends_again(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(redeliver_delay=0.0, redeliver_attempts=1)
    esme = await connect(sim)
    esme.answers.append(S.ESME_RX_T_APPN)
    await esme.submit()
    await esme.next_delivery()
    await settled(esme)
    assert (sim.stats.deliveries_dropped, sim.stats.deliveries_redelivered) == (1, 0)


async def test_refused_for_now_then_disconnected_it_waits_for_the_next_bind(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(redeliver_delay=DELAY)
    esme = await connect(sim)
    esme.answers.append(S.ESME_RX_T_APPN)
    resp = await esme.submit()
    await esme.next_delivery()
    await settled(esme)
    await esme.close()
    # Due with nobody bound: held like any deliver_sm without a receiver.
    await until(lambda: sim.stats.deliveries_pending == 1)
    assert sim.stats.deliveries_delayed == 0
    again = await connect(sim, "receiver")
    assert receipted_id(await again.next_delivery()) == resp.message_id


async def test_unanswered_when_the_connection_is_lost_it_goes_on_the_next_bind(
    sim: Simulator, connect: Connect
) -> None:
    silent = await connect(sim, auto_ack=False)
    resp = await silent.submit()
    await silent.next_delivery()
    assert sim.drop() == 1  # a network failure: no unbind, no answer
    await silent.wait_closed()
    await until(lambda: sim.stats.deliveries_pending == 1)
    again = await connect(sim, "receiver")
    assert receipted_id(await again.next_delivery()) == resp.message_id
    await until(lambda: sim.stats.deliveries_acked == 1)
    assert (sim.stats.deliveries_requeued, sim.stats.deliveries_dropped) == (1, 0)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("redeliver_attempts", 0, "redeliver_attempts must be a positive integer"),
        ("redeliver_attempts", 2.5, "redeliver_attempts must be a positive integer"),
        ("pending_limit", 0, "pending_limit must be a positive integer"),
        ("pending_limit", True, "pending_limit must be a positive integer"),
        ("redeliver_delay", -1.0, "redeliver_delay must be a finite number of seconds"),
        ("redeliver_delay", float("inf"), "redeliver_delay must be a finite number of seconds"),
    ],
)
def test_bad_redelivery_settings_are_refused(option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatorConfig(**{option: value})  # type: ignore[arg-type]

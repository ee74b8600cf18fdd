"""submit_sm, what is recorded of it, and the receipts that follow."""

from __future__ import annotations

from jooksms.smsc import Simulator
from jooksms.transports.smpp.pdu import DeliverSm
from jooksms.transports.smpp.receipt import ReceiptState, is_receipt, parse_receipt
from jooksms.transports.smpp.status import CommandStatus
from jooksms.transports.smpp.tlv import Tag, find_tlv
from jooksms.transports.smpp.udh import ESM_UDHI, Reassembler, split_for_smpp
from tests.helpers.esme import submit_many
from tests.helpers.waiting import until
from tests.smsc.conftest import Connect, StartSimulator

S = CommandStatus


def receipt_of(pdu: DeliverSm) -> tuple[str, ReceiptState, str | None]:
    assert is_receipt(pdu.esm_class)
    receipt = parse_receipt(pdu)
    assert receipt is not None
    return receipt.message_id, receipt.state, receipt.error_code


async def test_submit_gets_an_id_and_its_receipt_on_the_transceiver(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(receipt_delay=0.05)
    esme = await connect(sim)
    resp = await esme.submit(short_message=b"Hello from the test")
    assert resp.command_status == S.ESME_ROK
    int(resp.message_id, 16)  # hex by default

    receipt = await esme.next_delivery()
    assert receipt_of(receipt)[:2] == (resp.message_id, ReceiptState.DELIVRD)
    # Back from the handset to the sender.
    assert (receipt.source_addr, receipt.destination_addr) == ("50688887777", "50760001111")
    assert b"text:Hello from the test" in receipt.short_message
    tlv_id = find_tlv(receipt.tlvs, Tag.RECEIPTED_MESSAGE_ID)
    assert tlv_id is not None and tlv_id.as_str() == resp.message_id

    await until(lambda: sim.stats.deliveries_acked == 1)
    record = sim.stats.records[0]
    assert (record.message_id, record.text, record.data_coding, record.udh) == (
        resp.message_id,
        "Hello from the test",
        0,
        None,
    )
    assert sim.stats.to("50688887777") == [record]
    assert sim.stats.by_message_id(resp.message_id) is record
    assert (sim.stats.submits, sim.stats.accepted, sim.stats.delivered) == (1, 1, 1)


async def test_decimal_ids_are_unique(start_simulator: StartSimulator, connect: Connect) -> None:
    sim = await start_simulator(id_format="decimal", receipts="never")
    esme = await connect(sim)
    ids = [r.message_id for r in await submit_many(esme, 50)]
    assert all(i.isdigit() for i in ids)
    assert len(set(ids)) == 50


async def test_receipts_go_to_a_receiver_of_the_same_system_id(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(accounts={"jooksms": "secret", "shop": "pw"})
    sender = await connect(sim, "transmitter")
    receiver = await connect(sim, "receiver")
    stranger = await connect(sim, "receiver", system_id="shop", password="pw")
    resp = await sender.submit()
    assert receipt_of(await receiver.next_delivery())[0] == resp.message_id
    assert stranger.deliveries.empty()


async def test_only_requested_receipts_are_sent(sim: Simulator, connect: Connect) -> None:
    esme = await connect(sim)
    await esme.submit(registered_delivery=0)
    wanted = await esme.submit(registered_delivery=1)
    # Receipts keep submit order, so the first to arrive would be the unwanted one.
    assert receipt_of(await esme.next_delivery())[0] == wanted.message_id


async def test_a_receipt_waits_for_a_receiver_to_bind(sim: Simulator, connect: Connect) -> None:
    sender = await connect(sim, "transmitter")
    resp = await sender.submit()
    assert sim.stats.deliveries_pending == 1
    receiver = await connect(sim, "receiver")
    assert receipt_of(await receiver.next_delivery())[0] == resp.message_id
    assert sim.stats.deliveries_pending == 0


async def test_an_unanswered_receipt_is_sent_again_after_a_reconnect(
    sim: Simulator, connect: Connect
) -> None:
    careless = await connect(sim, auto_ack=False)
    resp = await careless.submit()
    await careless.next_delivery()
    await careless.close()
    again = await connect(sim, "receiver")
    assert receipt_of(await again.next_delivery())[0] == resp.message_id
    assert sim.stats.deliveries_requeued == 1


async def test_failures_follow_the_rate_and_repeat_with_a_seed(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    async def outcomes() -> list[tuple[str, ReceiptState, str | None]]:
        sim = await start_simulator(failure_rate=0.5, seed=7, failure_error=34)
        esme = await connect(sim)
        await submit_many(esme, 30)
        return [receipt_of(await esme.next_delivery()) for _ in range(30)]

    first, second = await outcomes(), await outcomes()
    assert first == second
    states = [state for _, state, _ in first]
    assert set(states) == {ReceiptState.DELIVRD, ReceiptState.UNDELIV}
    errors = {state: {err for _, s, err in first if s is state} for state in set(states)}
    assert errors == {ReceiptState.DELIVRD: {"000"}, ReceiptState.UNDELIV: {"034"}}


async def test_a_failure_rate_of_one_fails_everything(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(failure_rate=1.0)
    esme = await connect(sim)
    resp = await esme.submit()
    receipt = await esme.next_delivery()
    assert receipt_of(receipt) == (resp.message_id, ReceiptState.UNDELIV, "001")
    assert find_tlv(receipt.tlvs, Tag.NETWORK_ERROR_CODE) is not None
    assert sim.stats.undelivered == 1


async def test_a_three_part_ucs2_message_is_recorded_in_parts_that_reassemble(
    sim: Simulator, connect: Connect
) -> None:
    text = "Привет, мир! Это длинное сообщение. " * 5
    parts = split_for_smpp(text, ref=42)
    assert len(parts) == 3
    esme = await connect(sim)
    for part in parts:
        resp = await esme.submit(
            esm_class=part.esm_class, data_coding=part.data_coding, short_message=part.short_message
        )
        assert resp.command_status == S.ESME_ROK

    records = sim.stats.to("50688887777")
    assert len(records) == 3 == sim.stats.submits
    reassembler = Reassembler(timeout=60)
    joined = None
    for record in records:
        assert record.data_coding == 0x08
        assert record.esm_class & ESM_UDHI
        assert record.udh is not None and record.udh[:3] == b"\x05\x00\x03"
        concat = record.concat
        assert concat is not None and (concat.ref, concat.total) == (42, 3)
        assert record.text is not None
        joined = reassembler.add(record.source, concat.ref, concat.total, concat.seq, record.text)
    assert joined == text


async def test_pipelined_submits_in_a_window_are_all_answered(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(receipts="always")
    esme = await connect(sim)
    answers = []
    for _ in range(20):
        answers += await submit_many(esme, 100)
    assert {a.command_status for a in answers} == {S.ESME_ROK}
    assert len({a.message_id for a in answers}) == 2000
    for _ in range(2000):
        await esme.next_delivery()
    await until(lambda: sim.stats.deliveries_acked == 2000)
    assert sim.stats.receipts_sent == 2000

"""The SMPP client against a small fake SMSC on 127.0.0.1 (tests/.../fake_smsc.py).

Timings are shrunk through the config (reconnect in 10-50 ms, throttle pauses of
10 ms), and tests wait on conditions with timeouts rather than sleeping.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from jooksms.transports.ratelimit import TokenBucket
from jooksms.transports.smpp.client import (
    MAX_SEQUENCE,
    BindMode,
    Charset,
    IncomingSms,
    OutgoingSms,
    SequenceNumbers,
    SessionState,
    SmppClient,
    SmppConfig,
    SmppConfigError,
    SubmitFailure,
    SubmitResult,
)
from jooksms.transports.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
)
from jooksms.transports.smpp.receipt import (
    ESM_DELIVERY_RECEIPT,
    Receipt,
    ReceiptState,
    format_receipt,
)
from jooksms.transports.smpp.status import CommandStatus
from jooksms.transports.smpp.tlv import Tag, Tlv
from jooksms.transports.smpp.udh import (
    ESM_UDHI,
    Reassembler,
    parse_udh,
    read_incoming,
    split_for_smpp,
)

from .fake_smsc import FakeSmsc, Peer, answer_now

S = CommandStatus

FAST: dict[str, Any] = {
    "host": "127.0.0.1",
    "system_id": "jook",
    "password": "secret",
    "system_type": "test",
    "response_timeout": 2.0,
    "reconnect_min": 0.01,
    "reconnect_max": 0.05,
    "throttle_pause": 0.01,
}

MakeClient = Callable[..., Awaitable[SmppClient]]


@dataclass
class Inbox:
    """The application side: collects what the client hands over, or fails on demand."""

    receipts: list[Receipt] = field(default_factory=list)
    incoming: list[IncomingSms] = field(default_factory=list)
    fail_receipts: int = 0
    fail_incoming: int = 0

    async def on_receipt(self, receipt: Receipt) -> None:
        if self.fail_receipts:
            self.fail_receipts -= 1
            raise RuntimeError("database unavailable")
        self.receipts.append(receipt)

    async def on_incoming(self, sms: IncomingSms) -> None:
        if self.fail_incoming:
            self.fail_incoming -= 1
            raise RuntimeError("database unavailable")
        self.incoming.append(sms)


@pytest.fixture
async def smsc() -> AsyncIterator[FakeSmsc]:
    fake = FakeSmsc()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def make_client(smsc: FakeSmsc, inbox: Inbox) -> AsyncIterator[MakeClient]:
    clients: list[SmppClient] = []

    async def make(
        *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, **overrides: Any
    ) -> SmppClient:
        config = SmppConfig(**{**FAST, "port": smsc.port, **overrides})
        client = SmppClient(
            config,
            on_receipt=inbox.on_receipt,
            on_incoming=inbox.on_incoming,
            sleep=sleep,
            rng=random.Random(7),
        )
        clients.append(client)
        await client.start()
        return client

    yield make
    for client in clients:
        await client.stop(1)


def sms(n: int = 1, text: str = "hello", source: str = "+15550001") -> OutgoingSms:
    return OutgoingSms(id=n, source=source, destination="+15550002", text=text)


def receipt_pdu(message_id: str, state: ReceiptState = ReceiptState.DELIVRD) -> DeliverSm:
    text = format_receipt(Receipt(message_id, state))
    return DeliverSm(
        sequence_number=0,
        source_addr="15550002",
        destination_addr="15550001",
        esm_class=ESM_DELIVERY_RECEIPT,
        short_message=text.encode(),
    )


def hold(into: list[tuple[Peer, SubmitSm]]) -> Callable[[Peer, SubmitSm], None]:
    """An SMSC that takes submit_sm and answers only when the test says so."""
    return lambda peer, pdu: into.append((peer, pdu))


def failure(result: SubmitResult) -> SubmitFailure:
    assert result.failure is not None, result
    return result.failure


# --- binding --------------------------------------------------------------------------


async def test_bind_ok(smsc: FakeSmsc, make_client: MakeClient) -> None:
    client = await make_client()
    assert client.state is SessionState.BOUND
    (bind,) = smsc.binds
    assert isinstance(bind, BindTransceiver)
    assert (bind.system_id, bind.password, bind.system_type) == ("jook", "secret", "test")


async def test_bind_refused_backs_off_without_a_storm(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    smsc.bind_status = S.ESME_RINVPASWD
    delays: list[float] = []
    enough = asyncio.Event()

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 5:
            enough.set()
            await asyncio.Event().wait()  # stay here until stop() cancels the loop

    client = await make_client(sleep=sleep, reconnect_min=1.0, reconnect_max=8.0)
    async with asyncio.timeout(5):
        await enough.wait()
    assert len(smsc.binds) == 5  # one attempt per back-off, nothing in between
    for attempt, delay in enumerate(delays):
        ceiling = min(8.0, 2.0 ** (attempt + 1))
        assert max(1.0, ceiling / 2) <= delay <= ceiling
    assert client.last_error is not None and "ESME_RINVPASWD" in client.last_error
    assert client.state is not SessionState.BOUND


async def test_a_session_that_carried_submits_reconnects_without_a_longer_wait(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    """An SMSC that drops the line after some submits (every 1,000, say) is not a
    flapping bind: each reconnect waits the first back-off, not a growing one."""
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    def answer_then_drop(peer: Peer, pdu: SubmitSm) -> None:
        peer.answer(pdu)
        asyncio.get_running_loop().call_later(0.01, peer.abort)

    smsc.on_submit = answer_then_drop
    client = await make_client(sleep=sleep, reconnect_min=0.01, reconnect_max=10.0)
    for n in range(5):
        await smsc.wait_for(lambda: client.state is SessionState.BOUND)
        assert (await client.submit(sms(n))).ok
        await smsc.wait_for(lambda n=n: len(delays) > n)  # type: ignore[misc]
    assert len(delays) == 5
    assert all(0.01 <= delay <= 0.02 for delay in delays), delays


async def test_submit_while_not_bound_fails_as_not_sent(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    smsc.bind_status = S.ESME_RBINDFAIL
    client = await make_client(response_timeout=0.1, reconnect_min=1.0, reconnect_max=1.0)
    problem = failure(await client.submit(sms()))
    assert problem.kind == "transient"
    assert not problem.maybe_delivered
    assert "not bound" in problem.description and "ESME_RBINDFAIL" in problem.description


async def test_transmitter_and_receiver_binds(
    smsc: FakeSmsc, make_client: MakeClient, inbox: Inbox
) -> None:
    client = await make_client(bind=BindMode.TRANSMITTER_RECEIVER)
    assert client.state is SessionState.BOUND
    assert {type(b) for b in smsc.binds} == {BindTransmitter, BindReceiver}
    result = await client.submit(sms())
    assert result.ok
    peers = {type(p.bind): p for p in smsc.bound_peers}
    assert len(peers[BindTransmitter].submits) == 1
    await peers[BindReceiver].request(receipt_pdu(result.carrier_ids[0]))
    assert [r.message_id for r in inbox.receipts] == list(result.carrier_ids)


# --- submitting -----------------------------------------------------------------------


async def test_submit_returns_the_carrier_id(smsc: FakeSmsc, make_client: MakeClient) -> None:
    client = await make_client()
    result = await client.submit(sms(7))
    assert result == SubmitResult(7, ("msg-1",))
    (pdu,) = smsc.submits
    assert (pdu.source_addr, pdu.destination_addr, pdu.short_message) == (
        "15550001",
        "15550002",
        b"hello",
    )
    assert pdu.registered_delivery == 1


@pytest.mark.parametrize(
    ("source", "ton", "npi", "addr"),
    [
        ("+447700900123", 1, 1, "447700900123"),
        ("12345", 0, 1, "12345"),
        ("JookSMS", 5, 0, "JookSMS"),
    ],
)
async def test_source_address_type(
    smsc: FakeSmsc, make_client: MakeClient, source: str, ton: int, npi: int, addr: str
) -> None:
    client = await make_client()
    assert (await client.submit(sms(source=source))).ok
    (pdu,) = smsc.submits
    assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == (ton, npi, addr)
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi) == (1, 1)


@pytest.mark.parametrize(
    ("message", "status"),
    [
        (OutgoingSms(1, "an overlong sender", "+15550002", "hi"), S.ESME_RINVSRCADR),
        (OutgoingSms(1, "+15550001", "Jook", "hi"), S.ESME_RINVDSTADR),
        (OutgoingSms(1, "+15550001", "+1555\x000002", "hi"), S.ESME_RINVDSTADR),
        (OutgoingSms(1, "+44 770 090", "+15550002", "hi"), S.ESME_RINVSRCADR),
        (OutgoingSms(1, "+15550001", "+15550002", "lone \ud800 surrogate"), S.ESME_RINVMSGLEN),
    ],
)
async def test_unsendable_message_is_permanent_and_not_sent(
    smsc: FakeSmsc, make_client: MakeClient, message: OutgoingSms, status: int
) -> None:
    client = await make_client()
    problem = failure(await client.submit(message))
    assert (problem.kind, problem.status, problem.maybe_delivered) == ("permanent", status, False)
    assert smsc.submits == []


async def test_window_is_respected(smsc: FakeSmsc, make_client: MakeClient) -> None:
    held: list[tuple[Peer, SubmitSm]] = []
    smsc.on_submit = hold(held)
    client = await make_client(window=8)
    tasks = [asyncio.create_task(client.submit(sms(n))) for n in range(50)]
    await smsc.wait_for(lambda: len(held) == 8)
    await asyncio.sleep(0.05)  # room for an over-eager client to send a ninth
    assert len(held) == 8

    def answer_soon(peer: Peer, pdu: SubmitSm) -> None:
        asyncio.get_running_loop().call_later(0.001, peer.answer, pdu)

    smsc.on_submit = answer_soon
    for peer, pdu in held:
        peer.answer(pdu)
    results = await asyncio.gather(*tasks)
    assert all(r.ok for r in results)
    assert smsc.max_outstanding == 8


async def test_a_thousand_concurrent_submits_are_all_answered(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    client = await make_client()
    results = await asyncio.gather(*(client.submit(sms(n)) for n in range(1000)))
    assert [r.id for r in results] == list(range(1000))
    assert all(r.ok for r in results)
    assert len({r.carrier_ids[0] for r in results}) == 1000
    assert len(smsc.submits) == 1000
    assert smsc.max_outstanding <= 32


@pytest.mark.parametrize(
    ("text", "data_coding"),
    [("Long GSM text {ok} " * 20, 0x00), ("Длинное сообщение " * 9, 0x08)],
    ids=["gsm7", "ucs2"],
)
async def test_long_message_goes_as_three_parts_with_udh(
    smsc: FakeSmsc, make_client: MakeClient, text: str, data_coding: int
) -> None:
    client = await make_client()
    result = await client.submit(sms(text=text))
    assert len(result.carrier_ids) == 3
    assert [p.data_coding for p in smsc.submits] == [data_coding] * 3
    assert all(p.esm_class & ESM_UDHI for p in smsc.submits)
    concats = [parse_udh(p.short_message)[0] for p in smsc.submits]
    assert len({c.ref for c in concats if c}) == 1
    assert [(c.total, c.seq) for c in concats if c] == [(3, 1), (3, 2), (3, 3)]
    assert reassemble(smsc.submits) == text
    # The next long message must not share the reference, or handsets would mix them.
    await client.submit(sms(text=text))
    later = parse_udh(smsc.submits[3].short_message)[0]
    assert later is not None and concats[0] is not None and later.ref != concats[0].ref


@pytest.mark.parametrize(
    ("charset", "text", "data_coding", "octets"),
    [
        (Charset.GSM7, "@ Café", 0x00, b"\x00 Caf\x05"),
        (Charset.GSM7, "¢ ð", 0x08, "¢ ð".encode("utf-16-be")),
        (Charset.LATIN1, "@ Café ¢ ð", 0x00, "@ Café ¢ ð".encode("latin-1")),
        (Charset.LATIN1, "5€", 0x08, "5€".encode("utf-16-be")),
        (Charset.ASCII, "`@{x}`", 0x00, b"`@{x}`"),
        (Charset.ASCII, "@ Café", 0x08, "@ Café".encode("utf-16-be")),
    ],
)
async def test_submit_encodes_for_the_connector_charset(
    smsc: FakeSmsc,
    make_client: MakeClient,
    charset: Charset,
    text: str,
    data_coding: int,
    octets: bytes,
) -> None:
    client = await make_client(charset=charset)
    assert (await client.submit(sms(text=text))).ok
    (pdu,) = smsc.submits
    assert (pdu.data_coding, pdu.esm_class, pdu.short_message) == (data_coding, 0, octets)


@pytest.mark.parametrize(
    ("charset", "data_coding", "parts"),
    [(Charset.GSM7, 0x08, 5), (Charset.LATIN1, 0x00, 3), (Charset.ASCII, 0x08, 5)],
)
async def test_long_latin1_text_is_split_for_the_connector_charset(
    smsc: FakeSmsc, make_client: MakeClient, charset: Charset, data_coding: int, parts: int
) -> None:
    client = await make_client(charset=charset)
    text = "ð" * 300  # not in GSM 03.38, one octet in Latin-1
    result = await client.submit(sms(text=text))
    assert len(result.carrier_ids) == parts
    assert {p.data_coding for p in smsc.submits} == {data_coding}
    assert all(p.esm_class & ESM_UDHI for p in smsc.submits)
    assert all(len(p.short_message) <= 140 for p in smsc.submits)
    if charset is Charset.LATIN1:
        assert [len(p.short_message) for p in smsc.submits] == [6 + 134, 6 + 134, 6 + 32]
    assert reassemble(smsc.submits, charset) == text


def reassemble(pdus: list[SubmitSm], charset: Charset = Charset.GSM7) -> str | None:
    """What a handset makes of the parts."""
    reassembler = Reassembler(timeout=60)
    text = None
    for pdu in pdus:
        incoming = read_incoming(
            DeliverSm(
                sequence_number=1,
                esm_class=pdu.esm_class,
                data_coding=pdu.data_coding,
                short_message=pdu.short_message,
            ),
            charset,
        )
        assert incoming.concat is not None
        c = incoming.concat
        text = reassembler.add("x", c.ref, c.total, c.seq, incoming.text)
    return text


async def test_throttled_then_ok_is_retried_and_the_session_slows_down(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    answers = iter([S.ESME_RTHROTTLED, S.ESME_RTHROTTLED])
    smsc.on_submit = lambda peer, pdu: peer.answer(pdu, status=next(answers, S.ESME_ROK))
    client = await make_client(throttle_retries=3)
    started = time.monotonic()
    result = await client.submit(sms())
    assert result.ok
    assert len(smsc.submits) == 3
    # Two pauses (10 ms, then 20 ms as throttling persisted), and a smaller window.
    assert time.monotonic() - started >= 0.03
    assert client.window_limit == 8


async def test_queue_full_concerns_that_message_and_slows_nothing(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    """ESME_RMSGQFUL is about the message (its destination's queue, often): it is
    reported for the worker to retry later, not resent at once, and the session keeps
    its window and pace for the others."""
    answers = iter([S.ESME_RMSGQFUL])
    smsc.on_submit = lambda peer, pdu: peer.answer(pdu, status=next(answers, S.ESME_ROK))
    client = await make_client(throttle_pause=5.0, window=32)
    problem = failure(await client.submit(sms()))
    assert (problem.kind, problem.status, problem.maybe_delivered) == (
        "transient",
        S.ESME_RMSGQFUL,
        False,
    )
    assert len(smsc.submits) == 1
    started = time.monotonic()
    results = await asyncio.gather(*(client.submit(sms(n)) for n in range(2, 42)))
    assert all(r.ok for r in results)
    # No throttle pause (5 s) and the full window.
    assert time.monotonic() - started < 2.0
    assert client.window_limit == 32


async def test_throttled_too_often_is_reported_throttled(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    smsc.on_submit = lambda peer, pdu: peer.answer(pdu, status=S.ESME_RTHROTTLED)
    client = await make_client(throttle_retries=2)
    problem = failure(await client.submit(sms()))
    assert (problem.kind, problem.status) == ("throttled", S.ESME_RTHROTTLED)
    assert len(smsc.submits) == 3


async def test_permanent_error_is_reported_permanent(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    smsc.on_submit = lambda peer, pdu: peer.answer(pdu, status=S.ESME_RINVDSTADR)
    client = await make_client()
    problem = failure(await client.submit(sms()))
    assert (problem.kind, problem.status, problem.maybe_delivered) == (
        "permanent",
        S.ESME_RINVDSTADR,
        False,
    )
    assert "ESME_RINVDSTADR" in problem.description and "destination" in problem.description
    assert len(smsc.submits) == 1


async def test_generic_nack_answers_the_request_it_names(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    def nack(peer: Peer, pdu: SubmitSm) -> None:
        peer.send(GenericNack(sequence_number=pdu.sequence_number, command_status=S.ESME_RSYSERR))

    smsc.on_submit = nack
    client = await make_client()
    problem = failure(await client.submit(sms()))
    assert (problem.kind, problem.status) == ("transient", S.ESME_RSYSERR)


async def test_not_bound_answer_drops_the_connection_and_rebinds(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    answers = iter([S.ESME_RINVBNDSTS])
    smsc.on_submit = lambda peer, pdu: peer.answer(pdu, status=next(answers, S.ESME_ROK))
    client = await make_client()
    problem = failure(await client.submit(sms()))
    assert (problem.kind, problem.status) == ("transient", S.ESME_RINVBNDSTS)
    await smsc.wait_for(lambda: len(smsc.binds) == 2 and client.state is SessionState.BOUND)
    assert (await client.submit(sms(2))).ok


async def test_part_failure_names_the_part(smsc: FakeSmsc, make_client: MakeClient) -> None:
    def refuse_second(peer: Peer, pdu: SubmitSm) -> None:
        concat = parse_udh(pdu.short_message)[0]
        status = S.ESME_RINVMSGLEN if concat and concat.seq == 2 else S.ESME_ROK
        peer.answer(pdu, status=status)

    smsc.on_submit = refuse_second
    client = await make_client()
    result = await client.submit(sms(text="x" * 400))
    problem = failure(result)
    assert len(result.carrier_ids) == 2
    assert problem.kind == "permanent" and problem.description.startswith("part 2 of 3:")
    assert problem.maybe_delivered  # parts 1 and 3 went out


async def test_no_response_is_transient_and_a_late_one_is_ignored(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    held: list[tuple[Peer, SubmitSm]] = []
    smsc.on_submit = hold(held)
    client = await make_client(response_timeout=0.1)
    problem = failure(await client.submit(sms()))
    assert problem.kind == "transient" and problem.maybe_delivered
    assert not problem.connection_lost  # a live line: the SMSC probably has it
    assert "no response" in problem.description
    peer, pdu = held[0]
    peer.answer(pdu)
    smsc.on_submit = answer_now
    assert (await client.submit(sms(2))).ok
    assert client.state is SessionState.BOUND


async def test_a_late_ok_reports_the_message_accepted_with_its_id(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    """The submit reported no answer; the SMSC's answer comes later, with its id: the
    handler hears that the message was accepted, so it need not go again."""
    held: list[tuple[Peer, SubmitSm]] = []
    smsc.on_submit = hold(held)
    client = await make_client(response_timeout=0.1)
    late: list[SubmitResult] = []
    client.report_late_answers(late.append)
    problem = failure(await client.submit(sms(7)))
    assert problem.maybe_delivered
    peer, pdu = held[0]
    carrier_id = peer.answer(pdu)
    await smsc.wait_for(lambda: bool(late))
    assert late == [SubmitResult(7, (carrier_id,))]
    assert client.state is SessionState.BOUND


async def test_a_long_message_is_reported_once_every_late_part_is_accepted(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    held: list[tuple[Peer, SubmitSm]] = []

    def hold_second(peer: Peer, pdu: SubmitSm) -> None:
        concat = parse_udh(pdu.short_message)[0]
        if concat is not None and concat.seq == 2:
            held.append((peer, pdu))
        else:
            peer.answer(pdu, message_id=f"id{concat.seq if concat else 0}")

    smsc.on_submit = hold_second
    client = await make_client(response_timeout=0.1)
    late: list[SubmitResult] = []
    client.report_late_answers(late.append)
    result = await client.submit(sms(3, text="x" * 400))
    assert result.carrier_ids == ("id1", "id3") and failure(result).maybe_delivered
    peer, pdu = held[0]
    peer.answer(pdu, message_id="id2")
    await smsc.wait_for(lambda: bool(late))
    assert late == [SubmitResult(3, ("id1", "id2", "id3"))]


async def test_a_late_refusal_or_a_lost_line_reports_nothing(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    held: list[tuple[Peer, SubmitSm]] = []
    smsc.on_submit = hold(held)
    client = await make_client(response_timeout=0.1)
    late: list[SubmitResult] = []
    client.report_late_answers(late.append)
    failure(await client.submit(sms(1)))
    failure(await client.submit(sms(2)))
    peer, pdu = held[0]
    peer.answer(pdu, status=S.ESME_RSYSERR)
    smsc.on_submit = answer_now
    assert (await client.submit(sms(3))).ok  # the refusal has been read by now
    peer.abort()  # the second one's answer can no longer come
    await smsc.wait_for(lambda: len(smsc.binds) == 2 and client.state is SessionState.BOUND)
    assert late == []


async def test_rate_limit_paces_submits(smsc: FakeSmsc, make_client: MakeClient) -> None:
    client = await make_client(rate=200.0)
    started = time.monotonic()
    results = await asyncio.gather(*(client.submit(sms(n)) for n in range(11)))
    assert all(r.ok for r in results)
    assert time.monotonic() - started >= 10 / 200 * 0.9


# --- connection trouble ---------------------------------------------------------------


async def test_dropped_connection_fails_the_window_and_rebinds(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    held: list[tuple[Peer, SubmitSm]] = []
    smsc.on_submit = hold(held)
    client = await make_client()
    tasks = [asyncio.create_task(client.submit(sms(n))) for n in range(10)]
    await smsc.wait_for(lambda: len(held) == 10)
    smsc.peer().abort()
    for result in await asyncio.gather(*tasks):
        problem = failure(result)
        assert problem.kind == "transient" and problem.maybe_delivered
        assert problem.connection_lost
        assert "connection lost" in problem.description
    smsc.on_submit = answer_now
    await smsc.wait_for(lambda: len(smsc.binds) == 2 and client.state is SessionState.BOUND)
    assert (await client.submit(sms())).ok


async def test_enquire_link_is_sent_when_idle(smsc: FakeSmsc, make_client: MakeClient) -> None:
    client = await make_client(enquire_link_interval=0.05)
    await smsc.wait_for(lambda: smsc.enquire_links >= 2)
    assert client.state is SessionState.BOUND and len(smsc.binds) == 1


async def test_unanswered_enquire_link_reconnects(smsc: FakeSmsc, make_client: MakeClient) -> None:
    smsc.answer_enquire_link = False
    client = await make_client(enquire_link_interval=0.05, response_timeout=0.1)
    # The SMSC never hangs up here: a second bind means the client gave up on the link.
    await smsc.wait_for(lambda: len(smsc.binds) >= 2 and client.state is SessionState.BOUND)
    assert smsc.peers[0].closed.is_set()


async def test_stop_waits_for_answers_then_unbinds(smsc: FakeSmsc, make_client: MakeClient) -> None:
    held: list[tuple[Peer, SubmitSm]] = []
    smsc.on_submit = hold(held)
    client = await make_client()
    sent = asyncio.create_task(client.submit(sms()))
    await smsc.wait_for(lambda: len(held) == 1)
    stopping = asyncio.create_task(client.stop(timeout=5))
    await asyncio.sleep(0)  # let stop() begin
    late = failure(await client.submit(sms(2)))
    assert late.kind == "transient" and not late.maybe_delivered
    assert smsc.unbinds == 0  # still waiting for the answer to the first
    peer, pdu = held[0]
    peer.answer(pdu)
    assert (await sent).ok
    await stopping
    assert smsc.unbinds == 1
    assert client.state is SessionState.DISCONNECTED
    assert len(smsc.submits) == 1


async def test_stop_gives_up_on_answers_after_its_timeout(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    smsc.on_submit = hold([])
    client = await make_client()
    sent = asyncio.create_task(client.submit(sms()))
    await smsc.wait_for(lambda: len(smsc.submits) == 1)
    started = time.monotonic()
    await client.stop(timeout=0.1)
    assert time.monotonic() - started < 1
    problem = failure(await sent)
    assert problem.kind == "transient" and problem.maybe_delivered


async def test_smsc_initiated_unbind(smsc: FakeSmsc, make_client: MakeClient) -> None:
    client = await make_client()
    response = await smsc.peer().request(Unbind(sequence_number=0))
    assert isinstance(response, UnbindResp) and response.command_status == S.ESME_ROK
    await smsc.wait_for(lambda: len(smsc.binds) == 2 and client.state is SessionState.BOUND)
    assert (await client.submit(sms())).ok


async def test_garbage_from_the_smsc_gets_a_nack_and_a_new_connection(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    client = await make_client()
    # command_length 8 is shorter than a header: the stream cannot be trusted any more.
    smsc.peer().write_raw(bytes.fromhex("00000008 00000004 00000000 00000009"))
    await smsc.wait_for(lambda: len(smsc.binds) == 2 and client.state is SessionState.BOUND)
    nacks = [p for p in smsc.received if isinstance(p, GenericNack)]
    assert [n.command_status for n in nacks] == [S.ESME_RINVCMDLEN]


async def test_requests_an_esme_does_not_take_are_refused(
    smsc: FakeSmsc, make_client: MakeClient
) -> None:
    client = await make_client()
    peer = smsc.peer()
    query_sm = await peer.request(UnknownPdu(sequence_number=0, raw_command_id=0x00000003))
    assert isinstance(query_sm, GenericNack) and query_sm.command_status == S.ESME_RINVCMDID
    submit = await peer.request(SubmitSm(sequence_number=0, short_message=b"x"))
    assert isinstance(submit, SubmitSmResp) and submit.command_status == S.ESME_RINVBNDSTS
    assert client.state is SessionState.BOUND


# --- incoming -------------------------------------------------------------------------


async def test_receipt_before_submit_resp_still_reaches_on_receipt(
    smsc: FakeSmsc, make_client: MakeClient, inbox: Inbox
) -> None:
    answers: list[int] = []

    def receipt_first(peer: Peer, pdu: SubmitSm) -> None:
        async def script() -> None:
            response = await peer.request(receipt_pdu("abc123"))
            answers.append(response.command_status)
            peer.answer(pdu, message_id="abc123")

        smsc.spawn(script())

    smsc.on_submit = receipt_first
    client = await make_client()
    result = await client.submit(sms())
    assert result.carrier_ids == ("abc123",)
    assert answers == [S.ESME_ROK]
    assert [(r.message_id, r.state) for r in inbox.receipts] == [("abc123", ReceiptState.DELIVRD)]


async def test_incoming_multipart_is_reassembled(
    smsc: FakeSmsc, make_client: MakeClient, inbox: Inbox
) -> None:
    await make_client()
    text = "Ответ: " + "да, " * 40
    parts = split_for_smpp(text, ref=42)
    assert len(parts) == 3
    for part in (parts[2], parts[0], parts[1]):
        response = await smsc.peer().request(
            incoming_pdu(part.esm_class, part.data_coding, part.short_message)
        )
        assert isinstance(response, DeliverSmResp) and response.command_status == S.ESME_ROK
    assert inbox.incoming == [IncomingSms("+447700900123", "15550001", text)]


def incoming_pdu(esm_class: int, data_coding: int, short_message: bytes) -> DeliverSm:
    return DeliverSm(
        sequence_number=0,
        source_addr_ton=1,
        source_addr="447700900123",
        destination_addr="15550001",
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=short_message,
    )


@pytest.mark.parametrize(
    ("charset", "octets", "text"),
    [
        (Charset.GSM7, b"\x00 Caf\x05", "@ Café"),
        (Charset.GSM7, b"Caf\xe9", "Café"),  # today's Latin-1 fallback
        (Charset.LATIN1, b"@ Caf\xe9 \xf0", "@ Café ð"),
        (Charset.ASCII, b"`@{x}`", "`@{x}`"),
    ],
)
async def test_incoming_data_coding_0_is_read_in_the_connector_charset(
    smsc: FakeSmsc,
    make_client: MakeClient,
    inbox: Inbox,
    charset: Charset,
    octets: bytes,
    text: str,
) -> None:
    await make_client(charset=charset)
    response = await smsc.peer().request(incoming_pdu(0, 0x00, octets))
    assert isinstance(response, DeliverSmResp) and response.command_status == S.ESME_ROK
    assert inbox.incoming == [IncomingSms("+447700900123", "15550001", text)]


async def test_data_sm_is_taken_and_answered(
    smsc: FakeSmsc, make_client: MakeClient, inbox: Inbox
) -> None:
    await make_client()
    pdu = DataSm(
        sequence_number=0,
        source_addr="15550009",
        destination_addr="15550001",
        tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, b"via data sm"),),
    )
    response = await smsc.peer().request(pdu)
    assert isinstance(response, DataSmResp) and response.command_status == S.ESME_ROK
    assert inbox.incoming == [IncomingSms("15550009", "15550001", "via data sm")]


async def test_unsupported_coding_is_refused_permanently(
    smsc: FakeSmsc, make_client: MakeClient, inbox: Inbox
) -> None:
    await make_client()
    response = await smsc.peer().request(incoming_pdu(0, 0x04, b"\x01\x02"))
    assert response.command_status == S.ESME_RX_P_APPN
    assert inbox.incoming == []


async def test_intermediate_notification_is_a_receipt_and_sme_acks_are_not_messages(
    smsc: FakeSmsc, make_client: MakeClient, inbox: Inbox
) -> None:
    await make_client()
    peer = smsc.peer()
    notification = replace(receipt_pdu("m1", ReceiptState.ENROUTE), esm_class=0x20)
    assert (await peer.request(notification)).command_status == S.ESME_ROK
    sme_ack = replace(receipt_pdu("m1"), esm_class=0x08)
    assert (await peer.request(sme_ack)).command_status == S.ESME_ROK
    assert [(r.message_id, r.state) for r in inbox.receipts] == [("m1", ReceiptState.ENROUTE)]
    assert inbox.incoming == []


async def test_callback_error_asks_the_smsc_to_retry(
    smsc: FakeSmsc, make_client: MakeClient, inbox: Inbox
) -> None:
    client = await make_client()
    peer = smsc.peer()
    inbox.fail_receipts = 1
    first = await peer.request(receipt_pdu("r1"))
    assert first.command_status == S.ESME_RX_T_APPN
    again = await peer.request(receipt_pdu("r1"))  # the SMSC's retry
    assert again.command_status == S.ESME_ROK
    assert [r.message_id for r in inbox.receipts] == ["r1"]
    assert client.state is SessionState.BOUND


async def test_callback_error_on_a_long_message_is_retried_whole(
    smsc: FakeSmsc, make_client: MakeClient, inbox: Inbox
) -> None:
    await make_client()
    peer = smsc.peer()
    text = "part " * 80
    pdus = [
        incoming_pdu(p.esm_class, p.data_coding, p.short_message)
        for p in split_for_smpp(text, ref=9)
    ]
    inbox.fail_incoming = 1
    statuses = [(await peer.request(pdu)).command_status for pdu in pdus]
    assert statuses == [S.ESME_ROK, S.ESME_ROK, S.ESME_RX_T_APPN]
    # The SMSC resends only the refused part; the whole text must still come out.
    assert (await peer.request(pdus[-1])).command_status == S.ESME_ROK
    assert [m.text for m in inbox.incoming] == [text]


# --- configuration --------------------------------------------------------------------


def test_url_with_defaults() -> None:
    config = SmppConfig.from_url("smpp://jook:secret@smsc.example.com:2776")
    assert config == SmppConfig(
        host="smsc.example.com", port=2776, system_id="jook", password="secret"
    )
    assert (config.bind, config.window, config.rate, config.registered_delivery) == (
        BindMode.TRANSCEIVER,
        32,
        None,
        True,
    )
    assert "secret" not in repr(config)


def test_url_with_every_parameter() -> None:
    config = SmppConfig.from_url(
        "smpp://jook:p%40ss%3A1@10.0.0.1:2775/?system_type=vma&window=64"
        "&bind=transmitter+receiver&rate=50.5&registered_delivery=false"
        "&enquire_link_interval=15&response_timeout=5&reconnect_min=0.5&reconnect_max=30"
        "&throttle_retries=5&throttle_pause=2&reassembly_timeout=60"
        "&maybe_delivered_retries=0"
    )
    assert config == SmppConfig(
        host="10.0.0.1",
        system_id="jook",
        password="p@ss:1",
        system_type="vma",
        window=64,
        bind=BindMode.TRANSMITTER_RECEIVER,
        rate=50.5,
        registered_delivery=False,
        enquire_link_interval=15,
        response_timeout=5,
        reconnect_min=0.5,
        reconnect_max=30,
        throttle_retries=5,
        throttle_pause=2,
        reassembly_timeout=60,
        maybe_delivered_retries=0,
    )


@pytest.mark.parametrize(
    ("query", "charset"),
    [
        ("", Charset.GSM7),
        ("?charset=gsm7", Charset.GSM7),
        ("?charset=latin1", Charset.LATIN1),
        ("?charset=ASCII&window=4", Charset.ASCII),
    ],
)
def test_url_charset(query: str, charset: Charset) -> None:
    config = SmppConfig.from_url(f"smpp://jook:x@host{query}")
    assert config.charset is charset


@pytest.mark.parametrize("value", ["utf8", "latin-1", "", "gsm"])
def test_bad_url_charset_lists_the_choices(value: str) -> None:
    with pytest.raises(SmppConfigError) as caught:
        SmppConfig.from_url(f"smpp://jook:x@host?charset={value}")
    assert caught.value.part == "charset"
    assert str(caught.value) == f"charset: {value!r} is not gsm7, latin1 or ascii"


def test_url_with_ipv6_host_and_no_password() -> None:
    config = SmppConfig.from_url("SMPP://jook@[::1]")
    assert (config.host, config.port, config.password) == ("::1", 2775, "")


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("http://jook:x@host", "scheme"),
        ("host:2775", "scheme"),
        ("smpp://host:2775", "system_id"),
        ("smpp://jook:x@:2775", "host"),
        ("smpp://jook:x@[::1", "url"),
        ("smpp://jook:x@host:99999", "port"),
        ("smpp://jook:x@host:0", "port"),
        ("smpp://jook:x@host:abc", "port"),
        ("smpp://jook:x@host/carrier", "path"),
        ("smpp://jook:x@host#top", "fragment"),
        ("smpp://a-system-id-too-long:x@host", "system_id"),
        ("smpp://jook:password9@host", "password"),
        ("smpp://jook:x@host?system_type=a-much-too-long-type", "system_type"),
        ("smpp://jook:x@host?window=0", "window"),
        ("smpp://jook:x@host?window=ten", "window"),
        ("smpp://jook:x@host?window", "window"),
        ("smpp://jook:x@host?window=1&window=2", "window"),
        ("smpp://jook:x@host?bind=receiver", "bind"),
        ("smpp://jook:x@host?charset=utf8", "charset"),
        ("smpp://jook:x@host?charset", "charset"),
        ("smpp://jook:x@host?rate=-1", "rate"),
        ("smpp://jook:x@host?rate=nan", "rate"),
        ("smpp://jook:x@host?response_timeout=inf", "response_timeout"),
        ("smpp://jook:x@host?registered_delivery=maybe", "registered_delivery"),
        ("smpp://jook:x@host?reconnect_min=10&reconnect_max=1", "reconnect_max"),
        ("smpp://jook:x@host?throttle_retries=-1", "throttle_retries"),
        ("smpp://jook:x@host?maybe_delivered_retries=-1", "maybe_delivered_retries"),
        ("smpp://jook:x@host?maybe_delivered_retries=101", "maybe_delivered_retries"),
        ("smpp://jook:x@host?maybe_delivered_retries=once", "maybe_delivered_retries"),
        ("smpp://jook:x@host?colour=red", "colour"),
    ],
)
def test_bad_url_names_the_part(url: str, part: str) -> None:
    with pytest.raises(SmppConfigError) as caught:
        SmppConfig.from_url(url)
    assert caught.value.part == part
    assert str(caught.value).startswith(f"{part}: ")
    assert "password9" not in str(caught.value)


def test_direct_config_is_validated_too() -> None:
    with pytest.raises(SmppConfigError, match=r"^window: "):
        SmppConfig(host="h", system_id="jook", window=0)
    with pytest.raises(SmppConfigError, match=r"^bind: "):
        SmppConfig(host="h", system_id="jook", bind="receiver")  # type: ignore[arg-type]
    assert SmppConfig(host="h", system_id="j", bind="transceiver").bind is BindMode.TRANSCEIVER  # type: ignore[arg-type]
    with pytest.raises(SmppConfigError, match=r"^charset: 'utf8' is not gsm7, latin1 or ascii$"):
        SmppConfig(host="h", system_id="jook", charset="utf8")  # type: ignore[arg-type]
    assert SmppConfig(host="h", system_id="j", charset="latin1").charset is Charset.LATIN1  # type: ignore[arg-type]


# --- small parts ----------------------------------------------------------------------


def test_sequence_numbers_wrap_and_skip_those_in_use() -> None:
    numbers = SequenceNumbers(start=MAX_SEQUENCE - 1)
    assert [numbers.next() for _ in range(3)] == [MAX_SEQUENCE - 1, MAX_SEQUENCE, 1]
    assert numbers.next(in_use={2, 3}) == 4
    with pytest.raises(ValueError):
        SequenceNumbers(start=0)


class FakeClock:
    def __init__(self) -> None:
        # Binary fractions below keep the arithmetic exact.
        self.now = 64.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_paces() -> None:
    clock = FakeClock()
    bucket = TokenBucket(8, burst=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.125
    assert bucket.try_acquire()
    assert not bucket.try_acquire()


def test_bucket_reservations_queue_in_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(8, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == [0, 0.125, 0.25, 0.375]
    clock.now += 0.375
    assert bucket.available == pytest.approx(0)


def test_bucket_saves_up_no_more_than_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, burst=2, clock=clock)
    clock.now += 3600
    assert bucket.available == 2


async def test_bucket_acquire_sleeps_until_its_turn() -> None:
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)
        clock.now += delay

    bucket = TokenBucket(4, clock=clock, sleep=sleep)
    for _ in range(3):
        await bucket.acquire()
    assert slept == pytest.approx([0.25, 0.25])


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (1, 0.5)]
)
def test_bucket_refuses_bad_settings(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst=burst)

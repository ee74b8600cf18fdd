"""Binds, link upkeep and the commands an SMSC must answer, over real TCP."""

from __future__ import annotations

import pytest

from jooksms.smsc import Simulator, SimulatorConfig
from jooksms.transports.smpp.pdu import (
    BindTransceiverResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
)
from jooksms.transports.smpp.status import CommandStatus
from jooksms.transports.smpp.tlv import Tag, find_tlv
from tests.helpers.esme import BindKind, Esme
from tests.smsc.conftest import Connect, StartSimulator

S = CommandStatus


@pytest.mark.parametrize("kind", ["transmitter", "receiver", "transceiver"])
async def test_each_kind_of_bind_succeeds(sim: Simulator, connect: Connect, kind: BindKind) -> None:
    esme = await connect(sim, None)
    resp = await esme.bind(kind)
    assert resp.command_status == S.ESME_ROK
    assert resp.system_id == "JookSMSC"
    version = find_tlv(resp.tlvs, Tag.SC_INTERFACE_VERSION)
    assert version is not None and version.as_int() == 0x34
    assert sim.stats.binds == 1


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [("jooksms", "wrong", S.ESME_RINVPASWD), ("nobody", "secret", S.ESME_RINVSYSID)],
)
async def test_bad_credentials_are_refused(
    sim: Simulator, connect: Connect, system_id: str, password: str, status: S
) -> None:
    esme = await connect(sim, None)
    resp = await esme.bind(system_id=system_id, password=password)
    assert isinstance(resp, BindTransceiverResp)
    assert resp.command_status == status
    # Still open and still unbound: the client may try again.
    assert (await esme.bind()).command_status == S.ESME_ROK
    assert (sim.stats.binds, sim.stats.bind_failures) == (1, 1)


async def test_several_sessions_and_accounts_at_once(
    start_simulator: StartSimulator, connect: Connect
) -> None:
    sim = await start_simulator(accounts={"jooksms": "secret", "shop": "pw"})
    first = await connect(sim, "transmitter")
    second = await connect(sim, "receiver")
    third = await connect(sim, "transceiver", system_id="shop", password="pw")
    assert sim.stats.sessions_open == 3
    assert (await first.submit()).command_status == S.ESME_ROK
    assert (await third.submit()).command_status == S.ESME_ROK
    assert {r.system_id for r in sim.stats.records} == {"jooksms", "shop"}
    await second.close()
    assert sim.stats.sessions_open <= 3


async def test_second_bind_on_one_session_is_refused(sim: Simulator, connect: Connect) -> None:
    esme = await connect(sim)
    assert (await esme.bind("transmitter")).command_status == S.ESME_RALYBND


async def test_submit_before_bind_and_on_a_receiver(sim: Simulator, connect: Connect) -> None:
    unbound = await connect(sim, None)
    assert (await unbound.submit()).command_status == S.ESME_RINVBNDSTS
    receiver = await connect(sim, "receiver")
    assert (await receiver.submit()).command_status == S.ESME_RINVBNDSTS
    assert sim.stats.rejected["ESME_RINVBNDSTS"] == 2
    assert sim.stats.accepted == 0


async def test_enquire_link_is_answered_bound_or_not(sim: Simulator, connect: Connect) -> None:
    esme = await connect(sim, None)
    for _ in range(2):
        resp = await esme.request(EnquireLink(sequence_number=esme.next_sequence()))
        assert isinstance(resp, EnquireLinkResp)
        await esme.bind()


async def test_unbind_is_answered_then_the_connection_closes(
    sim: Simulator, connect: Connect
) -> None:
    esme = await connect(sim)
    resp = await esme.request(Unbind(sequence_number=esme.next_sequence()))
    assert isinstance(resp, UnbindResp)
    assert resp.command_status == S.ESME_ROK
    await esme.wait_closed()


async def test_an_unknown_command_gets_generic_nack(sim: Simulator, connect: Connect) -> None:
    esme = await connect(sim)
    query_sm = UnknownPdu(raw_command_id=0x00000003, sequence_number=7, body=b"1\x00\x00\x00\x00")
    resp = await esme.request(query_sm)
    assert isinstance(resp, GenericNack)
    assert resp.command_status == S.ESME_RINVCMDID
    # The session goes on.
    assert (await esme.submit()).command_status == S.ESME_ROK


async def test_a_malformed_submit_gets_its_error_and_the_session_goes_on(
    sim: Simulator, connect: Connect
) -> None:
    esme = await connect(sim)
    # destination_addr of 25 characters: longer than the 21 octets SMPP allows.
    body = b"\x00\x01\x01123\x00\x01\x01" + b"9" * 25 + b"\x00" + bytes(10) + b"\x00"
    pdu = UnknownPdu(raw_command_id=0x00000004, sequence_number=9, body=body)
    resp = await esme.request(pdu)
    assert isinstance(resp, SubmitSmResp)
    assert resp.command_status == S.ESME_RINVDSTADR
    assert (await esme.submit()).command_status == S.ESME_ROK


async def test_stop_unbinds_the_clients(start_simulator: StartSimulator, connect: Connect) -> None:
    sim = await start_simulator(stop_grace=5.0)
    esme = await connect(sim)
    await sim.stop()
    # The ESME answered the unbind, so stop() did not wait out its grace.
    assert any(isinstance(p, Unbind) for p in esme.received)
    await esme.wait_closed(timeout=1.0)


async def test_the_simulator_is_an_async_context_manager() -> None:
    async with Simulator(SimulatorConfig(receipt_delay=0)) as sim:
        esme = await Esme.bound(sim.port)
        assert (await esme.submit()).command_status == S.ESME_ROK
        await esme.close()
    with pytest.raises(RuntimeError):
        _ = sim.port


def test_timers_work_on_uvloop_when_a_time_is_already_past() -> None:
    """uvloop answers call_at for a past time with a plain Handle (no when())."""
    import asyncio

    import uvloop

    from jooksms.smsc.timers import Timers

    async def scenario() -> list[str]:
        fired: list[str] = []
        timers = Timers(asyncio.get_running_loop())
        timers.call_later(-1.0, lambda: fired.append("past"))
        timers.call_later(-0.5, lambda: fired.append("also past"))
        timers.call_later(0.01, lambda: fired.append("soon"))
        await asyncio.sleep(0.05)
        return fired

    assert uvloop.run(scenario()) == ["past", "also past", "soon"]

"""The HTTP control endpoint and the Python inject API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jooksms.smsc import Simulator
from jooksms.transports.smpp.pdu import DeliverSm
from jooksms.transports.smpp.udh import ESM_UDHI, Reassembler, read_incoming
from tests.smsc.conftest import Connect, StartSimulator


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Simulator:
    return await start_simulator(http_port=0)


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    base_url = f"http://127.0.0.1:{sim.http_port}"
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        yield client


def reassemble(pdus: list[DeliverSm]) -> str | None:
    reassembler = Reassembler(timeout=60)
    text = None
    for pdu in pdus:
        incoming = read_incoming(pdu)
        assert incoming.concat is not None
        c = incoming.concat
        text = reassembler.add(pdu.source_addr, c.ref, c.total, c.seq, incoming.text)
    return text


async def test_inject_delivers_an_incoming_sms(
    sim: Simulator, http: httpx.AsyncClient, connect: Connect
) -> None:
    esme = await connect(sim, "receiver")
    body = {"from": "+50760001111", "to": "+50688887777", "text": "¿Hola, qué tal?"}
    r = await http.post("/inject", json=body)
    assert r.status_code == 202, r.text
    assert r.json() == {"parts": 1, "sent": True}
    pdu = await esme.next_delivery()
    assert pdu.esm_class == 0
    assert (pdu.source_addr, pdu.source_addr_ton, pdu.destination_addr) == (
        "50760001111",
        1,
        "50688887777",
    )
    assert read_incoming(pdu).text == "¿Hola, qué tal?"


async def test_a_long_incoming_sms_comes_in_parts(
    sim: Simulator, http: httpx.AsyncClient, connect: Connect
) -> None:
    esme = await connect(sim)
    text = "A long message about many things. " * 12
    r = await http.post("/inject", json={"from": "+50760001111", "to": "50688887777", "text": text})
    assert r.json() == {"parts": 3, "sent": True}
    parts = [await esme.next_delivery() for _ in range(3)]
    assert all(p.esm_class & ESM_UDHI for p in parts)
    assert reassemble(parts) == text
    assert sim.stats.incoming_sent == 3


async def test_inject_waits_for_a_receiver(sim: Simulator, connect: Connect) -> None:
    injected = await sim.inject(source="+50760001111", destination="+50688887777", text="later")
    assert (injected.parts, injected.sent) == (1, False)
    esme = await connect(sim, "receiver")
    assert read_incoming(await esme.next_delivery()).text == "later"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/inject", b"{not json", 400),
        ("POST", "/inject", b'["a list"]', 400),
        ("POST", "/inject", b'{"from": "+5076", "text": "no to"}', 422),
        (
            "POST",
            "/inject",
            b'{"from": "+50760001111", "to": "123456789012345678901", "text": ""}',
            422,
        ),
        ("POST", "/inject", b'{"from": "1", "to": "2", "text": "x", "system_id": "who"}', 422),
        ("POST", "/inject", b'{"from": "1", "to": "2", "text": "x", "system_id": 5}', 422),
        ("POST", "/drop", b'{"system_id": [1]}', 422),
        ("GET", "/inject", b"", 405),
        ("GET", "/nowhere", b"", 404),
        ("GET", "/submits", b"", 400),
    ],
)
async def test_bad_requests_get_clear_errors(
    http: httpx.AsyncClient, method: str, path: str, body: bytes, status: int
) -> None:
    r = await http.request(method, path, content=body)
    assert r.status_code == status
    assert r.json()["error"]


async def test_stats_and_submits(sim: Simulator, http: httpx.AsyncClient, connect: Connect) -> None:
    esme = await connect(sim)
    resp = await esme.submit(short_message=b"Counted")
    await esme.next_delivery()
    stats = (await http.get("/stats")).json()
    assert stats["submits"] == stats["accepted"] == stats["receipts_sent"] == 1
    assert stats["sessions_open"] == 1
    assert stats["rejected"] == {}
    submits = (await http.get("/submits", params={"to": "+50688887777"})).json()
    assert [(s["message_id"], s["text"], s["part"]) for s in submits] == [
        (resp.message_id, "Counted", None)
    ]


async def test_drop_over_http(sim: Simulator, http: httpx.AsyncClient, connect: Connect) -> None:
    esme = await connect(sim)
    r = await http.post("/drop", json={})
    assert r.json() == {"dropped": 1}
    await esme.wait_closed()

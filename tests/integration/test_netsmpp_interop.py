"""Our SMPP client against an SMSC we did not write: a Perl script on Net::SMPP
(Debian's ``libnet-smpp-perl``) in its own process. The worker sends a GSM-7 message
and a 3-part UCS-2 one through it and both reach ``delivered`` on its receipts; the
SMSC's own log says how each submit_sm was encoded; the SMS it sends back lands in
the account that owns the number it was sent to. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jooksms.db.engine import Database
from jooksms.delivery.routing import Route, RoutingTable
from jooksms.delivery.worker import Worker, WorkerConfig
from jooksms.transports import registry
from jooksms.transports.base import IncomingSms, OutgoingSms
from jooksms.transports.smpp.client import SessionState, SmppClient, SmppConfig
from jooksms.transports.smpp.receipt import Receipt, message_id_key
from tests.conftest import Tenant, fresh_number
from tests.helpers.live import stop_processes
from tests.helpers.messages import only_these_due
from tests.helpers.waiting import until

SCRIPT = Path(__file__).parent / "interop" / "netsmpp_smsc.pl"
INCOMING_TEXT = "Спасибо, всё получено ✓"


def _netsmpp_missing() -> str | None:
    """Why the test cannot run here, or None when it can."""
    if shutil.which("perl") is None:
        return "perl is not installed"
    probe = subprocess.run(["perl", "-MNet::SMPP", "-e1"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "the Perl module Net::SMPP is missing (scripts/system-packages.sh installs it)"
    return None


_MISSING = _netsmpp_missing()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_MISSING is not None, reason=_MISSING or ""),
]


@dataclass
class PerlSmsc:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    stderr: Path

    def records(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def submits_to(self, number: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records()
            if r.get("pdu") == "submit_sm" and r["destination_addr"] == number.removeprefix("+")
        ]

    def seen(self, pdu: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("pdu") == pdu]

    def output(self) -> str:
        return self.log.read_text(errors="replace") + self.stderr.read_text(errors="replace")


@pytest.fixture
async def perl_smsc(tmp_path: Path, other_tenant: Tenant) -> AsyncIterator[PerlSmsc]:
    """The Net::SMPP SMSC on a free port; its one incoming SMS goes to ``other_tenant``."""
    log, stderr = tmp_path / "smsc.jsonl", tmp_path / "smsc.err"
    log.touch()
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [
                "perl",
                str(SCRIPT),
                "--port=0",
                f"--log={log}",
                "--system-id=jooksms",
                "--password=secret",
                "--incoming-from=+50769990001",
                f"--incoming-to={other_tenant.number}",
                f"--incoming-text={INCOMING_TEXT}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        port = await _listening_port(proc, log, stderr)
        yield PerlSmsc(proc, port, log, stderr)
    finally:
        stop_processes(proc)


async def _listening_port(proc: subprocess.Popen[bytes], log: Path, stderr: Path) -> int:
    for _ in range(200):
        for line in log.read_text().splitlines():
            record = json.loads(line) if line.endswith("}") else {}
            if record.get("event") == "listening":
                return int(record["port"])
        if proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    raise RuntimeError(
        f"the Net::SMPP SMSC did not start (exit {proc.poll()}):\n{stderr.read_text()}"
    )


@pytest.fixture
async def worker_on_perl(
    db: Database, perl_smsc: PerlSmsc
) -> AsyncIterator[tuple[Worker, SmppClient]]:
    transports: dict[str, SmppClient] = {}
    worker = Worker(db, transports, RoutingTable([Route("netsmpp")]), WorkerConfig(idle_poll=0.02))
    # A short keep-alive so that the test sees our enquire_link answered by Net::SMPP.
    url = f"smpp://jooksms:secret@127.0.0.1:{perl_smsc.port}?enquire_link_interval=0.2"
    client = registry.build("netsmpp", url, worker.handlers())
    assert isinstance(client, SmppClient)
    transports["netsmpp"] = client
    try:
        await client.start()
        yield worker, client
    finally:
        await client.stop(5)


async def test_our_client_against_net_smpp(
    tenant: Tenant,
    other_tenant: Tenant,
    db: Database,
    perl_smsc: PerlSmsc,
    worker_on_perl: tuple[Worker, SmppClient],
) -> None:
    worker, client = worker_on_perl
    gsm_to, ucs2_to = fresh_number(), fresh_number()
    gsm_text = "Hello from JookSMS via Net::SMPP @ 10:00!"
    ucs2_text = " ".join(["Привет из JookSMS! Это длинное сообщение в UCS-2 для Net::SMPP."] * 3)
    assert 134 < len(ucs2_text) <= 201  # three segments of 67 characters
    r = await tenant.post(
        "/api/v1/sms/many",
        json={"list": [{"to": gsm_to, "body": gsm_text}, {"to": ucs2_to, "body": ucs2_text}]},
    )
    assert r.status_code == 200, r.text
    ids = r.json()["ids"]
    await only_these_due(db, ids)

    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    try:
        await until(
            lambda: _statuses_are(tenant, ids, "delivered"),
            lambda: f"the SMSC saw:\n{perl_smsc.output()}",
        )
        await until(
            lambda: _incoming(other_tenant, INCOMING_TEXT),
            lambda: f"the SMSC saw:\n{perl_smsc.output()}",
        )
        # Our keep-alive reached the Net::SMPP side, and it has read our answers to its
        # four receipts and one incoming SMS.
        await until(
            lambda: bool(perl_smsc.seen("enquire_link")),
            lambda: f"the SMSC saw:\n{perl_smsc.output()}",
        )
        await until(
            lambda: len(perl_smsc.seen("deliver_sm_resp")) >= 5,
            lambda: f"the SMSC saw:\n{perl_smsc.output()}",
        )
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)

    # The GSM-7 message: one part, default alphabet, no UDH, the text as sent.
    [gsm] = perl_smsc.submits_to(gsm_to)
    assert (gsm["data_coding"], gsm["esm_class"], gsm["udh"]) == (0, 0, "")
    assert gsm["sm_length"] == len(gsm_text)
    # Unpacked GSM 03.38 septets: ASCII for these characters, except "@" which is 0x00.
    assert bytes.fromhex(gsm["text_hex"]) == gsm_text.encode("ascii").replace(b"@", b"\x00")
    assert gsm["registered_delivery"] & 1
    assert (gsm["source_addr"], gsm["source_addr_ton"]) == (tenant.number.removeprefix("+"), 1)
    assert (gsm["destination_addr"], gsm["dest_addr_ton"]) == (gsm_to.removeprefix("+"), 1)

    # The UCS-2 message: three parts, data_coding 8, each with a concatenation UDH
    # naming the same reference, 3 parts, and sequence numbers 1..3.
    parts = perl_smsc.submits_to(ucs2_to)
    assert len(parts) == 3, parts
    assert {p["data_coding"] for p in parts} == {8}
    assert all(p["esm_class"] & 0x40 for p in parts)
    assert all(p["sm_length"] <= 140 for p in parts)
    concats = [_concat(bytes.fromhex(p["udh"])) for p in parts]
    assert len({ref for ref, _, _ in concats}) == 1
    assert {total for _, total, _ in concats} == {3}
    assert sorted(seq for _, _, seq in concats) == [1, 2, 3]
    by_seq = sorted(zip(concats, parts, strict=True), key=lambda item: item[0][2])
    text = "".join(bytes.fromhex(p["text_hex"]).decode("utf-16-be") for _, p in by_seq)
    assert text == ucs2_text

    # Every receipt and the incoming SMS were acknowledged with ESME_ROK.
    acks = perl_smsc.seen("deliver_sm_resp")
    assert sorted(a["for"].split()[0] for a in acks) == ["incoming"] + ["receipt"] * 4
    assert {a["status"] for a in acks} == {0}
    # The enquire_link the SMSC sent after the bind was answered.
    [link] = [r for r in perl_smsc.seen("enquire_link_resp") if r["for"] == "enquire_link"]
    assert link["status"] == 0

    # The SMS from the handset is in the account owning its destination, only there.
    [incoming] = await _incoming(other_tenant, INCOMING_TEXT)
    assert (incoming["direction"], incoming["status"]) == ("incoming", "received")
    assert incoming["number"] == "+50769990001"
    assert not await _incoming(tenant, INCOMING_TEXT)

    # One connection throughout: no PDU of ours made Net::SMPP hang up, and none of
    # its answers made us drop the bind. Then our client unbinds when it stops.
    assert client.state is SessionState.BOUND
    assert len([r for r in perl_smsc.records() if r.get("event") == "connected"]) == 1
    await client.stop(5)
    await until(
        lambda: bool(perl_smsc.seen("unbind")), lambda: f"the SMSC saw:\n{perl_smsc.output()}"
    )
    assert not perl_smsc.seen("generic_nack")
    assert not [r for r in perl_smsc.records() if r.get("unexpected")]


def _concat(udh: bytes) -> tuple[int, int, int]:
    """(reference, total, sequence) from a UDH holding a concatenation element."""
    assert udh and udh[0] == len(udh) - 1, udh.hex()
    iei, length = udh[1], udh[2]
    value = udh[3 : 3 + length]
    if iei == 0x00:
        return value[0], value[1], value[2]
    assert iei == 0x08, udh.hex()
    return int.from_bytes(value[:2], "big"), value[2], value[3]


async def _statuses_are(t: Tenant, ids: list[int], status: str) -> bool:
    statuses = {(await t.get(f"/api/v1/sms/{i}")).json()["data"]["status"] for i in ids}
    return statuses == {status}


async def _incoming(t: Tenant, text: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await t.get("/api/v1/sms")).json()["data"]
    return [m for m in data if m["direction"] == "incoming" and m["content"] == text]


def _what_it_saw(smsc: PerlSmsc) -> Callable[[], str]:
    """For a failed wait: the SMSC's log says why."""
    return lambda: f"the SMSC saw:\n{smsc.output()}"


async def test_quiet_mode_delays_receipts_and_counts_instead_of_logging(tmp_path: Path) -> None:
    """The benchmark's mode (bench/delivery.py --smsc netsmpp): receipts come
    --receipt-delay after their answers, the log holds counters and no PDU, and the
    SMSC still takes an ESME that comes after Net::SMPP's 5 s accept timeout."""
    log, stderr = tmp_path / "smsc.jsonl", tmp_path / "smsc.err"
    log.touch()
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            ["perl", str(SCRIPT), "--port=0", f"--log={log}", "--quiet", "--receipt-delay=0.5"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        port = await _listening_port(proc, log, stderr)
        await asyncio.sleep(5.5)  # past the accept timeout, with nobody connected
        receipts: asyncio.Queue[tuple[float, Receipt]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def on_receipt(receipt: Receipt) -> None:
            receipts.put_nowait((loop.time(), receipt))

        async def on_incoming(sms: IncomingSms) -> None:
            raise AssertionError(f"no incoming SMS expected: {sms}")

        client = SmppClient(
            SmppConfig.from_url(f"smpp://jooksms:secret@127.0.0.1:{port}"),
            on_receipt=on_receipt,
            on_incoming=on_incoming,
        )
        await client.start()
        try:
            result = await client.submit(OutgoingSms(1, "+50760000001", "+50760000002", "hi"))
            answered = loop.time()
            received, receipt = await asyncio.wait_for(receipts.get(), 10)
        finally:
            await client.stop(5)
        await asyncio.sleep(0.5)  # its stats line of the ESME leaving
    finally:
        stop_processes(proc)
    assert result.ok and message_id_key(receipt.message_id) == result.carrier_ids[0]
    assert received - answered >= 0.45
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert not [r for r in records if r.get("pdu") not in (None, "bind_transceiver")]
    last = [r for r in records if r.get("event") == "stats"][-1]
    assert (last["submits"], last["receipts_sent"], last["receipts_acked"]) == (1, 1, 1)

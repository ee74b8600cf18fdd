"""Our SMSC simulator against a client we did not write: Kannel 1.4.5 (Debian's
``kannel``). ``jooksms smsc-sim`` runs as a process, Kannel's bearerbox binds to it
as a transceiver, and three messages go in through Kannel's ``sendsms`` HTTP
interface, each asking for a delivery report at a URL this test serves. The
simulator must record them as sent (coding, parts, text) and its receipts must make
Kannel report delivery."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers.live import LOOPBACK, free_port
from tests.integration.interop import kannel

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(kannel.missing() is not None, reason=kannel.missing() or ""),
]

SYSTEM_ID, PASSWORD = "kannel", "kpass123"
SENDER = "+50760001000"
#: Kannel's dlr-url escapes: %d the report type (1 delivered, 2 failed, 8 accepted
#: by the SMSC, 16 rejected), %i the smsc-id, %A the SMSC's receipt text.
DLR_DELIVERED = 1


@dataclass
class Simulator:
    proc: subprocess.Popen[bytes]
    smpp_port: int
    http_port: int
    log: Path

    def get(self, path: str) -> Any:
        url = f"http://{LOOPBACK}:{self.http_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def submits_to(self, number: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.get(f"/submits?to={number.removeprefix('+')}")
        return records


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    smpp_port, http_port = free_port(), free_port()
    log = tmp_path / "smsc-sim.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jooksms",
                "smsc-sim",
                f"--port={smpp_port}",
                f"--http-port={http_port}",
                f"--system-id={SYSTEM_ID}",
                f"--password={PASSWORD}",
                "--receipt-delay=0.1",
                "--stats-interval=0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    sim = Simulator(proc, smpp_port, http_port, log)
    try:
        _wait(lambda: _answers(sim), 15, lambda: f"smsc-sim did not start:\n{_text(log)}")
        yield sim
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(sim: Simulator) -> bool:
    if sim.proc.poll() is not None:
        raise RuntimeError(f"smsc-sim exited with {sim.proc.returncode}:\n{_text(sim.log)}")
    try:
        sim.get("/stats")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return True


@dataclass
class DlrServer:
    """Records the query of every delivery report Kannel's smsbox sends."""

    url: str
    reports: list[dict[str, str]] = field(default_factory=list)

    def of(self, tag: str) -> list[dict[str, str]]:
        return [r for r in list(self.reports) if r.get("tag") == tag]


@pytest.fixture
def dlr_server() -> Iterator[DlrServer]:
    reports: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            reports.append({key: values[-1] for key, values in query.items()})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test reads self.reports, not stderr

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield DlrServer(f"http://{LOOPBACK}:{server.server_address[1]}/dlr", reports)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def kannel_boxes(tmp_path: Path, simulator: Simulator) -> Iterator[kannel.Boxes]:
    directory = tmp_path / "kannel"
    directory.mkdir()
    config = kannel.config_for(
        directory, smsc_port=simulator.smpp_port, system_id=SYSTEM_ID, password=PASSWORD
    )
    with kannel.running(config) as boxes:
        yield boxes


def test_kannel_sends_through_the_simulator(
    simulator: Simulator, dlr_server: DlrServer, kannel_boxes: kannel.Boxes
) -> None:
    config = kannel_boxes.config
    messages = {
        # tag: (destination, text, coding, expected data_coding, expected parts)
        "gsm": ("+50761230001", "Hello from Kannel @ JookSMS: 100% GSM-7!", 0, 0, 1),
        "ucs2": ("+50761230002", "Привет от Kannel! Ελληνικά ✓", 2, 8, 1),
        "long": ("+50761230003", _long_text(), 0, 0, 3),
    }
    for tag, (to, text, coding, _, _) in messages.items():
        _sendsms(config, dlr_server, tag=tag, to=to, text=text, coding=coding)

    def delivered_all() -> bool:
        return all(
            any(r["type"] == str(DLR_DELIVERED) for r in dlr_server.of(tag)) for tag in messages
        )

    _wait(delivered_all, 15, lambda: _diagnosis(simulator, dlr_server, config))

    for tag, (to, text, _, data_coding, parts) in messages.items():
        records = simulator.submits_to(to)
        assert len(records) == parts, (tag, records)
        assert {r["data_coding"] for r in records} == {data_coding}, (tag, records)
        assert {r["system_id"] for r in records} == {SYSTEM_ID}
        assert {r["status"] for r in records} == {0}
        assert {r["from"] for r in records} == {SENDER.removeprefix("+")}
        if parts == 1:
            [record] = records
            assert record["part"] is None
            assert record["text"] == text, tag
        else:
            # A concatenation UDH on every part: one reference, the right total, 1..n.
            assert all(r["esm_class"] & 0x40 for r in records)
            assert len({r["part"]["ref"] for r in records}) == 1
            assert {r["part"]["total"] for r in records} == {parts}
            ordered = sorted(records, key=lambda r: r["part"]["seq"])
            assert [r["part"]["seq"] for r in ordered] == list(range(1, parts + 1))
            assert "".join(r["text"] for r in ordered) == text

        # Kannel reported the simulator's answer (8: accepted by the SMSC) and then its
        # receipt (1: delivered), matched by the id the simulator gave the first part.
        reports = dlr_server.of(tag)
        assert sorted(r["type"] for r in reports) == ["1", "8"], (tag, reports)
        assert {r["smsc"] for r in reports} == {kannel.SMSC_ID}
        [delivered] = [r for r in reports if r["type"] == str(DLR_DELIVERED)]
        first = min(records, key=lambda r: r["part"]["seq"] if r["part"] else 1)
        assert delivered["reply"].startswith(f"id:{first['message_id']} "), delivered
        assert "stat:DELIVRD" in delivered["reply"], delivered

    stats = simulator.get("/stats")
    assert stats["submits"] == stats["accepted"] == 5  # 1 + 1 + 3 parts
    # Kannel sets registered_delivery on the first part of a long message only, so
    # one receipt per message, and Kannel's report for the long one rests on it.
    assert stats["receipts_sent"] == 3
    assert stats["deliveries_refused"] == 0

    # Kannel's keep-alive (every second, see kannel.py) got its answer...
    bearerbox_log = config.directory / "bearerbox.log"
    _wait(
        lambda: "type_name: enquire_link_resp" in _text(bearerbox_log, tail=None),
        5,
        lambda: _diagnosis(simulator, dlr_server, config),
    )
    # ...and when Kannel stops it unbinds, which the simulator answers and logs.
    kannel_boxes.stop()
    assert [p.returncode for p in kannel_boxes.procs.values()] == [0, 0], kannel.output(config)
    _wait(
        lambda: simulator.get("/stats")["sessions_open"] == 0,
        5,
        lambda: _diagnosis(simulator, dlr_server, config),
    )
    assert "type_name: unbind_resp" in _text(bearerbox_log, tail=None)
    assert any(line.endswith(": unbind") for line in _text(simulator.log).splitlines())


def _sendsms(
    config: kannel.KannelConfig, dlr: DlrServer, *, tag: str, to: str, text: str, coding: int
) -> None:
    # Kannel fills in %d (report type), %i (smsc-id) and %A (receipt text) per report.
    dlr_url = f"{dlr.url}?tag={tag}&type=%d&smsc=%i&reply=%A"
    url = config.sendsms_url(
        {
            "from": SENDER,
            "to": to,
            "text": text,
            "coding": coding,
            "charset": "UTF-8",
            "dlr-mask": 31,
            "dlr-url": dlr_url,
        }
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
    assert response.status == 202, body
    assert "Accepted" in body, body


def _long_text() -> str:
    """Three GSM-7 segments' worth (153 septets each): 400 characters."""
    text = " ".join(f"Part of a long message, sentence {n} of many." for n in range(1, 12))
    return text[:400]


def _diagnosis(sim: Simulator, dlr: DlrServer, config: kannel.KannelConfig) -> str:
    return (
        f"reports: {dlr.reports}\nstats: {sim.get('/stats')}\n"
        f"smsc-sim:\n{_text(sim.log)}\n{kannel.output(config)}"
    )


def _wait(check: Callable[[], bool], timeout: float, explain: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout} s\n{explain()}")


def _text(path: Path, *, tail: int | None = 4000) -> str:
    if not path.exists():
        return ""
    text = path.read_text(errors="replace")
    return text if tail is None else text[-tail:]


def test_standard_error_logs_at_the_configured_level(
    tmp_path: Path, simulator: Simulator, dlr_server: DlrServer
) -> None:
    """Kannel's -v (standard error) defaults to debug whatever log-level says: a dump
    of every PDU and request, half of the boxes' CPU in the delivery bench. The
    harness passes the configured level, so at warning level a message leaves no
    debug line on either box's standard error."""
    config = kannel.config_for(
        tmp_path,
        smsc_port=simulator.smpp_port,
        system_id=SYSTEM_ID,
        password=PASSWORD,
        settings=kannel.Settings(log_level=2, access_logs=False),
    )
    with kannel.running(config):
        _sendsms(config, dlr_server, tag="quiet", to="+50761230009", text="hi", coding=0)
        _wait(lambda: bool(dlr_server.of("quiet")), 15, lambda: kannel.output(config))
    for box in kannel.BOXES:
        out = (tmp_path / f"{box}.out").read_text(errors="replace")
        assert "DEBUG:" not in out, out[-2000:]

"""``jooksms.smsc.cli`` as a real process: starts, serves, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from jooksms.smsc.cli import build_parser, config_from, main
from jooksms.smsc.config import IdFormat
from jooksms.transports.smpp.receipt import parse_receipt
from tests.helpers.esme import Esme

LISTENING = re.compile(r"(SMPP|HTTP) listening on 127\.0\.0\.1:(\d+)")


async def _listening_ports(proc: asyncio.subprocess.Process) -> dict[str, int]:
    """Read the log until both ports are announced (port 0 lets the OS pick)."""
    assert proc.stderr is not None
    ports: dict[str, int] = {}
    async with asyncio.timeout(20):
        while len(ports) < 2:
            line = (await proc.stderr.readline()).decode()
            assert line, "the simulator exited before listening"
            if match := LISTENING.search(line):
                ports[match[1]] = int(match[2])
    return ports


@pytest.fixture
async def process() -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jooksms.smsc.cli",
        "--port=0",
        "--http-port=0",
        "--receipt-delay=0",
        "--id-format=decimal",
        "--system-id=bench",
        "--password=pw",
        stderr=asyncio.subprocess.PIPE,
    )
    yield proc
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


@pytest.mark.slow
async def test_the_cli_serves_until_sigterm(process: asyncio.subprocess.Process) -> None:
    ports = await _listening_ports(process)
    esme = await Esme.bound(ports["SMPP"], system_id="bench", password="pw")
    resp = await esme.submit()
    assert resp.message_id.isdigit()
    receipt = parse_receipt(await esme.next_delivery())
    assert receipt is not None and receipt.message_id == resp.message_id
    async with httpx.AsyncClient(timeout=5) as http:
        stats = (await http.get(f"http://127.0.0.1:{ports['HTTP']}/stats")).json()
    assert stats["accepted"] == 1

    process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    log = (await asyncio.wait_for(process.stderr.read(), 10)).decode()
    assert await asyncio.wait_for(process.wait(), 10) == 0
    assert "stopping" in log and "stopped" in log
    # It unbound the client on the way out.
    await esme.wait_closed()
    await esme.close()


def test_options_become_the_config() -> None:
    args = build_parser().parse_args(
        [
            "--throttle=50",
            "--failure-rate=0.25",
            "--seed=9",
            "--id-format=decimal",
            "--account=shop:pw",
            "--no-http",
            "--receipt-first",
        ]
    )
    config = config_from(args)
    assert config.throttle == 50
    assert config.failure_rate == 0.25
    assert config.seed == 9
    assert config.id_format is IdFormat.DECIMAL
    assert dict(config.accounts) == {"jooksms": "secret", "shop": "pw"}
    assert config.http_port is None
    assert config.receipt_first
    assert (config.port, build_parser().parse_args([]).http_port) == (2775, 2776)


def test_delivery_options_become_the_config() -> None:
    args = build_parser().parse_args(
        ["--pending-limit=10000000", "--redeliver-delay=0.05", "--redeliver-attempts=3"]
    )
    config = config_from(args)
    assert config.pending_limit == 10_000_000
    assert config.redeliver_delay == 0.05
    assert config.redeliver_attempts == 3
    defaults = config_from(build_parser().parse_args([]))
    assert (defaults.pending_limit, defaults.redeliver_delay, defaults.redeliver_attempts) == (
        100_000,
        5.0,
        5,
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--pending-limit=0", "pending_limit must be a positive integer, not 0"),
        ("--pending-limit=-5", "pending_limit must be a positive integer, not -5"),
        ("--redeliver-attempts=0", "redeliver_attempts must be a positive integer, not 0"),
        ("--redeliver-delay=-1", "redeliver_delay must be a finite number of seconds >= 0"),
        ("--redeliver-delay=nan", "redeliver_delay must be a finite number of seconds >= 0"),
    ],
)
def test_bad_delivery_values_say_which_option(option: str, message: str) -> None:
    args = build_parser().parse_args([option])
    with pytest.raises(ValueError, match=message):
        config_from(args)


def test_main_exits_with_status_2_on_a_bad_pending_limit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--pending-limit=0"])
    assert exited.value.code == 2
    assert "pending_limit must be a positive integer, not 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option", ["--pending-limit=lots", "--pending-limit=1.5", "--redeliver-attempts=x"]
)
def test_options_that_are_not_numbers_exit_naming_the_option(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([option])
    assert exited.value.code == 2
    assert f"argument {option.split('=')[0]}: invalid int value" in capsys.readouterr().err


@pytest.mark.slow
async def test_bad_options_exit_with_status_2() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jooksms.smsc.cli",
        "--failure-rate=2",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert b"failure_rate must be between 0 and 1" in err

"""``jooksms worker`` as a real process, against ``jooksms smsc-sim`` as another:
messages accepted before it starts are delivered, and SIGTERM makes it unbind and
exit cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.live import free_port

pytestmark = pytest.mark.slow


def _jooksms(db_url: str, *args: str) -> str:
    env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-m", "jooksms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _stats(http_port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stats", timeout=5) as r:
        stats: dict[str, int] = json.loads(r.read())
    return stats


def test_worker_delivers_and_stops_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    smpp_port, http_port = free_port(), free_port()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jooksms",
            "smsc-sim",
            "--port",
            str(smpp_port),
            "--http-port",
            str(http_port),
            "--receipt-delay",
            "0.05",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = None
    try:
        account = json.loads(
            _jooksms(db_url, "account", "create", "--name", "W", "--number", "+50760000001")
        )
        _jooksms(
            db_url,
            "connector",
            "add",
            "--name",
            "sim",
            "--url",
            f"smpp://jooksms:secret@127.0.0.1:{smpp_port}",
        )
        script = (
            "import asyncio, sys\n"
            "from jooksms.db.engine import Database\n"
            "from jooksms.domain.encoding import analyse\n"
            "from jooksms.services import messages\n"
            "async def main():\n"
            "    db = Database(sys.argv[1].replace('sqlite:', 'sqlite+aiosqlite:'))\n"
            "    async with db.write() as s:\n"
            "        await messages.accept(s, account_id=int(sys.argv[2]), from_number=None,\n"
            "            drafts=[messages.MessageDraft(to='+50768819519', body='hi', info=analyse('hi'))] * 20)\n"
            "    await db.dispose()\n"
            "asyncio.run(main())\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, db_url, str(account["id"])], check=True, timeout=60
        )
        env = {**os.environ, "JOOKSMS_DATABASE_URL": db_url}
        worker = subprocess.Popen(
            [sys.executable, "-m", "jooksms", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _stats(http_port).get("delivered", 0) >= 20:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert _stats(http_port)["submits"] == 20
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        sim.send_signal(signal.SIGTERM)
        _, sim_log = sim.communicate(timeout=30)
        # The worker unbound before it left: the SMSC saw an unbind, not a dropped line.
        assert any(line.endswith(": unbind") for line in sim_log.splitlines()), sim_log
    finally:
        for proc in (worker, sim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()

"""Real processes for delivery tests: ``jooksms`` commands, ``jooksms smsc-sim`` and
``jooksms worker`` children, and reading their database from outside."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from jooksms.config import load_settings
from tests.helpers.live import jooksms


def sim_stats(http_port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stats", timeout=5) as r:
        stats: dict[str, int] = json.loads(r.read())
    return stats


def start_workers(env: dict[str, str], count: int) -> list[subprocess.Popen[str]]:
    start = [sys.executable, "-m", "jooksms", "worker"]
    return [
        subprocess.Popen(start, env=env, stderr=subprocess.DEVNULL, text=True) for _ in range(count)
    ]


def kill(*procs: subprocess.Popen[str] | None) -> None:
    for proc in procs:
        if proc is None:
            continue
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def start_simulator(
    smpp_port: int, http_port: int, *extra: str, log: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    return subprocess.Popen(
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
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def account_with_connector(
    db_url: str, number: str, smpp_port: int, query: str = "", *options: str
) -> int:
    created = jooksms("account", "create", "--name", "W", "--number", number, database_url=db_url)
    url = f"smpp://jooksms:secret@127.0.0.1:{smpp_port}{query}"
    jooksms("connector", "add", "--name", "sim", "--url", url, *options, database_url=db_url)
    return int(json.loads(created)["id"])


def accept_messages(db_url: str, account_id: int, count: int) -> None:
    script = (
        "import asyncio, sys\n"
        "from jooksms.config import load_settings\n"
        "from jooksms.db.engine import Database\n"
        "from jooksms.domain.encoding import analyse\n"
        "from jooksms.services import messages\n"
        "async def main():\n"
        "    db = Database(load_settings(database_url=sys.argv[1]).database_url)\n"
        "    async with db.write() as s:\n"
        "        await messages.accept(s, account_id=int(sys.argv[2]), from_number=None,\n"
        "            drafts=[messages.MessageDraft(to='+50768819519', body='hi',\n"
        "                    info=analyse('hi'))] * int(sys.argv[3]))\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, db_url, str(account_id), str(count)], check=True, timeout=60
    )


def status_counts(db_url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = create_async_engine(load_settings(database_url=db_url).database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT status, count(*) FROM messages GROUP BY status")
                )
                return {status: n for status, n in rows}
        finally:
            await engine.dispose()

    return asyncio.run(count())


def open_messages(db_url: str) -> int:
    counts = status_counts(db_url)
    return sum(n for status, n in counts.items() if status not in ("delivered", "failed"))


def wait_until(predicate: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")

"""The fault runs of the Reliability section, with real processes: ``jooksms worker``
SIGKILLed in the middle of a run, and every database connection terminated while
clients send through ``jooksms serve``. Each run returns its figures; the tests in
``test_delivery_faults.py`` run them small and assert the promises, and
``bench/reliability.py`` runs them full size and prints them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from tests.helpers.live import LOOPBACK, free_port, jooksms, start_serve, stop_processes
from tests.helpers.processes import (
    accept_messages,
    account_with_connector,
    open_messages,
    sim_stats,
    start_simulator,
    status_counts,
    wait_until,
)

TERMINATE_ALL = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@dataclass
class Figures:
    messages: int = 0
    #: accepted and never delivered (or, for the API run, an id answered and not stored)
    lost: int = 0
    #: submit_sm the SMSC received beyond one per message
    duplicates: int = 0
    #: messages stored that no answer named (a retried request stored twice)
    created_twice: int = 0
    #: seconds from the (last) fault until every message was final
    time_to_final: float = 0.0
    #: HTTP answers by status, and transport errors (resets, refusals) by kind
    answers: dict[str, int] = field(default_factory=dict)
    #: connections terminated, for the database run
    terminated: int = 0

    @property
    def server_errors_but_503(self) -> int:
        return sum(
            n for s, n in self.answers.items() if s.isdigit() and int(s) >= 500 and s != "503"
        )


def worker_env(db_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOOKSMS_")}
    return (
        env
        | {"JOOKSMS_DATABASE_URL": db_url}
        | {f"JOOKSMS_{k.upper()}": v for k, v in settings.items()}
    )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jooksms", "worker"], env=env, stdout=out, stderr=out, text=True
        )


def killed_worker_run(
    db_url: str, workdir: Path, *, count: int, lease: int, in_flight: int, survivors: int
) -> Figures:
    """``count`` messages, ``1 + survivors`` workers; SIGKILL one when a quarter is
    submitted. With no survivor a new worker starts at once (as systemd would)."""
    smpp_port, http_port = free_port(), free_port()
    sim = start_simulator(smpp_port, http_port)
    workers: list[subprocess.Popen[str]] = []
    try:
        account_id = account_with_connector(db_url, "+50760000002", smpp_port)
        accept_messages(db_url, account_id, count)
        env = worker_env(db_url, lease_seconds=str(lease), in_flight=str(in_flight))
        log = workdir / "workers.log"
        workers += [start_worker(env, log) for _ in range(1 + survivors)]
        wait_until(lambda: sim_stats(http_port).get("submits", 0) >= count // 4, 120)
        workers[0].kill()  # SIGKILL: no chance to tidy up
        killed_at = time.monotonic()
        workers[0].wait()
        if not survivors:
            workers.append(start_worker(env, log))
        wait_until(lambda: open_messages(db_url) == 0, lease + 120)
        took = time.monotonic() - killed_at
        delivered = status_counts(db_url).get("delivered", 0)
        return Figures(
            messages=count,
            lost=count - delivered,
            duplicates=sim_stats(http_port)["submits"] - count,
            time_to_final=took,
        )
    finally:
        stop_processes(*workers, sim)


# -- every database connection terminated while clients send ----------------------------


def delivered_ids(db_url: str) -> set[int]:
    async def fetch() -> set[int]:
        conn = await asyncpg.connect(_dsn(db_url))
        try:
            rows = await conn.fetch("SELECT id FROM messages WHERE status = 'delivered'")
            return {row["id"] for row in rows}
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _dsn(db_url: str) -> str:
    return make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def terminate_all(db_url: str) -> int:
    """Terminate every other connection to the database; how many there were."""
    conn = await asyncpg.connect(_dsn(db_url))
    try:
        return int(await conn.fetchval(TERMINATE_ALL))
    finally:
        await conn.close()


@dataclass
class _Clients:
    base_url: str
    token: str
    batch: int
    answers: Counter[str] = field(default_factory=Counter)
    ids: list[int] = field(default_factory=list)
    last_ok: dict[int, bool] = field(default_factory=dict)

    async def run(self, number: int, stop: asyncio.Event) -> None:
        """Send to_many requests until told to stop; retry each, with its key, until it
        is accepted, as a client that wants its messages sent once would."""
        limits = httpx.Limits(max_connections=1)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(
            base_url=self.base_url, limits=limits, headers=headers, timeout=30
        ) as http:
            while not stop.is_set():
                body = {
                    "body": "fault run",
                    "list": [{"to": f"+5076{number:02d}{i:05d}"} for i in range(self.batch)],
                }
                self.last_ok[number] = await self._send_once(http, body, str(uuid.uuid4()))

    async def _send_once(self, http: httpx.AsyncClient, body: dict[str, Any], key: str) -> bool:
        first = True
        while True:
            try:
                r = await http.post(
                    "/api/v1/sms/to_many", json=body, headers={"Idempotency-Key": key}
                )
            except httpx.TransportError as exc:
                self.answers[type(exc).__name__] += 1
            else:
                self.answers[str(r.status_code)] += 1
                if r.status_code == 200:
                    self.ids += r.json()["ids"]
                    return first
                if r.status_code != 503:
                    return False
            first = False
            await asyncio.sleep(0.2)


async def _terminate_while_sending(
    base_url: str, token: str, dsn: str, *, clients: int, batch: int, faults: int, every: float
) -> tuple[_Clients, int, float]:
    senders = _Clients(base_url, token, batch)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(senders.run(n, stop)) for n in range(clients)]
    terminated = 0
    try:
        await asyncio.sleep(every)
        for _ in range(faults):
            terminated += await terminate_all(dsn)
            await asyncio.sleep(every)
        last_fault = time.monotonic()
        # Clients recover without a restart: each has a request accepted at its first try.
        senders.last_ok.clear()
        deadline = time.monotonic() + 30
        while (
            len([ok for ok in senders.last_ok.values() if ok]) < clients
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return senders, terminated, last_fault


def terminated_connections_run(
    db_url: str, workdir: Path, *, clients: int, batch: int, faults: int, every: float
) -> tuple[Figures, bool]:
    """Clients send to_many of ``batch`` through ``jooksms serve`` (API only) while a
    ``jooksms worker`` delivers; every connection of the database is terminated
    ``faults`` times, ``every`` seconds apart. Also says whether every client had a
    request accepted at its first try after the last fault."""
    jooksms("db", "upgrade", database_url=db_url)
    smpp_port, http_port = free_port(), free_port()
    sim = start_simulator(smpp_port, http_port)
    server = start_serve(db_url, workdir, settings={"JOOKSMS_DELIVERY": "false"})
    worker = None
    try:
        jooksms(
            "connector",
            "add",
            "--name",
            "sim",
            "--url",
            f"smpp://jooksms:secret@{LOOPBACK}:{smpp_port}",
            database_url=db_url,
        )
        worker = start_worker(worker_env(db_url), workdir / "worker.log")
        client_id, secret = server.demo_credentials()
        token = httpx.post(
            f"{server.base_url}/api/v1/oauth/access_token",
            data={"client_id": client_id, "client_secret": secret},
        ).json()["access_token"]
        dsn = _dsn(db_url)
        senders, terminated, last_fault = asyncio.run(
            _terminate_while_sending(
                server.base_url,
                token,
                dsn,
                clients=clients,
                batch=batch,
                faults=faults,
                every=every,
            )
        )
        recovered = len([ok for ok in senders.last_ok.values() if ok]) == clients
        wait_until(lambda: open_messages(db_url) == 0, 120)
        took = time.monotonic() - last_fault
        answered = set(senders.ids)
        stored = sum(status_counts(db_url).values())
        health = httpx.get(f"{server.base_url}/healthz").status_code
        senders.answers[f"healthz after: {health}"] += 1
        figures = Figures(
            messages=len(answered),
            lost=len(answered - delivered_ids(db_url)),
            duplicates=sim_stats(http_port)["submits"] - stored,
            created_twice=stored - len(answered),
            time_to_final=took,
            answers=dict(senders.answers),
            terminated=terminated,
        )
        return figures, recovered
    finally:
        stop_processes(*([worker] if worker else []), sim)
        with contextlib.suppress(Exception):
            server.stop()

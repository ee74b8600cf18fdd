"""Real servers for tests that must cross a socket: the app under uvicorn in a thread,
``jooksms serve`` as a child process, and a throwaway PostgreSQL database for it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

LOOPBACK = "127.0.0.1"


def stop_processes(*procs: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """SIGTERM to each that still runs, all at once, then wait for each; SIGKILL one
    that has not gone after ``timeout``."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    """A port nothing listens on now. Another process could take it before the server
    binds, so callers that can should pass a bound socket instead."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_health(base_url: str, *, timeout: float, alive: Any = None) -> None:
    """Poll ``/healthz`` until it answers 200. ``alive`` (a callable) lets a caller stop
    early when the server process has already died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError("the server exited before it became healthy")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{base_url}/healthz did not answer within {timeout}s")


@contextmanager
def serve_in_thread(app: Any, *, timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yield its base URL.

    The server runs its own event loop in its own thread, so the app must own its
    database engine: pooled connections (asyncpg's above all) cannot move between loops.
    """
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    port = sock.getsockname()[1]
    # ws="none": nothing here speaks websockets, and importing that stack only adds
    # warnings, which the suite turns into errors.
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, loop="asyncio", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        base_url = f"http://{LOOPBACK}:{port}"
        wait_for_health(base_url, timeout=timeout, alive=thread.is_alive)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the uvicorn thread did not stop")


@dataclass
class ServeProcess:
    """A ``jooksms serve`` child process and where its output goes."""

    proc: subprocess.Popen[bytes]
    base_url: str
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def demo_credentials(self) -> tuple[str, str]:
        """The client id and secret that serve prints once, on its first start."""
        text = self.stdout.read_text()
        found = dict(_CREDENTIAL.findall(text))
        assert {"client_id", "client_secret"} <= found.keys(), self.output()
        return found["client_id"], found["client_secret"]

    def stop(self, *, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; the exit status. uvicorn shuts down gracefully and then
        re-raises the signal, so a clean stop ends as -SIGTERM (as systemd expects)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


_CREDENTIAL = re.compile(r"^\s*(client_id|client_secret):\s*(\S+)\s*$", re.MULTILINE)


def start_serve(
    database_url: str,
    workdir: Path,
    *,
    timeout: float = 60.0,
    settings: dict[str, str] | None = None,
) -> ServeProcess:
    """Start ``python -m jooksms serve`` on a free port and wait until it is healthy.
    Output goes to files, never pipes, so a chatty server cannot block on a full pipe.
    ``settings`` are more environment variables (``JOOKSMS_DELIVERY``...)."""
    port = free_port()
    env = {
        **_clean_env(),
        "JOOKSMS_DATABASE_URL": database_url,
        "JOOKSMS_HOST": LOOPBACK,
        "JOOKSMS_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **(settings or {}),
    }
    stdout, stderr = workdir / "serve.out", workdir / "serve.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jooksms", "serve"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    server = ServeProcess(proc, f"http://{LOOPBACK}:{port}", stdout, stderr)
    try:
        wait_for_health(server.base_url, timeout=timeout, alive=lambda: proc.poll() is None)
    except Exception as exc:
        server.stop()
        raise RuntimeError(f"jooksms serve did not start:\n{server.output()}") from exc
    return server


def jooksms(*args: str, database_url: str, timeout: float = 120.0) -> str:
    """Run one ``jooksms`` command against ``database_url``; its standard output."""
    env = {**_clean_env(), "JOOKSMS_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "jooksms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _clean_env() -> dict[str, str]:
    """This environment without JOOKSMS_* settings, so that the child runs on its
    defaults plus what the test sets (a developer's JOOKSMS_TOKEN_TTL must not leak in)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("JOOKSMS_")}


@contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the server of ``admin_url``, dropped afterwards;
    yields its URL in the plain ``postgresql://`` form a user would configure."""
    name = f"jooksms_serve_{uuid.uuid4().hex[:12]}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield url
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(admin_url: str, statement: str) -> None:
    url = make_url(admin_url).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()

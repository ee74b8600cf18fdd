"""The processes the API benchmark drives (a real ``jooksms serve``, the empty app, the
``jooksms`` CLI), what they cost the machine, and the throwaway PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cryptography.fernet import Fernet

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The console script next to the interpreter running the bench (the project's venv).
JOOKSMS = Path(sys.executable).with_name("jooksms")
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/jooksms_bench"
)
# ``jooksms serve`` exactly as the console script runs it (same entry point, same
# arguments), but with a command line that a name-based cleanup elsewhere on a shared
# machine (``pkill -f "jooksms serve"``) does not match and kill mid-run.
SERVE_CODE = "import sys; from jooksms.cli import main; sys.argv = ['jooksms', 'serve']; main()"


# One key seals and opens carrier credentials for every process a bench starts,
# whatever its working directory (without the variable, the key file is per folder).
os.environ.setdefault("JOOKSMS_SECRET_KEY", Fernet.generate_key().decode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(database_url: str, *args: str) -> dict[str, Any]:
    """Run ``jooksms ARGS`` against a database and return the JSON it prints."""
    env = {**os.environ, "JOOKSMS_DATABASE_URL": database_url, "JOOKSMS_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [str(JOOKSMS), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"jooksms {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    result: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{") :])
    return result


@dataclass(frozen=True, slots=True)
class Server:
    popen: subprocess.Popen[bytes]
    base_url: str
    log: Path
    #: How to spot the database's own processes (PostgreSQL backends), if any.
    database_marker: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")


@contextmanager
def running(
    cmd: list[str],
    *,
    port: int,
    log: Path,
    env: dict[str, str],
    database_marker: str | None = None,
) -> Iterator[Server]:
    """Start a server process, wait until it answers HTTP, stop it on the way out."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    server = Server(popen, f"http://127.0.0.1:{port}", log, database_marker)
    try:
        _wait_ready(server)
        yield server
    except Exception as exc:
        if popen.poll() is None:
            raise
        code = popen.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise RuntimeError(
            f"the server process {popen.pid} {how} during the run; "
            f"its log {log.name} ends:\n{_tail(log)}"
        ) from exc
    finally:
        _stop(popen)


def serve_jooksms(
    database_url: str, log: Path, *, delivery: bool = False
) -> AbstractContextManager[Server]:
    port = free_port()
    env = {
        "JOOKSMS_DATABASE_URL": database_url,
        "JOOKSMS_PORT": str(port),
        "JOOKSMS_LOG_LEVEL": "WARNING",
        # The API benchmark measures what the API accepts: delivery off, as an API
        # process of a scaled deployment (API processes, and `jooksms worker`s). The
        # delivery benchmark turns it on for the one-process SQLite setup.
        "JOOKSMS_DELIVERY": "true" if delivery else "false",
    }
    marker = None if database_url.startswith("sqlite") else database_url.rsplit("/", 1)[1]
    cmd = [sys.executable, "-c", SERVE_CODE]
    return running(cmd, port=port, log=log, env=env, database_marker=marker)


def serve_empty_app(log: Path) -> AbstractContextManager[Server]:
    port = free_port()
    cmd = [sys.executable, str(BENCH / "empty_app.py"), "--port", str(port)]
    return running(cmd, port=port, log=log, env={})


def _wait_ready(server: Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.popen.poll() is not None:
            raise RuntimeError("the server exited before it answered")
        try:
            httpx.get(server.base_url + "/healthz", timeout=2.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer within {timeout:.0f} s:\n{_tail(server.log)}")


def _stop(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is not None:
        return
    popen.terminate()
    try:
        popen.wait(timeout=20)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# -- PostgreSQL ------------------------------------------------------------------------


def _admin_url(url: str) -> tuple[str, str]:
    base, name = url.rsplit("/", 1)
    return base + "/postgres", name


def postgres_reachable(url: str = POSTGRES_URL) -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(_admin_url(url)[0], timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def recreate_postgres(url: str = POSTGRES_URL) -> None:
    """Drop and create the bench database: every run starts from nothing."""
    admin, name = _admin_url(url)

    async def work() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(work())

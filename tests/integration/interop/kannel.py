"""Kannel (Debian's ``kannel`` package, 1.4.5) as a test peer: a configuration for a
bearerbox with one SMPP transceiver and an smsbox with a sendsms user, and the two
boxes started as child processes.

Kannel is the SMS gateway a user would pick instead of ours, so it is the client our
SMSC simulator must satisfy: if Kannel binds, submits and gets its delivery reports,
so will the carriers' customers' gateways.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from tests.integration.live import LOOPBACK, free_port

BOXES = ("bearerbox", "smsbox")
SMSC_ID = "jooksms-sim"
ADMIN_PASSWORD = "admin-secret"
SENDSMS_USER = "tester"
SENDSMS_PASSWORD = "foobar"


def missing() -> str | None:
    """Why Kannel cannot run here, or None when it can."""
    absent = [box for box in BOXES if shutil.which(box) is None]
    if absent:
        return (
            f"Kannel is not installed ({', '.join(absent)} not on PATH); "
            "scripts/system-packages.sh installs Debian's kannel package"
        )
    return None


@dataclass(frozen=True)
class KannelConfig:
    """Where Kannel listens and what it binds to."""

    directory: Path
    smsc_port: int
    system_id: str
    password: str
    admin_port: int
    smsbox_port: int
    sendsms_port: int

    @property
    def path(self) -> Path:
        return self.directory / "kannel.conf"

    def text(self) -> str:
        log = self.directory
        return f"""\
group = core
admin-port = {self.admin_port}
admin-password = {ADMIN_PASSWORD}
admin-interface = {LOOPBACK}
admin-allow-ip = {LOOPBACK}
smsbox-port = {self.smsbox_port}
smsbox-interface = {LOOPBACK}
box-allow-ip = {LOOPBACK}
log-file = "{log / "bearerbox.log"}"
log-level = 0
access-log = "{log / "access.log"}"
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = {SMSC_ID}
host = {LOOPBACK}
port = {self.smsc_port}
transceiver-mode = true
smsc-username = {self.system_id}
smsc-password = {self.password}
system-type = ""
source-addr-ton = 1
source-addr-npi = 1
dest-addr-ton = 1
dest-addr-npi = 1
reconnect-delay = 1
enquire-link-interval = 1

group = smsbox
bearerbox-host = {LOOPBACK}
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = {LOOPBACK}
log-file = "{log / "smsbox.log"}"
log-level = 0
access-log = "{log / "smsbox-access.log"}"

group = sendsms-user
username = {SENDSMS_USER}
password = {SENDSMS_PASSWORD}
concatenation = true
max-messages = 10
user-allow-ip = {LOOPBACK}
"""

    def write(self) -> Path:
        self.path.write_text(self.text())
        return self.path

    def sendsms_url(self, params: Mapping[str, str | int] | None = None) -> str:
        """The sendsms URL with our user's credentials and ``params`` (to, text, ...)."""
        query = urlencode(
            {"username": SENDSMS_USER, "password": SENDSMS_PASSWORD, **(params or {})},
            encoding="utf-8",
        )
        return f"http://{LOOPBACK}:{self.sendsms_port}/cgi-bin/sendsms?{query}"

    def status(self) -> str:
        """bearerbox's status page, as text."""
        url = f"http://{LOOPBACK}:{self.admin_port}/status.txt?password={ADMIN_PASSWORD}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
        return body.decode("utf-8", "replace")


def config_for(directory: Path, *, smsc_port: int, system_id: str, password: str) -> KannelConfig:
    return KannelConfig(
        directory=directory,
        smsc_port=smsc_port,
        system_id=system_id,
        password=password,
        admin_port=free_port(),
        smsbox_port=free_port(),
        sendsms_port=free_port(),
    )


@dataclass
class Boxes:
    """bearerbox and smsbox running on ``config``."""

    config: KannelConfig
    procs: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        """SIGTERM (bearerbox then unbinds), SIGKILL after a few seconds. Idempotent."""
        # smsbox first: it is bearerbox's client, and leaving first keeps bearerbox quick.
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running(config: KannelConfig, *, timeout: float = 20.0) -> Iterator[Boxes]:
    """bearerbox and smsbox on ``config``, once the SMPP link is bound and smsbox is
    connected; both are stopped on the way out, however the block ends."""
    path = config.write()
    boxes = Boxes(config, [])
    deadline = time.monotonic() + timeout
    try:
        boxes.procs.append(_start("bearerbox", path))
        # smsbox gives up at once when bearerbox does not answer yet.
        _wait(config, boxes.procs, deadline, lambda: _listening(config.smsbox_port))
        boxes.procs.append(_start("smsbox", path))
        # Not a probe of sendsms: a request that comes before smsbox has read its
        # sendsms-users crashes it (urltrans_find_username on a NULL table).
        _wait(config, boxes.procs, deadline, lambda: _online(config))
        yield boxes
    finally:
        boxes.stop()


def output(config: KannelConfig) -> str:
    """The boxes' logs, for a failure message."""
    parts = []
    for name in ("bearerbox.out", "bearerbox.log", "smsbox.out", "smsbox.log"):
        path = config.directory / name
        if path.exists():
            parts.append(f"--- {name}\n{path.read_text(errors='replace')[-4000:]}")
    return "\n".join(parts)


def _start(box: str, config_path: Path) -> subprocess.Popen[bytes]:
    with (config_path.parent / f"{box}.out").open("wb") as out:
        return subprocess.Popen(
            [box, str(config_path)],
            cwd=config_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(
    config: KannelConfig,
    procs: list[subprocess.Popen[bytes]],
    deadline: float,
    ready: Callable[[], bool],
) -> None:
    while time.monotonic() < deadline:
        dead = [(p.args, p.returncode) for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"Kannel exited early: {dead}\n{output(config)}")
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"Kannel was not ready in time\n{output(config)}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def _online(config: KannelConfig) -> bool:
    """The SMPP link is bound and smsbox is connected to bearerbox (it connects only
    after reading its configuration, so sendsms is safe to call from then on)."""
    try:
        status = config.status()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    lines = status.splitlines()
    smsc = any(SMSC_ID in line and "online" in line for line in lines)
    smsbox = any(line.strip().startswith("smsbox:") and "on-line" in line for line in lines)
    return smsc and smsbox

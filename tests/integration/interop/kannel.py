"""Kannel (Debian's ``kannel`` package, 1.4.5) run as a child process: a configuration
for a bearerbox with one SMPP transceiver and an smsbox with a sendsms user, and the
two boxes started, awaited and stopped.

Kannel is the SMS gateway a user would pick instead of ours, so it is the client our
SMSC simulator must satisfy: if Kannel binds, submits and gets its delivery reports,
so will the carriers' customers' gateways. The delivery benchmark runs the same
Kannel as its reference gateway (``bench/kannel.py``), tuned for throughput: what
differs between the two is a :class:`Settings`, this module is the one place that
writes the configuration and runs the boxes.
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from tests.helpers.live import LOOPBACK, free_port, stop_processes

BOXES = ("bearerbox", "smsbox")
SMSC_ID = "jooksms-sim"

#: One configuration group: Kannel's ``key = value`` lines, a None value leaves the
#: line out (Kannel's default applies).
_Group = dict[str, str | int | None]


def missing() -> str | None:
    """Why Kannel cannot run here, or None when it can."""
    absent = [box for box in BOXES if shutil.which(box) is None]
    if absent:
        return (
            f"{', '.join(absent)} not on PATH; "
            "scripts/system-packages.sh installs Debian's kannel package"
        )
    return None


@dataclass(frozen=True, slots=True)
class Settings:
    """What differs between Kannel as the interop test's peer (these defaults: it logs
    everything, since the test reads the PDUs in bearerbox's log) and Kannel as the
    benchmark's reference gateway (``bench/kannel.py``)."""

    smsc_id: str = SMSC_ID
    admin_password: str = "admin-secret"
    sendsms_user: str = "tester"
    sendsms_password: str = "foobar"
    #: 0 (debug: every PDU), 1 info, 2 warning, 3 error, for the log files and for the boxes'
    #: standard error (``-v``), which otherwise logs at debug whatever the log files'
    #: level: a dump of every PDU and HTTP request, 20 lines each.
    log_level: int = 0
    #: An access log per box: a line per message.
    access_logs: bool = True
    #: ``store-type = file`` in the configuration's directory; off, Kannel keeps no
    #: message store (no ``store-location``).
    file_store: bool = False
    #: ``max-pending-submits``, the SMPP window; None keeps Kannel's default.
    window: int | None = None
    #: Seconds between enquire_links (the test waits for one to be answered).
    enquire_link_interval: int = 1
    #: smsbox's ``max-pending-requests``; None keeps Kannel's default.
    max_pending_requests: int | None = None
    #: Seconds the boxes may take to come up, and each to exit after SIGTERM.
    start_timeout: float = 20.0
    stop_grace: float = 5.0


@dataclass(frozen=True, slots=True)
class KannelConfig:
    """Where Kannel listens and what it binds to."""

    directory: Path
    smsc_port: int
    system_id: str
    password: str
    admin_port: int
    smsbox_port: int
    sendsms_port: int
    settings: Settings

    @property
    def path(self) -> Path:
        return self.directory / "kannel.conf"

    def text(self) -> str:
        groups = {
            "core": self._core(),
            "smsc": self._smsc(),
            "smsbox": self._smsbox(),
            "sendsms-user": self._sendsms_user(),
        }
        return "\n".join(_group(name, lines) for name, lines in groups.items())

    def write(self) -> Path:
        self.path.write_text(self.text())
        return self.path

    def sendsms_url(self, params: Mapping[str, str | int] | None = None) -> str:
        """The sendsms URL with our user's credentials and ``params`` (to, text, ...)."""
        s = self.settings
        query = urlencode(
            {"username": s.sendsms_user, "password": s.sendsms_password, **(params or {})},
            encoding="utf-8",
        )
        return f"http://{LOOPBACK}:{self.sendsms_port}/cgi-bin/sendsms?{query}"

    def status(self) -> str:
        """bearerbox's status page, as text."""
        url = (
            f"http://{LOOPBACK}:{self.admin_port}/status.txt"
            f"?password={self.settings.admin_password}"
        )
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
        return body.decode("utf-8", "replace")

    def _core(self) -> _Group:
        s, d = self.settings, self.directory
        return {
            "admin-port": self.admin_port,
            "admin-password": s.admin_password,
            "admin-interface": LOOPBACK,
            "admin-allow-ip": LOOPBACK,
            "smsbox-port": self.smsbox_port,
            "smsbox-interface": LOOPBACK,
            "box-allow-ip": LOOPBACK,
            "log-file": _quoted(d / "bearerbox.log"),
            "log-level": s.log_level,
            "access-log": _quoted(d / "access.log") if s.access_logs else None,
            "dlr-storage": "internal",
            "store-type": "file" if s.file_store else None,
            "store-location": _quoted(d / "kannel.store") if s.file_store else None,
        }

    def _smsc(self) -> _Group:
        return {
            "smsc": "smpp",
            "smsc-id": self.settings.smsc_id,
            "host": LOOPBACK,
            "port": self.smsc_port,
            "transceiver-mode": "true",
            "smsc-username": self.system_id,
            "smsc-password": self.password,
            "system-type": '""',
            "source-addr-ton": 1,
            "source-addr-npi": 1,
            "dest-addr-ton": 1,
            "dest-addr-npi": 1,
            "max-pending-submits": self.settings.window,
            "reconnect-delay": 1,
            "enquire-link-interval": self.settings.enquire_link_interval,
        }

    def _smsbox(self) -> _Group:
        s, d = self.settings, self.directory
        return {
            "bearerbox-host": LOOPBACK,
            "bearerbox-port": self.smsbox_port,
            "sendsms-port": self.sendsms_port,
            "sendsms-interface": LOOPBACK,
            "log-file": _quoted(d / "smsbox.log"),
            "log-level": s.log_level,
            "access-log": _quoted(d / "smsbox-access.log") if s.access_logs else None,
            "max-pending-requests": s.max_pending_requests,
        }

    def _sendsms_user(self) -> _Group:
        return {
            "username": self.settings.sendsms_user,
            "password": self.settings.sendsms_password,
            "concatenation": "true",
            "max-messages": 10,
            "user-allow-ip": LOOPBACK,
        }


def config_for(
    directory: Path,
    *,
    smsc_port: int,
    system_id: str,
    password: str,
    settings: Settings = Settings(),
) -> KannelConfig:
    return KannelConfig(
        directory=directory,
        smsc_port=smsc_port,
        system_id=system_id,
        password=password,
        admin_port=free_port(),
        smsbox_port=free_port(),
        sendsms_port=free_port(),
        settings=settings,
    )


@dataclass(slots=True)
class Boxes:
    """bearerbox and smsbox running on ``config``."""

    config: KannelConfig
    #: By box name, in the order they were started.
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"Kannel's {name} (pid {proc.pid}) exited with status {proc.returncode}:\n"
                    + output(self.config)
                )

    def stop(self) -> None:
        """SIGTERM (bearerbox then unbinds), SIGKILL after a grace period. Idempotent."""
        # smsbox first: it is bearerbox's client, and leaving first keeps bearerbox quick.
        procs = reversed(self.procs.values())
        stop_processes(*procs, timeout=self.config.settings.stop_grace)


@contextmanager
def running(config: KannelConfig) -> Iterator[Boxes]:
    """bearerbox and smsbox on ``config``, once the SMPP link is bound and smsbox is
    connected; both are stopped on the way out, however the block ends."""
    config.write()
    boxes = Boxes(config)
    deadline = time.monotonic() + config.settings.start_timeout
    try:
        boxes.procs["bearerbox"] = _start("bearerbox", config)
        # smsbox gives up at once when bearerbox does not answer yet.
        _wait(boxes, deadline, lambda: listening(config.smsbox_port))
        boxes.procs["smsbox"] = _start("smsbox", config)
        # Not a probe of sendsms: a request that comes before smsbox has read its
        # sendsms-users crashes it (urltrans_find_username on a NULL table).
        _wait(boxes, deadline, lambda: _online(config))
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


def listening(port: int) -> bool:
    """Something accepts connections on ``port`` (loopback)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def _group(name: str, lines: _Group) -> str:
    body = "".join(f"{key} = {value}\n" for key, value in lines.items() if value is not None)
    return f"group = {name}\n{body}"


def _quoted(path: Path) -> str:
    return f'"{path}"'


def _start(box: str, config: KannelConfig) -> subprocess.Popen[bytes]:
    with (config.directory / f"{box}.out").open("wb") as out:
        return subprocess.Popen(
            [box, "-v", str(config.settings.log_level), str(config.path)],
            cwd=config.directory,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(boxes: Boxes, deadline: float, ready: Callable[[], bool]) -> None:
    while time.monotonic() < deadline:
        boxes.check_alive()
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"Kannel was not ready in time\n{output(boxes.config)}")


def _online(config: KannelConfig) -> bool:
    """The SMPP link is bound and smsbox is connected to bearerbox (it connects only
    after reading its configuration, so sendsms is safe to call from then on)."""
    try:
        lines = config.status().splitlines()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    smsc = any(config.settings.smsc_id in line and "online" in line for line in lines)
    smsbox = any(line.strip().startswith("smsbox:") and "on-line" in line for line in lines)
    return smsc and smsbox

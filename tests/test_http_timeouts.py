"""``jooksms serve``'s HTTP limits, against real uvicorn and real sockets: a client
that sends half a request, or never ends its body, or idles, loses its connection;
one that behaves keeps it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from jooksms.api.app import create_app
from jooksms.config import ConfigError, Settings, load_settings
from jooksms.platform import Platform
from jooksms.server import uvicorn_options
from tests.helpers.live import LOOPBACK, wait_for_health
from tests.helpers.raw_http import closed_by_server, connect, exchange, read_answer

LIMIT = 0.5  # every timeout in these tests, in seconds
PATIENCE = 5.0  # how long a test waits for a close that must come


@contextmanager
def serving(settings: Settings, **limits: object) -> Iterator[str]:
    limited = settings.model_copy(
        update={
            "http_header_timeout": LIMIT,
            "http_body_timeout": LIMIT,
            "http_keepalive_timeout": LIMIT,
            **limits,
        }
    )
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    options = uvicorn_options(limited) | {"log_level": "warning", "loop": "asyncio"}
    server = uvicorn.Server(uvicorn.Config(create_app(Platform(limited)), ws="none", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://{LOOPBACK}:{sock.getsockname()[1]}"
    try:
        wait_for_health(base_url, timeout=30, alive=thread.is_alive)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def test_half_a_request_line_is_closed_after_the_header_timeout(settings: Settings) -> None:
    with serving(settings) as base_url, connect(base_url) as sock:
        sock.sendall(b"GET /hea")
        started = time.monotonic()
        assert closed_by_server(sock, within=PATIENCE)
        assert time.monotonic() - started >= LIMIT * 0.9


def test_headers_a_byte_at_a_time_are_closed(settings: Settings) -> None:
    with serving(settings) as base_url, connect(base_url) as sock:
        deadline = time.monotonic() + PATIENCE
        try:
            for byte in b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
                assert time.monotonic() < deadline, "still open"
        except (BrokenPipeError, ConnectionResetError):
            return  # closed while the client was still sending
        raise AssertionError("the server read all the headers")


def test_a_connection_that_sends_nothing_is_closed(settings: Settings) -> None:
    with serving(settings) as base_url, connect(base_url) as sock:
        assert closed_by_server(sock, within=PATIENCE)


def test_a_body_that_never_ends_is_closed(settings: Settings) -> None:
    with serving(settings) as base_url, connect(base_url) as sock:
        sock.sendall(
            b"POST /api/v1/oauth/access_token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\nclient_id="
        )
        assert closed_by_server(sock, within=PATIENCE)


def test_an_idle_keep_alive_connection_is_closed_and_a_busy_one_kept(
    settings: Settings,
) -> None:
    with serving(settings) as base_url, connect(base_url) as sock:
        for _ in range(3):  # requests closer together than the timeouts: one connection
            assert exchange(sock, "GET", "/healthz").status == 200
            time.sleep(LIMIT / 3)
        assert closed_by_server(sock, within=PATIENCE)


def test_a_request_slower_than_nothing_but_within_the_limits_is_answered(
    settings: Settings,
) -> None:
    with serving(settings) as base_url, connect(base_url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(LIMIT / 3)
        sock.sendall(b"Host: x\r\n\r\n")
        assert read_answer(sock).status == 200


def test_connections_beyond_the_limit_are_answered_503(settings: Settings) -> None:
    with (
        serving(settings, http_max_connections=2, http_header_timeout=30.0) as base_url,
        connect(base_url),
        connect(base_url),
        connect(base_url) as third,
    ):
        assert exchange(third, "GET", "/healthz").status == 503


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JOOKSMS_HTTP_HEADER_TIMEOUT", "0"),
        ("JOOKSMS_HTTP_BODY_TIMEOUT", "-1"),
        ("JOOKSMS_HTTP_KEEPALIVE_TIMEOUT", "soon"),
        ("JOOKSMS_HTTP_MAX_CONNECTIONS", "0"),
    ],
)
def test_limits_are_validated(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()

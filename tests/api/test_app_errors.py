"""An unexpected error answers the API's 500 envelope and leaves the connection open;
a database that cannot be reached answers 503 with Retry-After, never 500."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from jooksms.api.app import create_app
from jooksms.config import Settings, load_settings
from jooksms.platform import Platform
from tests.helpers.live import free_port, serve_in_thread
from tests.helpers.raw_http import connect, exchange

SECRET = "s3cr3t-in-the-body"


async def _boom(request: Request) -> Any:
    await request.body()
    raise RuntimeError("a bug")


def test_a_500_keeps_the_keep_alive_connection(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Platform(settings))
    app.router.routes.append(Route("/boom", _boom, methods=["POST"]))
    with serve_in_thread(app) as base_url, connect(base_url) as sock:
        caplog.set_level(logging.INFO)
        failed = exchange(sock, "POST", "/boom", body=SECRET.encode())
        assert failed.status == 500
        assert failed.json() == {
            "result": "error",
            "error": {"code": "internal_error", "message": "internal error"},
        }
        assert failed.headers.get("connection") != "close"
        # The same socket answers the next request: no reset, no reconnect.
        assert exchange(sock, "GET", "/healthz").status == 200
        assert exchange(sock, "GET", "/healthz").status == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].name == "jooksms.api" and errors[0].exc_info is not None
    assert SECRET not in caplog.text


def _nowhere() -> Settings:
    """PostgreSQL on a port nothing listens on: a database that is down."""
    return load_settings(database_url=f"postgresql://u:p@127.0.0.1:{free_port()}/none")


async def test_healthz_names_the_database_when_it_is_down() -> None:
    app = create_app(Platform(_nowhere()))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        r = await http.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "down", "database": "down"}
    assert int(r.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/sms", {"to": "+50768819519", "body": "hi"}),
        ("GET", "/api/v1/sms", None),
        ("POST", "/api/v1/sms/to_many", {"body": "hi", "list": [{"to": "+50768819519"}]}),
    ],
)
async def test_a_database_that_is_down_is_a_503_with_retry_after(
    method: str, path: str, body: Any
) -> None:
    app = create_app(Platform(_nowhere()))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        r = await http.request(
            method, path, json=body, headers={"Authorization": "Bearer whatever"}
        )
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable"
    assert int(r.headers["retry-after"]) >= 1


def test_healthz_names_delivery_when_this_process_delivers(settings: Settings) -> None:
    app = create_app(Platform(settings), delivery=True)
    with serve_in_thread(app) as base_url, connect(base_url) as sock:
        up = exchange(sock, "GET", "/healthz")
        assert up.json() == {"status": "ok", "database": "ok", "delivery": "ok"}
        sender = app.state.delivery
        sender.get_loop().call_soon_threadsafe(sender.cancel)  # delivery has died
        for _ in range(50):
            down = exchange(sock, "GET", "/healthz")
            if down.status == 503:
                break
        assert down.json() == {"status": "down", "database": "ok", "delivery": "down"}
        assert down.headers["retry-after"] == "1"

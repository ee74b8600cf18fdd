"""Every connection of the API's pool terminated by the server: the next requests
(health, reads, sends, a to_many of 1,000) are answered as if nothing had happened."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jooksms.db.engine import Database
from tests.conftest import Tenant
from tests.helpers.fault_runs import terminate_all


async def _warm_pool(tenant: Tenant, number: str) -> None:
    """Several connections in the pool, as under load, each to be terminated."""
    sends = [tenant.post("/api/v1/sms", json={"to": number, "body": "x"}) for _ in range(8)]
    assert all(r.status_code == 200 for r in await asyncio.gather(*sends))


SENDS: list[tuple[str, str, Any]] = [
    ("GET", "/healthz", None),
    ("GET", "/api/v1/sms", None),
    ("POST", "/api/v1/sms", {"to": "+50768819519", "body": "after"}),
    (
        "POST",
        "/api/v1/sms/to_many",
        {"body": "after", "list": [{"to": f"+507688{i:05d}"} for i in range(1000)]},
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), SENDS, ids=[f"{s[0]} {s[1]}" for s in SENDS])
async def test_requests_after_every_connection_was_terminated(
    db: Database, tenant: Tenant, method: str, path: str, body: Any
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no server to lose")
    await _warm_pool(tenant, "+50768819519")
    assert await terminate_all(db.url) >= 1
    r = await tenant.request(method, path, json=body)
    assert r.status_code == 200, r.text
    assert (await tenant.get("/healthz")).status_code == 200

"""``GET /metrics`` on the API: Prometheus text, counts that follow what the API
accepts, a cache, an optional token, and nothing about any one account."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from jooksms.api.app import create_app
from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.platform import Platform
from tests.conftest import Tenant
from tests.helpers.metrics_text import Samples, parse, send, value


async def _scrape(app: Any, client: str = "127.0.0.1", **headers: str) -> httpx.Response:
    """A scrape through ``app`` from the address ``client``. Each app keeps its own
    database figures for a few seconds, so a fresh app reads the database now."""
    transport = httpx.ASGITransport(app=app, client=(client, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get("/metrics", headers=headers)


async def _fresh(settings: Settings, db: Database) -> Samples:
    r = await _scrape(create_app(Platform(settings, db)))
    assert r.status_code == 200, r.text
    return parse(r.text)


@pytest.fixture
def open_app(settings: Settings, db: Database) -> Any:
    assert settings.metrics_token is None
    return create_app(Platform(settings, db))


async def test_metrics_in_prometheus_text_format(open_app: Any, anon: httpx.AsyncClient) -> None:
    r = await _scrape(open_app)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert families["jooksms_messages"].type == "gauge"
    assert families["jooksms_queue_depth"].type == "gauge"
    assert families["jooksms_queue_scheduled"].type == "gauge"
    assert families["jooksms_connector_bound"].type == "gauge"
    assert families["jooksms_submit_duration_seconds"].type == "histogram"
    assert families["jooksms_receipts"].type == "counter"
    assert families["jooksms_receipts_kept"].type == "counter"
    assert families["jooksms_receipts_pending"].type == "gauge"
    assert families["jooksms_incoming_unowned"].type == "counter"
    assert families["jooksms_message_transitions"].type == "counter"
    schema = (await anon.get("/api/v1/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


async def test_counts_follow_the_messages_sent(
    settings: Settings, db: Database, tenant: Tenant
) -> None:
    before = await _fresh(settings, db)
    app = create_app(Platform(settings, db))
    await send(tenant, now=2, later=1)
    r = await _scrape(app)
    after = parse(r.text)
    for name, labels, grew in [
        ("jooksms_messages", {"status": "queued", "direction": "sending"}, 2),
        ("jooksms_messages", {"status": "scheduled", "direction": "sending"}, 1),
        ("jooksms_messages", {"status": "delivered", "direction": "sending"}, 0),
        ("jooksms_queue_depth", {}, 2),
        ("jooksms_queue_scheduled", {}, 1),
    ]:
        assert value(after, name, **labels) - value(before, name, **labels) == grew, name
    # The same app answers from its cache for a few seconds: one scrape per scraper
    # cannot become one count of the table each.
    await send(tenant, now=1)
    assert _ours(parse((await _scrape(app)).text)) == _ours(after)
    assert value(await _fresh(settings, db), "jooksms_queue_depth") == (
        value(after, "jooksms_queue_depth") + 1
    )


def _ours(samples: Samples) -> Samples:
    """Without the process's samples (CPU, memory, GC), which move by themselves."""
    return {k: v for k, v in samples.items() if k[0].startswith("jooksms_")}


async def test_token_when_set(settings: Settings, db: Database) -> None:
    app = create_app(
        Platform(settings.model_copy(update={"metrics_token": SecretStr("s3cret")}), db)
    )
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        refused = await _scrape(app, **headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {
            "result": "error",
            "error": {
                "code": "unauthorized",
                "message": "send the metrics token as 'Authorization: Bearer <token>'",
            },
        }
    ok = await _scrape(app, Authorization="Bearer s3cret")
    assert ok.status_code == 200
    assert "jooksms_queue_depth" in ok.text


async def test_without_token_only_loopback_clients(open_app: Any) -> None:
    for loopback in ("127.0.0.1", "::1"):
        assert (await _scrape(open_app, loopback)).status_code == 200
    for outside in ("192.0.2.7", "2001:db8::7"):
        refused = await _scrape(open_app, outside)
        assert refused.status_code == 403
        assert refused.json() == {
            "result": "error",
            "error": {
                "code": "forbidden",
                "message": "metrics answer loopback clients only; "
                "set JOOKSMS_METRICS_TOKEN to scrape from elsewhere",
            },
        }


async def test_with_token_its_bearer_from_anywhere(settings: Settings, db: Database) -> None:
    app = create_app(
        Platform(settings.model_copy(update={"metrics_token": SecretStr("s3cret")}), db)
    )
    assert (await _scrape(app, "192.0.2.7", Authorization="Bearer s3cret")).status_code == 200
    assert (await _scrape(app, "127.0.0.1")).status_code == 401


async def test_nothing_about_any_one_account(
    open_app: Any, tenant: Tenant, settings: Settings
) -> None:
    await send(tenant, now=1)
    body = (await _scrape(open_app)).text
    for secret in (tenant.number, tenant.client_id, tenant.client_secret, settings.database_url):
        assert secret not in body
    labels = {
        name
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        for name in sample.labels
    }
    process_labels = {"implementation", "major", "minor", "patchlevel", "version", "generation"}
    assert labels <= {"status", "direction", "connector", "result", "le"} | process_labels

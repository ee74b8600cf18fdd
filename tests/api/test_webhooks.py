"""/api/v1/webhooks: create (the secret shown once), list, get, change, delete,
deliveries and replay; another account's webhook is a 404; bad input a 422 naming
the field; status_callback on the send endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Tenant

HOOK = "https://93.184.215.14/hook"  # a public address: no DNS needed


async def _create(t: Tenant, **fields: Any) -> dict[str, Any]:
    r = await t.post("/api/v1/webhooks", json={"url": HOOK, **fields})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def test_crud(tenant: Tenant) -> None:
    hook = await _create(tenant, event_types=["message.delivered"], description="shop")
    assert hook["secret"].startswith("whsec_")
    assert (hook["event_types"], hook["enabled"], hook["batch"]) == (
        ["message.delivered"],
        True,
        False,
    )
    one = (await tenant.get(f"/api/v1/webhooks/{hook['id']}")).json()["data"]
    assert "secret" not in one and one["description"] == "shop"
    listed = (await tenant.get("/api/v1/webhooks?per_page=1")).json()
    assert listed["meta"]["pagination"]["total"] >= 1
    changed = await tenant.request(
        "PATCH", f"/api/v1/webhooks/{hook['id']}", json={"enabled": False, "event_types": "*"}
    )
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert (data["enabled"], data["event_types"]) == (False, ["*"])
    assert data["disabled_reason"] == "disabled by the account"
    back = await tenant.request("PATCH", f"/api/v1/webhooks/{hook['id']}", json={"enabled": True})
    assert back.json()["data"]["disabled_reason"] is None
    rotated = (await tenant.post(f"/api/v1/webhooks/{hook['id']}/rotate_secret")).json()["data"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    deliveries = await tenant.get(f"/api/v1/webhooks/{hook['id']}/deliveries?status=failed")
    assert deliveries.status_code == 200 and deliveries.json()["data"] == []
    replay = await tenant.post(
        f"/api/v1/webhooks/{hook['id']}/replay", json={"since": "2020-01-01 00:00 UTC"}
    )
    assert replay.json()["data"] == {"replayed": 0}
    missing = await tenant.post(f"/api/v1/webhooks/{hook['id']}/deliveries/999999/replay")
    assert missing.status_code == 404
    assert (await tenant.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 200
    assert (await tenant.get(f"/api/v1/webhooks/{hook['id']}")).status_code == 404


async def test_another_accounts_webhook_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    hook = await _create(tenant)
    base = f"/api/v1/webhooks/{hook['id']}"
    for method, path in [
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", base + "/rotate_secret"),
        ("GET", base + "/deliveries"),
        ("POST", base + "/replay"),
    ]:
        body = {"enabled": False} if method == "PATCH" else {"since": "2020-01-01"}
        r = await other_tenant.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
    assert (await tenant.get(base)).json()["data"]["enabled"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://127.0.0.1:8000/x"}, "url"),
        ({"url": "http://10.0.0.8/x"}, "url"),
        ({"url": "http://169.254.169.254/x"}, "url"),
        ({"url": "https://example.com/" + "a" * 2000}, "url"),
        ({"url": 12}, "url"),
        ({}, "url"),
        ({"url": HOOK, "event_types": ["message.nope"]}, "event_types.0"),
        ({"url": HOOK, "event_types": "message.sent"}, "event_types"),
        ({"url": HOOK, "enabled": "yes"}, "enabled"),
        ({"url": HOOK, "batch": 1}, "batch"),
        ({"url": HOOK, "description": 5}, "description"),
    ],
)
async def test_bad_input_names_the_field(tenant: Tenant, body: dict[str, Any], field: str) -> None:
    r = await tenant.post("/api/v1/webhooks", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert field in error["fields"], error


async def test_bad_changes_and_ranges(tenant: Tenant) -> None:
    hook = await _create(tenant)
    base = f"/api/v1/webhooks/{hook['id']}"
    for body, field in [
        ({}, "body"),
        ({"url": None}, "url"),
        ({"url": "http://[::1]/x"}, "url"),
    ]:
        r = await tenant.request("PATCH", base, json=body)
        assert r.status_code == 422 and field in r.json()["error"]["fields"], r.text
    for body, field in [
        ({}, "since"),
        ({"since": 5}, "since"),
        ({"since": None}, "since"),
    ]:
        r = await tenant.post(base + "/replay", json=body)
        assert r.status_code == 422 and field in r.json()["error"]["fields"], r.text
    # A range that ends before it starts holds no event: nothing to replay.
    r = await tenant.post(base + "/replay", json={"since": "2021-01-02", "until": "2021-01-01"})
    assert r.status_code == 200, r.text
    r = await tenant.get(base + "/deliveries?status=lost")
    assert r.status_code == 422 and "status" in r.json()["error"]["fields"]


async def test_the_account_signing_secret(tenant: Tenant) -> None:
    first = (await tenant.get("/api/v1/webhooks/signing_secret")).json()["data"]["secret"]
    assert first == (await tenant.get("/api/v1/webhooks/signing_secret")).json()["data"]["secret"]
    rotated = (await tenant.post("/api/v1/webhooks/signing_secret/rotate")).json()["data"]
    assert rotated["secret"] != first
    now = (await tenant.get("/api/v1/webhooks/signing_secret")).json()["data"]["secret"]
    assert now == rotated["secret"]


async def test_status_callback_on_the_send_endpoints(tenant: Tenant) -> None:
    plain = {"to": "+50768819519", "body": "hi"}
    r = await tenant.post("/api/v1/sms", json={**plain, "status_callback": HOOK})
    assert r.status_code == 200, r.text
    assert "status_callback" not in r.json()["data"]
    for bad in ("http://127.0.0.1/x", "gopher://x", 7):
        r = await tenant.post("/api/v1/sms", json={**plain, "status_callback": bad})
        assert r.status_code == 422 and "status_callback" in r.json()["error"]["fields"], r.text
    many = await tenant.post(
        "/api/v1/sms/to_many",
        json={
            "body": "hi",
            "status_callback": HOOK,
            "list": [
                {"to": "+50768819519"},
                {"to": "+50768819519", "status_callback": "http://10.0.0.1/x"},
                {"to": "+50768819519", "status_callback": "https://93.184.215.15/other"},
            ],
        },
    )
    body = many.json()
    assert body["ids"][1] == -1 and body["ids"][0] > 0 and body["ids"][2] > 0, body
    assert body["errors"][0]["index"] == 1
    assert "status_callback" in body["errors"][0]["fields"]
    r = await tenant.post(
        "/api/v1/sms/many",
        json={"list": [{"to": "+50768819519", "body": "x", "status_callback": HOOK}]},
    )
    assert r.status_code == 200 and r.json()["ids"][0] > 0, r.text


async def test_the_openapi_document_lists_the_webhooks(tenant: Tenant) -> None:
    spec = (await tenant.get("/api/v1/openapi.json")).json()
    paths = spec["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/webhooks"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/webhooks/{webhook_id}"])
    assert "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay" in paths
    assert "status_callback" in spec["components"]["schemas"]["SendSms"]["properties"]

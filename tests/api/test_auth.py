"""OAuth 2.0 client credentials and bearer tokens."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from jooksms.db.models import AccessToken, ApiClient
from jooksms.db.types import utcnow
from jooksms.services.accounts import hash_secret
from tests.conftest import Tenant


async def test_token_from_form_json_and_basic(tenant: Tenant, anon: httpx.AsyncClient) -> None:
    creds = {"client_id": tenant.client_id, "client_secret": tenant.client_secret}
    basic = base64.b64encode(f"{tenant.client_id}:{tenant.client_secret}".encode()).decode()
    for r in (
        await anon.post("/api/v1/oauth/access_token", data=creds),
        await anon.post("/api/v1/oauth/access_token/", json=creds),
        await anon.post(
            "/api/v1/oauth/access_token", data={**creds, "grant_type": "client_credentials"}
        ),
        await anon.post("/api/v1/oauth/access_token", headers={"Authorization": f"Basic {basic}"}),
    ):
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert r.headers["cache-control"] == "no-store"
        me = await anon.get(
            "/api/v1/sms", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200


async def test_wrong_secret_is_invalid_client(tenant: Tenant, anon: httpx.AsyncClient) -> None:
    for creds in (
        {"client_id": tenant.client_id, "client_secret": "wrong"},
        {"client_id": "nobody", "client_secret": tenant.client_secret},
    ):
        r = await anon.post("/api/v1/oauth/access_token", data=creds)
        assert r.status_code == 401
        assert r.json() == {
            "result": "error",
            "error": "invalid_client",
            "error_description": "unknown client_id or wrong client_secret",
        }


async def test_missing_fields_and_bad_grant(tenant: Tenant, anon: httpx.AsyncClient) -> None:
    r = await anon.post("/api/v1/oauth/access_token", data={"client_id": tenant.client_id})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert "client_secret" in r.json()["error_description"]
    r = await anon.post(
        "/api/v1/oauth/access_token",
        data={
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "grant_type": "password",
        },
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("field", ["client_id", "client_secret", "grant_type"])
async def test_field_of_wrong_json_type_is_invalid_request_naming_it(
    tenant: Tenant, anon: httpx.AsyncClient, field: str
) -> None:
    fields: dict[str, object] = {
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        field: 12345,
    }
    r = await anon.post("/api/v1/oauth/access_token", json=fields)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert r.json()["error_description"].startswith(f"{field}:")


async def test_missing_forged_and_expired_tokens_are_401(
    tenant: Tenant, anon: httpx.AsyncClient, db
) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, {"Authorization": "Bearer forged"}, {"Authorization": "Basic abc"}):
        r = await anon.get("/api/v1/sms", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["result"] == "error"
    issued = await anon.post(
        "/api/v1/oauth/access_token",
        data={"client_id": tenant.client_id, "client_secret": tenant.client_secret},
    )
    token = issued.json()["access_token"]
    async with db.write() as session:
        await session.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == hash_secret(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = await anon.get("/api/v1/sms", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_secrets_and_tokens_are_stored_hashed(tenant: Tenant, db) -> None:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        client = await session.scalar(
            select(ApiClient).where(ApiClient.client_id == tenant.client_id)
        )
        tokens = list(await session.scalars(select(AccessToken.token_hash)))
    assert client is not None
    assert client.secret_hash != tenant.client_secret
    assert client.secret_hash == hash_secret(tenant.client_secret)
    bearer = tenant.http.headers["authorization"].split(" ", 1)[1]
    assert bearer not in tokens
    assert hash_secret(bearer) in tokens

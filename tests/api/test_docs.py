"""The OpenAPI document and the human-readable reference, which must work offline."""

from __future__ import annotations

import re

import httpx


async def test_openapi_lists_every_seed_endpoint(anon: httpx.AsyncClient) -> None:
    spec = (await anon.get("/api/v1/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/oauth/access_token", "post"),
        ("/api/v1/sms", "post"),
        ("/api/v1/sms", "get"),
        ("/api/v1/sms/to_many", "post"),
        ("/api/v1/sms/many", "post"),
        ("/api/v1/sms/{message_id}", "get"),
        ("/api/v1/sms/{message_id}", "delete"),
        ("/api/v1/sms/by_external/{external_id}", "get"),
        ("/api/v1/sms/search/messages", "post"),
        ("/api/v1/contact", "get"),
        ("/api/v1/contact", "post"),
        ("/api/v1/contact/{contact_id}", "get"),
        ("/api/v1/contact_group", "get"),
    ]:
        assert method in paths[path], (path, method)
    body = paths["/api/v1/sms"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-www-form-urlencoded"}


async def test_reference_page_needs_no_internet(anon: httpx.AsyncClient) -> None:
    for url in ("/api/v1/docs", "/api/v1/docs/"):
        r = await anon.get(url)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "/api/v1/sms/to_many" in html
    assert "Send one body to many recipients" in html
    # No script, stylesheet or font from elsewhere.
    assert not re.search(r"<(script|link)[^>]+(src|href)=['\"]?https?://", html)
    assert "<script" not in html

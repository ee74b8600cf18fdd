"""Reading messages back: by id, by external id, the paginated list, search, cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from jooksms.db.engine import Database
from jooksms.store.sql import MESSAGES
from tests.conftest import Tenant


async def _send(t: Tenant, body: str = "hello", **extra: object) -> int:
    r = await t.post("/api/v1/sms", json={"to": "+50768819519", "body": body, **extra})
    assert r.status_code == 200, r.text
    return int(r.json()["data"]["id"])


async def test_list_is_newest_first_with_seed_pagination(tenant: Tenant) -> None:
    ids = [await _send(tenant, f"m{i}") for i in range(20)]
    page1 = (await tenant.get("/api/v1/sms/")).json()
    p = page1["meta"]["pagination"]
    assert p == {
        "count": 15,
        "current_page": 1,
        "links": {"next": "http://testserver/api/v1/sms?page=2"},
        "per_page": 15,
        "total": 20,
        "total_pages": 2,
    }
    assert [m["id"] for m in page1["data"]] == ids[::-1][:15]
    page2 = (await tenant.get("/api/v1/sms?page=2")).json()
    assert [m["id"] for m in page2["data"]] == ids[::-1][15:]
    assert page2["meta"]["pagination"]["links"] == {
        "previous": "http://testserver/api/v1/sms?page=1"
    }
    past = (await tenant.get("/api/v1/sms?page=9")).json()
    assert past["data"] == []
    assert past["meta"]["pagination"]["count"] == 0


async def test_per_page_is_kept_in_links(tenant: Tenant) -> None:
    for i in range(3):
        await _send(tenant, f"m{i}")
    r = (await tenant.get("/api/v1/sms?per_page=1&page=2")).json()
    links = r["meta"]["pagination"]["links"]
    assert links == {
        "next": "http://testserver/api/v1/sms?page=3&per_page=1",
        "previous": "http://testserver/api/v1/sms?page=1&per_page=1",
    }


async def test_empty_list_has_empty_links(tenant: Tenant) -> None:
    r = (await tenant.get("/api/v1/sms")).json()
    assert r["meta"]["pagination"]["links"] == []
    assert r["meta"]["pagination"]["total"] == 0
    assert r["data"] == []


@pytest.mark.parametrize("query", ["per_page=0", "per_page=101", "per_page=x", "page=0", "page=-1"])
async def test_bad_pagination_is_422(tenant: Tenant, query: str) -> None:
    r = await tenant.get(f"/api/v1/sms?{query}")
    assert r.status_code == 422
    assert set(r.json()["error"]["fields"]) & {"page", "per_page"}


async def test_by_external_returns_newest(tenant: Tenant) -> None:
    await _send(tenant, "old", external_id=77)
    newest = await _send(tenant, "new", external_id=77)
    r = (await tenant.get("/api/v1/sms/by_external/77")).json()
    assert r["data"]["id"] == newest
    assert (await tenant.get("/api/v1/sms/by_external/78")).status_code == 404


@pytest.mark.parametrize("bad", ["0", "-1", "abc", str(2**64), "99999999"])
async def test_unknown_ids_are_404(tenant: Tenant, bad: str) -> None:
    r = await tenant.get(f"/api/v1/sms/{bad}")
    assert r.status_code == 404
    assert r.json()["result"] == "error"


async def test_search_seed_example_rejects_offset(tenant: Tenant) -> None:
    r = await tenant.post(
        "/api/v1/sms/search/messages",
        content="""
{
"number": "+1352225566",
"from_date": "2018/03/01 00:00 +5000",
"to_date": "2018/03/15 23:59 +5000",
"query": "offer"
}""",
    )
    assert r.status_code == 422
    assert "+5000" in r.json()["error"]["message"]
    assert {"from_date", "to_date"} <= set(r.json()["error"]["fields"])


async def test_search_by_word_number_and_dates(tenant: Tenant, db: Database) -> None:
    offer = await _send(tenant, "Here is a new OFFER for you")
    await _send(tenant, "nothing to see")
    other = await tenant.post("/api/v1/sms", json={"to": "+50767832484", "body": "an offer too"})
    other_id = other.json()["data"]["id"]
    r = (await tenant.post("/api/v1/sms/search/messages", json={"query": "offer"})).json()
    assert [m["id"] for m in r["data"]] == [other_id, offer]
    hit = r["data"][1]
    assert set(hit) == {
        "id",
        "external_id",
        "direction",
        "status",
        "number",
        "content",
        "created",
        "updated",
    }
    assert datetime.fromisoformat(hit["created"]).utcoffset() == timedelta(0)
    r = (
        await tenant.post(
            "/api/v1/sms/search/messages", data={"number": "+507 6783-2484", "query": "offer"}
        )
    ).json()
    assert [m["id"] for m in r["data"]] == [other_id]
    # Dates: move one message into the past and filter around it.
    async with db.write() as session:
        await session.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == offer)
            .values(created_at=datetime(2018, 3, 5, 12, 0, tzinfo=UTC))
        )
    r = (
        await tenant.post(
            "/api/v1/sms/search/messages",
            json={"from_date": "2018/03/01 00:00 +05:00", "to_date": "2018/03/15 23:59 +05:00"},
        )
    ).json()
    assert [m["id"] for m in r["data"]] == [offer]
    r = (await tenant.get("/api/v1/sms/search/messages?query=offer&to_date=2018-03-06")).json()
    assert [m["id"] for m in r["data"]] == [offer]


async def test_search_needs_a_filter(tenant: Tenant) -> None:
    for body in ({}, {"query": ""}, {"query": "   "}):
        r = await tenant.post("/api/v1/sms/search/messages", json=body)
        assert r.status_code == 422, body
    r = await tenant.post("/api/v1/sms/search/messages", json={"query": "!!!"})
    assert r.status_code == 422
    assert "query" in r.json()["error"]["fields"]


async def test_search_words_cannot_inject_fts_syntax(tenant: Tenant) -> None:
    await _send(tenant, "alpha beta")
    for q in ['alpha" OR "x', "alpha*", "NEAR(alpha beta)", "alpha AND", "-beta", "a'b"]:
        r = await tenant.post("/api/v1/sms/search/messages", json={"query": q})
        assert r.status_code == 200, (q, r.text)


async def test_search_links_keep_filters(tenant: Tenant) -> None:
    for _ in range(3):
        await _send(tenant, "paged word")
    r = (
        await tenant.post("/api/v1/sms/search/messages?per_page=1", json={"query": "paged"})
    ).json()
    next_url = r["meta"]["pagination"]["links"]["next"]
    assert "query=paged" in next_url
    assert "per_page=1" in next_url
    follow = (await tenant.post(next_url.replace("http://testserver", ""))).json()
    assert follow["meta"]["pagination"]["current_page"] == 2
    assert follow["meta"]["pagination"]["total"] == 3


async def test_cancel_scheduled_then_conflict(tenant: Tenant) -> None:
    scheduled = await _send(tenant, "later", scheduled="2099/01/01 00:00 UTC")
    r = await tenant.delete(f"/api/v1/sms/{scheduled}")
    assert r.status_code == 200
    assert r.json()["data"]["status"] == "canceled"
    again = await tenant.delete(f"/api/v1/sms/{scheduled}")
    assert again.status_code == 409
    assert (await tenant.get(f"/api/v1/sms/{scheduled}")).json()["data"]["status"] == "canceled"
    assert (await tenant.delete("/api/v1/sms/99999999")).status_code == 404


async def test_cancel_sent_message_is_409(tenant: Tenant, db: Database) -> None:
    sent = await _send(tenant)
    async with db.write() as session:
        await session.execute(update(MESSAGES).where(MESSAGES.c.id == sent).values(status="sent"))
    r = await tenant.delete(f"/api/v1/sms/{sent}")
    assert r.status_code == 409
    assert r.json()["error"]["fields"] == {"status": "sent"}


async def test_numbers_lists_first_number_first(tenant: Tenant) -> None:
    r = (await tenant.get("/api/v1/numbers")).json()
    assert r["data"] == [{"number": tenant.number, "first": True}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from_date": 12.5}, "from_date"),
        ({"to_date": 1466953200}, "to_date"),
        ({"query": 5}, "query"),
        ({"query": ["test"]}, "query"),
        ({"number": 50768819519}, "number"),
        ({"query": "test", "page": "2"}, "page"),
        ({"query": "test", "page": 1.5}, "page"),
        ({"query": "test", "per_page": True}, "per_page"),
        ({"query": "test", "per_page": 101}, "per_page"),
    ],
)
async def test_search_field_of_wrong_json_type_is_422_naming_it(
    tenant: Tenant, body: dict[str, object], field: str
) -> None:
    r = await tenant.post("/api/v1/sms/search/messages", json=body)
    assert r.status_code == 422, r.text
    assert list(r.json()["error"]["fields"]) == [field]


async def test_search_reads_query_string_and_form_as_text(tenant: Tenant) -> None:
    url = "/api/v1/sms/search/messages"
    by_query = await tenant.get(f"{url}?query=test&page=1&per_page=2")
    by_form = await tenant.post(url, data={"query": "test", "page": "1", "per_page": "2"})
    for r in (by_query, by_form):
        assert r.status_code == 200, r.text
        assert r.json()["meta"]["pagination"]["per_page"] == 2


async def test_search_number_in_parentheses_is_read(tenant: Tenant) -> None:
    sent = await tenant.post("/api/v1/sms", json={"to": "+50768041432", "body": "paren"})
    assert sent.status_code == 200
    r = await tenant.post("/api/v1/sms/search/messages", json={"number": "(+507) 6804 1432"})
    assert [hit["id"] for hit in r.json()["data"]] == [sent.json()["data"]["id"]]

"""Sending one message: the seed's examples as written, and every kind of bad input."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant

FORM = {"Content-Type": "application/x-www-form-urlencoded"}

SEED_JSON = """{
"to": "+50768819519",
"from": "50672004393",
"scheduled": "2016/06/26 10:00 GMT-5",
"body": "Just a test",
"external_id":999}"""
SEED_FORM = (
    "to=%2B50768819519&from=50672004393&external_id=999"
    "&scheduled=2016/06/26 10:00 GMT-5&body=Just a test"
)


async def test_seed_json_example_is_queued(tenant: Tenant) -> None:
    r = await tenant.post(
        "/api/v1/sms/", content=SEED_JSON, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["result"] == "ok"
    data = body["data"]
    assert set(data) == {"content", "created", "direction", "external_id", "id", "number", "status"}
    assert data["content"] == "Just a test"
    assert data["direction"] == "sending"
    assert data["external_id"] == 999
    assert data["number"] == "+50768819519"
    # 2016 is in the past: send at once.
    assert data["status"] == "queued"
    assert data["created"]["timezone"] == "UTC"
    assert data["created"]["timezone_type"] == 3
    assert len(data["created"]["date"]) == len("2016-06-26 17:27:11.000000")


async def test_seed_form_example_is_queued(tenant: Tenant) -> None:
    r = await tenant.post(
        "/api/v1/sms/",
        content=SEED_FORM,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["number"], data["external_id"], data["content"]) == (
        "+50768819519",
        999,
        "Just a test",
    )


async def test_json_without_content_type_is_parsed(tenant: Tenant) -> None:
    r = await tenant.post(
        "/api/v1/sms",
        content=SEED_JSON,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["external_id"] == 999


async def test_future_schedule_is_scheduled_and_readable(tenant: Tenant) -> None:
    r = await tenant.post(
        "/api/v1/sms",
        json={"to": "+507 6881-9519", "body": "later", "scheduled": "2099/01/01 10:00 UTC"},
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "scheduled"
    got = await tenant.get(f"/api/v1/sms/{data['id']}")
    assert got.json()["data"] == data


async def test_sender_defaults_to_first_number(tenant: Tenant, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from jooksms.store.sql import MESSAGES

    r = await tenant.post(
        "/api/v1/sms", json={"to": "0050768819519", "body": "hi", "from": "+15550001111"}
    )
    assert r.status_code == 200, r.text
    async with db.read() as session:
        sender = await session.scalar(
            select(MESSAGES.c.from_number).where(MESSAGES.c.id == r.json()["data"]["id"])
        )
    assert sender == tenant.number


async def test_owned_from_number_is_used(db, anon) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from jooksms.store.sql import MESSAGES
    from tests.conftest import make_tenant

    t = await make_tenant(db, anon, numbers=2)
    async with db.read() as session:
        from jooksms.services.accounts import list_numbers

        owned = await list_numbers(session, account_id=t.account_id)
    second = owned[1]
    r = await t.post(
        "/api/v1/sms", data={"to": "+50768819519", "body": "hi", "from": second.lstrip("+")}
    )
    assert r.status_code == 200, r.text
    async with db.read() as session:
        sender = await session.scalar(
            select(MESSAGES.c.from_number).where(MESSAGES.c.id == r.json()["data"]["id"])
        )
    assert sender == second
    await t.http.aclose()


async def test_segments_and_encoding_are_stored(tenant: Tenant, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from jooksms.store.sql import MESSAGES

    r = await tenant.post("/api/v1/sms", json={"to": "+50768819519", "body": "ñ€" * 100 + "😀"})
    assert r.status_code == 200, r.text
    async with db.read() as session:
        row = (
            await session.execute(
                select(MESSAGES.c.segments, MESSAGES.c.encoding).where(
                    MESSAGES.c.id == r.json()["data"]["id"]
                )
            )
        ).one()
    assert tuple(row) == (4, "ucs2")  # 202 UTF-16 units, 67 per segment


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": "x"}, "to"),
        ({"to": "+50768819519"}, "body"),
        ({"to": "+50768819519", "body": ""}, "body"),
        ({"to": "+1234", "body": "x"}, "to"),
        ({"to": "not a number", "body": "x"}, "to"),
        ({"to": 50768819519, "body": "x"}, "to"),
        ({"to": "+50768819519", "body": 5}, "body"),
        ({"to": "+50768819519", "body": "a" * 1531}, "body"),
        ({"to": "+50768819519", "body": "ж" * 671}, "body"),
        ({"to": "+50768819519", "body": "x", "scheduled": "2018/03/01 00:00 +5000"}, "scheduled"),
        ({"to": "+50768819519", "body": "x", "scheduled": "2018/02/30 10:00"}, "scheduled"),
        ({"to": "+50768819519", "body": "x", "scheduled": "tomorrow"}, "scheduled"),
        ({"to": "+50768819519", "body": "x", "external_id": "abc"}, "external_id"),
        ({"to": "+50768819519", "body": "x", "external_id": 1.5}, "external_id"),
        ({"to": "+50768819519", "body": "x", "external_id": True}, "external_id"),
        ({"to": "+50768819519", "body": "x", "external_id": 2**63}, "external_id"),
        # JSON carries types: the wrong one is refused, not converted or ignored.
        ({"to": "+50768819519", "body": "x", "external_id": "999"}, "external_id"),
        ({"to": "+50768819519", "body": "x", "scheduled": 1466953200}, "scheduled"),
        ({"to": "+50768819519", "body": "x", "scheduled": 12.5}, "scheduled"),
        ({"to": "+50768819519", "body": "x", "from": 50672004393}, "from"),
        ({"to": "+50768819519", "body": ["x"]}, "body"),
        ({"to": ["+50768819519"], "body": "x"}, "to"),
    ],
)
async def test_bad_fields_are_422_naming_the_field(
    tenant: Tenant, payload: dict[str, object], field: str
) -> None:
    before = (await tenant.get("/api/v1/sms")).json()["meta"]["pagination"]["total"]
    r = await tenant.post("/api/v1/sms", json=payload)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["result"] == "error"
    assert field in body["error"]["fields"]
    after = (await tenant.get("/api/v1/sms")).json()["meta"]["pagination"]["total"]
    assert after == before  # nothing half-written


async def test_body_limits_are_exact(tenant: Tenant) -> None:
    ok = await tenant.post("/api/v1/sms", json={"to": "+50768819519", "body": "a" * 1530})
    assert ok.status_code == 200
    ok = await tenant.post("/api/v1/sms", json={"to": "+50768819519", "body": "ж" * 670})
    assert ok.status_code == 200


async def test_quoted_date_in_error(tenant: Tenant) -> None:
    r = await tenant.post(
        "/api/v1/sms",
        json={"to": "+50768819519", "body": "x", "scheduled": "2018/03/01 00:00 +5000"},
    )
    assert "2018/03/01 00:00 +5000" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "content",
    [b'{"to": "+50768819519", "body": "x"', b"{'to': 1}", b'["to"]', b'{"to": "+5076\xff"}'],
)
async def test_malformed_json_is_400(tenant: Tenant, content: bytes) -> None:
    r = await tenant.post(
        "/api/v1/sms", content=content, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert r.json()["result"] == "error"


async def test_body_over_5mb_is_413(tenant: Tenant) -> None:
    big = b'{"to": "+50768819519", "body": "' + b"a" * (5 * 1024 * 1024) + b'"}'
    r = await tenant.post("/api/v1/sms", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


async def test_account_without_number_is_422_on_from(db, anon) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_tenant

    t = await make_tenant(db, anon, numbers=0)
    r = await t.post("/api/v1/sms", json={"to": "+50768819519", "body": "x"})
    assert r.status_code == 422
    assert "from" in r.json()["error"]["fields"]
    await t.http.aclose()


@pytest.mark.parametrize("written", ["(+507) 6804 1432", "(00507) 6804-1432", "+(507) 6804 1432"])
async def test_country_code_in_parentheses_is_read(tenant: Tenant, written: str) -> None:
    for kw in ({"json": {"to": written, "body": "x"}}, {"data": {"to": written, "body": "x"}}):
        r = await tenant.post("/api/v1/sms", **kw)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        assert r.json()["data"]["number"] == "+50768041432"
    # A form's unescaped + is a space: the number still reads as international.
    raw = "to=(+507) 6804 1432&body=x"
    r = await tenant.post("/api/v1/sms", content=raw, headers=FORM)
    assert r.json()["data"]["number"] == "+50768041432", r.text


async def test_form_values_are_text_converted_by_the_field(tenant: Tenant) -> None:
    form = "to=%2B50768819519&body=x&external_id=999&scheduled=2099/06/26 10:00 GMT-5"
    r = await tenant.post("/api/v1/sms", content=form, headers=FORM)
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["external_id"], r.json()["data"]["status"]) == (999, "scheduled")


@pytest.mark.parametrize(
    "form", ["to[]=%2B50768819519&body=x", "to[a]=1&body=x", "to=%2B50768819519&body[0]=x"]
)
async def test_form_list_where_text_is_expected_is_422(tenant: Tenant, form: str) -> None:
    r = await tenant.post("/api/v1/sms", content=form, headers=FORM)
    assert r.status_code == 422, r.text

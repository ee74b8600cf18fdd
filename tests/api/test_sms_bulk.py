"""to_many and many: one body or many bodies to many recipients."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant

SEED_TO_MANY = """{
"from": "50672004393",
"body": "Just a test",
"list": [
{
"to":"+50768819519",
"first_name":"Test",
"last_name":"Doe"
"external_id":901
},
{
"to":"+50767832484",
"external_id":902
}
]}"""

SEED_MANY = """{
"from": "50672004393",
"list": [
{
"to":"+50768819519",
"body":"To test user",
"first_name":"Test",
"last_name":"Doe"
},
{
"to":"+50767832484",
"body":"to Joe test",
"scheduled": "2018-03-22 10:20 +0600"
}
]}"""


async def test_seed_to_many_missing_comma_is_400_with_position(tenant: Tenant) -> None:
    r = await tenant.post("/api/v1/sms/to_many", content=SEED_TO_MANY)
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "line 9" in message
    assert (await tenant.get("/api/v1/sms")).json()["meta"]["pagination"]["total"] == 0


async def test_seed_to_many_fixed_sends_both(tenant: Tenant) -> None:
    fixed = SEED_TO_MANY.replace('"last_name":"Doe"\n', '"last_name":"Doe",\n')
    r = await tenant.post(
        "/api/v1/sms/to_many", content=fixed, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"result", "ids"}
    first, second = body["ids"]
    assert second == first + 1
    a = (await tenant.get(f"/api/v1/sms/{first}")).json()["data"]
    assert a["contact"]["data"]["display_name"] == "Test Doe"
    assert "reference" not in a["contact"]["data"]
    assert a["external_id"] == 901
    b = (await tenant.get("/api/v1/sms/by_external/902")).json()["data"]
    assert b["id"] == second
    assert "contact" not in b


async def test_seed_many_sends_each_body(tenant: Tenant) -> None:
    r = await tenant.post("/api/v1/sms/many", content=SEED_MANY)
    assert r.status_code == 200, r.text
    ids = r.json()["ids"]
    got = [(await tenant.get(f"/api/v1/sms/{i}")).json()["data"] for i in ids]
    assert [g["content"] for g in got] == ["To test user", "to Joe test"]
    assert [g["status"] for g in got] == ["queued", "queued"]  # 2018 is past


async def test_bad_entries_get_minus_one_others_go(tenant: Tenant) -> None:
    entries = [
        {"to": "+50768819519"},
        {"to": "+1234"},
        {"to": "+50767832484", "external_id": "x"},
        {"to": "+50767832484", "scheduled": "2018/03/01 00:00 +5000"},
        "not an object",
        {"to": "+50767832485", "scheduled": "2099-01-01T00:00:00Z"},
    ]
    r = await tenant.post("/api/v1/sms/to_many", json={"body": "hi", "list": entries})
    assert r.status_code == 200, r.text
    ids = r.json()["ids"]
    assert [i == -1 for i in ids] == [False, True, True, True, True, False]
    assert [e["index"] for e in r.json()["errors"]] == [1, 2, 3, 4]
    assert "to" in r.json()["errors"][0]["fields"]
    assert (await tenant.get(f"/api/v1/sms/{ids[5]}")).json()["data"]["status"] == "scheduled"
    assert (await tenant.get("/api/v1/sms")).json()["meta"]["pagination"]["total"] == 2


async def test_entry_schedule_overrides_top_level(tenant: Tenant) -> None:
    r = await tenant.post(
        "/api/v1/sms/to_many",
        json={
            "body": "hi",
            "scheduled": "2099/01/01 00:00 UTC",
            "list": [{"to": "+50768819519"}, {"to": "+50768819519", "scheduled": "2001/01/01"}],
        },
    )
    ids = r.json()["ids"]
    statuses = [(await tenant.get(f"/api/v1/sms/{i}")).json()["data"]["status"] for i in ids]
    assert statuses == ["scheduled", "queued"]


async def test_names_update_existing_contact(tenant: Tenant) -> None:
    await tenant.post(
        "/api/v1/sms/to_many",
        json={
            "body": "a",
            "list": [{"to": "+50761112222", "first_name": "Ann", "last_name": "Lee"}],
        },
    )
    r = await tenant.post(
        "/api/v1/sms/many",
        json={"list": [{"to": "+507 6111-2222", "body": "b", "first_name": "Anna"}]},
    )
    view = (await tenant.get(f"/api/v1/sms/{r.json()['ids'][0]}")).json()["data"]
    assert view["contact"]["data"]["display_name"] == "Anna Lee"
    contacts = (await tenant.get("/api/v1/contact")).json()
    assert contacts["meta"]["pagination"]["total"] == 1


async def test_form_bracket_list(tenant: Tenant) -> None:
    form = "body=Hello&list[0][to]=%2B50768819519&list[0][external_id]=5&list[1][to]=%2B50767832484"
    r = await tenant.post("/api/v1/sms/to_many", content=form)
    assert r.status_code == 200, r.text
    assert len(r.json()["ids"]) == 2
    assert all(i > 0 for i in r.json()["ids"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"list": [{"to": "+50768819519"}]}, "body"),
        ({"body": "x"}, "list"),
        ({"body": "x", "list": []}, "list"),
        ({"body": "x", "list": "nope"}, "list"),
        ({"body": "x", "list": [{"to": "+50768819519"}] * 10_001}, "list"),
        ({"body": "x", "scheduled": "nope", "list": [{"to": "+50768819519"}]}, "scheduled"),
    ],
)
async def test_to_many_request_level_errors(
    tenant: Tenant, payload: dict[str, object], field: str
) -> None:
    r = await tenant.post("/api/v1/sms/to_many", json=payload)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["fields"]


async def test_many_entry_without_body_is_minus_one(tenant: Tenant) -> None:
    r = await tenant.post(
        "/api/v1/sms/many",
        json={"list": [{"to": "+50768819519"}, {"to": "+50768819519", "body": "x"}]},
    )
    assert r.json()["ids"][0] == -1
    assert r.json()["ids"][1] > 0
    assert r.json()["errors"] == [{"index": 0, "fields": {"body": "is required"}}]


async def test_ten_thousand_recipients(tenant: Tenant) -> None:
    entries = [{"to": f"+5076{i:07d}"} for i in range(10_000)]
    r = await tenant.post("/api/v1/sms/to_many", json={"body": "bulk", "list": entries})
    assert r.status_code == 200
    ids = r.json()["ids"]
    assert len(ids) == 10_000
    assert ids == sorted(ids)
    assert len(set(ids)) == 10_000
    assert (await tenant.get("/api/v1/sms")).json()["meta"]["pagination"]["total"] == 10_000
    last = (await tenant.get(f"/api/v1/sms/{ids[-1]}")).json()["data"]
    assert last["number"] == "+50760009999"
    # Every bulk-inserted message is in the search index.
    found = await tenant.post("/api/v1/sms/search/messages", json={"query": "BULK"})
    assert found.json()["meta"]["pagination"]["total"] == 10_000


async def test_entry_of_wrong_json_type_gets_minus_one_and_form_text_is_converted(
    tenant: Tenant,
) -> None:
    entries = [{"to": "+50767832484", "external_id": "5"}, {"to": "+50767832484", "external_id": 5}]
    r = await tenant.post("/api/v1/sms/to_many", json={"body": "Hi", "list": entries})
    assert r.json()["ids"][0] == -1 and r.json()["ids"][1] > 0, r.text
    assert r.json()["errors"] == [
        {"index": 0, "fields": {"external_id": "must be a JSON integer, not a string"}}
    ]
    form = "body=Hi&list[0][to]=%2B50767832484&list[0][external_id]=5"
    r = await tenant.post(
        "/api/v1/sms/to_many",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["ids"][0] > 0, r.text

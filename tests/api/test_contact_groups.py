"""/api/v1/contact_group and its members."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Tenant

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def group(t: Tenant, name: str) -> dict[str, Any]:
    r = await t.post("/api/v1/contact_group", json={"name": name})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def contact(t: Tenant, first: str = "Ann", phone: str = "+50768819519") -> int:
    r = await t.post(
        "/api/v1/contact", json={"first_name": first, "last_name": "Lee", "main_phone": phone}
    )
    assert r.status_code == 200, r.text
    return int(r.json()["data"]["id"])


async def member_ids(t: Tenant, group_id: int, query: str = "per_page=100") -> list[int]:
    r = await t.get(f"/api/v1/contact_group/{group_id}/contacts?{query}")
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]]


async def add(t: Tenant, group_id: int, payload: dict[str, Any]) -> Any:
    return await t.post(f"/api/v1/contact_group/{group_id}/contacts", json=payload)


# -- groups ---------------------------------------------------------------------------


async def test_create_get_and_seed_list_shape(tenant: Tenant) -> None:
    made = [await group(tenant, n) for n in ("Group VIP", "Group 002", "Group 001")]
    for g in made:
        assert set(g) == {"id", "name"}
    r = await tenant.get("/api/v1/contact_group/")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "result": "ok",
        "meta": {
            "pagination": {
                "count": 3,
                "current_page": 1,
                "links": [],
                "per_page": 15,
                "total": 3,
                "total_pages": 1,
            }
        },
        "data": made[::-1],  # newest first, as the seed lists them
    }
    got = await tenant.get(f"/api/v1/contact_group/{made[0]['id']}")
    assert got.json() == {"result": "ok", "data": made[0]}


async def test_create_by_form(tenant: Tenant) -> None:
    r = await tenant.post("/api/v1/contact_group/", content="name=Group+VIP", headers=FORM)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == "Group VIP"


@pytest.mark.parametrize("again", ["VIP", "  VIP  "])
async def test_duplicate_name_is_409(tenant: Tenant, again: str) -> None:
    first = await group(tenant, "VIP")
    r = await tenant.post("/api/v1/contact_group", json={"name": again})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["result"] == "error"
    assert body["error"]["code"] == "conflict"
    assert "name" in body["error"]["fields"]
    listed = (await tenant.get("/api/v1/contact_group")).json()["data"]
    assert listed == [first]


async def test_names_differing_in_case_are_distinct(tenant: Tenant) -> None:
    await group(tenant, "VIP")
    await group(tenant, "vip")


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_rename(tenant: Tenant, method: str) -> None:
    g = await group(tenant, "Old")
    other = await group(tenant, "Other")
    r = await tenant.request(method, f"/api/v1/contact_group/{g['id']}", json={"name": " New "})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"id": g["id"], "name": "New"}
    assert (await tenant.get(f"/api/v1/contact_group/{g['id']}")).json()["data"]["name"] == "New"

    same = await tenant.request(method, f"/api/v1/contact_group/{g['id']}", data={"name": "New"})
    assert same.status_code == 200, same.text

    taken = await tenant.request(method, f"/api/v1/contact_group/{g['id']}", json={"name": "Other"})
    assert taken.status_code == 409, taken.text
    assert "name" in taken.json()["error"]["fields"]
    assert (await tenant.get(f"/api/v1/contact_group/{g['id']}")).json()["data"]["name"] == "New"
    assert (await tenant.get(f"/api/v1/contact_group/{other['id']}")).json()["data"] == other

    # The old name is free again.
    await group(tenant, "Old")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": None},
        {"name": 5},
        {"name": ["a"]},
        {"name": "n" * 101},
    ],
)
async def test_bad_name_is_422(tenant: Tenant, payload: dict[str, Any]) -> None:
    g = await group(tenant, "Keep")
    for method, url in [
        ("POST", "/api/v1/contact_group"),
        ("PUT", f"/api/v1/contact_group/{g['id']}"),
        ("PATCH", f"/api/v1/contact_group/{g['id']}"),
    ]:
        r = await tenant.request(method, url, json=payload)
        assert r.status_code == 422, (method, r.text)
        assert "name" in r.json()["error"]["fields"]
    assert (await tenant.get("/api/v1/contact_group")).json()["data"] == [g]


async def test_name_of_100_characters_is_accepted(tenant: Tenant) -> None:
    g = await group(tenant, "ñ" * 100)
    assert (await tenant.get(f"/api/v1/contact_group/{g['id']}")).json()["data"] == g


@pytest.mark.parametrize("content", [b'{"name": "VIP"', b"{'name': 'VIP'}", b'["VIP"]'])
async def test_malformed_json_is_400(tenant: Tenant, content: bytes) -> None:
    g = await group(tenant, "Keep")
    for method, url in [
        ("POST", "/api/v1/contact_group"),
        ("PUT", f"/api/v1/contact_group/{g['id']}"),
        ("PATCH", f"/api/v1/contact_group/{g['id']}"),
        ("POST", f"/api/v1/contact_group/{g['id']}/contacts"),
    ]:
        r = await tenant.request(method, url, content=content, headers=JSON)
        assert r.status_code == 400, (method, url, r.text)
        assert r.json()["error"]["code"] == "bad_request"
    assert (await tenant.get("/api/v1/contact_group")).json()["data"] == [g]
    assert await member_ids(tenant, g["id"]) == []


async def test_delete_keeps_contacts(tenant: Tenant) -> None:
    g = await group(tenant, "Doomed")
    kept = await group(tenant, "Kept")
    ids = [await contact(tenant, f"C{i}") for i in range(3)]
    assert (await add(tenant, g["id"], {"contact_ids": ids})).status_code == 200
    assert (await add(tenant, kept["id"], {"contact_ids": ids[:1]})).status_code == 200

    r = await tenant.delete(f"/api/v1/contact_group/{g['id']}/")
    assert r.status_code == 200, r.text
    assert r.json() == {"result": "ok", "data": {"id": g["id"], "deleted": True}}

    for method, url in [
        ("GET", f"/api/v1/contact_group/{g['id']}"),
        ("PUT", f"/api/v1/contact_group/{g['id']}"),
        ("DELETE", f"/api/v1/contact_group/{g['id']}"),
        ("GET", f"/api/v1/contact_group/{g['id']}/contacts"),
        ("POST", f"/api/v1/contact_group/{g['id']}/contacts"),
        ("DELETE", f"/api/v1/contact_group/{g['id']}/contacts/{ids[0]}"),
    ]:
        body = {"json": {"name": "X", "contact_ids": ids}} if method in ("PUT", "POST") else {}
        assert (await tenant.request(method, url, **body)).status_code == 404, (method, url)

    assert (await tenant.get("/api/v1/contact_group")).json()["data"] == [kept]
    contacts = (await tenant.get("/api/v1/contact")).json()["data"]
    assert sorted(c["id"] for c in contacts) == sorted(ids)
    assert await member_ids(tenant, kept["id"]) == ids[:1]
    await group(tenant, "Doomed")  # the name is free again


# -- members ----------------------------------------------------------------------------


async def test_add_members_is_idempotent_and_counts(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    a, b, c = [await contact(tenant, n) for n in "ABC"]
    steps: list[tuple[dict[str, Any], int, list[int]]] = [
        ({"contact_ids": [a, b]}, 2, [b, a]),
        ({"contact_ids": [a, b]}, 0, [b, a]),
        ({"contact_id": c}, 1, [c, b, a]),
        ({"contact_id": c}, 0, [c, b, a]),
        ({"contact_ids": [a, a, b, c]}, 0, [c, b, a]),
    ]
    for payload, added, members in steps:
        r = await add(tenant, g["id"], payload)
        assert r.status_code == 200, r.text
        assert r.json() == {"result": "ok", "data": {"added": added}}
        assert await member_ids(tenant, g["id"]) == members


async def test_add_by_form(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    a, b = await contact(tenant, "A"), await contact(tenant, "B")
    r = await tenant.post(
        f"/api/v1/contact_group/{g['id']}/contacts/", content=f"contact_id={a}", headers=FORM
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"added": 1}
    r = await tenant.post(
        f"/api/v1/contact_group/{g['id']}/contacts",
        content=f"contact_ids[]={a}&contact_ids[]={b}",
        headers=FORM,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"added": 1}
    assert await member_ids(tenant, g["id"]) == [b, a]


async def test_duplicate_contact_in_one_request_counts_once(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    a = await contact(tenant)
    r = await add(tenant, g["id"], {"contact_ids": [a, a, a]})
    assert r.json()["data"] == {"added": 1}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "contact_ids"),
        ({"contact_ids": []}, "contact_ids"),
        ({"contact_ids": None}, "contact_ids"),
        ({"contact_ids": 5}, "contact_ids"),
        ({"contact_ids": "5"}, "contact_ids"),
        ({"contact_ids": ["abc"]}, "contact_ids.0"),
        ({"contact_ids": [1, True]}, "contact_ids.1"),
        ({"contact_ids": [0]}, "contact_ids.0"),
        ({"contact_ids": [-1]}, "contact_ids.0"),
        ({"contact_ids": [2**64]}, "contact_ids.0"),
        ({"contact_ids": [1.5]}, "contact_ids.0"),
        ({"contact_ids": list(range(1, 10_002))}, "contact_ids"),
        ({"contact_id": "abc"}, "contact_id"),
        ({"contact_id": None}, "contact_id"),
        ({"contact_id": True}, "contact_id"),
        ({"contact_id": 0}, "contact_id"),
        ({"contact_id": [1]}, "contact_id"),
        # JSON carries types: a number in a string is not the integer the field is.
        ({"contact_ids": ["1"]}, "contact_ids.0"),
        ({"contact_id": "1"}, "contact_id"),
    ],
)
async def test_bad_member_payloads_are_422_naming_the_field(
    tenant: Tenant, payload: dict[str, Any], field: str
) -> None:
    g = await group(tenant, "G")
    r = await add(tenant, g["id"], payload)
    assert r.status_code == 422, r.text
    assert r.json()["result"] == "error"
    assert field in r.json()["error"]["fields"], r.json()["error"]["fields"]


async def test_concurrent_adds_of_the_same_contacts_each_succeed(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    ids = [await contact(tenant, f"C{i}") for i in range(3)]
    answers = await asyncio.gather(*(add(tenant, g["id"], {"contact_ids": ids}) for _ in range(12)))
    assert [r.status_code for r in answers] == [200] * 12, [r.text for r in answers]
    assert sum(r.json()["data"]["added"] for r in answers) == len(ids)
    assert await member_ids(tenant, g["id"]) == ids[::-1]


async def test_ten_thousand_unknown_ids_are_404(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    r = await add(tenant, g["id"], {"contact_ids": list(range(10**9, 10**9 + 10_000))})
    assert r.status_code == 404, r.text


async def test_nul_character_in_name_is_422(tenant: Tenant) -> None:
    r = await tenant.post("/api/v1/contact_group", json={"name": "a\x00b"})
    assert r.status_code == 422, r.text
    assert "name" in r.json()["error"]["fields"]


async def test_unknown_contact_is_404_and_nothing_is_added(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    a = await contact(tenant)
    for payload in [{"contact_ids": [a, a + 1000]}, {"contact_id": 2**63 - 1}]:
        r = await add(tenant, g["id"], payload)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"
    assert await member_ids(tenant, g["id"]) == []


async def test_another_accounts_contact_is_404_and_nothing_is_added(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    g = await group(tenant, "G")
    mine = await contact(tenant)
    theirs = await contact(other_tenant)
    for payload in [{"contact_id": theirs}, {"contact_ids": [mine, theirs]}]:
        r = await add(tenant, g["id"], payload)
        assert r.status_code == 404, r.text
    assert await member_ids(tenant, g["id"]) == []


async def test_members_are_paginated_newest_first(tenant: Tenant) -> None:
    g = await group(tenant, "Big")
    ids = [await contact(tenant, f"M{i:02d}") for i in range(20)]
    outsider = await contact(tenant, "Out")
    assert (await add(tenant, g["id"], {"contact_ids": ids})).json()["data"] == {"added": 20}
    base = f"http://testserver/api/v1/contact_group/{g['id']}/contacts"

    first = (await tenant.get(f"/api/v1/contact_group/{g['id']}/contacts")).json()
    assert first["meta"]["pagination"] == {
        "count": 15,
        "current_page": 1,
        "links": {"next": f"{base}?page=2"},
        "per_page": 15,
        "total": 20,
        "total_pages": 2,
    }
    assert [c["id"] for c in first["data"]] == ids[::-1][:15]
    assert set(first["data"][0]) == {
        "display_name",
        "first_name",
        "id",
        "is_public",
        "last_name",
        "main_phone",
        "reference",
        "status",
    }

    second = (await tenant.get(f"{base}/?page=2&per_page=15")).json()
    assert second["meta"]["pagination"]["links"] == {"previous": f"{base}?page=1&per_page=15"}
    assert [c["id"] for c in second["data"]] == ids[::-1][15:]
    assert outsider not in await member_ids(tenant, g["id"])

    past = (await tenant.get(f"{base}?page=9")).json()
    assert (past["data"], past["meta"]["pagination"]["total"]) == ([], 20)
    for query in ("per_page=0", "per_page=101", "per_page=x"):
        r = await tenant.get(f"{base}?{query}")
        assert r.status_code == 422
        assert "per_page" in r.json()["error"]["fields"]


async def test_remove_member(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    a, b = await contact(tenant, "A"), await contact(tenant, "B")
    await add(tenant, g["id"], {"contact_ids": [a, b]})

    r = await tenant.delete(f"/api/v1/contact_group/{g['id']}/contacts/{a}")
    assert r.status_code == 200, r.text
    assert r.json() == {"result": "ok", "data": {"id": a, "deleted": True}}
    assert await member_ids(tenant, g["id"]) == [b]
    assert (await tenant.get(f"/api/v1/contact/{a}")).status_code == 200  # still a contact

    again = await tenant.delete(f"/api/v1/contact_group/{g['id']}/contacts/{a}/")
    assert again.status_code == 404, again.text
    assert again.json()["error"]["code"] == "not_found"
    assert await member_ids(tenant, g["id"]) == [b]

    # Re-adding after removal counts as an addition.
    assert (await add(tenant, g["id"], {"contact_id": a})).json()["data"] == {"added": 1}


async def test_removing_a_non_member_is_404(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    other = await group(tenant, "Other")
    a = await contact(tenant)
    await add(tenant, other["id"], {"contact_id": a})
    for url in [
        f"/api/v1/contact_group/{g['id']}/contacts/{a}",  # a contact, not in this group
        f"/api/v1/contact_group/{g['id']}/contacts/{a + 1000}",  # no such contact
        f"/api/v1/contact_group/{g['id'] + 1000}/contacts/{a}",  # no such group
    ]:
        r = await tenant.delete(url)
        assert r.status_code == 404, (url, r.text)
    assert await member_ids(tenant, other["id"]) == [a]


async def test_deleted_contact_leaves_its_groups(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    a, b = await contact(tenant, "A"), await contact(tenant, "B")
    await add(tenant, g["id"], {"contact_ids": [a, b]})
    assert (await tenant.delete(f"/api/v1/contact/{a}")).status_code == 200
    assert await member_ids(tenant, g["id"]) == [b]
    r = await tenant.get(f"/api/v1/contact_group/{g['id']}/contacts")
    assert r.json()["meta"]["pagination"]["total"] == 1


async def test_list_groups_paginated(tenant: Tenant) -> None:
    ids = [(await group(tenant, f"Group {i:03d}"))["id"] for i in range(17)]
    first = (await tenant.get("/api/v1/contact_group?per_page=10")).json()
    assert first["meta"]["pagination"]["links"] == {
        "next": "http://testserver/api/v1/contact_group?page=2&per_page=10"
    }
    assert [g["id"] for g in first["data"]] == ids[::-1][:10]
    second = (await tenant.get(first["meta"]["pagination"]["links"]["next"])).json()
    assert [g["id"] for g in second["data"]] == ids[::-1][10:]
    assert second["meta"]["pagination"]["links"] == {
        "previous": "http://testserver/api/v1/contact_group?page=1&per_page=10"
    }
    for query in ("per_page=0", "per_page=101", "per_page=x", "page=0"):
        r = await tenant.get(f"/api/v1/contact_group?{query}")
        assert r.status_code == 422, query
        assert query.split("=")[0] in r.json()["error"]["fields"]


# -- ids in paths -------------------------------------------------------------------------

BAD_IDS = ["0", "-1", str(2**64), str(2**63), "abc", "1.5"]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_bad_path_ids_are_404(tenant: Tenant, bad: str) -> None:
    g = await group(tenant, "G")
    a = await contact(tenant)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/api/v1/contact_group/{bad}", {}),
        ("PUT", f"/api/v1/contact_group/{bad}", {"json": {"name": "X"}}),
        ("PATCH", f"/api/v1/contact_group/{bad}", {"json": {"name": "X"}}),
        ("DELETE", f"/api/v1/contact_group/{bad}", {}),
        ("GET", f"/api/v1/contact_group/{bad}/contacts", {}),
        ("POST", f"/api/v1/contact_group/{bad}/contacts", {"json": {"contact_id": a}}),
        ("DELETE", f"/api/v1/contact_group/{bad}/contacts/{a}", {}),
        ("DELETE", f"/api/v1/contact_group/{g['id']}/contacts/{bad}", {}),
    ]
    for method, url, kw in calls:
        r = await tenant.request(method, url, **kw)
        assert r.status_code == 404, (method, url, r.status_code, r.text)
        assert r.json()["result"] == "error"


async def test_largest_ids_are_404(tenant: Tenant) -> None:
    big = 2**63 - 1
    g = await group(tenant, "G")
    for method, url in [
        ("GET", f"/api/v1/contact_group/{big}"),
        ("DELETE", f"/api/v1/contact_group/{big}"),
        ("GET", f"/api/v1/contact_group/{big}/contacts"),
        ("DELETE", f"/api/v1/contact_group/{g['id']}/contacts/{big}"),
    ]:
        assert (await tenant.request(method, url)).status_code == 404, (method, url)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ("contact_ids=1", "contact_ids"),
        ("contact_ids[a]=1", "contact_ids"),
        ("contact_id=x", "contact_id"),
    ],
)
async def test_form_scalar_where_a_list_is_expected_is_422(
    tenant: Tenant, form: str, field: str
) -> None:
    g = await group(tenant, "G")
    r = await tenant.post(
        f"/api/v1/contact_group/{g['id']}/contacts",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 422, r.text
    assert list(r.json()["error"]["fields"]) == [field]


async def test_form_list_in_brackets_and_shorthand_are_read(tenant: Tenant) -> None:
    g = await group(tenant, "G")
    a, b = await contact(tenant), await contact(tenant)
    for form, added in ((f"contact_ids[]={a}&contact_ids[]={b}", 2), (f"contact_id={a}", 0)):
        r = await tenant.post(
            f"/api/v1/contact_group/{g['id']}/contacts",
            content=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.json()["data"] == {"added": added}, r.text

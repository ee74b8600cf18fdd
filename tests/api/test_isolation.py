"""One account never sees, changes or finds another's objects: every id of account A
is, to account B, the same 404 as an id that does not exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant

WORD = "zanzibarquux"  # a word only account A ever sends
EXTERNAL_ID = 4_242_424_242


@dataclass
class Objects:
    """What account A owns."""

    message: int
    contact: int
    group: int
    contact_data: dict[str, Any]
    group_data: dict[str, Any]
    message_data: dict[str, Any]


async def make_objects(a: Tenant) -> Objects:
    group = await a.post("/api/v1/contact_group", json={"name": "A's VIP"})
    assert group.status_code == 200, group.text
    contact = await a.post(
        "/api/v1/contact",
        json={
            "first_name": "Alice",
            "last_name": "Private",
            "main_phone": "+50768819519",
            "reference": "a-ref",
            "contact_group_id": group.json()["data"]["id"],
        },
    )
    assert contact.status_code == 200, contact.text
    # Scheduled for later, so that a cancel leaking across accounts would succeed.
    sms = await a.post(
        "/api/v1/sms",
        json={
            "to": "+50768819519",
            "body": f"secret {WORD} offer",
            "scheduled": "2099/01/01 10:00 UTC",
            "external_id": EXTERNAL_ID,
        },
    )
    assert sms.status_code == 200, sms.text
    message = sms.json()["data"]
    assert message["status"] == "scheduled"
    assert message["contact"]["data"]["id"] == contact.json()["data"]["id"]
    return Objects(
        message=message["id"],
        contact=contact.json()["data"]["id"],
        group=group.json()["data"]["id"],
        contact_data=contact.json()["data"],
        group_data=group.json()["data"],
        message_data=message,
    )


def _url(kind: str, objects: Objects) -> str:
    return {
        "message": f"/api/v1/sms/{objects.message}",
        "contact": f"/api/v1/contact/{objects.contact}",
        "group": f"/api/v1/contact_group/{objects.group}",
        "members": f"/api/v1/contact_group/{objects.group}/contacts",
        "member": f"/api/v1/contact_group/{objects.group}/contacts/{objects.contact}",
    }[kind]


_BODIES: dict[str, dict[str, Any]] = {
    "message": {"body": "changed"},
    "contact": {"first_name": "Mallory"},
    "group": {"name": "Mallory's"},
    "members": {"contact_ids": [1]},
    "member": {},
}


async def _unchanged(a: Tenant, objects: Objects) -> None:
    assert (await a.get(_url("contact", objects))).json()["data"] == objects.contact_data
    assert (await a.get(_url("group", objects))).json()["data"] == objects.group_data
    assert (await a.get(_url("message", objects))).json()["data"] == objects.message_data
    members = (await a.get(_url("members", objects))).json()["data"]
    assert [c["id"] for c in members] == [objects.contact]


def _same_answer(theirs: httpx.Response, missing: httpx.Response) -> None:
    """B learns nothing: A's id answers exactly like an id that does not exist."""
    assert theirs.status_code == missing.status_code, (theirs.text, missing.text)
    assert theirs.json()["result"] == "error"
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"]


@pytest.mark.parametrize(
    ("kind", "methods"),
    [
        ("message", ["GET", "DELETE"]),  # DELETE is cancel
        ("contact", ["GET", "PUT", "PATCH", "DELETE"]),
        ("group", ["GET", "PUT", "PATCH", "DELETE"]),
        ("members", ["GET", "POST"]),
        ("member", ["DELETE"]),
    ],
)
async def test_another_accounts_ids_are_404(
    tenant: Tenant, other_tenant: Tenant, kind: str, methods: list[str]
) -> None:
    a, b = tenant, other_tenant
    objects = await make_objects(a)
    # B owns objects too, so that "members" and "member" calls are otherwise valid.
    mine = await make_objects(b)
    body = _BODIES[kind]
    if kind == "members":
        body = {"contact_ids": [mine.contact]}
    for method in methods:
        kw: dict[str, Any] = {"json": body} if method in ("PUT", "PATCH", "POST") else {}
        r = await b.request(method, _url(kind, objects), **kw)
        assert r.status_code == 404, (kind, method, r.text)
        assert r.json()["result"] == "error"
        assert r.json()["error"]["code"] == "not_found"
        assert "Alice" not in r.text
        assert WORD not in r.text
    await _unchanged(a, objects)
    # B's own objects are untouched by the attempts.
    assert [c["id"] for c in (await b.get(_url("members", mine))).json()["data"]] == [mine.contact]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "POST"])
@pytest.mark.parametrize("kind", ["message", "contact", "group"])
async def test_another_accounts_id_answers_like_a_missing_one(
    tenant: Tenant, other_tenant: Tenant, kind: str, method: str
) -> None:
    objects = await make_objects(tenant)
    missing = Objects(
        message=objects.message + 10_000,
        contact=objects.contact + 10_000,
        group=objects.group + 10_000,
        contact_data={},
        group_data={},
        message_data={},
    )
    kw: dict[str, Any] = {"json": _BODIES[kind]} if method in ("PUT", "PATCH", "POST") else {}
    theirs = await other_tenant.request(method, _url(kind, objects), **kw)
    unknown = await other_tenant.request(method, _url(kind, missing), **kw)
    _same_answer(theirs, unknown)
    await _unchanged(tenant, objects)


async def test_lists_and_search_show_only_own_objects(tenant: Tenant, other_tenant: Tenant) -> None:
    a, b = tenant, other_tenant
    objects = await make_objects(a)
    for url in ("/api/v1/sms", "/api/v1/contact", "/api/v1/contact_group"):
        own = (await a.get(url)).json()
        assert own["meta"]["pagination"]["total"] == 1, url
        theirs = await b.get(f"{url}/")
        assert theirs.status_code == 200
        assert theirs.json()["data"] == []
        assert theirs.json()["meta"]["pagination"]["total"] == 0, url

    for payload in (
        {"query": WORD},
        {"query": WORD.upper()},
        {"number": "+50768819519"},
        {"from_date": "2000/01/01 00:00 UTC"},
    ):
        found = await a.post("/api/v1/sms/search/messages", json=payload)
        assert [m["id"] for m in found.json()["data"]] == [objects.message], payload
        hidden = await b.post("/api/v1/sms/search/messages", json=payload)
        assert hidden.status_code == 200, hidden.text
        assert hidden.json()["data"] == [], payload
        assert hidden.json()["meta"]["pagination"]["total"] == 0
        as_form = await b.post("/api/v1/sms/search/messages/", data=payload)
        assert as_form.json()["data"] == [], payload

    assert (await a.get(f"/api/v1/sms/by_external/{EXTERNAL_ID}")).json()["data"]["id"] == (
        objects.message
    )
    r = await b.get(f"/api/v1/sms/by_external/{EXTERNAL_ID}")
    assert r.status_code == 404, r.text
    assert WORD not in r.text


async def test_own_external_id_wins_over_another_accounts(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    objects = await make_objects(tenant)
    r = await other_tenant.post(
        "/api/v1/sms", json={"to": "+50767832484", "body": "b's", "external_id": EXTERNAL_ID}
    )
    assert r.status_code == 200, r.text
    b_id = r.json()["data"]["id"]
    # B's message is newer than A's first one; each account still gets its own newest.
    later = await tenant.post(
        "/api/v1/sms", json={"to": "+50767832484", "body": "a's", "external_id": EXTERNAL_ID}
    )
    a_newest = later.json()["data"]["id"]
    assert a_newest != objects.message
    got_b = await other_tenant.get(f"/api/v1/sms/by_external/{EXTERNAL_ID}")
    assert got_b.json()["data"]["id"] == b_id
    got_a = await tenant.get(f"/api/v1/sms/by_external/{EXTERNAL_ID}")
    assert got_a.json()["data"]["id"] == a_newest


async def test_another_accounts_contacts_never_attach(tenant: Tenant, other_tenant: Tenant) -> None:
    a, b = tenant, other_tenant
    objects = await make_objects(a)

    plain = await b.post("/api/v1/sms", json={"to": "+507 6881-9519", "body": "hi"})
    assert plain.status_code == 200, plain.text
    assert "contact" not in plain.json()["data"]
    assert "Alice" not in (await b.get(f"/api/v1/sms/{plain.json()['data']['id']}")).text

    # Names sent by B make B's own contact; A's stays as it was.
    named = await b.post(
        "/api/v1/sms/to_many",
        json={
            "body": "hi",
            "list": [{"to": "+50768819519", "first_name": "Bob", "last_name": "B"}],
        },
    )
    assert named.status_code == 200, named.text
    [b_contact] = (await b.get("/api/v1/contact")).json()["data"]
    assert b_contact["id"] != objects.contact
    assert (b_contact["display_name"], b_contact["main_phone"]) == ("Bob B", "+50768819519")
    message = (await b.get(f"/api/v1/sms/{named.json()['ids'][0]}")).json()["data"]
    assert message["contact"]["data"]["id"] == b_contact["id"]
    await _unchanged(a, objects)


async def test_cross_account_group_membership_is_refused(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    a, b = tenant, other_tenant
    objects = await make_objects(a)
    mine = await make_objects(b)
    attempts = [
        # B puts A's contact in B's group.
        (
            b,
            "POST",
            f"/api/v1/contact_group/{mine.group}/contacts",
            {"contact_id": objects.contact},
        ),
        (
            b,
            "POST",
            f"/api/v1/contact_group/{mine.group}/contacts",
            {"contact_ids": [mine.contact, objects.contact]},
        ),
        # B puts B's contact in A's group.
        (
            b,
            "POST",
            f"/api/v1/contact_group/{objects.group}/contacts",
            {"contact_id": mine.contact},
        ),
        # B takes A's contact out of A's group, or out of B's group.
        (b, "DELETE", f"/api/v1/contact_group/{objects.group}/contacts/{objects.contact}", None),
        (b, "DELETE", f"/api/v1/contact_group/{mine.group}/contacts/{objects.contact}", None),
        # B creates a contact in A's group.
        (
            b,
            "POST",
            "/api/v1/contact",
            {
                "first_name": "M",
                "last_name": "B",
                "main_phone": "+50767832484",
                "contact_group_id": objects.group,
            },
        ),
    ]
    for client, method, url, body in attempts:
        r = (
            await client.request(method, url, json=body)
            if body
            else await client.request(method, url)
        )
        assert r.status_code == 404, (method, url, r.text)
    await _unchanged(a, objects)
    members = (await b.get(f"/api/v1/contact_group/{mine.group}/contacts")).json()["data"]
    assert [c["id"] for c in members] == [mine.contact]
    assert (await b.get("/api/v1/contact")).json()["meta"]["pagination"]["total"] == 1


async def test_group_names_are_per_account(tenant: Tenant, other_tenant: Tenant) -> None:
    objects = await make_objects(tenant)
    r = await other_tenant.post("/api/v1/contact_group", json={"name": objects.group_data["name"]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["id"] != objects.group
    renamed = await other_tenant.request(
        "PATCH", f"/api/v1/contact_group/{r.json()['data']['id']}", json={"name": "Other"}
    )
    assert renamed.status_code == 200
    back = await other_tenant.request(
        "PUT",
        f"/api/v1/contact_group/{r.json()['data']['id']}",
        json={"name": objects.group_data["name"]},
    )
    assert back.status_code == 200, back.text
    await _unchanged(tenant, objects)

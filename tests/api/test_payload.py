"""Form bodies in PHP's bracket notation, and JSON error positions."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import httpx
import pytest

from jooksms.api.payload import MAX_FORM_KEYS, parse_json, unflatten
from jooksms.errors import BadRequest
from tests.conftest import Tenant

FORM = "application/x-www-form-urlencoded"
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("a=1&b=2", {"a": "1", "b": "2"}),
        ("0=x&1=y", {"0": "x", "1": "y"}),
        (
            "body=hi&list[0][to]=%2B1&list[1][to]=%2B2&list[1][external_id]=5",
            {"body": "hi", "list": [{"to": "+1"}, {"to": "+2", "external_id": "5"}]},
        ),
        ("list[10][to]=b&list[2][to]=a", {"list": [{"to": "a"}, {"to": "b"}]}),
        ("ids[]=1&ids[]=2", {"ids": ["1", "2"]}),
        ("contact_ids[0]=3", {"contact_ids": ["3"]}),
        ("a[b]=1&a[c]=2", {"a": {"b": "1", "c": "2"}}),
        ("empty=", {"empty": ""}),
    ],
)
def test_unflatten(form: str, expected: dict[str, object]) -> None:
    assert unflatten(parse_qsl(form, keep_blank_values=True)) == expected


def test_json_error_names_the_position() -> None:
    with pytest.raises(BadRequest, match=r"line 2 column 1"):
        parse_json(b'{"a": 1\n"b": 2}')


@pytest.mark.parametrize("body", [b"[1]", b'"x"', b"3"])
def test_json_must_be_an_object(body: bytes) -> None:
    with pytest.raises(BadRequest, match="object"):
        parse_json(body)


def test_empty_json_is_an_empty_object() -> None:
    assert parse_json(b"  ") == {}


# -- hostile forms: bounded depth and number of keys ---------------------------------

DEEP_KEY = "a" + "[a]" * 1000  # 3 KB, 1,001 levels: a RecursionError in an unbounded parser


def test_deep_form_key_is_refused_naming_the_bound() -> None:
    with pytest.raises(BadRequest, match=r"'a' is nested 1001 levels deep; at most 8"):
        unflatten([(DEEP_KEY, "x")])


def test_form_depth_bound_leaves_room_for_what_the_api_reads() -> None:
    assert unflatten([("a[0][b][c][d][e][f][g]", "x")])["a"][0]["b"]["c"]["d"]["e"]["f"] == {
        "g": "x"
    }


@pytest.mark.parametrize(
    ("url", "authenticated"),
    [("/api/v1/oauth/access_token", False), ("/api/v1/sms/to_many", True)],
)
async def test_deeply_nested_form_is_a_400_and_at_most_one_log_line(
    tenant: Tenant,
    anon: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    url: str,
    authenticated: bool,
) -> None:
    client = tenant.http if authenticated else anon
    with caplog.at_level(logging.DEBUG):
        answer = await client.post(url, content=f"{DEEP_KEY}=x", headers={"Content-Type": FORM})
    assert answer.status_code == 400, answer.text
    assert "nested 1001 levels deep" in answer.text
    # The server's own log (the client library logs its request too): no traceback.
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "aiosqlite", "asyncpg"))]
    assert len(ours) <= 1 and not any(r.exc_info for r in ours), [r.getMessage() for r in ours]


async def test_too_many_form_keys_is_a_400(tenant: Tenant) -> None:
    form = "&".join(f"k{i}=" for i in range(MAX_FORM_KEYS + 1))
    answer = await tenant.post("/api/v1/sms/to_many", content=form, headers={"Content-Type": FORM})
    assert answer.status_code == 400, answer.text
    assert f"more than {MAX_FORM_KEYS} fields" in answer.json()["error"]["message"]


async def test_a_full_many_list_as_a_form_is_within_the_key_bound(tenant: Tenant) -> None:
    fields = ("to", "body", "external_id", "first_name", "last_name", "scheduled")
    pairs = [(f"list[{i}][{f}]", "x") for i in range(10_000) for f in fields]
    assert len(pairs) <= MAX_FORM_KEYS
    assert len(unflatten(pairs)["list"]) == 10_000


@pytest.mark.parametrize("url", ["/api/v1/sms/to_many", "/api/v1/contact"])
async def test_deeply_nested_json_is_refused_not_a_500(tenant: Tenant, url: str) -> None:
    for depth in (1_000, 100_000):
        nested = "[" * depth + "]" * depth
        answer = await tenant.post(
            url, content=f'{{"list": {nested}, "main_phone": {nested}}}', headers=JSON
        )
        assert answer.status_code in (400, 422), answer.text

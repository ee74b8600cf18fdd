"""Form bodies in PHP's bracket notation, and JSON error positions."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from jooksms.api.payload import parse_json, unflatten
from jooksms.errors import BadRequest


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

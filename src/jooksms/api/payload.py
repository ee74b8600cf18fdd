"""Reading request bodies the way the API's existing clients send them.

The seed's clients send JSON with and without a Content-Type, and form bodies
(curl's ``-d`` default). Form fields may use PHP's bracket notation
(``list[0][to]=...``), which is how a form carries a list of recipients.

A form's values are all text, so its fields are converted to their types when
validated; a JSON body's values must already have them. The two are told apart by
the type of what ``read_payload`` returns (``FormFields`` for a form).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from jooksms.errors import BadRequest, PayloadTooLarge

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
# The deepest key the API reads is ``list[0][to]`` (3 levels) and the most keys a valid
# form holds is a full ``many`` list (10,000 entries of 6 fields). The bounds keep a
# hostile form (``a[a][a]...``, or millions of ``&``) from costing recursion or memory.
MAX_FORM_DEPTH = 8
MAX_FORM_KEYS = 61_000


class FormFields(dict[str, Any]):
    """A body read from a form (or a query string): its values are text to convert."""


async def read_body(request: Request, *, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_payload(request: Request, *, limit: int) -> dict[str, Any]:
    """The body as a dict, from JSON or a form; BadRequest when it cannot be read."""
    body = await read_body(request, limit=limit)
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        raise BadRequest("multipart bodies are not accepted: send JSON or a urlencoded form")
    if ctype == "application/json" or ctype.endswith("+json") or body.lstrip()[:1] in (b"{", b"["):
        return parse_json(body)
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the form body is not valid UTF-8") from None
    return FormFields(unflatten(form_pairs(text)))


def form_pairs(text: str) -> list[tuple[str, str]]:
    """The form's key/value pairs; BadRequest past ``MAX_FORM_KEYS``."""
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_KEYS)
    except ValueError:
        raise BadRequest(f"the form has more than {MAX_FORM_KEYS} fields") from None


def parse_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"malformed JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from None
    if not isinstance(value, dict):
        raise BadRequest("the JSON body must be an object")
    return value


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[0][b]=1&a[1][b]=2&c=3`` -> ``{"a": [{"b": "1"}, {"b": "2"}], "c": "3"}``.

    Numeric keys become list positions in order of their numbers; ``a[]`` appends.
    A key nested deeper than ``MAX_FORM_DEPTH`` is a BadRequest naming it.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        path = [head, *_BRACKETS.findall("[" + rest)] if rest else [head]
        if len(path) > MAX_FORM_DEPTH:
            raise BadRequest(
                f"form field {head[:40]!r} is nested {len(path)} levels deep; "
                f"at most {MAX_FORM_DEPTH} are allowed"
            )
        _place(root, path, value)
    # The top level stays a dict even when every key is a number.
    return {k: _lists(v) for k, v in root.items()}


def _place(node: dict[str, Any], path: list[str], value: str) -> None:
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        if path[i + 1] == "":
            path[i + 1] = str(len(child))
        node = child
    node[path[-1]] = value


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted

"""OpenAPI descriptions for routes that read their own bodies.

The routes parse JSON and forms themselves (the seed's clients send both, sometimes
without a Content-Type), so FastAPI cannot infer the request schema; these helpers
document it, and the response shapes, from the same pydantic models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

_REGISTRY: dict[str, type[BaseModel]] = {}
_FORMS: set[str] = set()
_REF = "#/components/schemas/{model}"
_FORM = "{model}Form"
# Where no other pattern is given, a string field is documented as refusing NUL, as it does.
_NO_NUL = r"^[^\u0000]*$"
FORM_NOTE = (
    "Also accepted as a urlencoded form, lists in PHP's bracket notation "
    "(list[0][to]=...&list[1][to]=...; contact_ids[]=1&contact_ids[]=2). In a form a "
    "single value where a list is expected (contact_ids=1) is refused (422)."
)


def ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to ``model`` in ``components``, which then includes it."""
    _REGISTRY[model.__name__] = model
    return {"$ref": _REF.format(model=model.__name__)}


def body(model: type[BaseModel], *, form: bool = True, idempotent: bool = False) -> dict[str, Any]:
    """A JSON body, and the same fields as a form unless ``form`` is False: a form's
    schema has no null (an empty value means "not given"). Models with lists pass
    False: a form carries them in bracket notation, which OpenAPI cannot describe for
    a body, and ``FORM_NOTE`` says so in words. ``idempotent`` declares the optional
    ``Idempotency-Key`` header of the send endpoints."""
    content = {"application/json": {"schema": ref(model)}}
    if form:
        ref(model)
        _FORMS.add(model.__name__)
        name = _FORM.format(model=model.__name__)
        content["application/x-www-form-urlencoded"] = {"schema": {"$ref": _REF.format(model=name)}}
    described: dict[str, Any] = {"requestBody": {"required": True, "content": content}}
    if not form:
        described["description"] = FORM_NOTE
    if idempotent:
        described["parameters"] = [IDEMPOTENCY_KEY]
    return described


IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A key of your choice (a UUID, say) that makes a retry safe: the same key from "
        "the same account within 24 hours answers the first request's answer again, "
        "with `Idempotent-Replayed: true`, and creates nothing. The same key with a "
        "different request is a 422 naming the header. An extension of the seed's API."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    },
}


def link(operation: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to ``operation`` ("METHOD /path"), its parameters taken from this
    response (``$response.body#/data/id``): what a client, or a stateful fuzzer, does next."""
    method, path = operation.split(" ", 1)
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method.lower()}", "parameters": parameters}


def responses(
    model: type[BaseModel] | None,
    *errors: int,
    error_shapes: Mapping[int, type[BaseModel]] | None = None,
    links: Mapping[str, dict[str, Any]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The 200 body and the error statuses of a route. Errors use the API's envelope
    unless ``error_shapes`` names another body for a status; ``links`` (see ``link``)
    go on the 200."""
    from jooksms.api import shapes

    out: dict[int | str, dict[str, Any]] = {}
    if model is not None:
        out[200] = {"description": "OK", "content": {"application/json": {"schema": ref(model)}}}
        if links:
            out[200]["links"] = dict(links)
    for code in sorted({400, 401, 404, 413, 422, *errors}):
        shape = (error_shapes or {}).get(code, shapes.ErrorEnvelope)
        out[code] = {
            "description": _ERRORS.get(code, "Error"),
            "content": {"application/json": {"schema": ref(shape)}},
        }
    return out


_ERRORS = {
    400: "Malformed body",
    401: "Missing, unknown or expired access token",
    404: "No such object in this account",
    409: "Conflict with the object's state",
    413: "Body too large",
    422: "Invalid field; `error.fields` names it",
}


def component_schemas() -> dict[str, Any]:
    """JSON Schemas of every model the routes referenced, for ``components``, and the
    form variant of those sent as forms."""
    _, top = models_json_schema([(m, "validation") for m in _REGISTRY.values()], ref_template=_REF)
    schemas: dict[str, Any] = {name: _no_nul(schema) for name, schema in top["$defs"].items()}
    for name in sorted(_FORMS):
        schemas[_FORM.format(model=name)] = _without_null(schemas[name])
    return schemas


def _no_nul(schema: Any) -> Any:
    """``schema`` with NUL documented as refused in every string without a pattern."""
    if isinstance(schema, list):
        return [_no_nul(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _no_nul(v) for k, v in schema.items()}
    if out.get("type") == "string" and "pattern" not in out and "enum" not in out:
        out["pattern"] = _NO_NUL
    return out


def _without_null(schema: Any) -> Any:
    """A form's view of ``schema``: forms carry text, never null."""
    if isinstance(schema, list):
        return [_without_null(s) for s in schema if s != {"type": "null"}]
    if not isinstance(schema, dict):
        return schema
    out = {k: _without_null(v) for k, v in schema.items() if not (k == "default" and v is None)}
    if "anyOf" in out and len(out["anyOf"]) == 1:
        # What is said of the field as a whole (a stricter pattern) wins over its branch.
        out = {**out.pop("anyOf")[0], **out}
    return out

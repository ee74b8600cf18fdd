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
_REF = "#/components/schemas/{model}"


def ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to ``model`` in ``components``, which then includes it."""
    _REGISTRY[model.__name__] = model
    return {"$ref": _REF.format(model=model.__name__)}


def body(model: type[BaseModel], *, form: bool = True) -> dict[str, Any]:
    content = {"application/json": {"schema": ref(model)}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": ref(model)}
    return {"requestBody": {"required": True, "content": content}}


def responses(
    model: type[BaseModel] | None,
    *errors: int,
    error_shapes: Mapping[int, type[BaseModel]] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The 200 body and the error statuses of a route. Errors use the API's envelope
    unless ``error_shapes`` names another body for a status."""
    from jooksms.api import shapes

    out: dict[int | str, dict[str, Any]] = {}
    if model is not None:
        out[200] = {"description": "OK", "content": {"application/json": {"schema": ref(model)}}}
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
    """JSON Schemas of every model the routes referenced, for ``components``."""
    _, top = models_json_schema([(m, "validation") for m in _REGISTRY.values()], ref_template=_REF)
    return dict(top.get("$defs", {}))

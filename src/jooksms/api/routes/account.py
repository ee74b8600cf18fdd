"""Token issue, the account's numbers, and health."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from jooksms.api import shapes
from jooksms.api.deps import Caller, app_state
from jooksms.api.envelopes import Json
from jooksms.api.openapi_docs import body, responses
from jooksms.api.payload import read_payload
from jooksms.api.schemas import TokenRequest, field_problems
from jooksms.errors import BadRequest, InvalidClient, RateLimited
from jooksms.services.accounts import list_numbers

router = APIRouter(prefix="/api/v1")


def _oauth_error(
    status: int, error: str, description: str, *, headers: dict[str, str] | None = None
) -> Json:
    """RFC 6749 section 5.2 error, plus the API's ``result`` marker."""
    return Json(
        {"result": "error", "error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
        | ({"WWW-Authenticate": 'Basic realm="jooksms"'} if status == 401 else {})
        | (headers or {}),
    )


def _basic_credentials(request: Request) -> dict[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return {}
    return {"client_id": client_id, "client_secret": secret}


@router.post(
    "/oauth/access_token",
    tags=["Authentication"],
    summary="Trade a client id and secret for an access token",
    openapi_extra=body(TokenRequest),
    responses=responses(
        shapes.Token,
        400,
        413,
        429,
        error_shapes={400: shapes.OAuthError, 401: shapes.OAuthError, 429: shapes.OAuthError},
    ),
)
async def access_token(request: Request) -> Json:
    state = app_state(request)
    # Read here, not through the Payload dependency, so that a malformed body is an
    # RFC 6749 invalid_request like every other refusal of this endpoint.
    try:
        payload = await read_payload(request, limit=state.settings.max_body_bytes)
    except BadRequest as exc:
        return _oauth_error(400, "invalid_request", exc.message)
    fields: dict[str, Any] = {**payload, **_basic_credentials(request)}
    try:
        req = TokenRequest.model_validate(fields)
    except ValidationError as exc:
        name, problem = next(iter(field_problems(exc).items()))
        return _oauth_error(400, "invalid_request", f"{name}: {problem}")
    if req.grant_type not in (None, "client_credentials"):
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    address = request.client.host if request.client else ""
    try:
        issued = await state.tokens.issue(
            client_id=req.client_id, client_secret=req.client_secret, address=address
        )
    except InvalidClient as exc:
        return _oauth_error(401, "invalid_client", exc.message)
    except RateLimited as exc:
        return _oauth_error(
            429, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)}
        )
    return Json(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get(
    "/numbers",
    tags=["Account"],
    summary="The account's phone numbers, first number first",
    responses=responses(shapes.NumberList),
)
async def numbers(call: Caller) -> Json:
    async with call.state.db.read() as session:
        owned = await list_numbers(session, account_id=call.account)
    return Json(
        {"result": "ok", "data": [{"number": n, "first": i == 0} for i, n in enumerate(owned)]}
    )

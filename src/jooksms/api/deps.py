"""Dependencies shared by the routes: the app's services, the caller's account, and
the request body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from jooksms.api.payload import read_payload
from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.errors import Unauthorized
from jooksms.services.auth import TokenAuthority
from jooksms.services.intake import Intake


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    db: Database
    tokens: TokenAuthority
    intake: Intake


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.jooksms
    return state


State = Annotated[AppState, Depends(app_state)]


async def current_account(request: Request, state: State) -> int:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an access token as 'Authorization: Bearer <token>'")
    return await state.tokens.account_for(token.strip())


AccountId = Annotated[int, Depends(current_account)]


async def payload(request: Request, state: State) -> dict[str, Any]:
    return await read_payload(request, limit=state.settings.max_body_bytes)


Payload = Annotated[dict[str, Any], Depends(payload)]


async def list_url(request: Request, state: State) -> str:
    """The absolute URL of this list without its query, for pagination links."""
    base = state.settings.public_url or str(request.base_url)
    return base.rstrip("/") + request.url.path.rstrip("/")


ListUrl = Annotated[str, Depends(list_url)]

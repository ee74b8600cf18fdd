"""What the routes depend on: the app's services and the authenticated caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from jooksms.api.envelopes import Json, paginated
from jooksms.api.payload import read_payload
from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.errors import Unauthorized, Unavailable
from jooksms.services.auth import TokenAuthority
from jooksms.services.intake import Intake
from jooksms.services.pagination import Page, PageRequest

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    db: Database
    tokens: TokenAuthority
    intake: Intake


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request, as the routes need it.

    A single dependency on purpose: FastAPI's cost per dependency, paid on every
    request, was a fifth of the event loop's time on the send path.
    """

    request: Request
    state: AppState
    account: int

    async def payload(self) -> dict[str, Any]:
        """The request body as a dict (JSON or form)."""
        return await read_payload(self.request, limit=self.state.settings.max_body_bytes)

    async def listing(
        self,
        fetch: Callable[[AsyncSession, PageRequest], Awaitable[Page[T]]],
        shape: Callable[[T], dict[str, Any]],
        page: str | None,
        per_page: str | None,
    ) -> Json:
        """One page of a list, in the seed's list envelope."""
        pages = PageRequest.parse(page, per_page)
        async with self.state.db.read() as session:
            result = await fetch(session, pages)
        return paginated(result, shape, url=self.list_url, query=self.request.query_params)

    @property
    def list_url(self) -> str:
        """The absolute URL of this list without its query, for pagination links."""
        base = self.state.settings.public_url or str(self.request.base_url)
        return base.rstrip("/") + self.request.url.path.rstrip("/")


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.jooksms
    return state


async def bearer_account(request: Request, state: AppState) -> int:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an access token as 'Authorization: Bearer <token>'")
    try:
        return await state.tokens.account_for(token.strip())
    except Unavailable:  # a read, so safe to run once more, on a fresh connection
        return await state.tokens.account_for(token.strip())


async def authenticated(request: Request) -> Call:
    state = app_state(request)
    return Call(request, state, await bearer_account(request, state))


Caller = Annotated[Call, Depends(authenticated)]

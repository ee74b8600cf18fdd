"""What the routes depend on: the app's services and the authenticated caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from jooksms.api.envelopes import Json, RenderedJson, paginated
from jooksms.api.payload import read_payload
from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.errors import Unauthorized, Unavailable
from jooksms.services import idempotency
from jooksms.services.auth import TokenAuthority
from jooksms.services.intake import Intake
from jooksms.services.messages import Accepted, AcceptJob
from jooksms.services.pagination import Page, PageRequest

T = TypeVar("T")
_PAYLOAD = "jooksms.payload"


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
        payload = await read_payload(self.request, limit=self.state.settings.max_body_bytes)
        self.request.scope[_PAYLOAD] = payload  # for the Idempotency-Key's fingerprint
        return payload

    async def accept(self, job: AcceptJob, answer: Callable[[Accepted], dict[str, Any]]) -> Json:
        """Accept the job's messages and answer ``answer(accepted)``; with an
        ``Idempotency-Key``, a retry gets the first answer and stores nothing."""
        key = self.request.headers.get(idempotency.HEADER)
        if key is None:
            return Json(answer(await self.state.intake.submit(job)))
        request = self.request
        claim = idempotency.Claim(
            self.account,
            idempotency.checked_key(key),
            idempotency.fingerprint(request.method, request.url.path, request.scope[_PAYLOAD]),
        )
        sent = await idempotency.send_once(
            self.state.db, self.state.intake, job, claim, lambda a: orjson.dumps(answer(a))
        )
        return RenderedJson(
            sent.body,
            sent.status_code,
            headers={"Idempotent-Replayed": "true"} if sent.replayed else None,
        )

    async def listing(
        self,
        fetch: Callable[[AsyncSession, PageRequest], Awaitable[Page[T]]],
        shape: Callable[[T], dict[str, Any]],
        page: int | None,
        per_page: int | None,
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

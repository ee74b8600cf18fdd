"""OAuth 2.0 client credentials: trade a client id and secret for a bearer token,
and map a bearer token back to its account."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from jooksms.config import Settings
from jooksms.db.engine import Database
from jooksms.db.models import AccessToken, ApiClient
from jooksms.db.types import utcnow
from jooksms.errors import InvalidClient, RateLimited, Unauthorized
from jooksms.services.accounts import hash_secret
from jooksms.services.throttle import FailureLimiter, Limit, longest_wait

# A dummy hash compared against when the client id is unknown, so that a wrong id
# and a wrong secret take the same time.
_DUMMY_HASH = hash_secret("no such client")


_WAIT = "too many failed attempts: wait before trying again"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class _Client:
    pk: int
    account_id: int
    secret_hash: str


class TokenAuthority:
    """Issues tokens and checks them. Valid tokens are remembered in process for a
    short while (never past their expiry) so a request does not pay a query for it.

    Failed token requests are throttled per client id and per source address. Once a
    key is held back, a request costs the database nothing unless it presents the
    right secret of a client this process has looked up (within ``window``), checked in
    memory: a flood of wrong secrets neither reaches the database nor locks out the
    client it names."""

    def __init__(
        self,
        db: Database,
        *,
        ttl: int,
        cache_seconds: float = 30.0,
        per_client: Limit = Limit(10, 300.0),
        per_address: Limit = Limit(100, 300.0),
    ) -> None:
        self._db = db
        self._ttl = ttl
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[int, float]] = {}
        self._by_client = FailureLimiter(per_client)
        self._by_address = FailureLimiter(per_address)
        # client id -> (the client or None when there is none, when to look again)
        self._clients: dict[str, tuple[_Client | None, float]] = {}
        self._client_seconds = max(per_client.window, per_address.window)

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> TokenAuthority:
        window = float(settings.throttle_window)
        return cls(
            db,
            ttl=settings.token_ttl,
            per_client=Limit(settings.token_failures_per_client, window),
            per_address=Limit(settings.token_failures_per_address, window),
        )

    async def issue(self, *, client_id: str, client_secret: str, address: str = "") -> IssuedToken:
        """A new token; InvalidClient for a wrong id or secret, RateLimited when the
        id or the address failed too often and the secret is not known right."""
        wait = longest_wait([(self._by_client, client_id), (self._by_address, address)])
        # Looking the client up when only its id is held back costs one read per
        # window; an address held back may be cycling through ids, so none.
        held_address = self._by_address.retry_after(address) is not None
        client = await self._client(client_id, look_up=not held_address)
        expected = client.secret_hash if client else _DUMMY_HASH
        right = hmac.compare_digest(expected, hash_secret(client_secret)) and client is not None
        if not right:
            if wait is not None:
                raise RateLimited(_WAIT, retry_after=wait)
            self._by_client.failed(client_id)
            self._by_address.failed(address)
            raise InvalidClient("unknown client_id or wrong client_secret")
        assert client is not None
        return await self._store_token(client)

    async def _client(self, client_id: str, *, look_up: bool) -> _Client | None:
        known = self._clients.get(client_id)
        now = time.monotonic()
        if known is not None and (known[1] > now or not look_up):
            return known[0]
        if not look_up:
            return None
        async with self._db.read() as session:
            row = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
        client = None if row is None else _Client(row.id, row.account_id, row.secret_hash)
        if len(self._clients) > 100_000:
            self._clients.clear()
        self._clients[client_id] = (client, now + self._client_seconds)
        return client

    async def _store_token(self, client: _Client) -> IssuedToken:
        token = secrets.token_urlsafe(32)
        async with self._db.write() as session:
            now = utcnow()
            session.add(
                AccessToken(
                    token_hash=hash_secret(token),
                    client_pk=client.pk,
                    account_id=client.account_id,
                    expires_at=now + timedelta(seconds=self._ttl),
                )
            )
            # Expired tokens are useless; clearing a few here keeps the table small
            # without a separate janitor.
            await session.execute(delete(AccessToken).where(AccessToken.expires_at < now))
        return IssuedToken(access_token=token, expires_in=self._ttl)

    async def account_for(self, token: str) -> int:
        """The account id the token belongs to; Unauthorized when it is not valid."""
        digest = hash_secret(token)
        now = time.time()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(AccessToken.account_id, AccessToken.expires_at).where(
                        AccessToken.token_hash == digest
                    )
                )
            ).first()
        if row is None or row.expires_at <= utcnow():
            self._cache.pop(digest, None)
            raise Unauthorized("the access token is invalid or has expired")
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[digest] = (
            row.account_id,
            min(now + self._cache_seconds, row.expires_at.timestamp()),
        )
        return int(row.account_id)

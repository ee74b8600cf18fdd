"""OAuth 2.0 client credentials: trade a client id and secret for a bearer token,
and map a bearer token back to its account."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from jooksms.db.engine import Database
from jooksms.db.models import AccessToken, ApiClient
from jooksms.db.types import utcnow
from jooksms.errors import InvalidClient, Unauthorized
from jooksms.services.accounts import hash_secret

# A dummy hash compared against when the client id is unknown, so that a wrong id
# and a wrong secret take the same time.
_DUMMY_HASH = hash_secret("no such client")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


class TokenAuthority:
    """Issues tokens and checks them. Valid tokens are remembered in process for a
    short while (never past their expiry) so a request does not pay a query for it."""

    def __init__(self, db: Database, *, ttl: int, cache_seconds: float = 30.0) -> None:
        self._db = db
        self._ttl = ttl
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[int, float]] = {}

    async def issue(self, *, client_id: str, client_secret: str) -> IssuedToken:
        async with self._db.write() as session:
            client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
            expected = client.secret_hash if client else _DUMMY_HASH
            if not hmac.compare_digest(expected, hash_secret(client_secret)) or client is None:
                raise InvalidClient("unknown client_id or wrong client_secret")
            token = secrets.token_urlsafe(32)
            now = utcnow()
            session.add(
                AccessToken(
                    token_hash=hash_secret(token),
                    client_pk=client.id,
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

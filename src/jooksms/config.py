"""Runtime configuration, read from ``JOOKSMS_*`` environment variables.

Settings are built by :func:`load_settings` when a command starts, never at import
time, so tests and the CLI can build their own and a bad value fails loudly at start.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/jooksms.db"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOOKSMS_", extra="ignore", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    token_ttl: Annotated[int, Field(ge=60, le=31_536_000)] = 3600
    log_level: str = "INFO"
    #: Largest request body accepted, in bytes (413 beyond it).
    max_body_bytes: Annotated[int, Field(ge=1024)] = 5 * 1024 * 1024
    #: Base URL used in pagination links when set (behind a reverse proxy).
    public_url: str | None = None
    #: Whether ``jooksms serve`` also delivers what it accepts. Turn it off where
    #: ``jooksms worker`` processes deliver and API processes only accept.
    delivery: bool = True
    #: Seconds a worker holds the messages it claimed; a worker that dies lets them go
    #: back to the queue after this long.
    lease_seconds: Annotated[int, Field(ge=2, le=86_400)] = 120
    #: When set, ``GET /metrics`` asks for ``Authorization: Bearer <this>``; unset, it
    #: answers loopback clients only.
    metrics_token: SecretStr | None = None
    #: Keys that seal carrier credentials at rest (Fernet, comma-separated, newest
    #: first). Unset: ``secret.key`` in the data folder, generated on first start.
    secret_key: SecretStr | None = None
    #: Where ``secret.key`` is kept when ``secret_key`` is unset (default: the SQLite
    #: database's folder, else ``./data``).
    data_dir: Path | None = None
    #: Failed token requests one client id may make within ``throttle_window``
    #: seconds before it must wait (429 with Retry-After).
    token_failures_per_client: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    #: Failed token requests one source address may make within the window.
    token_failures_per_address: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    #: The window of the failure limits, in seconds.
    throttle_window: Annotated[int, Field(ge=1, le=86_400)] = 300
    #: Messages a worker may have submitted and not yet stored: the most a worker
    #: that crashes can send twice.
    in_flight: Annotated[int, Field(ge=1, le=100_000)] = 1000
    #: Messages a worker claims at a time.
    batch: Annotated[int, Field(ge=1, le=100_000)] = 1000
    #: Seconds a client has to send a request's line and headers, from its first
    #: byte (or from connecting); the connection is closed after that.
    http_header_timeout: Annotated[float, Field(gt=0, le=3600)] = 10.0
    #: Seconds a client has to send a request's whole body, once its headers are in.
    http_body_timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0
    #: Seconds an idle keep-alive connection stays open between requests.
    http_keepalive_timeout: Annotated[float, Field(gt=0, le=3600)] = 5.0
    #: Connections (or requests in progress) at once; beyond it new requests get 503.
    http_max_connections: Annotated[int, Field(ge=1, le=1_000_000)] = 4096
    #: Hours a delivery receipt whose part is unknown is kept, waiting for the part
    #: (a carrier that answers the receipt first); the workers drop older ones.
    pending_receipt_ttl_hours: Annotated[float, Field(gt=0, le=8760)] = 48
    #: Whether outbound webhooks and status callbacks may go to private, loopback,
    #: link-local and reserved addresses (refused by default: see events.webhooks.urls).
    webhooks_allow_private: bool = False
    #: How long events are kept for the stream, polling and webhooks to read: a
    #: number of days, or a duration such as ``7d``, ``12h``, ``30m``.
    event_retention: timedelta = timedelta(days=7)

    @field_validator("event_retention", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str | int | float) else value

    @field_validator("event_retention")
    @classmethod
    def _at_least_a_minute(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(days=3650):
            raise ValueError("must be between 1 minute and 3650 days")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        value = _async_driver(value)
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("metrics_token", "secret_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # ``JOOKSMS_METRICS_TOKEN=`` in an env file means no token, not an empty one.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here so that a bad key stops the command at start, not the first
        # time a connector is read.
        if value is None:
            return None
        for key in value.get_secret_value().split(","):
            try:
                raw = base64.urlsafe_b64decode(key.strip().encode())
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "each comma-separated key must be 32 url-safe base64-encoded bytes "
                    "(make one with `jooksms secrets new-key`)"
                )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The database file for a file-backed SQLite URL, else None."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split("///", 1)[1].split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(value: str | float) -> timedelta:
    """``7`` or ``7d`` (days), ``12h``, ``30m``, ``90s``."""
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError("must be a number of days or a duration such as 7d, 12h, 30m")
    number, unit = match.groups()
    return timedelta(**{_UNITS[unit.lower()]: float(number)})


def _async_driver(url: str) -> str:
    """Accept the plain URLs people write and pick the async driver we ship."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; raise ConfigError naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"JOOKSMS_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None

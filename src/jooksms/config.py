"""Runtime configuration, read from ``JOOKSMS_*`` environment variables.

Settings are built by :func:`load_settings` when a command starts, never at import
time, so tests and the CLI can build their own and a bad value fails loudly at start.
"""

from __future__ import annotations

import logging
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
    #: When set, ``GET /metrics`` asks for ``Authorization: Bearer <this>``.
    metrics_token: SecretStr | None = None
    #: Messages a worker may have submitted and not yet stored: the most a worker
    #: that crashes can send twice.
    in_flight: Annotated[int, Field(ge=1, le=100_000)] = 1000
    #: Messages a worker claims at a time.
    batch: Annotated[int, Field(ge=1, le=100_000)] = 1000
    #: Hours a delivery receipt whose part is unknown is kept, waiting for the part
    #: (a carrier that answers the receipt first); the workers drop older ones.
    pending_receipt_ttl_hours: Annotated[float, Field(gt=0, le=8760)] = 48

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        value = _async_driver(value)
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # ``JOOKSMS_METRICS_TOKEN=`` in an env file means no token, not an empty one.
        return None if isinstance(value, str) and not value.strip() else value

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

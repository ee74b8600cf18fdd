"""Settings come from JOOKSMS_* variables and fail loudly, naming the variable."""

from __future__ import annotations

import pytest

from jooksms.config import DEFAULT_DATABASE_URL, ConfigError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "HOST", "PORT", "TOKEN_TTL", "LOG_LEVEL"):
        monkeypatch.delenv(f"JOOKSMS_{name}", raising=False)
    s = load_settings()
    assert s.database_url == DEFAULT_DATABASE_URL
    assert (s.host, s.port, s.token_ttl, s.log_level) == ("127.0.0.1", 8000, 3600, "INFO")
    assert s.is_sqlite


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOOKSMS_DATABASE_URL", "postgresql://u:p@db:5432/sms")
    monkeypatch.setenv("JOOKSMS_PORT", "9000")
    monkeypatch.setenv("JOOKSMS_TOKEN_TTL", "120")
    monkeypatch.setenv("JOOKSMS_LOG_LEVEL", "debug")
    monkeypatch.setenv("JOOKSMS_DELIVERY", "false")
    s = load_settings()
    assert s.delivery is False
    assert s.database_url == "postgresql+asyncpg://u:p@db:5432/sms"
    assert (s.port, s.token_ttl, s.log_level) == (9000, 120, "DEBUG")
    assert not s.is_sqlite


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("TOKEN_TTL", "0"),
        ("LOG_LEVEL", "chatty"),
        ("DATABASE_URL", "mysql://x"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"JOOKSMS_{name}", value)
    with pytest.raises(ConfigError, match=f"JOOKSMS_{name}"):
        load_settings()


def test_sqlite_path() -> None:
    assert str(load_settings(database_url="sqlite:///./data/x.db").sqlite_path()) == "data/x.db"
    assert load_settings(database_url="postgresql://h/db").sqlite_path() is None

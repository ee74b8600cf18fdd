"""Carrier credentials at rest: sealed with Fernet under JOOKSMS_SECRET_KEY or the data
folder's key, opened only where transports are built, rotated by the CLI."""

from __future__ import annotations

import logging
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from jooksms.config import ConfigError, load_settings
from jooksms.db.engine import Database
from jooksms.db.models import Connector
from jooksms.secret_box import (
    PREFIX,
    SecretBox,
    SecretKeyError,
    box_for,
    key_file,
    load_box,
    new_key,
)
from jooksms.services import connectors
from jooksms.transports.registry import Handlers
from jooksms.transports.smpp.client import SmppClient
from jooksms.transports.twilio import TwilioClient

SMPP_URL = "smpp://acme:s3cretpw@smsc.example:2775?window=16"
TWILIO_URL = "twilio://AC0123456789abcdef0123456789abcdef:t0ken-s3cret@api"


def test_seal_open_and_rotate() -> None:
    old, new = new_key(), new_key()
    sealed = SecretBox([old], source="test").seal(SMPP_URL)
    assert sealed.startswith(PREFIX) and "s3cret" not in sealed
    assert SecretBox([old], source="test").open(sealed) == SMPP_URL
    both = SecretBox([new, old], source="test")
    assert both.open(sealed) == SMPP_URL
    resealed = both.reseal(sealed)
    assert SecretBox([new], source="test").open(resealed) == SMPP_URL
    with pytest.raises(SecretKeyError, match="does not open with the key in test"):
        SecretBox([old], source="test").open(resealed)
    # A row stored before encryption is read as it is, and sealed when resealed.
    assert both.open(SMPP_URL) == SMPP_URL
    assert both.open(both.reseal(SMPP_URL)) == SMPP_URL


def test_a_bad_key_is_refused_by_name() -> None:
    for bad in ("not-a-key", f"{new_key()},short"):
        with pytest.raises(ConfigError, match="JOOKSMS_SECRET_KEY: Value error, each comma"):
            load_settings(secret_key=bad)
    assert load_settings(secret_key=f" {new_key()}, {new_key()}").secret_key is not None
    with pytest.raises(SecretKeyError, match="no key in test"):
        SecretBox([], source="test")


def test_the_key_file_is_made_once_private_and_shared(tmp_path: Path) -> None:
    """Processes started at once in one data folder agree on one key."""
    url = f"sqlite:///{tmp_path / 'data' / 'jooksms.db'}"
    script = (
        "import sys; from jooksms.config import ConfigError, load_settings; "
        "from jooksms.secret_box import load_box; "
        "print(load_box(load_settings(database_url=sys.argv[1])).keys[0])"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    path = tmp_path / "data" / "secret.key"
    assert keys == {path.read_text().strip()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_postgres_without_the_variable_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(database_url="postgresql://db.example/x", data_dir=str(tmp_path))
    assert key_file(settings) == tmp_path / "secret.key"
    with caplog.at_level(logging.WARNING, logger="jooksms.secret_box"):
        load_box(settings)
    assert "set the variable to that key where processes run on several hosts" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jooksms.secret_box"):
        load_box(load_settings(database_url="postgresql://db.example/x", secret_key=new_key()))
    assert caplog.text == ""


async def test_credentials_are_sealed_in_the_table_and_open_for_transports(
    db: Database, database_url: str
) -> None:
    async with db.write() as session:
        await connectors.add_connector(session, name="sealed-smpp", url=SMPP_URL)
        await connectors.add_connector(session, name="sealed-twilio", url=TWILIO_URL)
    try:
        async with db.read() as session:
            rows = await session.execute(select(Connector.name, Connector.url))
            stored = {name: url for name, url in rows}
            views = {v.name: v for v in await connectors.list_connectors(session)}
            built = await connectors.transports(session, handlers=Handlers(_ignore, _ignore))
            token = await connectors.twilio_auth_token(session, name="sealed-twilio")
        for name in ("sealed-smpp", "sealed-twilio"):
            assert stored[name].startswith(PREFIX)
            assert box_for(database_url).open(stored[name]) in (SMPP_URL, TWILIO_URL)
        assert "s3cret" not in stored["sealed-smpp"] + stored["sealed-twilio"]
        assert views["sealed-smpp"].url == "smpp://acme:***@smsc.example:2775?window=16"
        assert "t0ken-s3cret" not in views["sealed-twilio"].url
        smpp = built["sealed-smpp"]
        assert isinstance(smpp, SmppClient) and smpp.config.password == "s3cretpw"
        assert isinstance(built["sealed-twilio"], TwilioClient)
        assert token == "t0ken-s3cret"
    finally:
        async with db.write() as session:
            for name in ("sealed-smpp", "sealed-twilio"):
                await connectors.remove_connector(session, name=name)


async def _ignore(*_: object) -> None:
    return None

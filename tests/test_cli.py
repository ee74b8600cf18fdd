"""The jooksms command, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "JOOKSMS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "jooksms", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_account_number_and_client(tmp_path: Path) -> None:
    up = _run(tmp_path, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    created = _run(tmp_path, "account", "create", "--name", "Acme", "--number", "+507 6881-9519")
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)
    assert account["name"] == "Acme"
    assert account["numbers"] == ["+50768819519"]
    added = _run(tmp_path, "number", "add", "--account", str(account["id"]), "50672004393")
    assert json.loads(added.stdout)["number"] == "+50672004393"
    client = _run(tmp_path, "client", "create", "--account", str(account["id"]), "--name", "shop")
    creds = json.loads(client.stdout)
    assert set(creds) == {"client_id", "client_secret"}
    assert len(creds["client_secret"]) >= 40


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("number", "add", "--account", "999", "+50768819519"), "account 999 not found"),
        (("account", "create", "--name", "X", "--number", "+123"), "not a possible phone number"),
        (("client", "create", "--account", "42"), "account 42 not found"),
    ],
)
def test_errors_are_clear_and_nonzero(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    r = _run(tmp_path, *args)
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_number_belongs_to_one_account(tmp_path: Path) -> None:
    _run(tmp_path, "account", "create", "--name", "A", "--number", "+50768819519")
    r = _run(tmp_path, "account", "create", "--name", "B", "--number", "+50768819519")
    assert r.returncode == 1
    assert "already belongs" in r.stderr


def test_bad_config_fails_before_work(tmp_path: Path) -> None:
    r = _run(tmp_path, "db", "upgrade", env={"JOOKSMS_DATABASE_URL": "mysql://nope"})
    assert r.returncode == 2
    assert "JOOKSMS_DATABASE_URL" in r.stderr


def test_connectors_add_list_remove(tmp_path: Path) -> None:
    url = "smpp://acme:s3cret@smsc.example:2775?window=16"
    added = _run(tmp_path, "connector", "add", "--name", "acme", "--url", url, "--prefix", "+507")
    assert added.returncode == 0, added.stderr
    view = json.loads(added.stdout)
    assert view["url"] == "smpp://acme:***@smsc.example:2775?window=16"
    assert view["prefixes"] == ["+507"]
    listed = json.loads(_run(tmp_path, "connector", "list").stdout)
    assert [c["name"] for c in listed] == ["acme"]
    assert "s3cret" not in _run(tmp_path, "connector", "list").stdout
    again = _run(tmp_path, "connector", "add", "--name", "acme", "--url", url)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert _run(tmp_path, "connector", "remove", "acme").returncode == 0
    assert json.loads(_run(tmp_path, "connector", "list").stdout) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://x", "unsupported connector scheme"),
        ("smpp://:pw@host", "system_id"),
        ("smpp://id:pw@host:99999", "port"),
        ("smpp://id:pw@host?window=zero", "window"),
    ],
)
def test_bad_connector_urls_name_the_part(tmp_path: Path, url: str, message: str) -> None:
    r = _run(tmp_path, "connector", "add", "--name", "bad", "--url", url)
    assert r.returncode == 1
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_worker_without_connectors_says_what_to_do(tmp_path: Path) -> None:
    _run(tmp_path, "db", "upgrade")
    r = _run(tmp_path, "worker")
    assert r.returncode == 2
    assert "jooksms connector add" in r.stderr

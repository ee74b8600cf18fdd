"""The jooksms command, run as a real process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from jooksms.secret_box import SecretBox, SecretKeyError, new_key
from tests.helpers.cli import run_cli as _run


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
    assert again.returncode == 1  # the state of the database, not the input
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
        ("smpp://u:p@[::1", "Invalid IPv6 URL"),
        ("smpp://u:p@host:abc", "port"),
    ],
)
def test_bad_connector_urls_name_the_part(tmp_path: Path, url: str, message: str) -> None:
    r = _run(tmp_path, "connector", "add", "--name", "bad", "--url", url)
    assert r.returncode == 2
    assert r.stderr.startswith("error: --url: ") and message in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


LONG = "x" * 201


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("nosuch",), "'nosuch'"),
        (("account", "create"), "'--name'"),
        (("account", "create", "--name", ""), "--name"),
        (("account", "create", "--name", LONG), "--name"),
        (("account", "create", "--name", "A", "--number", "abc"), "--number"),
        (("number", "add", "--account", "abc", "+50768819519"), "'--account'"),
        (("number", "add", "--account", "1", "hello"), "NUMBER"),
        (("number", "add", "--account", "1"), "'number'"),
        (("client", "create", "--account", "x"), "'--account'"),
        (("client", "create", "--account", "1", "--name", LONG), "--name"),
        (("connector", "add", "--name", "a"), "'--url'"),
        (("connector", "add", "--name", "", "--url", "smpp://u:p@h"), "--name"),
        (("connector", "add", "--name", "a", "--url", "smpp://u:p@h", "--rate", "abc"), "'--rate'"),
        (("connector", "add", "--name", "a", "--url", "smpp://u:p@h", "--rate", "nan"), "--rate"),
        (("connector", "add", "--name", "a", "--url", "smpp://u:p@h", "--rate", "0"), "--rate"),
        (
            ("connector", "add", "--name", "a", "--url", "smpp://u:p@h", "--prefix", "507"),
            "--prefix",
        ),
        (("connector", "add", "--name", "a", "--url", "smpp://u:p@h", "--number", "z"), "--number"),
        (
            ("connector", "add", "--name", "a", "--url", "smpp://u:p@h", "--account", "z"),
            "'--account'",
        ),
        (("connector", "remove"), "'name'"),
        (("connector", "list", "--x"), "--x"),
        (("db", "upgrade", "--revision", "zz"), "--revision"),
        (("serve", "--port", "0"), "'--port'"),
        (("serve", "--port", "99999"), "'--port'"),
        (("worker", "--metrics-port", "0"), "'--metrics-port'"),
        (("secrets", "rotate", "--now"), "--now"),
        (("smsc-sim", "--port", "abc"), "--port"),
        (("smsc-sim", "--port", "-5"), "--port"),
        (("smsc-sim", "--account", "nocolon"), "--account"),
        (("smsc-sim", "--deliver-window", "0"), "--deliver-window"),
        (("smsc-sim", "--stats-interval", "nan"), "--stats-interval"),
        (("smsc-sim", "--bogus"), "--bogus"),
    ],
)
def test_every_input_error_is_one_line_naming_it(
    tmp_path: Path, args: tuple[str, ...], names: str
) -> None:
    r = _run(tmp_path, *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and names in r.stderr, r.stderr
    assert "error: " in r.stderr


def test_worker_without_connectors_says_what_to_do(tmp_path: Path) -> None:
    _run(tmp_path, "db", "upgrade")
    r = _run(tmp_path, "worker")
    assert r.returncode == 2
    assert "jooksms connector add" in r.stderr
    # The first start made the key, beside the SQLite database.
    assert len((tmp_path / "secret.key").read_text().split()) == 1


def test_a_bad_secret_key_stops_the_command_naming_it(tmp_path: Path) -> None:
    r = _run(tmp_path, "connector", "list", env={"JOOKSMS_SECRET_KEY": "nope"})
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "JOOKSMS_SECRET_KEY" in r.stderr


def _stored_urls(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        return [row[0] for row in conn.execute("SELECT url FROM connectors")]


def test_secrets_rotate_reseals_under_a_new_key_file(tmp_path: Path) -> None:
    url = "smpp://acme:s3cret@smsc.example:2775"
    assert _run(tmp_path, "connector", "add", "--name", "acme", "--url", url).returncode == 0
    key_path = tmp_path / "secret.key"
    [old_key] = key_path.read_text().split()
    [before] = _stored_urls(tmp_path)
    assert "s3cret" not in before
    assert SecretBox([old_key], source="old").open(before) == url
    rotated = _run(tmp_path, "secrets", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["resealed"] == 1
    [new_key] = key_path.read_text().split()
    assert new_key != old_key
    [after] = _stored_urls(tmp_path)
    assert SecretBox([new_key], source="new").open(after) == url
    with pytest.raises(SecretKeyError):
        SecretBox([old_key], source="old").open(after)
    listed = _run(tmp_path, "connector", "list")
    assert json.loads(listed.stdout)[0]["url"] == "smpp://acme:***@smsc.example:2775"


def test_secrets_rotate_with_the_variable(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    url = "smpp://acme:s3cret@smsc.example:2775"
    env = {"JOOKSMS_SECRET_KEY": old}
    assert _run(tmp_path, "connector", "add", "--name", "a", "--url", url, env=env).returncode == 0
    assert not (tmp_path / "secret.key").exists()
    one = _run(tmp_path, "secrets", "rotate", env=env)
    assert one.returncode == 2
    assert one.stderr.startswith("error: JOOKSMS_SECRET_KEY: holds one key")
    both = _run(tmp_path, "secrets", "rotate", env={"JOOKSMS_SECRET_KEY": f"{new},{old}"})
    assert both.returncode == 0, both.stderr
    [after] = _stored_urls(tmp_path)
    assert SecretBox([new], source="new").open(after) == url
    listed = _run(tmp_path, "connector", "list", env={"JOOKSMS_SECRET_KEY": new})
    assert json.loads(listed.stdout)[0]["url"] == "smpp://acme:***@smsc.example:2775"
    wrong = _run(tmp_path, "connector", "list", env={"JOOKSMS_SECRET_KEY": old})
    assert wrong.returncode == 1
    assert wrong.stderr == (
        "error: a stored credential does not open with the key in JOOKSMS_SECRET_KEY\n"
    )

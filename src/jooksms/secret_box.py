"""The secret box: carrier credentials (connector URLs, which carry SMPP passwords and
Twilio auth tokens) are stored encrypted, and opened only where a transport is built.

Encryption is Fernet (AES-128-CBC with an HMAC-SHA256, from the ``cryptography``
package) under a list of keys, the first of which seals and all of which open
(MultiFernet): rotating is putting a new key first, re-sealing every row, then
dropping the old key.

The keys come from ``JOOKSMS_SECRET_KEY`` (comma-separated, newest first). Unset, they
are in ``secret.key`` in the data folder (``JOOKSMS_DATA_DIR``, else the SQLite
database's folder, else ``./data``), generated on the first start and read from there
by every process started in the same folder. An in-memory SQLite database gets a key
of the process's own: its rows die with it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from jooksms.config import Settings, load_settings

log = logging.getLogger(__name__)

#: What a sealed value starts with, so that a plain one is never mistaken for it.
PREFIX = "fernet:"
KEY_FILE = "secret.key"


class SecretKeyError(Exception):
    """The key cannot be read, or does not open what was sealed; the message says
    which key and where it comes from."""


class SecretBox:
    def __init__(self, keys: Sequence[str], *, source: str) -> None:
        if not keys:
            raise SecretKeyError(f"no key in {source}")
        try:
            self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])
        except ValueError:
            raise SecretKeyError(
                f"{source}: a key must be 32 url-safe base64-encoded bytes "
                "(make one with `jooksms secrets new-key`)"
            ) from None
        self.keys = tuple(key.strip() for key in keys)
        self.source = source

    def seal(self, plain: str) -> str:
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def open(self, stored: str) -> str:
        """The plain value; a value stored before encryption is returned as it is."""
        if not is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"a stored credential does not open with the key in {self.source}"
            ) from None

    def reseal(self, stored: str) -> str:
        """``stored`` sealed under the first key (plain values are sealed)."""
        if not is_sealed(stored):
            return self.seal(stored)
        try:
            return PREFIX + self._fernet.rotate(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"a stored credential does not open with the key in {self.source}"
            ) from None


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def new_key() -> str:
    return Fernet.generate_key().decode()


def key_file(settings: Settings) -> Path | None:
    """Where the keys are kept when ``JOOKSMS_SECRET_KEY`` is unset; None for an
    in-memory database."""
    if settings.data_dir is not None:
        return settings.data_dir / KEY_FILE
    if settings.is_sqlite:
        path = settings.sqlite_path()
        return None if path is None else path.parent / KEY_FILE
    return Path("data") / KEY_FILE


def load_box(settings: Settings) -> SecretBox:
    """The box for ``settings``: its variable, else its key file (made when missing)."""
    if settings.secret_key is not None:
        keys = settings.secret_key.get_secret_value().split(",")
        return SecretBox([k for k in keys if k.strip()], source="JOOKSMS_SECRET_KEY")
    path = key_file(settings)
    if path is None:
        return SecretBox([_process_key()], source="this process's key (in-memory database)")
    if not settings.is_sqlite:
        log.warning(
            "JOOKSMS_SECRET_KEY is not set: carrier credentials are sealed with the key in "
            "%s; set the variable to that key where processes run on several hosts",
            path,
        )
    return SecretBox(_read_or_create(path), source=str(path))


def write_keys(path: Path, keys: Sequence[str]) -> None:
    """Replace the key file at once: a reader sees the old keys or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
        os.chmod(tmp.name, 0o600)
        tmp.write("\n".join(keys) + "\n")
    os.replace(tmp.name, path)


def box_for(database_url: str) -> SecretBox:
    """The box of the database at ``database_url``, read once per process."""
    return _cached_box(database_url)


def forget_boxes() -> None:
    """Read the keys again at the next use (after they were rotated)."""
    _cached_box.cache_clear()


@cache
def _cached_box(database_url: str) -> SecretBox:
    return load_box(load_settings(database_url=database_url))


@cache
def _process_key() -> str:
    return new_key()


def _read_or_create(path: Path) -> list[str]:
    if not path.exists():
        _create(path)
    try:
        keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise SecretKeyError(f"cannot read the key file {path}: {exc.strerror}") from None
    return keys


def _create(path: Path) -> None:
    """A new key file; when several processes start at once, the first one's key is
    everyone's (a hard link fails when the name exists, and is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
        os.chmod(tmp.name, 0o600)
        tmp.write(new_key() + "\n")
    try:
        os.link(tmp.name, path)
        log.info("generated the secret key for carrier credentials in %s", path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp.name)

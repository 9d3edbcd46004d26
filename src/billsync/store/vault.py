"""Secrets at rest: Fernet tokens under a list of keys, newest first (MultiFernet).

Keys come from settings (BILLSYNC_SECRET_KEYS) or, when none are set, from a key file that
is generated once with mode 0600 beside the database. Keys never enter the database: each
row stores only a `key_id` (a digest of the key that encrypted it), so `rotate` knows which
rows are still under an old key. Plaintext exists only in memory (design invariant 8).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from billsync import errors

log = structlog.get_logger(__name__)

KEY_FILE_NAME = "billsync.key"


def key_id_of(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()[:16]


class Vault:
    """Encrypts and decrypts connection secrets. `keys` are Fernet keys, newest first."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise errors.ConfigError("at least one secret key is required")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            # Never echo the key: the message names the problem only.
            raise errors.ConfigError(
                "a secret key is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from exc
        self.key_id = key_id_of(keys[0])
        self.key_ids = tuple(key_id_of(k) for k in keys)
        self._newest = keys[0].encode() if isinstance(keys[0], str) else bytes(keys[0])

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose`, derived from the newest key: stable across restarts,
        changed by a key rotation, and useless for decrypting anything."""
        return hmac.new(self._newest, b"billsync:" + purpose.encode(), hashlib.sha256).digest()

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt_text(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt_text(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise errors.ConfigError(
                "a stored secret cannot be decrypted with the configured keys"
                " (was a key removed from BILLSYNC_SECRET_KEYS?)"
            ) from exc

    def encrypt(self, values: Mapping[str, str]) -> str:
        return self.encrypt_text(json.dumps(dict(values), sort_keys=True))

    def decrypt(self, token: str) -> dict[str, str]:
        data = json.loads(self.decrypt_text(token))
        if not isinstance(data, dict):
            raise errors.ConfigError("a stored secret blob is not an object")
        return {str(k): str(v) for k, v in data.items()}

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise errors.ConfigError(
                "a stored secret cannot be decrypted with the configured keys"
            ) from exc


def default_key_file(database_path: Path | None) -> Path:
    """Beside the SQLite file; in the working directory for PostgreSQL."""
    if database_path is None:
        return Path(KEY_FILE_NAME).resolve()
    return database_path.resolve().parent / KEY_FILE_NAME


def check_private(key_file: Path) -> None:
    """Refuse a key file that group or others may read or write (as ssh refuses a private
    key): whoever reads it decrypts every stored credential."""
    mode = key_file.stat().st_mode & 0o777
    if mode & 0o077:
        raise errors.ConfigError(
            f"key file {key_file} is accessible by group or others (mode {mode:04o}); "
            f"it decrypts every stored credential: run `chmod 600 {key_file}`"
        )


def load_keys(configured: Sequence[str], key_file: Path) -> list[str]:
    """The configured keys, else the key file's (one per line, newest first), else a new one."""
    if configured:
        return list(configured)
    if key_file.exists():
        check_private(key_file)
        keys = [line.strip() for line in key_file.read_text().splitlines() if line.strip()]
        if not keys:
            raise errors.ConfigError(f"key file {key_file} is empty")
        return keys
    key = Vault.generate_key()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting at once must not both write (and disagree on) a key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_keys(configured, key_file)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    log.warning(
        "generated a new secret key file; back it up, secrets are unreadable without it",
        key_file=str(key_file),
        key_id=key_id_of(key),
    )
    return [key]


def open_vault(configured: Sequence[str], key_file: Path) -> Vault:
    return Vault(load_keys(configured, key_file))

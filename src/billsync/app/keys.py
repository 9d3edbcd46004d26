"""Secret-key rotation: re-encrypt every stored secret under the newest key.

Two ways keys are configured (store/vault.py):

- BILLSYNC_SECRET_KEYS (newest first): the operator puts the new key first, then runs
  rotate, which re-encrypts every row under it; the old key can be dropped afterwards.
- the key file: rotate generates a new key, writes it first in the file (old keys stay
  after it, so nothing becomes unreadable if the re-encryption fails), then re-encrypts.
  `retire=True` then drops the old keys from the file.

Rows are re-encrypted in one transaction. Running billsync processes hold their keys in
memory: restart them after a rotation (at once when old keys were retired).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from billsync.app.root import App
from billsync.store import audit
from billsync.store import connections as connection_store
from billsync.store.vault import Vault, default_key_file, key_id_of, load_keys


@dataclass(frozen=True)
class RotationReport:
    rows: int  #: connections re-encrypted
    key_id: str  #: id of the key everything is now encrypted with (never the key)
    key_file: Path | None  #: the key file written, or None when keys come from settings
    retired: int  #: old keys removed from the key file


def key_file_of(app: App) -> Path:
    return app.settings.key_file or default_key_file(app.db.sqlite_path)


def _write_keys(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(f"{key}\n" for key in keys))
    os.replace(tmp, path)


async def rotate(app: App, *, retire: bool = False, actor: str = "cli") -> RotationReport:
    configured = app.settings.secret_key_list()
    key_file: Path | None = None
    keys = configured
    if not configured:
        key_file = key_file_of(app)
        keys = [Vault.generate_key(), *load_keys([], key_file)]
        _write_keys(key_file, keys)
    vault = Vault(keys)
    now = app.clock.now()
    async with app.db.write() as session:
        rows = await connection_store.rotate_secrets(session, vault, now=now)
        await audit.record(
            session,
            actor=actor,
            action="vault.rotate",
            target="connections",
            now=now,
            detail={"rows": rows, "key_id": vault.key_id, "retired": retire and bool(key_file)},
        )
    app.vault = vault
    retired = 0
    if retire and key_file is not None:
        _write_keys(key_file, keys[:1])
        retired = len(keys) - 1
    return RotationReport(rows=rows, key_id=key_id_of(keys[0]), key_file=key_file, retired=retired)

"""psycopg is the optional `postgres` extra: SQLite installs must work without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_billsync_runs_on_sqlite_without_psycopg(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.modules["psycopg"] = None  # as if the extra were not installed
        from billsync.app.root import build
        from billsync.config import Settings
        from billsync.store import leases, prepared

        async def main():
            settings = Settings(database_url="sqlite+aiosqlite:///{tmp_path}/b.db")
            app = build(settings)
            await app.db.migrate()
            async with app.db.write() as session:
                now = app.clock.now()
                claimed = await leases.claim_many(
                    session, owner="o", now=now, lease_seconds=5, limit=1
                )
            await app.db.dispose()
            print("ok", claimed)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "ok []"  # after the key file notice

"""Create a PostgreSQL database when it does not exist (used by `make run-cluster`).

    python scripts/create_database.py postgresql+psycopg://postgres@127.0.0.1:5432/billsync_demo

Connects to the server's `postgres` database with the URL's credentials; exits 1 with the
driver's message when the server cannot be reached or refuses.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def main(url: str) -> int:
    target = make_url(url)
    name = target.database
    if not name or target.get_backend_name() != "postgresql":
        print(f"not a PostgreSQL URL naming a database: {url}", file=sys.stderr)
        return 2
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if found is None:
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
                print(f"created database {name}")
    except sa.exc.OperationalError as exc:
        print(f"cannot reach PostgreSQL at {url}: {exc.orig}", file=sys.stderr)
        return 1
    finally:
        admin.dispose()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))

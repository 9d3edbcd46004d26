"""SQL census for `bench/sync_burst.py --sql-census`: imported at start-up by the
`billsync serve` process (its PYTHONPATH starts with this directory), it counts every SQL
statement by (store function, verb, table) and rewrites the counts to the file named by
SYNC_BURST_SQL_CENSUS every second: uvicorn re-raises SIGTERM after its shutdown, so
atexit handlers never run. Inactive when that variable is unset.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import Counter
from types import FrameType
from typing import Any

_TARGET = os.environ.get("SYNC_BURST_SQL_CENSUS")
_counts: Counter[tuple[str, str, str]] = Counter()
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.IGNORECASE)


def _caller(frame: FrameType | None) -> str:
    # Under SQLAlchemy's asyncio layer the statement runs in a child greenlet: the awaiting
    # coroutines are on the parent greenlet's stack.
    try:
        import greenlet

        current = greenlet.getcurrent()
        if current.parent is not None and current.parent.gr_frame is not None:
            frame = current.parent.gr_frame
    except ImportError:
        pass
    while frame is not None:
        path = frame.f_code.co_filename
        if "/billsync/" in path and not path.endswith("billsync/store/database.py"):
            return f"{path.split('/billsync/', 1)[1]}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
    table = _TABLE.search(statement)
    _counts[(_caller(sys._getframe(1)), verb, table.group(1) if table else "")] += 1


def _dump(path: str) -> None:
    lines = [f"{n}\t{verb}\t{table}\t{caller}" for (caller, verb, table), n in _counts.items()]
    tmp = f"{path}.tmp"
    with open(tmp, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _writer(path: str) -> None:
    while True:
        time.sleep(1)
        try:
            _dump(path)
        except OSError:
            pass


if _TARGET:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", _before)
    threading.Thread(target=_writer, args=(_TARGET,), daemon=True, name="sql-census").start()

"""`make test` without PostgreSQL: one summary line locally, never a skip in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_PG_TEST = "tests/cli/test_missing_database.py"


def _pytest(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BILLSYNC_TEST_POSTGRES_URL", "CI")}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", _PG_TEST],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_locally_postgres_tests_collapse_into_one_summary_line() -> None:
    result = _pytest(ci=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIPPED" not in result.stdout
    assert "not set" in result.stdout
    summary = [line for line in result.stdout.splitlines() if "PostgreSQL tests not run" in line]
    assert summary == [
        "1 PostgreSQL tests not run: BILLSYNC_TEST_POSTGRES_URL not set "
        "(export it to run them; in CI, CI=true, they fail instead)"
    ], result.stdout
    assert "1 deselected" in result.stdout


def test_in_ci_postgres_tests_fail_rather_than_skip() -> None:
    result = _pytest(ci=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BILLSYNC_TEST_POSTGRES_URL must be set in CI" in result.stdout
    assert "deselected" not in result.stdout
    assert "skipped" not in result.stdout

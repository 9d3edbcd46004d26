"""The README's "first 10 minutes", replayed against the real demo (issue #12, item 12).

`billsync demo --seed 5` runs on free ports in a temporary folder; the lines the README
quotes from its output must be in what it prints (ports, tokens and paths aside), and the
walk-through's shell blocks run there verbatim (only the ports and the token swapped for this
demo's), each command exiting 0, with what the README says they show.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import eventually
from tests.e2e.test_demo import demo

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[\w+ *\] ")
_TOKEN = re.compile(r"bst_[A-Za-z0-9_-]+")
_HOOK = re.compile(r"/webhooks/togai/1/[A-Za-z0-9_-]+")
#: the ports `make run` uses, which the README shows
README_PORTS = {"billsync": 8000, "togai": 8101, "razorpay": 8102}
#: runs the demo's seeding makes (5 customers, 5 invoices, 3 payments, 1 partial payment)
SEED_RUNS = 14


def _walkthrough() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## The first 10 minutes", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(section)]


def _normal(line: str, ports: dict[str, int]) -> str:
    """A line with this demo's ports, tokens and paths written as the README's."""
    for name, port in ports.items():
        line = line.replace(f"127.0.0.1:{port}", f"127.0.0.1:{README_PORTS[name]}")
    line = _HOOK.sub("/webhooks/togai/1/<token>", _TOKEN.sub("bst_<token>", line))
    line = re.sub(r"(key_file|database:) ?/\S+/", r"\1 /<path>/", line)
    return line.rstrip()


def _message(line: str) -> str:
    """A log line's event text, without its timestamp and key=value fields."""
    return re.split(r"\s{2,}| \w+=", _STAMP.sub("", line), maxsplit=1)[0]


async def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    billsync_bin = Path(sys.prefix) / "bin" / "billsync"
    assert billsync_bin.exists(), f"the walk-through runs .venv/bin/billsync: {billsync_bin}"
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    blocks = _walkthrough()
    started = next(body for language, body in blocks if language == "text")
    shells = [body for language, body in blocks if language == "sh"]
    outputs = [body for language, body in blocks if language == "text"]

    with demo(tmp_path, 5) as (togai_url, razorpay_url, log):
        text = log.read_text(errors="replace")
        found = re.search(r"Admin UI +(\S+)/ui +\(log in with token (\S+)\)", text)
        assert found is not None, text
        billsync_url, token = found.group(1), found.group(2)
        ports = {
            "billsync": int(billsync_url.rsplit(":", 1)[1]),
            "togai": int(togai_url.rsplit(":", 1)[1]),
            "razorpay": int(razorpay_url.rsplit(":", 1)[1]),
        }

        async def finished_runs() -> list[dict[str, object]] | None:
            async with httpx.AsyncClient(base_url=billsync_url) as http:
                r = await http.get(
                    "/api/v1/runs",
                    params={"limit": 100},
                    headers={"Authorization": f"Bearer {token}"},
                )
            runs: list[dict[str, object]] = r.json()
            return runs if all(x["status"] == "succeeded" for x in runs) else None

        async def seeded() -> bool:
            return len(await finished_runs() or []) >= SEED_RUNS

        await eventually(seeded, "the demo's seeding runs", within=60)

        # What the README quotes of the demo's output is what it prints.
        printed = [_normal(line, ports) for line in log.read_text(errors="replace").splitlines()]
        messages = {_message(line) for line in printed if _STAMP.match(line)}
        for line in started.splitlines():
            if line == "…" or line.startswith(".venv/bin/billsync"):
                continue  # make's echo of the command, and the lines left out
            if _STAMP.match(line):
                assert _message(line) in messages, (line, sorted(messages))
            else:
                assert _normal(line, ports) in printed, (line, printed)

        # The walk-through's shell blocks, verbatim but for this demo's ports and token.
        script = ["set -euo pipefail"]
        for number, body in enumerate(shells):
            for name, port in ports.items():
                body = body.replace(f"127.0.0.1:{README_PORTS[name]}", f"127.0.0.1:{port}")
            body = _TOKEN.sub(token, body)
            script += [f"echo '@@@ {number}'", body]
            if "/pay " in body:
                # "A second later there is a 15th run": wait for it (not in the README).
                script.append(
                    "until .venv/bin/billsync runs list --json --db ./billsync-demo.db | "
                    "python3 -c 'import json, sys; r = json.load(sys.stdin); "
                    f'sys.exit(not (len(r) > {SEED_RUNS} and r[0]["status"] == "succeeded"))\'; '
                    "do sleep 0.2; done"
                )
        script.append("echo '@@@ end'")
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", "\n".join(script)],
            cwd=tmp_path,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")},
                "COLUMNS": "100",
            },
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        out = done.stdout
        assert done.returncode == 0 and "@@@ end" in out, (out, done.stderr)
        shown = dict(
            (int(part.split("\n", 1)[0]), part.split("\n", 1)[1])
            for part in out.split("@@@ ")[1:-1]
        )
        commands = [" ".join(body.split()) for body in shells]

    def output_of(fragment: str) -> str:
        return next(shown[i] for i, command in enumerate(commands) if fragment in command)

    assert "succeeded" in output_of("runs list --limit 3")
    assert "payment_id" in output_of("/pay ")
    paid = output_of("mappings show $INVOICE")
    assert "│ 15 " in paid and "Razorpay paid" in paid
    assert "PAID (now)" in paid and "paid (now)" in paid
    [run] = json.loads(output_of("api/v1/runs?limit=1"))
    assert (run["id"], run["status"]) == (15, "succeeded")
    # The reconcile output the README shows is what it prints (exit 0: all matched).
    reconciled = output_of("reconcile --db")
    assert reconciled.strip() in [o.strip() for o in outputs], reconciled

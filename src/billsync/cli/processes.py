"""The billsync processes `billsync demo --workers N` starts: `billsync serve --no-worker`
and N `billsync worker`s, as separate OS processes, exactly as on several machines.

Each child runs in its own process group, so the terminal's Ctrl-C reaches the demo alone,
which stops them all: SIGTERM each (they finish or release their runs), then SIGKILL what
is still alive after the grace period. Should the demo itself be killed, Linux sends each
child SIGTERM (PR_SET_PDEATHSIG), so none is left orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import typer

from billsync.tasks import wait_event

#: How long `billsync serve --no-worker` may take to answer /healthz (it migrates, then
#: starts its pollers; the machine may be busy).
SERVE_START_SECONDS = 60.0
#: prctl(2) option: the signal the kernel sends a child when its parent dies.
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when the demo dies (None elsewhere).
    prctl is looked up here, before fork: the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


@dataclass
class Children:
    """The billsync processes the demo started, by name ("serve", "worker-1", …)."""

    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> None:
        self.procs[name] = subprocess.Popen(
            argv,
            # Their own process group: the terminal's Ctrl-C reaches the demo only, which
            # sends each child one SIGTERM (uvicorn reads a second signal as "exit now").
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # it only calls prctl
        )

    def exited(self) -> tuple[str, int] | None:
        """The first child found dead, with its exit status, else None."""
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None:
                return name, code
        return None

    def stop(self, grace: float) -> None:
        """SIGTERM every child, wait up to `grace` seconds in all, then SIGKILL the rest."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                typer.echo(f"{name} (pid {proc.pid}) did not stop in time: killed", err=True)
                proc.kill()
                proc.wait()


def billsync_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "billsync", *args]


async def wait_healthy(url: str, children: Children, stop: asyncio.Event) -> bool:
    """True once serve answers /healthz; False if asked to stop or a child died first."""
    deadline = time.monotonic() + SERVE_START_SECONDS
    async with httpx.AsyncClient(timeout=2) as http:
        while not stop.is_set() and children.exited() is None:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return True
            if time.monotonic() > deadline:
                typer.echo(f"billsync serve did not answer {url}/healthz in time", err=True)
                return False
            await wait_event(stop, 0.2)
    return False

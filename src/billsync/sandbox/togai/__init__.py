"""A local stand-in for the Togai API, as togai-client 1.0.3 sees it. Test and demo use only."""

from __future__ import annotations

from billsync.sandbox.togai.app import create_app
from billsync.sandbox.togai.config import TogaiSandboxConfig

__all__ = ["TogaiSandboxConfig", "create_app"]

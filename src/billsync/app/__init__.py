"""The composition root (root.py) and the operations the faces share (one module per noun)."""

from __future__ import annotations

from billsync.app.root import App, build, load_settings

__all__ = ["App", "build", "load_settings"]

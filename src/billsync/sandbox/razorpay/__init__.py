"""The Razorpay sandbox: the /v1 API subset billsync uses, in memory, with webhooks and faults.

`create_app(RazorpaySandboxConfig(...))` returns the ASGI app; see docs/sandbox-razorpay.md.
"""

from __future__ import annotations

from billsync.sandbox.razorpay.app import create_app
from billsync.sandbox.razorpay.config import RazorpaySandboxConfig

__all__ = ["RazorpaySandboxConfig", "create_app"]

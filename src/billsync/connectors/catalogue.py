"""The explicit list of apps billsync ships. Adding an app is one line here, nothing else.

Built on call, not at import (nothing is constructed at import time); `Registry` rejects
duplicate app, trigger and action names when it is built.
"""

from __future__ import annotations

from billsync.connectors import razorpay, togai
from billsync.connectors.spec import Registry


def default_registry() -> Registry:
    """Every shipped app, in a stable order (Togai first: it is the system of record)."""
    return Registry((togai.APP, razorpay.APP))

"""Which API base URLs a connection may point at.

A connection's secrets are sent to its base URL, and verifying a connection makes billsync
call whatever the URL names, so the URL is checked before anything is sent:

- `https://` only. Plain `http://` is allowed only for a connection marked as a local
  sandbox (`sandbox=yes`) and only toward this machine (127.0.0.0/8, ::1, `localhost`):
  billsync's own sandboxes and tests. Nothing else (`file:`, `gopher:`, ...) is ever tried.
- no user name or password in the URL (`https://user:pass@host`): credentials belong in
  the secret fields, where they are encrypted and never shown;
- no query or fragment, no whitespace or control characters, a host, a valid port, at most
  MAX_LENGTH characters.

Private and internal https hosts are allowed (a self-hoster may reach the providers through
an internal gateway); what keeps the URL from being a port scanner is that verification
answers one generic message for every failure (app/connections.verify_values).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

MAX_LENGTH = 2048
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def problem(value: str, *, sandbox: bool) -> str | None:
    """Why `value` is not an acceptable API base URL, or None when it is."""
    if len(value) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return "is not a valid URL (check the host and port)"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return "must be an https:// URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not contain a user name or password (use the secret fields)"
    host = parts.hostname or ""
    if not host:
        return "must name a host"
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        return "must not contain a query or fragment"
    if port == 0:
        return "is not a valid URL (check the host and port)"
    if scheme == "http":
        if not sandbox:
            return "must be an https:// URL (http:// only for a local sandbox: set sandbox=yes)"
        if not is_loopback(host):
            return "http:// is allowed only toward this machine (127.0.0.1, ::1, localhost)"
    return None

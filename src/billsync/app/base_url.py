"""Which API base URLs a connection may point at.

A connection's secrets are sent to its base URL, and verifying a connection makes billsync
call whatever the URL names, so the URL is checked before anything is sent:

- `https://` only. Plain `http://` is allowed only for a connection marked as a local
  sandbox (`sandbox=yes`) and only toward this machine (127.0.0.0/8, ::1, `localhost`):
  billsync's own sandboxes and tests. Nothing else (`file:`, `gopher:`, ...) is ever tried.
- no user name or password in the URL (`https://user:pass@host`): credentials belong in
  the secret fields, where they are encrypted and never shown;
- the host only: no path (the providers' API paths start at the host), no query or
  fragment, no whitespace or control characters, a host, a valid port, at most
  MAX_LENGTH characters.

HTTPS_PATTERN and SANDBOX_PATTERN state all of it as regular expressions (ASCII host names
or dotted IPv4; the only IPv6 literal is the loopback [::1]); the OpenAPI document publishes
them, and `problem` refuses whatever they do not match, so the document and the check cannot
drift apart.

Private and internal https hosts are allowed (a self-hoster may reach the providers through
an internal gateway); what keeps the URL from being a port scanner is that verification
answers one generic message for every failure (app/connections.verify_values).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_LENGTH = 2048
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*\.?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LOOPBACK_HOST = rf"(?:localhost\.?|127(?:\.{_OCTET}){{3}}|\[::1\])"
_PORT = (
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}"
    r"|[1-9][0-9]{0,3}))?"
)
#: The providers' API paths start at the host: a path is always a mistake (often "/v1").
_PATH = r"/?"
#: Any acceptable https base URL.
HTTPS_PATTERN = rf"^https://{_HOST}{_PORT}{_PATH}$"
#: An https base URL, or plain http toward this machine (for `sandbox=yes` connections).
SANDBOX_PATTERN = rf"^(?:https://{_HOST}|http://{_LOOPBACK_HOST}){_PORT}{_PATH}$"
_SANDBOX = re.compile(SANDBOX_PATTERN)


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
    if parts.path not in ("", "/"):
        return (
            f"must name the host only: remove {parts.path.rstrip('/')!r} from the end of "
            "base_url (the API paths start at the host)"
        )
    if port == 0:
        return "is not a valid URL (check the host and port)"
    if scheme == "http":
        if not sandbox:
            return "must be an https:// URL (http:// only for a local sandbox: set sandbox=yes)"
        if not is_loopback(host):
            return "http:// is allowed only toward this machine (127.0.0.1, ::1, localhost)"
    # The pattern's other half (https only unless sandbox) is the scheme check above.
    if not _SANDBOX.fullmatch(value):
        return (
            "is not a valid URL: https://host[:port], the host an ASCII name or IPv4 address "
            "(IPv6 only [::1], for a sandbox)"
        )
    return None

"""Basic auth with the sandbox's key pair, refused with Razorpay's 401 bodies."""

from __future__ import annotations

import base64
import binascii
import hmac

from billsync.sandbox.razorpay.error import RazorpayError, not_applicable


class Guard:
    def __init__(self, key_id: str, key_secret: str) -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        token = base64.b64encode(f"{key_id}:{key_secret}".encode()).decode()
        self._expected = f"Basic {token}".encode()

    def check(self, header: str | None) -> None:
        """Raise unless `header` is exactly `Basic base64(key_id:key_secret)`."""
        if header is not None and hmac.compare_digest(header.encode(), self._expected):
            return
        raise self._refusal(header)

    def _refusal(self, header: str | None) -> RazorpayError:
        # Razorpay rejects "BASIC …", "basic …" and quoted tokens alike (razorpay-api.md §1.1).
        if header is None or not header.startswith("Basic "):
            return not_applicable("Authentication failed", 401)
        try:
            key_id, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return not_applicable("Authentication failed", 401)
        if not hmac.compare_digest(key_id.encode(), self.key_id.encode()):
            return not_applicable("The api key provided is invalid", 401)
        if not hmac.compare_digest(secret.encode(), self.key_secret.encode()):
            return not_applicable("The api secret provided is invalid", 401)
        return not_applicable("Authentication failed", 401)

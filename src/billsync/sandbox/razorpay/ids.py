"""Razorpay identifiers: a prefix, an underscore and 14 case-sensitive alphanumerics."""

from __future__ import annotations

from billsync.sandbox.razorpay.error import RazorpayError, not_found

ID_LEN = 14


def canonical(raw: str, prefix: str, field: str | None = None) -> str:
    """The full id for `raw` (prefix optional, as Razorpay accepts); malformed ids are refused.

    Razorpay reports a malformed id without its prefix: "LQPd9lomgwDE5Fs is not a valid id".
    """
    bare = raw[len(prefix) + 1 :] if raw.startswith(prefix + "_") else raw
    if len(bare) != ID_LEN or not bare.isalnum() or not bare.isascii():
        if not bare:
            raise not_found(field)
        raise RazorpayError(f"{bare} is not a valid id", field=field)
    return prefix + "_" + bare

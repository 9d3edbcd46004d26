"""The UI session cookie: signed, expiring, and useless when tampered with."""

from __future__ import annotations

import base64
import json

from billsync.store.vault import Vault
from billsync.web import session as sessions


def test_a_session_round_trips_through_its_cookie() -> None:
    codec = sessions.SessionCodec(b"k" * 32)
    original = sessions.new_session("ops")
    decoded = codec.decode(codec.encode(original))
    assert decoded == original
    assert decoded is not None and decoded.logged_in


def test_an_anonymous_session_is_not_logged_in() -> None:
    codec = sessions.SessionCodec(b"k" * 32)
    decoded = codec.decode(codec.encode(sessions.new_session()))
    assert decoded is not None and not decoded.logged_in and decoded.csrf


def test_a_tampered_payload_or_another_key_is_refused() -> None:
    codec = sessions.SessionCodec(b"k" * 32)
    cookie = codec.encode(sessions.new_session(None))
    body, _, signature = cookie.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["n"] = "admin"  # try to log in without a token
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    assert codec.decode(f"{forged}.{signature}") is None
    assert sessions.SessionCodec(b"x" * 32).decode(cookie) is None
    assert codec.decode("garbage") is None
    assert codec.decode("") is None


def test_a_session_expires() -> None:
    codec = sessions.SessionCodec(b"k" * 32, max_age=60)
    found = sessions.new_session("ops")
    cookie = codec.encode(found)
    assert codec.decode(cookie, now=found.issued_at + 59) is not None
    assert codec.decode(cookie, now=found.issued_at + 61) is None


def test_csrf_must_match_exactly() -> None:
    found = sessions.new_session("ops")
    assert sessions.csrf_ok(found, found.csrf)
    assert not sessions.csrf_ok(found, None)
    assert not sessions.csrf_ok(found, "")
    assert not sessions.csrf_ok(found, found.csrf + "x")


def test_the_signing_key_survives_a_restart_and_changes_with_the_newest_key() -> None:
    """The UI derives its signing key from the newest secret key: a restarted server
    (a new Vault on the same keys) accepts the cookie; after a rotation it does not."""
    old, new = Vault.generate_key(), Vault.generate_key()
    before = sessions.SessionCodec(Vault([old]).derived_key("ui-session"))
    cookie = before.encode(sessions.new_session("ops"))
    restarted = sessions.SessionCodec(Vault([old]).derived_key("ui-session"))
    decoded = restarted.decode(cookie)
    assert decoded is not None and decoded.token_name == "ops"
    rotated = sessions.SessionCodec(Vault([new, old]).derived_key("ui-session"))
    assert rotated.decode(cookie) is None
    # Derived keys are per purpose and are not the Fernet key itself.
    assert Vault([old]).derived_key("other") != Vault([old]).derived_key("ui-session")
    assert old.encode() not in Vault([old]).derived_key("ui-session")

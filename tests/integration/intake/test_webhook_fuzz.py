"""Webhook intake under hostile input (issue 11): nonsense numbers in signed bodies, random
bodies, headers, sizes and signatures. Never a 5xx other than the documented 503, never a
stored event for an unauthenticated delivery."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billsync.store import events
from tests.integration.intake.conftest import WEBHOOK_SECRET, Env, invoice_paid, sign

ANSWERS = {200, 400, 401, 413, 503}


async def _stored(env: Env) -> int:
    async with env.app.db.read() as session:
        return len(await events.list_recent(session, limit=1000))


@pytest.mark.parametrize(
    "created_at", [10**30, -(10**30), 99999999999999, 2**63, -1, 1.5e300, "soon", None, True]
)
async def test_signed_webhooks_with_nonsense_times_are_stored_not_500(
    env: Env, created_at: Any
) -> None:
    envelope = invoice_paid()
    envelope["created_at"] = created_at
    envelope["payload"]["payment"]["entity"]["created_at"] = created_at
    r = await env.razorpay_post(envelope, event_id="evt_t", secret=WEBHOOK_SECRET)
    assert r.status_code in (200, 400), r.text


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _envelope_variant(data: st.DataObject) -> bytes:
    """A Razorpay-shaped envelope with random values spliced in, or random JSON, or bytes."""
    kind = data.draw(st.sampled_from(["shaped", "json", "bytes"]))
    if kind == "bytes":
        return data.draw(st.binary(max_size=2048))
    if kind == "json":
        return json.dumps(data.draw(_JSON)).encode()
    envelope: dict[str, Any] = invoice_paid(
        event=data.draw(st.sampled_from(["invoice.paid", "payment.captured", "refund.processed"]))
    )
    for _ in range(data.draw(st.integers(0, 3))):
        where = data.draw(st.sampled_from(["top", "payment", "invoice"]))
        key = data.draw(st.sampled_from(["created_at", "id", "amount", "notes", "status", "x"]))
        value = data.draw(_JSON)
        if where == "top":
            envelope[key] = value
        else:
            envelope["payload"][where]["entity"][key] = value
    return json.dumps(envelope).encode()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_razorpay_intake_fuzz(env: Env, data: st.DataObject) -> None:
    body = _envelope_variant(data)
    signed = data.draw(st.sampled_from(["right", "wrong", "none", "garbage"]))
    headers = {"Content-Type": data.draw(st.sampled_from(["application/json", "text/plain", ""]))}
    if signed == "right":
        headers["X-Razorpay-Signature"] = sign(body, WEBHOOK_SECRET)
    elif signed == "wrong":
        headers["X-Razorpay-Signature"] = sign(body, "not-the-secret")
    elif signed == "garbage":
        headers["X-Razorpay-Signature"] = data.draw(
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
        )
    if data.draw(st.booleans()):
        headers["X-Razorpay-Event-Id"] = data.draw(
            st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=300)
        )
    before = await _stored(env)
    r = await env.http.post(
        f"/webhooks/razorpay/{env.razorpay_id}",
        content=body,
        headers={k: v for k, v in headers.items() if v},
    )
    assert r.status_code in ANSWERS, (r.status_code, r.text)
    if signed != "right":
        assert r.status_code == 401
        assert await _stored(env) == before
    r.json()  # every answer is JSON


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=512) | _JSON.map(lambda v: json.dumps(v).encode()),
    token=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=1,
        max_size=60,
    ),
    connection=st.integers(min_value=1, max_value=2**63 - 1),
)
async def test_togai_intake_fuzz_with_wrong_tokens(
    env: Env, body: bytes, token: str, connection: int
) -> None:
    before = await _stored(env)
    r = await env.http.post(f"/webhooks/togai/{connection}/{token}", content=body)
    assert r.status_code == 401, (r.status_code, r.text)
    assert await _stored(env) == before


async def test_oversized_bodies_are_413_whatever_the_signature(env: Env) -> None:
    body = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    for headers in ({}, {"X-Razorpay-Signature": sign(body, WEBHOOK_SECRET)}):
        r = await env.http.post(
            f"/webhooks/razorpay/{env.razorpay_id}", content=body, headers=headers
        )
        assert r.status_code == 413


async def test_nul_characters_in_a_signed_body_are_stored_not_500(env: Env) -> None:
    """PostgreSQL's JSONB cannot hold U+0000; a signed body carrying one (a customer-typed
    note, say) is still stored, with U+FFFD in its place, on both databases."""
    envelope = invoice_paid()
    envelope["payload"]["payment"]["entity"]["notes"] = {"memo\u0000key": "a\u0000b"}
    envelope["payload"]["payment"]["entity"]["id"] = "pay_N\u0000UL"
    r = await env.razorpay_post(envelope, event_id="evt_nul", secret=WEBHOOK_SECRET)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 1
    async with env.app.db.read() as session:
        (row,) = await events.list_recent(session, limit=10)
    text = json.dumps(row.payload) + row.external_id
    assert "\\u0000" not in text and "\u0000" not in text
    assert row.payload["payment"]["notes"] == {"memo\ufffdkey": "a\ufffdb"}
    assert "pay_N\ufffdUL" in row.external_id
    # The same delivery again is a duplicate, not a second event.
    again = await env.razorpay_post(envelope, event_id="evt_nul2", secret=WEBHOOK_SECRET)
    assert again.json()["stored"] == 0

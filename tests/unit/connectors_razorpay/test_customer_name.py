"""The derivation of a Razorpay customer name from a Togai account name."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billsync.connectors.razorpay.customer_name import ACCEPTED, customer_name


@pytest.mark.parametrize(
    ("togai", "razorpay"),
    [
        ("Acme, Inc.", "Acme Inc."),
        ("Tata-Steel & Co", "Tata Steel and Co"),
        ("Foo_Bar Ltd", "Foo Bar Ltd"),
        ("A+B Corp", "A B Corp"),
        ("José Müller", "Jose Muller"),
        ("Straße & Søn AG", "Strasse and Son AG"),
        ("Łódź Œuvre", "Lodz OEuvre"),
        ("O\u2019Brien (India) Pvt. Ltd.", "O'Brien (India) Pvt. Ltd."),
        ("  spaced \t out\nname  ", "spaced out name"),
        ("ＡＣＭＥ　Ｃｏｒｐ", "ACME Corp"),  # full-width letters and space
        ("R/D @ Home", "R/D @ Home"),
        ("Al", "Al (Togai account)"),
        ("", "(Togai account)"),
        ("東京株式会社", "(Togai account)"),
        ("-,-", "(Togai account)"),
        ("x" * 60, "x" * 50),
        ("Word " * 12, ("Word " * 10).strip()),
    ],
)
def test_real_world_names(togai: str, razorpay: str) -> None:
    assert customer_name(togai) == razorpay
    assert ACCEPTED.fullmatch(razorpay)


@settings(max_examples=500)
@given(st.text())
@example("\u0301\u0301\u0301")  # combining marks only
@example("ǅ")  # titlecase digraph, decomposes to two letters
def test_any_string_becomes_an_accepted_name_and_a_fixed_point(name: str) -> None:
    derived = customer_name(name)
    assert ACCEPTED.fullmatch(derived), derived
    assert derived == derived.strip() and "  " not in derived
    assert customer_name(derived) == derived


def test_names_razorpay_accepts_already_are_kept() -> None:
    for name in ("Gaurav Kumar", "ACME Enterprise Account", "abc"):
        assert customer_name(name) == name

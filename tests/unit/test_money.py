"""Exact Decimal ↔ minor-unit conversion: round trips, exactness, refusals (never rounding)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billsync import money

TWO = ["INR", "USD", "EUR", "GBP", "SGD"]
ZERO = sorted(money.ZERO_DECIMAL)
THREE = sorted(money.THREE_DECIMAL)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("299.00", "INR", 29900),
        ("299", "INR", 29900),
        ("1.00", "INR", 100),
        ("0.5", "USD", 50),
        ("1500", "JPY", 1500),
        ("99.99", "KWD", 99990),
        ("99.990", "KWD", 99990),
        ("12345678901234567890123456789.01", "USD", 1234567890123456789012345678901),
    ],
)
def test_known_conversions(amount: str, currency: str, minor: int) -> None:
    assert money.to_minor(Decimal(amount), currency) == minor


def test_exponents_follow_the_reference_table() -> None:
    assert money.exponent("inr") == 2
    assert money.exponent("JPY") == 0
    assert money.exponent("KWD") == 3
    assert len(money.ZERO_DECIMAL) == 16 and len(money.THREE_DECIMAL) == 6


@pytest.mark.parametrize(
    ("amount", "currency", "fragment"),
    [
        ("10.001", "INR", "more than 2 decimals"),
        ("10.5", "JPY", "more than 0 decimals"),
        ("99.991", "KWD", "must end in 0"),
        ("0.99", "INR", "below the minimum of 1.00 INR"),
        ("0", "INR", "below the minimum"),
        ("-5", "USD", "negative"),
        ("NaN", "USD", "not a finite amount"),
        ("Infinity", "INR", "not a finite amount"),
    ],
)
def test_refusals_name_the_object(amount: str, currency: str, fragment: str) -> None:
    with pytest.raises(money.AmountError) as info:
        money.to_minor(Decimal(amount), currency, label="invoice inv_42")
    assert fragment in str(info.value)
    assert str(info.value).startswith("invoice inv_42: ")
    assert info.value.label == "invoice inv_42"
    assert info.value.currency == currency


def test_minimum_can_be_skipped_for_reporting_amounts() -> None:
    assert money.to_minor(Decimal("0.50"), "INR", check_minimum=False) == 50
    assert money.to_minor(Decimal("0"), "USD") == 0  # no stated minimum for USD


def test_floats_and_bad_codes_are_programming_errors() -> None:
    with pytest.raises(TypeError):
        money.to_minor(1.1, "INR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        money.from_minor(1.0, "INR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an ISO 4217"):
        money.exponent("RUPEES")


def test_from_minor_keeps_the_currency_scale() -> None:
    assert str(money.from_minor(29900, "INR")) == "299.00"
    assert str(money.from_minor(5, "INR")) == "0.05"
    assert str(money.from_minor(99990, "KWD")) == "99.990"
    assert str(money.from_minor(1500, "JPY")) == "1500"
    assert str(money.from_minor(-150, "USD")) == "-1.50"
    assert str(money.from_minor(0, "EUR")) == "0.00"


@given(minor=st.integers(min_value=100, max_value=10**30), currency=st.sampled_from(TWO + ZERO))
def test_round_trip_from_minor(minor: int, currency: str) -> None:
    assert money.to_minor(money.from_minor(minor, currency), currency) == minor


@given(tens=st.integers(min_value=0, max_value=10**25), currency=st.sampled_from(THREE))
def test_round_trip_three_decimals(tens: int, currency: str) -> None:
    minor = tens * 10
    assert money.to_minor(money.from_minor(minor, currency), currency) == minor


@given(
    amount=st.decimals(min_value=1, max_value=10**12, places=2, allow_nan=False),
    currency=st.sampled_from(TWO),
)
def test_two_decimal_amounts_convert_exactly(amount: Decimal, currency: str) -> None:
    minor = money.to_minor(amount, currency)
    assert Decimal(minor) / 100 == amount
    assert money.from_minor(minor, currency) == amount


@given(
    whole=st.integers(min_value=1, max_value=10**12),
    extra=st.integers(min_value=1, max_value=9),
    currency=st.sampled_from(TWO),
)
def test_sub_unit_amounts_are_refused_not_rounded(whole: int, extra: int, currency: str) -> None:
    # whole cents plus a nonzero thousandth: no exact cent value exists.
    amount = Decimal(whole).scaleb(-2) + Decimal(extra).scaleb(-3)
    with pytest.raises(money.AmountError):
        money.to_minor(amount, currency, check_minimum=False)


@given(
    amount=st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False),
    currency=st.sampled_from(TWO + ZERO + THREE),
)
def test_conversion_is_exact_or_refused(amount: Decimal, currency: str) -> None:
    try:
        minor = money.to_minor(amount, currency, check_minimum=False)
    except money.AmountError:
        scale = Decimal(10) ** money.exponent(currency)
        step = 10 if currency in money.THREE_DECIMAL else 1
        scaled = amount * scale
        assert scaled != scaled.to_integral_value() or int(scaled) % step
    else:
        assert money.from_minor(minor, currency) == amount


@given(minor=st.integers(min_value=0, max_value=99))
def test_inr_minimum_is_one_rupee(minor: int) -> None:
    with pytest.raises(money.AmountError, match="minimum"):
        money.to_minor(money.from_minor(minor, "INR"), "INR")

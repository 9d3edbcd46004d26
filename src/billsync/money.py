"""Exact conversion between Decimal major units and integer minor units (paise, cents).

Money crosses systems only through these two functions (design invariant 7). They never
round: an amount that has no exact minor-unit form, or is below the provider minimum,
raises AmountError naming the object it belongs to. Stdlib only, so any layer may use it;
connectors turn AmountError into errors.RejectedError.
"""

from __future__ import annotations

from decimal import Decimal

#: Currencies without minor units (Razorpay international payments, reference §10).
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split())
#: Currencies with three decimals. Razorpay requires the last digit to be 0 (99.99 KWD →
#: 99990), so only multiples of 10 minor units are accepted.
THREE_DECIMAL = frozenset("BHD IQD JOD KWD OMR TND".split())
_THREE_DECIMAL_STEP = 10

#: Smallest chargeable amount in minor units, where the reference states one
#: ("The amount must be at least INR 1.00").
MINIMUM_MINOR: dict[str, int] = {"INR": 100}


class AmountError(ValueError):
    """An amount cannot be expressed exactly in minor units, or is not chargeable."""

    def __init__(self, message: str, *, label: str, amount: object, currency: str) -> None:
        super().__init__(message)
        self.label = label
        self.amount = amount
        self.currency = currency


def _code(currency: str) -> str:
    code = currency.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
    return code


def exponent(currency: str) -> int:
    """Number of decimals of `currency`'s minor unit (0, 2 or 3)."""
    code = _code(currency)
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_minor(
    amount: Decimal, currency: str, *, label: str = "amount", check_minimum: bool = True
) -> int:
    """Convert a major-unit Decimal to minor units, exactly, or raise AmountError.

    `label` names what the amount belongs to (e.g. "invoice inv_123") in the message.
    With `check_minimum`, amounts below the currency's chargeable minimum are refused.
    """
    code = _code(currency)
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        # A float has already lost exactness before it reaches us.
        raise TypeError(f"{label}: amount must be a Decimal or int, not {type(amount).__name__}")
    value = Decimal(amount)
    if not value.is_finite():
        raise AmountError(
            f"{label}: {value} {code} is not a finite amount",
            label=label,
            amount=amount,
            currency=code,
        )
    if value < 0:
        raise AmountError(
            f"{label}: {value} {code} is negative", label=label, amount=amount, currency=code
        )
    exp = exponent(code)
    _sign, digits, dexp = value.as_tuple()
    assert isinstance(dexp, int)  # finite, checked above
    shift = dexp + exp
    # Integer arithmetic on the digit tuple: Decimal multiplication would round past
    # the context precision (28 digits) instead of failing.
    coefficient = int("".join(map(str, digits)) or "0")
    minor: int
    if shift >= 0:
        minor = coefficient * 10**shift
    else:
        minor, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise AmountError(
                f"{label}: {value} {code} has more than {exp} decimals and cannot be "
                f"charged exactly",
                label=label,
                amount=amount,
                currency=code,
            )
    if exp == 3 and minor % _THREE_DECIMAL_STEP:
        raise AmountError(
            f"{label}: {value} {code} must end in 0 in its third decimal for Razorpay",
            label=label,
            amount=amount,
            currency=code,
        )
    minimum = MINIMUM_MINOR.get(code, 0)
    if check_minimum and minor < minimum:
        raise AmountError(
            f"{label}: {value} {code} is below the minimum of {from_minor(minimum, code)} {code}",
            label=label,
            amount=amount,
            currency=code,
        )
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    """Convert integer minor units to a major-unit Decimal with the currency's decimals."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
    exp = exponent(currency)
    digits = tuple(int(d) for d in str(abs(minor)))
    return Decimal((1 if minor < 0 else 0, digits, -exp))

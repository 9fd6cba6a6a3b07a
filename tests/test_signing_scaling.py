"""Decimal -> chain integer scaling: exact by default, the SDK's truncation on request."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paradexctl.signing import PrecisionError, SigningError, to_chain_int, to_chain_int_truncating


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("0.015", 1_500_000),
        ("97123.5", 9_712_350_000_000),
        ("1.2345", 123_450_000),
        ("3456.78", 345_678_000_000),
        ("0.00000001", 1),
        ("1.500000000", 150_000_000),  # trailing zeros beyond 8 places are exact
        ("1e3", 100_000_000_000),
        ("1E-8", 1),
        ("-0", 0),
        ("0E-30", 0),
        (" 2 ", 200_000_000),
    ],
)
def test_exact_scaling(text: str, expected: int) -> None:
    assert to_chain_int(text) == expected
    assert to_chain_int(Decimal(text.strip())) == expected
    assert to_chain_int_truncating(text) == expected


def test_other_decimals() -> None:
    with pytest.raises(PrecisionError):
        to_chain_int("1.5", decimals=0)
    assert to_chain_int("1.5", decimals=1) == 15
    assert to_chain_int("7", decimals=0) == 7
    assert to_chain_int(7) == 700_000_000  # type: ignore[arg-type]
    for bad in (-1, 31, True, 1.0):
        with pytest.raises(SigningError, match="decimals"):
            to_chain_int("1", decimals=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "truncated"),
    [
        ("0.123456789", 12_345_678),
        ("100000.000000019", 10_000_000_000_001),
        ("0.000000009", 0),
        ("1e-40", 0),
        ("1.999999999999999999999999999999999999", 199_999_999),
    ],
)
def test_excess_precision_is_refused_exact_but_truncated_by_sdk_variant(
    text: str, truncated: int
) -> None:
    with pytest.raises(PrecisionError, match="more than 8 decimal places") as info:
        to_chain_int(text)
    assert "does not round" in str(info.value)
    assert to_chain_int_truncating(text) == truncated


@pytest.mark.parametrize(
    "bad", ["NaN", "sNaN", "Infinity", "-inf", "-1", "-0.5", "abc", "", "1.2.3", "1e80", 1.5, None]
)
def test_invalid_amounts(bad: object) -> None:
    for fn in (to_chain_int, to_chain_int_truncating):
        with pytest.raises(SigningError):
            fn(bad)  # type: ignore[arg-type]


def test_huge_exponents_do_not_blow_up() -> None:
    with pytest.raises(SigningError, match="too large"):
        to_chain_int("1e999999999")
    with pytest.raises(PrecisionError):
        to_chain_int("1e-999999999")
    assert to_chain_int_truncating("1e-999999999") == 0
    assert to_chain_int("0e999999999") == 0


@settings(max_examples=1000, deadline=None)
@given(units=st.integers(0, 10**30), extra=st.integers(0, 9))
def test_round_trip_and_truncation(units: int, extra: int) -> None:
    exact = Decimal(f"{units}E-8")  # built from digits: no context rounding
    assert to_chain_int(exact) == units
    assert to_chain_int(str(exact)) == units
    longer = Decimal(f"{units * 10 + extra}E-9")
    if extra:
        with pytest.raises(PrecisionError):
            to_chain_int(longer)
    else:
        assert to_chain_int(longer) == units
    assert to_chain_int_truncating(longer) == units

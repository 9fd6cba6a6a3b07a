"""Human decimals -> chain integers (fixed point, ``paraclear_decimals`` = 8).

Paradex signs sizes and prices as integers in units of ``10^-8``. The SDK computes
``int(Decimal(x).scaleb(8))``, which silently truncates excess digits: the order then signed is
not the order the user typed. :func:`to_chain_int` refuses instead (``PrecisionError``);
:func:`to_chain_int_truncating` keeps the SDK's behaviour for the rare caller that needs to
reproduce it (and for the reference vectors). Both work on the exact decimal digits, so they
never lose precision to a ``decimal`` context, and both refuse NaN, infinities, negative
numbers, floats and values that do not fit in a felt.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import PrecisionError, SigningError

__all__ = ["to_chain_int", "to_chain_int_truncating"]

_MAX_DIGITS = 76  # a felt has at most 76 decimal digits


def _pow10(n: int) -> int:
    result: int = 10**n
    return result


def _parts(value: Decimal | str | int, decimals: int) -> tuple[Decimal, int, int]:
    """``(decimal, coefficient, exponent + decimals)``: the value is ``coefficient * 10^e``."""
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 30:
        raise SigningError("decimals must be an integer between 0 and 30")
    if isinstance(value, (bool, float)):
        raise SigningError("amounts must be Decimal or str, never float")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise SigningError(f"{value!r} is not a decimal number") from None
    else:
        raise SigningError(f"cannot scale a {type(value).__name__}")
    if not d.is_finite():
        raise SigningError(f"{value} is not a finite number")
    if d.is_signed() and d != 0:
        raise SigningError(f"{value} is negative; sizes and prices are non-negative")
    _, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)  # finite
    coefficient = int("".join(map(str, digits))) if digits else 0
    e = exponent + decimals
    if coefficient and d.adjusted() + decimals >= _MAX_DIGITS:
        raise SigningError(f"{value} is too large to sign")
    return d, coefficient, e


def to_chain_int(value: Decimal | str, decimals: int = 8) -> int:
    """``value * 10^decimals`` exactly; :class:`PrecisionError` if that is not an integer."""
    d, coefficient, e = _parts(value, decimals)
    if coefficient == 0:
        return 0
    if e >= 0:
        return coefficient * _pow10(e)
    if -e > len(str(coefficient)):
        q, rem = 0, coefficient
    else:
        q, rem = divmod(coefficient, _pow10(-e))
    if rem:
        raise PrecisionError(
            f"{d} has more than {decimals} decimal places; the exchange signs amounts in "
            f"units of 1e-{decimals} and paradexctl does not round them"
        )
    return q


def to_chain_int_truncating(value: Decimal | str, decimals: int = 8) -> int:
    """The SDK's scaling: ``value * 10^decimals`` truncated toward zero (excess digits dropped)."""
    _, coefficient, e = _parts(value, decimals)
    if coefficient == 0:
        return 0
    if e >= 0:
        return coefficient * _pow10(e)
    if -e > len(str(coefficient)):
        return 0
    return coefficient // _pow10(-e)

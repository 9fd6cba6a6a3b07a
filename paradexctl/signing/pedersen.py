"""Starknet's Pedersen hash and ``compute_hash_on_elements``.

``pedersen(a, b) = x(SHIFT + a_low*P0 + a_high*P1 + b_low*P2 + b_high*P3)`` where ``*_low`` are
the low 248 bits and ``*_high`` the top 4 bits of the 252-bit inputs (StarkEx "Pedersen hash
function" documentation; ``starknet-crypto``'s ``pedersen_hash``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from . import tables
from .curve import FIELD_PRIME
from .errors import SigningError

__all__ = ["compute_hash_on_elements", "pedersen", "pedersen_cached_left"]

_LOW_BITS = 248
_LOW_MASK = (1 << _LOW_BITS) - 1


def pedersen(a: int, b: int) -> int:
    """The Pedersen hash of two field elements (``0 <= a, b < FIELD_PRIME``)."""
    if not (0 <= a < FIELD_PRIME and 0 <= b < FIELD_PRIME):
        raise SigningError("Pedersen input is not a field element (0 <= value < FIELD_PRIME)")
    tables.note_heavy_use()
    t = tables.table
    X, Y = tables.PEDERSEN_POINTS[0]
    Z = 1
    X, Y, Z = t("P0").accumulate(X, Y, Z, a & _LOW_MASK)
    if a >> _LOW_BITS:
        X, Y, Z = t("P1").accumulate(X, Y, Z, a >> _LOW_BITS)
    X, Y, Z = t("P2").accumulate(X, Y, Z, b & _LOW_MASK)
    if b >> _LOW_BITS:
        X, Y, Z = t("P3").accumulate(X, Y, Z, b >> _LOW_BITS)
    if Z == 0:  # pragma: no cover - would need a discrete-log relation between the points
        raise SigningError("Pedersen hash input is unhashable")
    p = FIELD_PRIME
    zi = pow(Z, -1, p)
    return X * zi % p * zi % p


@lru_cache(maxsize=1024)
def _left_point(a: int) -> tuple[int, int]:
    """``SHIFT + a_low*P0 + a_high*P1`` in affine form: the half of ``pedersen(a, .)``
    that depends on ``a`` only."""
    t = tables.table
    X, Y = tables.PEDERSEN_POINTS[0]
    X, Y, Z = t("P0").accumulate(X, Y, 1, a & _LOW_MASK)
    if a >> _LOW_BITS:
        X, Y, Z = t("P1").accumulate(X, Y, Z, a >> _LOW_BITS)
    if Z == 0:  # pragma: no cover - would need a discrete-log relation between the points
        raise SigningError("Pedersen hash input is unhashable")
    p = FIELD_PRIME
    zi = pow(Z, -1, p)
    zi2 = zi * zi % p
    return X * zi2 % p, Y * zi2 % p * zi % p


def pedersen_cached_left(a: int, b: int) -> int:
    """``pedersen(a, b)`` for a left input that recurs (a type hash link, a message prefix):
    the ``a`` half of the sum is computed once and cached, saving about half the work."""
    if not (0 <= a < FIELD_PRIME and 0 <= b < FIELD_PRIME):
        raise SigningError("Pedersen input is not a field element (0 <= value < FIELD_PRIME)")
    tables.note_heavy_use()
    t = tables.table
    X, Y = _left_point(a)
    X, Y, Z = t("P2").accumulate(X, Y, 1, b & _LOW_MASK)
    if b >> _LOW_BITS:
        X, Y, Z = t("P3").accumulate(X, Y, Z, b >> _LOW_BITS)
    if Z == 0:  # pragma: no cover - would need a discrete-log relation between the points
        raise SigningError("Pedersen hash input is unhashable")
    p = FIELD_PRIME
    zi = pow(Z, -1, p)
    return X * zi % p * zi % p


def compute_hash_on_elements(values: Iterable[int]) -> int:
    """``h(h(h(h(0, v0), v1), ...), n)``: a Pedersen chain over ``values``, then their count."""
    h = 0
    n = 0
    for v in values:
        h = pedersen(h, v)
        n += 1
    return pedersen(h, n)

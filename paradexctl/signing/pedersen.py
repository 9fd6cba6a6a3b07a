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


#: Right inputs seen once (admission to ``_right_points`` on the second sighting) and the cached
#: ``SHIFT + b_low*P2 + b_high*P3`` points; both are cleared when full. Plain dicts: every
#: operation used is atomic under the GIL, and a lost entry is only recomputed.
_RIGHT_MAX = 1024
_right_seen: dict[int, None] = {}
_right_points: dict[int, tuple[int, int]] = {}


def _right_point(b: int) -> tuple[int, int, int]:
    """``SHIFT + b_low*P2 + b_high*P3``: the half of ``pedersen(., b)`` that depends on ``b``.

    Hash chains put the message fields on the right (market, side, order type, size, price,
    the element count), and these recur from one message to the next; a value seen twice gets
    its point cached in affine form, so later hashes skip the ``b`` half entirely. A value
    seen once (a timestamp, a running hash) costs nothing extra: the Jacobian point is used
    as it is, with no inversion.
    """
    pt = _right_points.get(b)
    if pt is not None:
        return pt[0], pt[1], 1
    t = tables.table
    X, Y = tables.PEDERSEN_POINTS[0]
    X, Y, Z = t("P2").accumulate(X, Y, 1, b & _LOW_MASK)
    if b >> _LOW_BITS:
        X, Y, Z = t("P3").accumulate(X, Y, Z, b >> _LOW_BITS)
    if b not in _right_seen:
        if len(_right_seen) >= 4 * _RIGHT_MAX:
            _right_seen.clear()
        _right_seen[b] = None
    elif Z != 0:
        p = FIELD_PRIME
        zi = pow(Z, -1, p)
        zi2 = zi * zi % p
        X, Y, Z = X * zi2 % p, Y * zi2 % p * zi % p, 1
        if len(_right_points) >= _RIGHT_MAX:
            _right_points.clear()
        _right_points[b] = (X, Y)
    return X, Y, Z


def pedersen(a: int, b: int) -> int:
    """The Pedersen hash of two field elements (``0 <= a, b < FIELD_PRIME``)."""
    if not (0 <= a < FIELD_PRIME and 0 <= b < FIELD_PRIME):
        raise SigningError("Pedersen input is not a field element (0 <= value < FIELD_PRIME)")
    tables.note_heavy_use()
    t = tables.table
    X, Y, Z = _right_point(b)
    X, Y, Z = t("P0").accumulate(X, Y, Z, a & _LOW_MASK)
    if a >> _LOW_BITS:
        X, Y, Z = t("P1").accumulate(X, Y, Z, a >> _LOW_BITS)
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

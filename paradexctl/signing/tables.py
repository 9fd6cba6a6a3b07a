"""Lazily built fixed-base tables, sized for one-shot processes or long-running ones.

Nothing is built at import time. The first operation that needs a base builds its table at the
current level:

=========  ====================  ========  ==================================================
level      windows G / P0 / P2   memory    meant for
=========  ====================  ========  ==================================================
small      - / 4 / -             ~0.1 MB   one-shot CLI processes (~5 ms to build)
medium     8 / 10 / 8            ~6 MB     automatic upgrade of a busy process (~0.2 s)
large      11 / 13 / 11          ~25 MB    long-running signers/verifiers (~1 s to build)
=========  ====================  ========  ==================================================

At ``small``, G and P2 have no table (``-``: a plain wNAF multiplication per use). P0 gets the
widest window because every hash of a chain (``compute_hash_on_elements``)
multiplies it by a full 248-bit running hash, while P2 mostly multiplies small values
(timestamps, prices, short strings) and stops early.

A process that performs many operations (``AUTO_UPGRADE_AFTER`` Pedersen hashes or
signatures) is upgraded from ``small`` to ``medium`` automatically; ``warm_tables("large")``
is an explicit opt-in because it costs about a second and tens of MB.

Verification multiplies a *public key* point, which is not fixed. A key that is used often
gets its own window table (after 16 verifications at ``medium``, 8 at ``large``; the 16 most
recent keys are kept); others use a variable-base wNAF multiplication. ``y`` recovered from a
key's ``x`` is cached as well (a square root costs about a millisecond).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from .curve import (
    GENERATOR,
    Affine,
    FixedBaseTable,
    Jacobian,
    jac_add,
    mul_point,
    y_from_x,
)

__all__ = [
    "AUTO_UPGRADE_AFTER",
    "LEVELS",
    "PEDERSEN_POINTS",
    "current_level",
    "key_point",
    "key_table",
    "note_heavy_use",
    "table",
    "warm_tables",
    "warming",
]

#: The Pedersen hash constant points: shift point, then P0..P3 (Starknet / StarkEx
#: ``pedersen_params``; derived by StarkWare from the digits of pi). Checked by the tests against
#: published Pedersen hash outputs and the reference vectors.
PEDERSEN_POINTS: Final[tuple[Affine, Affine, Affine, Affine, Affine]] = (
    (
        0x049EE3EBA8C1600700EE1B87EB599F16716B0B1022947733551FDE4050CA6804,
        0x03CA0CFE4B3BC6DDF346D49D06EA0ED34E621062C0E056C1D0405D266E10268A,
    ),
    (
        0x0234287DCBAFFE7F969C748655FCA9E58FA8120B6D56EB0C1080D17957EBE47B,
        0x03B056F100F96FB21E889527D41F4E39940135DD7A6C94CC6ED0268EE89E5615,
    ),
    (
        0x04FA56F376C83DB33F9DAB2656558F3399099EC1DE5E3018B7A6932DBA8AA378,
        0x03FA0984C931C9E38113E0C0E47E4401562761F92A7A23B45168F4E80FF5B54D,
    ),
    (
        0x04BA4CC166BE8DEC764910F75B45F74B40C690C74709E90F3AA372F0BD2D6997,
        0x0040301CF5C1751F4B971E46C4EDE85FCAC5C59A5CE5AE7C48151F27B24B219C,
    ),
    (
        0x054302DCB0E6CC1C6E44CCA8F61A63BB2CA65048D53FB325D36FF12C49A58202,
        0x01B77B3E37D13504B348046268D8AE25CE98AD783C25561A879DCC77E99C2426,
    ),
)

#: name -> (base point, scalar bits). P1 and P3 only ever multiply the top 4 bits of a felt.
_BASES: Final[dict[str, tuple[Affine, int]]] = {
    "G": (GENERATOR, 252),
    "P0": (PEDERSEN_POINTS[1], 248),
    "P1": (PEDERSEN_POINTS[2], 4),
    "P2": (PEDERSEN_POINTS[3], 248),
    "P3": (PEDERSEN_POINTS[4], 4),
}

#: Window size per base, per level. P1/P3 take 4-bit scalars: one window of 5 holds all 15.
LEVELS: Final[dict[str, dict[str, int]]] = {
    "small": {"G": 0, "P0": 4, "P1": 5, "P2": 0, "P3": 5},
    "medium": {"G": 8, "P0": 10, "P1": 5, "P2": 8, "P3": 5},
    "large": {"G": 11, "P0": 13, "P1": 5, "P2": 11, "P3": 5},
}
_LEVEL_ORDER: Final = ("small", "medium", "large")

#: Operations after which a process still at ``small`` is upgraded to ``medium``.
AUTO_UPGRADE_AFTER: Final = 200

#: Per public key tables: window size, uses before building, how many keys are kept.
_KEY_TABLE_W: Final = {"small": 0, "medium": 7, "large": 8}
_KEY_TABLE_AFTER: Final = {"small": 0, "medium": 16, "large": 8}
_KEY_TABLE_MAX: Final = 16
_KEY_POINT_MAX: Final = 4096


class NoTable:
    """Stands in for a table at window 0: variable-base wNAF, nothing precomputed.

    A one-shot process multiplies G once or twice and P2 mostly by small scalars (the wNAF
    loop is as long as the scalar), so building their tables would cost more than it saves.
    """

    __slots__ = ("base", "bits", "w")

    def __init__(self, base: Affine, bits: int) -> None:
        self.base = base
        self.bits = bits
        self.w = 0

    def accumulate(self, X: int, Y: int, Z: int, k: int) -> Jacobian:
        if k >> self.bits:
            raise ValueError("scalar too large for this table")
        return jac_add((X, Y, Z), mul_point(k, self.base))

    def mul(self, k: int) -> Jacobian:
        return self.accumulate(1, 1, 0, k)


#: Guards the per-key caches and the swap of fixed-base tables (the simulator verifies from
#: several threads). Table building itself runs outside it.
_lock = threading.Lock()
#: Serializes :func:`warm_tables` calls, so two warmers never build the same tables twice.
_build_lock = threading.Lock()
_level = "small"
_tables: dict[str, FixedBaseTable | NoTable] = {}
_heavy_uses = 0
#: The level a :func:`warm_tables` call is building right now (None when idle).
_warming: str | None = None
_key_points: OrderedDict[int, Affine | None] = OrderedDict()
_key_uses: dict[int, int] = {}
_key_tables: OrderedDict[int, FixedBaseTable] = OrderedDict()


def current_level() -> str:
    return _level


def _new_table(name: str, w: int) -> FixedBaseTable | NoTable:
    base, bits = _BASES[name]
    return FixedBaseTable(base, bits, w) if w else NoTable(base, bits)


def table(name: str) -> FixedBaseTable | NoTable:
    """The table for base ``name`` ("G", "P0".."P3") at the current level, built on demand.

    Tables are immutable once built, so a caller may keep using one it already holds while
    another thread swaps in a bigger one: every table computes the same points.
    """
    t = _tables.get(name)
    if t is None:
        t = _new_table(name, LEVELS[_level][name])
        _tables[name] = t
    return t


def _set_level(level: str) -> None:
    global _level
    if level not in LEVELS:
        raise ValueError(f"unknown table level {level!r}; expected one of {list(LEVELS)}")
    with _lock:
        if _LEVEL_ORDER.index(level) <= _LEVEL_ORDER.index(_level):
            return
        _level = level
        # Drop tables whose window changed; they are rebuilt on next use.
        for name in list(_tables):
            t = _tables.get(name)
            if t is not None and t.w != LEVELS[level][name]:
                _tables.pop(name, None)


def warm_tables(level: str = "large") -> None:
    """Build every fixed-base table at ``level`` now (never downgrades).

    Long-running processes call this once at start-up so no request pays for table building.
    ``"small"`` is the default of a fresh process; ``"medium"`` and ``"large"`` trade build time
    and memory for speed (see the module docstring and ``docs/signing.md``).

    Safe to run in a background thread while other threads hash, sign and verify: the new
    tables are built aside and swapped in once complete, so until then the others keep using
    the current (smaller) tables instead of stalling on a half-built level, and no automatic
    upgrade to ``medium`` happens meanwhile.
    """
    global _level, _warming
    if level not in LEVELS:
        raise ValueError(f"unknown table level {level!r}; expected one of {list(LEVELS)}")
    with _build_lock:
        target = level
        if _LEVEL_ORDER.index(level) < _LEVEL_ORDER.index(_level):
            target = _level
        _warming = target
        try:
            windows = LEVELS[target]
            built: dict[str, FixedBaseTable | NoTable] = {}
            for name in _BASES:
                t = _tables.get(name)
                if t is None or t.w != windows[name]:
                    built[name] = _new_table(name, windows[name])
            with _lock:
                if _LEVEL_ORDER.index(target) > _LEVEL_ORDER.index(_level):
                    _level = target
                _tables.update(built)
        finally:
            _warming = None


def warming() -> str | None:
    """The level a :func:`warm_tables` call is building right now, or None."""
    return _warming


def note_heavy_use(n: int = 1) -> None:
    """Count operations; upgrade a ``small`` process to ``medium`` once it is clearly busy."""
    global _heavy_uses
    if _level != "small" or _warming is not None:
        return
    _heavy_uses += n
    if _heavy_uses >= AUTO_UPGRADE_AFTER:
        _set_level("medium")


def key_point(public_key: int) -> Affine | None:
    """``(x, y)`` for a public key ``x`` (either ``y``), or None if ``x`` is not on the curve."""
    with _lock:
        if public_key in _key_points:
            _key_points.move_to_end(public_key)
            return _key_points[public_key]
    y = y_from_x(public_key)  # deterministic: every thread computes the same root
    pt = None if y is None else (public_key, y)
    with _lock:
        _key_points[public_key] = pt
        if len(_key_points) > _KEY_POINT_MAX:
            _key_points.popitem(last=False)
    return pt


def key_table(point: Affine) -> FixedBaseTable | None:
    """A table for a public key point if it is used often enough at this level, else None."""
    w = _KEY_TABLE_W[_level]
    if w == 0:
        return None
    x = point[0]
    with _lock:
        t = _key_tables.get(x)
        if t is not None and t.w == w:
            _key_tables.move_to_end(x)
            return t
        uses = _key_uses.get(x, 0) + 1
        if uses < _KEY_TABLE_AFTER[_level]:
            _key_uses[x] = uses
            if len(_key_uses) > _KEY_POINT_MAX:
                _key_uses.clear()
            return None
        _key_uses.pop(x, None)
    t = FixedBaseTable(point, 252, w)  # built outside the lock (tens of ms)
    with _lock:
        _key_tables[x] = t
        if len(_key_tables) > _KEY_TABLE_MAX:
            _key_tables.popitem(last=False)
    return t

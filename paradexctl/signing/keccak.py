"""Keccak-256 (the original Keccak padding, as Ethereum and Starknet use it) in pure Python.

``hashlib.sha3_256`` is *not* usable: FIPS 202 SHA-3 pads with ``0x06``, Keccak with ``0x01``.
Speed is irrelevant here (type hashes and selectors are computed once and cached), so this is
a plain, readable Keccak-f[1600] over 25 lanes of 64 bits.
"""

from __future__ import annotations

__all__ = ["keccak256", "starknet_keccak"]

_MASK64 = (1 << 64) - 1

_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip

# Rotation offsets r[x][y] for lane (x, y), indexed as x + 5*y.
_ROTATIONS = (
    0, 1, 62, 28, 27,
    36, 44, 6, 55, 20,
    3, 10, 43, 25, 39,
    41, 45, 15, 21, 8,
    18, 2, 61, 56, 14,
)  # fmt: skip

_RATE = 136  # bytes: 1600 - 2*256 bits of capacity


def _rotl(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _MASK64 if n else v


def _keccak_f(a: list[int]) -> None:
    """The Keccak-f[1600] permutation on 25 lanes ``a[x + 5*y]``, in place."""
    for rc in _ROUND_CONSTANTS:
        # theta
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        for i in range(25):
            a[i] ^= d[i % 5]
        # rho and pi: B[y, 2x+3y] = rot(A[x, y], r[x, y])
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                b[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(a[x + 5 * y], _ROTATIONS[x + 5 * y])
        # chi
        for y in range(0, 25, 5):
            row = b[y : y + 5]
            for x in range(5):
                a[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5])
        # iota
        a[0] ^= rc


def keccak256(data: bytes) -> bytes:
    """The 32-byte Keccak-256 digest of ``data``."""
    return _sponge256(data, 0x01)


def _sponge256(data: bytes, suffix: int) -> bytes:
    """Keccak[c=512] sponge with a 256-bit output; ``suffix`` 0x01 is Keccak, 0x06 SHA3-256."""
    padded = bytearray(data)
    padded.append(suffix)
    padded.extend(b"\x00" * ((-len(padded)) % _RATE))
    padded[-1] |= 0x80
    state = [0] * 25
    for off in range(0, len(padded), _RATE):
        block = padded[off : off + _RATE]
        for i in range(_RATE // 8):
            state[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _keccak_f(state)
    return b"".join(state[i].to_bytes(8, "little") for i in range(4))


def starknet_keccak(data: bytes) -> int:
    """Keccak-256 of ``data`` masked to its low 250 bits (Starknet selectors, type hashes)."""
    return int.from_bytes(keccak256(data), "big") & ((1 << 250) - 1)

"""Stark ECDSA: keys, deterministic nonces (RFC 6979), sign, verify, signature formatting.

The nonce and the rejection rules reproduce what Paradex's SDK runs
(``starknet_crypto_py.sign(priv, hash, seed=32)`` -> starknet-crypto-rs
``rfc6979_generate_k(msg_hash, priv, Some(seed))`` then ``sign(priv, msg_hash, k)``):

* HMAC-DRBG over SHA-256 seeded with the 32-byte big-endian private key, the 32-byte
  big-endian message hash (used as is, not reduced modulo the order) and the seed as extra
  data, encoded big-endian with leading zero bytes stripped (seed 32 -> ``b"\\x20"``, seed 0
  or None -> no extra data);
* candidates are the 256-bit DRBG output shifted right by 4 (``bits2int`` for the 252-bit
  order) and accepted when ``0 < k < EC_ORDER``;
* ``r = x(k*G)`` must be in ``[1, 2^251)``, ``s = (z + r*priv) / k mod N`` in ``[1, N)``, and
  ``w = 1/s`` in ``[1, 2^251)`` (the verifier's bounds). starknet-crypto-rs fails on a bad
  ``k`` and cairo-lang's reference signer retries with ``seed + 1``; we retry like cairo-lang,
  which yields the same signature whenever the SDK yields one at all. The odds of a retry are
  about 2^-55 per signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from . import tables
from .curve import EC_ORDER, FIELD_PRIME, jac_add, jac_neg, mul_point
from .errors import InvalidKeyError, SigningError

__all__ = [
    "ELEMENT_UPPER_BOUND",
    "format_signature",
    "generate_k",
    "parse_private_key",
    "parse_signature",
    "private_to_public",
    "sign",
    "verify",
]

#: r, w and message hashes must be below 2^251 (``N_ELEMENT_BITS_ECDSA`` in cairo-lang).
ELEMENT_UPPER_BOUND = 1 << 251

_HEX_KEY = re.compile(r"(?:0[xX])?[0-9a-fA-F]+")


def parse_private_key(text: str) -> int:
    """Parse a Stark private key written in hex (``0x`` prefix optional).

    Raises :class:`InvalidKeyError` naming the problem; the message never contains the input.
    """
    if not isinstance(text, str):
        raise InvalidKeyError("private key must be given as a hex string")
    stripped = text.strip()
    if not stripped:
        raise InvalidKeyError("private key is empty")
    if not _HEX_KEY.fullmatch(stripped):
        raise InvalidKeyError("private key is not a hexadecimal number (expected 0x...)")
    value = int(stripped, 16)
    _check_private_key(value)
    return value


def _check_private_key(priv: int) -> None:
    if isinstance(priv, bool) or not isinstance(priv, int):
        raise InvalidKeyError("private key must be an integer")
    if priv == 0:
        raise InvalidKeyError("private key is zero")
    if priv < 0:
        raise InvalidKeyError("private key is negative")
    if priv >= EC_ORDER:
        raise InvalidKeyError("private key is not below the Stark curve order")


def private_to_public(priv: int) -> int:
    """The Stark public key: the ``x`` coordinate of ``priv * G``."""
    _check_private_key(priv)
    X, _, Z = tables.table("G").mul(priv)
    zi = pow(Z, -1, FIELD_PRIME)
    return X * zi % FIELD_PRIME * zi % FIELD_PRIME


def _int32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def generate_k(msg_hash: int, priv: int, seed: int | None = None) -> int:
    """The deterministic nonce of RFC 6979 section 3.2 as starknet-crypto-rs computes it."""
    extra = b"" if not seed else seed.to_bytes((seed.bit_length() + 7) // 8, "big")
    x = _int32(priv)
    h1 = _int32(msg_hash)
    digest = hashlib.sha256
    # Step b: V = 0x01 0x01 ... (32 bytes). Step c: K = 0x00 0x00 ... (32 bytes).
    v = b"\x01" * 32
    k = b"\x00" * 32
    # Step d: K = HMAC_K(V || 0x00 || int2octets(x) || h1 || extra data).
    k = hmac.digest(k, v + b"\x00" + x + h1 + extra, digest)
    # Step e: V = HMAC_K(V).
    v = hmac.digest(k, v, digest)
    # Step f: K = HMAC_K(V || 0x01 || int2octets(x) || h1 || extra data).
    k = hmac.digest(k, v + b"\x01" + x + h1 + extra, digest)
    # Step g: V = HMAC_K(V).
    v = hmac.digest(k, v, digest)
    while True:
        # Step h.1/h.2: T = V = HMAC_K(V); one block suffices (tlen = 256 >= qlen = 252).
        v = hmac.digest(k, v, digest)
        # Step h.3: k = bits2int(T), i.e. the leftmost qlen = 252 bits; accept if 0 < k < q.
        candidate = int.from_bytes(v, "big") >> 4
        if 0 < candidate < EC_ORDER:
            return candidate
        # Otherwise K = HMAC_K(V || 0x00), V = HMAC_K(V) and loop.
        k = hmac.digest(k, v + b"\x00", digest)
        v = hmac.digest(k, v, digest)


def _sign_with_k(msg_hash: int, priv: int, k: int) -> tuple[int, int] | None:
    """One signing attempt with nonce ``k``; None when ``k`` must be rejected."""
    n = EC_ORDER
    X, _, Z = tables.table("G").mul(k)
    if Z == 0:
        return None
    zi = pow(Z, -1, FIELD_PRIME)
    r = X * zi % FIELD_PRIME * zi % FIELD_PRIME
    if not 1 <= r < ELEMENT_UPPER_BOUND:
        return None
    s = (msg_hash + r * priv) * pow(k, -1, n) % n
    if s == 0:
        return None
    w = pow(s, -1, n)
    if not 1 <= w < ELEMENT_UPPER_BOUND:
        return None
    return r, s


def sign(msg_hash: int, priv: int, seed: int | None = 32) -> tuple[int, int]:
    """Sign a message hash (``0 <= msg_hash < 2^251``) with a deterministic nonce.

    ``seed`` is the RFC 6979 extra entropy; Paradex's SDK uses 32, which is the default here.
    """
    _check_private_key(priv)
    if isinstance(msg_hash, bool) or not isinstance(msg_hash, int):
        raise SigningError("message hash must be an integer")
    if not 0 <= msg_hash < ELEMENT_UPPER_BOUND:
        raise SigningError("message hash is out of range (0 <= hash < 2^251)")
    if seed is not None and seed < 0:
        raise SigningError("seed must be non-negative")
    tables.note_heavy_use()
    while True:
        k = generate_k(msg_hash, priv, seed)
        result = _sign_with_k(msg_hash, priv, k)
        if result is not None:
            return result
        # Rejected nonce: next seed, as cairo-lang's reference signer does.
        seed = 1 if seed is None else seed + 1


def verify(msg_hash: int, r: int, s: int, public_key: int) -> bool:
    """True iff ``(r, s)`` is a valid signature of ``msg_hash`` by ``public_key`` (an ``x``).

    Mirrors starknet-crypto-rs ``verify``: the hash and ``r`` must be in ``[0, 2^251)`` and
    ``[1, 2^251)``, ``s`` in ``[1, N)``, ``w = 1/s`` below ``2^251``; both ``y`` of the key are
    accepted (the key is an ``x`` only). Any invalid input gives False, never an exception.
    """
    try:
        if not (0 <= msg_hash < ELEMENT_UPPER_BOUND):
            return False
        if not (1 <= r < ELEMENT_UPPER_BOUND and 1 <= s < EC_ORDER):
            return False
        if not 0 <= public_key < FIELD_PRIME:
            return False
    except TypeError:
        return False
    for v in (msg_hash, r, s, public_key):
        if isinstance(v, bool) or not isinstance(v, int):
            return False
    q = tables.key_point(public_key)
    if q is None:
        return False
    n = EC_ORDER
    w = pow(s, -1, n)
    if w >= ELEMENT_UPPER_BOUND:
        return False
    tables.note_heavy_use()
    zw_g = tables.table("G").mul(msg_hash * w % n)
    rw = r * w % n
    qt = tables.key_table(q)
    rw_q = qt.mul(rw) if qt is not None else mul_point(rw, q)
    p = FIELD_PRIME
    for pt in (jac_add(zw_g, rw_q), jac_add(zw_g, jac_neg(rw_q))):
        X, _, Z = pt
        # x(pt) == r  <=>  X == r * Z^2 (mod p); avoids an inversion per candidate.
        if Z != 0 and X == r * Z % p * Z % p:
            return True
    return False


def format_signature(r: int, s: int) -> str:
    """``["<r decimal>","<s decimal>"]``: the header / body value Paradex expects."""
    return json.dumps([str(r), str(s)], separators=(",", ":"))


_DEC = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")


def parse_signature(text: str) -> tuple[int, int]:
    """Parse ``["<r>","<s>"]`` (decimal or ``0x`` hex strings, or JSON integers)."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as err:
        raise SigningError("signature is not valid JSON") from err
    if not isinstance(data, list) or len(data) != 2:
        raise SigningError('signature must be a JSON array of two numbers ["r","s"]')
    out: list[int] = []
    for item in data:
        if isinstance(item, bool):
            raise SigningError("signature component is not a number")
        if isinstance(item, str) and len(item) > 80:
            raise SigningError("signature component is out of range")
        if isinstance(item, int):
            value = item
        elif isinstance(item, str) and _DEC.fullmatch(item):
            value = int(item)
        elif isinstance(item, str) and _HEX.fullmatch(item):
            value = int(item, 16)
        else:
            raise SigningError("signature component is not a decimal or 0x-hex number")
        if not 0 <= value < FIELD_PRIME:
            raise SigningError("signature component is out of range")
        out.append(value)
    return out[0], out[1]

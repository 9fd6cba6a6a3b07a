"""Property tests of the signer (hypothesis). Pure-Python EC math is slow: examples are modest."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import paradexctl.signing as S
from paradexctl.signing import curve, tables
from paradexctl.signing.curve import EC_ORDER, FIELD_PRIME, GENERATOR

SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=300, deadline=None)

keys = st.integers(min_value=1, max_value=EC_ORDER - 1)
hashes = st.integers(min_value=0, max_value=2**251 - 1)
felts = st.integers(min_value=0, max_value=FIELD_PRIME - 1)


@SLOW
@given(priv=keys, msg=hashes, seed=st.one_of(st.none(), st.integers(0, 2**64)))
def test_sign_verify_round_trip(priv: int, msg: int, seed: int | None) -> None:
    pub = S.private_to_public(priv)
    r, s = S.sign(msg, priv, seed)
    assert 1 <= r < 2**251 and 1 <= s < EC_ORDER
    assert S.verify(msg, r, s, pub)
    assert S.sign(msg, priv, seed) == (r, s)  # deterministic
    assert S.parse_signature(S.format_signature(r, s)) == (r, s)


@SLOW
@given(priv=keys, msg=hashes, delta=st.integers(1, 2**64), which=st.sampled_from("hrsk"))
def test_tampering_fails_verification(priv: int, msg: int, delta: int, which: str) -> None:
    pub = S.private_to_public(priv)
    r, s = S.sign(msg, priv)
    if which == "h":
        assert not S.verify((msg + delta) % 2**251, r, s, pub)
    elif which == "r":
        assert not S.verify(msg, (r + delta) % 2**251, s, pub)
    elif which == "s":
        assert not S.verify(msg, r, (s + delta) % EC_ORDER, pub)
    else:
        other = S.private_to_public((priv + delta) % EC_ORDER or 1)
        if other != pub:
            assert not S.verify(msg, r, s, other)


@SLOW
@given(a=felts, b=felts)
def test_pedersen_matches_definition(a: int, b: int) -> None:
    shift, p0, p1, p2, p3 = tables.PEDERSEN_POINTS
    acc: curve.Jacobian = (*shift, 1)
    for scalar, pt in ((a % 2**248, p0), (a >> 248, p1), (b % 2**248, p2), (b >> 248, p3)):
        acc = curve.jac_add(acc, curve.mul_point(scalar, pt))
    expected = curve.to_affine(acc)
    assert expected is not None
    assert S.pedersen(a, b) == expected[0]


@FAST
@given(k=st.integers(0, 2**252 - 1), w=st.sampled_from([3, 4, 5, 8]))
def test_fixed_base_tables_agree_with_wnaf(k: int, w: int) -> None:
    t = _table(w)
    assert curve.to_affine(t.mul(k)) == curve.to_affine(curve.mul_point(k, GENERATOR))


_TABLES: dict[int, curve.FixedBaseTable] = {}


def _table(w: int) -> curve.FixedBaseTable:
    if w not in _TABLES:
        _TABLES[w] = curve.FixedBaseTable(GENERATOR, 252, w)
    return _TABLES[w]


def _key_message(text: str) -> str:
    try:
        S.parse_private_key(text)
    except S.InvalidKeyError as err:
        return str(err)
    raise AssertionError(f"{text!r} was accepted")


#: every message parse_private_key can give, each from a canonical bad input
_KEY_MESSAGES = {_key_message(t) for t in ("", "  ", "zz", "0x", "0x0", "-0x1", hex(EC_ORDER))}


@FAST
@given(text=st.text(min_size=1, max_size=100))
def test_bad_key_text_is_refused_without_echo(text: str) -> None:
    stripped = text.strip()
    try:
        value = S.parse_private_key(text)
    except S.InvalidKeyError as err:
        # the message is one of the fixed, input-free messages: nothing of the input is echoed
        assert str(err) in _KEY_MESSAGES
    else:
        assert 1 <= value < EC_ORDER
        assert set(stripped.lower().removeprefix("0x")) <= set(string.hexdigits.lower())


@FAST
@given(value=st.one_of(st.integers(max_value=0), st.integers(min_value=EC_ORDER)))
@example(value=-3564)  # -0xdec: 'dec' is in the word 'hexadecimal', which is not an echo
def test_out_of_range_keys_are_refused_without_echo(value: int) -> None:
    for call in (lambda: S.parse_private_key(hex(value)), lambda: S.private_to_public(value)):
        try:
            call()
        except S.InvalidKeyError as err:
            msg = str(err)
            assert any(w in msg for w in ("zero", "negative", "curve order", "hexadecimal"))
            # an echo is only detectable when it cannot be an English word: with 8+ digits
            # ('dec' is in 'hexadecimal', and -3564 is -0xdec)
            if abs(value) >= 16**7:
                assert str(value) not in msg and hex(value) not in msg
                assert hex(abs(value))[2:] not in msg
        else:  # pragma: no cover - must not happen
            raise AssertionError("accepted an out-of-range key")


@FAST
@given(n=st.integers(1, FIELD_PRIME - 1))
def test_sqrt_mod(n: int) -> None:
    p = FIELD_PRIME
    square = n * n % p
    root = curve.sqrt_mod(square)
    assert root is not None and root * root % p == square
    # 3 is a non-residue, so 3 * (a square) is not a square.
    assert curve.sqrt_mod(3 * square % p) is None
    is_residue = pow(n, (p - 1) // 2, p) == 1
    assert (curve.sqrt_mod(n) is not None) == is_residue


@SLOW
@given(a=st.sampled_from([0, 1, FIELD_PRIME - 1, 2**248, 12345]) | felts, b=felts)
def test_pedersen_cached_left_matches(a: int, b: int) -> None:
    from paradexctl.signing.pedersen import pedersen_cached_left

    assert pedersen_cached_left(a, b) == S.pedersen(a, b)
    assert pedersen_cached_left(a, b) == S.pedersen(a, b)  # second call: cached half

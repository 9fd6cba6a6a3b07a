"""Unit tests of the signer's building blocks, against published constants and known answers.

Known answers not from our own vectors are cited: the Pedersen and public-key cases are the
ones StarkWare's crypto-cpp tests publish (also used by starknet-crypto-rs); Keccak is checked
against hashlib's SHA3-256 (same sponge, different padding byte) and the well-known empty-string
and "abc" digests.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

import paradexctl.signing as S
from paradexctl.signing import curve, ecdsa, keccak, snip12, tables
from paradexctl.signing.curve import EC_ORDER, FIELD_PRIME, GENERATOR

# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def fresh_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Isolate the module-level table state (level, tables, per-key caches)."""
    monkeypatch.setattr(tables, "_level", "small")
    monkeypatch.setattr(tables, "_tables", {})
    monkeypatch.setattr(tables, "_heavy_uses", 0)
    monkeypatch.setattr(tables, "_upgrade", None)
    monkeypatch.setattr(tables, "_key_points", type(tables._key_points)())
    monkeypatch.setattr(tables, "_key_uses", {})
    monkeypatch.setattr(tables, "_key_tables", type(tables._key_tables)())
    yield


def _naive_mul(k: int, pt: curve.Affine) -> curve.Affine | None:
    """Textbook double-and-add in Jacobian coordinates, most significant bit first."""
    acc = curve.INFINITY
    for bit in bin(k)[2:] if k else "":
        acc = curve.jac_double(*acc)
        if bit == "1":
            acc = curve.jac_add_affine(*acc, *pt)
    return curve.to_affine(acc)


# --- curve -----------------------------------------------------------------------------------


def test_curve_constants() -> None:
    assert FIELD_PRIME == 0x800000000000011000000000000000000000000000000000000000000000001
    assert curve.is_on_curve(GENERATOR)
    for pt in tables.PEDERSEN_POINTS:
        assert curve.is_on_curve(pt)
    # The generator has order EC_ORDER.
    assert curve.mul_point(EC_ORDER, GENERATOR)[2] == 0
    assert curve.to_affine(curve.mul_point(EC_ORDER - 1, GENERATOR)) == (
        GENERATOR[0],
        FIELD_PRIME - GENERATOR[1],
    )
    assert not curve.is_on_curve((GENERATOR[0], GENERATOR[1] + 1))
    assert not curve.is_on_curve((FIELD_PRIME, 0))


def test_sqrt_and_nonresidue() -> None:
    p = FIELD_PRIME
    assert pow(curve._TS_NONRESIDUE, (p - 1) // 2, p) == p - 1
    assert all(pow(z, (p - 1) // 2, p) == 1 for z in (2,))  # 3 is the smallest non-residue
    assert (p - 1) == curve._TS_Q << curve._TS_S and curve._TS_Q % 2 == 1
    for n in (1, 4, 9, GENERATOR[0], 12345678901234567890):
        r = curve.sqrt_mod(n * n)
        assert r is not None and r * r % p == n * n % p
    assert curve.sqrt_mod(3) is None
    assert curve.sqrt_mod(0) == 0
    y = curve.y_from_x(GENERATOR[0])
    assert y in (GENERATOR[1], p - GENERATOR[1])
    assert curve.y_from_x(p) is None


def test_point_addition_edge_cases() -> None:
    g = (*GENERATOR, 1)
    neg = curve.jac_neg(g)
    assert curve.jac_add(g, neg)[2] == 0
    assert curve.jac_add_affine(*g, GENERATOR[0], FIELD_PRIME - GENERATOR[1])[2] == 0
    assert curve.to_affine(curve.jac_add(g, g)) == curve.to_affine(curve.jac_double(*g))
    assert curve.to_affine(curve.jac_add_affine(*g, *GENERATOR)) == curve.to_affine(
        curve.jac_double(*g)
    )
    assert curve.jac_add(curve.INFINITY, g) == g
    assert curve.jac_add(g, curve.INFINITY) == g
    assert curve.jac_add_affine(*curve.INFINITY, *GENERATOR) == g
    assert curve.to_affine(curve.INFINITY) is None
    assert curve.batch_to_affine([]) == []
    with pytest.raises(ValueError):
        curve.batch_to_affine([curve.INFINITY])


SCALARS = [0, 1, 2, 3, 15, 16, 17, 255, 256, 2**248 - 1, 2**251 + 12345, EC_ORDER - 1, EC_ORDER]


@pytest.mark.parametrize("w", [2, 4, 5, 8, 9])  # 9: crosses a 4096-point normalization chunk
def test_fixed_base_table_matches_naive(w: int) -> None:
    t = curve.FixedBaseTable(GENERATOR, 252, w)
    for k in SCALARS:
        assert curve.to_affine(t.mul(k)) == _naive_mul(k, GENERATOR), k
    with pytest.raises(ValueError):
        t.mul(1 << 252)
    # accumulate() adds onto an existing point, including the point itself (doubling path).
    acc = t.accumulate(*t.mul(5), 5)
    assert curve.to_affine(acc) == _naive_mul(10, GENERATOR)
    acc = t.accumulate(*t.mul(EC_ORDER - 5), 5)
    assert acc[2] == 0


def test_fixed_base_table_rejects_bad_window() -> None:
    with pytest.raises(ValueError):
        curve.FixedBaseTable(GENERATOR, 252, 0)


def test_mul_point_matches_naive() -> None:
    for k in SCALARS:
        assert curve.to_affine(curve.mul_point(k, GENERATOR)) == _naive_mul(k, GENERATOR), k


# --- Pedersen ----------------------------------------------------------------------------------

# (a, b, pedersen(a, b)) published in StarkWare's crypto-cpp / starknet-crypto-rs tests; (0, 0)
# hashes to the shift point's x by definition.
PEDERSEN_KNOWN = [
    (
        0x03D937C035C878245CAF64531A5756109C53068DA139362728FEB561405371CB,
        0x0208A0A10250E382E1E4BBE2880906C2791BF6275695E02FBBC6AEFF9CD8B31A,
        0x030E480BED5FE53FA909CC0F8C4D99B8F9F2C016BE4C41E13A4848797979C662,
    ),
    (
        0x058F580910A6CA59B28927C08FE6C43E2E303CA384BADC365795FC645D479D45,
        0x078734F65A067BE9BDB39DE18434D71E79F7B6466A4B66BBD979AB9E7515FE0B,
        0x068CC0B76CDDD1DD4ED2301ADA9B7C872B23875D5FF837B3A87993E0D9996B87,
    ),
    (0, 0, tables.PEDERSEN_POINTS[0][0]),
]


def _naive_pedersen(a: int, b: int) -> int:
    shift, p0, p1, p2, p3 = tables.PEDERSEN_POINTS
    acc: curve.Jacobian = (*shift, 1)
    for scalar, pt in ((a % 2**248, p0), (a >> 248, p1), (b % 2**248, p2), (b >> 248, p3)):
        acc = curve.jac_add(acc, curve.mul_point(scalar, pt))
    aff = curve.to_affine(acc)
    assert aff is not None
    return aff[0]


@pytest.mark.parametrize(("a", "b", "expected"), PEDERSEN_KNOWN)
def test_pedersen_known_answers(a: int, b: int, expected: int, fresh_tables: None) -> None:
    assert S.pedersen(a, b) == expected
    assert _naive_pedersen(a, b) == expected
    tables.warm_tables("medium")
    assert S.pedersen(a, b) == expected


def test_pedersen_rejects_non_felts() -> None:
    from paradexctl.signing.pedersen import pedersen_cached_left

    for a, b in ((FIELD_PRIME, 0), (0, FIELD_PRIME), (-1, 0)):
        with pytest.raises(S.SigningError, match="field element"):
            S.pedersen(a, b)
        with pytest.raises(S.SigningError, match="field element"):
            pedersen_cached_left(a, b)
    # Top-4-bit (P1/P3) paths: the largest field element hashes like the naive definition.
    top = FIELD_PRIME - 1
    assert S.pedersen(top, top) == _naive_pedersen(top, top)


def test_compute_hash_on_elements() -> None:
    assert S.compute_hash_on_elements([]) == S.pedersen(0, 0)
    assert S.compute_hash_on_elements([1, 2]) == S.pedersen(S.pedersen(S.pedersen(0, 1), 2), 2)


# --- Keccak --------------------------------------------------------------------------------------


def test_keccak_known_digests() -> None:
    assert keccak.keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    assert keccak.keccak256(b"abc").hex() == (
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    )


def test_keccak_sponge_matches_sha3_at_every_block_boundary() -> None:
    data = bytes(range(256)) * 2
    for n in [*range(0, 140), 271, 272, 273, 408, 500]:
        assert keccak._sponge256(data[:n], 0x06) == hashlib.sha3_256(data[:n]).digest(), n


def test_starknet_keccak_masks_to_250_bits() -> None:
    for n in range(20):
        assert S.starknet_keccak(bytes([n]) * n) < 2**250
    assert S.starknet_keccak(b"initialize") == snip12.SELECTOR_INITIALIZE


def test_precomputed_chain_links_recomputed() -> None:
    for name, seed in snip12._TYPE_SEEDS.items():
        assert S.pedersen(0, snip12.TYPE_HASHES[name]) == seed, name
    assert set(snip12._TYPE_SEEDS) == set(snip12.TYPES)
    assert S.pedersen(0, snip12.STARKNET_MESSAGE_PREFIX) == snip12._PREFIX_SEED
    names = (
        "PRIVATE_SN_POTC_SEPOLIA",
        "PRIVATE_SN_PARACLEAR_MAINNET",
        "PRIVATE_SN_POTC_MOCK_SEPOLIA",
    )
    assert {S.chain_id_felt(n) for n in names} == set(snip12._KNOWN_DOMAIN_HASHES)
    for chain, expected in snip12._KNOWN_DOMAIN_HASHES.items():
        values = [S.encode_short_string("Paradex"), chain, 1]
        assert snip12.struct_hash("StarkNetDomain", values) == expected
    # An unknown chain is hashed on the fly, consistently with the generic path.
    assert snip12.domain_hash(12345) == snip12.struct_hash(
        "StarkNetDomain", [S.encode_short_string("Paradex"), 12345, 1]
    )


def test_cached_constants_recomputed() -> None:
    for name, value in snip12.TYPE_HASHES.items():
        assert S.starknet_keccak(snip12.encode_type(name).encode()) == value, name
    assert snip12.encode_type("Constant") == "Constant(action:felt)"
    assert S.encode_short_string("StarkNet Message") == snip12.STARKNET_MESSAGE_PREFIX
    assert S.encode_short_string("STARKNET_CONTRACT_ADDRESS") == snip12._CONTRACT_ADDRESS_PREFIX


# --- keys and signatures -------------------------------------------------------------------------

# crypto-cpp's published (private key, public key) pairs.
PUBLIC_KEYS = [
    (
        0x03C1E9550E66958296D11B60F8E8E7A7AD990D07FA65D5F7652C4A6C87D4E3CC,
        0x077A3B314DB07C45076D11F62B6F9E748A39790441823307743CF00D6597EA43,
    ),
    (0x12, 0x019661066E96A8B9F06A1D136881EE924DFB6A885239CAA5FD3F87A54C6B25C4),
    (1, GENERATOR[0]),
]


@pytest.mark.parametrize(("priv", "pub"), PUBLIC_KEYS)
def test_private_to_public(priv: int, pub: int) -> None:
    assert S.private_to_public(priv) == pub


def test_verify_published_cases(fresh_tables: None) -> None:
    # crypto-cpp's verify cases: a valid signature, and one over a different message.
    assert S.verify(
        2,
        0x0411494B501A98ABD8262B0DA1351E17899A0C4EF23DD2F96FEC5BA847310B20,
        0x0405C3191AB3883EF2B763AF35BC5F5D15B3B4E99461D70E84C654A351A7C81B,
        GENERATOR[0],
    )
    assert not S.verify(
        0x0397E76D1667C4454BFB83514E120583AF836F8E32A516765497823EABE16A3F,
        0x0173FD03D8B008EE7432977AC27D1E9D1A1F6C98B1A2F05FA84A21C84C44E882,
        0x01F2C44A7798F55192F153B4C48EA5C1241FBB69E6132CC8A0DA9C5B62A4286E,
        0x077A4B314DB07C45076D11F62B6F9E748A39790441823307743CF00D6597EA43,
    )


PRIV = 0x543B6CF6C91817A87174AAEA4FB370AC1C694E864D7740D728F8344D53E815
MSG = 0x70CD38EEAA297C33E238A6482F9A3CF752D918E85FCCC67008A3467CF66A5F8
#: pedersen(1, 2), as published with Starknet's Pedersen hash.
PEDERSEN_1_2 = 0x5BB9440E27889A364BCB678B1F679ECD1347ACDEDCBF36E83494F857CC58026


def test_verify_rejects_invalid_inputs_without_raising() -> None:
    pub = S.private_to_public(PRIV)
    r, s = S.sign(MSG, PRIV)
    assert S.verify(MSG, r, s, pub)
    bad_w_s = pow(2**251 + 5, -1, EC_ORDER)  # s whose inverse is >= 2^251
    not_on_curve = next(x for x in range(2, 100) if curve.y_from_x(x) is None)
    cases: list[tuple[object, object, object, object]] = [
        (MSG, 0, s, pub),
        (MSG, r, 0, pub),
        (MSG, 2**251, s, pub),
        (MSG, r, EC_ORDER, pub),
        (MSG, r, bad_w_s, pub),
        (2**251, r, s, pub),
        (-1, r, s, pub),
        (MSG, r, s, FIELD_PRIME),
        (MSG, r, s, -1),
        (MSG, r, s, not_on_curve),
        (MSG, str(r), s, pub),
        (MSG, r, s, None),
        (MSG, True, s, pub),
        (MSG, r, s, pub + 1),
    ]
    for case in cases:
        assert S.verify(*case) is False, case  # type: ignore[arg-type]


def test_verify_accepts_either_y_of_the_key() -> None:
    # A key is an x only: the signature verifies whichever root y_from_x returns.
    pub = S.private_to_public(PRIV)
    r, s = S.sign(MSG, PRIV)
    neg_r, neg_s = S.sign(MSG, EC_ORDER - PRIV)  # same x, opposite y
    assert S.private_to_public(EC_ORDER - PRIV) == pub
    assert S.verify(MSG, r, s, pub) and S.verify(MSG, neg_r, neg_s, pub)


def test_key_tables_and_levels(fresh_tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pub = S.private_to_public(PRIV)
    r, s = S.sign(MSG, PRIV)
    monkeypatch.setattr(tables, "AUTO_UPGRADE_AFTER", 3)
    assert tables.current_level() == "small"
    # the upgrade starts at the 3rd operation and is built one slice per UPGRADE_EVERY after it
    ops = 0
    while tables.current_level() == "small" and ops < 10_000:
        assert S.pedersen(1, 2) == PEDERSEN_1_2
        ops += 1
    assert tables.current_level() == "medium" and ops > 3
    assert tables.table("G").w == tables.LEVELS["medium"]["G"]
    # medium: a key gets its own table after a few uses; results must not change.
    for i in range(tables._KEY_TABLE_AFTER["medium"] + 2):
        assert S.verify(MSG, r, s, pub), i
        assert not S.verify(MSG + 1, r, s, pub), i
    assert pub in tables._key_tables
    with pytest.raises(ValueError, match="unknown table level"):
        S.warm_tables("huge")
    monkeypatch.setattr(tables, "LEVELS", {**tables.LEVELS, "large": tables.LEVELS["medium"]})
    S.warm_tables("large")
    assert tables.current_level() == "large"
    S.warm_tables("small")  # never downgrades
    assert tables.current_level() == "large"
    assert S.verify(MSG, r, s, pub)
    assert S.sign(MSG, PRIV) == (r, s)


def test_generate_k_seed_encoding() -> None:
    # Seed None and seed 0 both mean "no extra data" (starknet-crypto-rs strips zero bytes).
    assert ecdsa.generate_k(MSG, PRIV, None) == ecdsa.generate_k(MSG, PRIV, 0)
    k32 = ecdsa.generate_k(MSG, PRIV, 32)
    assert k32 != ecdsa.generate_k(MSG, PRIV, None)
    assert k32 != ecdsa.generate_k(MSG, PRIV, 33)
    assert 0 < k32 < EC_ORDER


def test_sign_retries_with_next_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rejected nonce moves to seed + 1 (cairo-lang's rule; None -> 1)."""
    real = ecdsa._sign_with_k
    calls: list[int] = []

    def reject_first(msg_hash: int, priv: int, k: int) -> tuple[int, int] | None:
        calls.append(k)
        return None if len(calls) == 1 else real(msg_hash, priv, k)

    monkeypatch.setattr(ecdsa, "_sign_with_k", reject_first)
    assert S.sign(MSG, PRIV, seed=32) == real(MSG, PRIV, ecdsa.generate_k(MSG, PRIV, 33))
    calls.clear()
    assert S.sign(MSG, PRIV, seed=None) == real(MSG, PRIV, ecdsa.generate_k(MSG, PRIV, 1))


def test_sign_with_k_rejection_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    n = EC_ORDER
    k = 3
    good = ecdsa._sign_with_k(MSG, PRIV, k)
    assert good is not None
    r = good[0]
    # s == 0: the hash cancels r * priv.
    assert ecdsa._sign_with_k((-r * PRIV) % n, PRIV, k) is None
    # w = 1/s >= 2^251 would fail the verifier's bound.
    s_bad = pow(2**251 + 5, -1, n)
    assert ecdsa._sign_with_k((s_bad * k - r * PRIV) % n, PRIV, k) is None

    # r >= 2^251 (odds ~2^-55 in real life): fake the generator table's output.
    class FakeTable:
        def mul(self, k: int) -> curve.Jacobian:
            return (2**251 + 1, 1, 1)

    monkeypatch.setattr(tables, "table", lambda name: FakeTable())
    assert ecdsa._sign_with_k(MSG, PRIV, k) is None


def test_sign_input_errors() -> None:
    for bad_hash in (2**251, -1):
        with pytest.raises(S.SigningError, match="out of range"):
            S.sign(bad_hash, PRIV)
    with pytest.raises(S.SigningError, match="integer"):
        S.sign("1", PRIV)  # type: ignore[arg-type]
    with pytest.raises(S.SigningError, match="seed"):
        S.sign(MSG, PRIV, seed=-1)
    for bad in (0, EC_ORDER, EC_ORDER + 1, -5):
        with pytest.raises(S.InvalidKeyError) as info:
            S.sign(MSG, bad)
        assert str(bad) not in str(info.value) and hex(bad) not in str(info.value)
        with pytest.raises(S.InvalidKeyError):
            S.private_to_public(bad)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0x", "not a hexadecimal"),
        ("zz", "not a hexadecimal"),
        ("0xzz", "not a hexadecimal"),
        ("-0x5", "not a hexadecimal"),
        ("0x0", "zero"),
        ("000", "zero"),
        (hex(EC_ORDER), "curve order"),
        (hex(EC_ORDER + 12345), "curve order"),
        ("0x" + "f" * 80, "curve order"),
    ],
)
def test_parse_private_key_errors(text: str, problem: str) -> None:
    with pytest.raises(S.InvalidKeyError, match=problem) as info:
        S.parse_private_key(text)
    if len(text.strip()) > 3:  # long enough not to match message words by chance
        assert text.strip() not in str(info.value)


def test_parse_private_key_accepts_hex_forms() -> None:
    assert (
        S.parse_private_key(" 0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815\n")
        == PRIV
    )
    assert (
        S.parse_private_key("543B6CF6C91817A87174AAEA4FB370AC1C694E864D7740D728F8344D53E815")
        == PRIV
    )
    with pytest.raises(S.InvalidKeyError, match="hex string"):
        S.parse_private_key(123)  # type: ignore[arg-type]


def test_signature_format_and_parse() -> None:
    assert S.format_signature(1, 22) == '["1","22"]'
    assert S.parse_signature('["1","22"]') == (1, 22)
    assert S.parse_signature('["0x1f", "0X2"]') == (31, 2)
    assert S.parse_signature("[5, 6]") == (5, 6)
    for bad in (
        "",
        "not json",
        "{}",
        '["1"]',
        '["1","2","3"]',
        '["-1","2"]',
        '["1.5","2"]',
        "[1.5, 2]",
        "[true, 2]",
        '["1", null]',
        '["", "2"]',
        '["0x", "2"]',
        json.dumps(["1", str(FIELD_PRIME)]),
        json.dumps(["1", "9" * 5000]),
        "[1, " + "9" * 5000 + "]",
    ):
        with pytest.raises(S.SigningError):
            S.parse_signature(bad)
    with pytest.raises(S.SigningError):
        S.parse_signature(None)  # type: ignore[arg-type]


# --- typed data encoding -------------------------------------------------------------------------


def test_felt_encoding_rules() -> None:
    enc = snip12.encode_felt
    assert enc("") == 0
    assert enc("0") == 0
    assert enc("1735689600123") == 1735689600123
    assert enc("0x1f") == 31
    assert enc("LIMIT") == 0x4C494D4954
    assert enc("-5") == S.encode_short_string("-5")  # not a decimal numeric string
    assert enc("0X1F") == S.encode_short_string("0X1F")  # only a lowercase 0x means hex
    assert enc(7) == 7
    bad_values = (FIELD_PRIME, -1, hex(FIELD_PRIME), str(FIELD_PRIME), True, 1.5, None, "0xzz")
    for bad in (*bad_values, "0x", "0x" + "1" * 100):
        with pytest.raises(S.SigningError):
            enc(bad)  # type: ignore[arg-type]


def test_short_strings() -> None:
    assert S.encode_short_string("") == 0
    assert S.encode_short_string("A") == 0x41
    assert S.encode_short_string("a" * 31) == int.from_bytes(b"a" * 31, "big")
    with pytest.raises(S.SigningError, match="longer than 31"):
        S.encode_short_string("a" * 32)
    with pytest.raises(S.SigningError, match="not ASCII"):
        S.encode_short_string("é")
    with pytest.raises(S.SigningError):
        S.encode_short_string(5)  # type: ignore[arg-type]


def test_chain_id_felt() -> None:
    testnet = 0x505249564154455F534E5F504F54435F5345504F4C4941
    assert S.chain_id_felt("PRIVATE_SN_POTC_SEPOLIA") == testnet
    assert S.chain_id_felt(hex(testnet)) == testnet
    assert S.chain_id_felt("0X1") == 1
    for bad in ("", "  ", "0xzz", "0x", "X" * 32):
        with pytest.raises(S.SigningError):
            S.chain_id_felt(bad)


CHAIN = 0x505249564154455F534E5F504F54435F5345504F4C4941
ACCOUNT = 0x129C135ED63DF9353885E292BE4426B8ED6122B13C6C0E1BB787288A1F5ADFA
ORDER = {
    "timestamp_ms": 1735689600123,
    "market": "BTC-USD-PERP",
    "side": "BUY",
    "order_type": "LIMIT",
    "size": 1500000,
    "price": 9712350000000,
}


def test_order_builders_validate() -> None:
    base = S.order_message_hash(CHAIN, ACCOUNT, **ORDER)  # type: ignore[arg-type]
    assert base == 0x584D61F5131B51085EDB62918657BD1242642C52F6318D66C450B5DE9B8B3D
    assert S.order_message_hash(CHAIN, ACCOUNT, **{**ORDER, "side": "SELL"}) != base  # type: ignore[arg-type]
    bad_fields: list[dict[str, object]] = [
        {"side": "buy"},
        {"side": "1"},
        {"size": -1},
        {"price": -1},
        {"size": True},
        {"size": "1"},
        {"timestamp_ms": 1.5},
        {"market": ""},
        {"market": "X" * 32},
        {"order_type": ""},
        {"price": FIELD_PRIME},
    ]
    for change in bad_fields:
        with pytest.raises(S.SigningError):
            S.order_message_hash(CHAIN, ACCOUNT, **{**ORDER, **change})  # type: ignore[arg-type]
        with pytest.raises(S.SigningError):
            snip12.order_message(**{**ORDER, **change})  # type: ignore[arg-type]
    with pytest.raises(S.SigningError):
        S.modify_order_message_hash(CHAIN, ACCOUNT, order_id=-1, **ORDER)  # type: ignore[arg-type]
    with pytest.raises(S.SigningError):
        S.order_message_hash(CHAIN, FIELD_PRIME, **ORDER)  # type: ignore[arg-type]
    with pytest.raises(S.SigningError):
        S.auth_message_hash(CHAIN, ACCOUNT, -1, 5)
    with pytest.raises(S.SigningError):
        S.derive_account_address(-1, 1, 2)


def test_typed_data_document_validation() -> None:
    msg = snip12.order_message(**ORDER)  # type: ignore[arg-type]
    doc = S.typed_data("Order", CHAIN, msg)
    assert doc["domain"] == {"name": "Paradex", "chainId": hex(CHAIN), "version": "1"}
    assert list(doc["message"]) == list(snip12.TYPES["Order"])
    assert snip12.typed_data_message_hash(doc, ACCOUNT) == S.order_message_hash(
        CHAIN,
        ACCOUNT,
        **ORDER,  # type: ignore[arg-type]
    )
    with pytest.raises(S.SigningError, match="unknown primary type"):
        S.typed_data("Nope", CHAIN, msg)
    with pytest.raises(S.SigningError, match="unknown primary type"):
        S.typed_data("StarkNetDomain", CHAIN, msg)
    with pytest.raises(S.SigningError, match="exactly the fields"):
        S.typed_data("Order", CHAIN, {**msg, "extra": "1"})
    with pytest.raises(S.SigningError):
        snip12.typed_data_message_hash({"types": {}}, ACCOUNT)
    bad_doc = {**doc, "types": {**doc["types"], "Order": [{"name": "size", "type": "u128"}]}}
    with pytest.raises(S.SigningError, match="only felt"):
        snip12.typed_data_message_hash(bad_doc, ACCOUNT)


# --- package surface -----------------------------------------------------------------------------

EXPECTED_API = {
    "FIELD_PRIME",
    "EC_ORDER",
    "SigningError",
    "InvalidKeyError",
    "PrecisionError",
    "parse_private_key",
    "private_to_public",
    "sign",
    "verify",
    "pedersen",
    "compute_hash_on_elements",
    "starknet_keccak",
    "encode_short_string",
    "chain_id_felt",
    "derive_account_address",
    "auth_message_hash",
    "order_message_hash",
    "modify_order_message_hash",
    "onboarding_message_hash",
    "typed_data",
    "to_chain_int",
    "to_chain_int_truncating",
    "format_signature",
    "parse_signature",
    "warm_tables",
}


def test_public_api() -> None:
    assert set(S.__all__) == EXPECTED_API
    for name in EXPECTED_API:
        assert getattr(S, name) is not None
    assert issubclass(S.InvalidKeyError, S.SigningError)
    assert issubclass(S.PrecisionError, S.SigningError)
    assert issubclass(S.SigningError, ValueError)


def test_import_is_cheap_and_self_contained() -> None:
    """Importing the package builds no table and pulls in no other paradexctl package."""
    code = (
        "import sys, paradexctl.signing, paradexctl.signing.tables as t;"
        "assert not t._tables, t._tables;"
        "bad = [m for m in sys.modules if m.startswith('paradexctl.') and "
        "not m.startswith('paradexctl.signing')];"
        "assert not bad, bad;"
        "assert not any(m in sys.modules for m in ('httpx', 'typer', 'rich', 'websockets'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_table_matches_fixed_table() -> None:
    nt = tables.NoTable(GENERATOR, 252)
    t = curve.FixedBaseTable(GENERATOR, 252, 4)
    for k in SCALARS:
        assert curve.to_affine(nt.mul(k)) == curve.to_affine(t.mul(k)), k
    acc = t.mul(7)
    assert curve.to_affine(nt.accumulate(*acc, 9)) == curve.to_affine(t.accumulate(*acc, 9))
    with pytest.raises(ValueError):
        nt.mul(1 << 252)


def test_verify_from_several_threads(fresh_tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared caches under concurrent use: tiny limits force evictions and table builds."""
    import threading

    monkeypatch.setattr(tables, "_KEY_POINT_MAX", 2)
    monkeypatch.setattr(tables, "_KEY_TABLE_MAX", 1)
    monkeypatch.setattr(tables, "_KEY_TABLE_AFTER", {"small": 0, "medium": 2, "large": 2})
    monkeypatch.setattr(tables, "_KEY_TABLE_W", {"small": 0, "medium": 3, "large": 3})
    monkeypatch.setattr(tables, "_level", "medium")
    privs = [PRIV, 12345, 0xABCDEF]
    signed = [(S.private_to_public(k), S.sign(MSG, k)) for k in privs]
    failures: list[object] = []

    def worker(offset: int) -> None:
        try:
            for i in range(8):
                pub, (r, s) = signed[(i + offset) % len(signed)]
                if not S.verify(MSG, r, s, pub) or S.verify(MSG + 1, r, s, pub):
                    failures.append((offset, i))
        except Exception as err:  # pragma: no cover - the assertion below reports it
            failures.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []

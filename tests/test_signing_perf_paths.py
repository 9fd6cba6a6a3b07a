"""Correctness of the signer's and the simulator's fast paths.

* the cached right half of a Pedersen hash (first sighting, admission, hits, eviction) gives
  the same hashes as the definition;
* tables swapped in by a ``warm_tables`` call running in another thread: hashes and
  verifications stay right before, during and after the swap, and no automatic upgrade
  happens meanwhile;
* the simulator's verify workers (socket pairs read by the event loop) give the same answers
  as an inline check, and a worker that dies is replaced by inline checks.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from paradexctl import signing as S
from paradexctl.signing import curve, snip12, tables
from paradexctl.sim import verify

# The module (the package exports a function of the same name).
pedersen = importlib.import_module("paradexctl.signing.pedersen")

PRIV = 0x3C1E9550E66958296D11B60F8E8E7A7AD990D07FA65D5F7652C4A6C87D4E3CC
CHAIN = S.chain_id_felt("PRIVATE_SN_POTC_SEPOLIA")
ACCOUNT = 0x129F3DC1B8962D8A87ABC692424C78FDA963ADE0777952E42065C0F83F3ACD4
LOW = (1 << 248) - 1


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Isolated table state and Pedersen caches."""
    monkeypatch.setattr(tables, "_level", "small")
    monkeypatch.setattr(tables, "_tables", {})
    monkeypatch.setattr(tables, "_heavy_uses", 0)
    monkeypatch.setattr(tables, "_upgrade", None)
    monkeypatch.setattr(tables, "_warming", None)
    monkeypatch.setattr(tables, "_key_points", type(tables._key_points)())
    monkeypatch.setattr(tables, "_key_uses", {})
    monkeypatch.setattr(tables, "_key_tables", type(tables._key_tables)())
    monkeypatch.setattr(pedersen, "_right_seen", {})
    monkeypatch.setattr(pedersen, "_right_points", {})
    yield


def reference_pedersen(a: int, b: int) -> int:
    """The definition, with textbook variable-base multiplications and no table or cache."""
    shift, p0, p1, p2, p3 = tables.PEDERSEN_POINTS
    acc: curve.Jacobian = (shift[0], shift[1], 1)
    for k, pt in ((a & LOW, p0), (a >> 248, p1), (b & LOW, p2), (b >> 248, p3)):
        if k:
            acc = curve.jac_add(acc, curve.mul_point(k, pt))
    aff = curve.to_affine(acc)
    assert aff is not None
    return aff[0]


RIGHTS = [0, 1, 7, 4, 0x4254432D5553442D50455250, (1 << 251) + 12345, curve.FIELD_PRIME - 1]
LEFTS = [0, 3, 0x6F74F207280B65CF663FB8D7763FAC1E7398CD6D7DA5D7681DC300EE4278A0A]
MSG_FOR_UPGRADE = 0x5BB9440E27889A364BCB678B1F679ECD1347ACDEDCBF36E83494F857CC58026


def test_cached_right_half_matches_the_definition(fresh: None) -> None:
    expected = {(a, b): reference_pedersen(a, b) for a in LEFTS for b in RIGHTS}
    # First sighting of every right input: remembered, not cached.
    for b in RIGHTS:
        assert S.pedersen(LEFTS[0], b) == expected[(LEFTS[0], b)]
    assert set(pedersen._right_seen) == set(RIGHTS)
    assert not pedersen._right_points
    # Second sighting (admitted to the cache), then cache hits.
    for round_ in range(2):
        for (a, b), h in expected.items():
            assert S.pedersen(a, b) == h, (round_, a, b)
    assert set(pedersen._right_points) == set(RIGHTS)


def test_right_cache_eviction_keeps_hashes_right(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pedersen, "_RIGHT_MAX", 2)
    bs = list(range(1, 12))
    expected = {b: reference_pedersen(5, b) for b in bs}
    for _ in range(3):
        for b in bs:
            assert S.pedersen(5, b) == expected[b]
            assert len(pedersen._right_points) <= 2
            assert len(pedersen._right_seen) <= 8


def test_order_hash_same_with_and_without_right_cache(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = dict(market="ETH-USD-PERP", side="SELL", order_type="LIMIT", size=10**7)

    def doc_hash(ts: int, price: int) -> int:
        msg = snip12.order_message(timestamp_ms=ts, price=price, **fields)  # type: ignore[arg-type]
        return snip12.typed_data_message_hash(snip12.typed_data("Order", CHAIN, msg), ACCOUNT)

    hashes = [
        S.order_message_hash(CHAIN, ACCOUNT, timestamp_ms=1700000000000 + i, price=i % 3,
                             **fields)  # type: ignore[arg-type]
        for i in range(6)
    ]  # fmt: skip
    assert pedersen._right_points  # the recurring fields were cached
    monkeypatch.setattr(pedersen, "_right_points", {})
    monkeypatch.setattr(pedersen, "_RIGHT_MAX", 0)  # nothing admitted: every hash uncached
    for i, h in enumerate(hashes):
        assert doc_hash(1700000000000 + i, i % 3) == h


def test_warm_in_another_thread_swaps_tables_whole(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cheap "large" level, and a build that waits until the test lets it finish.
    monkeypatch.setattr(tables, "LEVELS", {**tables.LEVELS, "large": {**tables.LEVELS["small"],
                                                                      "G": 3, "P0": 6, "P2": 3}})  # fmt: skip
    started, release = threading.Event(), threading.Event()
    real_new_table = tables._new_table

    def slow_new_table(name: str, w: int) -> Any:
        if threading.current_thread().name == "warmer":
            started.set()
            assert release.wait(30)
        return real_new_table(name, w)

    monkeypatch.setattr(tables, "_new_table", slow_new_table)
    pub = S.private_to_public(PRIV)
    msg = S.pedersen(1, 2)
    r, s = S.sign(msg, PRIV)
    # Everything above ran at "small" (the automatic upgrade needs AUTO_UPGRADE_AFTER uses).
    before = {name: tables.table(name) for name in ("G", "P0", "P1", "P2", "P3")}
    monkeypatch.setattr(tables, "AUTO_UPGRADE_AFTER", 1)  # the next hash would upgrade...
    warmer = threading.Thread(target=S.warm_tables, args=("large",), name="warmer")
    warmer.start()
    assert started.wait(30)
    # Mid-build: still the old tables and level; no automatic upgrade; results unchanged.
    assert tables.warming() == "large"
    for _ in range(3):
        assert S.pedersen(1, 2) == msg
        assert S.verify(msg, r, s, pub) and not S.verify(msg + 1, r, s, pub)
    assert tables.current_level() == "small"  # ...but not while a warm-up is under way
    assert all(tables.table(n) is t for n, t in before.items())
    release.set()
    warmer.join(30)
    assert not warmer.is_alive()
    assert tables.warming() is None
    assert tables.current_level() == "large"
    assert {n: tables.table(n).w for n in before} == tables.LEVELS["large"]
    assert S.pedersen(1, 2) == msg
    assert S.verify(msg, r, s, pub) and not S.verify(msg + 1, r, s, pub)
    assert S.sign(msg, PRIV) == (r, s)


def test_hashing_while_tables_are_swapped(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Free-running threads across a real swap (small -> medium): every result is right."""
    expected = {(a, b): reference_pedersen(a, b) for a in LEFTS for b in RIGHTS[:4]}
    failures: list[object] = []
    stop = threading.Event()

    def hasher() -> None:
        try:
            while not stop.is_set():
                for (a, b), h in expected.items():
                    if S.pedersen(a, b) != h:
                        failures.append((a, b))
        except Exception as err:  # pragma: no cover - reported below
            failures.append(err)

    threads = [threading.Thread(target=hasher) for _ in range(2)]
    for t in threads:
        t.start()
    S.warm_tables("medium")
    stop.set()
    for t in threads:
        t.join(30)
    assert failures == []
    assert tables.current_level() == "medium"


# --- the simulator's verifier ------------------------------------------------------------------


def _order(ts: int, price: int) -> tuple[dict[str, Any], str]:
    fields: dict[str, Any] = dict(
        timestamp_ms=ts, market="BTC-USD-PERP", side="BUY", order_type="LIMIT",
        size=100_000, price=price,
    )  # fmt: skip
    h = S.order_message_hash(CHAIN, ACCOUNT, **fields)
    return fields, S.format_signature(*S.sign(h, PRIV))


def test_verify_workers_answer_like_inline_checks() -> None:
    pub = S.private_to_public(PRIV)
    cases = []
    for i in range(6):
        fields, sig = _order(1700000000000 + i, 9_000_000_000_000 + i)
        cases.append((fields, sig, True))
        cases.append((dict(fields, price=fields["price"] + 1), sig, False))
    cases.append((cases[0][0], "not a signature", False))

    async def run(v: verify.Verifier) -> list[bool]:
        return list(
            await asyncio.gather(*(v.order_ok(CHAIN, ACCOUNT, pub, sig, f) for f, sig, _ in cases))
        )

    want = [ok for _, _, ok in cases]
    inline = [verify.check_order_signature(CHAIN, ACCOUNT, pub, s, f, None) for f, s, _ in cases]
    assert inline == want
    v = verify.Verifier(2)
    try:
        assert v.pool is not None and len(v.pool) == 2
        assert asyncio.run(run(v)) == want
        # A worker dies: its checks (and later ones) still get the right answers. The last
        # one first: the others were forked while its socket existed, and must not keep it open.
        v.pool[-1].process.kill()
        v.pool[-1].process.join(10)
        assert asyncio.run(asyncio.wait_for(run(v), 60)) == want
        assert v.pool is not None and len(v.pool) == 1
        v.pool[0].process.kill()
        v.pool[0].process.join(10)
        assert asyncio.run(run(v)) == want
        assert v.pool is None  # every check inline now
    finally:
        v.close()


def test_inline_verifier_warms_in_a_thread(fresh: None) -> None:
    v = verify.Verifier(0, warm="medium")
    v.start_warming()
    v.start_warming()  # idempotent
    assert v._warmer is not None
    v._warmer.join(60)
    assert tables.current_level() == "medium"
    pub = S.private_to_public(PRIV)
    fields, sig = _order(1700000000000, 1)
    assert asyncio.run(v.order_ok(CHAIN, ACCOUNT, pub, sig, fields))
    v.close()


def test_retried_order_is_hashed_once() -> None:
    kw: dict[str, Any] = dict(
        market="BTC-USD-PERP", side="BUY", order_type="LIMIT", size=1, price=2
    )  # fmt: skip
    h = S.order_message_hash(CHAIN, ACCOUNT, timestamp_ms=1700000000123, **kw)
    hits = snip12._cached_message_hash.cache_info().hits
    assert S.order_message_hash(CHAIN, ACCOUNT, timestamp_ms=1700000000123, **kw) == h
    assert snip12._cached_message_hash.cache_info().hits == hits + 1
    doc = snip12.typed_data("Order", CHAIN, snip12.order_message(timestamp_ms=1700000000123, **kw))
    assert snip12.typed_data_message_hash(doc, ACCOUNT) == h
    # Any other field, or a modification of the same order, is another hash.
    assert S.order_message_hash(CHAIN, ACCOUNT, timestamp_ms=1700000000124, **kw) != h
    assert S.order_message_hash(CHAIN, ACCOUNT + 1, timestamp_ms=1700000000123, **kw) != h
    assert (
        S.modify_order_message_hash(CHAIN, ACCOUNT, timestamp_ms=1700000000123, order_id=1, **kw)
        != h
    )


# --- shipped tables and the automatic upgrade -----------------------------------------------------


def test_shipped_tables_are_the_small_level_and_equal_built_ones() -> None:
    from paradexctl.signing import _fixed_tables

    small = {(n, w) for n, w in tables.LEVELS["small"].items() if w}
    assert set(_fixed_tables.TABLES) == small
    for name, w in small:
        base, bits = tables._BASES[name]
        shipped = tables.shipped_table(name, w)
        assert shipped is not None and shipped.w == w and shipped.bits == bits
        assert shipped.points == curve.FixedBaseTable(base, bits, w).points
    assert tables.shipped_table("G", 8) is None  # medium and large are built, not shipped
    with pytest.raises(ValueError, match="wrong number of points"):
        curve.FixedBaseTable(curve.GENERATOR, 252, 4, [curve.GENERATOR])


def test_the_first_order_of_a_process_builds_no_table(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh process (no table loaded) hashes and signs an order from the shipped tables:
    computing any table point fails the test."""

    def no_build(*args: Any) -> Any:
        raise AssertionError(f"a table was built: {args[1:]}")

    monkeypatch.setattr(curve, "table_points", no_build)
    monkeypatch.setattr(tables, "table_points", no_build)
    h = S.order_message_hash(
        CHAIN, ACCOUNT, timestamp_ms=1700000000000, market="BTC-USD-PERP", side="BUY",
        order_type="LIMIT", size=S.to_chain_int("0.015"), price=S.to_chain_int("97123.5"),
    )  # fmt: skip
    r, s = S.sign(h, PRIV)
    assert S.verify(h, r, s, S.private_to_public(PRIV))
    assert {n: tables.table(n).w for n in tables.LEVELS["small"]} == tables.LEVELS["small"]


def test_medium_upgrade_is_built_one_bounded_slice_per_operation(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once busy, an operation does at most one slice of the medium build (at most STEP_ADDS
    point additions and one normalization of at most STEP_NORMALIZE points), and only every
    UPGRADE_EVERY operations; the small tables serve until the whole medium set is swapped
    in; every result stays right."""
    adds = [0]
    normalized: list[int] = []
    real_add, real_batch = curve.jac_add_affine, curve.batch_to_affine

    def counting_add(*a: int) -> curve.Jacobian:
        adds[0] += 1
        return real_add(*a)

    def counting_batch(points: Any) -> list[curve.Affine]:
        normalized.append(len(points))
        return real_batch(points)

    pairs = [(a, b) for a in LEFTS[:3] for b in RIGHTS[:3]]
    expected = {ab: reference_pedersen(*ab) for ab in pairs}
    r, s = S.sign(MSG_FOR_UPGRADE, PRIV)
    small = {n: tables.table(n) for n in tables.LEVELS["small"]}
    monkeypatch.setattr(tables, "AUTO_UPGRADE_AFTER", 1)
    monkeypatch.setattr(curve, "jac_add_affine", counting_add)
    monkeypatch.setattr(curve, "batch_to_affine", counting_batch)
    ops = slices = 0
    while tables.current_level() == "small":
        assert ops < 20_000, "the upgrade never completed"
        adds[0] = 0
        normalized.clear()
        a, b = pairs[ops % len(pairs)]
        assert S.pedersen(a, b) == expected[(a, b)]
        ops += 1
        assert adds[0] <= curve.STEP_ADDS, ops
        assert len(normalized) <= 1 and all(n <= curve.STEP_NORMALIZE for n in normalized)
        slices += bool(adds[0] or normalized)
        if tables.current_level() == "small":
            assert all(tables.table(n) is t for n, t in small.items())
    medium = tables.LEVELS["medium"]
    built_points = sum(curve.table_size(tables._BASES[n][1], w) for n, w in medium.items())
    assert slices >= built_points // (curve.STEP_ADDS + curve.STEP_NORMALIZE)  # really sliced
    assert ops >= (slices - 1) * tables.UPGRADE_EVERY  # paced: one slice per UPGRADE_EVERY
    assert {n: tables.table(n).w for n in medium} == medium
    for ab, h in expected.items():
        assert S.pedersen(*ab) == h
    assert S.sign(MSG_FOR_UPGRADE, PRIV) == (r, s)
    assert S.verify(MSG_FOR_UPGRADE, r, s, S.private_to_public(PRIV))


def test_warm_tables_supersedes_a_partial_upgrade(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "AUTO_UPGRADE_AFTER", 1)
    for _ in range(5):
        S.pedersen(1, 2)
    assert tables._upgrade is not None and tables.current_level() == "small"
    monkeypatch.setattr(tables, "LEVELS", {**tables.LEVELS, "large": tables.LEVELS["medium"]})
    S.warm_tables("large")
    assert tables._upgrade is None and tables.current_level() == "large"
    S.pedersen(1, 2)  # no upgrade starts again above small
    assert tables._upgrade is None and tables.current_level() == "large"

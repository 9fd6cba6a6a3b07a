"""Property tests over order messages (hypothesis): a random valid order signs and verifies,
its hash matches the from-scratch typed-data hash, and changing any one signed field (size,
price, market, side, type, timestamp) or the modify's order id breaks verification."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import paradexctl.signing as S
from paradexctl.signing import snip12
from paradexctl.signing.curve import EC_ORDER

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CHAINS = [
    S.chain_id_felt("PRIVATE_SN_POTC_SEPOLIA"),
    S.chain_id_felt("PRIVATE_SN_PARACLEAR_MAINNET"),
]
TYPES = [
    "LIMIT",
    "MARKET",
    "STOP_LIMIT",
    "STOP_MARKET",
    "TAKE_PROFIT_LIMIT",
    "TAKE_PROFIT_MARKET",
    "STOP_LOSS_LIMIT",
    "STOP_LOSS_MARKET",
]

markets = st.from_regex(
    r"k?[A-Z][A-Z0-9]{0,9}-(USD|USDC|BTC)-(PERP|[0-9]{1,7}-[CP])", fullmatch=True
)
chain_ints = st.integers(min_value=1, max_value=10**26)  # up to 10^18 units at 8 decimals
orders = st.fixed_dictionaries(
    {
        "timestamp_ms": st.integers(min_value=0, max_value=2**53),
        "market": markets,
        "side": st.sampled_from(["BUY", "SELL"]),
        "order_type": st.sampled_from(TYPES),
        "size": chain_ints,
        "price": st.one_of(st.just(0), chain_ints),
    }
)
keys = st.integers(min_value=1, max_value=EC_ORDER - 1)
accounts = st.integers(min_value=1, max_value=2**251 - 1)


def _tampered(order: dict[str, Any], field: str, delta: int, other_market: str) -> dict[str, Any]:
    bad = dict(order)
    if field == "size":
        bad["size"] = order["size"] + delta
    elif field == "price":
        bad["price"] = order["price"] + delta
    elif field == "timestamp_ms":
        bad["timestamp_ms"] = order["timestamp_ms"] + delta
    elif field == "side":
        bad["side"] = "SELL" if order["side"] == "BUY" else "BUY"
    elif field == "order_type":
        step = 1 + delta % (len(TYPES) - 1)  # 1..7: always another type
        bad["order_type"] = TYPES[(TYPES.index(order["order_type"]) + step) % len(TYPES)]
    else:
        bad["market"] = other_market if other_market != order["market"] else order["market"] + "X"
    assert bad != order
    return bad


@SLOW
@given(
    order=orders,
    priv=keys,
    account=accounts,
    chain=st.sampled_from(CHAINS),
    field=st.sampled_from(["size", "price", "market", "side", "order_type", "timestamp_ms"]),
    delta=st.integers(min_value=1, max_value=10**8),
    other_market=markets,
)
def test_random_orders_sign_and_verify_and_any_field_change_breaks_it(
    order: dict[str, Any],
    priv: int,
    account: int,
    chain: int,
    field: str,
    delta: int,
    other_market: str,
) -> None:
    pub = S.private_to_public(priv)
    h = S.order_message_hash(chain, account, **order)
    # the cached fast path agrees with the from-scratch typed-data hash
    doc = S.typed_data("Order", chain, snip12.order_message(**order))
    assert snip12.typed_data_message_hash(doc, account) == h
    r, s = S.sign(h, priv)
    assert S.verify(h, r, s, pub)

    bad = _tampered(order, field, delta, other_market)
    bad_hash = S.order_message_hash(chain, account, **bad)
    assert bad_hash != h
    assert not S.verify(bad_hash, r, s, pub)
    # the same order for another account, or on another chain, does not verify either
    assert not S.verify(S.order_message_hash(chain, account ^ 1, **order), r, s, pub)
    other_chain = CHAINS[1] if chain == CHAINS[0] else CHAINS[0]
    assert not S.verify(S.order_message_hash(other_chain, account, **order), r, s, pub)


@SLOW
@given(
    order=orders,
    order_id=st.integers(min_value=1, max_value=10**30),
    priv=keys,
    account=accounts,
    delta=st.integers(min_value=1, max_value=10**6),
)
def test_modify_signature_is_bound_to_the_order_id_and_fields(
    order: dict[str, Any], order_id: int, priv: int, account: int, delta: int
) -> None:
    pub = S.private_to_public(priv)
    chain = CHAINS[0]
    h = S.modify_order_message_hash(chain, account, **order, order_id=order_id)
    doc = S.typed_data(
        "ModifyOrder", chain, snip12.modify_order_message(**order, order_id=order_id)
    )
    assert snip12.typed_data_message_hash(doc, account) == h
    assert h != S.order_message_hash(chain, account, **order)  # a modify is not an order
    r, s = S.sign(h, priv)
    assert S.verify(h, r, s, pub)
    moved = S.modify_order_message_hash(chain, account, **order, order_id=order_id + delta)
    assert not S.verify(moved, r, s, pub)
    resized = S.modify_order_message_hash(
        chain, account, **{**order, "size": order["size"] + delta}, order_id=order_id
    )
    assert not S.verify(resized, r, s, pub)

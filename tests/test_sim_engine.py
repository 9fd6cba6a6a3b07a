"""The simulator's pure engine: order lifecycle rules and hypothesis-checked invariants.

Invariants (numbered as in ``paradexctl/sim/exchange.py``):
1. a position's size equals the signed sum of its fills;
2. balance = deposits + realized PnL - fees, with PnL and fees recomputed here from the fills'
   prices, sizes and sides (an independent average-cost model), and every balance event's
   before/after delta equal to its fill's PnL minus fee;
3. no order is both open and closed;
4. event ``seq`` strictly increases, and so does the REST ``seq_no`` of each order, position
   (per market) and account; the WebSocket ``seq_no`` strictly increases per channel and
   account as delivered through the hub's real publish path.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paradexctl.sim.app import Hub, RestView
from paradexctl.sim.exchange import (
    CLOSED,
    OPEN,
    UNTRIGGERED,
    Event,
    Exchange,
    OrderRequest,
    Rejected,
    SimConfig,
)
from paradexctl.sim.faults import Faults

BTC = "BTC-USD-PERP"
A, B = "0xa", "0xb"


def make(**kw: Any) -> Exchange:
    ex = Exchange(SimConfig(mark_walk_ms=0, **kw), now_ms=1_000)
    ex.onboard("0x1", A, 1_000)
    ex.onboard("0x2", B, 1_000)
    return ex


def req(side: str, size: str, price: str | None = None, **kw: Any) -> OrderRequest:
    otype = kw.pop("type", "LIMIT" if price is not None else "MARKET")
    return OrderRequest(BTC, side, otype, D(size), None if price is None else D(price), **kw)


def statuses(events: list[Event], order_id: str) -> list[str]:
    return [e.data["status"] for e in events if e.kind == "order" and e.data["id"] == order_id]


# ----------------------------------------------------------------------------- lifecycle


def test_limit_order_rests_then_fills_when_the_mark_crosses_it() -> None:
    ex = make()
    acc, events = ex.place_order(A, req("BUY", "0.01", "96000"), 2_000)
    assert acc["status"] == "NEW"
    assert statuses(events, acc["id"]) == ["NEW", "OPEN"]
    events = ex.set_mark(BTC, D("95000"), 3_000)
    assert statuses(events, acc["id"]) == ["CLOSED"]
    fills = [e.data for e in events if e.kind == "fill"]
    assert fills and all(f["liquidity"] == "MAKER" and f["price"] == "96000" for f in fills)
    assert ex.position(A, BTC).size == D("0.01")
    assert ex.orders[acc["id"]].cancel_reason == ""


def test_market_order_takes_the_synthetic_book_with_taker_fee() -> None:
    ex = make()
    ask = D(ex.bbo(BTC)["ask"])
    acc, events = ex.place_order(A, req("BUY", "0.01"), 2_000)
    (fill,) = [e.data for e in events if e.kind == "fill"]
    assert fill["liquidity"] == "TAKER" and D(fill["price"]) == ask
    assert D(fill["fee"]) == ask * D("0.01") * D("0.0005")
    assert statuses(events, acc["id"]) == ["NEW", "CLOSED"]
    assert D(ex.balance(A)["size"]) == D("100000") - D(fill["fee"])


def test_large_order_partially_fills_across_levels() -> None:
    ex = make()
    acc, events = ex.place_order(A, req("BUY", "3", "97020", instruction="IOC"), 2_000)
    fills = [e.data for e in events if e.kind == "fill"]
    assert len(fills) >= 2
    o = ex.orders[acc["id"]]
    assert o.status == CLOSED and o.cancel_reason == "IOC_CANCELED"
    assert sum(D(f["size"]) for f in fills) == o.size - o.remaining
    assert 0 < o.remaining < o.size


def test_post_only_that_would_cross_is_accepted_then_closed() -> None:
    ex = make()
    ask = ex.bbo(BTC)["ask"]
    acc, events = ex.place_order(A, req("BUY", "0.01", ask, instruction="POST_ONLY"), 2_000)
    assert acc["status"] == "NEW"
    assert ex.orders[acc["id"]].cancel_reason == "POST_ONLY_WOULD_CROSS"
    assert not [e for e in events if e.kind == "fill"]


def test_not_enough_margin_is_a_late_rejection() -> None:
    ex = make()
    acc, _ = ex.place_order(A, req("BUY", "20", "90000"), 2_000)  # 1.8M notional, 10x = 180k
    assert acc["status"] == "NEW"
    o = ex.orders[acc["id"]]
    assert (o.status, o.cancel_reason) == (CLOSED, "NOT_ENOUGH_MARGIN")


def test_reduce_only_cannot_open_or_increase() -> None:
    ex = make()
    acc, _ = ex.place_order(A, req("SELL", "0.01", flags=("REDUCE_ONLY",)), 2_000)
    assert ex.orders[acc["id"]].cancel_reason == "REDUCE_ONLY_WILL_INCREASE"
    ex.place_order(A, req("BUY", "0.01"), 2_001)
    acc, _ = ex.place_order(A, req("SELL", "0.05", flags=("REDUCE_ONLY",)), 2_002)
    o = ex.orders[acc["id"]]
    assert o.filled == D("0.01") and o.status == CLOSED
    assert ex.position(A, BTC).size == 0


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"size": "0.0005"}, "INVALID_ORDER_SIZE"),
        ({"size": "0.0001"}, "INVALID_ORDER_SIZE"),
        ({"price": "96000.05"}, "VALIDATION_ERROR"),
        ({"size": "0.0001", "price": "96000"}, "INVALID_ORDER_SIZE"),
        ({"market": "DOGE-USD-PERP"}, "MARKET_NOT_FOUND"),
        ({"instruction": "FOK"}, "VALIDATION_ERROR"),
    ],
)
def test_validation_rejects_synchronously(kw: dict[str, str], code: str) -> None:
    ex = make()
    r = req(
        "BUY",
        kw.get("size", "0.01"),
        kw.get("price", "96000"),
        instruction=kw.get("instruction", "GTC"),
    )
    r.market = kw.get("market", BTC)
    with pytest.raises(Rejected) as err:
        ex.place_order(A, r, 2_000)
    assert err.value.code == code
    assert not ex.orders


def test_min_notional_uses_limit_price() -> None:
    ex = make()
    with pytest.raises(Rejected) as err:
        ex.place_order(A, req("BUY", "0.001", "9000"), 2_000)  # 9 USD < 10
    assert err.value.code == "INVALID_ORDER_SIZE"


def test_duplicated_client_id_among_open_orders_only() -> None:
    ex = make()
    acc, _ = ex.place_order(A, req("BUY", "0.01", "96000", client_id="x"), 2_000)
    with pytest.raises(Rejected) as err:
        ex.place_order(A, req("BUY", "0.01", "96000", client_id="x"), 2_001)
    assert err.value.code == "DUPLICATED_CLIENT_ID"
    ex.place_order(B, req("BUY", "0.01", "96000", client_id="x"), 2_002)  # other account: fine
    ex.cancel_order(A, acc["id"], 2_003)
    ex.place_order(A, req("BUY", "0.01", "96000", client_id="x"), 2_004)  # closed: reusable


def test_cancel_modify_and_cancel_closed() -> None:
    ex = make()
    acc, _ = ex.place_order(A, req("BUY", "0.01", "96000"), 2_000)
    oid = acc["id"]
    before = ex.orders[oid].seq_no
    order, _ = ex.modify_order(A, oid, req("BUY", "0.02", "95000"), 2_001)
    assert order["id"] == oid and order["size"] == "0.02" and order["price"] == "95000"
    assert order["seq_no"] > before
    events = ex.cancel_order(A, oid, 2_002)
    assert statuses(events, oid) == ["CLOSED"]
    assert ex.orders[oid].cancel_reason == "USER_CANCELED"
    with pytest.raises(Rejected) as err:
        ex.cancel_order(A, oid, 2_003)
    assert err.value.code == "ORDER_IS_CLOSED"
    with pytest.raises(Rejected) as err:
        ex.cancel_order(B, oid, 2_003)
    assert err.value.code == "ORDER_ID_NOT_FOUND"


def test_modify_to_crossing_price_takes_liquidity() -> None:
    ex = make()
    acc, _ = ex.place_order(A, req("BUY", "0.01", "96000"), 2_000)
    ask = ex.bbo(BTC)["ask"]
    _order, events = ex.modify_order(A, acc["id"], req("BUY", "0.01", ask), 2_001)
    assert [e.data["liquidity"] for e in events if e.kind == "fill"] == ["TAKER"]
    assert ex.orders[acc["id"]].status == CLOSED


def test_users_trade_with_each_other_before_the_synthetic_book() -> None:
    ex = make()
    ask = D(ex.bbo(BTC)["ask"])
    inside = str(ask - D("0.1"))
    _maker, _ = ex.place_order(B, req("SELL", "0.01", inside), 2_000)
    _, events = ex.place_order(A, req("BUY", "0.01", str(ask)), 2_001)
    fills = {(e.account, e.data["liquidity"], e.data["price"]) for e in events if e.kind == "fill"}
    assert fills == {(A, "TAKER", inside), (B, "MAKER", inside)}
    assert ex.position(B, BTC).size == D("-0.01")


def test_self_trade_expires_the_taker_by_default() -> None:
    ex = make()
    ask = D(ex.bbo(BTC)["ask"])
    inside = str(ask - D("0.1"))
    ex.place_order(A, req("SELL", "0.01", inside), 2_000)
    acc, _ = ex.place_order(A, req("BUY", "0.01", str(ask)), 2_001)
    assert ex.orders[acc["id"]].cancel_reason == "SELF_TRADE"


def test_stop_market_triggers_when_the_mark_crosses() -> None:
    ex = make()
    acc, _ = ex.place_order(
        A, req("BUY", "0.01", type="STOP_MARKET", trigger_price=D("98000")), 2_000
    )
    o = ex.orders[acc["id"]]
    assert o.status == UNTRIGGERED and "STOP_CONDITION_ABOVE_TRIGGER" in o.flags
    ex.set_mark(BTC, D("97500"), 2_001)
    assert o.status == UNTRIGGERED
    events = ex.set_mark(BTC, D("98100"), 2_002)
    assert statuses(events, o.id) == ["NEW", "CLOSED"]
    assert ex.position(A, BTC).size == D("0.01")


def test_realized_pnl_and_flip() -> None:
    ex = make()
    ex.place_order(A, req("BUY", "0.01"), 2_000)
    entry = ex.position(A, BTC).average_entry_price
    ex.set_mark(BTC, D("99000"), 2_001)
    _, events = ex.place_order(A, req("SELL", "0.03"), 2_002)
    pos = ex.position(A, BTC)
    assert pos.size == D("-0.02")
    fills = [e.data for e in events if e.kind == "fill"]
    realized = sum(D(f["realized_pnl"]) for f in fills)
    bid = D(fills[0]["price"])
    assert realized == (bid - entry) * D("0.01")
    assert pos.average_entry_price == bid


def test_force_fill_and_deposit() -> None:
    ex = make()
    acc, _ = ex.place_order(A, req("BUY", "0.02", "90000"), 2_000)
    ex.force_fill(acc["id"], D("0.01"), None, 2_001)
    o = ex.orders[acc["id"]]
    assert (o.status, o.remaining) == (OPEN, D("0.01"))
    ex.force_fill(acc["id"], None, None, 2_002)
    assert o.status == CLOSED
    ex.deposit(A, D("5"), 2_003)
    with pytest.raises(Rejected):
        ex.force_fill(acc["id"], None, None, 2_004)


def test_state_round_trips() -> None:
    ex = make()
    ex.place_order(A, req("BUY", "0.01", "96000", client_id="keep"), 2_000)
    ex.place_order(A, req("BUY", "0.01"), 2_001)
    state = ex.to_state()
    ex2 = Exchange.from_state(state, ex.config)
    assert ex2.to_state() == state
    assert [o.client_id for o in ex2.open_orders(A)] == ["keep"]
    assert ex2.account_summary(A) == ex.account_summary(A)
    # the resumed engine keeps allocating fresh ids and increasing seq numbers
    acc, events = ex2.place_order(A, req("BUY", "0.01", "95000"), 2_002)
    assert acc["id"] not in ex.orders and events[0].seq > state["seq"]


def test_mark_walk_is_deterministic_under_seed() -> None:
    def run(seed: int) -> list[str]:
        ex = Exchange(SimConfig(seed=seed, mark_walk_ms=100), now_ms=0)
        out = []
        for t in range(100, 3_000, 100):
            ex.advance(t)
            out.append(str(ex.mark(BTC)))
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert len(set(run(7))) > 5


# ----------------------------------------------------------------------------- invariants

MARKETS = ("BTC-USD-PERP", "ETH-USD-PERP")
INC = {"BTC-USD-PERP": D("0.001"), "ETH-USD-PERP": D("0.001")}
TICK = {"BTC-USD-PERP": D("0.1"), "ETH-USD-PERP": D("0.01")}

place_op = st.tuples(
    st.just("place"),
    st.sampled_from([A, B]),
    st.sampled_from(MARKETS),
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(["LIMIT", "LIMIT", "MARKET", "STOP_MARKET", "STOP_LIMIT"]),
    st.integers(1, 3000),  # size in increments
    st.integers(-40, 40),  # price offset from mark, in 0.1% steps
    st.sampled_from(["GTC", "GTC", "IOC", "POST_ONLY"]),
    st.sampled_from([False, False, False, True]),  # reduce-only
    st.sampled_from(["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]),
    st.sampled_from(["", "", "", "c1", "c2", "c3", "c4"]),  # client_id
)
other_op = st.one_of(
    st.tuples(
        st.just("batch"), st.sampled_from([A, B]), st.lists(place_op, min_size=1, max_size=4)
    ),
    st.tuples(st.just("cancel_cid"), st.integers(0, 50), st.booleans()),
    st.tuples(
        st.just("cancel_batch"),
        st.sampled_from([A, B]),
        st.lists(st.integers(0, 60), max_size=4),
        st.lists(st.sampled_from(["c1", "c2", "c3", "c4", "zz"]), max_size=3),
    ),
    st.tuples(st.just("deposit"), st.sampled_from([A, B]), st.integers(-500, 3000)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("modify"), st.integers(0, 50), st.integers(-20, 20), st.integers(1, 2000)),
    st.tuples(st.just("mark"), st.sampled_from(MARKETS), st.integers(-30, 30)),
    st.tuples(st.just("force"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("advance"), st.integers(0, 1_000)),
    st.tuples(st.just("cancel_all"), st.sampled_from([A, B])),
)
ops = st.lists(st.one_of(place_op, place_op, other_op), min_size=1, max_size=40)


def _price(ex: Exchange, market: str, offset: int) -> D:
    mark = ex.mark(market)
    raw = mark * (1 + D(offset) / 1000)
    return (raw / TICK[market]).to_integral_value() * TICK[market]


def _request(ex: Exchange, op: tuple[Any, ...]) -> tuple[str, OrderRequest]:
    _, acct, market, side, otype, n, off, instr, ro, stp, cid = op
    price = _price(ex, market, off) if otype.endswith("LIMIT") else None
    if instr != "GTC" and otype != "LIMIT":
        instr = "GTC"
    trigger = _price(ex, market, off // 2 or 1) if otype.startswith("STOP") else None
    r = OrderRequest(
        market, side, otype, INC[market] * n, price, instr, cid,
        ("REDUCE_ONLY",) if ro else (), trigger, stp,
    )  # fmt: skip
    return acct, r


def _run(
    ex: Exchange, op: tuple[Any, ...], now: int, deposits: dict[str, D] | None = None
) -> list[Event]:
    ids = list(ex.orders)
    kind = op[0]
    try:
        if kind == "place":
            acct, r = _request(ex, op)
            return ex.place_order(acct, r, now)[1]
        if kind == "batch":
            reqs = [_request(ex, p)[1] for p in op[2]]
            return ex.place_batch(op[1], reqs, now)[1]
        if kind == "cancel_cid" and ids:
            o = ex.orders[ids[op[1] % len(ids)]]
            if not o.client_id:
                return []
            return ex.cancel_by_client_id(o.account, o.client_id, o.market if op[2] else None, now)
        if kind == "cancel_batch":
            oids = [ids[i % len(ids)] for i in op[2]] if ids else []
            return ex.cancel_batch(op[1], oids, op[3], now)[1]
        if kind == "deposit":
            events = ex.deposit(op[1], D(op[2]), now)
            if deposits is not None:
                deposits[op[1]] += D(op[2])
            return events
        if kind == "cancel" and ids:
            o = ex.orders[ids[op[1] % len(ids)]]
            return ex.cancel_order(o.account, o.id, now)
        if kind == "modify" and ids:
            o = ex.orders[ids[op[1] % len(ids)]]
            price = _price(ex, o.market, op[2]) if o.type.endswith("LIMIT") else None
            r = OrderRequest(o.market, o.side, o.type, INC[o.market] * op[3], price)
            return ex.modify_order(o.account, o.id, r, now)[1]
        if kind == "mark":
            return ex.set_mark(op[1], _price(ex, op[1], op[2]), now)
        if kind == "force" and ids:
            o = ex.orders[ids[op[1] % len(ids)]]
            size = None if op[2] or o.remaining <= INC[o.market] else INC[o.market]
            return ex.force_fill(o.id, size, None, now)
        if kind == "advance":
            return ex.advance(now + op[1])
        if kind == "cancel_all":
            return ex.cancel_all(op[1], None, now)
    except Rejected:
        return []
    return []


Q8 = D("0.00000001")
FEE = {"MAKER": D("0.0002"), "TAKER": D("0.0005")}


def model_pnl(fills: list[dict[str, Any]]) -> dict[str, tuple[D, D]]:
    """Realized PnL and fee of every fill (by id), from an independent average-cost model
    fed only with each fill's side, size, price and liquidity, in order."""
    book: dict[tuple[str, str], tuple[D, D]] = {}  # (account, market) -> (size, avg entry)
    out: dict[str, tuple[D, D]] = {}
    for f in fills:
        key = (f["account"], f["market"])
        size, avg = book.get(key, (D(0), D(0)))
        qty, px = D(f["size"]), D(f["price"])
        delta = qty if f["side"] == "BUY" else -qty
        new = size + delta
        pnl = D(0)
        if size == 0 or (size > 0) == (delta > 0):  # opening or adding
            avg = ((abs(size) * avg + qty * px) / abs(new)).quantize(Q8)
        else:  # reducing, closing or flipping
            closing = min(qty, abs(size))
            pnl = (px - avg) * closing * (1 if size > 0 else -1)
            if new == 0:
                avg = D(0)
            elif (new > 0) != (size > 0):
                avg = px
        book[key] = (new, avg)
        out[f["id"]] = (pnl, qty * px * FEE[f["liquidity"]])
    return out


def check_invariants(ex: Exchange, events: list[Event], deposits: dict[str, D]) -> None:
    # 1. position == signed sum of fills
    for (acct, market), pos in ex.positions.items():
        signed = sum(
            (f.size if f.side == "BUY" else -f.size for f in ex.fills[acct] if f.market == market),
            D(0),
        )
        assert pos.size == signed
    # 2. balance == deposits + realized - fees, recomputed from the published fills
    fills = [e.data for e in events if e.kind == "fill"]
    assert sorted(f["id"] for f in fills) == sorted(f.id for fs in ex.fills.values() for f in fs)
    model = model_pnl(fills)
    for addr, acct in ex.accounts.items():
        mine = [model[f["id"]] for f in fills if f["account"] == addr]
        expected = deposits[addr] + sum((pnl - fee for pnl, fee in mine), D(0))
        assert acct.balance == expected, (addr, acct.balance, expected)
    for e in events:
        if e.kind == "balance_event" and e.data["type"] == "TRANSACTION_FILL":
            pnl, fee = model[e.data["fill_id"]]
            delta = D(e.data["settlement_asset_balance_after"]) - D(
                e.data["settlement_asset_balance_before"]
            )
            assert delta == pnl - fee
            assert D(e.data["realized_pnl"]) == pnl and D(e.data["fees"]) == fee
    # 3. open xor closed; fills account for every order's filled size
    booked: dict[str, int] = {}
    for m in ex.markets.values():
        for o in (*m.user_bids, *m.user_asks, *m.stops):
            booked[o.id] = booked.get(o.id, 0) + 1
    for o in ex.orders.values():
        if o.status == CLOSED:
            assert o.id not in booked
        else:
            assert booked.get(o.id) == 1, (o.id, o.status)
            assert o.remaining > 0
        filled = sum((f.size for f in ex.fills[o.account] if f.order_id == o.id), D(0))
        assert filled == o.size - o.remaining
        assert o.remaining >= 0
    # 4. seq strictly increasing; per-order seq_no increasing; nothing after CLOSED
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    last: dict[str, tuple[int, str]] = {}
    for e in events:
        if e.kind == "order":
            oid = e.data["id"]
            if oid in last:
                prev_seq, prev_status = last[oid]
                assert e.data["seq_no"] > prev_seq
                assert prev_status != CLOSED
            last[oid] = (e.data["seq_no"], e.data["status"])
    for oid, (_, status) in last.items():
        assert ex.orders[oid].status == status
    # REST seq_no per position (account, market) and per account strictly increases
    rest_seq: dict[tuple[str, str, str], int] = {}
    for e in events:
        if e.kind in ("position", "account"):
            key = (e.kind, e.account or "", e.data.get("market", ""))
            assert e.data["seq_no"] > rest_seq.get(key, 0), key
            rest_seq[key] = e.data["seq_no"]
        if e.kind == "bbo":
            key = ("bbo", "", e.market or "")
            assert e.data["seq_no"] > rest_seq.get(key, -1), key
            rest_seq[key] = e.data["seq_no"]


class Recorder:
    """A stand-in connection for :class:`Hub`: records what the real publish path sends."""

    def __init__(self, account: str) -> None:
        self.account: str | None = account
        self.subs: set[str] = set()
        self.silent_until = 0.0
        self.sent: list[dict[str, Any]] = []

    def enqueue(self, text: str, delay: float) -> None:
        self.sent.append(json.loads(text))


def published(events_per_call: list[tuple[int, list[Event]]]) -> dict[str, list[dict[str, Any]]]:
    """Every notification each account's connection receives on orders.ALL, positions and
    account, published call by call as the server does."""
    hub = Hub(Faults())
    conns = {a: Recorder(a) for a in (A, B)}
    for conn in conns.values():
        hub.conns.add(conn)  # type: ignore[arg-type]
        for ch in ("orders.ALL", "positions", "account"):
            hub.subscribe(conn, ch, True)  # type: ignore[arg-type]
    for now, evs in events_per_call:
        hub.publish(evs, now)
    return {a: c.sent for a, c in conns.items()}


def check_ws_seq(sent: dict[str, list[dict[str, Any]]], events: list[Event]) -> None:
    for addr, msgs in sent.items():
        last: dict[str, int] = {}
        for m in msgs:
            assert m["method"] == "subscription"
            ch, data = m["params"]["channel"], m["params"]["data"]
            assert data["seq_no"] > last.get(ch, 0), (addr, ch)
            last[ch] = data["seq_no"]
            assert data.get("account", addr) == addr
        kinds = {"order": "orders.ALL", "position": "positions", "account": "account"}
        expected = [kinds[e.kind] for e in events if e.account == addr and e.kind in kinds]
        assert [m["params"]["channel"] for m in msgs] == expected


def check_adapters(ex: Exchange, events: list[Event]) -> None:
    """The REST view with no staleness shows the engine's truth, and the WebSocket's own
    seq_no strictly increases per channel key (and never equals the REST one)."""
    view = RestView()
    view.apply(events)
    now = ex.now_ms
    for addr in ex.accounts:
        got = {o["id"]: o for o in view.account_orders(addr, now)}
        assert got == {o.id: o.to_json() for o in ex.orders.values() if o.account == addr}
        assert view.latest(view.balances, addr, now) == ex.balance(addr)
        assert view.latest(view.accounts, addr, now) == ex.account_summary(addr)
        assert [f["id"] for f in view.fills_of(addr, now)] == [f.id for f in ex.fills[addr]]
    hub = Hub(Faults())
    last: dict[tuple[str, str], int] = {}
    for ev in events:
        if ev.kind in ("order", "position", "account"):
            data = hub._stamp(ev, ev.at_ms)
            key = (ev.kind, ev.account or "")
            assert data["seq_no"] > last.get(key, 0)
            assert data["seq_no"] != ev.data["seq_no"]
            last[key] = data["seq_no"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_order_flow_keeps_the_invariants(flow: list[tuple[Any, ...]]) -> None:
    ex = Exchange(
        SimConfig(mark_walk_ms=100, markets=MARKETS, book_levels=5, faucet=D("20000")),
        now_ms=1_000,
    )
    events = ex.onboard("0x1", A, 1_000) + ex.onboard("0x2", B, 1_000)
    calls = [(1_000, list(events))]
    deposits = {A: D("20000"), B: D("20000")}
    now = 1_000
    for op in flow:
        now += 7
        new = _run(ex, op, now, deposits)
        events += new
        calls.append((now, new))
        now = max(now, ex.now_ms)
        check_invariants(ex, events, deposits)
    check_adapters(ex, events)
    check_ws_seq(published(calls), events)
    # and the state survives a round trip unchanged
    assert Exchange.from_state(ex.to_state(), ex.config).to_state() == ex.to_state()


# ----------------------------------------------------------------- leverage


def test_less_leverage_needs_more_margin_and_refuses_what_10x_would_take() -> None:
    ex = make()
    bid = D(ex.bbo(BTC)["bid"])
    price = str((bid * D("0.9")).quantize(D("0.1")))
    assert ex.margin_config(A, BTC) == {"market": BTC, "leverage": 10,
                                        "isolated_margin_leverage": 10, "margin_type": "CROSS"}  # fmt: skip
    ok, _ = ex.place_order(A, req("BUY", "1.5", price), 2_000)
    assert ex.orders[ok["id"]].status == OPEN  # 1.5 x ~87k at 10x: ~13k of 100k
    imr_10x = D(ex.account_summary(A)["initial_margin_requirement"])
    ex.set_margin(A, BTC, 2, "CROSS")
    assert D(ex.account_summary(A)["initial_margin_requirement"]) == imr_10x * 5
    ex.set_margin(A, BTC, 1, "ISOLATED")
    other, _ = ex.place_order(B, req("BUY", "1.5", price), 2_001)  # B keeps 10x
    assert ex.orders[other["id"]].status == OPEN
    late, _ = ex.place_order(A, req("BUY", "0.1", price), 2_002)  # at 1x: 130k + 8.7k > 100k
    assert (ex.orders[late["id"]].status, ex.orders[late["id"]].cancel_reason) == (
        CLOSED, "NOT_ENOUGH_MARGIN",
    )  # fmt: skip
    assert ex.margin_config(A, BTC)["margin_type"] == "ISOLATED"


@pytest.mark.parametrize(
    ("leverage", "margin_type", "message"),
    [(0, "CROSS", "leverage must be in [1, 10]"), (11, "CROSS", "leverage must be in [1, 10]"),
     (True, "CROSS", "leverage must be an integer"), ("5", "CROSS", "must be an integer"),
     (5, "cross", "margin_type must be CROSS or ISOLATED")],
)  # fmt: skip
def test_a_margin_setting_out_of_bounds_is_refused_and_changes_nothing(
    leverage: Any, margin_type: str, message: str
) -> None:
    ex = make()
    with pytest.raises(Rejected) as info:
        ex.set_margin(A, BTC, leverage, margin_type)
    assert message in info.value.message
    assert ex.margin == {}
    with pytest.raises(Rejected) as info:
        ex.set_margin(A, "NOPE-USD-PERP", 5, "CROSS")
    assert info.value.code == "MARKET_NOT_FOUND"


def test_margin_settings_survive_the_state_file() -> None:
    ex = make()
    ex.set_margin(A, BTC, 3, "ISOLATED")
    back = Exchange.from_state(json.loads(json.dumps(ex.to_state())), ex.config)
    assert back.margin_config(A, BTC)["leverage"] == 3
    assert back.imf_for(A, BTC) == D(1) / D(3)
    assert back.imf_for(B, BTC) == ex.config.imf

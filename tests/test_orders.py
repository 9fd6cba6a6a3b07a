"""paradexctl.paradex.orders: validation, signing against the vectors, never-place-twice,
late rejections, cancel refusal, batch matching. MockTransport only, instant sleeps."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from paradexctl.errors import ExchangeRejected, ExchangeUnavailable, OutcomeUnknown, ValidationError
from paradexctl.paradex import orders as O
from paradexctl.paradex.feed import LiveFeed
from paradexctl.paradex.rest import RestClient, RetryPolicy
from paradexctl.paradex.ws import Notification

VECTORS = Path(__file__).resolve().parent / "vectors"
D = Decimal
BTC = {
    "symbol": "BTC-USD-PERP",
    "price_tick_size": "0.1",
    "order_size_increment": "0.001",
    "min_notional": "10",
    "max_order_size": "100",
}


def spec(**kw) -> O.OrderSpec:
    base = dict(market="BTC-USD-PERP", side="BUY", size=D("0.01"), price=D("97000"),
                client_id="c-1")  # fmt: skip
    base.update(kw)
    return O.OrderSpec(**base)


# -- validation -----------------------------------------------------------------------------


def test_valid_limit_order_passes():
    O.validate(spec(), BTC)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"price": D("97000.05")}, "nearest valid prices: 97000.0 or 97000.1"),
        ({"size": D("0.0015")}, "nearest valid sizes: 0.001 or 0.002"),
        ({"size": D("0.0001")}, "nearest valid sizes: 0.001"),
        ({"size": D("0.0001"), "price": D("100000")}, "size increment 0.001"),
        (
            {"size": D("0.001"), "price": D("5000")},
            "the smallest valid size at this price is 0.002",
        ),
        ({"size": D("101")}, "maximum order size 100"),
        ({"size": D("0")}, "size must be positive"),
        ({"size": D("-1")}, "size must be positive"),
        ({"price": None}, "needs --price"),
        ({"type": "MARKET"}, "takes no --price"),
        ({"type": "STOP_LIMIT"}, "needs --trigger-price"),
        ({"trigger_price": D("1")}, "only for stop"),
        ({"type": "MARKET", "price": None, "instruction": "POST_ONLY"}, "post-only"),
        ({"type": "MARKET", "price": None, "instruction": "IOC"}, "ioc"),
        ({"price": D("97000.000000001")}, "more than 8 decimals"),
        ({"client_id": "x" * 65}, "client_id"),
    ],
)
def test_validation_errors_say_what_is_valid(kw, expected):
    with pytest.raises(ValidationError) as ei:
        O.validate(spec(**kw), BTC)
    assert ei.value.exit_code == 2
    assert expected in ei.value.message


@pytest.mark.parametrize(
    ("kw", "market", "expected"),
    [
        ({"size": D("1e30")}, BTC, "above BTC-USD-PERP's maximum order size 100"),
        ({"size": D("1e30")}, {}, "far above any market's maximum order size"),
        ({"size": D("1e30")}, {"order_size_increment": "0.001"}, "far above any market's"),
        ({"price": D("1e30")}, BTC, "price 1000000000000000000000000000000 is far above"),
        ({"type": "STOP_LIMIT", "trigger_price": D("1e30")}, BTC, "trigger price"),
        ({"size": D("99.9999")}, BTC, "nearest valid sizes"),
    ],
)
def test_huge_values_are_validation_errors_not_crashes(kw, market, expected):
    with pytest.raises(ValidationError) as ei:
        O.validate(spec(**kw), market)
    assert expected in ei.value.message


def test_min_notional_of_market_and_stop_market_orders():
    market = spec(type="MARKET", price=None, size=D("0.001"))
    O.validate(market, BTC)  # no mark price known: left to the exchange
    with pytest.raises(ValidationError) as ei:
        O.validate(market, {**BTC, "min_notional": "100"}, mark_price=D("97000"))
    assert "x mark price 97000" in ei.value.message
    assert "smallest valid size at this mark price is 0.002" in ei.value.message
    O.validate(spec(type="MARKET", price=None, size=D("0.002")), {**BTC, "min_notional": "100"},
               mark_price=D("97000"))  # fmt: skip
    stop = spec(type="STOP_MARKET", price=None, trigger_price=D("5000"), size=D("0.001"))
    with pytest.raises(ValidationError) as ei:
        O.validate(stop, BTC, mark_price=D("97000"))
    assert "x trigger price 5000" in ei.value.message and "is 0.002" in ei.value.message
    assert O.needs_mark_price(market, BTC) and not O.needs_mark_price(stop, BTC)
    assert not O.needs_mark_price(spec(type="MARKET", price=None, reduce_only=True), BTC)


def test_mark_price_from_the_market_summary():
    def handler(req):
        assert req.url.path == "/v1/markets/summary"
        assert req.url.params["market"] == "BTC-USD-PERP"
        return httpx.Response(200, json={"results": [{"symbol": "BTC-USD-PERP",
                                                      "mark_price": "97000.5"}]})  # fmt: skip

    assert O.mark_price(make_client(handler), "BTC-USD-PERP") == D("97000.5")

    def missing(req):
        return httpx.Response(400, json={"error": "MARKET_NOT_FOUND", "message": "-"})

    assert O.mark_price(make_client(missing), "BTC-USD-PERP") is None


def test_min_notional_not_applied_to_reduce_only():
    O.validate(spec(size=D("0.001"), price=D("5000"), reduce_only=True), BTC)


def test_parse_decimal_refuses_nan_inf_garbage_and_floats():
    for bad in ("nan", "inf", "-Infinity", "1e", "abc"):
        with pytest.raises(ValidationError):
            O.parse_decimal(bad, "size")
    with pytest.raises(ValidationError):
        O.parse_decimal(0.1, "size")  # type: ignore[arg-type]
    assert O.parse_decimal(" 0.0100 ", "size") == D("0.0100")


def test_client_ids_are_unique_and_short():
    ids = {O.new_client_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i) <= 64 for i in ids)


# -- signing: the request body reproduces the reference vectors -------------------------------


@pytest.mark.parametrize(
    "name",
    ["order_limit_buy_btc_k2.json", "order_limit_sell_eth_k2.json", "order_market_buy_eth_k2.json"],
)
def test_order_body_matches_vector(name):
    from paradexctl.signing import parse_private_key

    v = json.loads((VECTORS / name).read_text())
    i = v["inputs"]
    s = O.OrderSpec(
        market=i["market"],
        side=i["side"],
        size=D(i["size"]),
        type=i["type"],
        price=D(i["price"]) if i["type"] == "LIMIT" else None,
        instruction=i["instruction"],
        client_id=i["client_id"],
    )
    body = O.build_order_request(
        s,
        chain_id=v["account"]["chain"]["starknet_chain_id"],
        account=v["account"]["l2_address"],
        private_key=parse_private_key(v["account"]["l2_private_key"]),
        timestamp_ms=i["signature_timestamp_ms"],
    )
    assert body["signature"] == v["signature_header_value"]
    assert body["signature_timestamp"] == i["signature_timestamp_ms"]
    assert body["size"] == i["size"]
    if i["type"] == "MARKET":
        assert "price" not in body
    else:
        assert body["price"] == i["price"]


def test_excess_precision_is_refused_not_truncated():
    from paradexctl.signing import parse_private_key

    with pytest.raises(ValidationError) as ei:
        O.build_order_request(
            spec(size=D("0.000000001"), price=D("1")),
            chain_id="PRIVATE_SN_POTC_SEPOLIA",
            account="0x1",
            private_key=parse_private_key("0x1234"),
            timestamp_ms=1,
        )
    assert "refusing to truncate" in ei.value.message


def test_modify_body_matches_vector():
    from paradexctl.signing import parse_private_key

    v = json.loads((VECTORS / "modify_order_k2.json").read_text())
    i = v["inputs"]
    order = {"id": i.get("id") or i.get("order_id"), "market": i["market"], "side": i["side"],
             "type": i["type"], "trigger_price": "0"}  # fmt: skip
    body = O.build_modify_request(
        order,
        size=D(i["size"]),
        price=D(i["price"]),
        chain_id=v["account"]["chain"]["starknet_chain_id"],
        account=v["account"]["l2_address"],
        private_key=parse_private_key(v["account"]["l2_private_key"]),
        timestamp_ms=i["signature_timestamp_ms"],
    )
    assert body["signature"] == v["signature_header_value"]
    assert "trigger_price" not in body


# -- never place twice ----------------------------------------------------------------------


class FakeAuth:
    def authorization(self, client):
        return "Bearer t"

    def invalidate(self):
        pass


def make_client(handler) -> RestClient:
    return RestClient(
        "https://x.invalid/v1",
        transport=httpx.MockTransport(handler),
        auth=FakeAuth(),
        retry=RetryPolicy(attempts=3, sleep=lambda s: None, rng=lambda: 0.0),
    )


TS = 1_700_000_000_123
BODY = {"market": "BTC-USD-PERP", "client_id": "cid-7", "side": "BUY", "type": "LIMIT",
        "size": "0.01", "price": "97000", "signature_timestamp": TS}  # fmt: skip
ORDER = {"id": "111", "client_id": "cid-7", "market": "BTC-USD-PERP", "status": "NEW",
         "side": "BUY", "type": "LIMIT", "price": "97000", "trigger_price": "0",
         "size": "0.01", "remaining_size": "0.01", "timestamp": TS}  # fmt: skip
NO_SLEEP = O.LookupPolicy(rounds=3, sleep=lambda s: None)


def test_acknowledged_on_201():
    posts = []

    def handler(req):
        posts.append(req)
        return httpx.Response(201, json=ORDER)

    r = O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    assert r.outcome == "acknowledged" and r.order["id"] == "111"
    assert len(posts) == 1


@pytest.mark.parametrize("failure", ["timeout", "reset", "503"])
def test_uncertain_post_is_looked_up_not_resent(failure):
    posts = []
    lookups = []

    def handler(req):
        if req.method == "POST":
            posts.append(req)
            if failure == "timeout":
                raise httpx.ReadTimeout("slow", request=req)
            if failure == "reset":
                raise httpx.RemoteProtocolError("reset", request=req)
            return httpx.Response(503, json={"error": "SERVICE_UNAVAILABLE", "message": "x"})
        lookups.append(req.url.path)
        if len(lookups) < 2:
            return httpx.Response(
                400, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": "not found"}
            )
        return httpx.Response(200, json={**ORDER, "status": "OPEN"})

    r = O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    assert len(posts) == 1
    assert r.outcome == "recovered" and r.order["status"] == "OPEN"
    assert "/v1/orders/by_client_id/cid-7" in lookups


def test_found_in_history_when_by_client_id_misses_closed_orders():
    def handler(req):
        if req.method == "POST":
            raise httpx.ReadTimeout("slow", request=req)
        if req.url.path.endswith("/orders-history"):
            assert req.url.params["client_id"] == "cid-7"
            return httpx.Response(
                200, json={"results": [{**ORDER, "status": "CLOSED"}], "next": None}
            )
        return httpx.Response(404, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": "-"})

    r = O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    assert r.outcome == "recovered" and r.order["status"] == "CLOSED"


@pytest.mark.parametrize(
    "other",
    [
        {"timestamp": TS - 60_000},  # an older order that reused the client_id
        {"side": "SELL"},
        {"size": "0.02"},
        {"price": "96000"},
        {"type": "MARKET", "price": "0"},
        {"market": "ETH-USD-PERP"},
        {"timestamp": None},
    ],
)
def test_an_order_with_the_client_id_that_was_not_the_one_sent_is_not_recovered(other):
    old = {**ORDER, "id": "42", "status": "CLOSED", "cancel_reason": "USER_CANCELED", **other}

    def handler(req):
        if req.method == "POST":
            return httpx.Response(503, json={"error": "SERVICE_UNAVAILABLE", "message": "x"})
        if req.url.path.endswith("/orders-history"):
            return httpx.Response(200, json={"results": [old], "next": None})
        return httpx.Response(200, json=old)

    with pytest.raises(OutcomeUnknown) as ei:
        O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    msg = ei.value.message
    assert ei.value.exit_code == 6 and "cid-7" in msg
    assert "different order with this client_id" in msg and "id 42" in msg


def test_the_matching_order_is_recovered_among_older_ones_with_the_same_client_id():
    old = {**ORDER, "id": "42", "status": "CLOSED", "timestamp": TS - 60_000}
    mine = {**ORDER, "id": "43", "status": "CLOSED", "cancel_reason": "IOC_CANCELED"}

    def handler(req):
        if req.method == "POST":
            raise httpx.ReadTimeout("slow", request=req)
        if req.url.path.endswith("/orders-history"):
            return httpx.Response(200, json={"results": [old, mine], "next": None})
        return httpx.Response(200, json=old)  # by_client_id: the older one

    r = O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    assert r.outcome == "recovered" and r.order["id"] == "43"


def test_mismatch_compares_decimals_exactly_not_as_text():
    assert O.mismatch({**ORDER, "size": "0.0100", "price": "97000.0"}, BODY) is None
    assert O.mismatch({**ORDER, "size": "0.0101"}, BODY) == "size 0.0101 is not 0.01"
    market = {**BODY, "type": "MARKET"}
    del market["price"]
    assert O.mismatch({**ORDER, "type": "MARKET", "price": "0"}, market) is None


def test_batch_lookup_also_refuses_a_different_order_with_the_client_id():
    def handler(req):
        if req.method == "POST":
            raise httpx.ReadTimeout("slow", request=req)
        if req.url.path.endswith("/orders-history"):
            return httpx.Response(200, json={"results": []})
        cid = req.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json={**ORDER, "client_id": cid, "timestamp": 5})

    rows = O.place_batch(make_client(handler), _items(2), chunk_size=10, lookup=NO_SLEEP)
    assert [r["outcome"] for r in rows] == ["unknown", "unknown"]
    assert "different order" in rows[0]["error"]


def test_truly_lost_order_is_exit_6_naming_client_id_and_bounded():
    posts, lookups, sleeps = [], [], []

    def handler(req):
        if req.method == "POST":
            posts.append(1)
            raise httpx.ReadTimeout("slow", request=req)
        lookups.append(req.url.path)
        if req.url.path.endswith("/orders-history"):
            return httpx.Response(200, json={"results": [], "next": None})
        return httpx.Response(400, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": "-"})

    pol = O.LookupPolicy(rounds=4, base=0.1, cap=0.3, sleep=sleeps.append)
    with pytest.raises(OutcomeUnknown) as ei:
        O.submit_order(make_client(handler), BODY, lookup=pol)
    err = ei.value
    assert err.exit_code == 6 and err.client_id == "cid-7" and "cid-7" in err.message
    assert "NOT re-sent" in err.message
    assert len(posts) == 1
    assert len(lookups) == 8  # 4 rounds x (by_client_id + history)
    assert sleeps == [0.1, 0.2, 0.3]  # exponential, capped


def test_lookup_that_cannot_reach_exchange_is_also_exit_6():
    def handler(req):
        raise httpx.ReadTimeout("down", request=req)

    with pytest.raises(OutcomeUnknown) as ei:
        O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    assert "lookup failed" in ei.value.message


def test_rejection_400_is_exit_4_and_not_looked_up():
    calls = []

    def handler(req):
        calls.append(req.method)
        return httpx.Response(400, json={"error": "INVALID_ORDER_SIZE", "message": "too small"})

    with pytest.raises(ExchangeRejected) as ei:
        O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    assert ei.value.code == "INVALID_ORDER_SIZE" and calls == ["POST"]


# -- wait and late rejections ---------------------------------------------------------------


class Script:
    """The REST side of a ``--wait``: each lookup by id answers the next scripted
    observation (then 404), optionally with WebSocket frames pushed on the feed first."""

    def __init__(self, observations, ws=()):
        self.obs = list(observations)
        self.ws = list(ws)
        self.feed = None

    async def get(self, path, params=None, *, private=False):
        for data in self.ws:  # frames the WebSocket delivered before this lookup
            self.feed.queue.put_nowait(Notification("orders.BTC-USD-PERP", data, 2))
        self.ws = []
        if self.obs:
            return self.obs.pop(0)
        raise ExchangeRejected("not found", code="ORDER_NOT_FOUND", status=404)

    async def get_paginated(self, path, params=None, **kw):
        return []


def wait(script, initial, target, timeout=10.0):
    """``OrderWatch.wait`` on a REST-only feed (or one fed frames by ``script.ws``)."""

    async def main():
        feed = LiveFeed(None, rest=script, jwt=None, channels=("orders",),
                        market="BTC-USD-PERP", resync=False, wall_ms=lambda: 1)  # fmt: skip
        script.feed = feed
        async with O.OrderWatch(feed, rest_fast=0.001, rest_slow=0.001) as w:
            return await w.wait(initial, target, timeout, wall_ms=lambda: 1)

    return asyncio.run(main())


def seq(order, n, **kw):
    return {**order, "last_updated_at": 1000 + n, "seq_no": n, **kw}


def test_wait_open_succeeds():
    got, via = wait(Script([seq(ORDER, 2, status="OPEN")]), seq(ORDER, 1), "open")
    assert got["status"] == "OPEN" and via == "rest"


def test_late_rejection_is_exit_4_with_reason():
    src = Script([seq(ORDER, 2, status="CLOSED", cancel_reason="NOT_ENOUGH_MARGIN")])
    with pytest.raises(ExchangeRejected) as ei:
        wait(src, seq(ORDER, 1), "accepted")
    assert ei.value.exit_code == 4 and "NOT_ENOUGH_MARGIN" in ei.value.message


def test_wait_filled_and_partial_fill_closed_is_not_filled():
    filled = seq(ORDER, 3, status="CLOSED", remaining_size="0")
    got, _ = wait(Script([seq(ORDER, 2, status="OPEN"), filled]), seq(ORDER, 1), "filled")
    assert got["remaining_size"] == "0"
    partial = seq(ORDER, 3, status="CLOSED", remaining_size="0.004", cancel_reason="IOC")
    with pytest.raises(ExchangeRejected) as ei:
        wait(Script([partial]), seq(ORDER, 1), "filled")
    assert "without reaching 'filled'" in ei.value.message


def test_wait_ignores_stale_rest_observation_after_closed():
    # CLOSED is sticky in the StateManager: a later stale OPEN must not revive the order
    closed = seq(ORDER, 3, status="CLOSED", remaining_size="0.01", cancel_reason="USER_CANCELED")
    got, _ = wait(Script([closed, seq(ORDER, 2, status="OPEN")]), seq(ORDER, 1), "closed")
    assert got["status"] == "CLOSED"


def test_wait_prefers_ws_over_stale_rest():
    # a WS update says OPEN; a stale REST snapshot (older exchange time) still says NEW
    src = Script([seq(ORDER, 2, status="NEW")] * 3, ws=[seq(ORDER, 5, status="OPEN")])
    got, via = wait(src, seq(ORDER, 1), "open")
    assert got["status"] == "OPEN" and via == "ws"


def test_wait_timeout_is_exit_5_with_last_state():
    src = Script([seq(ORDER, 2, status="NEW")] * 3)
    with pytest.raises(ExchangeUnavailable) as ei:
        wait(src, seq(ORDER, 1), "open", timeout=0.05)
    assert ei.value.exit_code == 5
    assert "last known status NEW" in ei.value.message
    assert ei.value.details["order"]["id"] == "111"


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_refused_locally_when_closed():
    calls = []

    def handler(req):
        calls.append(req.method)
        return httpx.Response(200, json={**ORDER, "status": "CLOSED", "cancel_reason": "FILLED"})

    with pytest.raises(ExchangeRejected) as ei:
        O.cancel_order(make_client(handler), order_id="111")
    assert ei.value.code == "ORDER_IS_CLOSED"
    assert calls == ["GET"]  # no DELETE sent


def test_cancel_open_order_sends_delete():
    calls = []

    def handler(req):
        calls.append((req.method, req.url.path))
        if req.method == "GET":
            return httpx.Response(200, json={**ORDER, "status": "OPEN"})
        return httpx.Response(204)

    out = O.cancel_order(make_client(handler), order_id="111")
    assert calls[-1] == ("DELETE", "/v1/orders/111")
    assert out["status"] == "QUEUED_FOR_CANCELLATION" and out["client_id"] == "cid-7"


def test_cancel_by_unknown_client_id_still_sends_delete_with_market():
    calls = []

    def handler(req):
        calls.append((req.method, req.url.path, dict(req.url.params)))
        if req.method == "GET" and req.url.path.endswith("orders-history"):
            return httpx.Response(200, json={"results": []})
        if req.method == "GET":
            return httpx.Response(400, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": ""})
        return httpx.Response(204)

    O.cancel_order(make_client(handler), client_id="zz", market="BTC-USD-PERP")
    assert calls[-1] == ("DELETE", "/v1/orders/by_client_id/zz", {"market": "BTC-USD-PERP"})


def test_cancel_with_known_state_skips_the_lookup():
    """The state a live feed (or a moment-old answer) already holds replaces the GET: an open
    order gets its DELETE at once, a CLOSED one is refused locally with no request at all, and
    a known state about another order is not used."""
    calls = []

    def handler(req):
        calls.append((req.method, req.url.path))
        if req.method == "GET":
            return httpx.Response(200, json={**ORDER, "status": "OPEN"})
        return httpx.Response(204)

    client = make_client(handler)
    out = O.cancel_order(client, order_id="111", known={**ORDER, "status": "OPEN"})
    assert calls == [("DELETE", "/v1/orders/111")]
    assert out["client_id"] == "cid-7" and out["market"] == ORDER["market"]
    calls.clear()
    out = O.cancel_order(client, client_id="cid-7", known={**ORDER, "status": "NEW"})
    assert calls == [("DELETE", "/v1/orders/111")] and out["id"] == "111"
    calls.clear()
    closed = {**ORDER, "status": "CLOSED", "cancel_reason": "FILLED"}
    with pytest.raises(ExchangeRejected) as ei:
        O.cancel_order(client, order_id="111", known=closed)
    assert ei.value.code == "ORDER_IS_CLOSED" and calls == []
    other = {**ORDER, "id": "999", "client_id": "other", "status": "CLOSED"}
    O.cancel_order(client, order_id="111", known=other)
    assert calls == [("GET", "/v1/orders/111"), ("DELETE", "/v1/orders/111")]


# -- batch ----------------------------------------------------------------------------------


def test_parse_batch_accepts_both_spellings_and_reports_line_numbers():
    lines = [
        '{"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "97000"}',
        "",
        "# comment",
        '{"market": "ETH-USD-PERP", "side": "SELL", "size": "1", "type": "MARKET",'
        ' "instruction": "GTC", "flags": ["REDUCE_ONLY"], "client_id": "e1"}',
    ]
    items = O.parse_batch(lines, "f.ndjson")
    assert [i.line for i in items] == [1, 4]
    assert items[0].spec.side == "BUY" and items[0].spec.price == D("97000")
    assert items[1].spec.type == "MARKET" and items[1].spec.reduce_only
    with pytest.raises(ValidationError) as ei:
        O.parse_batch(['{"market": "X", "side": "buy"}'], "f")
    assert "f:1" in ei.value.message
    # a JSON number is read as an exact Decimal, never through a float
    exact = O.parse_batch(['{"market": "X", "side": "buy", "size": 0.1000000000000000055}'], "f")
    assert exact[0].spec.size == D("0.1000000000000000055")
    with pytest.raises(ValidationError):
        O.parse_batch(['{"market": "X", "side": "buy", "size": "1", "colour": "red"}'], "f")


def _items(n):
    out = []
    for k in range(n):
        s = spec(client_id=f"b{k}")
        out.append((O.BatchLine(k + 1, s), {**BODY, "client_id": f"b{k}"}))
    return out


def test_batch_chunks_and_matches_partial_failures():
    posts = []

    def handler(req):
        body = json.loads(req.content)
        posts.append(len(body))
        orders = [{"id": f"id-{b['client_id']}", "client_id": b["client_id"], "status": "NEW"}
                  for b in body if b["client_id"] != "b3"]  # fmt: skip
        errors = (
            [{"error": "INVALID_ORDER_SIZE", "message": "no"}] if len(orders) < len(body) else []
        )
        return httpx.Response(201, json={"orders": orders, "errors": errors})

    rows = O.place_batch(make_client(handler), _items(5), chunk_size=2, lookup=NO_SLEEP)
    assert posts == [2, 2, 1]
    assert [r["outcome"] for r in rows] == ["acknowledged"] * 3 + ["rejected", "acknowledged"]
    assert rows[3]["error"].startswith("INVALID_ORDER_SIZE")
    assert rows[0]["order_id"] == "id-b0"


def test_batch_uncertain_chunk_is_looked_up_per_order():
    posts = []

    def handler(req):
        if req.method == "POST":
            posts.append(1)
            raise httpx.ReadTimeout("slow", request=req)
        cid = req.url.path.rsplit("/", 1)[-1]
        if cid == "b0":
            return httpx.Response(200, json={**ORDER, "id": "9", "client_id": "b0"})
        if req.url.path.endswith("orders-history"):
            return httpx.Response(200, json={"results": []})
        return httpx.Response(400, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": ""})

    rows = O.place_batch(make_client(handler), _items(2), chunk_size=10, lookup=NO_SLEEP)
    assert posts == [1]
    assert [r["outcome"] for r in rows] == ["recovered", "unknown"]
    assert "NOT re-sent" in rows[1]["error"]


def test_batch_chunk_unavailable_after_retries_keeps_earlier_rows_and_marks_the_rest():
    posts = []

    def handler(req):
        body = json.loads(req.content)
        posts.append([b["client_id"] for b in body])
        if len(posts) == 1:
            orders = [{"id": f"id-{b['client_id']}", "client_id": b["client_id"],
                       "status": "NEW"} for b in body]  # fmt: skip
            return httpx.Response(201, json={"orders": orders, "errors": []})
        return httpx.Response(429, json={"error": "RATE_LIMITED", "message": "slow down"})

    rows = O.place_batch(make_client(handler), _items(5), chunk_size=2, lookup=NO_SLEEP)
    # chunk 2 is tried 3 times (the budget), chunk 3 never
    assert posts == [["b0", "b1"]] + [["b2", "b3"]] * 3
    assert [r["outcome"] for r in rows] == ["acknowledged"] * 2 + ["not_sent"] * 3
    assert [r["client_id"] for r in rows] == ["b0", "b1", "b2", "b3", "b4"]
    assert rows[2]["error"].startswith(
        "not sent: POST https://x.invalid/v1/orders/batch: exchange unavailable after 3 attempts"
    )
    assert "the batch stopped at line 3" in rows[4]["error"]


def test_unreadable_201_is_looked_up_not_trusted():
    def handler(req):
        if req.method == "POST":
            return httpx.Response(201, text="<html>gateway</html>")
        return httpx.Response(200, json={**ORDER, "status": "OPEN"})

    r = O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    assert r.outcome == "recovered" and r.order["id"] == "111"


@pytest.mark.parametrize("answer", [{}, {"status": "NEW"}, []])
def test_201_without_an_order_id_is_looked_up(answer):
    posts = []

    def handler(req):
        if req.method == "POST":
            posts.append(1)
            return httpx.Response(201, json=answer)
        return httpx.Response(200, json={**ORDER, "status": "OPEN"})

    r = O.submit_order(make_client(handler), BODY, lookup=NO_SLEEP)
    assert r.outcome == "recovered" and r.order["id"] == "111" and posts == [1]
    assert "no order id" in r.note

    def lost(req):
        if req.method == "POST":
            return httpx.Response(201, json=answer)
        if req.url.path.endswith("/orders-history"):
            return httpx.Response(200, json={"results": []})
        return httpx.Response(404, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": "-"})

    with pytest.raises(OutcomeUnknown) as ei:
        O.submit_order(make_client(lost), BODY, lookup=NO_SLEEP)
    assert "cid-7" in ei.value.message and "no order id" in ei.value.message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_batch_line_with_a_bare_json_nan_says_not_finite(constant):
    with pytest.raises(ValidationError) as ei:
        O.parse_batch(['{"market": "X", "side": "buy", "size": ' + constant + "}"], "f")
    assert ei.value.message == f"f:1: {constant} is not a finite number"


def test_ids_cannot_escape_their_path_segment():
    paths = []

    def handler(req):
        paths.append(req.url.raw_path)
        return httpx.Response(400, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": ""})

    with pytest.raises(ExchangeRejected):
        O.get_order(make_client(handler), "../account")
    assert paths[0] == b"/v1/orders/..%2Faccount"


def test_an_id_holding_a_lone_surrogate_is_percent_encoded_not_an_internal_error():
    """An order id from a frame may hold ``"\\ud800"``; building its path raised
    UnicodeEncodeError (exit 70). It is its WTF-8 bytes, percent-encoded, in one segment."""
    paths = []

    def handler(req):
        paths.append(req.url.raw_path)
        return httpx.Response(404, json={"error": "ORDER_ID_NOT_FOUND", "message": ""})

    with pytest.raises(ExchangeRejected):
        O.get_order(make_client(handler), json.loads('"a\\ud800/b"'))
    assert paths == [b"/v1/orders/a%ED%A0%80%2Fb"]


# --- self-trade prevention -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "mode"),
    [("expire_maker", "EXPIRE_MAKER"), ("Expire-Taker", "EXPIRE_TAKER"),
     ("EXPIRE_BOTH", "EXPIRE_BOTH"), (None, None), ("", None)],
)  # fmt: skip
def test_a_batch_line_s_stp_is_read_in_any_spelling_and_sent_unsigned(
    given: str | None, mode: str | None
) -> None:
    row = {"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "90000"}
    if given is not None:
        row["stp"] = given
    spec = O.spec_from_mapping(row, "line 1")
    assert spec.stp == mode
    O.validate(spec, {})
    body = O.build_order_request(spec, chain_id="PRIVATE_SN_POTC_SEPOLIA", account="0x1",
                                 private_key=0x123, timestamp_ms=1)  # fmt: skip
    assert body.get("stp") == mode
    plain = O.build_order_request(
        O.OrderSpec(spec.market, spec.side, spec.size, price=spec.price, client_id=spec.client_id),
        chain_id="PRIVATE_SN_POTC_SEPOLIA", account="0x1", private_key=0x123, timestamp_ms=1,
    )  # fmt: skip
    assert body["signature"] == plain["signature"]  # stp is not part of what is signed
    assert (f" stp {mode} " in spec.describe()) == (mode is not None)


def test_an_unknown_stp_on_a_batch_line_is_refused_with_the_modes() -> None:
    spec = O.spec_from_mapping(
        {"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "1", "stp": "nope"},
        "line 3",
    )
    with pytest.raises(ValidationError) as info:
        O.validate(spec, {})
    assert "'NOPE' is not supported; choose expire-maker, expire-taker, expire-both" in str(
        info.value
    )

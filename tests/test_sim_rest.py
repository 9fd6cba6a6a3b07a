"""The simulator's REST API over real loopback sockets: system, onboarding, auth, every
trading endpoint, error bodies and status codes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import httpx
import pytest

from paradexctl import signing
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import (
    SimAccount,
    Trader,
    auth_headers,
    login,
    modify_body,
    new_account,
    order_body,
)

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"


@pytest.fixture
def trader(sim: SimServer) -> Iterator[Trader]:
    t = Trader(sim.http_url)
    yield t
    t.close()


def jwt_claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- public


def test_system_config_has_what_the_sdk_requires(sim: SimServer) -> None:
    r = sim.http.get("/system/config")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    cfg = r.json()
    assert cfg["starknet_chain_id"] == "PRIVATE_SN_POTC_SEPOLIA"
    assert isinstance(cfg["paraclear_decimals"], int)
    (usdc,) = [t for t in cfg["bridged_tokens"] if t["symbol"] == "USDC"]
    assert set(usdc) == {
        "name", "symbol", "decimals", "l1_token_address", "l1_bridge_address",
        "l2_token_address", "l2_bridge_address",
    }  # fmt: skip
    assert sim.http.get("/system/state").json() == {"status": "ok"}
    server_time = sim.http.get("/system/time").json()["server_time"]
    assert isinstance(server_time, str) and abs(int(server_time) - time.time() * 1000) < 60_000


def test_markets_bbo_orderbook_summary(sim: SimServer) -> None:
    markets = sim.http.get("/markets").json()["results"]
    by = {m["symbol"]: m for m in markets}
    assert set(by) == {"BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP"}
    assert (by[BTC]["price_tick_size"], by[BTC]["order_size_increment"]) == ("0.1", "0.001")
    assert by[BTC]["min_notional"] == "10"
    one = sim.http.get("/markets", params={"market": BTC}).json()["results"]
    assert [m["symbol"] for m in one] == [BTC]
    r = sim.http.get("/markets", params={"market": "NOPE-USD-PERP"})
    assert r.status_code == 404 and r.json()["error"] == "MARKET_NOT_FOUND"
    bbo = sim.http.get(f"/bbo/{BTC}").json()
    assert D(bbo["bid"]) < D(bbo["ask"]) and D(bbo["bid_size"]) > 0
    book = sim.http.get(f"/orderbook/{BTC}", params={"depth": 3}).json()
    assert len(book["bids"]) == 3 and book["bids"][0][0] == bbo["bid"]
    assert book["asks"][0] == [bbo["ask"], bbo["ask_size"]]
    summary = sim.http.get("/markets/summary", params={"market": "ALL"}).json()
    assert {s["symbol"] for s in summary["results"]} == set(by)
    r = sim.http.get("/markets/summary")
    assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR"
    assert sim.http.get("/bbo/NOPE").json()["error"] == "MARKET_NOT_FOUND"


def test_trades_after_a_fill(sim: SimServer, trader: Trader) -> None:
    assert trader.place(BTC, "BUY", "0.01").status_code == 201
    trades = sim.http.get("/trades", params={"market": BTC}).json()
    assert [(t["side"], t["size"]) for t in trades["results"]] == [("BUY", "0.01")]
    assert trades["next"] is None


def test_rate_limit_headers_on_every_response(sim: SimServer) -> None:
    r = sim.http.get("/markets")
    for h in (
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-window",
    ):
        assert int(r.headers[h]) >= 0
    r2 = sim.http.get("/markets")
    if r2.headers["x-ratelimit-reset"] == r.headers["x-ratelimit-reset"]:
        assert int(r2.headers["x-ratelimit-remaining"]) < int(r.headers["x-ratelimit-remaining"])


# ----------------------------------------------------------------------------- onboarding, auth


def test_onboarding_precheck_and_idempotent_onboarding(sim: SimServer) -> None:
    acct = new_account(sim.http_url, onboard=False)
    q = {"account_signer_type": "starknet", "public_key": acct.public_key}
    before = sim.http.get("/onboarding", params=q).json()
    assert before["address"] == acct.address and before["exists"] is False
    r = sim.http.post(f"/auth/{acct.public_key}", headers=auth_headers(acct))
    assert r.status_code == 400
    assert r.json() == {
        "error": "NOT_ONBOARDED",
        "message": "User has never called /onboarding endpoint",
        "data": None,
    }
    acct2 = new_account(sim.http_url)
    assert sim.http.get(
        "/onboarding",
        params={"account_signer_type": "starknet", "public_key": acct2.public_key},
    ).json()["exists"]
    # onboarding again is fine and does not pay the faucet twice
    h = signing.onboarding_message_hash(
        signing.chain_id_felt("PRIVATE_SN_POTC_SEPOLIA"), int(acct2.address, 16)
    )
    sig = signing.format_signature(*signing.sign(h, acct2.private_key))
    headers = {
        "PARADEX-ETHEREUM-ACCOUNT": "0x0",
        "PARADEX-STARKNET-ACCOUNT": acct2.address,
        "PARADEX-STARKNET-SIGNATURE": sig,
    }
    r = sim.http.post("/onboarding", headers=headers, json={"public_key": acct2.public_key})
    assert r.status_code == 200
    state = sim.admin.state()
    assert state["accounts"][acct2.address]["balance"] == "100000"


def test_onboarding_refuses_a_bad_signature_or_address(sim: SimServer) -> None:
    acct = new_account(sim.http_url, onboard=False)
    other = new_account(sim.http_url, onboard=False)
    chain = signing.chain_id_felt("PRIVATE_SN_POTC_SEPOLIA")
    h = signing.onboarding_message_hash(chain, int(acct.address, 16))
    forged = signing.format_signature(*signing.sign(h, other.private_key))
    headers = {
        "PARADEX-ETHEREUM-ACCOUNT": "0x0",
        "PARADEX-STARKNET-ACCOUNT": acct.address,
        "PARADEX-STARKNET-SIGNATURE": forged,
    }
    r = sim.http.post("/onboarding", headers=headers, json={"public_key": acct.public_key})
    assert r.status_code == 401 and r.json()["error"] == "INVALID_STARKNET_SIGNATURE"
    headers["PARADEX-STARKNET-ACCOUNT"] = other.address
    r = sim.http.post("/onboarding", headers=headers, json={"public_key": acct.public_key})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_STARKNET_ADDRESS"
    assert acct.address not in sim.admin.state()["accounts"]


def test_auth_with_a_valid_signature_issues_an_expiring_jwt(sim: SimServer) -> None:
    acct = new_account(sim.http_url)
    for path in (f"/auth/{acct.public_key}", "/auth"):
        r = sim.http.post(path, headers=auth_headers(acct))
        assert r.status_code == 200, r.text
        token = r.json()["jwt_token"]
        assert token.count(".") == 2
        claims = jwt_claims(token)
        assert claims["sub"] == acct.address
        assert claims["exp"] - claims["iat"] == 300


def test_auth_refuses_a_forged_signature(sim: SimServer) -> None:
    acct = new_account(sim.http_url)
    other = new_account(sim.http_url)
    forged = auth_headers(SimAccount(other.private_key, acct.public_key, acct.address))
    r = sim.http.post(f"/auth/{acct.public_key}", headers=forged)
    assert r.status_code == 401
    assert r.json()["error"] == "INVALID_STARKNET_SIGNATURE"
    # a valid signature over different timestamps than the headers claim
    h = auth_headers(acct)
    h["PARADEX-TIMESTAMP"] = str(int(h["PARADEX-TIMESTAMP"]) - 1)
    assert sim.http.post("/auth", headers=h).status_code == 401
    # an expired signature
    old = auth_headers(acct, now_s=int(time.time()) - 7200)
    r = sim.http.post("/auth", headers=old)
    assert r.status_code == 401 and r.json()["error"] == "INVALID_TIMESTAMP"


def test_private_endpoints_refuse_missing_forged_and_expired_jwts(sim: SimServer) -> None:
    acct = new_account(sim.http_url)
    token = login(sim.http_url, acct)
    url = "/account"
    r = sim.http.get(url)
    assert r.status_code == 401
    assert set(r.json()) == {"message"}
    assert r.json()["message"].startswith("missing or malformed jwt")
    head, claims, sig = token.split(".")
    payload = jwt_claims(token)
    payload["sub"] = "0x1"
    tampered = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{tampered}.{sig}", "not-a-jwt", f"{head}.{claims}.AAAA"):
        r = sim.http.get(url, headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401
        assert r.json()["message"].startswith("missing or malformed jwt")
    assert sim.http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    sim.admin.advance_time(301_000)
    r = sim.http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert "token is expired by" in r.json()["message"]


# ----------------------------------------------------------------------------- account reads


def test_account_balance_positions_fills(sim: SimServer, trader: Trader) -> None:
    summary = trader.http.get("/account").json()
    assert summary["account"] == trader.acct.address
    assert set(summary) >= {
        "account", "initial_margin_requirement", "maintenance_margin_requirement",
        "account_value", "total_collateral", "free_collateral", "margin_cushion",
        "settlement_asset", "updated_at", "status", "seq_no",
    }  # fmt: skip
    assert isinstance(summary["seq_no"], int) and isinstance(summary["updated_at"], int)
    assert trader.http.get("/balance").json()["results"][0] == {
        "token": "USDC",
        "size": "100000",
        "average_entry_price": "1",
        "average_entry_price_usd": "1",
        "cost": "100000",
        "cost_usd": "100000",
        "last_updated_at": summary["updated_at"],
    }
    assert trader.http.get("/positions").json() == {"results": []}
    assert trader.place(BTC, "BUY", "0.01").status_code == 201
    (pos,) = trader.http.get("/positions").json()["results"]
    assert (pos["market"], pos["side"], pos["size"], pos["status"]) == (BTC, "LONG", "0.01", "OPEN")
    fills = trader.http.get("/fills").json()
    (fill,) = fills["results"]
    assert fill["liquidity"] == "TAKER" and fills["next"] is None and fills["prev"] is None
    balance = D(trader.http.get("/balance").json()["results"][0]["size"])
    assert balance == D("100000") - D(fill["fee"])
    info = trader.http.get("/account/info").json()["results"][0]
    assert info["public_key"] == trader.acct.public_key
    assert (
        trader.http.get("/account/summary").json()["results"][0]["account"] == trader.acct.address
    )


def test_cursor_pagination(sim: SimServer, trader: Trader) -> None:
    for i in range(5):
        r = trader.place(BTC, "BUY", "0.01", str(90000 + i), client_id=f"p{i}")
        assert r.status_code == 201
    seen: list[str] = []
    page = trader.http.get("/orders-history", params={"page_size": 2}).json()
    assert page["prev"] is None
    while True:
        seen += [o["client_id"] for o in page["results"]]
        if page["next"] is None:
            break
        page = trader.http.get(
            "/orders-history", params={"page_size": 2, "cursor": page["next"]}
        ).json()
        assert page["prev"] is not None
    assert seen == [f"p{i}" for i in range(4, -1, -1)]
    r = trader.http.get("/orders-history", params={"page_size": 0})
    assert r.status_code == 400
    r = trader.http.get("/orders-history", params={"cursor": "garbage!"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST_PARAMETER"


def _walk(client: httpx.Client, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of a cursor-paginated listing, following ``next``."""
    pages = []
    page = client.get(path, params={**params, "page_size": 2}).json()
    assert page["prev"] is None
    while True:
        pages.append(page["results"])
        if page["next"] is None:
            return pages
        cursor = page["next"]
        page = client.get(path, params={**params, "page_size": 2, "cursor": cursor}).json()
        assert page["prev"] is not None
        # prev leads back to the page before
        back = client.get(path, params={**params, "page_size": 2, "cursor": page["prev"]})
        assert back.json()["results"] == pages[-1]


@pytest.mark.parametrize("path", ["/fills", "/trades"])
def test_cursor_pagination_of_fills_and_trades(sim: SimServer, trader: Trader, path: str) -> None:
    for i in range(5):
        side = "BUY" if i % 2 == 0 else "SELL"
        assert trader.place(BTC, side, "0.01").status_code == 201  # market: fills and trades
    params = {"market": BTC} if path == "/trades" else {}
    everything = trader.http.get(path, params={**params, "page_size": 100}).json()
    assert everything["next"] is None and len(everything["results"]) >= 5
    pages = _walk(trader.http, path, **params)
    assert len(pages) == (len(everything["results"]) + 1) // 2 >= 3
    assert all(len(p) == 2 for p in pages[:-1])
    walked = [row["id"] for p in pages for row in p]
    assert walked == [row["id"] for row in everything["results"]]  # no gap, no repeat
    assert len(set(walked)) == len(walked)
    times = [row["created_at"] for p in pages for row in p]
    assert times == sorted(times, reverse=True)  # newest first


# ----------------------------------------------------------------------------- orders


def test_place_get_and_list_orders(sim: SimServer, trader: Trader) -> None:
    r = trader.place(BTC, "BUY", "0.01", "96000", client_id="c-1")
    assert r.status_code == 201
    order = r.json()
    assert order["status"] == "NEW" and order["client_id"] == "c-1"
    assert len(order["id"]) >= 25 and order["id"].isdigit()
    got = trader.http.get(f"/orders/{order['id']}").json()
    assert got["status"] == "OPEN" and got["id"] == order["id"]
    assert got["seq_no"] > order["seq_no"]
    assert trader.http.get("/orders/by_client_id/c-1").json()["id"] == order["id"]
    assert [o["id"] for o in trader.http.get("/orders").json()["results"]] == [order["id"]]
    assert trader.http.get("/orders", params={"market": "ETH-USD-PERP"}).json()["results"] == []
    r = trader.http.get("/orders/123")
    assert r.status_code == 400 and r.json()["error"] == "ORDER_ID_NOT_FOUND"
    r = trader.http.get("/orders/by_client_id/nope")
    assert r.status_code == 400 and r.json()["error"] == "CLIENT_ORDER_ID_NOT_FOUND"
    hist = trader.http.get("/orders-history", params={"status": "OPEN"}).json()["results"]
    assert [o["id"] for o in hist] == [order["id"]]


def test_order_validation_errors(sim: SimServer, trader: Trader) -> None:
    cases = [
        ({"size": "0.0005", "price": "96000"}, "INVALID_ORDER_SIZE"),
        ({"size": "0.01", "price": "96000.05"}, "VALIDATION_ERROR"),
        ({"size": "0.0001", "price": "96000"}, "INVALID_ORDER_SIZE"),
    ]
    for kw, code in cases:
        r = trader.place(BTC, "BUY", kw["size"], kw["price"])
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["error"] == code and isinstance(body["message"], str)
    assert trader.place(BTC, "BUY", "0.01", "96000", client_id="dup").status_code == 201
    r = trader.place(BTC, "BUY", "0.01", "96000", client_id="dup")
    assert r.status_code == 400 and r.json()["error"] == "DUPLICATED_CLIENT_ID"
    r = trader.place("NOPE-USD-PERP", "BUY", "1", "1")
    assert r.status_code == 400 and r.json()["error"] == "MARKET_NOT_FOUND"
    r = trader.http.post("/orders", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"] == "BINDING_ERROR"


def test_order_signature_is_verified(sim: SimServer, trader: Trader) -> None:
    body = order_body(trader.acct, BTC, "BUY", "0.01", "96000")
    body["price"] = "95000"  # signed for 96000
    r = trader.http.post("/orders", json=body)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_ORDER_SIGNATURE"
    other = new_account(sim.http_url)
    forged = order_body(
        SimAccount(other.private_key, trader.acct.public_key, trader.acct.address),
        BTC, "BUY", "0.01", "96000",
    )  # fmt: skip
    r = trader.http.post("/orders", json=forged)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_ORDER_SIGNATURE"
    assert trader.http.get("/orders").json()["results"] == []


def test_late_rejections_are_201_then_closed(sim: SimServer, trader: Trader) -> None:
    r = trader.place(BTC, "BUY", "20", "90000")
    assert r.status_code == 201 and r.json()["status"] == "NEW"
    got = trader.http.get(f"/orders/{r.json()['id']}").json()
    assert (got["status"], got["cancel_reason"]) == ("CLOSED", "NOT_ENOUGH_MARGIN")
    ask = sim.http.get(f"/bbo/{BTC}").json()["ask"]
    r = trader.place(BTC, "BUY", "0.01", ask, instruction="POST_ONLY")
    got = trader.http.get(f"/orders/{r.json()['id']}").json()
    assert (got["status"], got["cancel_reason"]) == ("CLOSED", "POST_ONLY_WOULD_CROSS")
    r = trader.place(BTC, "SELL", "0.01", flags=["REDUCE_ONLY"])
    got = trader.http.get(f"/orders/{r.json()['id']}").json()
    assert (got["status"], got["cancel_reason"]) == ("CLOSED", "REDUCE_ONLY_WILL_INCREASE")


def test_batch_place_and_batch_cancel(sim: SimServer, trader: Trader) -> None:
    bodies = [
        order_body(trader.acct, BTC, "BUY", "0.01", str(90000 + i), client_id=f"b{i}")
        for i in range(3)
    ]
    r = trader.http.post("/orders/batch", json=bodies)
    assert r.status_code == 201
    out = r.json()
    assert out["errors"] == [] and [o["client_id"] for o in out["orders"]] == ["b0", "b1", "b2"]
    bad = [
        order_body(trader.acct, BTC, "BUY", "0.01", "90000"),
        order_body(trader.acct, BTC, "BUY", "0.01", "90000.05"),
    ]
    r = trader.http.post("/orders/batch", json=bad)
    assert r.status_code == 400 and r.json()["data"] == {"index": 1}
    r = trader.http.post("/orders/batch", json=[])
    assert r.json()["error"] == "BATCH_SIZE_OUT_OF_RANGE"
    ids = [o["id"] for o in out["orders"]]
    trader.http.delete(f"/orders/{ids[0]}")
    r = trader.http.request(
        "DELETE",
        "/orders/batch",
        json={"order_ids": [ids[0], ids[1], "999"], "client_order_ids": ["b2", "zz"]},
    )
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == [
        "ALREADY_CLOSED", "QUEUED_FOR_CANCELLATION", "NOT_FOUND",
        "QUEUED_FOR_CANCELLATION", "NOT_FOUND",
    ]  # fmt: skip
    assert r.json()["results"][4] == {"client_id": "zz", "status": "NOT_FOUND"}
    assert trader.http.get("/orders").json()["results"] == []


def test_modify_keeps_the_id(sim: SimServer, trader: Trader) -> None:
    order = trader.place(BTC, "BUY", "0.01", "96000").json()
    body = modify_body(trader.acct, order["id"], BTC, "BUY", "0.02", "95500")
    r = trader.http.put(f"/orders/{order['id']}", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["id"], got["size"], got["price"], got["status"]) == (
        order["id"], "0.02", "95500", "OPEN",
    )  # fmt: skip
    bad = modify_body(trader.acct, order["id"], BTC, "BUY", "0.02", "95400")
    bad["price"] = "95300"
    r = trader.http.put(f"/orders/{order['id']}", json=bad)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_ORDER_SIGNATURE"
    trader.http.delete(f"/orders/{order['id']}")
    body = modify_body(trader.acct, order["id"], BTC, "BUY", "0.02", "95400")
    r = trader.http.put(f"/orders/{order['id']}", json=body)
    assert r.status_code == 400 and r.json()["error"] == "ORDER_IS_CLOSED"


def test_cancels(sim: SimServer, trader: Trader) -> None:
    a = trader.place(BTC, "BUY", "0.01", "96000").json()
    r = trader.http.delete(f"/orders/{a['id']}")
    assert r.status_code == 204 and r.content == b""
    got = trader.http.get(f"/orders/{a['id']}").json()
    assert (got["status"], got["cancel_reason"]) == ("CLOSED", "USER_CANCELED")
    r = trader.http.delete(f"/orders/{a['id']}")
    assert r.status_code == 400 and r.json()["error"] == "ORDER_IS_CLOSED"
    trader.place(BTC, "BUY", "0.01", "96000", client_id="k")
    r = trader.http.delete("/orders/by_client_id/k", params={"market": BTC})
    assert r.status_code == 204
    assert trader.http.get("/orders/by_client_id/k").json()["status"] == "CLOSED"
    r = trader.http.delete("/orders/by_client_id/k")
    assert r.status_code == 400 and r.json()["error"] == "CLIENT_ORDER_ID_NOT_FOUND"
    trader.place(BTC, "BUY", "0.01", "96000")
    trader.place("ETH-USD-PERP", "BUY", "0.01", "3000")
    r = trader.http.delete("/orders", params={"market": "ETH-USD-PERP"})
    assert r.status_code == 200
    assert [o["market"] for o in trader.http.get("/orders").json()["results"]] == [BTC]
    assert trader.http.delete("/orders").status_code == 200
    assert trader.http.get("/orders").json()["results"] == []


def test_accounts_are_isolated(sim: SimServer, trader: Trader) -> None:
    order = trader.place(BTC, "BUY", "0.01", "96000").json()
    other = Trader(sim.http_url)
    try:
        r = other.http.get(f"/orders/{order['id']}")
        assert r.status_code == 400 and r.json()["error"] == "ORDER_ID_NOT_FOUND"
        assert other.http.delete(f"/orders/{order['id']}").status_code == 400
        assert other.http.get("/orders").json()["results"] == []
    finally:
        other.close()


def test_sim_account_fixture_onboards_a_fresh_key(sim: SimServer, sim_account: Any) -> None:
    priv, pub, address = sim_account(sim)
    assert hex(signing.private_to_public(priv)) == pub
    assert sim.admin.state()["accounts"][address]["balance"] == "100000"
    assert sim_account(sim)[2] != address


def test_order_signature_timestamp_outside_the_receive_window(
    sim: SimServer, trader: Trader
) -> None:
    now = int(time.time() * 1000)

    def place(ts: int, recv_window: int | None = None) -> httpx.Response:
        body = order_body(trader.acct, BTC, "BUY", "0.01", "96000", ts=ts)
        if recv_window is not None:
            body["recv_window"] = recv_window
        return trader.http.post("/orders", json=body)

    # no recv_window (what the SDK sends as null): Paradex's default window of 300 s
    r = place(now - 301_000)
    assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR"
    assert "recv_window" in r.json()["message"]
    assert place(now - 200_000).status_code == 201
    body = order_body(trader.acct, BTC, "BUY", "0.01", "96000", ts=now - 301_000)
    body["recv_window"] = None
    assert trader.http.post("/orders", json=body).status_code == 400
    # an explicit window replaces the default, both ways
    assert place(now - 5_000, recv_window=1_000).status_code == 400
    assert place(now - 400_000, recv_window=600_000).status_code == 201
    # the window is measured on the sim's clock
    fresh = order_body(trader.acct, BTC, "BUY", "0.01", "96000")
    sim.admin.advance_time(301_000)
    trader.jwt = login(sim.http_url, trader.acct)
    trader.http.headers["Authorization"] = f"Bearer {trader.jwt}"
    assert trader.http.post("/orders", json=fresh).status_code == 400
    # nothing rejected was placed
    assert len(sim.admin.state()["accounts"][trader.acct.address]["open_orders"]) == 2


def test_receive_window_can_be_switched_off() -> None:
    from paradexctl.sim.app import SimOptions

    with SimServer(SimOptions(mark_walk_ms=0, warm_tables=None, default_recv_window_ms=0)) as s:
        acct = new_account(s.http_url)
        h = {"Authorization": f"Bearer {login(s.http_url, acct)}"}
        old = int(time.time() * 1000) - 30 * 86_400_000
        body = order_body(acct, BTC, "BUY", "0.01", "96000", ts=old)
        assert s.http.post("/orders", headers=h, json=body).status_code == 201


# ----------------------------------------------------------------------------- system state


def test_the_system_state_decides_which_order_writes_are_taken(
    sim: SimServer, trader: Trader
) -> None:
    resting = trader.place_ok(BTC, "BUY", "0.01", "90000", client_id="rest-1")
    sim.admin.system("cancel_only")
    assert sim.http.get("/system/state").json() == {"status": "cancel_only"}
    r = trader.place(BTC, "BUY", "0.01", "90000", client_id="c-refused")
    assert (r.status_code, r.json()["error"]) == (400, "SYSTEM_STATUS_CANCEL_ONLY")
    r = trader.http.post(
        "/orders/batch", json=[order_body(trader.acct, BTC, "BUY", "0.01", "90000")]
    )
    assert (r.status_code, r.json()["error"]) == (400, "SYSTEM_STATUS_CANCEL_ONLY")
    assert trader.http.delete(f"/orders/{resting['id']}").status_code == 204  # cancels pass
    for cid in ("rest-2", "rest-3"):
        sim.admin.system("ok")
        trader.place_ok(BTC, "BUY", "0.01", "90000", client_id=cid)
        sim.admin.system("cancel_only")
    assert trader.http.delete("/orders/by_client_id/rest-2").status_code == 204
    r = trader.http.request("DELETE", "/orders/batch", json={"client_order_ids": ["rest-3"]})
    assert r.status_code == 200, r.text
    assert trader.http.get("/orders").json()["results"] == []

    sim.admin.system("post_only")
    r = trader.place(BTC, "BUY", "0.01", "90000", client_id="c-gtc")
    assert (r.status_code, r.json()["error"]) == (400, "SYSTEM_STATUS_POST_ONLY")
    bodies = [
        order_body(trader.acct, BTC, "BUY", "0.01", "90000", instruction="POST_ONLY"),
        order_body(trader.acct, BTC, "BUY", "0.01", "90000"),
    ]
    r = trader.http.post("/orders/batch", json=bodies)
    assert (r.status_code, r.json()["error"], r.json()["data"]) == (
        400, "SYSTEM_STATUS_POST_ONLY", {"index": 1},
    )  # fmt: skip
    trader.place_ok(BTC, "BUY", "0.01", "90000", client_id="c-po", instruction="POST_ONLY")

    sim.admin.system("maintenance")
    r = trader.http.delete("/orders", params={"market": BTC})
    assert (r.status_code, r.json()["error"]) == (503, "SERVICE_UNAVAILABLE")
    # nothing the refusals touched changed: one order rests (the post-only one)
    sim.admin.system("ok")
    assert [o["client_id"] for o in trader.http.get("/orders").json()["results"]] == ["c-po"]
    r = sim.admin.client.post("/system", json={"status": "closed"})
    assert r.status_code == 400 and "status must be one of" in r.json()["message"]
    sim.admin.system("cancel_only")
    sim.admin.reset()
    assert sim.http.get("/system/state").json() == {"status": "ok"}

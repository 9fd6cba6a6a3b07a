"""The sim's bodies follow the published API models (paradex-py 0.8.2's generated models,
spec 1.121.0) where ``make conformance`` found a deviation. These checks need no SDK: each
pins one field's shape as the models declare it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import Trader, modify_body

BTC = "BTC-USD-PERP"


@pytest.fixture
def trader(sim: SimServer) -> Iterator[Trader]:
    t = Trader(sim.http_url)
    yield t
    t.close()


def test_orderbook_best_levels_are_lists_of_strings(sim: SimServer) -> None:
    book = sim.http.get(f"/orderbook/{BTC}").json()
    for side, levels in (("bid", book["bids"]), ("ask", book["asks"])):
        for feed in ("api", "interactive"):
            best = book[f"best_{side}_{feed}"]
            assert isinstance(best, list) and all(isinstance(x, str) for x in best)
            assert best == levels[0]  # [price, size] of the top level


def test_a_closed_position_keeps_its_side(sim: SimServer, trader: Trader) -> None:
    assert trader.place(BTC, "BUY", "0.01").status_code == 201
    assert trader.place(BTC, "SELL", "0.01").status_code == 201
    (pos,) = trader.http.get("/positions").json()["results"]
    assert (pos["status"], pos["size"], pos["side"]) == ("CLOSED", "0", "LONG")
    assert trader.place(BTC, "SELL", "0.02").status_code == 201
    assert trader.place(BTC, "BUY", "0.02").status_code == 201
    (pos,) = trader.http.get("/positions").json()["results"]
    assert (pos["status"], pos["side"]) == ("CLOSED", "SHORT")


def test_balance_carries_entry_price_and_cost(sim: SimServer, trader: Trader) -> None:
    (bal,) = trader.http.get("/balance").json()["results"]
    assert {k: bal[k] for k in ("average_entry_price", "cost", "cost_usd")} == {
        "average_entry_price": "1",
        "cost": bal["size"],
        "cost_usd": bal["size"],
    }


def test_a_modified_order_carries_request_info(sim: SimServer, trader: Trader) -> None:
    order = trader.place(BTC, "BUY", "0.01", "90000").json()
    assert "request_info" not in order
    body = modify_body(trader.acct, order["id"], BTC, "BUY", "0.01", "89990")
    got = trader.http.put(f"/orders/{order['id']}", json=body).json()
    info = got["request_info"]
    assert (info["request_type"], info["status"], info["message"]) == (
        "MODIFY_ORDER",
        "SUCCESS",
        "",
    )
    assert isinstance(info["id"], str) and info["id"]
    assert trader.http.get(f"/orders/{order['id']}").json()["request_info"] == info


def test_405_names_every_method_the_path_serves(sim: SimServer) -> None:
    r = sim.http.request("PATCH", "/orders")
    assert r.status_code == 405 and r.json()["error"] == "REQUEST_NOT_ALLOWED"
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST", "DELETE", "HEAD"}

"""Hostile and unexpected input never crashes the simulator: huge decimals get a Paradex 400
over REST, WebSocket and the admin API; routing errors and internal errors keep Paradex's
error shape; a failing WebSocket request is answered with JSON-RPC -32603, not a close."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets

from paradexctl.sim.exchange import Rejected, parse_decimal
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import SimAccount, Trader, order_body

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"

HUGE = ["1e40", "-1e40", "1234567890123456789012345678", "97000.0000000000000000000000001", "1E+16"]


@pytest.fixture
def trader(sim: SimServer) -> Iterator[Trader]:
    t = Trader(sim.http_url)
    yield t
    t.close()


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def huge_bodies(acct: SimAccount, value: str) -> list[dict[str, Any]]:
    """A correctly signed order with ``value`` put in price, size or trigger_price."""
    bodies = []
    for key in ("price", "size", "trigger_price"):
        otype = "STOP_LIMIT" if key == "trigger_price" else "LIMIT"
        body = order_body(acct, BTC, "BUY", "0.01", "96000", order_type=otype)
        if otype == "STOP_LIMIT":
            body["trigger_price"] = "96000"
        body[key] = value
        bodies.append(body)
    return bodies


@pytest.mark.parametrize("value", ["1e40", "1e16", "1" * 28, "0.1234567890123456789", "1" * 101])
def test_parse_decimal_bounds(value: str) -> None:
    with pytest.raises(Rejected) as err:
        parse_decimal(value, "price")
    assert err.value.code == "VALIDATION_ERROR" and "price" in err.value.message


@pytest.mark.parametrize(
    "value", ["9999999999999999", "0.000000000000000001", "1.50000000000000000000000"]
)
def test_parse_decimal_accepts_the_edges(value: str) -> None:
    assert parse_decimal(value, "price") == Decimal(value)


def test_huge_decimals_over_rest_are_a_400(
    sim: SimServer, trader: Trader, caplog: pytest.LogCaptureFixture
) -> None:
    for value in HUGE:
        for body in huge_bodies(trader.acct, value):
            r = trader.http.post("/orders", json=body)
            assert r.status_code == 400, (value, body, r.text)
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["error"] == "VALIDATION_ERROR", r.text
        r = trader.http.post("/orders/batch", json=huge_bodies(trader.acct, value))
        assert r.status_code == 400 and r.json()["data"] == {"index": 0}, r.text
    # nothing was placed, nothing crashed, and the same connection still works
    assert trader.http.get("/orders").json()["results"] == []
    assert trader.http.get("/account").status_code == 200
    assert errors_logged(caplog) == []


def test_huge_decimals_in_the_admin_api_are_a_400(
    sim: SimServer, trader: Trader, caplog: pytest.LogCaptureFixture
) -> None:
    stop = order_body(trader.acct, BTC, "BUY", "0.01", "99000", order_type="STOP_LIMIT")
    stop["trigger_price"] = "99000"
    r = trader.http.post("/orders", json=stop)
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    for value in ("1e40", "1" * 28):
        r = sim.admin.client.post("/force-fill", json={"order_id": oid, "price": value})
        assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR", r.text
        r = sim.admin.client.post("/mark-price", json={"market": BTC, "price": value})
        assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR", r.text
    # the stop order is untouched and the market summary still answers
    assert trader.http.get(f"/orders/{oid}").json()["status"] == "UNTRIGGERED"
    assert sim.admin.state()["orders"][oid] == "UNTRIGGERED"
    assert sim.http.get("/markets/summary", params={"market": "ALL"}).status_code == 200
    # the largest accepted mark still leaves every read working
    sim.admin.mark_price(BTC, "9999999999999999")
    assert sim.http.get("/markets/summary", params={"market": "ALL"}).status_code == 200
    assert sim.http.get(f"/bbo/{BTC}").status_code == 200
    assert trader.http.get("/account").status_code == 200
    assert errors_logged(caplog) == []


def test_huge_decimals_over_ws_order_create_get_an_error_reply(
    sim: SimServer, trader: Trader
) -> None:
    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            auth = {"jsonrpc": "2.0", "method": "auth", "params": {"bearer": trader.jwt}, "id": 0}
            await ws.send(json.dumps(auth))
            assert "result" in json.loads(await asyncio.wait_for(ws.recv(), 5))
            n = 0
            for value in HUGE:
                for body in huge_bodies(trader.acct, value):
                    n += 1
                    msg = {"jsonrpc": "2.0", "method": "order.create", "params": body, "id": n}
                    await ws.send(json.dumps(msg))
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    assert reply["id"] == n
                    assert reply["error"]["code"] == 100, reply
                    assert reply["error"]["data"] == "VALIDATION_ERROR", reply

    asyncio.run(go())


# ----------------------------------------------------------------------------- error shapes


def test_unknown_path_and_wrong_method_answer_in_paradex_shape(sim: SimServer) -> None:
    r = sim.http.get("/no/such/endpoint")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"error": "NOT_FOUND", "message": "not found", "data": None}
    r = sim.http.patch("/orders", json={})
    assert r.status_code == 405
    assert r.json()["error"] == "REQUEST_NOT_ALLOWED" and isinstance(r.json()["message"], str)
    assert "POST" in r.headers["allow"]
    r = httpx.get(sim.base_url + "/v2/markets")
    assert r.status_code == 404 and set(r.json()) == {"error", "message", "data"}


def test_unexpected_rest_error_is_a_logged_500_in_paradex_shape(
    sim: SimServer,
    trader: Trader,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(*args: Any) -> Any:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(sim.sim.engine, "cancel_all", boom)
    with caplog.at_level(logging.ERROR, logger="paradexctl.sim"):
        r = trader.http.delete("/orders")
    assert r.status_code == 500
    assert r.json() == {"error": "INTERNAL_ERROR", "message": "internal server error", "data": None}
    assert "x-ratelimit-limit" in r.headers
    assert any("DELETE /v1/orders failed" in m for m in errors_logged(caplog))
    assert trader.http.get("/orders").status_code == 200  # still serving
    monkeypatch.setattr(sim.sim.engine, "truth", boom)
    r = sim.admin.client.get("/state")
    assert r.status_code == 500 and r.json()["error"] == "INTERNAL_ERROR"


def test_unexpected_ws_error_is_answered_with_32603_and_the_socket_stays_open(
    sim: SimServer,
    trader: Trader,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(*args: Any) -> Any:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(sim.sim.engine, "cancel_all", boom)

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            auth = {"jsonrpc": "2.0", "method": "auth", "params": {"bearer": trader.jwt}, "id": 0}
            await ws.send(json.dumps(auth))
            assert "result" in json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "order.cancel_all", "id": 7}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["id"] == 7
            assert reply["error"] == {"code": -32603, "message": "internal error"}
            sub = {"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": "account"}}
            await ws.send(json.dumps({**sub, "id": "s"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["id"] == "s" and reply["result"] == {"channel": "account"}

    with caplog.at_level(logging.ERROR, logger="paradexctl.sim"):
        asyncio.run(go())
    assert any("WebSocket request failed" in m for m in errors_logged(caplog))


# ----------------------------------------------------------------------------- small deviations


def test_bbo_all_channel(sim: SimServer) -> None:
    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            sub = {"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": "bbo.ALL"}}
            await ws.send(json.dumps({**sub, "id": 1}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["result"] == {"channel": "bbo.ALL"}, reply
            await asyncio.to_thread(sim.admin.mark_price, "ETH-USD-PERP", "3000")
            await asyncio.to_thread(sim.admin.mark_price, BTC, "90000")
            got = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
            assert [m["params"]["channel"] for m in got] == ["bbo.ALL", "bbo.ALL"]
            assert [m["params"]["data"]["market"] for m in got] == ["ETH-USD-PERP", BTC]

    asyncio.run(go())


def test_orders_history_refuses_an_unknown_status(sim: SimServer, trader: Trader) -> None:
    r = trader.http.get("/orders-history", params={"status": "WHATEVER"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST_PARAMETER"
    assert trader.http.get("/orders-history", params={"status": "CLOSED"}).status_code == 200


def test_batch_cancel_refuses_non_string_ids(sim: SimServer, trader: Trader) -> None:
    for body in ({"order_ids": [{"a": 1}]}, {"order_ids": [12]}, {"client_order_ids": [None]}):
        r = trader.http.request("DELETE", "/orders/batch", json=body)
        assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR", body


def test_fault_values_must_be_finite(sim: SimServer) -> None:
    for raw in ('{"ws_disconnect_every_s": Infinity}', '{"ws_latency_ms": NaN}'):
        r = sim.admin.client.post(
            "/faults", content=raw, headers={"content-type": "application/json"}
        )
        assert r.status_code == 400 and "finite" in r.json()["message"], raw

    def no_constants(name: str) -> Any:
        raise AssertionError(f"invalid JSON constant {name}")

    for path in ("/faults", "/state"):
        json.loads(sim.admin.client.get(path).text, parse_constant=no_constants)

"""The simulator's WebSocket JSON-RPC over real loopback sockets: auth, subscribe,
unsubscribe, errors, notifications on every channel, sequence numbers, server pings."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from paradexctl.sim.app import SimOptions
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import Trader, order_body

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"


async def rpc(ws: ClientConnection, method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        msg["params"] = params
    await ws.send(json.dumps(msg))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if reply.get("method") != "subscription":
            return reply  # type: ignore[no-any-return]


async def recv(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))  # type: ignore[no-any-return]


async def drain(ws: ClientConnection, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Every message until ``quiet`` seconds pass with nothing new."""
    out = []
    while True:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except TimeoutError:
            return out


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())  # type: ignore[arg-type]


@pytest.fixture
def session(sim: SimServer) -> Any:
    s = Trader(sim.http_url)
    yield s
    s.close()


def test_auth_and_subscribe_echo_ids_with_their_json_type(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            reply = await rpc(ws, "auth", {"bearer": session.jwt}, id=1718179125962419)
            assert reply["id"] == 1718179125962419 and isinstance(reply["result"], dict)
            reply = await rpc(ws, "subscribe", {"channel": "orders.ALL"}, id="s-1")
            assert reply["id"] == "s-1" and reply["result"] == {"channel": "orders.ALL"}
            reply = await rpc(ws, "subscribe", {"channel": "orders.ALL"}, id=7)
            assert reply["id"] == 7 and "result" not in reply
            assert reply["error"]["code"] == -32600
            reply = await rpc(ws, "unsubscribe", {"channel": "orders.ALL"}, id="u")
            assert reply == {**reply, "id": "u", "result": {"channel": "orders.ALL"}}
            reply = await rpc(ws, "unsubscribe", {"channel": "orders.ALL"}, id=8)
            assert reply["error"]["code"] == -32600
            reply = await rpc(ws, "subscribe", {"channel": "nonsense.channel"})
            assert reply["error"] == {
                "code": -32600,
                "message": "invalid subscribe request",
                "data": "invalid channel",
            }
            reply = await rpc(ws, "no.such.method", {})
            assert reply["error"]["code"] == -32601
            await ws.send("not json")
            assert (await recv(ws))["error"]["code"] == -32700

    run(go)


def test_auth_errors_and_private_channels_need_auth(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            reply = await rpc(ws, "subscribe", {"channel": "positions"}, id=1)
            assert reply["error"]["code"] == 40300
            reply = await rpc(ws, "subscribe", {"channel": f"bbo.{BTC}"}, id=2)
            assert reply["result"] == {"channel": f"bbo.{BTC}"}
            reply = await rpc(ws, "auth", {"bearer": "garbage"}, id=3)
            assert reply["error"]["code"] == 40110
            head, claims, _sig = session.jwt.split(".")
            reply = await rpc(ws, "auth", {"bearer": f"{head}.{claims}.AAAA"}, id=4)
            assert reply["error"]["code"] == 40111
            reply = await rpc(ws, "auth", {"bearer": session.jwt}, id=5)
            assert "result" in reply
            reply = await rpc(ws, "subscribe", {"channel": "positions"}, id=6)
            assert reply["result"] == {"channel": "positions"}

    run(go)


def test_expired_jwt_is_refused_on_a_new_connection(sim: SimServer, session: Trader) -> None:
    sim.admin.advance_time(400_000)

    async def go() -> None:
        async with websockets.connect(sim.ws_url + "?cancel-on-disconnect=false") as ws:
            reply = await rpc(ws, "auth", {"bearer": session.jwt})
            assert reply["error"]["code"] == 40111

    run(go)


def test_notifications_on_every_private_and_public_channel(sim: SimServer, session: Trader) -> None:
    channels = [
        "orders.ALL", f"orders.{BTC}", "fills.ALL", f"fills.{BTC}", "positions",
        "balance_events", "account", f"bbo.{BTC}", f"trades.{BTC}", "trades.ALL",
        "orders.ETH-USD-PERP",
    ]  # fmt: skip

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            await rpc(ws, "auth", {"bearer": session.jwt})
            for i, ch in enumerate(channels):
                assert (await rpc(ws, "subscribe", {"channel": ch}, id=i))["result"] == {
                    "channel": ch
                }
            order = session.place_ok(BTC, "BUY", "0.01")
            msgs = await drain(ws)
        by: dict[str, list[dict[str, Any]]] = {}
        for m in msgs:
            assert m["jsonrpc"] == "2.0" and m["method"] == "subscription"
            by.setdefault(m["params"]["channel"], []).append(m["params"]["data"])
        assert set(by) == set(channels) - {"orders.ETH-USD-PERP"}
        assert [o["status"] for o in by["orders.ALL"]] == ["NEW", "CLOSED"]
        assert by["orders.ALL"] == by[f"orders.{BTC}"]
        assert all(o["id"] == order["id"] for o in by["orders.ALL"])
        (fill,) = by["fills.ALL"]
        assert fill["order_id"] == order["id"] and fill["liquidity"] == "TAKER"
        assert by["positions"][-1]["size"] == "0.01"
        assert by["balance_events"][-1]["type"] == "TRANSACTION_FILL"
        assert by["balance_events"][-1]["fill_id"] == fill["id"]
        assert by["account"][-1]["account"] == session.acct.address
        assert by[f"trades.{BTC}"][0]["size"] == "0.01"
        assert by[f"bbo.{BTC}"][-1]["market"] == BTC

    run(go)


def test_ws_seq_no_is_independent_of_rest_and_increasing(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            await rpc(ws, "auth", {"bearer": session.jwt})
            await rpc(ws, "subscribe", {"channel": "orders.ALL"})
            order = session.place_ok(BTC, "BUY", "0.01", "96000")
            session.http.delete(f"/orders/{order['id']}")
            msgs = [m["params"]["data"] for m in await drain(ws)]
        rest = session.http.get(f"/orders/{order['id']}").json()
        assert [m["status"] for m in msgs] == ["NEW", "OPEN", "CLOSED"]
        seqs = [m["seq_no"] for m in msgs]
        assert seqs == sorted(set(seqs))
        assert rest["status"] == "CLOSED" and rest["seq_no"] != seqs[-1]
        assert rest["last_updated_at"] == msgs[-1]["last_updated_at"]
        assert all("published_at" in m for m in msgs)

    run(go)


def test_other_accounts_see_nothing_private(sim: SimServer, session: Trader) -> None:
    other = Trader(sim.http_url)

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            await rpc(ws, "auth", {"bearer": other.jwt})
            await rpc(ws, "subscribe", {"channel": "orders.ALL"})
            await rpc(ws, "subscribe", {"channel": "trades.ALL"})
            session.place_ok(BTC, "BUY", "0.01")
            msgs = await drain(ws)
        assert {m["params"]["channel"] for m in msgs} == {"trades.ALL"}

    try:
        run(go)
    finally:
        other.http.close()


def test_upgrade_accepted_on_root_and_any_path(sim: SimServer) -> None:
    async def go() -> None:
        for path in ("/", "/v1?x=1", "/ws/anything"):
            async with websockets.connect(f"ws://127.0.0.1:{sim.port}{path}") as ws:
                reply = await rpc(ws, "subscribe", {"channel": f"bbo.{BTC}"})
                assert reply["result"] == {"channel": f"bbo.{BTC}"}

    run(go)


def test_mark_move_and_force_fill_reach_subscribers(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            await rpc(ws, "auth", {"bearer": session.jwt})
            await rpc(ws, "subscribe", {"channel": f"bbo.{BTC}"})
            await rpc(ws, "subscribe", {"channel": "fills.ALL"})
            sim.admin.mark_price(BTC, "90000")
            bbo = (await recv(ws))["params"]["data"]
            assert 89_900 < float(bbo["bid"]) < 90_000 < float(bbo["ask"]) < 90_100
            order = session.place_ok(BTC, "BUY", "0.01", "85000")
            sim.admin.force_fill(order["id"], size="0.004")
            msgs = [m for m in await drain(ws) if m["params"]["channel"] == "fills.ALL"]
            (fill,) = [m["params"]["data"] for m in msgs]
            assert (fill["order_id"], fill["size"], fill["price"]) == (
                order["id"],
                "0.004",
                "85000",
            )

    run(go)


def test_server_sends_protocol_pings(caplog: pytest.LogCaptureFixture) -> None:
    options = SimOptions(mark_walk_ms=0, warm_tables=None, ws_ping_interval_s=0.1)
    with SimServer(options) as server:

        async def go() -> None:
            caplog.set_level(logging.DEBUG, logger="websockets.client")
            async with websockets.connect(server.ws_url, ping_interval=None) as ws:
                await drain(ws, quiet=0.5)
                assert ws.state.name == "OPEN"

        run(go)
    pings = [r for r in caplog.records if "< PING" in r.getMessage()]
    assert len(pings) >= 2


def test_order_methods_over_the_websocket(sim: SimServer, session: Trader) -> None:
    from paradexctl.sim.testing import modify_body

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            body = order_body(session.acct, BTC, "BUY", "0.01", "96000", client_id="w1")
            reply = await rpc(ws, "order.create", body, id=1)
            assert reply["error"]["code"] == 40300  # not authenticated yet
            await rpc(ws, "auth", {"bearer": session.jwt})
            reply = await rpc(ws, "order.create", body, id=2)
            order = reply["result"]["order"]
            assert reply["id"] == 2 and order["status"] == "NEW" and order["client_id"] == "w1"
            assert isinstance(reply["result"]["received_at"], int)
            bad = dict(body, price="95000", client_id="w2")
            reply = await rpc(ws, "order.create", bad, id=3)
            assert reply["error"]["code"] == 100
            assert reply["error"]["data"] == "INVALID_ORDER_SIGNATURE"
            mod = modify_body(session.acct, order["id"], BTC, "BUY", "0.02", "95500")
            reply = await rpc(ws, "order.modify", mod, id=4)
            assert (reply["result"]["order"]["id"], reply["result"]["order"]["size"]) == (
                order["id"],
                "0.02",
            )
            batch = [order_body(session.acct, BTC, "BUY", "0.01", str(90000 + i)) for i in range(2)]
            batch.append(order_body(session.acct, BTC, "BUY", "0.0001", "90000"))
            reply = await rpc(ws, "order.create_batch", batch, id=5)  # bare array, as the SDK
            results = reply["result"]["results"]
            assert [("order" in r, "error" in r) for r in results] == [
                (True, False),
                (True, False),
                (False, True),
            ]
            reply = await rpc(ws, "order.cancel", {"client_id": "w1", "market": BTC}, id=6)
            assert reply["result"] == {"order_id": order["id"], "status": "QUEUED_FOR_CANCELLATION"}
            ids = [r["order"]["id"] for r in results[:2]]
            reply = await rpc(ws, "order.cancel_batch", {"order_ids": [ids[0], order["id"]]}, id=7)
            assert [r["status"] for r in reply["result"]["results"]] == [
                "QUEUED_FOR_CANCELLATION",
                "ALREADY_CLOSED",
            ]
            assert (await rpc(ws, "order.cancel_all", {}, id=8))["result"] == {"status": "ok"}
            assert session.http.get("/orders").json()["results"] == []
            reply = await rpc(ws, "order.cancel_on_disconnect", {"enabled": True}, id=9)
            assert reply["result"] == {"enabled": True}
            reply = await rpc(
                ws, "order.create", order_body(session.acct, BTC, "BUY", "0.01", "91000")
            )
            assert reply["result"]["order"]["status"] == "NEW"
        # the socket closed with cancel-on-disconnect armed: its order is cancelled
        for _ in range(100):
            if not session.http.get("/orders").json()["results"]:
                break
            await asyncio.sleep(0.02)
        assert session.http.get("/orders").json()["results"] == []

    run(go)


def test_ws_emit_publishes_updates_of_one_order_in_order_through_the_hub(
    sim: SimServer, session: Trader
) -> None:
    """``POST /_sim/ws/emit`` (the stream benchmark's source): ``count`` updates of one
    order on both of its order channels, in chunks, each 1 ms later than the last and with
    its own WS seq_no; REST still shows the order as it was."""
    order = session.place_ok(BTC, "BUY", "0.01", "85000")
    before = session.http.get(f"/orders/{order['id']}").json()
    n = 2500  # more than one chunk

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            await rpc(ws, "auth", {"bearer": session.jwt})
            await rpc(ws, "subscribe", {"channel": "orders.ALL"})
            await rpc(ws, "subscribe", {"channel": f"orders.{BTC}"})
            await drain(ws)
            assert sim.admin.ws_emit(order["id"], n) == n
            got: dict[str, list[dict[str, Any]]] = {"orders.ALL": [], f"orders.{BTC}": []}
            for _ in range(2 * n):
                m = await recv(ws)
                got[m["params"]["channel"]].append(m["params"]["data"])
            for rows in got.values():
                assert [r["last_updated_at"] for r in rows] == list(
                    range(before["last_updated_at"] + 1, before["last_updated_at"] + n + 1)
                )
                seqs = [r["seq_no"] for r in rows]
                assert seqs == sorted(set(seqs)) and seqs[0] > before["seq_no"]
                assert {r["id"] for r in rows} == {order["id"]}
                assert {r["status"] for r in rows} == {before["status"]}
                assert all(isinstance(r["published_at"], int) for r in rows)

    run(go)
    assert session.http.get(f"/orders/{order['id']}").json() == before
    # nobody subscribed: nothing published
    assert sim.admin.ws_emit(order["id"], 10) == 0


def test_ws_emit_validates_its_body(sim: SimServer, session: Trader) -> None:
    order = session.place_ok(BTC, "BUY", "0.01", "85000")
    url = f"{sim.base_url}/_sim/ws/emit"
    for count in (0, -1, True, "5", 10_000_001):
        r = httpx.post(url, json={"order_id": order["id"], "count": count}, timeout=10)
        assert (r.status_code, r.json()["error"]) == (400, "VALIDATION_ERROR"), count
    r = httpx.post(url, json={"order_id": "123", "count": 1}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (404, "ORDER_ID_NOT_FOUND")


def test_notifications_go_out_through_the_batch_writer(sim: SimServer, session: Trader) -> None:
    """The sim finds uvicorn's WebSocket protocol and writes queued notifications in batches
    (one transport write each); if a uvicorn upgrade hid it, every message would silently
    take the slower ASGI send again."""
    from paradexctl.sim.hub import _FrameWriter

    order = session.place_ok(BTC, "BUY", "0.01", "85000")

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            await rpc(ws, "auth", {"bearer": session.jwt})
            await rpc(ws, "subscribe", {"channel": "orders.ALL"})
            assert sim.admin.ws_emit(order["id"], 300) == 300
            for _ in range(300):
                assert (await recv(ws))["params"]["channel"] == "orders.ALL"
            (conn,) = [
                c for c in list(sim.sim.hub.conns) if "orders.ALL" in c.subs and not c.closed
            ]
            assert isinstance(conn._writer, _FrameWriter)

    run(go)

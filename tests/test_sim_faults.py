"""Every simulator fault observed by a real client over loopback, the stale REST cache
(the seed's race), persistence across restarts, and the fault RNG's determinism."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from paradexctl.sim.app import SimOptions
from paradexctl.sim.faults import FaultConfig, Faults
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import Trader, login, order_body

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"


@pytest.fixture
def session(sim: SimServer) -> Any:
    s = Trader(sim.http_url)
    yield s
    s.close()


async def subscribed(sim: SimServer, jwt: str, *channels: str) -> Any:
    ws = await websockets.connect(sim.ws_url)
    await ws.send(
        json.dumps({"jsonrpc": "2.0", "method": "auth", "params": {"bearer": jwt}, "id": 0})
    )
    for i, ch in enumerate(channels, 1):
        msg = {"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": ch}, "id": i}
        await ws.send(json.dumps(msg))
    for _ in range(len(channels) + 1):
        assert "result" in json.loads(await asyncio.wait_for(ws.recv(), 5))
    return ws


async def drain(ws: Any, quiet: float = 0.3) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except TimeoutError:
            return out


# ----------------------------------------------------------------------------- REST faults


def test_rest_5xx_for_the_next_n_calls(sim: SimServer) -> None:
    sim.admin.faults(rest_5xx=2)
    codes = [sim.http.get("/markets").status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    sim.admin.faults(rest_5xx=1, rest_5xx_status=500)
    r = sim.http.get("/system/config")
    assert r.status_code == 500 and r.json()["error"] == "INTERNAL_ERROR"
    assert sim.admin.state()["faults"]["injected"]["rest_5xx"] == 3


def test_rest_429_with_rate_limit_headers(sim: SimServer) -> None:
    sim.admin.faults(rest_429=1, retry_after_s=3)
    r = sim.http.get("/markets")
    assert r.status_code == 429
    assert r.headers["x-ratelimit-remaining"] == "0"
    assert r.headers["retry-after"] == "3"
    assert int(r.headers["x-ratelimit-reset"]) >= int(time.time()) + 2
    assert {"x-ratelimit-limit", "x-ratelimit-window"} <= set(r.headers)
    assert set(r.json()) == {"error", "message", "data"}
    assert sim.http.get("/markets").status_code == 200


def test_accept_then_timeout_places_the_order_but_never_answers(
    sim: SimServer, session: Trader
) -> None:
    sim.admin.faults(accept_then_timeout=1, timeout_hold_s=30)
    with pytest.raises(httpx.ReadTimeout):
        session.http.post(
            "/orders",
            json=order_body(session.acct, BTC, "BUY", "0.01", "96000", client_id="lost"),
            timeout=0.5,
        )
    got = session.http.get("/orders/by_client_id/lost")
    assert got.status_code == 200 and got.json()["status"] == "OPEN"
    # the next placement is answered normally
    assert session.place(BTC, "BUY", "0.01", "96000").status_code == 201


def test_accept_then_timeout_hold_expires_with_503(sim: SimServer, session: Trader) -> None:
    sim.admin.faults(accept_then_timeout=1, timeout_hold_s=0.2)
    r = session.place(BTC, "BUY", "0.01", "96000", client_id="slow")
    assert r.status_code == 503
    assert session.http.get("/orders/by_client_id/slow").json()["status"] == "OPEN"


def test_faults_are_validated(sim: SimServer) -> None:
    for bad in ({"ws_drop_rate": 2}, {"nope": 1}, {"rest_5xx": -1}, {"timeout_mode": "x"}):
        r = sim.admin.client.post("/faults", json=bad)
        assert r.status_code == 400, bad


# ----------------------------------------------------------------------------- stale REST


def test_rest_staleness_reproduces_open_after_ws_closed(sim: SimServer, session: Trader) -> None:
    sim.admin.staleness(order=1_000, orders=1_000)

    async def go() -> None:
        ws = await subscribed(sim, session.jwt, "orders.ALL")
        try:
            order = session.place(BTC, "BUY", "0.01", "96000").json()
            # not visible to REST yet: it was created less than 1 s ago
            r = session.http.get(f"/orders/{order['id']}")
            assert r.status_code == 400 and r.json()["error"] == "ORDER_ID_NOT_FOUND"
            sim.admin.advance_time(2_000)
            assert session.http.get(f"/orders/{order['id']}").json()["status"] == "OPEN"
            session.http.delete(f"/orders/{order['id']}")
            statuses = [m["params"]["data"]["status"] for m in await drain(ws)]
            assert statuses[-1] == "CLOSED"
            # the race: the WS said CLOSED, a REST poll still says OPEN
            assert session.http.get(f"/orders/{order['id']}").json()["status"] == "OPEN"
            assert [o["id"] for o in session.http.get("/orders").json()["results"]] == [order["id"]]
            # an endpoint without staleness sees the truth
            hist = session.http.get("/orders-history").json()["results"]
            assert hist[0]["status"] == "CLOSED"
            sim.admin.advance_time(1_500)
            assert session.http.get(f"/orders/{order['id']}").json()["status"] == "CLOSED"
        finally:
            await ws.close()

    asyncio.run(go())


# ----------------------------------------------------------------------------- WS faults


def test_ws_drop_rate_makes_real_gaps(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        ws = await subscribed(sim, session.jwt, "orders.ALL")
        try:
            sim.admin.faults(ws_drop_rate=1.0)
            session.place(BTC, "BUY", "0.01", "96000")
            assert await drain(ws) == []
            sim.admin.faults(ws_drop_rate=0.0)
            order = session.place(BTC, "BUY", "0.01", "95000").json()
            msgs = [m["params"]["data"] for m in await drain(ws)]
            assert [m["id"] for m in msgs] == [order["id"], order["id"]]
            assert sim.admin.state()["faults"]["injected"]["ws_dropped"] == 2
        finally:
            await ws.close()

    asyncio.run(go())


def test_ws_duplicates(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        ws = await subscribed(sim, session.jwt, "orders.ALL")
        try:
            sim.admin.faults(ws_duplicate_rate=1.0)
            session.place(BTC, "BUY", "0.01", "96000")
            msgs = await drain(ws)
            assert len(msgs) == 4
            assert msgs[0] == msgs[1] and msgs[2] == msgs[3] and msgs[0] != msgs[2]
        finally:
            await ws.close()

    asyncio.run(go())


def test_ws_latency_delays_but_keeps_order(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        ws = await subscribed(sim, session.jwt, "orders.ALL")
        try:
            sim.admin.faults(ws_latency_ms=600, ws_jitter_ms=100)
            order = session.place(BTC, "BUY", "0.01", "96000").json()
            session.http.delete(f"/orders/{order['id']}")
            assert await drain(ws, quiet=0.2) == []  # nothing yet, well before 600 ms
            msgs = [m["params"]["data"]["status"] for m in await drain(ws, quiet=1.5)]
            assert msgs == ["NEW", "OPEN", "CLOSED"]
        finally:
            await ws.close()

    asyncio.run(go())


def test_forced_disconnect_now_and_every_n_seconds(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        ws = await subscribed(sim, session.jwt, "orders.ALL")
        assert sim.admin.disconnect() == 1
        with pytest.raises(ConnectionClosed) as err:
            await asyncio.wait_for(ws.recv(), 5)
        assert err.value.rcvd is not None and err.value.rcvd.code == 1012
        sim.admin.faults(ws_disconnect_every_s=0.3)
        ws = await subscribed(sim, session.jwt, "orders.ALL")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        sim.admin.faults(ws_disconnect_every_s=0)

    asyncio.run(go())


def test_refusing_connections_for_n_seconds(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        sim.admin.faults(refuse_connections_s=30)
        with pytest.raises(InvalidStatus) as err:
            await websockets.connect(sim.ws_url)
        assert err.value.response.status_code == 503
        sim.admin.faults(refuse_connections_s=0)
        ws = await subscribed(sim, session.jwt, "orders.ALL")
        await ws.close()

    asyncio.run(go())


def test_fault_decisions_are_deterministic_under_seed() -> None:
    def plans(seed: int) -> list[list[float]]:
        f = Faults(FaultConfig(ws_drop_rate=0.3, ws_duplicate_rate=0.3, ws_jitter_ms=50), seed=seed)
        return [f.plan_delivery() for _ in range(200)]

    assert plans(1) == plans(1)
    assert plans(1) != plans(2)
    kinds = {len(p) for p in plans(1)}
    assert kinds == {0, 1, 2}


# ----------------------------------------------------------------------------- persistence


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sim-state.json"
    options = SimOptions(mark_walk_ms=0, warm_tables=None, state_file=state)
    with SimServer(options) as first:
        s = Trader(first.http_url)
        order = s.place(BTC, "BUY", "0.01", "96000", client_id="keep").json()
        assert s.place(BTC, "BUY", "0.02").status_code == 201
        position = s.http.get("/positions").json()["results"]
        balance = s.http.get("/balance").json()["results"]
        s.close()
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != state.name]  # no temp files left
    with SimServer(options) as second:
        jwt = login(second.http_url, s.acct)  # JWTs do not survive (new secret); keys do
        h = {"Authorization": f"Bearer {jwt}"}
        got = second.http.get("/orders", headers=h).json()["results"]
        assert [(o["id"], o["client_id"], o["status"]) for o in got] == [
            (order["id"], "keep", "OPEN")
        ]
        assert second.http.get("/positions", headers=h).json()["results"] == position
        assert second.http.get("/balance", headers=h).json()["results"] == balance
        # and it keeps trading from there
        r = second.http.post(
            "/orders",
            headers=h,
            json=order_body(s.acct, BTC, "SELL", "0.02", flags=["REDUCE_ONLY"]),
        )
        assert r.status_code == 201 and r.json()["id"] != order["id"]
        assert second.http.get("/positions", headers=h).json()["results"][0]["size"] == "0"


def test_admin_api_is_loopback_only() -> None:
    from paradexctl.sim.app import create_app

    app = create_app(SimOptions(mark_walk_ms=0, warm_tables=None))

    async def go() -> None:
        remote_t = httpx.ASGITransport(app=app, client=("192.0.2.7", 50000))  # not loopback
        async with httpx.AsyncClient(transport=remote_t, base_url="http://sim") as remote:
            r = await remote.get("/_sim/state")
            assert r.status_code == 403 and r.json()["error"] == "REQUEST_NOT_ALLOWED"
            assert (await remote.post("/_sim/faults", json={"rest_5xx": 5})).status_code == 403
            assert (await remote.get("/v1/system/state")).status_code == 200  # API is open
        local_t = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=local_t, base_url="http://127.0.0.1:8787") as local:
            assert (await local.get("/_sim/state")).status_code == 200

    asyncio.run(go())


# ----------------------------------------------------------------------------- more paths


def test_disconnect_now_key_of_the_faults_call(sim: SimServer, session: Trader) -> None:
    async def go() -> None:
        ws = await subscribed(sim, session.jwt, "orders.ALL")
        for bad in ("yes", 1, None, [True]):
            r = sim.admin.client.post("/faults", json={"disconnect_now": bad, "rest_5xx": 1})
            assert r.status_code == 400 and "disconnect_now" in r.json()["message"], bad
        assert sim.admin.state()["faults"]["rest_5xx"] == 0  # a refused call changes nothing
        assert sim.admin.faults(disconnect_now=False)["injected"]["ws_disconnects"] == 0
        assert await drain(ws, 0.2) == []  # still connected
        sim.admin.faults(disconnect_now=True)
        with pytest.raises(ConnectionClosed) as err:
            await asyncio.wait_for(ws.recv(), 5)
        assert err.value.rcvd is not None and err.value.rcvd.code == 1012
        assert sim.admin.state()["faults"]["injected"]["ws_disconnects"] == 1

    asyncio.run(go())


def test_accept_then_timeout_on_batch_placement(sim: SimServer, session: Trader) -> None:
    sim.admin.faults(accept_then_timeout=1, timeout_hold_s=30)
    batch = [
        order_body(session.acct, BTC, "BUY", "0.01", "96000", client_id="b1"),
        order_body(session.acct, BTC, "BUY", "0.01", "95900", client_id="b2"),
    ]
    with pytest.raises(httpx.ReadTimeout):
        session.http.post("/orders/batch", json=batch, timeout=0.5)
    for cid in ("b1", "b2"):
        assert session.http.get(f"/orders/by_client_id/{cid}").json()["status"] == "OPEN"
    assert sim.admin.state()["faults"]["injected"]["accept_then_timeout"] == 1
    batch = [order_body(session.acct, BTC, "BUY", "0.01", "95800", client_id="b3")]
    r = session.http.post("/orders/batch", json=batch)
    assert r.status_code == 201 and r.json()["orders"][0]["client_id"] == "b3"


def test_accept_then_timeout_on_ws_order_create(sim: SimServer, session: Trader) -> None:
    sim.admin.faults(accept_then_timeout=1)

    async def go() -> None:
        ws = await subscribed(sim, session.jwt)
        try:
            for i, cid in enumerate(("w1", "w2"), 10):
                body = order_body(session.acct, BTC, "BUY", "0.01", "96000", client_id=cid)
                msg = {"jsonrpc": "2.0", "method": "order.create", "params": body, "id": i}
                await ws.send(json.dumps(msg))
            replies = await drain(ws, 0.5)
            # the first is placed but never answered; the second is answered
            assert [r["id"] for r in replies] == [11]
            assert replies[0]["result"]["order"]["client_id"] == "w2"
        finally:
            await ws.close()

    asyncio.run(go())
    for cid in ("w1", "w2"):
        assert session.http.get(f"/orders/by_client_id/{cid}").json()["status"] == "OPEN"


def _read(session: Trader, key: str) -> Any:
    """What endpoint ``key`` shows of the account's trading, in a comparable form."""
    path = {"account": "/account", "orders-history": "/orders-history"}.get(key, f"/{key}")
    body = session.http.get(path).json()
    if key == "account":
        return body["account_value"], body["seq_no"]
    rows = body["results"]
    if key == "balance":
        return [r["size"] for r in rows]
    if key == "positions":
        return [(r["market"], r["size"]) for r in rows]
    return sorted(r["id"] for r in rows)  # fills, orders-history


@pytest.mark.parametrize("key", ["orders-history", "positions", "balance", "account", "fills"])
def test_rest_staleness_per_endpoint(sim: SimServer, session: Trader, key: str) -> None:
    sim.admin.advance_time(5_000)  # the account's first versions are now 5 s old
    before = _read(session, key)
    others = {k: _read(session, k) for k in ("orders-history", "fills") if k != key}
    sim.admin.staleness(**{key: 1_000})
    r = session.place(BTC, "BUY", "0.01")  # a market order: fills, position, balance
    assert r.status_code == 201
    # the stale endpoint still shows the state before the trade ...
    assert _read(session, key) == before
    # ... the others already show it
    for k, old in others.items():
        assert _read(session, k) != old, k
    sim.admin.advance_time(1_500)
    after = _read(session, key)
    assert after != before
    if key in ("fills", "orders-history", "positions"):
        assert len(after) == len(before) + 1


def test_young_account_shows_its_first_state_on_account_and_balance(
    sim: SimServer, session: Trader
) -> None:
    sim.admin.staleness(default=60_000)
    acct = session.http.get("/account").json()
    assert acct["account_value"] == "100000" and acct["account"] == session.acct.address
    assert session.http.get("/balance").json()["results"][0]["size"] == "100000"
    assert session.http.get("/positions").json()["results"] == []
    assert session.place(BTC, "BUY", "0.01").status_code == 201
    # a trade now is not seen (the cache is 60 s behind), consistently on both
    assert session.http.get("/account").json()["account_value"] == "100000"
    assert session.http.get("/balance").json()["results"][0]["size"] == "100000"

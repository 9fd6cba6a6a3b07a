"""Every fault and the starting mark set by ``paradexctl sim``'s command-line options, observed
by a client of the running process (one sim process per case)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from paradexctl.sim.testing import login, new_account, order_body

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"


class Sim:
    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "paradexctl", "sim", "--port", "0", "-o", "json"]
        cmd += ["--signing-tables", "small", "--verify-workers", "0", "--mark-walk-ms", "0"]
        self.proc = subprocess.Popen(
            [*cmd, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(60)
        if not line or not line[0]:
            self.stop()
            raise AssertionError("sim did not start")
        info = json.loads(line[0])
        self.http_url: str = info["http_url"]
        self.ws_url: str = info["ws_url"]
        self.admin_url: str = info["admin_url"]
        self.stderr = ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            _, self.stderr = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()

    def injected(self) -> dict[str, int]:
        st = httpx.get(self.admin_url + "/faults", timeout=10).json()
        return st["injected"]  # type: ignore[no-any-return]


@pytest.fixture
def start() -> Iterator[Any]:
    sims: list[Sim] = []

    def go(*args: str) -> Sim:
        sims.append(Sim(*args))
        return sims[-1]

    yield go
    for s in sims:
        s.stop()
        assert "Traceback" not in s.stderr, s.stderr


async def bbo_socket(sim: Sim) -> Any:
    ws = await websockets.connect(sim.ws_url)
    sub = {"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": f"bbo.{BTC}"}, "id": 1}
    await ws.send(json.dumps(sub))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["result"] == {"channel": f"bbo.{BTC}"}
    return ws


async def move_mark(admin: httpx.AsyncClient, price: str) -> float:
    """Move BTC's mark (one bbo notification); returns the time just before the call."""
    t0 = time.monotonic()
    r = await admin.post("/mark-price", json={"market": BTC, "price": price})
    assert r.status_code == 200, r.text
    return t0


async def received(ws: Any, quiet: float) -> list[tuple[float, dict[str, Any]]]:
    out = []
    while True:
        try:
            msg = await asyncio.wait_for(ws.recv(), quiet)
        except TimeoutError:
            return out
        out.append((time.monotonic(), json.loads(msg)))


def test_ws_latency_from_start(start: Any) -> None:
    sim = start("--ws-latency-ms", "400")

    async def go() -> None:
        ws = await bbo_socket(sim)
        async with httpx.AsyncClient(base_url=sim.admin_url) as admin:
            t0 = await move_mark(admin, "96000")
            got = await received(ws, 1.5)
        await ws.close()
        assert len(got) == 1
        assert 0.4 <= got[0][0] - t0 < 1.4

    asyncio.run(go())


def test_ws_jitter_from_start_adds_a_varying_delay(start: Any) -> None:
    sim = start("--ws-jitter-ms", "300", "--seed", "4")

    async def go() -> None:
        ws = await bbo_socket(sim)
        delays = []
        async with httpx.AsyncClient(base_url=sim.admin_url) as admin:
            for price in ("96000", "96100", "96200", "96300", "96400", "96500"):
                t0 = await move_mark(admin, price)
                got = await received(ws, 0.45)  # more than the jitter: no carry-over
                assert len(got) == 1
                delays.append(got[0][0] - t0)
        await ws.close()
        assert all(d < 0.45 for d in delays), delays
        assert max(delays) - min(delays) > 0.06, delays  # not a constant delay

    asyncio.run(go())


def test_ws_duplicates_from_start(start: Any) -> None:
    sim = start("--ws-duplicate-rate", "1")

    async def go() -> None:
        ws = await bbo_socket(sim)
        async with httpx.AsyncClient(base_url=sim.admin_url) as admin:
            await move_mark(admin, "96000")
            got = [m for _, m in await received(ws, 0.5)]
        await ws.close()
        assert len(got) == 2 and got[0] == got[1]

    asyncio.run(go())
    assert sim.injected()["ws_duplicated"] == 1


def test_ws_drops_from_start(start: Any) -> None:
    sim = start("--ws-drop-rate", "1")

    async def go() -> None:
        ws = await bbo_socket(sim)
        async with httpx.AsyncClient(base_url=sim.admin_url) as admin:
            await move_mark(admin, "96000")
            await move_mark(admin, "96100")
            assert await received(ws, 0.5) == []
        await ws.close()

    asyncio.run(go())
    assert sim.injected()["ws_dropped"] == 2


def test_ws_disconnect_every_from_start(start: Any) -> None:
    sim = start("--ws-disconnect-every", "0.5")

    async def go() -> None:
        for _ in range(2):  # and again after reconnecting
            ws = await bbo_socket(sim)
            t0 = time.monotonic()
            with pytest.raises(ConnectionClosed) as err:
                await asyncio.wait_for(ws.recv(), 5)
            assert err.value.rcvd is not None and err.value.rcvd.code == 1012
            assert time.monotonic() - t0 < 1.5

    asyncio.run(go())


def test_refuse_connections_from_start(start: Any) -> None:
    sim = start("--refuse-connections", "1.5")

    async def go() -> None:
        with pytest.raises(InvalidStatus) as err:
            await websockets.connect(sim.ws_url)
        assert err.value.response.status_code == 503
        assert httpx.get(sim.http_url + "/system/state").status_code == 200  # REST is served
        await asyncio.sleep(2)
        ws = await bbo_socket(sim)  # accepted once the period is over
        await ws.close()

    asyncio.run(go())
    assert sim.injected()["ws_refused"] == 1
    sim.stop()
    assert "handshake" not in sim.stderr and "ERROR" not in sim.stderr, sim.stderr


def test_rest_429_from_start(start: Any) -> None:
    sim = start("--rest-429", "2", "--retry-after", "4")
    for _ in range(2):
        r = httpx.get(sim.http_url + "/markets")
        assert r.status_code == 429 and r.json()["error"] == "RATE_LIMIT_EXCEEDED"
        assert r.headers["retry-after"] == "4" and r.headers["x-ratelimit-remaining"] == "0"
    assert httpx.get(sim.http_url + "/markets").status_code == 200


def test_rest_5xx_status_from_start(start: Any) -> None:
    sim = start("--rest-5xx", "1", "--rest-5xx-status", "500")
    r = httpx.get(sim.http_url + "/markets")
    assert r.status_code == 500 and r.json()["error"] == "INTERNAL_ERROR"
    assert httpx.get(sim.http_url + "/markets").status_code == 200


def test_accept_then_timeout_from_start(start: Any) -> None:
    sim = start("--accept-then-timeout", "1", "--timeout-hold", "0.5")
    acct = new_account(sim.http_url)
    h = {"Authorization": f"Bearer {login(sim.http_url, acct)}"}
    body = order_body(acct, BTC, "BUY", "0.01", "96000", client_id="held")
    t0 = time.monotonic()
    r = httpx.post(sim.http_url + "/orders", headers=h, json=body, timeout=10)
    assert r.status_code == 503 and 0.5 <= time.monotonic() - t0 < 5
    got = httpx.get(sim.http_url + "/orders/by_client_id/held", headers=h)
    assert got.json()["status"] == "OPEN"  # it was placed all the same
    body = order_body(acct, BTC, "BUY", "0.01", "95000")
    assert httpx.post(sim.http_url + "/orders", headers=h, json=body).status_code == 201


def test_mark_from_start(start: Any) -> None:
    sim = start("--mark", f"{BTC}=50000.05", "--mark", "ETH-USD-PERP=2000")
    rows = httpx.get(sim.http_url + "/markets/summary", params={"market": "ALL"}).json()
    marks = {r["symbol"]: r["mark_price"] for r in rows["results"]}
    assert marks[BTC] == "50000" and marks["ETH-USD-PERP"] == "2000"
    assert marks["SOL-USD-PERP"] == "180"  # the default
    bbo = httpx.get(sim.http_url + f"/bbo/{BTC}").json()
    assert 49_900 < float(bbo["bid"]) < 50_000 < float(bbo["ask"]) < 50_100
    # and it survives a reset
    httpx.post(sim.admin_url + "/reset")
    rows = httpx.get(sim.http_url + "/markets/summary", params={"market": BTC}).json()
    assert rows["results"][0]["mark_price"] == "50000"


@pytest.mark.parametrize(
    "args",
    [
        ["--mark", "BTC-USD-PERP"],
        ["--mark", "DOGE-USD-PERP=1"],
        ["--mark", "BTC-USD-PERP=abc"],
        ["--mark", "BTC-USD-PERP=0.01"],
        ["--mark", "BTC-USD-PERP=1e40"],
        ["--markets", "ETH-USD-PERP", "--mark", "BTC-USD-PERP=1000"],
        ["--rest-5xx-status", "404"],
        ["--retry-after", "-1"],
        ["--timeout-hold", "-1"],
        ["--ws-disconnect-every", "inf"],
        ["--refuse-connections", "nan"],
    ],
)
def test_bad_start_options_exit_2(args: list[str]) -> None:
    from paradexctl.cli.main import main

    assert main(["sim", "--port", "0", *args]) == 2


def test_jwt_lifetime_and_faucet_from_start(start: Any) -> None:
    import base64

    sim = start("--jwt-lifetime", "60", "--faucet", "2500.5")
    acct = new_account(sim.http_url)
    jwt = login(sim.http_url, acct)
    part = jwt.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert claims["exp"] - claims["iat"] == 60
    h = {"Authorization": f"Bearer {jwt}"}
    assert httpx.get(sim.http_url + "/balance", headers=h).json()["results"][0]["size"] == "2500.5"
    httpx.post(sim.admin_url + "/time/advance", json={"ms": 61_000})
    r = httpx.get(sim.http_url + "/balance", headers=h)
    assert r.status_code == 401 and "expired" in r.json()["message"]

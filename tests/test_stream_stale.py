"""The sim's ``ws_silence_s`` fault, and the stream's ``stale`` watchdog end to end.

A silent connection stays open but sends nothing: no notifications (dropped, so a real gap),
no replies and no protocol pongs. ``paradexctl stream`` must notice (``stale``), reconnect,
resubscribe and heal the gap with its REST resync.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import write_profile
from ndjson_lines import Lines
from websockets.asyncio.client import connect

from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import SimAccount, login, order_body

#: the one time unit for test timeouts (seconds per "ms"); raise it on a slow machine
MS = float(os.environ.get("PARADEXCTL_TEST_MS", "0.001"))

MARKET = "BTC-USD-PERP"


def _rpc(rid: int, method: str, **params: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})


def test_silence_withholds_frames_and_pongs_on_open_connections_only(sim: SimServer) -> None:
    async def main() -> None:
        async with connect(sim.ws_url, ping_interval=None) as old:
            await old.send(_rpc(1, "subscribe", channel=f"bbo.{MARKET}"))
            assert json.loads(await old.recv())["id"] == 1
            await asyncio.to_thread(sim.admin.faults, ws_silence_s=60)
            # a connection opened after the fault was set is not affected
            async with connect(sim.ws_url, ping_interval=None) as new:
                await asyncio.wait_for(await new.ping(), 5000 * MS)
                await new.send(_rpc(1, "subscribe", channel=f"bbo.{MARKET}"))
                assert json.loads(await asyncio.wait_for(new.recv(), 5000 * MS))["id"] == 1
            pong = asyncio.ensure_future(await old.ping())
            await old.send(_rpc(2, "subscribe", channel="bbo.ETH-USD-PERP"))
            # engine events meanwhile: the silent connection's notifications are dropped
            await asyncio.to_thread(sim.admin.mark_price, MARKET, "61000")
            done, _ = await asyncio.wait({pong}, timeout=300 * MS)
            assert not done, "a pong came through the silence"
            # ending the silence: the withheld ping is answered, reading resumes
            await asyncio.to_thread(sim.admin.faults, ws_silence_s=0)
            await asyncio.wait_for(pong, 5000 * MS)
            reply = json.loads(await asyncio.wait_for(old.recv(), 5000 * MS))
            assert reply["id"] == 2 and reply["result"] == {"channel": "bbo.ETH-USD-PERP"}

    asyncio.run(main())
    injected = sim.admin.state()["faults"]["injected"]
    assert injected["ws_silenced"] == 1
    assert injected["ws_silence_dropped"] >= 1


def test_silence_rejects_bad_values(sim: SimServer) -> None:
    r = sim.http.post(f"{sim.base_url}/_sim/faults", json={"ws_silence_s": -1})
    assert r.status_code == 400
    r = sim.http.post(f"{sim.base_url}/_sim/faults", json={"ws_silence_s": "1"})
    assert r.status_code == 400


# --- paradexctl stream against a silent connection --------------------------------------------


@pytest.fixture
def trader(sim: SimServer, sim_account: Any) -> Iterator[tuple[SimAccount, httpx.Client]]:
    acct = SimAccount(*sim_account(sim))
    jwt = login(sim.http_url, acct)
    with httpx.Client(
        base_url=sim.http_url, timeout=10, headers={"Authorization": f"Bearer {jwt}"}
    ) as http:
        yield acct, http


def _env(sim: SimServer, acct: SimAccount, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        PARADEX_ENV="local",
        PARADEX_API_URL=sim.http_url,
        PARADEX_WS_URL=sim.ws_url,
        PARADEX_ACCOUNT_ADDRESS=acct.address,
        PARADEX_L2_PRIVATE_KEY=hex(acct.private_key),
        PYTHONUNBUFFERED="1",
    )
    write_profile(tmp / "config", ws_backoff_base_ms=20, ws_backoff_cap_ms=100,
                  ws_stable_after_s=0)  # fmt: skip
    env.pop("PARADEXCTL_PROFILE", None)
    env.pop("PYTHONTRACEMALLOC", None)
    return env


def _post_order(http: httpx.Client, body: dict[str, Any]) -> str:
    r = http.post("/orders", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _fold(lines: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Decimal]]:
    """The merged output folded into (orders by id, non-zero positions by market)."""
    orders: dict[str, dict[str, Any]] = {}
    positions: dict[str, Decimal] = {}
    for ln in lines:
        if ln["type"] != "update" or ln.get("data") is None:
            continue
        if ln["kind"] == "order":
            orders[ln["key"]] = ln["data"]
        elif ln["kind"] == "position":
            positions[ln["data"]["market"]] = Decimal(ln["data"]["size"])
    return orders, {m: s for m, s in positions.items() if s != 0}


def test_stream_goes_stale_on_a_silent_connection_and_the_resync_heals_the_gap(
    sim: SimServer, trader: tuple[SimAccount, httpx.Client], tmp_path: Path
) -> None:
    acct, http = trader
    before_fill = _post_order(http, order_body(acct, MARKET, "BUY", "0.01", "50000"))
    before_cancel = _post_order(http, order_body(acct, MARKET, "BUY", "0.01", "40000"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "paradexctl", "stream", "orders", "positions",
         "--stale-after", "0.5", "--merged", "-o", "ndjson"],
        env=_env(sim, acct, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out = Lines(proc)
    try:
        out.until("resynced", 20000)
        # Signed ahead, so that the writes land well inside the silence.
        during = order_body(acct, MARKET, "BUY", "0.01", "45000")
        sim.admin.faults(ws_silence_s=30)  # longer than the test: only a reconnect helps
        sim.admin.force_fill(before_fill)  # CLOSED, and a position
        r = http.delete(f"/orders/{before_cancel}")
        assert r.status_code < 300, r.text
        placed = _post_order(http, during)
        # The watchdog gives up on the silent connection; the new one is not silenced.
        gap = out.until("stale", 10000)
        assert [ln for ln in gap if ln["type"] == "update"] == [], "data crossed the silence"
        after = out.until("resynced", 10000)
        truth = sim.admin.state()
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10000 * MS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
    kinds = [ln["type"] for ln in after]
    order = ["reconnecting", "connected", "subscribed", "resynced"]
    assert [k for k in kinds if k in order] == order, kinds
    assert gap[-1]["silent_ms"] >= 500
    injected = truth["faults"]["injected"]
    assert injected["ws_silenced"] == 1 and injected["ws_silence_dropped"] > 0

    # The merged view equals the sim's truth for the account: the gap is healed.
    orders, positions = _fold(out.seen)
    mine = truth["accounts"][acct.address]
    open_truth = {o["id"]: (o["status"], Decimal(o["remaining_size"])) for o in mine["open_orders"]}
    open_view = {
        oid: (o["status"], Decimal(o["remaining_size"]))
        for oid, o in orders.items()
        if o["status"] != "CLOSED"
    }
    assert open_view == open_truth
    assert set(open_truth) == {placed}
    for oid in (before_fill, before_cancel, placed):
        assert orders[oid]["status"] == truth["orders"][oid], oid
    assert positions == {p["market"]: Decimal(p["size"]) for p in mine["positions"]}
    assert positions == {MARKET: Decimal("0.01")}
    # ... and it was the resync after the reconnect that brought the missed changes
    resync = after[-1]
    assert not resync.get("failed")
    assert {(c["kind"], c["key"]) for c in resync["changed"]} == {
        ("order", before_fill), ("order", before_cancel), ("order", placed),
        ("position", MARKET),
    }  # fmt: skip

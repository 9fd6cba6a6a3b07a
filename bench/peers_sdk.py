"""The official SDK's side of ``bench/peers.py``: run with the peer virtualenv's Python 3.10.

    .venv-peers/bin/python bench/peers_sdk.py COMMAND JSON_ARGS

Imports ``paradex_py`` (0.8.2), so it is never imported by paradexctl or its tests. Every
command talks to loopback only: the REST base URL and the WebSocket URL are overridden with
the sim's (or the bench feed's), and the Starknet RPC URL in the sim's config points at a dead
loopback port (the SDK makes no RPC call for what is done here).

Commands (JSON_ARGS is one JSON object):

* ``sign-order {config, key, l1, ts}``: a fresh process signing one order offline, from the
  sim's ``/system/config`` body (no HTTP call); prints ``{"signature", "account"}``.
* ``worker {api, key, l1, config}``: a long-running process that reads one JSON command per
  stdin line and answers one JSON line: ``{"op": "sign", "n": N}`` (CPU ms per order
  hash+sign, N samples), ``{"op": "roundtrip"}`` (REST place + cancel, wall ms),
  ``{"op": "quit"}``. The ``Paradex`` client is built (config, auth) at start.
* ``place-wait {api, ws, key, l1}``: a fresh process doing what ``paradexctl order place
  --wait open`` does with the SDK: construct (config, auth), connect the WebSocket,
  subscribe to ``orders``, submit over REST, wait for the order's OPEN notification.
* ``stream {api, ws, key, l1, n}``: construct, connect, subscribe to ``orders.ALL``, write
  each notification's data as one JSON line to stdout (block-buffered pipe) until N.
* ``imports``: import the SDK and print the module count and the time it took.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from decimal import Decimal
from typing import Any

T_START = time.perf_counter()


def _order(ts: int | None = None, price: str = "1000", client_id: str = "") -> Any:
    from paradex_py.common.order import Order, OrderSide, OrderType

    return Order(
        market="BTC-USD-PERP",
        order_type=OrderType.Limit,
        order_side=OrderSide.Buy,
        size=Decimal("0.015"),
        limit_price=Decimal(price),
        client_id=client_id,
        signature_timestamp=ts,
    )


def _config(body: dict[str, Any]) -> Any:
    """The SDK's SystemConfig from a /system/config body, as ``fetch_system_config`` does."""
    import re

    from paradex_py.api.models import SystemConfigSchema

    body = dict(body)
    if "starknet_fullnode_rpc_base_url" not in body:
        body["starknet_fullnode_rpc_base_url"] = re.sub(
            r"/rpc/v\d+[._]\d+.*$", "", body["starknet_fullnode_rpc_url"]
        )
    return SystemConfigSchema().load(body, unknown="exclude")


def _client(a: dict[str, Any], **kw: Any) -> Any:
    from paradex_py import Paradex

    return Paradex(
        env="testnet",  # only names the default URLs, all of which are overridden
        l1_address=a["l1"],
        l2_private_key=a["key"],
        api_base_url=a["api"],
        ws_url_override=a.get("ws"),
        ws_direct_url_override=a.get("ws"),
        logger=logging.getLogger("sdk"),
        **kw,
    )


def sign_order(a: dict[str, Any]) -> None:
    from paradex_py.account.account import ParadexAccount

    acct = ParadexAccount(_config(a["config"]), l1_address=a["l1"], l2_private_key=a["key"])
    sig = acct.sign_order(_order(int(a["ts"]), price="97123.5"))
    print(json.dumps({"signature": sig, "account": hex(acct.l2_address)}))


def worker(a: dict[str, Any]) -> None:
    client = _client(a) if a.get("api") else None
    from paradex_py.account.account import ParadexAccount

    acct = (
        client.account
        if client is not None
        else ParadexAccount(_config(a["config"]), l1_address=a["l1"], l2_private_key=a["key"])
    )
    ts = [1_735_689_600_000]
    print(json.dumps({"ready": True, "account": hex(acct.l2_address)}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "sign":
            samples = []
            for _ in range(cmd["n"]):
                ts[0] += 1
                order = _order(ts[0], price="97123.5")
                t = time.process_time()
                acct.sign_order(order)
                samples.append((time.process_time() - t) * 1e3)
            out: dict[str, Any] = {"samples": samples}
        elif cmd["op"] == "roundtrip":
            assert client is not None
            t = time.perf_counter()
            placed = client.api_client.submit_order(_order())
            client.api_client.cancel_order(placed["id"])
            out = {"ms": (time.perf_counter() - t) * 1e3, "id": placed["id"]}
        else:
            return
        print(json.dumps(out), flush=True)


async def _subscribed(ws: Any, channel: str, timeout: float = 10.0) -> None:
    """Until the server acknowledged the subscription (the SDK records acks it reads)."""
    deadline = time.monotonic() + timeout
    while not ws.get_subscriptions().get(channel):
        if time.monotonic() > deadline:
            raise SystemExit(f"no subscription ack for {channel}")
        await asyncio.sleep(0.002)


async def _place_wait(a: dict[str, Any]) -> None:
    from paradex_py.api.ws_client import ParadexWebsocketChannel

    client = _client(a)
    ws = client.ws_client
    open_ids: set[str] = set()
    seen = asyncio.Event()
    want: list[str] = []

    async def on_order(channel: Any, message: dict[str, Any]) -> None:
        data = message.get("params", {}).get("data", {})
        if data.get("status") == "OPEN":
            open_ids.add(data["id"])
            if want and want[0] in open_ids:
                seen.set()

    await ws.connect()
    await ws.subscribe(ParadexWebsocketChannel.ORDERS, on_order, {"market": "ALL"})
    await _subscribed(ws, "orders.ALL")
    placed = client.api_client.submit_order(_order(client_id=a["client_id"]))
    want.append(placed["id"])
    if placed["id"] in open_ids:
        seen.set()
    await asyncio.wait_for(seen.wait(), 30)
    print(json.dumps({"id": placed["id"], "status": "OPEN"}), flush=True)
    await ws.close()


async def _stream(a: dict[str, Any]) -> None:
    from paradex_py.api.ws_client import ParadexWebsocketChannel

    client = _client(a)
    ws = client.ws_client
    n = int(a["n"])
    count = [0]
    done = asyncio.Event()
    write = sys.stdout.write
    dumps = json.dumps

    async def on_order(channel: Any, message: dict[str, Any]) -> None:
        write(dumps(message["params"]["data"]) + "\n")
        count[0] += 1
        if count[0] >= n:
            done.set()

    await ws.connect()
    await ws.subscribe(ParadexWebsocketChannel.ORDERS, on_order, {"market": "ALL"})
    await asyncio.wait_for(done.wait(), 300)
    sys.stdout.flush()
    await ws.close()


def imports() -> None:
    before = len(sys.modules)
    t = time.perf_counter()
    import paradex_py  # noqa: F401
    from paradex_py import Paradex  # noqa: F401

    print(json.dumps({"modules": len(sys.modules) - before, "ms": (time.perf_counter() - t) * 1e3}))


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    cmd = sys.argv[1]
    a = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if cmd == "sign-order":
        sign_order(a)
    elif cmd == "worker":
        worker(a)
    elif cmd == "place-wait":
        asyncio.run(_place_wait(a))
    elif cmd == "stream":
        asyncio.run(_stream(a))
    elif cmd == "imports":
        imports()
    else:
        raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()

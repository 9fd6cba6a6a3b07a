"""Drive the simulator through a realistic client flow and capture every body it emits.

Part one of ``make conformance`` (part two, ``conformance_check.py``, validates the capture
against the official SDK's generated models in a separate Python 3.10 virtualenv). This half
runs in the project's own virtualenv and needs nothing outside the project.

    python scripts/conformance_capture.py OUT.json

The capture is a JSON list of ``{"kind": "rest", "method", "route", "status", "body"}`` and
``{"kind": "ws", "channel", "data"}`` entries, ``route`` being the path template the sim
serves (``/orders/{order_id}``), so the checker can map it to a response model.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from paradexctl.sim.app import SimOptions
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import Trader, modify_body, new_subkey, order_body

MARKET = "BTC-USD-PERP"
WS_CHANNELS = [
    "orders.ALL",
    "fills.ALL",
    "positions",
    "account",
    "balance_events",
    f"bbo.{MARKET}",
    f"trades.{MARKET}",
]


class Capture:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def rest(self, route: str, resp: httpx.Response) -> httpx.Response:
        body: Any
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        with self.lock:
            self.items.append(
                {
                    "kind": "rest",
                    "method": resp.request.method,
                    "route": route,
                    "status": resp.status_code,
                    "allow": resp.headers.get("allow"),
                    "body": body,
                }
            )
        return resp

    def ws(self, channel: str, data: Any) -> None:
        with self.lock:
            self.items.append({"kind": "ws", "channel": channel, "data": data})


def _ws_reader(
    url: str, jwt: str, cap: Capture, ready: threading.Event, stop: threading.Event
) -> None:
    with connect(url, max_size=2**24) as ws:
        ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "auth", "params": {"bearer": jwt}})
        )
        json.loads(ws.recv(timeout=10))
        for i, ch in enumerate(WS_CHANNELS, start=2):
            ws.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": i, "method": "subscribe", "params": {"channel": ch}}
                )
            )
        acks = 0
        while not stop.is_set():
            try:
                raw = ws.recv(timeout=0.2)
            except TimeoutError:
                continue
            msg = json.loads(raw)
            if "id" in msg and "result" in msg:
                acks += 1
                if acks == len(WS_CHANNELS):
                    ready.set()
                continue
            params = msg.get("params") or {}
            if msg.get("method") == "subscription":
                cap.ws(str(params.get("channel")), params.get("data"))


def run(out: Path) -> int:
    cap = Capture()
    with SimServer(SimOptions(seed=3, mark_walk_ms=50)) as sim:
        base = sim.http_url
        pub = httpx.Client(base_url=base, timeout=10, verify=False)
        for route, path in [
            ("/system/config", "/system/config"),
            ("/system/state", "/system/state"),
            ("/system/time", "/system/time"),
            ("/markets", "/markets"),
            ("/markets", f"/markets?market={MARKET}"),
            ("/markets/summary", f"/markets/summary?market={MARKET}"),
            ("/markets/summary", "/markets/summary?market=ALL"),
            ("/bbo/{market}", f"/bbo/{MARKET}"),
            ("/orderbook/{market}", f"/orderbook/{MARKET}"),
        ]:
            cap.rest(route, pub.get(path))

        trader = Trader(base)
        other = Trader(base)  # a counterparty, so the account's orders fill
        stop, ready = threading.Event(), threading.Event()
        reader = threading.Thread(
            target=_ws_reader, args=(sim.ws_url, trader.jwt, cap, ready, stop), daemon=True
        )
        reader.start()
        if not ready.wait(15):
            print("conformance: the WS subscriptions were not acknowledged", file=sys.stderr)
            return 1
        cap.rest(
            "/onboarding",
            pub.get(
                "/onboarding",
                params={"public_key": trader.acct.public_key, "account_signer_type": "starknet"},
            ),
        )
        h = trader.http
        for route in ("/account", "/account/summary", "/account/info", "/balance", "/positions"):
            cap.rest(route, h.get(route))

        tick = Decimal(
            pub.get("/markets", params={"market": MARKET}).json()["results"][0]["price_tick_size"]
        )
        bbo = pub.get(f"/bbo/{MARKET}").json()
        bid, ask = Decimal(bbo["bid"]), Decimal(bbo["ask"])

        def px(value: Decimal) -> str:
            return str(value.quantize(tick, rounding=ROUND_DOWN))

        # a resting order, modified, fetched, cancelled
        rest_price = px(bid * Decimal("0.95"))
        o = cap.rest(
            "/orders", trader.place(MARKET, "BUY", "0.01", rest_price, client_id="conf-1")
        ).json()
        cap.rest("/orders/{order_id}", h.get(f"/orders/{o['id']}"))
        cap.rest("/orders/by_client_id/{client_id}", h.get("/orders/by_client_id/conf-1"))
        cap.rest(
            "/orders/{order_id}",
            h.put(
                f"/orders/{o['id']}",
                json=modify_body(
                    trader.acct, o["id"], MARKET, "BUY", "0.01", px(Decimal(rest_price) - tick)
                ),
            ),
        )
        cap.rest("/orders", h.get("/orders"))
        cap.rest("/orders/{order_id}", h.delete(f"/orders/{o['id']}"))
        # a resting sell by the counterparty, taken by the account: fills, positions, balances
        other.place_ok(MARKET, "SELL", "0.02", px(ask * Decimal("1.001")), client_id="cp-1")
        cap.rest("/orders", trader.place(MARKET, "BUY", "0.02", client_id="conf-mkt"))
        # a stop order (UNTRIGGERED) and a batch
        cap.rest(
            "/orders",
            trader.place(
                MARKET,
                "SELL",
                "0.01",
                order_type="STOP_MARKET",
                trigger_price=px(bid * Decimal("0.9")),
                client_id="conf-stop",
            ),
        )
        batch = [
            order_body(
                trader.acct,
                MARKET,
                "BUY",
                "0.01",
                px(Decimal(rest_price) - (10 + i) * tick),
                client_id=f"b-{i}",
            )
            for i in range(3)
        ]
        b = cap.rest("/orders/batch", h.post("/orders/batch", json=batch)).json()
        ids = [x["id"] for x in b.get("orders", []) if isinstance(x, dict) and "id" in x]
        cap.rest(
            "/orders/batch",
            h.request("DELETE", "/orders/batch", json={"order_ids": ids[:2]}),
        )
        cap.rest("/orders/by_client_id/{client_id}", h.delete("/orders/by_client_id/b-2"))
        cap.rest("/orders", h.delete("/orders", params={"market": MARKET}))
        for route, params in [
            ("/fills", {}),
            ("/fills", {"market": MARKET, "page_size": 1}),
            ("/orders-history", {}),
            ("/orders-history", {"page_size": 2}),
            ("/trades", {"market": MARKET}),
        ]:
            cap.rest(route, h.get(route, params=params))
        for route in ("/account", "/balance", "/positions"):
            cap.rest(route, h.get(route))
        # account management and the extra reads
        for route in ("/account/profile", "/account/subaccounts"):
            cap.rest(route, h.get(route))
        sub = new_subkey(base, trader.acct.address, register=False).public_key
        skr = "/account/keys/subkeys/{public_key}"
        cap.rest(
            "/account/keys/subkeys",
            h.post("/account/keys/subkeys", json={"public_key": sub, "name": "conf"}),
        )
        cap.rest("/account/keys/subkeys", h.get("/account/keys/subkeys"))
        cap.rest(skr, h.get(f"/account/keys/subkeys/{sub}"))
        cap.rest(skr, h.put(f"/account/keys/subkeys/{sub}", json={"name": "conf 2"}))
        cap.rest(skr, h.delete(f"/account/keys/subkeys/{sub}"))
        cap.rest(skr, h.get(f"/account/keys/subkeys/{sub}"))
        # leverage and margin type
        cap.rest("/account/margin", h.get("/account/margin", params={"market": MARKET}))
        cap.rest(
            "/account/margin/{market}",
            h.post(f"/account/margin/{MARKET}", json={"leverage": 5, "margin_type": "CROSS"}),
        )
        # API tokens
        made = h.post(
            "/account/tokens",
            json={"name": "conf", "token_type": "api_key", "expiry_duration": 3600},
        )
        cap.rest("/account/tokens", made)
        cap.rest("/account/tokens", h.get("/account/tokens"))
        lookup = made.json()["api_token"]["lookup_id"]
        cap.rest("/account/tokens/{lookup_id}", h.delete(f"/account/tokens/{lookup}"))
        now = int(pub.get("/system/time").json()["server_time"])
        kl = {"symbol": MARKET, "resolution": "1", "start_at": now - 600_000, "end_at": now}
        cap.rest("/markets/klines", pub.get("/markets/klines", params=kl))
        cap.rest("/markets/klines", pub.get("/markets/klines", params={"symbol": MARKET}))
        cap.rest("/insurance", pub.get("/insurance"))
        cap.rest("/system/portfolio-margin-config", pub.get("/system/portfolio-margin-config"))
        # errors in Paradex's shape
        cap.rest("/orders/{order_id}", h.get("/orders/999"))
        cap.rest("/orders", trader.place(MARKET, "BUY", "0.00001", rest_price))
        cap.rest("/account", pub.get("/account"))
        cap.rest("/orders", h.request("PATCH", "/orders"))
        cap.rest("(unknown)", pub.get("/no-such-endpoint"))
        # close the position so a closed position (size 0) is emitted too
        other.place_ok(MARKET, "BUY", "0.02", px(bid * Decimal("0.999")), client_id="cp-2")
        cap.rest("/orders", trader.place(MARKET, "SELL", "0.02", client_id="conf-close"))
        cap.rest("/positions", h.get("/positions"))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(
            i["kind"] == "ws" and i["channel"].startswith("bbo.") for i in cap.items
        ):
            time.sleep(0.05)
        time.sleep(0.5)  # let the last notifications of the flow arrive before closing
        stop.set()
        reader.join(5)
        trader.close()
        other.close()
        pub.close()
    out.write_text(json.dumps(cap.items, indent=1))
    rest = sum(1 for i in cap.items if i["kind"] == "rest")
    print(f"conformance: captured {rest} REST bodies and {len(cap.items) - rest} WS payloads")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: conformance_capture.py OUT.json")
    sys.exit(run(Path(sys.argv[1])))

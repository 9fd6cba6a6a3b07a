"""A scripted, in-memory exchange behind ``respx.mock`` for CLI tests with hostile answers.

:class:`HostileExchange` answers every REST endpoint the CLI uses the way Paradex does (orders
placed by ``POST /orders`` and ``/orders/batch`` are kept, so lookups by client_id find them),
except the endpoints given a scripted answer with :meth:`HostileExchange.script`: those answer
with exactly the status and body given (after processing the request, or not, as asked).

``respx.mock`` patches httpx's transports, so no project seam is needed. Use it with
:func:`hostile_cli` (a context manager setting the environment for the in-process CLI)::

    with hostile_cli() as cli:
        cli.exchange.script("POST", "/orders/batch", 201, "{}")
        code, out, err = cli("order", "place", "--batch", path)
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from conftest import write_profile

BASE = "http://hostile.invalid/v1"  # plain http: no CA bundle to load per client
KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"
ADDRESS = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"
JWT = "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.x"
MARKET = {
    "symbol": "BTC-USD-PERP",
    "price_tick_size": "0.1",
    "order_size_increment": "0.001",
    "min_notional": "10",
    "max_order_size": "100",
}


@dataclass
class Scripted:
    """One scripted answer: ``status`` and the raw ``body`` text (``None``: no body)."""

    status: int
    body: str | None
    process: bool = True  # handle the request normally first (then answer with this)
    times: int | None = None  # answer this many times, then behave normally


@dataclass(repr=False)
class HostileExchange:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    scripts: list[tuple[str, re.Pattern[str], Scripted]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000

    def script(
        self,
        method: str,
        path: str,
        status: int,
        body: str | None,
        *,
        process: bool = True,
        times: int | None = None,
    ) -> None:
        """Answer ``method`` on ``path`` (a regex matched in full against the path after
        ``/v1``) with ``status`` and ``body``."""
        self.scripts.append((method, re.compile(path), Scripted(status, body, process, times)))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.calls if m == method and re.fullmatch(path, p))

    # -- the exchange ---------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        method = request.method
        path = request.url.path.removeprefix("/v1")
        self.calls.append((method, path))
        for m, pattern, sc in self.scripts:
            if m == method and pattern.fullmatch(path) and sc.times != 0:
                if sc.times is not None:
                    sc.times -= 1
                if sc.process:
                    self._normal(method, path, request)
                content = b"" if sc.body is None else sc.body.encode()
                return httpx.Response(
                    sc.status, content=content, headers={"content-type": "application/json"}
                )
        return self._normal(method, path, request)

    def _place(self, body: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        order = {
            **{k: v for k, v in body.items() if k not in ("signature", "signature_timestamp")},
            "id": str(self.next_id),
            "status": "NEW",
            "remaining_size": body.get("size"),
            "timestamp": body.get("signature_timestamp"),
            "created_at": body.get("signature_timestamp"),
            "cancel_reason": "",
        }
        self.orders[order["id"]] = order
        return order

    def _normal(self, method: str, path: str, request: httpx.Request) -> httpx.Response:
        def ok(body: Any, status: int = 200) -> httpx.Response:
            return httpx.Response(status, json=body)

        def not_found(code: str) -> httpx.Response:
            return httpx.Response(404, json={"error": code, "message": "not found"})

        if method == "POST" and path.startswith("/auth/"):
            return ok({"jwt_token": JWT})
        if method == "GET" and path == "/system/state":
            return ok({"status": "ok"})
        if method == "GET" and path == "/system/time":
            return ok({"server_time": str(int(time.time() * 1000))})
        if method == "GET" and path == "/account/margin":
            cfg = {"market": "BTC-USD-PERP", "leverage": 10, "margin_type": "CROSS"}
            return ok({"account": ADDRESS, "margin_methodology": "cross_margin", "configs": [cfg]})
        if method == "GET" and path == "/account/tokens":
            return ok({"results": []})
        if method == "GET" and path == "/markets":
            return ok({"results": [MARKET]})
        if method == "GET" and path == "/markets/summary":
            return ok({"results": [{"symbol": "BTC-USD-PERP", "mark_price": "90000"}]})
        if method == "GET" and path.startswith("/bbo/"):
            return ok({"market": path[5:], "bid": "89999.9", "ask": "90000.1"})
        if method == "GET" and path == "/account":
            return ok({"account": ADDRESS, "account_value": "100000"})
        if method == "GET" and path == "/balance":
            return ok({"results": [{"token": "USDC", "size": "100000"}]})
        if method == "GET" and path == "/positions":
            return ok({"results": []})
        if method == "GET" and path == "/fills":
            return ok({"results": [], "next": None})
        if method == "POST" and path == "/orders":
            return ok(self._place(json.loads(request.content)), 201)
        if method == "POST" and path == "/orders/batch":
            placed = [self._place(b) for b in json.loads(request.content)]
            return ok({"orders": placed, "errors": []}, 201)
        if method == "GET" and path == "/orders":
            opened = [o for o in self.orders.values() if o["status"] != "CLOSED"]
            return ok({"results": opened})
        if method == "DELETE" and path == "/orders":
            for o in self.orders.values():
                o["status"], o["cancel_reason"] = "CLOSED", "USER_CANCELED"
            return ok({})
        if method == "GET" and path == "/orders-history":
            cid = request.url.params.get("client_id")
            rows = [o for o in self.orders.values() if cid is None or o["client_id"] == cid]
            return ok({"results": rows, "next": None})
        if method == "GET" and path.startswith("/orders/by_client_id/"):
            cid = path.rsplit("/", 1)[1]
            hit = [o for o in self.orders.values() if o["client_id"] == cid]
            return ok(hit[-1]) if hit else not_found("CLIENT_ORDER_ID_NOT_FOUND")
        m = re.fullmatch(r"/orders/([^/]+)", path)
        if m:
            order = self.orders.get(m.group(1))
            if order is None:
                return not_found("ORDER_ID_NOT_FOUND")
            if method == "GET":
                return ok(order)
            if method == "DELETE":
                order["status"] = "CLOSED"
                return httpx.Response(204)
            if method == "PUT":
                order.update(json.loads(request.content))
                return ok(order)
        return not_found("NOT_FOUND")


@dataclass(repr=False)
class HostileCli:
    """Runs the in-process CLI against :attr:`exchange`; returns ``(code, stdout, stderr)``."""

    exchange: HostileExchange
    workdir: Path

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        import sys

        from paradexctl.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        old = sys.stdin
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            # the exchange as the CLI's httpx transport: without one, the sync REST client
            # sends over the standard library (paradexctl.paradex.wire), which respx cannot see
            transport = httpx.MockTransport(self.exchange.handle)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args), transport=transport)
        finally:
            sys.stdin = old
        return code, out.getvalue(), err.getvalue()

    def batch_file(self, n: int, *, prefix: str = "b") -> str:
        path = self.workdir / f"batch-{prefix}-{n}.ndjson"
        lines = [
            json.dumps(
                {
                    "market": "BTC-USD-PERP",
                    "side": "buy",
                    "size": "0.01",
                    "price": "90000",
                    "client_id": f"{prefix}{k}",
                }
            )
            for k in range(n)
        ]
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    def reset(self) -> None:
        """A fresh exchange and no cached metadata (each hostile answer reaches the CLI)."""
        self.exchange.orders.clear()
        self.exchange.scripts.clear()
        self.exchange.calls.clear()
        for f in (self.workdir / "cache").glob("paradexctl/*.json"):
            if not f.name.startswith("jwt-"):
                f.unlink()


ENV = {
    "PARADEX_ENV": "testnet",
    "PARADEX_API_URL": BASE,
    "PARADEX_L2_PRIVATE_KEY": KEY,
    "PARADEX_ACCOUNT_ADDRESS": ADDRESS,
}
#: the network tunables, a profile's settings (docs/configuration.md): few, instant retries
TUNABLES = {"retry_attempts": 2, "retry_base_ms": 0, "lookup_rounds": 2, "wait_ws": 0}
UNSET = ("PARADEXCTL_PROFILE", "PARADEX_SUBKEY", "PARADEX_KEY_COMMAND", "PARADEX_L2_KEY_FILE")


@contextlib.contextmanager
def hostile_cli(
    handler: Callable[[HostileExchange], None] | None = None,
) -> Iterator[HostileCli]:
    """The environment, a temporary config/cache home and a respx-mocked exchange."""
    exchange = HostileExchange()
    with (
        tempfile.TemporaryDirectory() as tmp,
        pytest.MonkeyPatch.context() as mp,
        respx.mock(assert_all_called=False) as router,
    ):
        work = Path(tmp)
        mp.setenv("XDG_CONFIG_HOME", str(work / "config"))
        mp.setenv("XDG_CACHE_HOME", str(work / "cache"))
        for k, v in ENV.items():
            mp.setenv(k, v)
        for k in UNSET:
            mp.delenv(k, raising=False)
        write_profile(work / "config", **TUNABLES)
        router.route().mock(side_effect=exchange.handle)
        if handler is not None:
            handler(exchange)
        yield HostileCli(exchange, work)

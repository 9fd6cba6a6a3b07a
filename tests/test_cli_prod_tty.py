"""The prod confirmation on a terminal: ``n`` sends nothing, ``y`` sends exactly the request,
and an order refused by the local checks is refused before the question is asked.

``--env prod`` with ``--api-url`` pointing at a stub HTTP server on 127.0.0.1 (prod is
recognised by the environment name, so the URL can be local; the sim cannot stand in because
prod orders are signed for the prod chain). The stub records every request it receives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import write_profile
from test_cli_tty import _env, run_in_pty

KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"
ADDRESS = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"
JWT = "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.x"  # exp: 2100
MARKET = {
    "symbol": "BTC-USD-PERP",
    "price_tick_size": "0.1",
    "order_size_increment": "0.001",
    "min_notional": "10",
    "max_order_size": "100",
}
OPEN_ORDER = {
    "id": "77",
    "client_id": "grid-1",
    "market": "BTC-USD-PERP",
    "side": "BUY",
    "type": "LIMIT",
    "size": "0.01",
    "remaining_size": "0.01",
    "price": "90000",
    "instruction": "GTC",
    "status": "OPEN",
}
PROMPT = "(real money)?"
WRITES = ("POST /v1/orders", "PUT /v1/orders", "DELETE /v1/orders")


class Stub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def calls(self) -> list[str]:
        """``METHOD /path`` of every request, in order (query strings dropped)."""
        with self.lock:
            return [f"{m} {p.split('?')[0]}" for m, p, _ in self.requests]

    def writes(self) -> list[tuple[str, Any]]:
        """The order-changing requests: POST/PUT/DELETE under /orders, with their bodies."""
        with self.lock:
            return [
                (f"{m} {p.split('?')[0]}", b)
                for m, p, b in self.requests
                if f"{m} {p}".startswith(WRITES)
            ]


class Handler(BaseHTTPRequestHandler):
    server: Stub

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        with self.server.lock:
            self.server.requests.append((self.command, self.path, body))
        path = self.path.split("?")[0]
        status, reply = 404, {"error": "NOT_FOUND", "message": f"no route {path}"}
        if self.command == "GET" and path == "/v1/markets":
            status, reply = 200, {"results": [MARKET]}
        elif self.command == "POST" and path.startswith("/v1/auth/"):
            status, reply = 200, {"jwt_token": JWT}
        elif self.command == "POST" and path == "/v1/orders":
            status, reply = 201, {**(body or {}), "id": "78", "status": "NEW"}
        elif self.command == "GET" and path == "/v1/orders/77":
            status, reply = 200, OPEN_ORDER
        elif self.command == "PUT" and path == "/v1/orders/77":
            status, reply = 200, {**OPEN_ORDER, **(body or {}), "status": "NEW"}
        elif self.command == "GET" and path == "/v1/orders":
            status, reply = 200, {"results": [OPEN_ORDER]}
        elif self.command == "DELETE" and path in ("/v1/orders/77", "/v1/orders"):
            status, reply = 200, {}
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _prod(tmp_path: Path) -> dict[str, str]:
    write_profile(tmp_path / "cfg", retry_attempts=1, lookup_rounds=1)
    return _env(
        tmp_path,
        PARADEX_L2_PRIVATE_KEY=KEY,
        PARADEX_ACCOUNT_ADDRESS=ADDRESS,
    )


COMMANDS = {
    "place": (
        ["order", "place", "BTC-USD-PERP", "buy", "0.01", "--price", "90000.5"],
        [("POST /v1/orders", "price", "90000.5")],
    ),
    "modify": (
        ["order", "modify", "77", "--price", "89999.9"],
        [("PUT /v1/orders/77", "price", "89999.9")],
    ),
    "cancel": (["order", "cancel", "77"], [("DELETE /v1/orders/77", None, None)]),
    "cancel-all": (
        ["order", "cancel-all", "--market", "BTC-USD-PERP"],
        [("DELETE /v1/orders", None, None)],
    ),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_prod_answering_no_sends_nothing(stub: Stub, tmp_path: Path, name: str) -> None:
    argv, _expected = COMMANDS[name]
    code, out = run_in_pty(
        ["--env", "prod", "--api-url", stub.url, *argv], _prod(tmp_path), answers=[(PROMPT, "n")]
    )
    assert code == 2, out
    assert b"not confirmed; nothing was sent" in out
    assert stub.writes() == []
    # nothing was signed for the exchange: at most the reads that validate the order
    assert all(c.startswith("GET ") or c.startswith("POST /v1/auth/") for c in stub.calls())
    if name in ("cancel", "cancel-all"):  # nothing to validate: asked before any request
        assert stub.calls() == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_prod_answering_yes_sends_exactly_the_request(
    stub: Stub, tmp_path: Path, name: str
) -> None:
    argv, expected = COMMANDS[name]
    code, out = run_in_pty(
        ["--env", "prod", "--api-url", stub.url, *argv], _prod(tmp_path), answers=[(PROMPT, "y")]
    )
    assert code == 0, out
    writes = stub.writes()
    assert [w for w, _ in writes] == [e for e, _, _ in expected], stub.calls()
    for (_, body), (_, field, value) in zip(writes, expected, strict=True):
        if field is not None:
            assert body[field] == value, body


def test_prod_place_prompt_names_the_validated_order(stub: Stub, tmp_path: Path) -> None:
    """The question shows the order as it will be sent (market symbol normalised)."""
    code, out = run_in_pty(
        ["--env", "prod", "--api-url", stub.url, "order", "place", "btc-usd-perp", "sell",
         "0.02", "--price", "91000", "--client-id", "mine-1"],
        _prod(tmp_path),
        answers=[(PROMPT, "n")],
    )  # fmt: skip
    assert code == 2, out
    assert b"place SELL 0.02 BTC-USD-PERP LIMIT @ 91000 GTC (client_id mine-1) on prod" in out
    assert stub.writes() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["order", "place", "BTC-USD-PERP", "buy", "0.01", "--price", "90000.05"], b"tick"),
        (["order", "place", "BTC-USD-PERP", "buy", "0.0105", "--price", "90000"], b"increment"),
        (["order", "place", "BTC-USD-PERP", "buy", "0.001", "--price", "9000"], b"notional"),
        (
            ["order", "place", "BTC-USD-PERP", "buy", "101", "--price", "90000"],
            b"maximum order size",
        ),
        (["order", "place", "ETH-USD-PERP", "buy", "0.01", "--price", "90000"], b"ETH-USD-PERP"),
        (["order", "modify", "77", "--price", "89999.95"], b"tick"),
    ],
    ids=["tick", "increment", "notional", "max-size", "unknown-market", "modify-tick"],
)
def test_prod_invalid_order_is_refused_before_the_question(
    stub: Stub, tmp_path: Path, argv: list[str], message: bytes
) -> None:
    code, out = run_in_pty(["--env", "prod", "--api-url", stub.url, *argv], _prod(tmp_path))
    assert code == 2, out
    assert message in out, out
    assert b"real money" not in out and b"[y/N]" not in out, out
    assert stub.writes() == []


def test_prod_invalid_batch_line_is_refused_before_the_question(stub: Stub, tmp_path: Path) -> None:
    batch = tmp_path / "orders.ndjson"
    batch.write_text(
        '{"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "90000"}\n'
        '{"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "90000.05"}\n'
    )
    code, out = run_in_pty(
        ["--env", "prod", "--api-url", stub.url, "order", "place", "--batch", str(batch)],
        _prod(tmp_path),
    )
    assert code == 2, out
    assert f"{batch}:2:".encode() in out and b"tick" in out, out
    assert b"real money" not in out, out
    assert stub.writes() == []


def test_prod_valid_batch_is_asked_after_validation(stub: Stub, tmp_path: Path) -> None:
    batch = tmp_path / "orders.ndjson"
    batch.write_text(
        '{"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "90000"}\n'
        '{"market": "BTC-USD-PERP", "side": "sell", "size": "0.01", "price": "99000"}\n'
    )
    code, out = run_in_pty(
        ["--env", "prod", "--api-url", stub.url, "order", "place", "--batch", str(batch)],
        _prod(tmp_path),
        answers=[(f"place 2 orders from {batch} on prod {PROMPT}", "n")],
    )
    assert code == 2, out
    assert stub.writes() == []

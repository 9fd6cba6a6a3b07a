"""Hostile clients get bounded refusals in Paradex's error shape and cannot starve others:
body size (413), JSON nesting (400), header timeout (408), connection cap, one log line per
interval; the admin API refuses non-loopback Hosts and browser origins; order fields have
Paradex's types."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from paradexctl.sim.app import SimOptions, create_app
from paradexctl.sim.limits import JsonTooDeep, Limits, RefusalLog, decode_json, json_depth
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import Trader, order_body

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"
DEEP = b"[" * 1000 + b"]" * 1000


@pytest.fixture
def trader(sim: SimServer) -> Iterator[Trader]:
    t = Trader(sim.http_url)
    yield t
    t.close()


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except ConnectionResetError:  # closed with bytes of ours unread: what came is all
            pass
        return out


def closed_by_server(s: socket.socket) -> bool:
    """The server closed ``s`` (an orderly close, or a reset: it left our bytes unread)."""
    s.settimeout(10)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


def body_of(response: bytes) -> dict[str, object]:
    return json.loads(response.partition(b"\r\n\r\n")[2])  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- JSON depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b'{"a": [1, 2, {"b": []}]}', 0),  # few brackets: not scanned
        (b"[" * 40 + b"]" * 40, 33),  # counted up to limit + 1
        (b'["' + b"[" * 100 + b'"]', 1),  # brackets inside a string do not count
        (b'["\\"' + b"[" * 100 + b'"]', 1),  # nor after an escaped quote
        (b'["\\\\"' + b"[" * 40, 33),  # an escaped backslash ends the string
        (b'"' + b"[" * 100, 0),  # an unterminated string runs to the end
        (b"[" + b"[]," * 40 + b"[]]", 2),  # wide, not deep
    ],
)
def test_json_depth(text: bytes, depth: int) -> None:
    assert json_depth(text, 32) == depth


def test_decode_json_refuses_deep_nesting_as_a_value_error() -> None:
    with pytest.raises(JsonTooDeep):
        decode_json(DEEP, 32)
    with pytest.raises(JsonTooDeep):
        decode_json(b'{"a":' * 5000 + b"1" + b"}" * 5000, 32)
    assert decode_json(b"[" * 32 + b"]" * 32, 32) == decode_json(b"[" * 32 + b"]" * 32, 100)


def test_deep_json_is_a_400_on_rest_and_admin_and_a_reply_on_ws(sim: SimServer) -> None:
    for url in (sim.http_url + "/onboarding", sim.base_url + "/_sim/faults"):
        r = httpx.post(url, content=DEEP, headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "BINDING_ERROR" and "nested deeper" in r.json()["message"]

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            await ws.send(DEEP.decode())
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["error"]["code"] == -32600 and "nested" in reply["error"]["data"]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "nope"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["id"] == 2  # the connection is still open

    asyncio.run(go())


def test_deep_json_in_a_cursor_or_jwt_is_a_clean_refusal(trader: Trader) -> None:
    import base64

    deep = base64.urlsafe_b64encode(b'{"o":' * 3000 + b"0" + b"}" * 3000).decode()
    r = trader.http.get("/fills", params={"cursor": deep})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST_PARAMETER"
    r = trader.http.get("/account", headers={"Authorization": f"Bearer {deep}.{deep}.x"})
    assert r.status_code == 401, r.text


def test_ws_message_over_the_limit_closes_with_1009(guarded: SimServer) -> None:
    async def go() -> None:
        async with websockets.connect(guarded.ws_url, max_size=None) as ws:
            await ws.send("x" * (guarded.sim.options.limits.max_ws_message_bytes + 1))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    asyncio.run(go())


# ----------------------------------------------------------------------------- body size


def test_content_length_over_the_limit_is_413_at_once(sim: SimServer) -> None:
    head = (
        f"POST /v1/onboarding HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        f"\r\nContent-Length: {200 << 20}\r\n\r\n"
    ).encode()
    resp = raw_request(sim.port, head + b"{" * 1000)  # the rest of the 200 MB never comes
    assert resp.startswith(b"HTTP/1.1 413"), resp[:200]
    assert body_of(resp)["error"] == "BINDING_ERROR"


def test_chunked_body_is_stopped_at_the_limit(sim: SimServer) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"rest_5xx": 0'
        for _ in range(400):  # up to 25 MB of whitespace, never all read
            sent += 1
            yield b" " * 65536
        yield b"}"

    try:
        r = httpx.post(sim.base_url + "/_sim/faults", content=chunks(), timeout=10)
    except httpx.HTTPError:  # the server may close before the client finished sending
        pytest.fail("expected a 413 response")
    assert r.status_code == 413 and r.json()["error"] == "BINDING_ERROR"
    assert sent < 400
    limit = Limits().max_body_bytes
    assert str(limit) in r.json()["message"]


# ----------------------------------------------------------------------------- connections


@pytest.fixture
def guarded() -> Iterator[SimServer]:
    limits = Limits(header_timeout_s=0.5, body_timeout_s=0.5, max_connections=16)
    with SimServer(SimOptions(mark_walk_ms=0, warm_tables=None, limits=limits)) as server:
        yield server


def test_half_open_request_is_closed_by_the_header_timeout(guarded: SimServer) -> None:
    started = time.monotonic()
    resp = raw_request(guarded.port, b"GET /v1/system/time HTT")  # and then nothing
    assert resp.startswith(b"HTTP/1.1 408"), resp
    assert body_of(resp)["error"] == "BINDING_ERROR"
    assert time.monotonic() - started < 8
    assert raw_request(guarded.port, b"") == b""  # nothing sent: closed without a word


def test_slow_body_is_a_408(guarded: SimServer) -> None:
    head = b"POST /_sim/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
    resp = raw_request(guarded.port, head)
    assert resp.startswith(b"HTTP/1.1 408"), resp
    assert "not received within" in str(body_of(resp)["message"])


def test_malformed_request_is_a_400_in_paradex_shape(guarded: SimServer) -> None:
    resp = raw_request(guarded.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 400"), resp
    assert body_of(resp)["error"] == "BINDING_ERROR"


@pytest.fixture
def capped() -> Iterator[SimServer]:
    """16 connections at most; the header timeout stays long (5 s) so only the cap acts."""
    with SimServer(
        SimOptions(mark_walk_ms=0, warm_tables=None, limits=Limits(max_connections=16))
    ) as server:
        yield server


def test_half_open_sockets_beyond_the_cap_do_not_starve_a_healthy_client(
    capped: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    socks = []
    try:
        with caplog.at_level(logging.WARNING, logger="paradexctl.sim"):
            for _ in range(40):  # more than max_connections=16
                s = socket.create_connection(("127.0.0.1", capped.port), timeout=10)
                socks.append(s)
                with contextlib.suppress(OSError):  # it may be refused (503) at once
                    s.sendall(b"GET /v1/system/time HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # stalls
            with httpx.Client(base_url=capped.http_url, timeout=10) as healthy:
                for _ in range(5):
                    assert healthy.get("/system/time").status_code == 200
            # the oldest half-open sockets were closed to make room
            assert closed_by_server(socks[0])
        # a burst of refusals is one summary line, not one per socket
        lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert 1 <= len(lines) <= 2, lines
        assert "connection limit" in lines[0]
    finally:
        for s in socks:
            s.close()


def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503(capped: SimServer) -> None:
    async def go() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(16):  # WebSockets are never closed to make room
                await stack.enter_async_context(websockets.connect(capped.ws_url))
            resp = await asyncio.to_thread(
                raw_request, capped.port, b"GET /v1/system/time HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            assert resp.startswith(b"HTTP/1.1 503"), resp
            assert body_of(resp)["error"] == "SERVICE_UNAVAILABLE"

    asyncio.run(go())


def test_refusal_log_is_one_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RefusalLog(logging.getLogger("paradexctl.sim"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="paradexctl.sim"):
        for _ in range(1000):
            log.note("header timeout")
        log.tick()
        assert len(caplog.records) == 1  # the first refusal at once
        now[0] = 10.5
        log.tick()
    assert len(caplog.records) == 2
    assert caplog.records[1].getMessage() == (
        "refused client requests in the last 10 s: header timeout 999"
    )


# ----------------------------------------------------------------------------- admin API


def test_admin_refuses_a_foreign_host(sim: SimServer) -> None:
    for host in ("evil.example.com", "evil.example.com:8787", "10.0.0.1"):
        r = httpx.post(sim.base_url + "/_sim/faults", json={"rest_5xx": 5}, headers={"Host": host})
        assert r.status_code == 403 and r.json()["error"] == "REQUEST_NOT_ALLOWED", host
    assert sim.admin.faults()["rest_5xx"] == 0
    for host in ("localhost", f"localhost:{sim.port}", f"127.0.0.1:{sim.port}", "[::1]:1"):
        r = httpx.get(sim.base_url + "/_sim/faults", headers={"Host": host})
        assert r.status_code == 200, host


def test_admin_refuses_browser_requests(sim: SimServer) -> None:
    url = sim.base_url + "/_sim/faults"
    csrf = httpx.post(
        url,
        content='{"rest_5xx": 5}',
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example.com"},
    )
    assert csrf.status_code == 403 and "browser" in csrf.json()["message"]
    same_site = httpx.post(url, json={"rest_5xx": 5}, headers={"Sec-Fetch-Site": "cross-site"})
    assert same_site.status_code == 403
    assert sim.admin.faults()["rest_5xx"] == 0
    typed = httpx.get(sim.base_url + "/_sim/state", headers={"Sec-Fetch-Site": "none"})
    assert typed.status_code == 200  # an address typed into the browser


def test_admin_accepts_an_origin_allowed_at_start() -> None:
    app = create_app(
        SimOptions(mark_walk_ms=0, warm_tables=None, admin_origins=("http://localhost:3000",))
    )

    async def go() -> None:
        t = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=t, base_url="http://localhost:8787") as c:
            ok = await c.post(
                "/_sim/faults", json={"rest_5xx": 1}, headers={"Origin": "http://localhost:3000"}
            )
            assert ok.status_code == 200, ok.text
            bad = await c.post(
                "/_sim/faults", json={"rest_5xx": 1}, headers={"Origin": "http://localhost:3001"}
            )
            assert bad.status_code == 403

    asyncio.run(go())


def test_time_advance_is_bounded(sim: SimServer) -> None:
    url = sim.base_url + "/_sim/time/advance"
    for ms in (10**20, 8 * 86_400_000, -1):
        r = httpx.post(url, json={"ms": ms})
        assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR", ms
    assert sim.admin.state()["clock_offset_ms"] == 0
    assert httpx.post(url, json={"ms": 7 * 86_400_000}).status_code == 200
    assert httpx.post(url, json={"ms": 1}).status_code == 400  # no room left
    assert httpx.get(sim.http_url + "/system/time").status_code == 200


# ----------------------------------------------------------------------------- order fields


def test_numeric_size_is_refused_like_paradex(trader: Trader) -> None:
    for key, value in (("size", 0.01), ("price", 96000), ("size", 1)):
        body = order_body(trader.acct, BTC, "BUY", "0.01", "96000")
        body[key] = value
        r = trader.http.post("/orders", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "VALIDATION_ERROR" and key in r.json()["message"]


@pytest.mark.parametrize("client_id", ["a\nb", "tab\there", "nul\x00", "del\x7f", "c1\x85"])
def test_client_id_with_control_characters_is_refused(trader: Trader, client_id: str) -> None:
    body = order_body(trader.acct, BTC, "BUY", "0.01", "96000", client_id=client_id)
    r = trader.http.post("/orders", json=body)
    assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR", r.text
    assert "control characters" in r.json()["message"]
    ok = order_body(trader.acct, BTC, "BUY", "0.01", "96000", client_id="bot-1 ümlaut")
    assert trader.http.post("/orders", json=ok).status_code == 201


def test_repeated_flags_are_refused(trader: Trader) -> None:
    for flags in (["REDUCE_ONLY"] * 10_000, ["REDUCE_ONLY", "reduce_only"]):
        body = order_body(trader.acct, BTC, "BUY", "0.01", "96000")
        body["flags"] = flags
        r = trader.http.post("/orders", json=body)
        assert r.status_code == 400 and r.json()["error"] == "VALIDATION_ERROR", r.text
        assert "repeat" in r.json()["message"]


def test_ws_order_create_refuses_a_numeric_size(sim: SimServer, trader: Trader) -> None:
    body = order_body(trader.acct, BTC, "BUY", "0.01", "96000")
    body["size"] = 0.01

    async def go() -> None:
        async with websockets.connect(sim.ws_url) as ws:
            await ws.send(json.dumps({"id": 1, "method": "auth", "params": {"bearer": trader.jwt}}))
            assert "result" in json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(json.dumps({"id": 2, "method": "order.create", "params": body}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["error"]["code"] == 100 and reply["error"]["data"] == "VALIDATION_ERROR"

    asyncio.run(go())


def test_a_connection_accepted_from_create_server_gets_tcp_nodelay() -> None:
    """``paradexctl sim`` binds with ``socket.create_server`` (protocol 0), so asyncio does not
    set TCP_NODELAY on its connections; without it every keep-alive request after the first
    waited ~40 ms (Nagle's algorithm against the client's delayed ACK)."""
    import socket

    from paradexctl.sim.server import _no_delay

    srv = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(srv.getsockname()[:2])
    conn, _ = srv.accept()
    try:
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # as accepted

        class Transport:
            def get_extra_info(self, name: str) -> object:
                return conn if name == "socket" else None

        _no_delay(Transport())  # type: ignore[arg-type]
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        for s in (conn, client, srv):
            s.close()

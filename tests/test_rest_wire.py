"""The sync REST client's default transport (``paradexctl.paradex.wire``, HTTP/1.1 on the
standard library) against a scripted HTTP server on loopback: the same decisions as the httpx
transport for the same answers (one set of retry rules, ``rest._Tries``), never a second POST
after one may have been processed, redacted traces, and httpx not even imported."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from paradexctl.errors import ExchangeRejected, ExchangeUnavailable, UnexpectedAnswer
from paradexctl.paradex import wire
from paradexctl.paradex.rest import (
    OutcomeUncertain,
    RefusedAfterSend,
    RestClient,
    RetryPolicy,
)

ROOT = Path(__file__).resolve().parents[1]
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

#: A scripted answer: (status, body), or DROP (read the request, close without answering).
DROP = "drop"


class Script:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def next(self) -> Any:
        with self.lock:
            return self.answers.pop(0) if self.answers else (200, b"{}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exchange
    script: Script

    def log_message(self, *args: Any) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.script.seen.append((self.command, self.path, dict(self.headers), body))
        answer = self.script.next()
        if answer == DROP:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, content = answer[:2]
        extra = answer[2] if len(answer) > 2 else {}
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = _any


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script([])
    handler = type("H", (_Handler,), {"script": script})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1", script
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(10)


class _Auth:
    def __init__(self) -> None:
        self.n = 0

    def authorization(self, client: Any) -> str:
        return f"Bearer {JWT}{self.n}"

    def invalidate(self) -> None:
        self.n += 1


def _policy() -> RetryPolicy:
    return RetryPolicy(attempts=3, sleep=lambda s: None, rng=lambda: 0.0)


def _client(base: str, **kw: Any) -> RestClient:
    c = RestClient(base, auth=_Auth(), retry=_policy(), **kw)
    assert isinstance(c._wire(), wire.StdlibWire)
    return c


OK = (200, b'{"results": []}')
SCRIPTS: list[tuple[str, list[Any], Any]] = [
    ("ok", [OK], {"results": []}),
    ("5xx then ok", [(503, b"{}"), (502, b"{}"), OK], {"results": []}),
    ("429 then ok", [(429, b"{}", {"Retry-After": "0"}), OK], {"results": []}),
    ("dropped then ok", [DROP, OK], {"results": []}),
    ("401 once then ok", [(401, b'{"error":"INVALID_TOKEN"}'), OK], {"results": []}),
    ("401 twice", [(401, b"{}"), (401, b"{}")], ExchangeRejected),
    ("always 5xx", [(500, b"{}")] * 3, ExchangeUnavailable),
    ("not JSON", [(200, b"<html>")], UnexpectedAnswer),
    ("4xx", [(400, b'{"error":"VALIDATION_ERROR","message":"no"}')], ExchangeRejected),
    ("empty", [(204, b"")], None),
]


def _httpx_answer(answer: Any) -> httpx.Response:
    if answer == DROP:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    status, content = answer[:2]
    return httpx.Response(status, content=content, headers=answer[2] if len(answer) > 2 else {})


@pytest.mark.parametrize(
    ("answers", "expected"), [(s, e) for _, s, e in SCRIPTS], ids=[n for n, _, _ in SCRIPTS]
)
def test_stdlib_and_httpx_transports_decide_the_same(
    server: tuple[str, Script], answers: list[Any], expected: Any
) -> None:
    base, script = server
    script.answers[:] = answers
    c = _client(base)
    try:
        got: Any = c.get("/orders", {"market": "BTC-USD-PERP", "open": True}, private=True)
    except Exception as err:
        got = type(err)
    finally:
        c.close()
    tokens = [h.get("Authorization", "") for _, _, h, _ in script.seen]
    assert all(path == "/v1/orders?market=BTC-USD-PERP&open=true" for _, path, _, _ in script.seen)

    pending = list(answers)
    seen_httpx: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen_httpx.append(request.headers.get("authorization", ""))
        return _httpx_answer(pending.pop(0))

    h = RestClient(base, auth=_Auth(), retry=_policy(), transport=httpx.MockTransport(handle))
    try:
        want: Any = h.get("/orders", private=True)
    except Exception as err:
        want = type(err)
    finally:
        h.close()
    if isinstance(expected, type):
        assert isinstance(got, type) and issubclass(got, expected)
    else:
        assert got == expected
    assert got == want
    assert tokens == seen_httpx  # the same tries, with the same (fresh) tokens


@pytest.mark.parametrize(
    ("answer", "error"),
    [(DROP, OutcomeUncertain), ((503, b"{}"), OutcomeUncertain), ((401, b"{}"), RefusedAfterSend)],
    ids=["dropped", "5xx", "401"],
)
def test_a_post_that_may_have_been_processed_is_never_sent_twice(
    server: tuple[str, Script], answer: Any, error: type[Exception]
) -> None:
    base, script = server
    script.answers[:] = [answer, OK, OK]
    c = _client(base)
    with pytest.raises(error):
        c.post("/orders", {"market": "BTC-USD-PERP"})
    c.close()
    assert [m for m, *_ in script.seen] == ["POST"]


def test_a_refused_connection_is_retried_even_for_a_post() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = _client(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ExchangeUnavailable) as info:
        c.post("/orders", {"market": "BTC-USD-PERP"})
    assert not isinstance(info.value, OutcomeUncertain)  # provably never sent: safe to retry
    assert "after 3 attempts" in str(info.value) and "ConnectError" in str(info.value)


def test_a_connection_closed_while_idle_is_reopened_before_sending(
    server: tuple[str, Script],
) -> None:
    base, script = server
    c = _client(base)
    assert c.get("/system/config") == {}
    [(_, conn)] = c._wire()._idle
    conn.sock.shutdown(socket.SHUT_RDWR)  # stands for the server's idle timeout
    # ... readable-at-EOF on the client side, exactly what a server's close looks like
    assert c.post("/orders", {"market": "BTC-USD-PERP"}) == {}
    assert [m for m, *_ in script.seen] == ["GET", "POST"]
    [(_, again)] = c._wire()._idle
    assert again is not conn
    c.close()


def test_threads_never_share_a_connection(server: tuple[str, Script]) -> None:
    """Two requests in flight at once (a login from the live feed's thread during a
    placement) each get their own connection and their own answer."""
    base, script = server
    c = _client(base)
    wire_ = c._wire()
    first = wire_._checkout(("http", "127.0.0.1", int(base.split(":")[2].split("/")[0])))
    # while ``first`` is checked out (a request in flight), another request opens its own
    script.answers[:] = [(200, b'{"n": 1}')]
    assert c.get("/system/config") == {"n": 1}
    [(_, second)] = wire_._idle
    assert second is not first
    first.close()
    results: list[Any] = []

    def worker(n: int) -> None:
        results.append(c.get("/markets", {"market": f"M{n}"}))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [{}] * 4
    assert sorted(p for _, p, _, _ in script.seen[1:]) == [
        f"/v1/markets?market=M{n}" for n in range(4)
    ]
    c.close()
    assert wire_._idle == []


def test_trace_is_redacted(server: tuple[str, Script]) -> None:
    base, script = server
    body = json.dumps({"jwt_token": JWT, "signature": ["1", "2"], "ok": 1}).encode()
    script.answers[:] = [(200, body)]
    lines: list[str] = []
    c = _client(base, trace=lines.append)
    assert c.post("/auth", {"signature": "0xsecret", "market": "BTC-USD-PERP"})["ok"] == 1
    c.close()
    text = "\n".join(lines)
    assert script.seen[0][2]["Authorization"].startswith("Bearer eyJ")  # really sent
    assert JWT not in text and "0xsecret" not in text and '"2"' not in text
    assert "Authorization: Bearer ***" in text and "BTC-USD-PERP" in text
    assert text.splitlines()[0] == f"> POST {base}/auth"


def test_environment_chooses_httpx_only_for_a_proxy() -> None:
    assert not wire.environment_needs_httpx("http://127.0.0.1:1/v1", {})
    assert not wire.environment_needs_httpx("http://x/v1", {"HTTPS_PROXY": "http://p:1"})
    assert wire.environment_needs_httpx("https://x/v1", {"HTTPS_PROXY": "http://p:1"})
    assert wire.environment_needs_httpx("http://x/v1", {"http_proxy": "http://p:1"})
    assert wire.environment_needs_httpx("https://x/v1", {"ALL_PROXY": "socks5://p:1"})
    assert not wire.environment_needs_httpx("https://x/v1", {"SSL_CERT_FILE": "/x"})
    c = RestClient("http://127.0.0.1:1/v1", transport=httpx.MockTransport(lambda r: None))
    assert not isinstance(c._wire(), wire.StdlibWire)  # an injected transport is httpx's


def test_one_shot_request_imports_neither_httpx_nor_a_tls_context(
    server: tuple[str, Script],
) -> None:
    base, script = server
    code = (
        "import sys\n"
        "from paradexctl.paradex.rest import RestClient\n"
        f"c = RestClient({base!r})\n"
        "print(c.get('/system/config'))\n"
        "print(sorted(m for m in ('httpx', 'httpcore', 'h11') if m in sys.modules))\n"
        "print(c._wire()._tls)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["{}", "[]", "None"]
    assert [p for _, p, _, _ in script.seen] == ["/v1/system/config"]

"""The WebSocket client: the sans-I/O protocol frame by frame, the reconnect policy, and the
asyncio client against a scripted ``websockets`` server on a loopback port (port 0)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from live_pump import delays_from
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from paradexctl.paradex import ws as wsmod
from paradexctl.paradex.ws import (
    AuthRejected,
    Closed,
    Connected,
    Disconnected,
    Invalid,
    Notification,
    Reconnecting,
    Reply,
    RpcError,
    RpcProtocol,
    Stale,
    Subscribed,
    SubscribeRejected,
    Unknown,
    WsClient,
    backoff,
    process_exception,
)

#: the one time unit for test timeouts (seconds per "ms"); raise it on a slow machine
MS = float(os.environ.get("PARADEXCTL_TEST_MS", "0.001"))


# --- the sans-I/O protocol --------------------------------------------------------------------


def test_request_frames_carry_fresh_ids_and_are_remembered() -> None:
    p = RpcProtocol()
    id1, f1 = p.request("auth", {"bearer": "x.y.z"})
    id2, f2 = p.request("subscribe", {"channel": "orders.ALL"})
    assert id1 != id2
    assert json.loads(f1) == {
        "jsonrpc": "2.0", "method": "auth", "params": {"bearer": "x.y.z"}, "id": id1,
    }  # fmt: skip
    assert json.loads(f2)["params"] == {"channel": "orders.ALL"}
    assert p.pending == {id1: "auth", id2: "subscribe"}


def test_reply_is_matched_to_its_request() -> None:
    p = RpcProtocol()
    rid, _ = p.request("subscribe", {"channel": "fills.ALL"})
    ev = p.receive(
        json.dumps({"jsonrpc": "2.0", "result": {"channel": "fills.ALL"}, "usIn": 1, "id": rid}), 5
    )
    assert ev == Reply(rid, "subscribe", {"channel": "fills.ALL"})
    assert p.pending == {}
    assert p.counters()["replies"] == 1


def test_error_reply_names_the_method_and_code() -> None:
    p = RpcProtocol()
    rid, _ = p.request("auth", {"bearer": "bad"})
    ev = p.receive(
        json.dumps({"jsonrpc": "2.0", "error": {"code": 40111, "message": "Invalid Bearer Token",
                                                "data": "expired"}, "id": rid}), 1,
    )  # fmt: skip
    assert ev == RpcError(rid, "auth", 40111, "Invalid Bearer Token", "expired")


def test_notification_keeps_channel_data_and_received_at() -> None:
    p = RpcProtocol()
    text = json.dumps(
        {"jsonrpc": "2.0", "method": "subscription",
         "params": {"channel": "orders.ALL", "data": {"id": "1", "size": "0.10"}}}
    )  # fmt: skip
    ev = p.receive(text, 1234)
    assert ev == Notification("orders.ALL", {"id": "1", "size": "0.10"}, 1234)


def test_json_numbers_with_fractions_become_decimals_never_floats() -> None:
    p = RpcProtocol()
    ev = p.receive(
        '{"method":"subscription","params":{"channel":"account","data":{"x":0.1,"n":3}}}', 0
    )
    assert isinstance(ev, Notification)
    assert ev.data == {"x": Decimal("0.1"), "n": 3}
    assert type(ev.data["x"]) is Decimal


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param("not json {", "not JSON", id="garbage"),
        pytest.param("[1,2]", "not a JSON object", id="array"),
        pytest.param(b"\xff\xfe", "not JSON", id="bad-utf8"),
        pytest.param('{"method":"subscription","params":{"data":{}}}', "subscription", id="no-ch"),
        pytest.param('{"method":"subscription","params":[]}', "subscription", id="bad-params"),
    ],
)
def test_invalid_frames_are_counted_not_raised(frame: Any, reason: str) -> None:
    p = RpcProtocol()
    ev = p.receive(frame, 0)
    assert isinstance(ev, Invalid)
    assert reason in ev.reason
    assert p.counters()["invalid"] == 1


def test_unknown_frames_are_counted() -> None:
    p = RpcProtocol()
    assert isinstance(p.receive('{"method":"heartbeat"}', 0), Unknown)
    assert isinstance(p.receive('{"jsonrpc":"2.0","result":{},"id":99}', 0), Unknown)  # not ours
    assert p.counters()["unknown"] == 2


def test_invalid_excerpt_has_no_control_characters() -> None:
    ev = RpcProtocol().receive("\x1b[31mboom\x07", 0)
    assert isinstance(ev, Invalid)
    assert "\x1b" not in ev.excerpt and "\x07" not in ev.excerpt


# --- the policy -------------------------------------------------------------------------------


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    gen = backoff(base=1.0, cap=8.0, factor=2.0, rng=lambda: 1.0)
    assert [next(gen) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    gen = backoff(base=1.0, cap=8.0, rng=lambda: 0.5)
    assert [next(gen) for _ in range(3)] == [0.5, 1.0, 2.0]
    gen = backoff(base=1.0, cap=8.0, rng=lambda: 0.0)
    assert next(gen) == 0.0


def _invalid_status(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "x", Headers()))


@pytest.mark.parametrize(
    ("exc", "fatal"),
    [
        pytest.param(OSError("refused"), False, id="oserror"),
        pytest.param(TimeoutError(), False, id="timeout"),
        pytest.param(_invalid_status(503), False, id="http-503"),
        pytest.param(_invalid_status(429), False, id="http-429"),
        pytest.param(_invalid_status(400), True, id="http-400"),
        pytest.param(_invalid_status(403), True, id="http-403"),
        pytest.param(AuthRejected("auth", 40111, "Invalid Bearer Token"), False, id="auth-40111"),
        pytest.param(AuthRejected("auth", 40112, "geo"), True, id="auth-geo"),
        pytest.param(SubscribeRejected("subscribe", -32600, "invalid"), True, id="bad-channel"),
        pytest.param(wsmod.StaleConnection("quiet"), False, id="stale"),
        pytest.param(ValueError("a bug"), True, id="bug"),
    ],
)
def test_default_policy_retries_transient_errors_only(exc: BaseException, fatal: bool) -> None:
    assert (process_exception(exc) is exc) is fatal


# --- a scripted server ------------------------------------------------------------------------

Behaviour = Callable[[ServerConnection, "Script"], Awaitable[None]]


class Script:
    """A port-0 server running one behaviour per connection, in order (the last repeats)."""

    def __init__(self, *behaviours: Behaviour, refuse: int = 0) -> None:
        self.behaviours = list(behaviours)
        self.refuse = refuse  # answer the first N upgrades with HTTP 503
        self.connections = 0
        self.attempts = 0
        self.frames: list[list[dict[str, Any]]] = []
        self.tokens: list[str] = []
        self.silent: list[ServerConnection] = []
        self.server: Any = None

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1"

    def _process_request(self, conn: ServerConnection, request: Any) -> Response | None:
        self.attempts += 1
        if self.attempts <= self.refuse:
            return conn.respond(503, "refused\n")
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        idx = self.connections
        self.connections += 1
        self.frames.append([])
        behaviour = self.behaviours[min(idx, len(self.behaviours) - 1)]
        await behaviour(conn, self)

    async def __aenter__(self) -> Script:
        self.server = await serve(
            self._handler, "127.0.0.1", 0, process_request=self._process_request
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self.silent:
            conn.transport.abort()  # paused connections never notice the client left
        self.server.close()
        await self.server.wait_closed()

    async def handshake(self, conn: ServerConnection, *, auth_error: Any = None) -> None:
        """Answer auth and every subscribe until all were answered (auth first)."""
        idx = self.connections - 1
        while True:
            msg = json.loads(await conn.recv())
            self.frames[idx].append(msg)
            if msg["method"] == "auth":
                self.tokens.append(msg["params"]["bearer"])
                if auth_error is not None:
                    await conn.send(json.dumps({"jsonrpc": "2.0", "error": auth_error,
                                                "id": msg["id"]}))  # fmt: skip
                    return
                await conn.send(json.dumps({"jsonrpc": "2.0", "result": {"node_id": "n1"},
                                            "id": msg["id"]}))  # fmt: skip
                continue
            await conn.send(json.dumps({"jsonrpc": "2.0", "result": {"channel": msg["params"][
                "channel"]}, "id": msg["id"]}))  # fmt: skip
            subs = [m for m in self.frames[idx] if m["method"] == "subscribe"]
            if len(subs) == CHANNELS_EXPECTED[0]:
                return


CHANNELS_EXPECTED = [2]


def note(channel: str, data: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "subscription",
                       "params": {"channel": channel, "data": data}})  # fmt: skip


async def serve_then_close(conn: ServerConnection, s: Script) -> None:
    await s.handshake(conn)
    await conn.send(note("orders.ALL", {"id": "1", "n": s.connections}))
    await conn.close(1012)


async def serve_forever(conn: ServerConnection, s: Script) -> None:
    await s.handshake(conn)
    await conn.send("this is not json")
    await conn.send('{"method":"mystery"}')
    await conn.send(note("orders.ALL", {"id": "1", "n": s.connections}))
    await conn.wait_closed()


async def go_silent(conn: ServerConnection, s: Script) -> None:
    """Handshake, then never answer anything again (pings included)."""
    await s.handshake(conn)
    conn.transport.pause_reading()  # no pong will come back either
    s.silent.append(conn)
    await asyncio.wait([asyncio.ensure_future(conn.wait_closed())], timeout=3000 * MS)
    conn.transport.abort()


async def drop_at_once(conn: ServerConnection, s: Script) -> None:
    await s.handshake(conn)
    await conn.close(1011)


def _jwt_source() -> tuple[Callable[[bool], Awaitable[str]], list[bool]]:
    calls: list[bool] = []

    async def jwt(refresh: bool) -> str:
        calls.append(refresh)
        return f"a.token{len(calls)}.sig"

    return jwt, calls


async def _collect(client: WsClient, until: Callable[[list[Any]], bool], limit_ms: float) -> list:
    events: list[Any] = []
    task = asyncio.ensure_future(client.run())
    try:
        async with asyncio.timeout(limit_ms * MS):
            while True:
                ev = await client.queue.get()
                events.append(ev)
                if type(ev) is Closed or until(events):
                    break
    finally:
        if task.done():
            await task  # run() ended by itself (after a Closed); it never raises
        else:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    return events


def _client(url: str, jwt: Any, **kw: Any) -> WsClient:
    kw.setdefault("reconnect_delays", delays_from([0.001]))
    kw.setdefault("stable_after", 3600.0)
    kw.setdefault("stale_after", None)
    kw.setdefault("open_timeout", 5000 * MS)
    return WsClient(url, ["orders.ALL", "fills.ALL"], jwt=jwt, **kw)


def _types(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- the client -------------------------------------------------------------------------------


def test_connect_authenticates_subscribes_and_delivers_notifications() -> None:
    async def main() -> None:
        async with Script(serve_forever) as s:
            jwt, calls = _jwt_source()
            c = _client(s.url, jwt)
            events = await _collect(c, lambda ev: type(ev[-1]) is Notification, 5000)
            kinds = _types(events)
            assert kinds[:2] == ["Connected", "Subscribed"]
            assert isinstance(events[0], Connected)
            assert kinds[-1] == "Notification"
            assert events[0].node_id == "n1"
            assert set(events[1].channels) == {"orders.ALL", "fills.ALL"}
            # auth went first, with the JWT; then one subscribe per channel
            frames = s.frames[0]
            assert frames[0]["method"] == "auth" and frames[0]["params"]["bearer"] == s.tokens[0]
            assert sorted(f["params"]["channel"] for f in frames[1:]) == ["fills.ALL", "orders.ALL"]
            assert calls == [False]
            # the invalid and unknown frames were counted, not fatal
            assert c.stats["invalid"] == 1 and c.stats["unknown"] == 1

    run(main())


def test_every_reconnect_reauths_with_a_fresh_token_and_restores_subscriptions() -> None:
    async def main() -> None:
        async with Script(serve_then_close, serve_then_close, serve_forever) as s:
            jwt, calls = _jwt_source()
            c = _client(s.url, jwt)
            events = await _collect(
                c, lambda ev: sum(type(e) is Notification for e in ev) == 3, 5000
            )
            assert s.connections == 3
            assert len(calls) == 3  # the provider was asked once per connection
            assert s.tokens == ["a.token1.sig", "a.token2.sig", "a.token3.sig"]
            for frames in s.frames:
                assert {f["params"]["channel"] for f in frames[1:]} == {"orders.ALL", "fills.ALL"}
            recon = [e for e in events if type(e) is Reconnecting]
            assert [r.attempt for r in recon] == [1, 2]
            assert all(type(e) is not Closed for e in events)
            assert [e.code for e in events if type(e) is Disconnected] == [1012, 1012]

    run(main())


def test_refused_connections_are_retried_until_the_server_accepts() -> None:
    async def main() -> None:
        async with Script(serve_forever, refuse=3) as s:
            jwt, _ = _jwt_source()
            c = _client(s.url, jwt)
            events = await _collect(c, lambda ev: type(ev[-1]) is Subscribed, 5000)
            recon = [e for e in events if type(e) is Reconnecting]
            assert len(recon) == 3
            assert all("503" in r.reason for r in recon)
            assert s.attempts == 4

    run(main())


def test_max_reconnects_bounds_the_retries_and_closes_with_an_error() -> None:
    async def main() -> None:
        async with Script(serve_forever, refuse=100) as s:
            jwt, _ = _jwt_source()
            c = _client(s.url, jwt, max_reconnects=2)
            events = await _collect(c, lambda ev: False, 5000)
            assert type(events[-1]) is Closed
            assert "gave up after 2 reconnect" in str(events[-1].error)
            assert s.attempts == 3  # the first try and two reconnects
            assert len([e for e in events if type(e) is Reconnecting]) == 2

    run(main())


def test_flap_guard_keeps_growing_the_backoff_when_connections_drop_at_once() -> None:
    async def main() -> None:
        async with Script(drop_at_once) as s:
            jwt, _ = _jwt_source()
            made: list[int] = []

            def delays() -> Any:
                made.append(1)
                return backoff(base=0.001, cap=1.0, rng=lambda: 1.0)

            c = _client(s.url, jwt, reconnect_delays=delays, stable_after=3600.0)
            events = await _collect(
                c, lambda ev: sum(type(e) is Reconnecting for e in ev) == 4, 5000
            )
            recon = [e.delay for e in events if type(e) is Reconnecting]
            assert recon == [0.001, 0.002, 0.004, 0.008]  # never reset by the brief opens
            assert len(made) == 1

    run(main())


def test_a_stable_connection_resets_the_backoff() -> None:
    async def main() -> None:
        async with Script(drop_at_once) as s:
            jwt, _ = _jwt_source()
            made: list[int] = []

            def delays() -> Any:
                made.append(1)
                return backoff(base=0.001, cap=1.0, rng=lambda: 1.0)

            c = _client(s.url, jwt, reconnect_delays=delays, stable_after=0.0)
            events = await _collect(
                c, lambda ev: sum(type(e) is Reconnecting for e in ev) == 3, 5000
            )
            assert [e.delay for e in events if type(e) is Reconnecting] == [0.001] * 3
            assert len(made) == 3

    run(main())


def test_rejected_jwt_is_refreshed_once_then_fatal() -> None:
    async def reject(conn: ServerConnection, s: Script) -> None:
        await s.handshake(conn, auth_error={"code": 40111, "message": "Invalid Bearer Token"})
        await conn.wait_closed()

    async def main() -> None:
        async with Script(reject) as s:
            jwt, calls = _jwt_source()
            c = _client(s.url, jwt)
            events = await _collect(c, lambda ev: False, 5000)
            assert calls == [False, True]  # the second connection asked for a fresh token
            closed = events[-1]
            assert type(closed) is Closed and isinstance(closed.error, AuthRejected)
            assert closed.error.code == 40111
            assert "a.token" not in str(closed.error)  # the token never reaches a message

    run(main())


def test_rejected_jwt_then_accepted_continues() -> None:
    async def reject(conn: ServerConnection, s: Script) -> None:
        await s.handshake(conn, auth_error={"code": 40111, "message": "Invalid Bearer Token"})
        await conn.wait_closed()

    async def main() -> None:
        async with Script(reject, serve_forever) as s:
            jwt, calls = _jwt_source()
            c = _client(s.url, jwt)
            events = await _collect(c, lambda ev: type(ev[-1]) is Subscribed, 5000)
            assert calls == [False, True]
            assert type(events[-1]) is Subscribed

    run(main())


def test_invalid_channel_is_fatal() -> None:
    async def refuse_sub(conn: ServerConnection, s: Script) -> None:
        msg = json.loads(await conn.recv())
        await conn.send(json.dumps({"jsonrpc": "2.0", "result": {}, "id": msg["id"]}))
        while True:
            msg = json.loads(await conn.recv())
            await conn.send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": {
                "code": -32600, "message": "invalid subscribe request", "data": "invalid channel"}}))  # fmt: skip

    async def main() -> None:
        async with Script(refuse_sub) as s:
            jwt, _ = _jwt_source()
            c = _client(s.url, jwt)
            events = await _collect(c, lambda ev: False, 5000)
            assert isinstance(events[-1].error, SubscribeRejected)
            assert s.connections == 1

    run(main())


def test_watchdog_drops_a_silent_connection_and_reconnects() -> None:
    async def main() -> None:
        async with Script(go_silent, serve_forever) as s:
            jwt, _ = _jwt_source()
            c = _client(s.url, jwt, stale_after=200 * MS, ping_interval=50 * MS)
            events = await _collect(c, lambda ev: type(ev[-1]) is Notification, 10000)
            kinds = _types(events)
            assert "Stale" in kinds
            i = kinds.index("Stale")
            assert kinds[i + 1 : i + 3] == ["Disconnected", "Reconnecting"]
            stale = events[i]
            assert isinstance(stale, Stale) and stale.silent_for >= 200 * MS
            assert "stale" in events[i + 1].reason
            assert s.connections == 2
            assert c.stats["stale"] == 1

    run(main())


def test_pongs_keep_a_quiet_connection_alive() -> None:
    async def quiet(conn: ServerConnection, s: Script) -> None:
        await s.handshake(conn)
        await conn.wait_closed()  # no data, but pings are answered

    async def main() -> None:
        async with Script(quiet) as s:
            jwt, _ = _jwt_source()
            c = _client(s.url, jwt, stale_after=150 * MS, ping_interval=30 * MS)
            task = asyncio.ensure_future(c.run())
            await asyncio.sleep(600 * MS)  # four stale windows with no data at all
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert c.stats["stale"] == 0
            assert s.connections == 1

    run(main())


def test_stop_closes_and_ends_with_closed_without_error() -> None:
    async def main() -> None:
        async with Script(serve_forever) as s:
            jwt, _ = _jwt_source()
            c = _client(s.url, jwt)
            task = asyncio.ensure_future(c.run())
            while True:
                ev = await asyncio.wait_for(c.queue.get(), 5000 * MS)
                if type(ev) is Subscribed:
                    break
            c.stop()
            await asyncio.wait_for(task, 5000 * MS)
            rest = []
            while not c.queue.empty():
                rest.append(c.queue.get_nowait())
            assert type(rest[-1]) is Closed and rest[-1].error is None
            assert not any(type(e) is Reconnecting for e in rest)

    run(main())


def test_subscribe_later_is_sent_now_and_restored_after_reconnect() -> None:
    CHANNELS_EXPECTED[0] = 2
    seen: list[list[str]] = []

    async def sub_and_close(conn: ServerConnection, s: Script) -> None:
        await s.handshake(conn)
        msg = json.loads(await conn.recv())  # the later subscribe
        seen.append([msg["params"]["channel"]])
        await conn.send(json.dumps({"jsonrpc": "2.0", "result": {"channel": "positions"},
                                    "id": msg["id"]}))  # fmt: skip
        await conn.close(1012)

    async def three(conn: ServerConnection, s: Script) -> None:
        CHANNELS_EXPECTED[0] = 3
        await s.handshake(conn)
        await conn.wait_closed()

    async def main() -> None:
        async with Script(sub_and_close, three) as s:
            jwt, _ = _jwt_source()
            c = _client(s.url, jwt)
            task = asyncio.ensure_future(c.run())
            subscribed = 0
            try:
                async with asyncio.timeout(5000 * MS):
                    while subscribed < 2:
                        ev = await c.queue.get()
                        if type(ev) is Subscribed:
                            subscribed += 1
                            if subscribed == 1:
                                await c.subscribe("positions")
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert seen == [["positions"]]
            chans = {f["params"]["channel"] for f in s.frames[1] if f["method"] == "subscribe"}
            assert chans == {"orders.ALL", "fills.ALL", "positions"}

    try:
        run(main())
    finally:
        CHANNELS_EXPECTED[0] = 2


# --- the canonical-frame fast path ------------------------------------------------------------

_ORDER = {"id": "7", "size": "0.0100", "flags": [], "n": 12, "name": 'é"q'}


def _canonical(data_text: str, channel: str = "orders.ALL") -> str:
    return (
        '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"'
        + channel + '","data":' + data_text + "}}"
    )  # fmt: skip


def test_canonical_frame_keeps_the_payload_text() -> None:
    text = json.dumps(_ORDER, separators=(",", ":"), ensure_ascii=False)
    ev = RpcProtocol().receive(_canonical(text), 9)
    assert ev == Notification("orders.ALL", _ORDER, 9, text)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(_canonical('{"x":0.1}'), id="fraction"),
        pytest.param(_canonical('{"a":1},"extra":2'), id="extra-member"),
        pytest.param(_canonical('{"a":1},"data":{"b":2}'), id="duplicate-data"),
        pytest.param(_canonical('{"a":1}') + "x", id="trailing-garbage"),
        pytest.param(_canonical('{"a":1}', channel='or\\"ders'), id="escaped-channel"),
    ],
)
def test_non_canonical_frames_take_the_general_path(frame: str) -> None:
    p = RpcProtocol()
    ev = p.receive(frame, 0)
    try:
        expected = json.loads(frame, parse_float=Decimal)
    except ValueError:
        assert isinstance(ev, Invalid)
        return
    assert isinstance(ev, Notification)
    assert ev.raw is None  # never copied: the payload will be re-encoded
    assert ev.data == expected["params"]["data"]
    assert ev.channel == expected["params"]["channel"]


# --- hostile frames (issue 11) ----------------------------------------------------------------


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(_nested(50_000), id="deep-array"),
        pytest.param('{"a":' * 50_000 + "1" + "}" * 50_000, id="deep-object"),
        pytest.param(_canonical(_nested(50_000)), id="deep-canonical-notification"),
        pytest.param(_nested(50_000, ""), id="deep-unclosed"),
        pytest.param("[" * 50_000, id="deep-unterminated"),
    ],
)
def test_a_frame_nested_50000_levels_deep_is_invalid_not_a_recursion_error(frame: str) -> None:
    p = RpcProtocol()
    ev = p.receive(frame, 0)
    assert isinstance(ev, Invalid)
    assert p.counters()["invalid"] == 1
    assert len(ev.excerpt) <= 80


def test_the_nesting_limit_is_64_levels_and_brackets_in_strings_do_not_count() -> None:
    from paradexctl.core.jsonlimits import MAX_JSON_DEPTH

    assert MAX_JSON_DEPTH == 64
    p = RpcProtocol()
    # the frame's own object and its params make 2 levels
    ok = p.receive(_canonical(_nested(MAX_JSON_DEPTH - 2)), 0)
    assert isinstance(ok, Notification)
    deep = p.receive(_canonical(_nested(MAX_JSON_DEPTH - 1)), 0)
    assert isinstance(deep, Invalid) and "nested deeper than 64 levels" in deep.reason
    text = json.dumps({"note": "[{" * 1000, "rows": [[1, 2]] * 500})
    quoted = p.receive(_canonical(text), 0)
    assert isinstance(quoted, Notification) and quoted.data["note"] == "[{" * 1000


async def _deep_then_data(conn: ServerConnection, s: Script) -> None:
    await s.handshake(conn)
    await conn.send(_canonical(_nested(50_000)))
    await conn.send('{"jsonrpc":"2.0","method":"mystery","params":' + _nested(50_000) + "}")
    await conn.send(note("orders.ALL", {"id": "after"}))
    await conn.wait_closed()


def test_the_client_skips_deep_frames_and_keeps_streaming() -> None:
    async def main() -> None:
        async with Script(_deep_then_data) as s:
            jwt, _ = _jwt_source()
            c = _client(s.url, jwt)
            events = await _collect(c, lambda ev: type(ev[-1]) is Notification, 5000)
            assert _types(events) == ["Connected", "Subscribed", "Invalid", "Invalid",
                                      "Notification"]  # fmt: skip
            assert events[-1].data == {"id": "after"}
            assert c.counters()["invalid"] == 2 and c.counters()["connections"] == 1

    run(main())


async def _data_then_oversize(conn: ServerConnection, s: Script) -> None:
    await s.handshake(conn)
    await conn.send(note("orders.ALL", {"id": "1", "n": s.connections}))
    await conn.send(note("orders.ALL", {"blob": "x" * 8192}))
    await conn.wait_closed()


def test_an_oversize_frame_is_named_counted_and_the_reconnect_backs_off() -> None:
    async def main() -> None:
        async with Script(_data_then_oversize) as s:
            jwt, _ = _jwt_source()

            def delays() -> Any:
                return backoff(base=0.001, cap=1.0, rng=lambda: 1.0)

            c = _client(s.url, jwt, reconnect_delays=delays, max_frame_bytes=4096)
            events = await _collect(
                c, lambda ev: sum(type(e) is Reconnecting for e in ev) == 3, 5000
            )
            gone = [e for e in events if type(e) is Disconnected]
            assert len(gone) == 3
            for e in gone:
                assert e.reason == "frame_too_large size_limit=4096"
                assert e.code == 1009
            # the data before the oversize frame does not reset the backoff: no tight loop
            assert [e.delay for e in events if type(e) is Reconnecting] == [0.001, 0.002, 0.004]
            assert c.counters()["frames_too_large"] == 3
            assert not any(type(e) is Closed for e in events)  # it keeps reconnecting

    run(main())


def test_the_default_frame_limit_is_the_websockets_default_1_mib() -> None:
    assert wsmod.MAX_FRAME_BYTES == 1 << 20
    assert WsClient("ws://x", []).max_frame_bytes == 1 << 20


# --- the backoff resets after a productive connection (issue 11) ------------------------------


async def _data_then_drop(conn: ServerConnection, s: Script) -> None:
    await s.handshake(conn)
    await conn.send(note("orders.ALL", {"id": "1", "n": s.connections}))
    await conn.close(1011)  # drops right after delivering data


def test_a_connection_that_delivered_data_resets_the_backoff() -> None:
    async def main() -> None:
        async with Script(_data_then_drop) as s:
            jwt, _ = _jwt_source()
            made: list[int] = []

            def delays() -> Any:
                made.append(1)
                return backoff(base=0.001, cap=1.0, rng=lambda: 1.0)

            # stable_after is an hour: only the delivered data can reset the backoff
            c = _client(s.url, jwt, reconnect_delays=delays, stable_after=3600.0)
            events = await _collect(
                c, lambda ev: sum(type(e) is Reconnecting for e in ev) == 4, 5000
            )
            assert [e.delay for e in events if type(e) is Reconnecting] == [0.001] * 4
            assert len(made) == 4

    run(main())


async def _data_before_subscribed_then_drop(conn: ServerConnection, s: Script) -> None:
    """Auth, one notification before the subscribe replies, then drop: not productive."""
    msg = json.loads(await conn.recv())
    await conn.send(json.dumps({"jsonrpc": "2.0", "result": {}, "id": msg["id"]}))
    await conn.send(note("orders.ALL", {"id": "early"}))
    await conn.close(1011)


def test_data_before_the_subscriptions_are_confirmed_does_not_reset_the_backoff() -> None:
    async def main() -> None:
        async with Script(_data_before_subscribed_then_drop) as s:
            jwt, _ = _jwt_source()

            def delays() -> Any:
                return backoff(base=0.001, cap=1.0, rng=lambda: 1.0)

            c = _client(s.url, jwt, reconnect_delays=delays)
            events = await _collect(
                c, lambda ev: sum(type(e) is Reconnecting for e in ev) == 3, 5000
            )
            assert [e.delay for e in events if type(e) is Reconnecting] == [0.001, 0.002, 0.004]

    run(main())


def test_close_quietly_releases_the_socket_of_a_transport_that_is_only_closing() -> None:
    """A transport whose close waits to flush (the peer reads nothing) still owns its socket;
    the close must abort it and let the loop release the socket before returning, or the
    socket is left to the garbage collector (a ResourceWarning in some later test)."""

    class _Stalled:
        def __init__(self, transport: asyncio.Transport) -> None:
            self.transport = transport

        async def close(self) -> None:  # a close handshake the peer never answers
            await asyncio.Event().wait()

    async def main() -> tuple[int, int]:
        accepted: list[asyncio.Transport] = []

        class _Deaf(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                transport.pause_reading()
                accepted.append(transport)

        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Deaf, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            sock = transport.get_extra_info("socket")
            transport.write(b"x" * (32 << 20))  # more than both kernels' buffers take
            transport.close()  # now closing, with bytes still to flush
            assert transport.is_closing() and transport.get_write_buffer_size() > 0
            before = sock.fileno()
            await wsmod._close_quietly(_Stalled(transport), abort=True)
            return before, sock.fileno()
        finally:
            for t in accepted:
                t.abort()
            server.close()
            await server.wait_closed()

    before, after = asyncio.run(main())
    assert before >= 0 and after == -1

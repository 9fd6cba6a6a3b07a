"""The simulator's ASGI app: REST under ``/v1``, the WebSocket on the same port, admin API.

Thin adapters only: HTTP and WebSocket frames are translated into calls on the pure engine
(:mod:`paradexctl.sim.exchange`) and its events are turned into notifications and into the
(optionally stale) REST view. Faults (:mod:`paradexctl.sim.faults`) are applied here.

Everything runs on one event loop; the engine is never called from another thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from paradexctl import signing
from paradexctl.config import write_private_file
from paradexctl.signing.tables import key_point

from .exchange import (
    CLOSED,
    LIMIT_TYPES,
    OPEN_STATUSES,
    Event,
    Exchange,
    OrderRequest,
    Rejected,
    SimConfig,
    StateMarketsError,
    parse_decimal,
)
from .faults import FaultConfig, Faults
from .limits import JsonTooDeep, Limits, RefusalLog, decode_json, read_body
from .verify import Verifier

__all__ = [
    "STALENESS_KEYS",
    "SimApp",
    "SimOptions",
    "StateFileError",
    "StateSaveError",
    "create_app",
]

CHAIN_NAME = "PRIVATE_SN_POTC_SEPOLIA"
ACCOUNT_CLASS_HASH = "0x41cb0280ebadaa75f996d8d92c6f265f6d040bb3ba442e5f86a554f1765244e"
PROXY_CLASS_HASH = "0x3530cc4759d78042f1b543bf797f5f3d647cde0388c33734cf91b7f7b9314a9"
JSON_TYPE = "application/json; charset=UTF-8"

#: REST read endpoints whose staleness can be set separately (``default`` covers the rest).
STALENESS_KEYS = (
    "default",
    "orders",
    "orders-history",
    "order",
    "positions",
    "balance",
    "account",
    "fills",
)

_log = logging.getLogger("paradexctl.sim")
MAX_BATCH = 50
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_NOTIFY_HEAD = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":'
#: unsent WebSocket messages a connection may accumulate before it is dropped
MAX_UNSENT = 20_000
MAX_PAGE = 5000
#: peer addresses and ``Host`` names the admin API accepts
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost")
#: how far ``POST /_sim/time/advance`` may move the clock ahead of the wall clock in total
MAX_CLOCK_OFFSET_MS = 7 * 86_400_000
#: nesting allowed in the sim's own flat JSON that clients hand back (JWT parts, cursors)
FLAT_JSON_DEPTH = 2


@dataclass(slots=True)
class SimOptions:
    """Everything the server is started with (the CLI flags map onto these)."""

    seed: int = 0
    markets: tuple[str, ...] = ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP")
    faucet: Decimal = Decimal("100000")
    jwt_lifetime_s: int = 300
    rest_staleness_ms: dict[str, int] = field(default_factory=lambda: {"default": 0})
    faults: FaultConfig = field(default_factory=FaultConfig)
    state_file: Path | None = None
    mark_walk_ms: int = 1000
    #: server protocol pings (Paradex: every 55 s, pong due within 5 s)
    ws_ping_interval_s: float = 55.0
    ws_ping_timeout_s: float = 5.0
    #: signing table level built in the background once serving (``large``; None = lazy)
    warm_tables: str | None = "large"
    #: processes verifying order signatures in parallel (0 = inline, in the event loop)
    verify_workers: int = 0
    #: milliseconds between background ticks (mark walk, scheduled disconnects, saves)
    tick_ms: int = 100
    #: starting mark price per market (overrides the default and a saved one; rounded down
    #: to the tick)
    marks: dict[str, Decimal] = field(default_factory=dict)
    #: receive window for orders sent without ``recv_window`` (0: no limit)
    default_recv_window_ms: int = 300_000
    #: what one client may send or hold (body size, JSON depth, timeouts, connections)
    limits: Limits = field(default_factory=Limits)
    #: browser origins (``scheme://host[:port]``) whose requests the admin API accepts; any
    #: other request carrying an ``Origin`` (or a cross-site ``Sec-Fetch-Site``) is refused
    admin_origins: tuple[str, ...] = ()


# ------------------------------------------------------------------------------ utilities


def norm_hex(value: str | int) -> str:
    """``0x``-prefixed lower-case hex without leading zeros; ``ValueError`` if not hex."""
    n = value if isinstance(value, int) else int(str(value).strip(), 16)
    if n < 0:
        raise ValueError("negative")
    return hex(n)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_dec(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JwtError(Exception):
    pass


class Jwt:
    """HS256 JWTs signed with a per-process secret, so forged tokens are refused."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)

    def issue(self, sub: str, now_s: int, lifetime_s: int, **extra: Any) -> str:
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {"typ": "at+JWT", "exp": now_s + lifetime_s, "iat": now_s, "iss": "paradexctl sim"}
        claims["sub"] = sub
        claims.update(extra)
        h = _b64url(json.dumps(header, separators=(",", ":")).encode())
        p = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self.secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
        return f"{h}.{p}.{_b64url(sig)}"

    def verify(self, token: str, now_ms: int) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise JwtError("token contains an invalid number of segments")
        try:
            header = decode_json(_b64url_dec(parts[0]), FLAT_JSON_DEPTH)
            claims = decode_json(_b64url_dec(parts[1]), FLAT_JSON_DEPTH)
            sig = _b64url_dec(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise JwtError("token is malformed") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise JwtError("signing method is invalid")
        good = hmac.new(self.secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(sig, good):
            raise JwtError("signature is invalid")
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise JwtError("token has no exp claim")
        over = now_ms - claims["exp"] * 1000
        if over >= 0:
            raise JwtError(f"token is expired by {over / 1000:.3f}s")
        return claims


class SimClock:
    """Wall-clock milliseconds plus an offset the admin API can advance."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


def _cursor(offset: int) -> str:
    return _b64url(json.dumps({"o": offset}).encode())


def _uncursor(text: str | None) -> int:
    if not text:
        return 0
    try:
        d = decode_json(_b64url_dec(text), FLAT_JSON_DEPTH)
        off = int(d["o"])
    except (ValueError, KeyError, TypeError):
        raise Rejected("INVALID_REQUEST_PARAMETER", "invalid cursor") from None
    if off < 0:
        raise Rejected("INVALID_REQUEST_PARAMETER", "invalid cursor")
    return off


def paginate(
    rows: list[dict[str, Any]], request: Request, max_page: int = MAX_PAGE
) -> dict[str, Any]:
    """Cursor pagination over ``rows`` (already sorted newest first)."""
    q = request.query_params
    try:
        size = int(q.get("page_size", "100"))
    except ValueError:
        raise Rejected("INVALID_REQUEST_PARAMETER", "page_size must be an integer") from None
    if not 1 <= size <= max_page:
        raise Rejected("INVALID_REQUEST_PARAMETER", f"page_size must be in [1, {max_page}]")
    start = _uncursor(q.get("cursor"))
    page = rows[start : start + size]
    return {
        "next": _cursor(start + size) if start + size < len(rows) else None,
        "prev": _cursor(max(0, start - size)) if start > 0 else None,
        "results": page,
    }


def _time_filter(rows: list[dict[str, Any]], request: Request, key: str) -> list[dict[str, Any]]:
    q = request.query_params
    try:
        start = int(q["start_at"]) if q.get("start_at") else None
        end = int(q["end_at"]) if q.get("end_at") else None
    except ValueError:
        raise Rejected("INVALID_REQUEST_PARAMETER", "start_at/end_at must be ms integers") from None
    if start is not None:
        rows = [r for r in rows if r[key] >= start]
    if end is not None:
        rows = [r for r in rows if r[key] <= end]
    return rows


# ------------------------------------------------------------------------------ REST view


class RestView:
    """What REST reads see: every object's versions with the time they were made, so a
    read at time ``t`` with staleness ``s`` returns the newest version at or before
    ``t - s`` (objects created after that do not exist yet)."""

    def __init__(self) -> None:
        self.orders: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.orders_by_account: dict[str, list[str]] = {}
        self.positions: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
        self.accounts: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.balances: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.fills: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.retain_ms = 60_000

    @staticmethod
    def _push(
        versions: list[tuple[int, dict[str, Any]]], at: int, data: dict[str, Any], retain: int
    ) -> None:
        versions.append((at, data))
        # keep the newest version older than the retention window, drop anything before it
        cut = at - retain
        i = 0
        while i + 1 < len(versions) and versions[i + 1][0] <= cut:
            i += 1
        if i:
            del versions[:i]

    def apply(self, events: list[Event]) -> None:
        r = self.retain_ms
        for ev in events:
            k, a = ev.kind, ev.account
            if a is None:
                continue
            if k == "order":
                oid = ev.data["id"]
                if oid not in self.orders:
                    self.orders[oid] = []
                    self.orders_by_account.setdefault(a, []).append(oid)
                self._push(self.orders[oid], ev.at_ms, ev.data, r)
            elif k == "position":
                self._push(
                    self.positions.setdefault((a, ev.data["market"]), []), ev.at_ms, ev.data, r
                )
            elif k == "account":
                self._push(self.accounts.setdefault(a, []), ev.at_ms, ev.data, r)
            elif k == "balance":
                self._push(self.balances.setdefault(a, []), ev.at_ms, ev.data, r)
            elif k == "fill":
                self.fills.setdefault(a, []).append((ev.at_ms, ev.data))

    def seed(self, ex: Exchange) -> None:
        """Fill the view from an engine's current state (after a restart)."""
        now = ex.now_ms
        for o in ex.orders.values():
            self.orders[o.id] = [(now, o.to_json())]
            self.orders_by_account.setdefault(o.account, []).append(o.id)
        for (addr, sym), p in ex.positions.items():
            if sym in ex.markets:  # a flat position in a market no longer served is not shown
                self.positions[(addr, sym)] = [(now, p.to_json(ex.mark(sym)))]
        for addr in ex.accounts:
            self.accounts[addr] = [(now, ex.account_summary(addr))]
            self.balances[addr] = [(now, ex.balance(addr))]
            self.fills[addr] = [(now, f.to_json()) for f in ex.fills.get(addr, [])]

    @staticmethod
    def _at(versions: list[tuple[int, dict[str, Any]]], cutoff: int) -> dict[str, Any] | None:
        for i in range(len(versions) - 1, -1, -1):
            if versions[i][0] <= cutoff:
                return versions[i][1]
        return None

    def order(self, address: str, order_id: str, cutoff: int) -> dict[str, Any] | None:
        v = self.orders.get(order_id)
        if not v:
            return None
        d = self._at(v, cutoff)
        if d is None or d["account"] != address:
            return None
        return d

    def account_orders(self, address: str, cutoff: int) -> list[dict[str, Any]]:
        out = []
        for oid in self.orders_by_account.get(address, []):
            d = self._at(self.orders[oid], cutoff)
            if d is not None:
                out.append(d)
        return out

    def positions_of(self, address: str, cutoff: int) -> list[dict[str, Any]]:
        out = []
        for (a, _), v in self.positions.items():
            if a == address:
                d = self._at(v, cutoff)
                if d is not None:
                    out.append(d)
        return out

    def latest(
        self, table: dict[str, list[tuple[int, dict[str, Any]]]], address: str, cutoff: int
    ) -> dict[str, Any] | None:
        """An account-wide object (summary, balance) as of ``cutoff``. An account is never
        shown as missing: one younger than the staleness shows its first recorded state."""
        v = table.get(address)
        if not v:
            return None
        d = self._at(v, cutoff)
        return v[0][1] if d is None else d

    def fills_of(self, address: str, cutoff: int) -> list[dict[str, Any]]:
        return [d for at, d in self.fills.get(address, []) if at <= cutoff]


# ------------------------------------------------------------------------------ WebSocket hub

PRIVATE_PREFIXES = ("orders.", "fills.")
PRIVATE_EXACT = ("positions", "account", "balance_events")


def _event_channels(ev: Event) -> tuple[bool, tuple[str, ...]]:
    """(private?, channel names) an engine event is published on."""
    k, m = ev.kind, ev.market
    if k == "order":
        return True, (f"orders.{m}", "orders.ALL")
    if k == "fill":
        return True, (f"fills.{m}", "fills.ALL")
    if k == "position":
        return True, ("positions",)
    if k == "account":
        return True, ("account",)
    if k == "balance_event":
        return True, ("balance_events",)
    if k == "bbo":
        return False, (f"bbo.{m}", "bbo.ALL")
    if k == "trade":
        return False, (f"trades.{m}", "trades.ALL")
    return False, ()


class Conn:
    """One WebSocket connection: its subscriptions, and an ordered, delayed send queue."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.account: str | None = None
        #: the subkey whose JWT authenticated the connection (None: the account's own key)
        self.subkey: str | None = None
        self.subs: set[str] = set()
        self.queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
        self.last_due = 0.0
        self.lock = asyncio.Lock()
        self.closed = False
        self.overflowed = False
        #: order.cancel_on_disconnect state, and the orders placed through this connection
        self.cancel_on_disconnect = False
        self.placed: set[str] = set()
        #: the ws_silence_s fault: loop time until which nothing is sent, the timer that ends
        #: the silence, and the server protocol whose reading it paused
        self.silent_until = 0.0
        self._silence_timer: asyncio.TimerHandle | None = None
        self._paused: Any = None

    def silent(self) -> bool:
        return self.silent_until > asyncio.get_running_loop().time()

    def silence(self, seconds: float) -> bool:
        """Send nothing for ``seconds`` (``0`` ends a silence now); True if it went silent.

        Besides dropping what the app sends, reading from the socket is paused (and the
        server's keepalive pings stopped), so the WebSocket layer answers no ping with a pong:
        a client watchdog that counts data frames and pongs hears nothing at all. uvicorn
        gives the app its protocol's bound ``receive`` as the ASGI callable; that is how the
        transport is found. Without it only the app's own frames are withheld."""
        if self._silence_timer is not None:
            self._silence_timer.cancel()
            self._silence_timer = None
        if seconds <= 0 or self.closed:
            self.end_silence()
            return False
        loop = asyncio.get_running_loop()
        self.silent_until = loop.time() + seconds
        self._silence_timer = loop.call_later(seconds, self.end_silence)
        if self._paused is None:
            proto: Any = getattr(self.ws._receive, "__self__", None)
            transport = getattr(proto, "transport", None)
            if transport is not None and hasattr(transport, "pause_reading"):
                with contextlib.suppress(Exception):
                    transport.pause_reading()
                    self._paused = proto
                    # uvicorn pauses reading while a message waits for the app and resumes
                    # when the app takes it; clear its flag so that only we resume
                    if getattr(proto, "read_paused", False):
                        proto.read_paused = False
                    stop_keepalive = getattr(proto, "stop_keepalive", None)
                    if stop_keepalive is not None:
                        stop_keepalive()
        return True

    def end_silence(self) -> None:
        if self._silence_timer is not None:
            self._silence_timer.cancel()
            self._silence_timer = None
        self.silent_until = 0.0
        proto, self._paused = self._paused, None
        if proto is None:
            return
        with contextlib.suppress(Exception):
            if not proto.transport.is_closing():
                proto.transport.resume_reading()
                start_keepalive = getattr(proto, "start_keepalive", None)
                if start_keepalive is not None:
                    start_keepalive()

    def enqueue(self, text: str, delay: float) -> None:
        """Queue ``text`` to go out ``delay`` s from now, never before earlier messages.

        A client that leaves more than ``MAX_UNSENT`` messages unread is disconnected (close
        code 1008), as Paradex does with slow consumers."""
        if self.closed:
            return
        if self.queue.qsize() >= MAX_UNSENT:
            self.closed = True
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        if delay <= 0 and not self.last_due:
            self.queue.put_nowait((0.0, text))
            return
        now = asyncio.get_running_loop().time()
        due = max(self.last_due, now + delay)
        self.last_due = due
        self.queue.put_nowait((due, text))

    async def send(self, text: str) -> None:
        async with self.lock:
            if not self.closed and not (self.silent_until and self.silent()):
                await self.ws.send_text(text)

    async def sender(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self.queue.get()
            if item is None:
                if self.overflowed:
                    with contextlib.suppress(Exception):
                        await self.ws.close(1008, "too many unread messages")
                return
            due, text = item
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self.send(text)
            except Exception:  # the peer went away; the reader will clean up
                self.closed = True
                return


class Hub:
    """Routes engine events to subscribed connections, stamping WS ``seq_no`` per channel key
    (independently of REST), and applying the delivery faults."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.conns: set[Conn] = set()
        # (account or None for public, channel) -> connections
        self.index: dict[tuple[str | None, str], set[Conn]] = {}
        self.ws_seq: dict[tuple[str, str], int] = {}
        self.sent = 0

    def subscribe(self, conn: Conn, channel: str, private: bool) -> None:
        conn.subs.add(channel)
        key = (conn.account if private else None, channel)
        self.index.setdefault(key, set()).add(conn)

    def unsubscribe(self, conn: Conn, channel: str) -> None:
        conn.subs.discard(channel)
        for key in ((conn.account, channel), (None, channel)):
            s = self.index.get(key)
            if s is not None:
                s.discard(conn)

    def remove(self, conn: Conn) -> None:
        for ch in list(conn.subs):
            self.unsubscribe(conn, ch)
        self.conns.discard(conn)

    def _stamp(self, ev: Event, now_ms: int) -> dict[str, Any]:
        data = ev.data
        if "seq_no" in data and ev.kind != "bbo":
            key = (ev.kind, ev.account or ev.market or "")
            # Its own counter per (kind, key), floored at a different point of each ms than
            # the engine's (REST) numbers, so the two sources never agree by accident.
            seq = max(self.ws_seq.get(key, 0) + 1, now_ms * 1_000_000 + 500_000)
            self.ws_seq[key] = seq
            data = dict(data)
            data["seq_no"] = seq
            if ev.kind == "order":
                data["published_at"] = now_ms
        if ev.kind == "order" and self.faults.take_order_mutation():
            data = self.faults.mutate_order(data)
        return data

    def publish(self, events: list[Event], now_ms: int) -> None:
        if not self.conns:
            return
        for ev in events:
            private, channels = _event_channels(ev)
            if not channels:
                continue
            payload: str | None = None
            for ch in channels:
                subs = self.index.get((ev.account if private else None, ch))
                if not subs:
                    continue
                if payload is None:
                    payload = _ENCODE(self._stamp(ev, now_ms))
                text = f'{_NOTIFY_HEAD}{_ENCODE(ch)},"data":{payload}}}}}'
                for conn in subs:
                    if conn.silent_until and conn.silent():
                        self.faults.injected["ws_silence_dropped"] += 1
                        continue
                    for delay in self.faults.plan_delivery():
                        conn.enqueue(text, delay)
                        self.sent += 1

    def silence_all(self, seconds: float) -> int:
        """Silence every open connection for ``seconds`` (0: end it); returns how many."""
        n = sum(conn.silence(seconds) for conn in list(self.conns))
        self.faults.injected["ws_silenced"] += n
        return n

    async def disconnect_all(self, code: int = 1012) -> int:
        conns = list(self.conns)
        for conn in conns:
            await close_conn(conn, code)
        self.faults.injected["ws_disconnects"] += len(conns)
        return len(conns)


async def close_conn(conn: Conn, code: int) -> None:
    async with conn.lock:
        if conn.closed:
            return
        conn.closed = True
        with contextlib.suppress(Exception):
            await conn.ws.close(code)


# ------------------------------------------------------------------------------ the app


def _err(code: str, message: str, status: int = 400, data: Any = None) -> Response:
    body = json.dumps({"error": code, "message": message, "data": data}, separators=(",", ":"))
    return Response(body, status, media_type=JSON_TYPE)


def _rejected(err: Rejected) -> Response:
    """A :class:`Rejected` in Paradex's error shape. A refused body (413 too large, 408 too
    slow) also closes the connection, so its unread remainder is never taken in."""
    resp = _err(err.code, err.message, err.status, err.data)
    if err.status in (408, 413):
        resp.headers["connection"] = "close"
    return resp


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(obj, separators=(",", ":")), status, headers=headers, media_type=JSON_TYPE
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path 404, wrong method 405) in Paradex's error shape."""
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "REQUEST_NOT_ALLOWED"}.get(exc.status_code, "BINDING_ERROR")
    resp = _err(code, str(exc.detail).lower(), exc.status_code)
    if exc.headers:
        resp.headers.update(exc.headers)
    if exc.status_code == 405:
        # starlette names the methods of the first route with this path only; the sim serves
        # one path from several routes (GET, POST and DELETE /orders), so name them all
        allowed: set[str] = set()
        for route in request.app.routes:
            if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
                allowed |= route.methods or set()
        if allowed:
            resp.headers["allow"] = ", ".join(sorted(allowed))
    return resp


async def _server_error(request: Request, exc: Exception) -> Response:
    return _err("INTERNAL_ERROR", "internal server error", 500)


class StateFileError(ValueError):
    """``--state`` names a file that is not a usable simulator state."""


class StateSaveError(StateFileError):
    """The final save of ``--state`` failed (the file keeps the last good save)."""


class AuthFailed(Exception):
    """The JWT middleware's 401 (body has only ``message``)."""


#: the error code of a subkey's credentials used beyond a subkey's scope (onboarding, account
#: management): 403, since the spec names no code for it (``paradex-api.md`` §4.2)
SUBKEY_FORBIDDEN = "INVALID_TOKEN_SCOPE"


Handler = Callable[[Request], Awaitable[Response]]


class SimApp:
    """The simulator's state (engine, REST view, hub, faults, clock) and its routes."""

    def __init__(
        self,
        options: SimOptions | None = None,
        *,
        write_state: Callable[[Path, bytes], None] = write_private_file,
    ) -> None:
        self.options = options or SimOptions()
        #: writes ``--state`` whole (temporary file, fsync, rename) or raises ``OSError``
        self.write_state = write_state
        #: why the last save failed (None: the file is up to date or was never written)
        self.save_error: str | None = None
        #: the final save's failure at shutdown (the CLI exits nonzero with it)
        self.final_save_error: str | None = None
        self.last_saved_ms: int | None = None
        o = self.options
        self.clock = SimClock()
        self.jwt = Jwt()
        self.chain_id = signing.chain_id_felt(CHAIN_NAME)
        self.staleness: dict[str, int] = {"default": 0}
        self.set_staleness(o.rest_staleness_ms)
        self.engine = self._load_or_new()
        self._apply_marks()
        self.view = RestView()
        self.view.seed(self.engine)
        self.set_staleness({})  # sizes the view's retention for the configured staleness
        self.faults = Faults(o.faults, seed=o.seed, now_ms=self.clock.now_ms())
        self.hub = Hub(self.faults)
        self.verifier = Verifier(o.verify_workers, o.warm_tables)
        self.refusals = RefusalLog(_log, o.limits.log_interval_s)
        self.dirty = False
        self.stopping = False
        self.rate: dict[tuple[str, str], tuple[int, int]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self.app = Starlette(
            routes=self._routes(),
            lifespan=self._lifespan,
            exception_handlers={HTTPException: _http_error, 500: _server_error},
        )

    # ----------------------------------------------------------------- engine plumbing

    def _config(self) -> SimConfig:
        o = self.options
        return SimConfig(
            seed=o.seed,
            markets=tuple(o.markets),
            faucet=o.faucet,
            mark_walk_ms=o.mark_walk_ms,
            default_recv_window_ms=o.default_recv_window_ms,
        )

    def _load_or_new(self) -> Exchange:
        path = self.options.state_file
        if path is not None and path.exists():
            try:
                state = json.loads(path.read_text())
                return Exchange.from_state(state, self._config())
            except StateMarketsError as err:
                raise StateFileError(f"cannot load sim state from {path}: {err}") from None
            except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
                raise StateFileError(f"cannot load sim state from {path}: {err!r}") from None
        return Exchange(self._config(), now_ms=self.clock.now_ms())

    def _apply_marks(self) -> list[Event]:
        events: list[Event] = []
        for market, price in self.options.marks.items():
            try:
                events += self.engine.set_mark(market, price, self.clock.now_ms())
            except Rejected as err:
                raise ValueError(f"mark for {market}: {err.message}") from None
        return events

    def reset(self) -> None:
        self.clock.offset_ms = 0
        self.engine = Exchange(self._config(), now_ms=self.clock.now_ms())
        self.view = RestView()
        self.view.apply(self._apply_marks())
        self.set_staleness(self.options.rest_staleness_ms, replace=True)
        self.faults = Faults(
            self.options.faults, seed=self.options.seed, now_ms=self.clock.now_ms()
        )
        self.hub.faults = self.faults
        self.rate.clear()
        self.dirty = True

    def set_staleness(self, values: dict[str, int], replace: bool = False) -> None:
        new = {"default": 0} if replace else dict(self.staleness)
        for k, v in values.items():
            if k not in STALENESS_KEYS:
                raise ValueError(f"unknown staleness key {k!r}; known: {', '.join(STALENESS_KEYS)}")
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError("staleness must be a non-negative integer (ms)")
            new[k] = v
        self.staleness = new
        if hasattr(self, "view"):
            self.view.retain_ms = max(60_000, 2 * max(new.values()))

    def cutoff(self, key: str) -> int:
        return self.clock.now_ms() - self.staleness.get(key, self.staleness["default"])

    def commit(self, events: list[Event]) -> None:
        """Deliver an engine call's events: REST view, WebSocket, persistence."""
        if not events:
            return
        self.view.apply(events)
        self.hub.publish(events, self.clock.now_ms())
        self.dirty = True

    def save(self) -> bool:
        """Write ``--state`` if anything changed; True when the file is up to date.

        The file is written whole to a temporary file, fsynced and renamed over the last good
        one (:func:`paradexctl.config.write_private_file`). A failed write (a full disk)
        leaves the last good file in place, is logged once (and its recovery once), and is
        retried on the next tick: ``dirty`` stays set until a write succeeds."""
        path = self.options.state_file
        if path is None or not self.dirty:
            return True
        data = json.dumps(self.engine.to_state(), separators=(",", ":")).encode()
        try:
            self.write_state(path, data)
        except OSError as err:
            failing = self.save_error is not None
            self.save_error = f"cannot save the sim state to {path}: {err.strerror or err}"
            if not failing:
                _log.error("%s; %s keeps the last good save; retrying", self.save_error, path.name)
            return False
        self.dirty = False
        self.last_saved_ms = self.clock.now_ms()
        if self.save_error is not None:
            _log.warning("the sim state is saved to %s again", path)
            self.save_error = None
        return True

    async def _ticker(self) -> None:
        period = self.options.tick_ms / 1000
        last_save = 0.0
        while True:
            await asyncio.sleep(period)
            try:
                now = self.clock.now_ms()
                self.commit(self.engine.advance(now))
                if self.faults.disconnect_due(now):
                    await self.hub.disconnect_all()
                mono = time.monotonic()
                if mono - last_save >= 0.5:
                    last_save = mono
                    self.save()
                self.refusals.tick()
            except Exception:  # keep ticking; a bug here must not freeze the market
                _log.exception("simulator tick failed")

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.verifier.start_warming()  # signing tables: built in the background
        self._tasks.append(asyncio.create_task(self._ticker()))
        try:
            yield
        finally:
            self.stopping = True
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            self.dirty = True
            if not self.save():
                self.final_save_error = self.save_error
            self.refusals.flush()
            self.verifier.close()

    # ----------------------------------------------------------------- REST plumbing

    def _rate_headers(self, category: str, ident: str) -> dict[str, str]:
        limit, window = {"orders": (800, 1), "private": (600, 60), "auth": (600, 60)}.get(
            category, (1500, 60)
        )
        now_s = self.clock.now_ms() // 1000
        start = now_s - now_s % window
        key = (category, ident)
        ws, used = self.rate.get(key, (start, 0))
        if ws != start:
            used = 0
        used += 1
        self.rate[key] = (start, used)
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used)),
            "x-ratelimit-reset": str(start + window),
            "x-ratelimit-window": str(window),
        }

    def _identity(self, claims: dict[str, Any]) -> tuple[str, str | None] | None:
        """``(account, subkey or None)`` of a verified JWT's claims, or None when the account
        is unknown or the token is a subkey's that is no longer registered to it."""
        sub = claims.get("sub")
        if not isinstance(sub, str) or sub not in self.engine.accounts:
            return None
        subkey = claims.get("subkey")
        if subkey is None:
            return sub, None
        sk = self.engine.subkeys.get(subkey) if isinstance(subkey, str) else None
        if sk is None or sk.account != sub:
            return None
        return sub, sk.public_key

    def _bearer(self, request: Request) -> tuple[str, str | None]:
        """The account (and subkey, for a subkey's JWT) of the request's bearer token."""
        auth = request.headers.get("authorization", "")
        if not auth:
            raise AuthFailed("missing or malformed jwt: missing value in request header")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthFailed("missing or malformed jwt: invalid value in request header")
        try:
            claims = self.jwt.verify(token.strip(), self.clock.now_ms())
        except JwtError as err:
            raise AuthFailed(f"missing or malformed jwt: {err}") from None
        ident = self._identity(claims)
        if ident is None:
            if "subkey" in claims:
                raise AuthFailed("missing or malformed jwt: the subkey is not registered")
            raise AuthFailed("missing or malformed jwt: unknown subject")
        return ident

    def endpoint(self, fn: Handler, *, private: bool, category: str = "") -> Handler:
        cat = category or ("private" if private else "public")

        async def wrapped(request: Request) -> Response:
            ident = request.client.host if request.client else "?"
            try:
                fault = self.faults.take_rest_fault()
                if fault == "5xx":
                    st = self.faults.config.rest_5xx_status
                    code = "SERVICE_UNAVAILABLE" if st == 503 else "INTERNAL_ERROR"
                    return _err(code, "injected fault: server error", st)
                if fault == "429":
                    retry = self.faults.config.retry_after_s
                    now_s = self.clock.now_ms() // 1000
                    headers = {
                        "x-ratelimit-limit": "800",
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-reset": str(now_s + retry),
                        "x-ratelimit-window": "1",
                        "retry-after": str(retry),
                    }
                    resp = _err("RATE_LIMIT_EXCEEDED", "rate limit exceeded", 429)
                    resp.headers.update(headers)
                    return resp
                if private:
                    request.state.account, request.state.subkey = self._bearer(request)
                    ident = request.state.account
                resp = await fn(request)
            except AuthFailed as err:
                resp = _json({"message": str(err)}, 401)
            except Rejected as err:
                resp = _rejected(err)
            except Exception:  # a bug: log it, answer in Paradex's shape, keep serving
                _log.exception("%s %s failed", request.method, request.url.path)
                resp = _err("INTERNAL_ERROR", "internal server error", 500)
            resp.headers.update(self._rate_headers(cat, ident))
            return resp

        return wrapped

    async def _body(self, request: Request) -> Any:
        """The request's JSON body (None when empty), read within the body limits."""
        raw = await read_body(request, self.options.limits, self.refusals)
        if not raw:
            return None
        try:
            return self.decode(raw)
        except JsonTooDeep as err:
            raise Rejected("BINDING_ERROR", f"request body is {err}") from None
        except ValueError:
            raise Rejected("BINDING_ERROR", "request body is not valid JSON") from None

    def decode(self, raw: bytes | str) -> Any:
        """The one JSON decoder for what clients send (bodies, WebSocket messages, JWT parts,
        cursors): ``ValueError`` beyond the nesting limit, as for malformed JSON."""
        try:
            return decode_json(raw, self.options.limits.max_json_depth)
        except JsonTooDeep:
            self.refusals.note("JSON too deep")
            raise

    # ----------------------------------------------------------------- signatures

    def _verify(self, msg_hash: int, signature: Any, public_key: str, code: str) -> None:
        if not isinstance(signature, str):
            raise Rejected(code, 'signature must be a string \'["r","s"]\'')
        try:
            r, s = signing.parse_signature(signature)
            ok = signing.verify(msg_hash, r, s, int(public_key, 16))
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise Rejected(
                code,
                "signature verification failed",
                status=401 if code != "INVALID_ORDER_SIGNATURE" else 400,
            )

    def _parse_order(self, body: Any, *, modify: bool = False) -> tuple[OrderRequest, Any, int]:
        if not isinstance(body, dict):
            raise Rejected("BINDING_ERROR", "order must be a JSON object")
        for k in ("market", "side", "type", "size", "signature", "signature_timestamp"):
            if body.get(k) in (None, ""):
                raise Rejected("VALIDATION_ERROR", f"{k} is required")
        for k in ("market", "side", "type"):
            if not isinstance(body[k], str):
                raise Rejected("VALIDATION_ERROR", f"{k} must be a string")
        ts = body["signature_timestamp"]
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise Rejected("VALIDATION_ERROR", "signature_timestamp must be an integer (ms)")
        for k in ("size", "price", "trigger_price"):  # decimal strings, as Paradex (not 0.1)
            if body.get(k) is not None and not isinstance(body[k], str):
                raise Rejected("VALIDATION_ERROR", f"{k} must be a decimal string")
        price_raw = body.get("price")
        price = None if price_raw in (None, "") else parse_decimal(price_raw, "price")
        trig_raw = body.get("trigger_price")
        trigger = None if trig_raw in (None, "", "0") else parse_decimal(trig_raw, "trigger_price")
        flags = body.get("flags") or []
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            raise Rejected("VALIDATION_ERROR", "flags must be a list of strings")
        if len({f.upper() for f in flags}) != len(flags):
            raise Rejected("VALIDATION_ERROR", "flags must not repeat a flag")
        client_id = body.get("client_id") or ""
        if not isinstance(client_id, str):
            raise Rejected("VALIDATION_ERROR", "client_id must be a string")
        if len(client_id) <= 64 and any(c < " " or "\x7f" <= c <= "\x9f" for c in client_id):
            raise Rejected("VALIDATION_ERROR", "client_id must not contain control characters")
        recv = body.get("recv_window")
        if recv is not None and (isinstance(recv, bool) or not isinstance(recv, int)):
            raise Rejected("VALIDATION_ERROR", "recv_window must be an integer (ms)")
        req = OrderRequest(
            market=body["market"],
            side=body["side"],
            type=body["type"],
            size=parse_decimal(body["size"], "size"),
            price=price,
            instruction=body.get("instruction") or "GTC",
            client_id=client_id,
            flags=tuple(f.upper() for f in flags),
            trigger_price=trigger,
            stp=body.get("stp") or "EXPIRE_TAKER",
            signature_timestamp=ts,
            recv_window=None if modify else recv,
        )
        return req, body["signature"], ts

    async def _check_order_signature(
        self,
        address: str,
        req: OrderRequest,
        signature: Any,
        order_id: str | None = None,
        *,
        subkey: str | None = None,
    ) -> None:
        """Verify an order's signature against the key that authenticated: the account's
        own key, or the subkey of a subkey's JWT."""
        pub = subkey if subkey is not None else self.engine.accounts[address].public_key
        price = req.price if req.type in LIMIT_TYPES else None
        try:
            fields: dict[str, Any] = {
                "timestamp_ms": req.signature_timestamp,
                "market": req.market,
                "side": req.side,
                "order_type": req.type,
                "size": signing.to_chain_int_truncating(req.size),
                "price": signing.to_chain_int_truncating(price or Decimal(0)),
            }
        except (ValueError, TypeError) as err:
            raise Rejected("VALIDATION_ERROR", f"cannot encode order for signing: {err}") from None
        if not isinstance(signature, str):
            raise Rejected("INVALID_ORDER_SIGNATURE", 'signature must be a string \'["r","s"]\'')
        ok = await self.verifier.order_ok(
            self.chain_id,
            int(address, 16),
            int(pub, 16),
            signature,
            fields,
            None if order_id is None else int(order_id),
        )
        if not ok:
            raise Rejected("INVALID_ORDER_SIGNATURE", "signature verification failed")

    # ----------------------------------------------------------------- public endpoints

    def system_config(self) -> dict[str, Any]:
        return {
            "environment": "local",
            "starknet_gateway_url": "",
            "starknet_fullnode_rpc_url": "http://127.0.0.1:9/rpc/v0_10",
            "starknet_fullnode_rpc_base_url": "http://127.0.0.1:9/rpc",
            "l1_relayer_address": "0x0",
            "l2_relayer_address": "0x0",
            "universal_deployer_address": "0x0",
            "dime_staking_contract_address": "0x0",
            "paraclear_evm_account_hash": "0x0",
            "partial_liquidation_buffer": "0.2",
            "partial_liquidation_share_increment": "0.05",
            "starknet_chain_id": CHAIN_NAME,
            "block_explorer_url": "http://127.0.0.1:9/explorer",
            "paraclear_address": "0x286003f7c7bfc3f94e8f0af48b48302e7aee2fb13c23b141479ba00832ef2c6",
            "paraclear_decimals": 8,
            "paraclear_account_proxy_hash": PROXY_CLASS_HASH,
            "paraclear_account_hash": ACCOUNT_CLASS_HASH,
            "oracle_address": "0x2c6a867917ef858d6b193a0ff9e62b46d0dc760366920d631715d58baeaca1f",
            "bridged_tokens": [
                {
                    "name": "TEST USDC",
                    "symbol": "USDC",
                    "decimals": 6,
                    "l1_token_address": "0x29A873159D5e14AcBd63913D4A7E2df04570c666",
                    "l1_bridge_address": "0x8586e05adc0C35aa11609023d4Ae6075Cb813b4C",
                    "l2_token_address": self.engine.config.settlement_asset_address,
                    "l2_bridge_address": "0x46e9237f5408b5f899e72125dd69bd55485a287aaf24663d3ebe00d237fc7ef",
                }
            ],
            "l1_core_contract_address": "0x582CC5d9b509391232cd544cDF9da036e55833Af",
            "l1_operator_address": "0x11bACdFbBcd3Febe5e8CEAa75E0Ef6444d9B45FB",
            "l1_chain_id": "11155111",
            "liquidation_fee": "0.2",
        }

    async def r_config(self, request: Request) -> Response:
        return _json(self.system_config())

    async def r_state(self, request: Request) -> Response:
        return _json({"status": "ok"})

    async def r_time(self, request: Request) -> Response:
        return _json({"server_time": str(self.clock.now_ms())})

    async def r_markets(self, request: Request) -> Response:
        market = request.query_params.get("market")
        ex = self.engine
        if market and market not in ex.markets:
            raise Rejected("MARKET_NOT_FOUND", f"market {market!r} not found", status=404)
        rows = [
            m.spec.to_json(ex.started_at)
            for sym, m in ex.markets.items()
            if not market or sym == market
        ]
        return _json({"results": rows})

    async def r_markets_summary(self, request: Request) -> Response:
        market = request.query_params.get("market")
        if not market:
            raise Rejected("VALIDATION_ERROR", "market is required (a symbol or ALL)")
        ex = self.engine
        syms = list(ex.markets) if market == "ALL" else [market]
        return _json({"results": [ex.market_summary(s) for s in syms]})

    async def r_bbo(self, request: Request) -> Response:
        return _json(self.engine.bbo(request.path_params["market"]))

    async def r_orderbook(self, request: Request) -> Response:
        try:
            depth = int(request.query_params.get("depth", "20"))
        except ValueError:
            raise Rejected("INVALID_REQUEST_PARAMETER", "depth must be an integer") from None
        return _json(self.engine.orderbook(request.path_params["market"], max(1, depth)))

    async def r_trades(self, request: Request) -> Response:
        market = request.query_params.get("market")
        if market and market not in self.engine.markets:
            raise Rejected("MARKET_NOT_FOUND", f"market {market!r} not found")
        rows = _time_filter(self.engine.trades(market), request, "created_at")
        return _json(paginate(rows, request, 1000))

    # ----------------------------------------------------------------- onboarding and auth

    def _derive(self, public_key: str) -> str:
        try:
            addr = signing.derive_account_address(
                int(public_key, 16), int(ACCOUNT_CLASS_HASH, 16), int(PROXY_CLASS_HASH, 16)
            )
        except ValueError:
            raise Rejected("PUBLIC_KEY_INVALID", "public_key is not a valid Stark key") from None
        return norm_hex(addr)

    async def r_onboarding_get(self, request: Request) -> Response:
        q = request.query_params
        if q.get("account_signer_type") != "starknet":
            raise Rejected("VALIDATION_ERROR", "account_signer_type must be starknet")
        try:
            pub = norm_hex(q.get("public_key", ""))
        except ValueError:
            raise Rejected("PUBLIC_KEY_INVALID", "public_key must be a hex string") from None
        addr = self._derive(pub)
        return _json(
            {
                "account_signer_type": "starknet",
                "address": addr,
                "exists": addr in self.engine.accounts,
                "derivation_info": {
                    "class_hash": ACCOUNT_CLASS_HASH,
                    "proxy_class_hash": PROXY_CLASS_HASH,
                },
            }
        )

    def _header_account(self, request: Request) -> str:
        raw = request.headers.get("paradex-starknet-account")
        if not raw:
            raise Rejected("VALIDATION_ERROR", "PARADEX-STARKNET-ACCOUNT header is required")
        try:
            return norm_hex(raw)
        except ValueError:
            raise Rejected("INVALID_STARKNET_ADDRESS", "invalid starknet address") from None

    def _refuse_subkey(self, request: Request, public_key: str | None, what: str) -> None:
        """403 for a subkey's credentials on an account-management call: a subkey's JWT in
        ``Authorization``, or a registered subkey's ``public_key`` in the body."""
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        via_token = False
        if scheme.lower() == "bearer" and token.strip():
            try:
                ident = self._identity(self.jwt.verify(token.strip(), self.clock.now_ms()))
            except JwtError:
                ident = None
            via_token = ident is not None and ident[1] is not None
        if via_token or (public_key is not None and public_key in self.engine.subkeys):
            raise Rejected(
                SUBKEY_FORBIDDEN,
                f"a subkey cannot {what}: subkeys may only trade, cancel and read; "
                "use the account's main key",
                status=403,
            )

    async def r_onboarding_post(self, request: Request) -> Response:
        body = await self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("public_key"), str):
            raise Rejected("VALIDATION_ERROR", "public_key is required")
        try:
            pub = norm_hex(body["public_key"])
        except ValueError:
            raise Rejected("PUBLIC_KEY_INVALID", "public_key must be a hex string") from None
        self._refuse_subkey(request, pub, "onboard an account")
        address = self._header_account(request)
        if self._derive(pub) != address:
            raise Rejected(
                "INVALID_STARKNET_ADDRESS",
                "PARADEX-STARKNET-ACCOUNT does not match the address derived from public_key",
            )
        h = signing.onboarding_message_hash(self.chain_id, int(address, 16))
        self._verify(
            h,
            request.headers.get("paradex-starknet-signature"),
            pub,
            "INVALID_STARKNET_SIGNATURE",
        )
        self.commit(self.engine.onboard(pub, address, self.clock.now_ms()))
        return Response(b"", 200, media_type=JSON_TYPE)

    async def r_auth(self, request: Request) -> Response:
        address = self._header_account(request)
        acct = self.engine.accounts.get(address)
        if acct is None:
            raise Rejected("NOT_ONBOARDED", "User has never called /onboarding endpoint")
        signer = acct.public_key  # the key the signature must verify against
        path_key = request.path_params.get("public_key")
        if path_key is not None:
            try:
                pk = norm_hex(path_key)
            except ValueError:
                raise Rejected("PUBLIC_KEY_INVALID", "public key must be hex") from None
            if pk != acct.public_key:
                sk = self.engine.subkeys.get(pk)
                if sk is None or sk.account != address:
                    raise Rejected(
                        "INVALID_SUBKEY",
                        "the public key is not a registered subkey of this account",
                        status=401,
                    )
                signer = pk
        h = request.headers
        try:
            ts = int(h.get("paradex-timestamp", ""))
            exp = int(h.get("paradex-signature-expiration") or ts + 1800)
        except ValueError:
            raise Rejected("INVALID_TIMESTAMP", "PARADEX-TIMESTAMP must be unix seconds") from None
        now_s = self.clock.now_ms() // 1000
        if exp <= now_s:
            raise Rejected("INVALID_TIMESTAMP", "signature has expired", status=401)
        if ts > now_s + 300:
            raise Rejected("INVALID_TIMESTAMP", "timestamp is in the future", status=401)
        if exp - ts > 7 * 86400:
            raise Rejected("INVALID_TIMESTAMP", "signature expiration exceeds one week", status=401)
        msg = signing.auth_message_hash(self.chain_id, int(address, 16), ts, exp)
        self._verify(msg, h.get("paradex-starknet-signature"), signer, "INVALID_STARKNET_SIGNATURE")
        extra = {}
        if signer != acct.public_key:
            extra["subkey"] = signer  # a subkey's token: trade, cancel, read
        if request.query_params.get("token_usage") == "interactive":
            extra["token_usage"] = "interactive"
        token = self.jwt.issue(address, now_s, self.options.jwt_lifetime_s, **extra)
        return _json({"jwt_token": token})

    # ----------------------------------------------------------------- private reads

    async def r_account(self, request: Request) -> Response:
        a = request.state.account
        d = self.view.latest(self.view.accounts, a, self.cutoff("account"))
        if d is None:
            d = self.engine.account_summary(a)
        return _json(d)

    async def r_account_summary(self, request: Request) -> Response:
        resp = await self.r_account(request)
        return _json({"results": [json.loads(bytes(resp.body))]})

    async def r_account_info(self, request: Request) -> Response:
        a = request.state.account
        acct = self.engine.accounts[a]
        cfg = self.engine.config
        return _json(
            {
                "results": [
                    {
                        "account": a,
                        "created_at": acct.created_at,
                        "derivation_path": "",
                        "fees": {
                            "maker_rate": str(cfg.maker_fee),
                            "taker_rate": str(cfg.taker_fee),
                            # the sim trades perpetuals only, at one rate, with no discount
                            "commission_rate": "0",
                            "discount_rate": "0",
                            "perp_option_maker_rate": None,
                            "perp_option_taker_rate": None,
                            "dated_option_maker_rate": None,
                            "dated_option_taker_rate": None,
                            "spot_maker_rate": None,
                            "spot_taker_rate": None,
                        },
                        "has_ecosystem_nft": False,
                        "volume_tiers": {},
                        "kind": "main",
                        "isolated_market": "",
                        "parent_account": "",
                        "public_key": acct.public_key,
                        "username": "",
                    }
                ]
            }
        )

    async def r_balance(self, request: Request) -> Response:
        d = self.view.latest(self.view.balances, request.state.account, self.cutoff("balance"))
        return _json({"results": [d] if d else []})

    async def r_positions(self, request: Request) -> Response:
        rows = self.view.positions_of(request.state.account, self.cutoff("positions"))
        return _json({"results": rows})

    async def r_fills(self, request: Request) -> Response:
        rows = self.view.fills_of(request.state.account, self.cutoff("fills"))
        market = request.query_params.get("market")
        if market:
            rows = [r for r in rows if r["market"] == market]
        rows = _time_filter(rows, request, "created_at")
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return _json(paginate(rows, request))

    async def r_orders_open(self, request: Request) -> Response:
        rows = self.view.account_orders(request.state.account, self.cutoff("orders"))
        market = request.query_params.get("market")
        rows = [
            r
            for r in rows
            if r["status"] in OPEN_STATUSES and (not market or r["market"] == market)
        ]
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return _json({"results": rows})

    async def r_orders_history(self, request: Request) -> Response:
        rows = self.view.account_orders(request.state.account, self.cutoff("orders-history"))
        q = request.query_params
        status = q.get("status")
        if status and status not in (*OPEN_STATUSES, CLOSED):
            raise Rejected(
                "INVALID_REQUEST_PARAMETER", "status must be NEW, UNTRIGGERED, OPEN or CLOSED"
            )
        for key in ("market", "client_id", "side", "status", "type"):
            if q.get(key):
                rows = [r for r in rows if r[key] == q[key]]
        rows = _time_filter(rows, request, "created_at")
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return _json(paginate(rows, request))

    async def r_order_get(self, request: Request) -> Response:
        oid = request.path_params["order_id"]
        d = self.view.order(request.state.account, oid, self.cutoff("order"))
        if d is None:
            raise Rejected("ORDER_ID_NOT_FOUND", f"order {oid} not found")
        return _json(d)

    async def r_order_by_cid_get(self, request: Request) -> Response:
        cid = request.path_params["client_id"]
        rows = [
            r
            for r in self.view.account_orders(request.state.account, self.cutoff("order"))
            if r["client_id"] == cid
        ]
        if not rows:
            raise Rejected("CLIENT_ORDER_ID_NOT_FOUND", f"client_id {cid!r} not found")
        open_rows = [r for r in rows if r["status"] != CLOSED]
        pick = max(open_rows or rows, key=lambda r: (r["created_at"], r["id"]))
        return _json(pick)

    # ----------------------------------------------------------------- order entry

    async def _hold(self, request: Request, deadline_s: float) -> Response:
        """Accept-then-timeout: hold the response until the client disconnects (None) or
        the hold expires (503, as Paradex's own 30 s server timeout)."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and not self.stopping:
            if await request.is_disconnected():
                return Response(b"", 499)
            await asyncio.sleep(0.02)
        return _err("SERVICE_UNAVAILABLE", "request timed out", 503)

    async def r_order_post(self, request: Request) -> Response:
        a = request.state.account
        req, sig, _ = self._parse_order(await self._body(request))
        self.engine.validate(a, req, self.clock.now_ms())
        await self._check_order_signature(a, req, sig, subkey=request.state.subkey)
        accepted, events = self.engine.place_order(a, req, self.clock.now_ms())
        self.commit(events)
        if self.faults.take_accept_then_timeout():
            return await self._hold(request, self.faults.config.timeout_hold_s)
        return _json(accepted, 201)

    async def r_orders_batch_post(self, request: Request) -> Response:
        a = request.state.account
        body = await self._body(request)
        if not isinstance(body, list):
            raise Rejected("BINDING_ERROR", "body must be a JSON array of orders")
        if not 1 <= len(body) <= MAX_BATCH:
            raise Rejected("BATCH_SIZE_OUT_OF_RANGE", f"batch size must be in [1, {MAX_BATCH}]")
        parsed = []
        for i, item in enumerate(body):
            try:
                parsed.append(self._parse_order(item))
            except Rejected as err:
                raise Rejected(
                    err.code, err.message, status=err.status, data={"index": i}
                ) from None
        checks = await asyncio.gather(
            *(
                self._check_order_signature(a, req, sig, subkey=request.state.subkey)
                for req, sig, _ in parsed
            ),
            return_exceptions=True,
        )
        for i, outcome in enumerate(checks):
            if isinstance(outcome, Rejected):
                raise Rejected(
                    outcome.code, outcome.message, status=outcome.status, data={"index": i}
                )
            if isinstance(outcome, BaseException):
                raise outcome
        reqs = [req for req, _, _ in parsed]
        accepted, events = self.engine.place_batch(a, reqs, self.clock.now_ms())
        self.commit(events)
        if self.faults.take_accept_then_timeout():
            return await self._hold(request, self.faults.config.timeout_hold_s)
        return _json({"orders": accepted, "errors": []}, 201)

    async def r_order_put(self, request: Request) -> Response:
        a = request.state.account
        oid = request.path_params["order_id"]
        body = await self._body(request)
        req, sig, _ = self._parse_order(body, modify=True)
        if isinstance(body, dict) and "id" in body and str(body["id"]) != oid:
            raise Rejected("VALIDATION_ERROR", "body id does not match the path")
        if not oid.isdigit():
            raise Rejected("ORDER_ID_NOT_FOUND", f"order {oid} not found")
        self.engine.get_order(a, oid)
        await self._check_order_signature(a, req, sig, order_id=oid, subkey=request.state.subkey)
        order, events = self.engine.modify_order(a, oid, req, self.clock.now_ms())
        self.commit(events)
        return _json(order)

    async def r_order_delete(self, request: Request) -> Response:
        self.commit(
            self.engine.cancel_order(
                request.state.account, request.path_params["order_id"], self.clock.now_ms()
            )
        )
        return Response(status_code=204)

    async def r_order_by_cid_delete(self, request: Request) -> Response:
        market = request.query_params.get("market") or None
        self.commit(
            self.engine.cancel_by_client_id(
                request.state.account,
                request.path_params["client_id"],
                market,
                self.clock.now_ms(),
            )
        )
        return Response(status_code=204)

    async def r_orders_delete_all(self, request: Request) -> Response:
        market = request.query_params.get("market") or None
        self.commit(self.engine.cancel_all(request.state.account, market, self.clock.now_ms()))
        return _json({})

    async def r_orders_batch_delete(self, request: Request) -> Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise Rejected("BINDING_ERROR", "body must be {order_ids, client_order_ids}")
        ids = body.get("order_ids") or []
        cids = body.get("client_order_ids") or []
        if not isinstance(ids, list) or not isinstance(cids, list):
            raise Rejected("VALIDATION_ERROR", "order_ids and client_order_ids must be lists")
        if not 1 <= len(ids) + len(cids) <= MAX_BATCH:
            raise Rejected("BATCH_SIZE_OUT_OF_RANGE", f"batch size must be in [1, {MAX_BATCH}]")
        if not all(isinstance(i, str) for i in ids + cids):
            raise Rejected("VALIDATION_ERROR", "order_ids and client_order_ids must be strings")
        results, events = self.engine.cancel_batch(
            request.state.account,
            [str(i) for i in ids],
            [str(c) for c in cids],
            self.clock.now_ms(),
        )
        self.commit(events)
        return _json({"results": results})

    # ----------------------------------------------------------------- admin API

    def _admin_refusal(self, request: Request) -> str | None:
        """Why an admin request is refused (None: allowed). The peer must be loopback, the
        ``Host`` a loopback name (a page on another name that resolves here, DNS rebinding,
        is refused), and a browser's request (``Origin``, or ``Sec-Fetch-Site`` other than a
        typed address) is refused unless its origin was allowed at start (CSRF)."""
        peer = request.client.host if request.client else ""
        if peer not in LOOPBACK_HOSTS:
            return "the admin API is loopback-only"
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.strip("[]").lower() not in LOOPBACK_HOSTS:
            return "the admin API needs a loopback Host (localhost, 127.0.0.1 or [::1])"
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site", "none")
        browser = origin is not None or site != "none"
        if browser and (origin is None or origin not in self.options.admin_origins):
            return "the admin API refuses browser requests (origin not allowed)"
        return None

    def admin(self, fn: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            why = self._admin_refusal(request)
            if why is not None:
                self.refusals.note("admin request refused")
                return _err("REQUEST_NOT_ALLOWED", why, 403)
            try:
                return await fn(request)
            except Rejected as err:
                return _rejected(err)
            except (ValueError, TypeError, KeyError) as err:
                return _err("VALIDATION_ERROR", str(err), 400)
            except Exception:
                _log.exception("%s %s failed", request.method, request.url.path)
                return _err("INTERNAL_ERROR", "internal server error", 500)

        return wrapped

    async def _admin_body(self, request: Request) -> dict[str, Any]:
        body = await self._body(request)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    async def a_state(self, request: Request) -> Response:
        now = self.clock.now_ms()
        d = self.engine.truth()
        d["faults"] = self.faults.to_json(now)
        d["staleness_ms"] = dict(self.staleness)
        d["clock_offset_ms"] = self.clock.offset_ms
        d["ws_connections"] = len(self.hub.conns)
        d["ws_sent"] = self.hub.sent
        return _json(d)

    async def a_faults_get(self, request: Request) -> Response:
        return _json(self.faults.to_json(self.clock.now_ms()))

    async def a_faults_post(self, request: Request) -> Response:
        body = await self._admin_body(request)
        now = self.clock.now_ms()
        disconnect = body.pop("disconnect_now", False)
        if not isinstance(disconnect, bool):
            raise ValueError("disconnect_now must be true or false")
        self.faults.update(body, now)
        if "ws_silence_s" in body:
            self.hub.silence_all(self.faults.config.ws_silence_s)
        if disconnect:
            await self.hub.disconnect_all()
        return _json(self.faults.to_json(now))

    async def a_staleness(self, request: Request) -> Response:
        body = await self._admin_body(request)
        self.set_staleness(body)
        return _json(dict(self.staleness))

    async def a_reset(self, request: Request) -> Response:
        await self.hub.disconnect_all(1012)
        self.reset()
        return _json({"status": "ok"})

    async def a_force_fill(self, request: Request) -> Response:
        body = await self._admin_body(request)
        size = body.get("size")
        price = body.get("price")
        self.commit(
            self.engine.force_fill(
                str(body["order_id"]),
                None if size is None else parse_decimal(size, "size"),
                None if price is None else parse_decimal(price, "price"),
                self.clock.now_ms(),
            )
        )
        return _json(self.engine.orders[str(body["order_id"])].to_json())

    async def a_mark_price(self, request: Request) -> Response:
        body = await self._admin_body(request)
        market = str(body["market"])
        self.commit(
            self.engine.set_mark(market, parse_decimal(body["price"], "price"), self.clock.now_ms())
        )
        return _json({"market": market, "mark_price": str(self.engine.mark(market))})

    async def a_mark_walk(self, request: Request) -> Response:
        body = await self._admin_body(request)
        steps = body.get("steps", 1)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 < steps <= 100_000:
            raise ValueError("steps must be an integer in [1, 100000]")
        events = self.engine.walk(steps, self.clock.now_ms())
        self.commit(events)
        return _json(
            {
                "events": len(events),
                "marks": {s: str(self.engine.mark(s)) for s in self.engine.markets},
            }
        )

    async def a_disconnect(self, request: Request) -> Response:
        body = await self._admin_body(request)
        n = await self.hub.disconnect_all(int(body.get("code", 1012)))
        return _json({"disconnected": n})

    async def a_time_advance(self, request: Request) -> Response:
        body = await self._admin_body(request)
        ms = body.get("ms")
        room = MAX_CLOCK_OFFSET_MS - self.clock.offset_ms
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= room:
            raise ValueError(
                f"ms must be an integer in [0, {room}]: the clock runs at most "
                f"{MAX_CLOCK_OFFSET_MS // 86_400_000} days ahead (POST /_sim/reset sets it back)"
            )
        self.clock.offset_ms += ms
        self.commit(self.engine.advance(self.clock.now_ms()))
        return _json({"now_ms": self.clock.now_ms(), "offset_ms": self.clock.offset_ms})

    async def a_deposit(self, request: Request) -> Response:
        body = await self._admin_body(request)
        addr = norm_hex(str(body["account"]))
        amount = parse_decimal(body["amount"], "amount")
        self.commit(self.engine.deposit(addr, amount, self.clock.now_ms()))
        return _json(self.engine.balance(addr))

    async def a_subkeys_get(self, request: Request) -> Response:
        account = request.query_params.get("account")
        rows = [
            sk.to_json()
            for sk in self.engine.subkeys.values()
            if account is None or sk.account == norm_hex(account)
        ]
        rows.sort(key=lambda d: (d["account"], d["created_at"], d["public_key"]))
        return _json({"results": rows})

    def _admin_public_key(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("public_key must be a hex string")
        try:
            pub = norm_hex(value)
        except ValueError:
            raise ValueError("public_key must be a hex string") from None
        if key_point(int(pub, 16)) is None:
            raise Rejected("PUBLIC_KEY_INVALID", "public_key is not a valid Stark public key")
        return pub

    async def a_subkeys_post(self, request: Request) -> Response:
        """Register a trade-only subkey of an onboarded account (idempotent)."""
        body = await self._admin_body(request)
        if not isinstance(body.get("account"), str):
            raise ValueError("account must be a hex string")
        addr = norm_hex(body["account"])
        pub = self._admin_public_key(body.get("public_key"))
        sk = self.engine.register_subkey(addr, pub, self.clock.now_ms())
        self.dirty = True
        return _json(sk.to_json())

    async def a_subkeys_delete(self, request: Request) -> Response:
        """Remove a subkey: its auth signatures and the JWTs it obtained stop working."""
        pub = self._admin_public_key(request.path_params["public_key"])
        sk = self.engine.remove_subkey(pub)
        self.dirty = True
        return _json(sk.to_json())

    async def a_position_adjust(self, request: Request) -> Response:
        """Fault: change a position's size by ``size_delta`` with no fill (an exchange-side
        adjustment nothing explains: a reconcile ``invariant_position``)."""
        body = await self._admin_body(request)
        addr = norm_hex(str(body["account"]))
        market = str(body["market"])
        delta = parse_decimal(body["size_delta"], "size_delta")
        self.commit(self.engine.adjust_position(addr, market, delta, self.clock.now_ms()))
        self.faults.injected["position_adjusted"] += 1
        eng = self.engine
        return _json(eng.positions[(addr, market)].to_json(eng.markets[market].mark))

    # ----------------------------------------------------------------- WebSocket

    def _channel_ok(self, channel: str) -> tuple[bool, bool]:
        """(valid?, private?) for a channel name."""
        markets = self.engine.markets
        if channel in PRIVATE_EXACT:
            return True, True
        for prefix, private, allow_all in (
            ("orders.", True, True),
            ("fills.", True, True),
            ("bbo.", False, True),
            ("trades.", False, True),
        ):
            if channel.startswith(prefix):
                rest = channel[len(prefix) :]
                return (rest in markets or (allow_all and rest == "ALL")), private
        return False, False

    async def ws_endpoint(self, websocket: WebSocket) -> None:
        if self.faults.refusing(self.clock.now_ms()):
            try:
                await websocket.send_denial_response(
                    _err("SERVICE_UNAVAILABLE", "connections refused (injected fault)", 503)
                )
            except RuntimeError:
                await websocket.close(1013)
                return
            # The 503 has been sent and the socket closed. uvicorn's websockets-sansio
            # protocol does not count a denial response as a finished handshake and would log
            # "ASGI callable returned without completing handshake" for every refusal: tell it
            # the handshake is over (its bound ``receive`` leads to the protocol object).
            proto: Any = getattr(websocket._receive, "__self__", None)
            if getattr(proto, "initial_response", None) is not None and getattr(
                proto, "close_sent", False
            ):
                proto.handshake_complete = True
            return
        await websocket.accept()
        conn = Conn(websocket)
        self.hub.conns.add(conn)
        sender = asyncio.create_task(conn.sender())
        try:
            while True:
                msg = await websocket.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                text = msg.get("text")
                if text is None:
                    raw = msg.get("bytes") or b""
                    text = raw.decode("utf-8", "replace")
                await self._ws_safe_handle(conn, text)
        except Exception:  # connection errors end the session
            pass
        finally:
            conn.closed = True
            conn.end_silence()
            self.hub.remove(conn)
            if conn.cancel_on_disconnect and conn.account in self.engine.accounts:
                self._cancel_placed(conn)
            conn.queue.put_nowait(None)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            if websocket.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close()

    async def _ws_reply(
        self, conn: Conn, req_id: Any, result: Any = None, error: Any = None
    ) -> None:
        us_in = time.time_ns() // 1000
        msg: dict[str, Any] = {"jsonrpc": "2.0"}
        if error is not None:
            msg["error"] = error
        else:
            msg["result"] = result if result is not None else {}
        us_out = time.time_ns() // 1000
        msg.update({"usIn": us_in, "usOut": us_out, "usDiff": us_out - us_in, "id": req_id})
        await conn.send(json.dumps(msg, separators=(",", ":")))

    async def _ws_safe_handle(self, conn: Conn, text: str) -> None:
        """:meth:`_ws_handle`, answering an unexpected exception with JSON-RPC ``-32603``
        (logged) instead of ending the connection."""
        try:
            await self._ws_handle(conn, text)
        except Exception:
            _log.exception("WebSocket request failed: %.200s", text)
            rid: Any = None
            with contextlib.suppress(ValueError, AttributeError):
                req = self.decode(text)
                rid = req.get("id") if isinstance(req, dict) else None
            await self._ws_reply(conn, rid, error={"code": -32603, "message": "internal error"})

    async def _ws_handle(self, conn: Conn, text: str) -> None:
        try:
            req = self.decode(text)
        except JsonTooDeep as err:
            await self._ws_reply(
                conn, None, error={"code": -32600, "message": "invalid request", "data": str(err)}
            )
            return
        except ValueError:
            await self._ws_reply(conn, None, error={"code": -32700, "message": "parse error"})
            return
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            rid = req.get("id") if isinstance(req, dict) else None
            await self._ws_reply(conn, rid, error={"code": -32600, "message": "invalid request"})
            return
        rid = req.get("id")
        method = req["method"]
        params = req.get("params")
        if method == "auth":
            token = params.get("bearer") if isinstance(params, dict) else None
            if not isinstance(token, str) or token.count(".") != 2:
                await self._ws_reply(
                    conn, rid, error={"code": 40110, "message": "Malformed Bearer Token"}
                )
                return
            try:
                claims = self.jwt.verify(token, self.clock.now_ms())
            except JwtError as err:
                await self._ws_reply(
                    conn, rid,
                    error={"code": 40111, "message": "Invalid Bearer Token", "data": str(err)},
                )  # fmt: skip
                return
            ident = self._identity(claims)
            if ident is None:
                await self._ws_reply(
                    conn, rid, error={"code": 40111, "message": "Invalid Bearer Token"}
                )
                return
            sub, conn.subkey = ident
            if conn.account is not None and conn.account != sub:
                for ch in list(conn.subs):  # private subscriptions belonged to the old account
                    if self._channel_ok(ch)[1]:
                        self.hub.unsubscribe(conn, ch)
            conn.account = sub
            await self._ws_reply(conn, rid, {"node_id": "paradexctl-sim"})
            return
        if method in ("subscribe", "unsubscribe"):
            channel = params.get("channel") if isinstance(params, dict) else None
            if not isinstance(channel, str):
                await self._ws_reply(
                    conn, rid,
                    error={"code": -32602, "message": "invalid params", "data": "channel is required"},
                )  # fmt: skip
                return
            ok, private = self._channel_ok(channel)
            if method == "unsubscribe":
                if channel not in conn.subs:
                    await self._ws_reply(
                        conn, rid,
                        error={"code": -32600, "message": "invalid unsubscribe request",
                               "data": "not subscribed to channel"},
                    )  # fmt: skip
                    return
                self.hub.unsubscribe(conn, channel)
                await self._ws_reply(conn, rid, {"channel": channel})
                return
            if not ok:
                await self._ws_reply(
                    conn, rid,
                    error={"code": -32600, "message": "invalid subscribe request",
                           "data": "invalid channel"},
                )  # fmt: skip
                return
            if private and conn.account is None:
                await self._ws_reply(
                    conn, rid,
                    error={"code": 40300, "message": "permission denied, authentication required"},
                )  # fmt: skip
                return
            if channel in conn.subs:
                await self._ws_reply(
                    conn, rid,
                    error={"code": -32600, "message": "invalid subscribe request",
                           "data": "already subscribed to channel"},
                )  # fmt: skip
                return
            self.hub.subscribe(conn, channel, private)
            await self._ws_reply(conn, rid, {"channel": channel})
            return
        if method.startswith("order."):
            await self._ws_order(conn, rid, method, params)
            return
        await self._ws_reply(conn, rid, error={"code": -32601, "message": "method does not exist"})

    # ----------------------------------------------------------------- WebSocket order entry

    def _cancel_placed(self, conn: Conn) -> None:
        assert conn.account is not None
        now = self.clock.now_ms()
        for oid in sorted(conn.placed):
            o = self.engine.orders.get(oid)
            if o is not None and o.status != CLOSED:
                self.commit(self.engine.cancel_order(conn.account, oid, now))

    async def _ws_place(self, conn: Conn, body: Any) -> dict[str, Any]:
        """One order.create: the result object, or raises :class:`Rejected`."""
        assert conn.account is not None
        received_ns = time.time_ns()
        req, sig, _ = self._parse_order(body)
        self.engine.validate(conn.account, req, self.clock.now_ms())
        await self._check_order_signature(conn.account, req, sig, subkey=conn.subkey)
        accepted, events = self.engine.place_order(conn.account, req, self.clock.now_ms())
        conn.placed.add(accepted["id"])
        self.commit(events)
        return {"order": accepted, "created_at": accepted["created_at"], "received_at": received_ns}

    async def _ws_order(self, conn: Conn, rid: Any, method: str, params: Any) -> None:
        """``order.*`` methods (``paradex-api.md`` §5.8); errors are code 100 with the
        Paradex error code in ``data``."""
        if conn.account is None or conn.account not in self.engine.accounts:
            await self._ws_reply(
                conn, rid,
                error={"code": 40300, "message": "permission denied, authentication required"},
            )  # fmt: skip
            return
        sk = None if conn.subkey is None else self.engine.subkeys.get(conn.subkey)
        if conn.subkey is not None and (sk is None or sk.account != conn.account):
            await self._ws_reply(
                conn, rid,
                error={"code": 40300, "message": "permission denied, the subkey was removed"},
            )  # fmt: skip
            return
        account = conn.account
        now = self.clock.now_ms()
        p = params if isinstance(params, dict) else {}
        try:
            if method == "order.create":
                result = await self._ws_place(conn, params)
                if self.faults.take_accept_then_timeout():
                    return  # placed, but the reply never comes
            elif method == "order.create_batch":
                items = params if isinstance(params, list) else p.get("orders")
                if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
                    raise Rejected(
                        "BATCH_SIZE_OUT_OF_RANGE", f"batch size must be in [1, {MAX_BATCH}]"
                    )
                results: list[dict[str, Any]] = []
                for item in items:
                    try:
                        results.append(await self._ws_place(conn, item))
                    except Rejected as err:
                        results.append({"error": err.message})
                result = {"results": results}
            elif method == "order.modify":
                oid = str(p.get("id", ""))
                req, sig, _ = self._parse_order(p, modify=True)
                if not oid.isdigit():
                    raise Rejected("ORDER_ID_NOT_FOUND", f"order {oid} not found")
                self.engine.get_order(account, oid)
                await self._check_order_signature(
                    account, req, sig, order_id=oid, subkey=conn.subkey
                )
                order, events = self.engine.modify_order(account, oid, req, self.clock.now_ms())
                self.commit(events)
                result = {"order": order}
            elif method == "order.cancel":
                if "id" in p:
                    oid = str(p["id"])
                    self.commit(self.engine.cancel_order(account, oid, now))
                elif "client_id" in p:
                    market = p.get("market")
                    if not isinstance(market, str):
                        raise Rejected("VALIDATION_ERROR", "market is required with client_id")
                    oid = self.engine.find_by_client_id(account, str(p["client_id"])).id
                    self.commit(
                        self.engine.cancel_by_client_id(account, str(p["client_id"]), market, now)
                    )
                else:
                    raise Rejected("VALIDATION_ERROR", "id or client_id is required")
                result = {"order_id": oid, "status": "QUEUED_FOR_CANCELLATION"}
            elif method == "order.cancel_batch":
                ids = p.get("order_ids")
                if not isinstance(ids, list):
                    raise Rejected("VALIDATION_ERROR", "order_ids must be a list")
                rows, events = self.engine.cancel_batch(account, [str(i) for i in ids], [], now)
                self.commit(events)
                result = {
                    "results": [
                        {k: r[k] for k in ("id", "market", "status") if k in r} for r in rows
                    ]
                }
            elif method == "order.cancel_all":
                market = p.get("market")
                self.commit(
                    self.engine.cancel_all(
                        account, market if isinstance(market, str) else None, now
                    )
                )
                result = {"status": "ok"}
            elif method == "order.cancel_on_disconnect":
                enabled = p.get("enabled")
                if not isinstance(enabled, bool):
                    raise Rejected("VALIDATION_ERROR", "enabled must be true or false")
                conn.cancel_on_disconnect = enabled
                result = {"enabled": enabled}
            else:
                await self._ws_reply(
                    conn, rid, error={"code": -32601, "message": "method does not exist"}
                )
                return
        except Rejected as err:
            await self._ws_reply(
                conn, rid, error={"code": 100, "message": err.message, "data": err.code}
            )
            return
        await self._ws_reply(conn, rid, result)

    # ----------------------------------------------------------------- routing

    def _routes(self) -> list[BaseRoute]:
        e, adm = self.endpoint, self.admin
        pub: list[tuple[str, Handler, list[str]]] = [
            ("/system/config", self.r_config, ["GET"]),
            ("/system/state", self.r_state, ["GET"]),
            ("/system/time", self.r_time, ["GET"]),
            ("/markets", self.r_markets, ["GET"]),
            ("/markets/summary", self.r_markets_summary, ["GET"]),
            ("/bbo/{market}", self.r_bbo, ["GET"]),
            ("/orderbook/{market}", self.r_orderbook, ["GET"]),
            ("/trades", self.r_trades, ["GET"]),
            ("/onboarding", self.r_onboarding_get, ["GET"]),
        ]
        auth: list[tuple[str, Handler, list[str]]] = [
            ("/onboarding", self.r_onboarding_post, ["POST"]),
            ("/auth", self.r_auth, ["POST"]),
            ("/auth/{public_key}", self.r_auth, ["POST"]),
        ]
        priv: list[tuple[str, Handler, list[str]]] = [
            ("/account", self.r_account, ["GET"]),
            ("/account/summary", self.r_account_summary, ["GET"]),
            ("/account/info", self.r_account_info, ["GET"]),
            ("/balance", self.r_balance, ["GET"]),
            ("/positions", self.r_positions, ["GET"]),
            ("/fills", self.r_fills, ["GET"]),
            ("/orders-history", self.r_orders_history, ["GET"]),
            ("/orders", self.r_orders_open, ["GET"]),
            ("/orders/by_client_id/{client_id}", self.r_order_by_cid_get, ["GET"]),
        ]
        orders: list[tuple[str, Handler, list[str]]] = [
            ("/orders", self.r_order_post, ["POST"]),
            ("/orders", self.r_orders_delete_all, ["DELETE"]),
            ("/orders/batch", self.r_orders_batch_post, ["POST"]),
            ("/orders/batch", self.r_orders_batch_delete, ["DELETE"]),
            ("/orders/by_client_id/{client_id}", self.r_order_by_cid_delete, ["DELETE"]),
            ("/orders/{order_id}", self.r_order_put, ["PUT"]),
            ("/orders/{order_id}", self.r_order_delete, ["DELETE"]),
        ]
        routes: list[BaseRoute] = [
            WebSocketRoute("/v1", self.ws_endpoint),
            WebSocketRoute("/", self.ws_endpoint),
        ]
        for path, fn, methods in pub:
            routes.append(Route("/v1" + path, e(fn, private=False), methods=methods))
        for path, fn, methods in auth:
            routes.append(
                Route("/v1" + path, e(fn, private=False, category="auth"), methods=methods)
            )
        for path, fn, methods in orders:
            routes.append(
                Route("/v1" + path, e(fn, private=True, category="orders"), methods=methods)
            )
        for path, fn, methods in priv:
            routes.append(Route("/v1" + path, e(fn, private=True), methods=methods))
        routes.append(
            Route("/v1/orders/{order_id}", e(self.r_order_get, private=True), methods=["GET"])
        )
        admin: list[tuple[str, Handler, list[str]]] = [
            ("/state", self.a_state, ["GET"]),
            ("/faults", self.a_faults_get, ["GET"]),
            ("/faults", self.a_faults_post, ["POST"]),
            ("/staleness", self.a_staleness, ["POST"]),
            ("/reset", self.a_reset, ["POST"]),
            ("/force-fill", self.a_force_fill, ["POST"]),
            ("/mark-price", self.a_mark_price, ["POST"]),
            ("/mark-walk", self.a_mark_walk, ["POST"]),
            ("/disconnect", self.a_disconnect, ["POST"]),
            ("/time/advance", self.a_time_advance, ["POST"]),
            ("/deposit", self.a_deposit, ["POST"]),
            ("/position-adjust", self.a_position_adjust, ["POST"]),
            ("/subkeys", self.a_subkeys_get, ["GET"]),
            ("/subkeys", self.a_subkeys_post, ["POST"]),
            ("/subkeys/{public_key}", self.a_subkeys_delete, ["DELETE"]),
        ]
        for path, fn, methods in admin:
            routes.append(Route("/_sim" + path, adm(fn), methods=methods))
        routes.append(WebSocketRoute("/{path:path}", self.ws_endpoint))
        return routes


def create_app(options: SimOptions | None = None) -> Starlette:
    """A Starlette app serving the simulator (``app.state.sim`` is the :class:`SimApp`)."""
    sim = SimApp(options)
    sim.app.state.sim = sim
    return sim.app

"""The WebSocket hub: engine events to the subscribed connections (a ``seq_no`` per channel,
the delay/drop/duplicate/silence faults), and each connection's ordered send queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.websockets import WebSocket

from .exchange import (
    Event,
)
from .faults import Faults

_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_NOTIFY_HEAD = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":'
#: unsent WebSocket messages a connection may accumulate before it is dropped
MAX_UNSENT = 20_000
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

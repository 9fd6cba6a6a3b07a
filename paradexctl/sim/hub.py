"""The WebSocket hub: engine events to the subscribed connections (a ``seq_no`` per channel,
the delay/drop/duplicate/silence faults), and each connection's ordered send queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from starlette.websockets import WebSocket

from .exchange import (
    Event,
)
from .faults import Faults

# The payload encoder, built once (``json.JSONEncoder.encode`` builds its C encoder anew on
# every call): compact, the same text as ``json.dumps(obj, separators=(",", ":"))``. Engine
# payloads are never circular, so there is no marker check.
_PY_ENCODER = json.JSONEncoder(separators=(",", ":"))
_PY_ENCODE = _PY_ENCODER.encode
_encode_chunks = (
    c_make_encoder(None, _PY_ENCODER.default, encode_basestring_ascii, None, ":", ",", False,
                   False, True)
    if c_make_encoder is not None
    else None
)  # fmt: skip


def _encode(obj: Any) -> str:
    """One payload as compact JSON (``json.dumps(obj, separators=(",", ":"))``)."""
    if _encode_chunks is None:
        return _PY_ENCODE(obj)
    return "".join(_encode_chunks(obj, 0))


_NOTIFY_HEAD = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":'
#: unsent WebSocket messages a connection may accumulate before it is dropped
MAX_UNSENT = 20_000
#: at most this many queued messages go out with one transport write
SEND_BATCH = 256
#: :meth:`Hub.emit_order_updates` publishes this many events at a time
EMIT_CHUNK = 1000
#: ... and waits at most this long (s) for a subscriber's queue to drain before a chunk
EMIT_ROOM_WAIT_S = 5.0
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


#: "not looked up yet" (Conn's writer), "nothing held" (its sender)
_UNKNOWN: Any = object()


class Conn:
    """One WebSocket connection: its subscriptions, and an ordered, delayed send queue."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.account: str | None = None
        #: the subkey whose JWT authenticated the connection (None: the account's own key)
        self.subkey: str | None = None
        #: authenticated with a read-only API token: subscriptions only, no order.*
        self.read_only = False
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
        #: the batch writer of this connection's server (found on first use)
        self._writer: _FrameWriter | None = _UNKNOWN
        #: :meth:`wait_room`'s waiters: (the queue size that wakes one, its future)
        self._room: list[tuple[int, asyncio.Future[None]]] = []

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

    async def send_batch(self, texts: list[str]) -> None:
        """Send ``texts`` in order, as one transport write when the server allows it."""
        async with self.lock:
            if self.closed or (self.silent_until and self.silent()):
                return
            if self._writer is _UNKNOWN:
                self._writer = _FrameWriter.find(self.ws)
            writer = self._writer
            if writer is not None:
                await writer.write(texts)
                return
            for text in texts:
                await self.ws.send_text(text)

    async def wait_room(self, limit: int) -> None:
        """Return once at most ``limit`` messages wait unsent, or the connection closed."""
        while self.queue.qsize() > limit and not self.closed:
            waiter = (limit, asyncio.get_running_loop().create_future())
            self._room.append(waiter)
            try:
                await waiter[1]
            finally:
                self._room.remove(waiter)

    def _wake_room(self, everyone: bool = False) -> None:
        size = self.queue.qsize()
        for limit, fut in self._room:
            if (everyone or size <= limit) and not fut.done():
                fut.set_result(None)

    async def sender(self) -> None:
        """Send the queue in order, each message once it is due: every message already
        queued and due goes out with the first, up to :data:`SEND_BATCH`, in one write."""
        try:
            await self._send_queue()
        finally:
            self._wake_room(everyone=True)

    async def _send_queue(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self.queue
        held: Any = _UNKNOWN  # an item taken from the queue but not sent yet
        while True:
            if held is _UNKNOWN:
                item = await queue.get()
            else:
                item, held = held, _UNKNOWN
            if item is None:
                if self.overflowed:
                    with contextlib.suppress(Exception):
                        await self.ws.close(1008, "too many unread messages")
                return
            due, text = item
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
                now = loop.time()
            batch = [text]
            while len(batch) < SEND_BATCH and queue.qsize():
                nxt = queue.get_nowait()
                if nxt is None or nxt[0] > now:  # the end, or not due yet: after this batch
                    held = nxt
                    break
                batch.append(nxt[1])
            try:
                await self.send_batch(batch)
            except Exception:  # the peer went away; the reader will clean up
                self.closed = True
                return
            if self._room:
                self._wake_room()


class _FrameWriter:
    """Writes a batch of text messages with one transport write, through the server's own
    WebSocket protocol object (uvicorn's ``websockets-sansio``: its ``websockets``
    connection frames each message, compression included, exactly as its ASGI ``send``
    does, and its flow control is awaited the same way). One write per batch instead of one
    ASGI call and one socket ``send`` per message."""

    def __init__(self, proto: Any) -> None:
        self.proto = proto

    @classmethod
    def find(cls, ws: WebSocket) -> _FrameWriter | None:
        """The writer of ``ws``, or None when its server is not one this knows (then each
        message goes through the ASGI ``send``). uvicorn gives the app its protocol's bound
        ``receive`` as the ASGI callable; that is how the protocol is found."""
        proto: Any = getattr(ws._receive, "__self__", None)
        needed = ("conn", "transport", "writable", "close_sent", "disconnected")
        if proto is None or not all(hasattr(proto, a) for a in needed):
            return None
        conn = proto.conn
        if not (hasattr(conn, "send_text") and hasattr(conn, "data_to_send")):
            return None
        return cls(proto)

    async def write(self, texts: list[str]) -> None:
        p = self.proto
        await p.writable.wait()
        if p.disconnected or p.close_sent or p.transport.is_closing():
            raise ConnectionError("the WebSocket is closed")
        send_text = p.conn.send_text
        for text in texts:
            send_text(text.encode())
        p.transport.write(b"".join(p.conn.data_to_send()))


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
        #: the text of a notification up to its payload, per channel
        self._heads: dict[str, str] = {}

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
        index = self.index
        heads = self._heads
        plan = self.faults.plan_delivery
        for ev in events:
            private, channels = _event_channels(ev)
            if not channels:
                continue
            payload: str | None = None
            for ch in channels:
                subs = index.get((ev.account if private else None, ch))
                if not subs:
                    continue
                if payload is None:
                    payload = _encode(self._stamp(ev, now_ms))
                head = heads.get(ch)
                if head is None:
                    head = heads[ch] = f'{_NOTIFY_HEAD}{_encode(ch)},"data":'
                text = f"{head}{payload}}}}}"
                for conn in subs:
                    if conn.silent_until and conn.silent():
                        self.faults.injected["ws_silence_dropped"] += 1
                        continue
                    for delay in plan():
                        conn.enqueue(text, delay)
                        self.sent += 1

    async def emit_order_updates(
        self, order: dict[str, Any], count: int, now_ms: Callable[[], int]
    ) -> int:
        """Publish ``count`` updates of one order to its account's order channels, as
        engine events (stamped, encoded and queued like any other), for benchmarks: copies
        of ``order`` whose ``last_updated_at`` is 1 ms later each time. The engine and REST
        are not touched. Published in chunks of :data:`EMIT_CHUNK`; before each, every
        subscriber's queue is let drain to half of :data:`MAX_UNSENT` for up to
        :data:`EMIT_ROOM_WAIT_S` (a client that reads keeps up; one that does not is dropped
        as a slow consumer, as always). Stops early when nobody is subscribed; returns how
        many were published."""
        account, market = order["account"], order["market"]
        keys = ((account, f"orders.{market}"), (account, "orders.ALL"))
        at = int(order["last_updated_at"])
        done = 0
        while done < count:
            targets = {c for k in keys for c in self.index.get(k, ()) if not c.closed}
            if not targets:
                break
            for conn in targets:  # a client that stopped reading is not waited for long
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(conn.wait_room(MAX_UNSENT // 2), EMIT_ROOM_WAIT_S)
            n = min(EMIT_CHUNK, count - done)
            self.publish(
                [
                    Event("order", account, market, {**order, "last_updated_at": t}, t, 0)
                    for t in range(at + done + 1, at + done + n + 1)
                ],
                now_ms(),
            )
            done += n
            await asyncio.sleep(0)  # the senders take their turn
        return done

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

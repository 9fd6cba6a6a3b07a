"""The stream pump: WebSocket + REST resync + StateManager, reusable by every live command.

:class:`StreamPump` runs a :class:`~paradexctl.paradex.ws.WsClient` and, after every
(re)connect and resubscribe, a REST resync (open orders, positions, balances, the account,
fills since the last one seen). Every WS frame and every REST snapshot goes through
:func:`paradexctl.core.recording.apply_record` into one
:class:`~paradexctl.core.state.StateManager`: there is no other merge logic. The boundary
time of a resync is taken before its first REST call, so a key changed while the calls were
in flight is never judged by its absence (rule 6). Orders the open-orders listing no longer
mentions are then looked up by id (:meth:`StateManager.settle`).

Output is a stream of plain dicts (the NDJSON lines of ``docs/stream.md``) handed to
``emit``; decisions go to ``on_decision``; ``record`` receives every WS frame and REST snapshot
as a recording line (:mod:`paradexctl.core.recording`). The pump never prints.

REST calls are synchronous (:class:`~paradexctl.paradex.rest.RestClient`); they run one at a
time on a daemon worker thread, so the event loop keeps reading the WebSocket meanwhile and an
interrupted process does not wait for a hung request.

:func:`wait_for_order` follows one order to a ``--wait`` target through the same machinery,
falling back to REST lookups (through the same StateManager) while the WebSocket is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue as queue_mod
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from paradexctl.core.models import ModelError
from paradexctl.core.recording import (
    Mark,
    Meta,
    RestSnapshot,
    WsFrame,
    apply_record,
    ws_channel_kind,
)
from paradexctl.core.state import Decision, Kind, Source, StateManager, Update
from paradexctl.errors import (
    ExchangeRejected,
    ExchangeUnavailable,
    ParadexctlError,
)
from paradexctl.paradex import ws as wsmod

if TYPE_CHECKING:
    from paradexctl.paradex.recordfile import RecordingWriter

__all__ = [
    "CHANNELS",
    "StreamPump",
    "session_jwt",
    "to_cli_error",
    "wait_for_order",
    "ws_channel_names",
]

#: The ``stream`` channel names, in output order, and the WS channel each maps to.
CHANNELS: tuple[str, ...] = ("orders", "fills", "positions", "balances", "account")

_KIND_CHANNEL: Mapping[Kind, str] = {
    Kind.ORDER: "orders",
    Kind.FILL: "fills",
    Kind.TRADEBUST: "fills",
    Kind.POSITION: "positions",
    Kind.BALANCE: "balances",
    Kind.ACCOUNT: "account",
}


def ws_channel_names(names: Iterable[str], market: str | None = None) -> dict[str, str]:
    """``{ws channel: stream channel}`` for the stream channel ``names``."""
    scope = market or "ALL"
    out: dict[str, str] = {}
    for name in names:
        if name == "orders":
            out[f"orders.{scope}"] = name
        elif name == "fills":
            out[f"fills.{scope}"] = name
        elif name == "positions":
            out["positions"] = name
        elif name == "balances":
            out["balance_events"] = name
        elif name == "account":
            out["account"] = name
        else:
            raise ValueError(f"unknown stream channel {name!r}")
    return out


def to_cli_error(exc: BaseException) -> ParadexctlError:
    """Map a fatal WebSocket error to the CLI's exception (and so its exit code)."""
    if isinstance(exc, ParadexctlError):
        return exc
    if isinstance(exc, wsmod.RpcFailure):
        return ExchangeRejected(
            f"WebSocket {exc}", code=str(exc.code) if exc.code is not None else None
        )
    try:
        from websockets.exceptions import InvalidStatus
    except ImportError:  # pragma: no cover
        InvalidStatus = ()  # type: ignore[assignment,misc]
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return ExchangeRejected(f"WebSocket upgrade refused: HTTP {status}", status=status)
    return ExchangeUnavailable(str(exc) or type(exc).__name__)


def session_jwt(session: Any) -> Callable[[bool], Awaitable[str]]:
    """A ``jwt(refresh)`` provider for :class:`WsClient` from an auth ``Session``.

    The Session's authenticator renews a token within a minute of its expiry, so every new
    connection authenticates with a currently valid JWT.
    """

    def fetch(refresh: bool) -> str:
        auth = session.authenticator
        if refresh:
            auth.invalidate()
        header = auth.authorization(session.client)
        return str(header).split(" ", 1)[1]

    async def jwt(refresh: bool) -> str:
        return await asyncio.to_thread(fetch, refresh)

    # A StreamPump runs ``sync`` on its REST thread instead, so that one thread uses the
    # session's HTTP client and token cache, and an exit drains it (see _Worker).
    jwt.sync = fetch  # type: ignore[attr-defined]
    return jwt


class _Worker:
    """One daemon thread running blocking calls in order; results come back as futures.

    :meth:`close` cancels the calls not started yet; :meth:`drain` waits (bounded) for the
    one in progress, so that its HTTP connection is back in the pool before the client is
    closed.
    """

    def __init__(self) -> None:
        self._jobs: queue_mod.SimpleQueue[Any] = queue_mod.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._futures: list[asyncio.Future[Any]] = []
        self._running: asyncio.Future[Any] | None = None

    @staticmethod
    def _run(jobs: queue_mod.SimpleQueue[Any], owner: _Worker) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            loop, fut, fn, args = job
            if fut.done():  # cancelled before it started
                continue
            owner._running = fut
            try:
                result = fn(*args)
            except BaseException as exc:
                done: Callable[[asyncio.Future[Any], Any], None] = _set_exc
                value: Any = exc
            else:
                done, value = _set_result, result
            owner._running = None
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
                loop.call_soon_threadsafe(done, fut, value)

    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, args=(self._jobs, self), name="paradexctl-rest", daemon=True
            )
            self._thread.start()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(fut)
        self._jobs.put((loop, fut, fn, args))
        return fut

    def close(self) -> None:
        for fut in self._futures:
            if fut is not self._running:
                fut.cancel()
        self._futures = [f for f in self._futures if not f.done()]
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None
            self._jobs = queue_mod.SimpleQueue()

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the call in progress (if any) to finish."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._running is not None and loop.time() < deadline:
            await asyncio.sleep(0.005)
        for f in self._futures:
            if f.done() and not f.cancelled():
                f.exception()  # retrieved: nobody else will look


def _set_result(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exc(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


_UNSET: Any = object()
#: the builder of a channel this stream did not subscribe to (its frames are not applied)
_FOREIGN: Any = object()

_q: Callable[[str], str] = encode_basestring  # quotes and escapes a str like json.dumps


class _Stop:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _ResyncDone:
    __slots__ = ()


class _Fail:
    """An exception raised in a background task, re-raised by the main loop (see
    :meth:`StreamPump._in_background`)."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _wall_ms() -> int:
    return int(time.time() * 1000)


class StreamPump:
    """Runs the WebSocket, the REST resyncs and the StateManager; emits NDJSON-ready dicts.

    Args:
        url: the WebSocket URL.
        rest: a :class:`~paradexctl.paradex.rest.RestClient` (authenticated) for resyncs.
        jwt: ``async jwt(refresh) -> token`` (see :func:`session_jwt`).
        channels: stream channel names (:data:`CHANNELS`); ``market`` scopes orders/fills
            subscriptions and the output of every channel.
        state: the StateManager (a fresh one with ``grace_ms`` by default).
        emit: receives each output line as a dict (None: no output, e.g. ``--wait``).
        emit_text: optional; receives an ``update`` line already rendered as compact JSON
            when the payload's received text can be copied as is (the hot path; see
            :attr:`~paradexctl.paradex.ws.Notification.raw`).
        flush: optional; for an ``emit`` that holds lines back (the CLI's batched NDJSON
            writer): called whenever the pump is about to wait for input (no event queued),
            after each resync's snapshot lines, and when :meth:`run` ends. So every line
            reaches the output no later than the pump's next wait.
        merged: emit only updates the state manager accepted (from WS and REST).
        explain: add each decision; without ``merged``, REST rows and rejected updates too.
        on_decision: receives every decision (WS and REST), after it was applied.
        record: a :class:`~paradexctl.paradex.recordfile.RecordingWriter` receiving every WS
            frame and REST snapshot (its :class:`~paradexctl.errors.LocalFileError` ends the run).
        count: stop with ``"count"`` after this many ``update`` lines.
        duration: stop with ``"duration"`` after this many seconds.
        resync_every: also resync every this many seconds (0: only after connects).
        fill_margin_ms: how far before the previous resync's boundary a resync's fills
            listing starts (default: the state's grace window; see :meth:`_fills_since`).
        drain_timeout: on exit, seconds to wait for a REST call in progress.
        lookups: order ids to look up by id on every resync (``--wait``).
        ws_options: extra keyword arguments for :class:`WsClient` (max_reconnects,
            stale_after, reconnect_delays, connect, ...).
    """

    def __init__(
        self,
        url: str,
        *,
        rest: Any,
        jwt: Callable[[bool], Awaitable[str]] | None,
        channels: Sequence[str] = CHANNELS,
        market: str | None = None,
        state: StateManager | None = None,
        grace_ms: int = 5000,
        emit: Callable[[dict[str, Any]], None] | None = None,
        emit_text: Callable[[str], None] | None = None,
        flush: Callable[[], None] | None = None,
        merged: bool = False,
        explain: bool = False,
        on_decision: Callable[[Decision], None] | None = None,
        on_event: Callable[[Any], None] | None = None,
        record: RecordingWriter | None = None,
        record_meta: Mapping[str, Any] | None = None,
        count: int | None = None,
        duration: float | None = None,
        resync_every: float = 0.0,
        resync_retry: float = 5.0,
        max_lookups: int = 50,
        lookups: Iterable[str] = (),
        wall_ms: Callable[[], int] = _wall_ms,
        trace: Callable[[str], None] | None = None,
        ws_options: Mapping[str, Any] | None = None,
        drain_timeout: float = 2.0,
        fill_margin_ms: int | None = None,
    ) -> None:
        self.url = url
        self.drain_timeout = drain_timeout
        self.rest = rest
        self.jwt = jwt
        self.names = [c for c in CHANNELS if c in set(channels)]
        unknown = set(channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown stream channel(s): {', '.join(sorted(unknown))}")
        self.market = market
        self.ws_channels = ws_channel_names(self.names, market)
        # A long stream must not grow without bound: the last 5,000 fills (de-duplication),
        # the full state of the last 5,000 closed orders, 100,000 closed-order tombstones.
        self.state = (
            state
            if state is not None
            else StateManager(
                grace_ms, max_fills=5_000, max_closed_orders=5_000, max_tombstones=100_000
            )
        )
        self.emit = emit
        self.emit_text = emit_text if emit is not None else None
        self.flush = flush if emit is not None else None
        self.merged = merged
        self.explain = explain
        self.on_decision = on_decision
        self.on_event = on_event
        self.record = record
        self.record_meta = dict(record_meta or {})
        self.count = count
        self.duration = duration
        self.resync_every = resync_every
        self.resync_retry = resync_retry
        self.max_lookups = max_lookups
        self.lookups: set[str] = set(lookups)
        self.wall_ms = wall_ms
        self.trace = trace
        self.ws_options = dict(ws_options or {})
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.client: wsmod.WsClient | None = None
        #: True between a Subscribed and the next Disconnected
        self.live = False
        self.started_at = 0
        self.emitted = 0
        self.stats: dict[str, int] = {
            "frames": 0,
            "accepted": 0,
            "rejected": 0,
            "malformed": 0,
            "unknown_channel": 0,
            "resyncs": 0,
            "resync_failures": 0,
        }
        self.fill_margin_ms = self.state.grace_ms if fill_margin_ms is None else fill_margin_ms
        #: the boundary of the last resync whose fills listing succeeded
        self._fills_covered_at: int | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._resync_again = False
        self._worker = _Worker()
        self._stop_reason: str | None = None
        self._builders: dict[str, Callable[..., Update] | None] = {}
        self._resync_started = 0
        self._resync_finished = 0
        self._resync_ok = False
        self._resync_event = asyncio.Event()
        self._subscribed = asyncio.Event()

    # -- control -------------------------------------------------------------------------

    def stop(self, reason: str = "stopped") -> None:
        """End :meth:`run` soon, returning ``reason``."""
        self.queue.put_nowait(_Stop(reason))

    async def run(self) -> str:
        """Stream until ``count``/``duration``/:meth:`stop`; returns the stop reason.

        Raises a :class:`~paradexctl.errors.ParadexctlError` when the WebSocket gives up
        (``max_reconnects``) or meets a fatal error (see :func:`to_cli_error`).
        """
        loop = asyncio.get_running_loop()
        self.started_at = self.wall_ms()
        if self.record is not None:
            meta: dict[str, Any] = {"tool": "paradexctl stream", "channels": list(self.ws_channels)}
            meta.update(self.record_meta)
            meta["started_at"] = self.started_at
            self._record(Meta(meta))
        jwt = self.jwt
        sync_jwt = getattr(jwt, "sync", None)
        if sync_jwt is not None:
            worker = self._worker

            async def jwt_on_worker(refresh: bool) -> str:
                return str(await worker.call(sync_jwt, refresh))

            jwt = jwt_on_worker
        self.client = wsmod.WsClient(
            self.url,
            list(self.ws_channels),
            jwt=jwt,
            queue=self.queue,
            trace=self.trace,
            wall_ms=self.wall_ms,
            **self.ws_options,
        )
        client_task = asyncio.ensure_future(self.client.run())
        timers: list[asyncio.TimerHandle] = []
        if self.duration is not None:
            timers.append(loop.call_later(self.duration, self.stop, "duration"))
        periodic = (
            asyncio.ensure_future(self._in_background(self._periodic_resync()))
            if self.resync_every > 0
            else None
        )
        try:
            try:
                reason = await self._loop()
            except BaseException:
                with contextlib.suppress(Exception):
                    self._flush()  # best effort: the error in flight is what counts
                raise
            self._flush()
            return reason
        finally:
            for t in timers:
                t.cancel()
            for task in (periodic, self._resync_task, client_task):
                if task is not None and not task.done():
                    task.cancel()
            for task in (periodic, self._resync_task, client_task):
                if task is not None:
                    with contextlib.suppress(BaseException):
                        await task
            self._worker.close()
            with contextlib.suppress(BaseException):
                await self._worker.drain(self.drain_timeout)
            if self.record is not None:
                with contextlib.suppress(OSError, ValueError):
                    self.record.flush()

    async def _loop(self) -> str:
        queue = self.queue
        get = queue.get
        flush = self.flush
        notification = wsmod.Notification
        while True:
            if flush is not None and not queue.qsize():
                flush()  # about to wait: every line emitted so far goes out now
            ev = await get()
            if type(ev) is notification:
                self._on_frame(ev)
                if self._stop_reason is not None:
                    return self._stop_reason
                continue
            if type(ev) is _Stop:
                return ev.reason
            if type(ev) is _ResyncDone:
                if self._stop_reason is not None:
                    return self._stop_reason
                continue
            if type(ev) is _Fail:
                raise ev.exc
            if self.on_event is not None:
                self.on_event(ev)
            if type(ev) is wsmod.Closed:
                if ev.error is not None:
                    raise to_cli_error(ev.error)
                return "closed"
            self._on_lifecycle(ev)

    # -- lifecycle -------------------------------------------------------------------------

    def _line(self, obj: dict[str, Any]) -> None:
        if self.emit is not None:
            self.emit(obj)

    def _flush(self) -> None:
        if self.flush is not None:
            self.flush()

    def _on_lifecycle(self, ev: Any) -> None:
        t = type(ev)
        if t is wsmod.Connected:
            self._line(
                {"ts": ev.at, "type": "connected", "attempt": ev.attempt, "url": ev.url,
                 "node_id": ev.node_id}
            )  # fmt: skip
        elif t is wsmod.Subscribed:
            self.live = True
            self._subscribed.set()
            # lifecycle marks: a replay (reconcile --replay) tells an outage from a silent gap
            self._record(Mark("subscribed", {"at": ev.at, "attempt": ev.attempt}))
            self._line(
                {"ts": ev.at, "type": "subscribed", "attempt": ev.attempt,
                 "channels": list(ev.channels)}
            )  # fmt: skip
            self.request_resync()
        elif t is wsmod.Reconnecting:
            self._line(
                {"ts": ev.at, "type": "reconnecting", "attempt": ev.attempt,
                 "delay_ms": round(ev.delay * 1000), "reason": ev.reason}
            )  # fmt: skip
        elif t is wsmod.Disconnected:
            self.live = False
            self._subscribed.clear()
            self._record(Mark("disconnected", {"at": ev.at, "reason": ev.reason, "code": ev.code}))
            self._line({"ts": ev.at, "type": "disconnected", "reason": ev.reason, "code": ev.code})
        elif t is wsmod.Stale:
            self._line({"ts": ev.at, "type": "stale", "silent_ms": round(ev.silent_for * 1000)})
        elif t is wsmod.Invalid or t is wsmod.Unknown or t is wsmod.RpcError:
            pass  # counted by the client; traced with -v

    # -- WS data ---------------------------------------------------------------------------

    def _record(self, record: Any) -> None:
        if self.record is not None:
            self.record.write(record)

    def _builder(self, channel: str) -> Callable[..., Update] | None:
        """The Update builder for a WS channel: the mapping of
        :func:`~paradexctl.core.recording.updates_from_record`, looked up once per channel
        (a recording replayed with :func:`apply_record` gives the same decisions; tested)."""
        if channel in self._builders:
            return self._builders[channel]
        kind = ws_channel_kind(channel)
        builder: Callable[..., Update] | None
        if channel not in self.ws_channels:
            # Paradex names the subscribed channel in every notification: anything else is
            # an unknown frame (counted, traced with -v), not data for this stream
            builder = _FOREIGN
        elif kind is None:
            builder = None
        elif channel == "balance_events":
            builder = Update.balance_event
        else:
            builder = getattr(Update, kind.value)
        self._builders[channel] = builder
        return builder

    def _on_frame(self, n: wsmod.Notification) -> None:
        self.stats["frames"] += 1
        builder = self._builders.get(n.channel, _UNSET)
        if builder is _UNSET:
            builder = self._builder(n.channel)
        if builder is _FOREIGN:
            self.stats["unknown_channel"] += 1
            if self.trace is not None:
                channel = wsmod._excerpt(n.channel)
                self.trace(f"ws< notification on a channel not subscribed: {channel}")
            return
        if self.record is not None:
            self.record.write(WsFrame(n.received_at, n.channel, n.data))
        try:
            decisions = (
                [self.state.apply(builder(n.data, Source.WS, n.received_at))]
                if builder is not None
                else []
            )
        except ModelError as err:
            self.stats["malformed"] += 1
            decisions = []
            if self.trace is not None:
                self.trace(f"ws< malformed {n.channel} payload: {err}")
            if self.emit is not None and not self.merged:
                self._emit_raw(n, None, str(err))
            return
        self._after(decisions)
        if self.emit is None:
            return
        if self.merged:
            for d in decisions:
                if d.accepted:
                    self._emit_decision(d, n.channel)
        else:
            self._emit_raw(n, decisions[0] if decisions else None, None)

    def _after(self, decisions: list[Decision]) -> None:
        stats = self.stats
        on_decision = self.on_decision
        for d in decisions:
            if d.accepted:
                stats["accepted"] += 1
            else:
                stats["rejected"] += 1
            if on_decision is not None:
                on_decision(d)

    def _count_line(self) -> None:
        self.emitted += 1
        if self.count is not None and self.emitted >= self.count and self._stop_reason is None:
            self._stop_reason = "count"

    def _visible(self, data: Any) -> bool:
        if self.market is None or not isinstance(data, Mapping):
            return True
        m = data.get("market")
        return m is None or m == self.market

    def _emit_raw(self, n: wsmod.Notification, d: Decision | None, malformed: str | None) -> None:
        if self._stop_reason is not None or not self._visible(n.data):
            return
        name = self.ws_channels.get(n.channel) or n.channel
        if self.emit_text is not None and n.raw is not None and d is not None and not self.explain:
            # The payload's own JSON text, copied: the same line as the dict path would give
            # (compact, same key order), without decoding and re-encoding the payload.
            u = d.update
            self.emit_text(
                f'{{"ts":{n.received_at},"type":"update","channel":{_q(name)},"source":"ws",'
                f'"origin":{_q(n.channel)},"kind":"{u.kind.value}","key":{_q(u.key)},'
                f'"data":{n.raw}}}'
            )
            self._count_line()
            return
        line: dict[str, Any] = {
            "ts": n.received_at,
            "type": "update",
            "channel": name,
            "source": "ws",
            "origin": n.channel,
        }
        if d is not None:
            line["kind"] = d.update.kind.value
            line["key"] = d.update.key
        line["data"] = n.data
        if self.explain:
            if d is not None:
                line["decision"] = d.to_json()
            elif malformed is not None:
                line["decision"] = {"accepted": False, "reason": "malformed", "detail": malformed}
        self._line(line)
        self._count_line()

    def _emit_decision(self, d: Decision, origin: str) -> None:
        if self._stop_reason is not None:
            return
        u = d.update
        data: Any = u.payload if u.payload else None
        if data is not None and not self._visible(data):
            return
        if data is None and d.prior is not None and not self._visible(d.prior):
            return
        line: dict[str, Any] = {
            "ts": u.received_at,
            "type": "update",
            "channel": _KIND_CHANNEL[u.kind],
            "source": u.source.value,
            "origin": origin,
            "kind": u.kind.value,
            "key": u.key,
            "data": data,
        }
        if self.explain:
            line["decision"] = d.to_json()
        self._line(line)
        self._count_line()

    # -- REST resync -----------------------------------------------------------------------

    def request_resync(self) -> None:
        """Start a resync now, or right after the one in flight."""
        if self._resync_task is not None and not self._resync_task.done():
            self._resync_again = True
            return
        self._resync_task = asyncio.ensure_future(self._in_background(self._resync_loop()))

    async def resync_now(self) -> bool:
        """Run a resync that starts after this call (waiting for one in flight first).

        Returns whether every REST call of that resync succeeded.
        """
        want = self._resync_started + 1
        self.request_resync()
        while self._resync_finished < want:
            self._resync_event.clear()
            await self._resync_event.wait()
        return self._resync_ok

    async def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a background task's ``work``; an exception (other than cancellation) is handed
        to the main loop and re-raised there (a task's own exception would die with it: e.g.
        a closed stdout met by a ``resynced`` line)."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.queue.put_nowait(_Fail(exc))

    async def _resync_loop(self) -> None:
        while True:
            self._resync_again = False
            ok = await self._resync()
            if self._resync_again:
                continue
            if ok or self.resync_retry <= 0:
                return
            await asyncio.sleep(self.resync_retry)
            if not self.live:
                return  # the next Subscribed starts a fresh one

    async def _periodic_resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_every)
            if self.live:
                self.request_resync()

    def _rest_plan(self) -> list[tuple[str, str, dict[str, Any]]]:
        plan: list[tuple[str, str, dict[str, Any]]] = []
        market = self.market
        for name in self.names:
            if name == "orders":
                plan.append(("orders", "/orders", {"market": market} if market else {}))
            elif name == "positions":
                plan.append(("positions", "/positions", {}))
            elif name == "balances":
                plan.append(("balance", "/balance", {}))
            elif name == "account":
                plan.append(("account", "/account", {}))
            elif name == "fills":
                params: dict[str, Any] = {"start_at": self._fills_since()}
                if market:
                    params["market"] = market
                plan.append(("fills", "/fills", params))
        return plan

    def _fills_since(self) -> int:
        """Where a resync's fills listing starts: the previous successful listing's boundary
        minus ``fill_margin_ms``, never before the stream started.

        Not the newest fill seen: the WebSocket may drop a fill and deliver a later one, and
        the dropped one must still be fetched. A fill is missing from the stream only if it
        happened after the last listing that covered it; that listing saw every fill created
        before its boundary, except for REST lag, which the margin covers. Fills fetched
        again are duplicates by id (rule 7) and are not emitted twice.
        """
        if self._fills_covered_at is None:
            return self.started_at
        return max(self.started_at, self._fills_covered_at - self.fill_margin_ms)

    def _fetch(self, endpoint: str, path: str, params: Mapping[str, Any]) -> Any:
        if endpoint == "fills":
            return {"results": self.rest.get_paginated(path, params, private=True)}
        if endpoint == "order":  # the id is in the path; params only go to the recording
            return self.rest.get(path, None, private=True)
        return self.rest.get(path, params or None, private=True)

    async def _resync(self) -> bool:
        """One resync; True when every REST call succeeded."""
        self.stats["resyncs"] += 1
        self._resync_started += 1
        seq = self._resync_started
        try:
            ok = await self._resync_once()
        except BaseException:
            self._resync_ok = False
            raise
        finally:
            self._resync_finished = seq
            self._resync_event.set()
        self._resync_ok = ok
        return ok

    async def _resync_once(self) -> bool:
        boundary = self.wall_ms()  # rule 6: taken before the first request is sent
        counts: dict[str, int] = {}
        changed: list[dict[str, Any]] = []
        failed: dict[str, str] = {}
        accepted = rejected = 0

        async def snapshot(endpoint: str, path: str, params: dict[str, Any], origin: str) -> Any:
            nonlocal accepted, rejected
            try:
                data = await self._worker.call(self._fetch, endpoint, path, params)
            except ParadexctlError as err:
                if endpoint == "order" and isinstance(err, ExchangeRejected) and _not_found(err):
                    data = None
                else:
                    failed[origin] = err.message
                    return None
            snap = RestSnapshot(endpoint, boundary, self.wall_ms(), data, params or None)
            self._record(snap)
            try:
                decisions = apply_record(self.state, snap)
            except ModelError as err:
                failed[origin] = f"malformed answer: {err}"
                return None
            self._after(decisions)
            n = 0
            for d in decisions:
                if d.update.payload:
                    n += 1
                if d.accepted:
                    accepted += 1
                    changed.append({"kind": d.kind.value, "key": d.key, "reason": d.reason.value})
                    if self.merged:
                        self._emit_decision(d, origin)
                else:
                    rejected += 1
                if self.explain and not self.merged:
                    self._emit_decision(d, origin)
            self._flush()  # the next REST call may take a while: these lines go out now
            counts[origin] = counts.get(origin, 0) + n
            return data

        for endpoint, path, params in self._rest_plan():
            await snapshot(endpoint, path, params, f"GET {path}")
        if "fills" in self.names and "GET /fills" not in failed:
            self._fills_covered_at = boundary
        # Rule 6: orders absent from the listing are settled by a lookup by id.
        todo = sorted(
            {key for kind, key in self.state.unconfirmed if kind is Kind.ORDER} | self.lookups
        )[: self.max_lookups]
        for order_id in todo:
            await snapshot(
                "order", f"/orders/{order_id}", {"order_id": order_id}, "GET /orders/{id}"
            )
        if self.record is not None:
            with contextlib.suppress(OSError, ValueError):
                self.record.flush()
        line: dict[str, Any] = {
            "ts": self.wall_ms(),
            "type": "resynced",
            "boundary_at": boundary,
            "rows": counts,
            "accepted": accepted,
            "rejected": rejected,
            "changed": changed,
            "unconfirmed": sorted(f"{k.value}:{key}" for k, key in self.state.unconfirmed),
        }
        if failed:
            self.stats["resync_failures"] += 1
            line["failed"] = failed
        self._line(line)
        self._flush()
        self.queue.put_nowait(_ResyncDone())
        return not failed

    # -- helpers for followers (wait_for_order) ---------------------------------------------

    async def lookup(self, order_id: str) -> None:
        """Look one order up by id now and apply it (used while the WebSocket is down)."""
        boundary = self.wall_ms()
        try:
            data = await self._worker.call(
                self._fetch, "order", f"/orders/{order_id}", {"order_id": order_id}
            )
        except ExchangeRejected as err:
            if not _not_found(err):
                raise
            data = None
        snap = RestSnapshot("order", boundary, self.wall_ms(), data, {"order_id": order_id})
        self._record(snap)
        self._after(apply_record(self.state, snap))


def _not_found(err: ExchangeRejected) -> bool:
    return err.status == 404 or (err.code or "").endswith("NOT_FOUND")


# --- wait_for_order ---------------------------------------------------------------------------


async def wait_for_order(
    *,
    url: str,
    rest: Any,
    jwt: Callable[[bool], Awaitable[str]] | None,
    order_id: str,
    target: str,
    timeout: float,
    market: str | None = None,
    initial: Mapping[str, Any] | None = None,
    state: StateManager | None = None,
    poll_interval: float = 0.25,
    ws_options: Mapping[str, Any] | None = None,
    wall_ms: Callable[[], int] = _wall_ms,
    reached: Callable[[Mapping[str, Any], str], bool | None] | None = None,
) -> dict[str, Any]:
    """Follow ``order_id`` until ``reached(order, target)`` is not None; return the order.

    Observations come from the ``orders`` WebSocket channel and the resync lookups, all
    through one StateManager; while the WebSocket is not subscribed (it cannot connect, or is
    reconnecting), the order is looked up over REST every ``poll_interval`` seconds through
    the same StateManager. ``reached`` defaults to
    :func:`paradexctl.paradex.orders.target_reached` (True: reached; False: never will).

    Raises:
        ExchangeUnavailable: ``timeout`` elapsed (the message names the last known status).
    """
    if reached is None:
        from paradexctl.paradex.orders import target_reached

        reached = target_reached
    check = reached
    st = state if state is not None else StateManager()
    if initial is not None:
        from paradexctl.core.state import Update

        st.apply(Update.order(dict(initial), "rest", wall_ms()))
    done = asyncio.Event()

    def current() -> dict[str, Any] | None:
        o = st.order(order_id)
        return dict(o.raw) if o is not None else None

    def on_decision(d: Decision) -> None:
        if d.accepted and d.update.kind is Kind.ORDER and d.update.key == order_id:
            cur = current()
            if cur is not None and check(cur, target) is not None:
                done.set()

    opts: dict[str, Any] = {"max_reconnects": None, "stale_after": 30.0}
    opts.update(ws_options or {})
    pump = StreamPump(
        url,
        rest=rest,
        jwt=jwt,
        channels=("orders",),
        market=market,
        state=st,
        on_decision=on_decision,
        lookups=[order_id],
        wall_ms=wall_ms,
        ws_options=opts,
    )

    async def poll() -> None:
        while not done.is_set():
            if not pump.live:
                with contextlib.suppress(ParadexctlError):
                    await pump.lookup(order_id)
            await asyncio.sleep(poll_interval)

    cur = current()
    if cur is not None and check(cur, target) is not None:
        return cur
    runner = asyncio.ensure_future(pump.run())
    poller = asyncio.ensure_future(poll())
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except TimeoutError:
        pass
    finally:
        pump.stop("done")
        poller.cancel()
        with contextlib.suppress(BaseException):
            await poller
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(runner, 5)
    cur = current()
    if cur is not None and check(cur, target) is not None:
        return cur
    status = (cur or {}).get("status", "unknown")
    raise ExchangeUnavailable(
        f"timed out waiting for order {order_id} to be {target}; last known status {status} "
        f"(remaining {(cur or {}).get('remaining_size')})",
        details={"order": cur},
    )


def delays_from(values: Iterable[float]) -> Callable[[], Generator[float]]:
    """A ``reconnect_delays`` factory that replays ``values`` then repeats the last (tests)."""
    vals = list(values)

    def factory() -> Generator[float]:
        yield from vals
        while True:
            yield vals[-1] if vals else 0.0

    return factory

"""The live feed: one WebSocket session and its REST resyncs as one ordered stream of records.

Every live command (``stream``, ``reconcile``, ``order place --wait``, ``smoke``) consumes a
:class:`LiveFeed`. It owns, once:

* the :class:`~paradexctl.paradex.ws.WsClient` (connect, auth and JWT renewal, subscribe and
  resubscribe, the watchdog, reconnects);
* the resync after every (re)connect, every ``resync_every`` seconds, and on demand: the REST
  plan of the subscribed channels (:func:`rest_plan`), one boundary time taken before the
  first request (rule 9), then a lookup by id of every order the consumer's state holds
  unconfirmed (``pending_orders``) and of the ``lookups`` it follows;
* the lifecycle marks (``connected``, ``subscribed``, ``reconnecting``, ``stale``,
  ``disconnected``, ``resync``, ``resynced``).

It yields :mod:`paradexctl.core.recording` records (:class:`WsFrame`, :class:`RestSnapshot`,
:class:`Mark`), the records a recording holds: a consumer applies them with
:func:`~paradexctl.core.recording.apply_record` and decides the same way live and on
``--replay``. A REST snapshot is handed out before the next REST call is made, so the lookups
of a resync see the state its listings left.

Everything runs on one asyncio loop: REST goes through an async client
(:class:`~paradexctl.paradex.rest.AsyncRestClient`); there is no thread. Clocks, the sleep,
the WebSocket factory and its delays are parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from paradexctl.core.recording import Mark, Record, RestSnapshot, WsFrame
from paradexctl.errors import ExchangeRejected, ExchangeUnavailable, ParadexctlError
from paradexctl.paradex import ws as wsmod
from paradexctl.paradex.rest import expect_object, expect_rows, path_segment
from paradexctl.paradex.ws import to_cli_error

__all__ = [
    "CHANNELS",
    "AsyncRest",
    "LiveFeed",
    "is_not_found",
    "now_ms",
    "rest_plan",
    "to_cli_error",
    "ws_channel_names",
]

#: channel name -> (its WebSocket channel, ``{}`` the market or ALL; its REST endpoint and
#: path), in output order
_CHANNELS: Mapping[str, tuple[str, str, str]] = {
    "orders": ("orders.{}", "orders", "/orders"),
    "fills": ("fills.{}", "fills", "/fills"),
    "positions": ("positions", "positions", "/positions"),
    "balances": ("balance_events", "balance", "/balance"),
    "account": ("account", "account", "/account"),
}
#: The private channel names of the live commands, in output order.
CHANNELS: tuple[str, ...] = tuple(_CHANNELS)


class AsyncRest(Protocol):
    """What the feed needs from a REST client (:class:`~paradexctl.paradex.rest.AsyncRestClient`)."""

    async def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, private: bool = False
    ) -> Any: ...

    async def get_paginated(
        self, path: str, params: Mapping[str, Any] | None = None, *, private: bool = True
    ) -> list[Any]: ...


def ws_channel_names(names: Iterable[str], market: str | None = None) -> dict[str, str]:
    """``{ws channel: channel name}`` for the channel ``names`` (``orders`` -> ``orders.ALL``)."""
    out: dict[str, str] = {}
    for name in names:
        if name not in _CHANNELS:
            raise ValueError(f"unknown stream channel {name!r}")
        out[_CHANNELS[name][0].format(market or "ALL")] = name
    return out


def rest_plan(
    names: Iterable[str], market: str | None, fills_since: int
) -> list[tuple[str, str, dict[str, Any]]]:
    """The REST listings that resync the channel ``names``: ``(endpoint, path, params)``,
    in request order (fills last)."""
    scoped: dict[str, Any] = {"market": market} if market else {}
    params = {"orders": scoped, "fills": {"start_at": fills_since, **scoped}}
    given = set(names)
    wanted = [n for n in CHANNELS if n in given and n != "fills"]
    if "fills" in given:
        wanted.append("fills")
    return [(_CHANNELS[n][1], _CHANNELS[n][2], dict(params.get(n, {}))) for n in wanted]


#: endpoints whose listing is followed through its pages
PAGINATED = frozenset({"fills", "transfers", "funding_payments"})
#: endpoints that answer one object (every other endpoint answers ``{"results": [...]}``)
SINGLE = frozenset({"order", "account"})


def is_not_found(err: ExchangeRejected) -> bool:
    """The exchange says an order does not exist (a lookup's answer, not a failure)."""
    return err.status == 404 or (err.code or "").endswith("NOT_FOUND")


def now_ms() -> int:
    """The wall clock in unix ms (the default ``wall_ms`` of the live layer)."""
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Stop:
    reason: str


@dataclass(slots=True)
class _Fail:
    exc: BaseException


@dataclass(slots=True)
class _Handed:
    """A REST record and the future set once the consumer has taken it (and applied it)."""

    record: Record
    fut: asyncio.Future[None]


class LiveFeed:
    """One live session: WS frames, REST snapshots and lifecycle marks, in order.

    Args:
        url: the WebSocket URL.
        rest: an :class:`AsyncRest` (authenticated) for resyncs and lookups; None: no REST.
        jwt: ``async jwt(refresh) -> token`` for the WebSocket's ``auth``.
        channels: channel names (:data:`CHANNELS`); ``market`` scopes orders and fills.
        resync: resync after every subscribe (and every ``resync_every`` seconds).
        resync_retry: seconds before a failed resync is tried again (0: not retried).
        pending_orders: the order ids the consumer's state holds unconfirmed (rule 9);
            called after a resync's listings were handed out and applied.
        max_lookups: at most this many lookups by id per resync.
        fill_margin_ms: how far before the previous fills listing's boundary the next starts.
        started_at: the wall time the stream started (the first fills listing starts there).
        wall_ms, sleep: injected time.
        ws_factory: builds the WsClient (``WsClient(url, channels, jwt=, queue=, ...)``).
        ws_options: keyword arguments for the WsClient (delays, timeouts, stale_after, ...).
        trace: receives one line per notable event (``-v``).
        ws_required: when False, a WebSocket that closes for good (it gave up, or a fatal
            error) is a ``ws_closed`` mark (:attr:`ws_error` says why) and the feed goes on
            with REST alone (``--wait``); when True it ends the iteration with the error.

    ``url`` None: no WebSocket at all, the feed carries only the REST records asked for
    (:meth:`fetch`, :meth:`lookup`, :meth:`resync`).
    """

    def __init__(
        self,
        url: str | None,
        *,
        rest: AsyncRest | None,
        jwt: Callable[[bool], Awaitable[str]] | None,
        channels: Sequence[str] = CHANNELS,
        market: str | None = None,
        resync: bool = True,
        resync_every: float = 0.0,
        resync_retry: float = 5.0,
        pending_orders: Callable[[], Iterable[str]] = lambda: (),
        max_lookups: int = 50,
        fill_margin_ms: int = 5000,
        started_at: int | None = None,
        wall_ms: Callable[[], int] = now_ms,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        ws_factory: Callable[..., wsmod.WsClient] = wsmod.WsClient,
        ws_options: Mapping[str, Any] | None = None,
        trace: Callable[[str], None] | None = None,
        ws_required: bool = True,
    ) -> None:
        unknown = set(channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown stream channel(s): {', '.join(sorted(unknown))}")
        self.url = url
        self.rest = rest
        self.jwt = jwt
        self.names = [c for c in CHANNELS if c in set(channels)]
        self.market = market
        self.ws_channels = ws_channel_names(self.names, market)
        self.resync_on_subscribe = resync
        self.resync_every = resync_every
        self.resync_retry = resync_retry
        self.pending_orders = pending_orders
        self.max_lookups = max_lookups
        self.fill_margin_ms = fill_margin_ms
        self.wall_ms = wall_ms
        self.started_at = wall_ms() if started_at is None else started_at
        self.sleep = sleep
        self.ws_factory = ws_factory
        self.ws_options = dict(ws_options or {})
        self.trace = trace
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.client: wsmod.WsClient | None = None
        #: the received JSON text of the payload of the WsFrame just yielded (None: not kept)
        self.raw: str | None = None
        #: True between a ``subscribed`` and the next ``disconnected``
        self.live = False
        #: why the feed ended (``stop(reason)``, or ``closed``)
        self.stop_reason: str | None = None
        #: ever subscribed
        self.subscribed_once = False
        self.last_problem = ""
        self.ws_required = ws_required
        #: why the WebSocket closed for good (``ws_required=False``)
        self.ws_error: str | None = None
        self.stats: dict[str, int] = {
            "frames": 0,
            "unknown_channel": 0,
            "resyncs": 0,
            "resync_failures": 0,
        }
        self._fills_covered_at: int | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._resync_again = False
        self._subscribed = asyncio.Event()
        self._resync_lock = asyncio.Lock()  # one resync at a time: its records stay together
        self._tasks: list[asyncio.Task[Any]] = []
        #: set when the iteration has ended: nothing takes a handed REST record any more
        self._ended = False
        self._end_error: ParadexctlError | None = None

    # -- control --------------------------------------------------------------------------

    def stop(self, reason: str = "stopped") -> None:
        """End the iteration soon; :attr:`stop_reason` becomes ``reason``."""
        self.queue.put_nowait(_Stop(reason))

    async def wait_subscribed(self) -> None:
        await self._subscribed.wait()

    def request_resync(self) -> None:
        """Start a resync now, or right after the one in flight."""
        if self.rest is None:
            return
        if self._resync_task is not None and not self._resync_task.done():
            self._resync_again = True
            return
        self._resync_task = asyncio.get_running_loop().create_task(self._resync_loop())

    # -- the records ----------------------------------------------------------------------

    async def records(self) -> AsyncGenerator[Record]:
        """Run the session and yield its records until stopped or closed.

        Use as ``async with contextlib.aclosing(feed.records()) as it: async for r in it``.

        Raises:
            ParadexctlError: the WebSocket gave up or met a fatal error (:func:`to_cli_error`),
                or a resync failed unexpectedly.
        """
        loop = asyncio.get_running_loop()
        self._ended = False  # this iteration takes handed records until it ends
        self._end_error = None
        if self.url is not None:
            self.client = self.ws_factory(
                self.url,
                list(self.ws_channels),
                jwt=self.jwt,
                queue=self.queue,
                trace=self.trace,
                wall_ms=self.wall_ms,
                **self.ws_options,
            )
            self._tasks.append(loop.create_task(self.client.run()))
        if self.resync_every > 0 and self.rest is not None:
            self._tasks.append(loop.create_task(self._periodic()))
        queue = self.queue
        get, get_nowait, waiting = queue.get, queue.get_nowait, queue.qsize
        notification = wsmod.Notification
        channels = self.ws_channels
        stats = self.stats
        try:
            while True:
                ev = get_nowait() if waiting() else await get()
                t = type(ev)
                if t is notification:
                    stats["frames"] += 1
                    if ev.channel not in channels:
                        # Paradex names the subscribed channel in every notification
                        stats["unknown_channel"] += 1
                        if self.trace is not None:
                            self.trace(
                                "ws< notification on a channel not subscribed: "
                                + wsmod._excerpt(ev.channel)
                            )
                        continue
                    self.raw = ev.raw
                    yield WsFrame(ev.received_at, ev.channel, ev.data)
                    self.raw = None
                elif t is _Handed:
                    try:
                        yield ev.record
                    finally:
                        if not ev.fut.done():
                            ev.fut.set_result(None)
                elif t is Mark:
                    yield ev
                elif t is _Stop:
                    self.stop_reason = ev.reason
                    return
                elif t is _Fail:
                    raise ev.exc
                elif t is wsmod.Closed:
                    self.live = False
                    if self.ws_required:
                        if ev.error is not None:
                            raise to_cli_error(ev.error)
                        self.stop_reason = self.stop_reason or "closed"
                        return
                    self.ws_error = (
                        to_cli_error(ev.error).message if ev.error is not None else "closed"
                    )
                    yield Mark("ws_closed", {"at": ev.at, "error": self.ws_error})
                else:
                    mark = self._lifecycle(ev)
                    if mark is not None:
                        yield mark
        except ParadexctlError as err:
            self._end_error = err
            raise
        finally:
            self._end_handover()
            await self._shutdown()

    def _lifecycle(self, ev: Any) -> Mark | None:
        t = type(ev)
        if t is wsmod.Connected:
            fields = {"at": ev.at, "attempt": ev.attempt, "url": ev.url, "node_id": ev.node_id}
            return Mark("connected", fields)
        if t is wsmod.Subscribed:
            self.live = True
            self.subscribed_once = True
            self._subscribed.set()
            if self.resync_on_subscribe:
                self.request_resync()
            fields = {"at": ev.at, "attempt": ev.attempt, "channels": list(ev.channels)}
            return Mark("subscribed", fields)
        if t is wsmod.Reconnecting:
            self.last_problem = ev.reason
            return Mark(
                "reconnecting",
                {"at": ev.at, "attempt": ev.attempt, "delay_ms": round(ev.delay * 1000),
                 "reason": ev.reason},
            )  # fmt: skip
        if t is wsmod.Disconnected:
            self.live = False
            self._subscribed.clear()
            self.last_problem = ev.reason
            return Mark("disconnected", {"at": ev.at, "reason": ev.reason, "code": ev.code})
        if t is wsmod.Stale:
            return Mark("stale", {"at": ev.at, "silent_ms": round(ev.silent_for * 1000)})
        return None  # Invalid, Unknown, RpcError: counted by the client, traced with -v

    async def _shutdown(self) -> None:
        tasks = [t for t in (*self._tasks, self._resync_task) if t is not None]
        if self.client is not None:
            self.client.stop()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks.clear()
        self._resync_task = None

    # -- REST -------------------------------------------------------------------------------

    async def _hand(self, record: Record) -> None:
        """Put a REST record in the stream; return once the consumer has taken it.

        Raises:
            ParadexctlError: the iteration has ended (or ends before taking it): the error
                that ended it, or :class:`ExchangeUnavailable` when it was stopped. A REST
                answer nobody takes is never waited on for ever.
        """
        if self._ended:
            raise self._ended_error()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Handed(record, fut))
        await fut

    def _ended_error(self) -> ParadexctlError:
        if self._end_error is not None:
            return self._end_error
        return ExchangeUnavailable(
            f"the live feed ended ({self.stop_reason or 'closed'}) before a REST answer was taken"
        )

    def _end_handover(self) -> None:
        """The iteration ends: every REST record still waiting to be taken fails."""
        self._ended = True
        while not self.queue.empty():
            ev = self.queue.get_nowait()
            if type(ev) is _Handed and not ev.fut.done():
                ev.fut.set_exception(self._ended_error())

    async def fetch(
        self, endpoint: str, path: str, params: Mapping[str, Any], boundary: int | None = None
    ) -> RestSnapshot:
        """One REST call as a snapshot, handed to the stream, then returned.

        ``endpoint`` ``order`` is a lookup by id: a not-found answer is the snapshot
        ``data=None`` (the order does not exist), not an error.

        Raises:
            ParadexctlError: the call failed.
        """
        assert self.rest is not None
        at = self.wall_ms() if boundary is None else boundary
        try:
            if endpoint in PAGINATED:  # shape-checked page by page
                data: Any = {"results": await self.rest.get_paginated(path, params, private=True)}
            elif endpoint in SINGLE:  # an order lookup (the id is in the path), the account
                data = expect_object(
                    await self.rest.get(
                        path, None if endpoint == "order" else params or None, private=True
                    ),
                    f"GET {path}",
                )
            else:  # a listing: an object with a results list of objects
                data = await self.rest.get(path, params or None, private=True)
                expect_rows(data, f"GET {path}")
        except ExchangeRejected as err:
            if endpoint != "order" or not is_not_found(err):
                raise
            data = None
        snap = RestSnapshot(endpoint, at, self.wall_ms(), data, dict(params) or None)
        await self._hand(snap)
        return snap

    async def lookup(self, order_id: str) -> RestSnapshot:
        """Look one order up by id now (the stream gets the snapshot too)."""
        return await self.fetch(
            "order", f"/orders/{path_segment(order_id)}", {"order_id": order_id}
        )

    def _fills_since(self) -> int:
        """Where a resync's fills listing starts: the previous successful listing's boundary
        minus ``fill_margin_ms``, never before the stream started.

        Not the newest fill seen: the WebSocket may drop a fill and deliver a later one, and
        the dropped one must still be fetched; fills fetched again are duplicates by id.
        """
        if self._fills_covered_at is None:
            return self.started_at
        return max(self.started_at, self._fills_covered_at - self.fill_margin_ms)

    async def resync(self) -> bool:
        """One resync, as records: a ``resync`` mark, the listings, the lookups by id, then a
        ``resynced`` mark (``failed``: the calls that failed). True when none failed.

        Call it from a task other than the one consuming the records (each record is
        handed over before the next call is made)."""
        async with self._resync_lock:
            return await self._resync()

    async def _resync(self) -> bool:
        self.stats["resyncs"] += 1
        boundary = self.wall_ms()  # rule 9: taken before the first request is sent
        await self._hand(Mark("resync", {"at": boundary, "boundary_at": boundary}))
        failed: dict[str, str] = {}
        for endpoint, path, params in rest_plan(self.names, self.market, self._fills_since()):
            try:
                await self.fetch(endpoint, path, params, boundary)
            except ParadexctlError as err:
                failed[f"GET {path}"] = err.message
        if "fills" in self.names and "GET /fills" not in failed:
            self._fills_covered_at = boundary
        # Rule 9: orders absent from the listing are settled by a lookup by id.
        todo = sorted(set(self.pending_orders()))[: self.max_lookups]
        for order_id in todo:
            try:
                path = f"/orders/{path_segment(order_id)}"
                await self.fetch("order", path, {"order_id": order_id}, boundary)
            except ParadexctlError as err:
                failed["GET /orders/{id}"] = err.message
        if failed:
            self.stats["resync_failures"] += 1
        fields: dict[str, Any] = {"at": self.wall_ms(), "boundary_at": boundary}
        if failed:
            fields["failed"] = failed
        await self._hand(Mark("resynced", fields))
        return not failed

    async def _resync_loop(self) -> None:
        try:
            while True:
                self._resync_again = False
                ok = await self.resync()
                if self._resync_again:
                    continue
                if ok or self.resync_retry <= 0:
                    return
                await self.sleep(self.resync_retry)
                if not self.live:
                    return  # the next subscribe starts a fresh one
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, not lost with the task
            self.queue.put_nowait(_Fail(exc))

    async def _periodic(self) -> None:
        while True:
            await self.sleep(self.resync_every)
            if self.live:
                self.request_resync()

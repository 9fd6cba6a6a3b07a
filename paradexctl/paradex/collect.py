"""The live reconcile procedure: collect a recording from the exchange, then reconcile it.

The procedure (``docs/reconcile.md``, "Running reconcile"):

1. connect the WebSocket and subscribe (``orders.{M|ALL}``, ``fills.{M|ALL}``, ``positions``,
   ``balance_events``, as the entities need) **before** anything else;
2. REST snapshot 1: open orders, positions, balances, fills since ``since``. One boundary time
   is taken before the first request (rule 9);
3. collect WS frames for ``window_s`` seconds (a reconnect in the window is followed by a REST
   resync, recorded like any other listing);
4. wait out the grace window (``grace_s``), still collecting;
5. REST snapshot 2 (same endpoints, a new boundary), then a lookup by id of every order that
   was live somewhere (snapshot 1, the WS, a resync) but that snapshot 2 no longer lists, and,
   for balances, the completed transfers and funding payments since snapshot 1 (best effort:
   an endpoint the venue does not serve is noted in the recording and skipped).

Every WS frame and REST response becomes a record of the recording format
(:mod:`paradexctl.core.recording`) as it arrives: kept in the list returned, and written as one
line to ``sink`` (``--record FILE``). The records then go to the pure
:func:`paradexctl.core.reconcile.reconcile`, as the records parsed from a file do for
``--replay FILE``. Both JSON parsers on the way in (REST and WS) read non-integer numbers as
``Decimal``, like the recording reader, so a record and its line parsed back are equal, and a
live run and its replay produce the same report byte for byte (the sim tests check it for
every scenario). Parsing the lines back instead was measured at about 3x the reconcile's own
CPU time at 100,000 updates.

This module does no merging: a :class:`~paradexctl.core.state.StateManager` is fed here only
to know which orders are live (and so worth a lookup by id); the report is computed by the core
from the recording alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from paradexctl.core.models import ModelError
from paradexctl.core.reconcile import ENTITIES
from paradexctl.core.recording import (
    Mark,
    Meta,
    Record,
    RecordingError,
    RestSnapshot,
    WsFrame,
    apply_record,
    to_line,
)
from paradexctl.core.state import Kind, StateManager
from paradexctl.errors import ExchangeRejected, ExchangeUnavailable, ParadexctlError, UsageError
from paradexctl.paradex.feed import AsyncRest, LiveFeed, now_ms
from paradexctl.paradex.feed import rest_plan as feed_rest_plan

__all__ = ["CollectOptions", "collect", "rest_plan"]

#: default age of the fills listed when ``since`` is not given (ms before the start)
DEFAULT_SINCE_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class CollectOptions:
    """What to collect (the ``reconcile`` flags that shape the procedure)."""

    entities: frozenset[str] = frozenset(ENTITIES)
    market: str | None = None
    window_s: float = 5.0
    grace_s: float = 5.0
    #: fills created at or after this time (unix ms) are listed; None: 15 min before the start
    since_ms: int | None = None
    #: cap on the lookups by id after snapshot 2
    max_lookups: int = 200
    #: seconds allowed for the first subscription
    subscribe_timeout: float = 15.0
    #: free metadata for the recording's header (never secrets)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.entities) - set(ENTITIES)
        if unknown or not self.entities:
            raise UsageError(
                f"--entities takes a comma-separated subset of {','.join(ENTITIES)}"
                + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
            )
        if self.window_s < 0 or self.grace_s < 0:
            raise UsageError("--window and --grace must not be negative")


def channel_names(entities: Iterable[str]) -> list[str]:
    """The feed channels a reconcile of ``entities`` needs (fills feed the position and
    balance invariants)."""
    ents = set(entities)
    names: list[str] = [e for e in ("orders", "positions", "balances") if e in ents]
    if ents & {"fills", "positions", "balances"}:
        names.append("fills")
    return names


def rest_plan(
    entities: Iterable[str], market: str | None, since_ms: int
) -> list[tuple[str, str, dict[str, Any]]]:
    """``(endpoint, path, params)`` of one REST snapshot, in request order."""
    return feed_rest_plan(channel_names(entities), market, since_ms)


class _Collector:
    """The procedure over one :class:`~paradexctl.paradex.feed.LiveFeed`: a consumer task
    records every record of the feed; the procedure's own REST calls go through the feed
    (:meth:`LiveFeed.fetch`), so they reach the recording in order, like the frames."""

    def __init__(
        self,
        feed: LiveFeed,
        *,
        options: CollectOptions,
        sink: Callable[[str], None] | None,
        on_mark: Callable[[str], None] | None = None,
    ) -> None:
        self.feed = feed
        self.on_mark = on_mark
        self.opts = options
        self.sink = sink
        self.wall_ms, self.sleep, self.trace = feed.wall_ms, feed.sleep, feed.trace
        self.records: list[Record] = []
        self.state = StateManager(round(options.grace_s * 1000))
        self.rest_lock = asyncio.Lock()
        self.subscribed = asyncio.Event()
        self.closed: BaseException | None = None
        self.closed_event = asyncio.Event()
        self.snapshot1_done = False
        self.final_started = False
        self.resync_tasks: list[asyncio.Task[None]] = []
        self.since_ms = 0
        #: order ids some record showed live (snapshot 1, a resync, a WS frame)
        self.ever_live: set[str] = set()

    # -- recording ----------------------------------------------------------------------------

    def _note_live(self, payload: Any) -> None:
        if (
            isinstance(payload, Mapping)
            and payload.get("id") is not None
            and payload.get("status") != "CLOSED"
        ):
            self.ever_live.add(str(payload["id"]))

    def _write(self, record: Record, *, apply: bool = True) -> None:
        if isinstance(record, WsFrame):
            if record.channel.startswith("orders."):
                self._note_live(record.data)
        elif isinstance(record, RestSnapshot) and record.endpoint == "orders":
            data = record.data
            for o in (data.get("results") or []) if isinstance(data, Mapping) else []:
                self._note_live(o)
        self.records.append(record)
        if self.sink is not None:
            self.sink(to_line(record))
        if apply:
            try:
                apply_record(self.state, record)
            except (ModelError, RecordingError) as err:
                if self.trace is not None:
                    self.trace(f"reconcile: malformed record kept as is: {err}")

    def _mark(self, name: str, **fields: Any) -> None:
        self._note(Mark(name, {"at": self.wall_ms(), **fields}))

    def _note(self, mark: Mark) -> None:
        self._write(mark, apply=False)
        if self.on_mark is not None:
            self.on_mark(mark.name)

    # -- the feed's records -------------------------------------------------------------------

    async def _consume(self) -> None:
        try:
            async with contextlib.aclosing(self.feed.records()) as records:
                async for rec in records:
                    if type(rec) is Mark:
                        assert isinstance(rec, Mark)
                        self._on_mark(rec)
                    else:
                        self._write(rec)
        except ParadexctlError as err:
            self.closed = err
        finally:
            self.closed_event.set()

    def _on_mark(self, mark: Mark) -> None:
        name = mark.name
        if name == "subscribed":
            self._note(Mark(name, {"at": mark.fields["at"], "attempt": mark.fields["attempt"]}))
            first = not self.subscribed.is_set()
            self.subscribed.set()
            if not first and self.snapshot1_done and not self.final_started:
                # A reconnect inside the window: what was missed is resynced over REST.
                self.resync_tasks.append(asyncio.ensure_future(self._resync()))
        elif name == "disconnected":
            self._note(mark)

    # -- REST ---------------------------------------------------------------------------------

    async def _snapshot(self, label: str) -> set[str]:
        """One REST snapshot (all listings under one boundary); returns the listed order ids."""
        listed: set[str] = set()
        async with self.rest_lock:
            self._mark("snapshot", label=label)
            boundary = self.wall_ms()  # rule 9: before the first request is sent
            for endpoint, path, params in rest_plan(
                self.opts.entities, self.opts.market, self.since_ms
            ):
                snap = await self.feed.fetch(endpoint, path, params, boundary)
                data = snap.data
                if endpoint == "orders" and isinstance(data, Mapping):
                    for o in data.get("results") or []:
                        if isinstance(o, Mapping) and o.get("id") is not None:
                            listed.add(str(o["id"]))
        return listed

    async def _lookup(self, order_ids: Sequence[str]) -> None:
        for order_id in order_ids:
            await self.feed.lookup(order_id)

    def _live_orders(self) -> list[str]:
        """Orders live in the merged state or in any record: their absence from snapshot 2
        is settled by a lookup by id (rule 9), not guessed."""
        ids = set(self.ever_live)
        with contextlib.suppress(ModelError):
            ids.update(self.state.open_orders(self.opts.market))
        return sorted(ids)

    async def _resync(self) -> None:
        if self.final_started:
            return
        try:
            listed = await self._snapshot("resync")
            if "orders" in self.opts.entities:
                unconfirmed = sorted(
                    key for kind, key in self.state.unconfirmed if kind is Kind.ORDER
                )
                await self._lookup(
                    [o for o in unconfirmed if o not in listed][: self.opts.max_lookups]
                )
        except ParadexctlError as err:  # the final snapshot decides; note and go on
            self._mark("resync_failed", error=err.message)

    async def _money(self, start_ms: int) -> None:
        """Completed transfers and funding payments since ``start_ms`` (balance invariant)."""
        markets = sorted(
            m
            for m in self.state.keys(Kind.POSITION)
            if self.opts.market is None or m == self.opts.market
        )
        plan: list[tuple[str, str, dict[str, Any]]] = [
            ("transfers", "/transfers", {"status": "COMPLETED", "start_at": start_ms})
        ]
        plan += [
            ("funding_payments", "/funding/payments", {"market": m, "start_at": start_ms})
            for m in markets
        ]
        for endpoint, path, params in plan:
            try:
                await self.feed.fetch(endpoint, path, params)
            except ExchangeRejected as err:
                if err.status in (404, 405, 501) or (err.code or "").endswith("NOT_FOUND"):
                    self._mark("unavailable", endpoint=endpoint, status=err.status)
                    continue
                raise

    # -- the procedure ------------------------------------------------------------------------

    async def run(self) -> list[Record]:
        opts = self.opts
        started = self.wall_ms()
        self.since_ms = opts.since_ms if opts.since_ms is not None else started - DEFAULT_SINCE_MS
        meta: dict[str, Any] = {
            "tool": "paradexctl reconcile",
            "entities": [e for e in ENTITIES if e in opts.entities],
            "market": opts.market,
            "window_ms": round(opts.window_s * 1000),
            "grace_ms": round(opts.grace_s * 1000),
            "since": self.since_ms,
            "channels": list(self.feed.ws_channels),
        }
        meta.update(opts.meta)
        meta["started_at"] = started
        self._write(Meta(meta), apply=False)
        consumer = asyncio.ensure_future(self._consume())
        try:
            await self._wait_subscribed()
            await self._snapshot("1")
            self.snapshot1_done = True
            snap1_at = self.wall_ms()
            self._mark("window_start")
            await self._window(opts.window_s)
            self._mark("window_end")
            await self._window(opts.grace_s)
            self._mark("grace_end")
            self.final_started = True
            for task in self.resync_tasks:
                with contextlib.suppress(BaseException):
                    await task
            listed = await self._snapshot("2")
            if "orders" in opts.entities:
                gone = [o for o in self._live_orders() if o not in listed]
                await self._lookup(gone[: opts.max_lookups])
            if "balances" in opts.entities:
                await self._money(min(snap1_at, self.since_ms))
            self._mark("done")
        finally:
            self.feed.stop("done")
            for task in self.resync_tasks:
                task.cancel()
            for task in (*self.resync_tasks, consumer):
                with contextlib.suppress(BaseException):
                    await task
        return self.records

    async def _until(self, seconds: float, *events: asyncio.Event) -> None:
        """Wait ``seconds``, or less: until the feed ends or one of ``events`` is set."""
        tasks = [asyncio.ensure_future(e.wait()) for e in (self.closed_event, *events)]
        tasks.append(asyncio.ensure_future(self.sleep(seconds)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()

    async def _wait_subscribed(self) -> None:
        await self._until(self.opts.subscribe_timeout, self.subscribed)
        if self.subscribed.is_set():
            return
        if self.closed is not None:
            raise self.closed
        raise ExchangeUnavailable(
            f"the WebSocket did not subscribe within {self.opts.subscribe_timeout:g} s; "
            "nothing was reconciled"
        )

    async def _window(self, seconds: float) -> None:
        if seconds <= 0:
            return
        await self._until(seconds)
        if self.closed_event.is_set():
            if self.closed is not None:
                raise self.closed
            raise ExchangeUnavailable("the WebSocket closed during the reconcile window")


async def collect(
    *,
    url: str,
    rest: AsyncRest,
    jwt: Callable[[bool], Awaitable[str]] | None,
    options: CollectOptions,
    sink: Callable[[str], None] | None = None,
    wall_ms: Callable[[], int] = now_ms,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ws_options: Mapping[str, Any] | None = None,
    trace: Callable[[str], None] | None = None,
    on_mark: Callable[[str], None] | None = None,
) -> list[Record]:
    """Run the procedure; return the recording's records (each also written to ``sink``).

    Args:
        url: the WebSocket URL.
        rest: an authenticated async REST client
            (:class:`~paradexctl.paradex.rest.AsyncRestClient`).
        jwt: ``async jwt(refresh) -> token`` for the WebSocket.
        options: what to collect and for how long.
        sink: receives every line as it is recorded (``--record FILE``), without newline.
        sleep: the window's and the subscribe timeout's sleep (injected in tests).
        ws_options: extra :class:`~paradexctl.paradex.ws.WsClient` arguments.
        on_mark: called with each mark's name as it is recorded (``subscribed``,
            ``snapshot``, ``window_start``, ``window_end``, ``grace_end``, ``done``...), on the
            event loop: it must not block (tests start their fault scripts from it).

    Raises:
        ExchangeUnavailable: the WebSocket could not subscribe, gave up, or a REST call failed
            after its retries (exit 5); ExchangeRejected for a fatal refusal (exit 4).
    """
    ws_opts: dict[str, Any] = {"max_reconnects": 5, "stale_after": 30.0}
    ws_opts.update(ws_options or {})
    feed = LiveFeed(
        url,
        rest=rest,
        jwt=jwt,
        channels=channel_names(options.entities),
        market=options.market,
        resync=False,  # the procedure decides when REST is read
        wall_ms=wall_ms,
        sleep=sleep,
        ws_options=ws_opts,
        trace=trace,
    )
    return await _Collector(feed, options=options, sink=sink, on_mark=on_mark).run()

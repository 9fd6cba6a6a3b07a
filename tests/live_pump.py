"""Test helpers for the live feed: a feed + ``stream`` consumer bundle driven in process.

:class:`Pump` wires a :class:`~paradexctl.paradex.feed.LiveFeed` and
:func:`~paradexctl.paradex.stream.consume` the way ``paradexctl stream`` does, with every
seam a parameter: the REST client (a sync one is wrapped, its calls made in place), the
WebSocket factory (:class:`IdleWs` for tests without sockets), the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from typing import Any

from paradexctl.core.recording import Record
from paradexctl.core.state import StateManager
from paradexctl.output import LineWriter, StreamLines
from paradexctl.paradex.feed import LiveFeed
from paradexctl.paradex.recordfile import RecordingWriter
from paradexctl.paradex.stream import StreamStats, consume, new_state, run_stream
from paradexctl.paradex.ws import Closed, Notification, WsClient


class SyncRest:
    """An async REST facade over a sync client (a test double or a RestClient)."""

    def __init__(self, rest: Any) -> None:
        self.rest = rest

    async def get(self, path: str, params: Any = None, *, private: bool = False) -> Any:
        return await asyncio.to_thread(self.rest.get, path, params, private=private)

    async def get_paginated(self, path: str, params: Any = None, **kw: Any) -> list[Any]:
        return await asyncio.to_thread(self.rest.get_paginated, path, params, **kw)


class IdleWs:
    """A WsClient stand-in that never connects: it only ends with Closed when stopped."""

    def __init__(self, url: str, channels: Iterable[str], *, queue: Any, **_: Any) -> None:
        self.queue = queue
        self._stop = asyncio.Event()

    async def run(self) -> None:
        try:
            await self._stop.wait()
        finally:
            self.queue.put_nowait(Closed(None, 0))

    def stop(self) -> None:
        self._stop.set()

    def counters(self) -> dict[str, int]:
        return {}


def session_jwt(session: Any) -> Callable[[bool], Any]:
    """``async jwt(refresh)`` from a sim test Session (its login is a blocking call)."""

    def fetch(refresh: bool) -> str:
        if refresh:
            session.authenticator.invalidate()
        return str(session.authenticator.authorization(session.client)).split(" ", 1)[1]

    async def jwt(refresh: bool) -> str:
        return await asyncio.to_thread(fetch, refresh)

    return jwt


def delays_from(values: Iterable[float]) -> Callable[[], Generator[float]]:
    """A ``reconnect_delays`` factory that replays ``values`` then repeats the last."""
    vals = list(values)

    def factory() -> Generator[float]:
        yield from vals
        while True:
            yield vals[-1] if vals else 0.0

    return factory


class _Emit:
    """A sink giving each line as a dict to ``emit`` (no fast path)."""

    text = None

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self.emit = emit

    def __call__(self, line: Mapping[str, Any]) -> None:
        self.emit(dict(line))

    def flush(self) -> None:
        pass


class Pump:
    """``paradexctl stream`` in process: feed + consumer, lines to ``emit`` (dicts) or to a
    :class:`LineWriter` (``writer``)."""

    def __init__(
        self,
        url: str,
        *,
        rest: Any,
        jwt: Any,
        channels: Iterable[str] = ("orders", "fills", "positions", "balances", "account"),
        market: str | None = None,
        state: StateManager | None = None,
        emit: Callable[[dict[str, Any]], None] | None = None,
        writer: LineWriter | None = None,
        merged: bool = False,
        explain: bool = False,
        record: RecordingWriter | None = None,
        count: int | None = None,
        duration: float | None = None,
        resync_every: float = 0.0,
        wall_ms: Callable[[], int] | None = None,
        ws_options: Mapping[str, Any] | None = None,
        on_decision: Any = None,
        grace_ms: int = 5000,
        trace: Any = None,
    ) -> None:
        self.state = state if state is not None else new_state(grace_ms)
        sink: Any = writer if writer is not None else (_Emit(emit) if emit is not None else None)
        self.lines = StreamLines(sink, explain=explain) if sink is not None else None
        kw: dict[str, Any] = {} if wall_ms is None else {"wall_ms": wall_ms}
        if url == "ws://unused":
            kw["ws_factory"] = IdleWs
        st = self.state
        self.feed = LiveFeed(
            url,
            rest=SyncRest(rest) if rest is not None and not hasattr(rest, "aclose") else rest,
            jwt=jwt,
            channels=list(channels),
            market=market,
            resync_every=resync_every,
            pending_orders=lambda: [k for kind, k in st.unconfirmed if kind.value == "order"],
            ws_options=ws_options,
            fill_margin_ms=self.state.grace_ms,
            trace=trace,
            **kw,
        )
        self.ws_channels = self.feed.ws_channels
        self.options: dict[str, Any] = {
            "merged": merged,
            "explain": explain,
            "count": count,
            "on_decision": on_decision,
            "trace": trace,
        }
        self.record = record
        self.duration = duration
        self.stats_obj = StreamStats()

    @property
    def stats(self) -> dict[str, int]:
        return {
            **self.stats_obj.counts,
            "frames": self.feed.stats["frames"],
            "unknown_channel": self.feed.stats["unknown_channel"],
            "resyncs": self.feed.stats["resyncs"],
            "resync_failures": self.stats_obj.counts["resync_failures"],
        }

    def stop(self, reason: str = "stopped") -> None:
        self.feed.stop(reason)

    async def run(self) -> str:
        reason, self.stats_obj = await run_stream(
            self.feed,
            state=self.state,
            lines=self.lines,
            duration=self.duration,
            record=self.record,
            **self.options,
        )
        return reason

    async def resync(self) -> bool:
        """One resync, consumed (the feed runs for its duration, without a WebSocket)."""
        self.feed.queue = asyncio.Queue()  # one feed, run on more than one event loop
        task = asyncio.ensure_future(self.run())
        try:
            await asyncio.sleep(0)
            return await self.feed.resync()
        finally:
            self.feed.stop("done")
            await asyncio.wait_for(task, 10)

    def apply(self, notifications: Iterable[Notification]) -> str:
        """Run the feed over ``notifications`` (queued as the WsClient would), then stop."""
        self.feed.queue = asyncio.Queue()
        for n in notifications:
            self.feed.queue.put_nowait(n)
        self.feed.stop("done")
        return asyncio.run(self.run())

    async def replay(self, records: Iterable[Record]) -> StreamStats:
        """Consume recorded ``records`` with the same consumer (no feed)."""

        async def gen() -> AsyncIterator[Record]:
            for r in records:
                yield r

        return await consume(
            gen(),
            state=self.state,
            lines=self.lines,
            ws_channels=self.ws_channels,
            market=self.feed.market,
            stats=self.stats_obj,
            **self.options,
        )


__all__ = ["IdleWs", "Pump", "SyncRest", "WsClient", "contextlib", "delays_from", "session_jwt"]

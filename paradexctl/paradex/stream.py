"""The ``stream`` consumer: the live feed's records through one StateManager into lines.

:func:`consume` reads the records of a :class:`~paradexctl.paradex.feed.LiveFeed` (or of a
recording: any async iterable of records), applies each with
:func:`~paradexctl.core.recording.apply_record` into one
:class:`~paradexctl.core.state.StateManager` (there is no other merge logic), writes it to
the recording file, and hands typed events to :class:`~paradexctl.output.StreamLines`, which
renders them (``docs/stream.md``). It never formats a line itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paradexctl.core.models import ModelError
from paradexctl.core.recording import (
    Mark,
    Meta,
    Record,
    RestSnapshot,
    WsFrame,
    apply_record,
    ws_channel_kind,
)
from paradexctl.core.state import Decision, Kind, Source, StateManager, Update
from paradexctl.errors import ExchangeUnavailable
from paradexctl.output import StreamLines

if TYPE_CHECKING:
    from paradexctl.paradex.recordfile import RecordingWriter

__all__ = ["StreamStats", "consume", "new_state"]

_KIND_CHANNEL: Mapping[Kind, str] = {
    Kind.ORDER: "orders",
    Kind.FILL: "fills",
    Kind.TRADEBUST: "fills",
    Kind.POSITION: "positions",
    Kind.BALANCE: "balances",
    Kind.ACCOUNT: "account",
}
_LIFECYCLE = frozenset({"connected", "subscribed", "reconnecting", "stale", "disconnected"})
_ORIGIN = {"order": "GET /orders/{id}", "balance": "GET /balance"}


_UNSET: Any = object()


def _builder(channel: str) -> Callable[..., Update] | None:
    """The Update builder of a WS channel: the mapping of
    :func:`~paradexctl.core.recording.updates_from_record` (None: a channel the state
    ignores). A recording replayed with :func:`apply_record` decides the same (tested)."""
    kind = ws_channel_kind(channel)
    if kind is None:
        return None
    if channel == "balance_events":
        return Update.balance_event
    return getattr(Update, kind.value)  # type: ignore[no-any-return]


def new_state(grace_ms: int = 5000) -> StateManager:
    """The state of a long stream, bounded: the last 5,000 fills (de-duplication), the full
    state of the last 5,000 closed orders, 100,000 closed-order tombstones."""
    return StateManager(grace_ms, max_fills=5_000, max_closed_orders=5_000, max_tombstones=100_000)


@dataclass
class StreamStats:
    """What a stream saw (printed with ``-v``)."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("frames", "accepted", "rejected", "malformed", "resyncs", "resync_failures"), 0
        )
    )
    updates: int = 0
    subscribed: bool = False
    last_problem: str = ""


@dataclass
class _Resync:
    boundary_at: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    changed: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0


async def consume(
    records: AsyncIterable[Record],
    *,
    state: StateManager,
    lines: StreamLines | None,
    ws_channels: Mapping[str, str],
    market: str | None = None,
    merged: bool = False,
    explain: bool = False,
    count: int | None = None,
    record: RecordingWriter | None = None,
    raw: Callable[[], str | None] = lambda: None,
    idle: Callable[[], bool] = lambda: True,
    on_decision: Callable[[Decision], None] | None = None,
    trace: Callable[[str], None] | None = None,
    stats: StreamStats | None = None,
) -> StreamStats:
    """Apply ``records`` to ``state`` and render them; return when they end or after
    ``count`` update lines.

    Args:
        ws_channels: ``{ws channel: channel name}`` of the stream (output ``channel``).
        merged: emit only updates the state manager accepted (from WS and REST).
        explain: add each decision; without ``merged``, REST rows and rejected updates too.
        record: the recording file receiving every record (a failed write raises
            :class:`~paradexctl.errors.LocalFileError`, exit 74).
        raw: the received JSON text of the current WS frame's payload (the feed's
            :attr:`~paradexctl.paradex.feed.LiveFeed.raw`), for the fast path.
        idle: True when no record is waiting: the pending lines are flushed then.
        on_decision: receives every decision, after it was applied.
    """
    st = stats if stats is not None else StreamStats()
    c = st.counts
    resync = _Resync()
    write = record.write if record is not None else None
    builders: dict[str, Any] = {}
    apply = state.apply
    ws = Source.WS
    flush_lines = lines.flush if lines is not None else (lambda: None)

    def visible(data: Any) -> bool:
        if market is None or not isinstance(data, Mapping):
            return True
        m = data.get("market")
        return m is None or m == market

    def counted() -> bool:
        st.updates += 1
        return count is not None and st.updates >= count

    def emit_decision(d: Decision, origin: str) -> bool:
        u = d.update
        if lines is None:
            return False
        if u.payload and not visible(u.payload):
            return False
        if not u.payload and d.prior is not None and not visible(d.prior):
            return False
        lines.decision(d, _KIND_CHANNEL[u.kind], origin)
        return counted()

    def after(decisions: list[Decision]) -> None:
        for d in decisions:
            c["accepted" if d.accepted else "rejected"] += 1
            if on_decision is not None:
                on_decision(d)

    async for rec in records:
        if write is not None:
            write(rec)
        t = type(rec)
        if t is WsFrame:
            assert isinstance(rec, WsFrame)
            c["frames"] += 1
            channel = rec.channel
            build = builders.get(channel, _UNSET)
            if build is _UNSET:
                build = builders[channel] = _builder(channel)
            try:
                # apply_record's mapping, looked up once per channel (the hot path)
                first = apply(build(rec.data, ws, rec.received_at)) if build is not None else None
            except ModelError as err:
                c["malformed"] += 1
                if trace is not None:
                    trace(f"ws< malformed {channel} payload: {err}")
                if lines is not None and not merged and visible(rec.data):
                    name = ws_channels.get(channel, channel)
                    lines.ws_update(rec.received_at, name, channel, rec.data, None, None, str(err))
                    if counted():
                        break
                continue
            if first is not None:
                c["accepted" if first.accepted else "rejected"] += 1
                if on_decision is not None:
                    on_decision(first)
            if lines is not None:
                if merged:
                    if first is not None and first.accepted and emit_decision(first, channel):
                        break
                elif market is None or visible(rec.data):
                    name = ws_channels.get(channel, channel)
                    lines.ws_update(rec.received_at, name, channel, rec.data, raw(), first)
                    if counted():
                        break
            if idle():
                flush_lines()  # about to wait: every line so far goes out now
            continue
        elif t is RestSnapshot:
            assert isinstance(rec, RestSnapshot)
            origin = _ORIGIN.get(rec.endpoint, f"GET /{rec.endpoint}")
            try:
                decisions = apply_record(state, rec)
            except ModelError as err:
                resync.failed[origin] = f"malformed answer: {err}"
                continue
            after(decisions)
            stop = False
            n = 0
            for d in decisions:
                if d.update.payload:
                    n += 1
                if d.accepted:
                    resync.accepted += 1
                    resync.changed.append(
                        {"kind": d.kind.value, "key": d.key, "reason": d.reason.value}
                    )
                    if merged and emit_decision(d, origin):
                        stop = True
                        break
                else:
                    resync.rejected += 1
                if explain and not merged and emit_decision(d, origin):
                    stop = True
                    break
            resync.rows[origin] = resync.rows.get(origin, 0) + n
            flush_lines()  # the next REST call may take a while: these lines go out now
            if stop:
                break
        elif t is Mark:
            assert isinstance(rec, Mark)
            name = rec.name
            if name in _LIFECYCLE:
                if name == "subscribed":
                    st.subscribed = True
                elif name in ("disconnected", "reconnecting"):
                    st.last_problem = str(rec.fields.get("reason") or st.last_problem)
                if lines is not None:
                    lines.lifecycle(name, rec.fields)
            elif name == "resync":
                c["resyncs"] += 1
                resync = _Resync(boundary_at=int(rec.fields.get("boundary_at") or 0))
            elif name == "resynced":
                failed = {**dict(rec.fields.get("failed") or {}), **resync.failed}
                if failed:
                    c["resync_failures"] += 1
                if record is not None:
                    with contextlib.suppress(OSError, ValueError):
                        record.flush()
                if lines is not None:
                    fields: dict[str, Any] = {
                        "at": rec.fields.get("at"),
                        "boundary_at": resync.boundary_at,
                        "rows": resync.rows,
                        "accepted": resync.accepted,
                        "rejected": resync.rejected,
                        "changed": resync.changed,
                        "unconfirmed": sorted(f"{k.value}:{key}" for k, key in state.unconfirmed),
                    }
                    if failed:
                        fields["failed"] = failed
                    lines.lifecycle("resynced", fields)
                    flush_lines()
        if idle():
            flush_lines()  # about to wait: every line so far goes out now
    flush_lines()
    return st


async def run_stream(
    feed: Any,
    *,
    state: StateManager,
    lines: StreamLines | None,
    duration: float | None = None,
    record: RecordingWriter | None = None,
    record_meta: Mapping[str, Any] | None = None,
    **options: Any,
) -> tuple[str, StreamStats]:
    """``paradexctl stream``: run ``feed`` (a :class:`~paradexctl.paradex.feed.LiveFeed`)
    through :func:`consume`; returns the stop reason (``count``, ``duration``, ``closed``)
    and the stats.

    Raises:
        ExchangeUnavailable: ``duration`` ended without the stream ever subscribing (exit 5).
        ParadexctlError: the WebSocket gave up or met a fatal error.
    """
    if record is not None:
        meta: dict[str, Any] = {"tool": "paradexctl stream", "channels": list(feed.ws_channels)}
        meta.update(record_meta or {})
        meta["started_at"] = feed.started_at
        record.write(Meta(meta))
    loop = asyncio.get_running_loop()
    timer = loop.call_later(duration, feed.stop, "duration") if duration is not None else None
    st = StreamStats()
    try:
        async with contextlib.aclosing(feed.records()) as records:
            await consume(
                records,
                state=state,
                lines=lines,
                ws_channels=feed.ws_channels,
                market=feed.market,
                record=record,
                raw=lambda: feed.raw,
                idle=lambda: not feed.queue.qsize(),
                stats=st,
                **options,
            )
    finally:
        if timer is not None:
            timer.cancel()
        if record is not None:
            with contextlib.suppress(OSError, ValueError):
                record.flush()
    reason = "count" if feed.stop_reason is None else feed.stop_reason
    if reason == "duration" and not st.subscribed:
        last = st.last_problem or feed.last_problem or "no answer"
        raise ExchangeUnavailable(
            f"stream: never connected to {feed.url} in {duration:g} s (last: {last})"
        )
    return reason, st

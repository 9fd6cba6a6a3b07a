"""``paradexctl stream``: private WebSocket channels as NDJSON (``docs/stream.md``).

Thin: parse flags, build a :class:`~paradexctl.paradex.feed.LiveFeed`, run it through the
``stream`` consumer (:func:`paradexctl.paradex.stream.run_stream`) into
:class:`~paradexctl.output.StreamLines` (NDJSON, or a readable live view on a terminal
without ``-o``).

Reconnect tunables are profile keys (``docs/configuration.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.errors import UsageError

__all__ = ["register"]

CHANNEL_CHOICES = ("orders", "fills", "positions", "balances", "account")

HELP = """Stream private WebSocket channels as NDJSON, one object per line, flushed before every wait.

CHANNEL is any of orders, fills, positions, balances, account (default: all of them).
Lifecycle lines (connected, subscribed, reconnecting, resynced, stale, disconnected) are
interleaved with update lines; docs/stream.md gives every field. The stream reconnects
forever by default, restores every subscription and resyncs over REST after each connect.
"""


def stream(
    channels: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="CHANNEL",
            help="orders, fills, positions, balances, account [default: all].",
            show_default=False,
        ),
    ] = None,
    market: Annotated[
        str | None,
        typer.Option("--market", metavar="M", help="Only this market (orders, fills, output)."),
    ] = None,
    merged: Annotated[
        bool,
        typer.Option(
            "--merged", help="Emit only updates the state manager accepted (WS and REST)."
        ),
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add each update's decision and its reason.")
    ] = False,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            metavar="FILE",
            help="Write every WS frame and REST snapshot to FILE (recording format).",
            dir_okay=False,
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option("--count", metavar="N", min=1, help="Exit 0 after N update lines."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", metavar="S", min=0.0, help="Exit 0 after S seconds."),
    ] = None,
    max_reconnects: Annotated[
        int | None,
        typer.Option(
            "--max-reconnects",
            metavar="N",
            min=0,
            help="Give up (exit 5) after N reconnects in a row without a stable connection "
            "[default: reconnect forever].",
        ),
    ] = None,
    stale_after: Annotated[
        float,
        typer.Option(
            "--stale-after",
            metavar="S",
            min=0.05,
            help="Reconnect when nothing (data or pong) arrives for S seconds.",
        ),
    ] = 30.0,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            metavar="S",
            min=0.0,
            help="Grace window: REST loses to a WS update received less than S seconds before.",
        ),
    ] = 5.0,
    resync_every: Annotated[
        float,
        typer.Option(
            "--resync-every",
            metavar="S",
            min=0.0,
            help="Also resync over REST every SECONDS; 0: only after each connect.",
        ),
    ] = 0.0,
    output: OutputOpt = None,
) -> None:
    import asyncio

    from paradexctl.cli._session import live_feed, open_session, ws_options
    from paradexctl.output import LineWriter, LiveView, StreamLines
    from paradexctl.paradex.recordfile import RecordingWriter
    from paradexctl.paradex.stream import StreamStats, new_state, run_stream

    names = list(dict.fromkeys(channels or CHANNEL_CHOICES))
    bad = [n for n in names if n not in CHANNEL_CHOICES]
    if bad:
        raise UsageError(
            f"unknown channel(s) {', '.join(map(repr, bad))}: choose from "
            f"{', '.join(CHANNEL_CHOICES)} (public market data is not streamed by this command)"
        )
    ctx = get_ctx()
    out = ctx.report_output(output, "stream")
    settings = ctx.settings()
    sink = LiveView(out.stdout) if out.fmt == "table" else LineWriter(out.stdout, batch=True)
    lines = StreamLines(sink, explain=explain)
    ws_opts = ws_options(max_reconnects=max_reconnects, stale_after=stale_after)
    trace = (lambda line: out.message("trace", line)) if ctx.verbose else None
    session = open_session(settings)
    if market is not None:
        # checked locally (GET /markets, cached), as order place does: an unknown market is
        # exit 2 before anything connects; btc-usd-perp is BTC-USD-PERP
        market = str(session.market(market).get("symbol") or market)
    record_file = None
    state = new_state(round(grace * 1000))
    stats: StreamStats | None = None
    feed: Any = None
    try:
        if record is not None:
            # the recording holds account data: 0600; a failed write is exit 74
            record_file = RecordingWriter.open(record)

        async def main() -> str:
            nonlocal feed, stats
            async with live_feed(
                session,
                settings,
                channels=names,
                market=market,
                resync_every=resync_every,
                pending_orders=lambda: [
                    k for kind, k in state.unconfirmed if kind.value == "order"
                ],
                ws_options=ws_opts,
                trace=trace,
            ) as feed:
                reason, stats = await run_stream(
                    feed,
                    state=state,
                    lines=lines,
                    duration=duration,
                    record=record_file,
                    record_meta={
                        "env": settings.env,
                        "api_url": settings.api_url,
                        "ws_url": settings.ws_url,
                        "market": market,
                    },
                    merged=merged,
                    explain=explain,
                    count=count,
                    trace=trace,
                )
                return reason

        reason = asyncio.run(main())
        out.debug(f"stream: stopped ({reason})")
        if record_file is not None:
            record_file.close()  # raises LocalFileError (exit 74) if the last write fails
    finally:
        if feed is not None and ctx.verbose:
            client = feed.client.counters() if feed.client is not None else {}
            pump = dict(stats.counts) if stats is not None else {}
            pump["frames"] = feed.stats["frames"]
            pump["unknown_channel"] = feed.stats["unknown_channel"]
            counters = json.dumps({"pump": pump, "ws": client}, separators=(",", ":"))
            out.debug(f"stream: counters {counters}")
        if record_file is not None:
            record_file.abort()  # after an error: what was written in full stays
        session.close()


def register(app: typer.Typer) -> None:
    app.command("stream", help=HELP)(stream)

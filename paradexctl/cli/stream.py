"""``paradexctl stream``: private WebSocket channels as NDJSON (``docs/stream.md``).

Thin: parse flags, build a :class:`~paradexctl.paradex.stream.StreamPump`, hand its lines to
the renderer (NDJSON, or a readable live view on a terminal without ``-o``).

Environment knobs for tests and demos (documented in ``docs/stream.md``):
``PARADEXCTL_WS_BACKOFF_BASE_MS`` and ``PARADEXCTL_WS_BACKOFF_CAP_MS`` (reconnect backoff),
``PARADEXCTL_WS_STABLE_AFTER_S`` (flap guard), ``PARADEXCTL_WS_OPEN_TIMEOUT_S``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.errors import UsageError
from paradexctl.output import OutputClosed

__all__ = ["register"]

CHANNEL_CHOICES = ("orders", "fills", "positions", "balances", "account")

HELP = """Stream private WebSocket channels as NDJSON, one object per line, flushed before every wait.

CHANNEL is any of orders, fills, positions, balances, account (default: all of them).
Lifecycle lines (connected, subscribed, reconnecting, resynced, stale, disconnected) are
interleaved with update lines; docs/stream.md gives every field. The stream reconnects
forever by default, restores every subscription and resyncs over REST after each connect.
"""


def _clean(value: Any) -> str:
    """A venue string made safe for a terminal (no control characters)."""
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else "?" for c in text)


class _LiveView:
    """A readable one-line-per-event view for a terminal."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def __call__(self, line: dict[str, Any]) -> None:
        import time as _time

        ts = line.get("ts")
        clock = (
            _time.strftime("%H:%M:%S", _time.localtime(ts / 1000)) + f".{ts % 1000:03d}"
            if isinstance(ts, int)
            else "--:--:--.---"
        )
        kind = line.get("type")
        if kind == "update":
            text = f"{line.get('source', ''):4} {line.get('channel', ''):9} " + self._data(line)
            decision = line.get("decision")
            if isinstance(decision, dict):
                verdict = "accepted" if decision.get("accepted") else "rejected"
                text += f"  [{verdict}: {decision.get('reason')}]"
        else:
            extras = " ".join(
                f"{k}={_clean(v if not isinstance(v, (list, dict)) else len(v))}"
                for k, v in line.items()
                if k not in ("ts", "type") and v not in (None, "", [], {})
            )
            text = f"-- {kind} {extras}"
        self._write(f"{clock} {text}\n")

    @staticmethod
    def _data(line: dict[str, Any]) -> str:
        d = line.get("data")
        if not isinstance(d, dict):
            return f"{_clean(line.get('key'))} (absent)"
        ch = line.get("channel")
        if ch == "orders":
            parts = [d.get("market"), d.get("side"), d.get("type"), d.get("size")]
            price = d.get("price")
            text = " ".join(_clean(p) for p in parts if p)
            if price not in (None, "", "0"):
                text += f" @ {_clean(price)}"
            text += f" {_clean(d.get('status'))} remaining {_clean(d.get('remaining_size'))}"
            if d.get("cancel_reason"):
                text += f" ({_clean(d.get('cancel_reason'))})"
            return text + f" id {_clean(d.get('id'))}"
        if ch == "fills":
            if "busted_fill_id" in d:
                return f"tradebust of fill {_clean(d.get('busted_fill_id'))}"
            return (
                f"{_clean(d.get('market'))} {_clean(d.get('side'))} {_clean(d.get('size'))} @ "
                f"{_clean(d.get('price'))} fee {_clean(d.get('fee'))} {_clean(d.get('liquidity'))}"
                f" order {_clean(d.get('order_id'))}"
            )
        if ch == "positions":
            return (
                f"{_clean(d.get('market'))} {_clean(d.get('side'))} size {_clean(d.get('size'))} "
                f"entry {_clean(d.get('average_entry_price'))} "
                f"uPnL {_clean(d.get('unrealized_pnl'))}"
            )
        if ch == "balances":
            return f"{_clean(d.get('token'))} {_clean(d.get('size'))}"
        if ch == "account":
            return (
                f"value {_clean(d.get('account_value'))} free "
                f"{_clean(d.get('free_collateral'))} status {_clean(d.get('status'))}"
            )
        return _clean(d)

    def _write(self, text: str) -> None:
        try:
            self.out.stdout.write(text)
            self.out.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
            raise OutputClosed() from None


def _ndjson_writer(out: Any, *, batch: bool = False, batch_bytes: int = 65536) -> Any:
    """NDJSON lines as :meth:`Output.line` renders them (compact, Decimals as strings),
    without its generic pre-pass over every value (the stream's payloads are already plain
    JSON types).

    By default each line is written and flushed at once. With ``batch=True`` lines are kept
    until ``emit.flush()`` (the pump calls it before it waits for input) or until
    ``batch_bytes`` of them are pending, then written with one write and one flush: a burst
    of frames costs one pipe write instead of one per line (``docs/stream.md``, Output).
    """
    import json
    from decimal import Decimal

    def fallback(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        from paradexctl.output import jsonable

        return jsonable(value)

    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=fallback).encode
    stdout = out.stdout

    def write(data: str) -> None:
        try:
            stdout.write(data)
            stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
            raise OutputClosed() from None

    if not batch:

        def text(line: str) -> None:
            write(line + "\n")

        def flush() -> None:
            pass

    else:
        pending: list[str] = []
        size = 0

        def flush() -> None:
            nonlocal size
            if pending:
                data = "\n".join(pending) + "\n"
                pending.clear()
                size = 0
                write(data)

        def text(line: str) -> None:
            nonlocal size
            pending.append(line)
            size += len(line)
            if size >= batch_bytes:
                flush()

    def emit(obj: dict[str, Any]) -> None:
        text(encode(obj))

    emit.text = text  # type: ignore[attr-defined]
    emit.flush = flush  # type: ignore[attr-defined]
    return emit


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's last flush cannot fail again."""
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def stream(
    channels: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="CHANNEL",
            help="orders, fills, positions, balances, account (default: all).",
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
            "(default: reconnect forever).",
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
            help="Also resync over REST every S seconds (default 0: only after each connect).",
        ),
    ] = 0.0,
    output: OutputOpt = None,
) -> None:
    import asyncio

    from paradexctl.cli._session import open_session, ws_options_from_env
    from paradexctl.paradex.recordfile import RecordingWriter
    from paradexctl.paradex.stream import StreamPump, session_jwt

    names = list(dict.fromkeys(channels or CHANNEL_CHOICES))
    bad = [n for n in names if n not in CHANNEL_CHOICES]
    if bad:
        raise UsageError(
            f"unknown channel(s) {', '.join(map(repr, bad))}: choose from "
            f"{', '.join(CHANNEL_CHOICES)} (public market data is not streamed by this command)"
        )
    ctx = get_ctx()
    out = ctx.output(output)
    settings = ctx.settings()
    emit = _LiveView(out) if out.fmt == "table" else _ndjson_writer(out, batch=True)
    emit_text = getattr(emit, "text", None)
    flush = getattr(emit, "flush", None)

    ws_options = ws_options_from_env(max_reconnects=max_reconnects, stale_after=stale_after)
    trace = (lambda line: print(line, file=out.stderr, flush=True)) if ctx.verbose else None
    session = open_session(settings)
    record_file = None
    pump: StreamPump | None = None
    try:
        if record is not None:
            # the recording holds account data: 0600; a failed write is exit 74
            record_file = RecordingWriter.open(record)
        pump = StreamPump(
            settings.ws_url,
            rest=session.client,
            jwt=session_jwt(session),
            channels=names,
            market=market,
            grace_ms=round(grace * 1000),
            emit=emit,
            emit_text=emit_text,
            flush=flush,
            merged=merged,
            explain=explain,
            record=record_file,
            record_meta={
                "env": settings.env,
                "api_url": settings.api_url,
                "ws_url": settings.ws_url,
                "market": market,
            },
            count=count,
            duration=duration,
            resync_every=resync_every,
            trace=trace,
            ws_options=ws_options,
        )
        reason = asyncio.run(pump.run())
        out.debug(f"stream: stopped ({reason})")
        if record_file is not None:
            record_file.close()  # raises LocalFileError (exit 74) if the last write fails
    finally:
        if pump is not None and ctx.verbose:
            client = pump.client.counters() if pump.client is not None else {}
            counters = json.dumps({"pump": pump.stats, "ws": client}, separators=(",", ":"))
            out.debug(f"stream: counters {counters}")
        if record_file is not None:
            record_file.abort()  # after an error: what was written in full stays
        session.close()


def register(app: typer.Typer) -> None:
    app.command("stream", help=HELP)(stream)

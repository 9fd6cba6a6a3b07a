"""``-w/--watch`` on ``orders list``, ``positions``, ``balances`` and ``account``: the rows
kept live from the merged stream, so the screen is the state manager's view (not polling).

On a terminal (``-o table``, its default there) the table is redrawn in place when the state
changes (at most five times a second); with ``-o ndjson`` (the default in a pipe) each
accepted change is one line, as ``stream CHANNEL --merged`` prints it. It runs until
interrupted (exit 130), like ``stream``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from paradexctl.cli.context import get_ctx
from paradexctl.errors import UsageError

__all__ = ["REDRAW_S", "by_key", "watch"]

#: the shortest time between two redraws of the table
REDRAW_S = 0.2


def watch(
    channel: str,
    *,
    rows: Callable[[Any], Any],
    columns: list[str] | None,
    market: str | None = None,
    output: str | None = None,
) -> None:
    """Watch ``channel`` (``orders``, ``positions``, ``balances``, ``account``); ``rows(state)``
    gives what the table shows (a list of mappings, or one mapping)."""
    from paradexctl.cli._session import live_feed, open_session, ws_options
    from paradexctl.output import LineWriter, StreamLines
    from paradexctl.paradex.stream import new_state, run_stream

    ctx = get_ctx()
    if ctx.jq is not None or ctx.fields:
        raise UsageError("--watch cannot be combined with --jq or --fields")
    # a terminal gets the table; a pipe the changes (NDJSON), unless -o says otherwise; errors
    # stay in the format that was asked for (JSON only when it was, explicitly)
    explicit = output or ctx.output_format
    out = ctx.output(explicit or ("table" if _tty() else "ndjson"))
    ctx.error_format = explicit or "table"
    if out.fmt not in ("table", "ndjson"):
        raise UsageError(
            f"--watch shows a live table (-o table) or prints each change (-o ndjson), not {out.fmt}"
        )
    settings = ctx.settings()
    session = open_session(settings)
    if market is not None:
        market = str(session.market(market).get("symbol") or market)
    state = new_state()
    view = _Table(out, rows, columns, state) if out.fmt == "table" else None
    lines = None if view is not None else StreamLines(LineWriter(out.stdout, batch=True))

    async def main() -> None:
        async with live_feed(
            session, settings, channels=[channel], market=market, ws_options=ws_options()
        ) as feed:
            if view is not None:
                view.start()
            redraw = asyncio.get_running_loop().create_task(view.run()) if view else None
            try:
                await run_stream(
                    feed, state=state, lines=lines, merged=True,
                    on_decision=(view.changed if view is not None else None),
                )  # fmt: skip
            finally:
                if redraw is not None:
                    redraw.cancel()
                    with contextlib.suppress(BaseException):
                        await redraw
                if view is not None:
                    view.close()

    try:
        asyncio.run(main())
    finally:
        session.close()


def _tty() -> bool:
    import sys

    return sys.stdout.isatty()


def by_key(entity: str) -> Callable[[Any], list[dict[str, Any]]]:
    """``rows(state)`` for ``--watch`` of a keyed entity of the state manager (``positions``,
    ``balances``): each one's payload as received, in key order."""

    def rows(state: Any) -> list[dict[str, Any]]:
        return [dict(v.raw) for _, v in sorted(getattr(state, entity).items())]

    return rows


class _Table:
    """The live table: redrawn in place (rich's Live) when the state changed."""

    def __init__(self, out: Any, rows: Callable[[Any], Any], columns: list[str] | None,
                 state: Any) -> None:  # fmt: skip
        from rich.live import Live

        self.out, self.rows, self.columns, self.state = out, rows, columns, state
        self.dirty = True
        self.live = Live(console=out.console(), auto_refresh=False, transient=False)

    def start(self) -> None:
        self.live.start(refresh=False)
        self.live.update(self._render(), refresh=True)

    def changed(self, decision: Any) -> None:
        if getattr(decision, "accepted", True):
            self.dirty = True

    def _render(self) -> Any:
        self.out.hidden_note = None
        table = self.out.build_table(self.rows(self.state), columns=self.columns)
        if self.out.hidden_note:
            table.caption = self.out.hidden_note  # under the table: it is redrawn with it
        return table

    async def run(self) -> None:
        while True:
            if self.dirty:
                self.dirty = False
                self.live.update(self._render(), refresh=True)
            await asyncio.sleep(REDRAW_S)

    def close(self) -> None:
        if not self.live.is_started:
            return
        if self.dirty:
            self.live.update(self._render(), refresh=True)
        self.live.stop()

"""``paradexctl markets`` and ``paradexctl bbo``: public market data."""

# No ``from __future__ import annotations``: typer would have to evaluate every string
# annotation of the commands below at start-up.

from typing import Annotated

import typer

from paradexctl.cli.context import OutputOpt, get_ctx

MARKET_COLUMNS = [
    "symbol",
    "asset_kind",
    "price_tick_size",
    "order_size_increment",
    "min_notional",
    "max_order_size",
    "position_limit",
    "max_open_orders",
]


def register(app: typer.Typer) -> None:
    app.command("markets")(markets)
    app.command("bbo")(bbo)


def markets(
    market: Annotated[
        str | None, typer.Argument(help="One market symbol, e.g. BTC-USD-PERP.")
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ignore the 5-minute metadata cache.")
    ] = False,
    output: OutputOpt = None,
) -> None:
    """List markets with their increments and limits (or one market in full)."""
    from paradexctl.cli._session import open_session

    out = get_ctx().output(output)
    with open_session() as sess:
        if market:
            if refresh:
                sess.markets(refresh=True)
            out.emit(sess.market(market))
            return
        rows = list(sess.markets(refresh=refresh).values())
    rows.sort(key=lambda m: str(m.get("symbol")))
    out.emit(rows, columns=MARKET_COLUMNS)


def bbo(
    market: Annotated[str, typer.Argument(help="Market symbol, e.g. BTC-USD-PERP.")],
    output: OutputOpt = None,
) -> None:
    """Best bid and offer of one market."""
    from paradexctl.cli._session import open_session

    out = get_ctx().output(output)
    from paradexctl.paradex.rest import expect_object, path_segment

    with open_session() as sess:
        body = expect_object(sess.client.get(f"/bbo/{path_segment(market)}"), "GET /bbo/{market}")
    out.emit(body)

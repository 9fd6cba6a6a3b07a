"""``paradexctl account`` (+ ``onboard``), ``balances``, ``positions``, ``fills``."""

# No ``from __future__ import annotations``: typer would have to evaluate every string
# annotation of the commands below at start-up.

import time
from typing import Annotated

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.errors import UsageError

account_app = typer.Typer(
    help="The account summary (margin, collateral); 'account onboard' registers a new account.",
    invoke_without_command=True,
)

BALANCE_COLUMNS = ["token", "size", "last_updated_at"]
POSITION_COLUMNS = [
    "market",
    "status",
    "side",
    "size",
    "average_entry_price",
    "unrealized_pnl",
    "liquidation_price",
    "last_updated_at",
]
FILL_COLUMNS = [
    "id",
    "created_at",
    "market",
    "side",
    "size",
    "price",
    "liquidity",
    "fee",
    "order_id",
    "client_id",
]

LimitOpt = Annotated[
    int, typer.Option("--limit", min=1, help="At most this many rows (cursor pages are followed).")
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since", metavar="WHEN", help="Only since WHEN: unix ms/s, ISO time, or 30m, 2h, 7d."
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(account_app, name="account")
    app.command("balances")(balances)
    app.command("positions")(positions)
    app.command("fills")(fills)


@account_app.callback()
def account(typer_ctx: typer.Context, output: OutputOpt = None) -> None:
    """Show the account summary (GET /account)."""
    if typer_ctx.invoked_subcommand is not None:
        return
    from paradexctl.cli._session import open_session

    out = get_ctx().output(output)
    from paradexctl.paradex.rest import expect_object

    with open_session() as sess:
        body = expect_object(sess.client.get("/account", private=True), "GET /account")
    out.emit(body)


@account_app.command("onboard")
def onboard(
    ethereum_account: Annotated[
        str,
        typer.Option("--ethereum-account", metavar="ADDR", help="L1 address to link."),
    ] = "0x0",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask on prod.")] = False,
    output: OutputOpt = None,
) -> None:
    """Register this key's account with the exchange (POST /onboarding; idempotent)."""
    from paradexctl.cli._session import open_session

    ctx = get_ctx()
    out = ctx.output(output)
    ctx.confirm("onboard this account", yes=yes)
    with open_session() as sess:
        result = sess.onboard(ethereum_account)
    out.emit(result)
    out.info(f"account {result['account']} is onboarded")


def balances(output: OutputOpt = None) -> None:
    """Token balances (GET /balance)."""
    from paradexctl.cli._session import open_session

    out = get_ctx().output(output)
    from paradexctl.paradex.rest import expect_rows

    with open_session() as sess:
        rows = expect_rows(sess.client.get("/balance", private=True), "GET /balance")
    out.emit(rows, columns=BALANCE_COLUMNS)


def positions(output: OutputOpt = None) -> None:
    """Positions (GET /positions), as the exchange reports them."""
    from paradexctl.cli._session import open_session

    out = get_ctx().output(output)
    from paradexctl.paradex.rest import expect_rows

    with open_session() as sess:
        rows = expect_rows(sess.client.get("/positions", private=True), "GET /positions")
    out.emit(rows, columns=POSITION_COLUMNS)


def fills(
    market: Annotated[str | None, typer.Option("--market", help="Only this market.")] = None,
    since: SinceOpt = None,
    limit: LimitOpt = 100,
    output: OutputOpt = None,
) -> None:
    """Your fills, newest first as the exchange pages them (GET /fills)."""
    from paradexctl.cli._session import open_session, parse_since

    out = get_ctx().output(output)
    start = parse_since(since, int(time.time() * 1000))
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    with open_session() as sess:
        rows = sess.client.get_paginated(
            "/fills", {"market": market, "start_at": start}, limit=limit
        )
    out.emit(rows, columns=FILL_COLUMNS)

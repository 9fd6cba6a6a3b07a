"""``paradexctl account`` (+ ``onboard``), ``balances``, ``positions``, ``fills``."""

# No ``from __future__ import annotations``: typer would have to evaluate every string
# annotation of the commands below at start-up.

import time
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, WatchOpt, get_ctx
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


margin_app = typer.Typer(
    help="Leverage and margin type per market; 'account margin set' changes them.",
    invoke_without_command=True,
)
account_app.add_typer(margin_app, name="margin")

MARGIN_COLUMNS = ["market", "leverage", "margin_type", "isolated_margin_leverage"]


def register(app: typer.Typer) -> None:
    app.add_typer(account_app, name="account")
    app.command("balances")(balances)
    app.command("positions")(positions)
    app.command("fills")(fills)


@account_app.callback()
def account(typer_ctx: typer.Context, watch: WatchOpt = False, output: OutputOpt = None) -> None:
    """Show the account summary (GET /account)."""
    if typer_ctx.invoked_subcommand is not None:
        return
    if watch:
        from paradexctl.cli.watch import watch as run_watch

        def summary(state: Any) -> dict[str, Any]:
            acct = state.account
            return dict(acct.raw) if acct is not None else {"account": "(waiting for it)"}

        run_watch("account", rows=summary, columns=None, output=output)
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


def balances(watch: WatchOpt = False, output: OutputOpt = None) -> None:
    """Token balances (GET /balance)."""
    from paradexctl.cli._session import open_session

    if watch:
        from paradexctl.cli.watch import by_key
        from paradexctl.cli.watch import watch as run_watch

        run_watch("balances", rows=by_key("balances"), columns=BALANCE_COLUMNS, output=output)
        return

    out = get_ctx().output(output)
    from paradexctl.paradex.rest import expect_rows

    with open_session() as sess:
        rows = expect_rows(sess.client.get("/balance", private=True), "GET /balance")
    out.emit(rows, columns=BALANCE_COLUMNS)


def positions(watch: WatchOpt = False, output: OutputOpt = None) -> None:
    """Positions (GET /positions), as the exchange reports them."""
    from paradexctl.cli._session import open_session

    if watch:
        from paradexctl.cli.watch import by_key
        from paradexctl.cli.watch import watch as run_watch

        run_watch("positions", rows=by_key("positions"), columns=POSITION_COLUMNS, output=output)
        return

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


@margin_app.callback()
def margin(
    typer_ctx: typer.Context,
    market: Annotated[
        str | None,
        typer.Option(
            "--market", help="Only this market; without it, the markets of open positions."
        ),
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Leverage and margin type per market (GET /account/margin, one call per market)."""
    if typer_ctx.invoked_subcommand is not None:
        return
    from paradexctl.cli._session import open_session
    from paradexctl.paradex.rest import expect_rows

    out = get_ctx().output(output)
    with open_session() as sess:
        if market is not None:
            markets = [market]
        else:
            positions = expect_rows(sess.client.get("/positions", private=True), "GET /positions")
            markets = sorted({str(p.get("market")) for p in positions if p.get("market")})
        rows = [row for m in markets for row in _margin_configs(sess, m)]
    if not rows and market is None:
        out.info("no open positions: pass --market M for a market's leverage")
    out.emit(rows, columns=MARGIN_COLUMNS)


def _margin_configs(sess: Any, market: str) -> list[dict[str, Any]]:
    """``GET /account/margin?market=``'s ``configs`` (shape-checked)."""
    from paradexctl.paradex.rest import expect_object, expect_rows

    body = expect_object(
        sess.client.get("/account/margin", {"market": market}, private=True),
        "GET /account/margin",
    )
    return expect_rows(body, "GET /account/margin", "configs")


def max_leverage(market: dict[str, Any]) -> int | None:
    """The most leverage ``market`` allows: 1 / its ``delta1_cross_margin_params.imf_base``
    (rounded down); None when the metadata does not say."""
    from decimal import Decimal, InvalidOperation

    params = market.get("delta1_cross_margin_params")
    raw = params.get("imf_base") if isinstance(params, dict) else None
    try:
        imf = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None
    if not imf.is_finite() or imf <= 0 or imf > 1:
        return None
    return int(Decimal(1) / imf)


@margin_app.command("set")
def margin_set(
    market: Annotated[str, typer.Argument(help="Market symbol, e.g. BTC-USD-PERP.")],
    leverage: Annotated[
        int,
        typer.Option("--leverage", metavar="N", min=1, help="Leverage, 1 to the market's maximum."),
    ],
    mode: Annotated[
        str | None,
        typer.Option("--mode", metavar="MODE", help="cross or isolated; without it, unchanged."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and print the request, send nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask on prod.")] = False,
    output: OutputOpt = None,
) -> None:
    """Set a market's leverage and margin type (POST /account/margin/{market}).

    The leverage is checked against the market's maximum (1 / imf_base of its metadata)
    before anything is sent.
    """
    from paradexctl.cli._session import open_session
    from paradexctl.errors import ValidationError
    from paradexctl.paradex.rest import expect_object, path_segment

    ctx = get_ctx()
    out = ctx.output(output)
    ctx.require_writer()
    if mode is not None and mode.lower() not in ("cross", "isolated"):
        raise UsageError(f"--mode {mode!r}: choose cross or isolated")
    with open_session() as sess:
        meta = sess.market(market)
        top = max_leverage(meta)
        if top is None:
            out.warn(f"{market}'s metadata gives no imf_base: the exchange checks the leverage")
        elif leverage > top:
            raise ValidationError(
                f"--leverage {leverage}: {market} allows at most {top}x "
                "(1 / imf_base of its metadata); nothing was sent"
            )
        if mode is None:
            configs = _margin_configs(sess, market)
            margin_type = str((configs[0] if configs else {}).get("margin_type") or "CROSS")
        else:
            margin_type = mode.upper()
        body = {"leverage": leverage, "margin_type": margin_type}
        path = f"/account/margin/{path_segment(market)}"
        if dry_run:
            out.emit({"dry_run": True, "method": "POST", "url": sess.client.base_url + path,
                      "body": body})  # fmt: skip
            out.info(f"dry run: {market} {leverage}x {margin_type} checked; nothing was sent")
            return
        ctx.confirm(f"set {market} to {leverage}x {margin_type}", yes=yes)
        answer = expect_object(
            sess.client.post(path, body, idempotent=True), "POST /account/margin/{market}"
        )
    out.emit(answer)
    out.info(f"{market}: {answer.get('leverage')}x {answer.get('margin_type')}")

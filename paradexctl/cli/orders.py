"""``paradexctl orders list`` and ``paradexctl order get|place|modify|cancel|cancel-all``.

Thin: parse flags, call :mod:`paradexctl.paradex.orders`, render. See ``docs/trading.md``
for the never-place-twice policy and the exit codes.
"""

# No ``from __future__ import annotations``: typer would have to evaluate every string
# annotation of the commands below at start-up.

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, WatchOpt, get_ctx
from paradexctl.errors import ExchangeRejected, UsageError, ValidationError

orders_app = typer.Typer(help="List orders (open or history).", no_args_is_help=True)
order_app = typer.Typer(
    help="Get, place, modify and cancel orders (never placed twice).", no_args_is_help=True
)

ORDER_COLUMNS = [
    "id",
    "client_id",
    "market",
    "side",
    "type",
    "size",
    "remaining_size",
    "price",
    "status",
    "cancel_reason",
    "created_at",
]
PLACE_COLUMNS = [
    "outcome",
    "client_id",
    "order_id",
    "market",
    "side",
    "type",
    "size",
    "price",
    "status",
    "cancel_reason",
]
BATCH_COLUMNS = ["line", "client_id", "market", "side", "size", "price", "outcome", "order_id",
                 "status", "error"]  # fmt: skip

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation on prod.")]
#: ``--dry-run`` of the commands that change an existing order (``place`` has its own help)
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Check and sign, print the request, send nothing."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(orders_app, name="orders")
    app.add_typer(order_app, name="order")


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- orders list ----------------------------------------------------------------------------


@orders_app.command("list")
def orders_list(
    open_: Annotated[bool, typer.Option("--open", help="Open orders (the default).")] = False,
    history: Annotated[
        bool, typer.Option("--history", help="Order history (all statuses, paginated).")
    ] = False,
    market: Annotated[str | None, typer.Option("--market", help="Only this market.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", metavar="STATUS", help="NEW, UNTRIGGERED, OPEN or CLOSED."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="WHEN", help="Created since WHEN (unix ms/s, ISO, 2h)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 100,
    watch: WatchOpt = False,
    output: OutputOpt = None,
) -> None:
    """List open orders (GET /orders) or the history (GET /orders-history, cursor-paged)."""
    from paradexctl.cli._session import open_session, parse_since

    if open_ and history:
        raise UsageError("--open and --history are exclusive")
    if watch:
        given = _explicit_options(("history", "--history"), ("status", "--status"),
                                  ("since", "--since"), ("limit", "--limit"))  # fmt: skip
        if given:
            raise UsageError(f"--watch shows the open orders: {', '.join(given)} cannot be used")
        from paradexctl.cli.watch import watch as run_watch

        def open_orders(state: Any) -> list[dict[str, Any]]:
            live = state.open_orders(market).values()
            return [dict(o.raw) for o in sorted(live, key=lambda o: o.created_at or 0)]

        run_watch("orders", rows=open_orders, columns=ORDER_COLUMNS, market=market,
                  output=output)  # fmt: skip
        return
    st = status.upper() if status else None
    if st is not None and st not in ("NEW", "UNTRIGGERED", "OPEN", "CLOSED"):
        raise UsageError(f"--status {status!r}: choose NEW, UNTRIGGERED, OPEN or CLOSED")
    if st == "CLOSED" and not history:
        raise UsageError("open orders are never CLOSED; use --history --status closed")
    out = get_ctx().output(output)
    start = parse_since(since, _now_ms())
    with open_session() as sess:
        if history:
            rows = sess.client.get_paginated(
                "/orders-history",
                {"market": market, "status": st, "start_at": start},
                limit=limit,
            )
        else:
            from paradexctl.paradex.rest import expect_rows

            body = sess.client.get("/orders", {"market": market}, private=True)
            rows = expect_rows(body, "GET /orders")
            if st:
                rows = [r for r in rows if r.get("status") == st]
            if start is not None:
                rows = [r for r in rows if (_created_at(r) or 0) >= start]
            rows = rows[:limit]
    out.emit(rows, columns=ORDER_COLUMNS)


def _created_at(row: dict[str, Any]) -> int | None:
    raw = row.get("created_at")
    if isinstance(raw, bool):
        return None
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


# -- order get ------------------------------------------------------------------------------


@order_app.command("get")
def order_get(
    order_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="Order id.")] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", metavar="X", help="Look up by client id.")
    ] = None,
    market: Annotated[
        str | None, typer.Option("--market", help="Market (speeds up client-id lookups).")
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Show one order by id or by client id (open orders, then the history)."""
    from paradexctl.cli._session import open_session
    from paradexctl.paradex.orders import check_client_id, get_order, lookup_client_id_once

    if (order_id is None) == (client_id is None):
        raise UsageError("give an order ID or --client-id (exactly one)")
    if client_id is not None:
        check_client_id(client_id)
    out = get_ctx().output(output)
    with open_session() as sess:
        if order_id is not None:
            order = get_order(sess.client, order_id)
        else:
            found = lookup_client_id_once(sess.client, str(client_id), market)
            if found is None:
                raise ExchangeRejected(
                    f"no order with client_id {client_id}", code="CLIENT_ORDER_ID_NOT_FOUND"
                )
            order = found
    out.emit(order)


# -- order place ----------------------------------------------------------------------------


def _flat(result: dict[str, Any]) -> dict[str, Any]:
    order = result.get("order") or {}
    row = {
        "outcome": result.get("outcome"),
        "client_id": result.get("client_id"),
        "order_id": order.get("id"),
        "market": order.get("market"),
        "side": order.get("side"),
        "type": order.get("type"),
        "size": order.get("size"),
        "price": order.get("price"),
        "status": order.get("status"),
        "cancel_reason": order.get("cancel_reason") or None,
    }
    if result.get("note"):
        row["note"] = result["note"]
    return row


# unknown "options" reach the command as arguments, so that a negative SIZE ("-0.01", which
# click would take for the option "-0") gets a clear message; other unknown options are
# refused in the command with click's wording
@order_app.command(
    "place", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
def order_place(
    market: Annotated[
        str | None, typer.Argument(metavar="MARKET", help="e.g. BTC-USD-PERP.")
    ] = None,
    side: Annotated[str | None, typer.Argument(metavar="{buy,sell}", help="buy or sell.")] = None,
    size: Annotated[str | None, typer.Argument(metavar="SIZE", help="Size in base units.")] = None,
    price: Annotated[
        str | None, typer.Option("--price", metavar="P", help="Limit price (limit types).")
    ] = None,
    type_: Annotated[
        str,
        typer.Option("--type", metavar="TYPE", help="limit, market, stop-limit or stop-market."),
    ] = "limit",
    trigger_price: Annotated[
        str | None,
        typer.Option("--trigger-price", metavar="P", help="Trigger price (stop types)."),
    ] = None,
    tif: Annotated[
        str, typer.Option("--tif", metavar="TIF", help="gtc, ioc or post-only.")
    ] = "gtc",
    reduce_only: Annotated[
        bool, typer.Option("--reduce-only", help="Only reduce a position.")
    ] = False,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id", metavar="X", help="Your id for the order (generated if not given)."
        ),
    ] = None,
    stp: Annotated[
        str | None,
        typer.Option(
            "--stp",
            metavar="MODE",
            help="Self-trade prevention: expire-maker, expire-taker (the exchange's default) "
            "or expire-both.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and sign, print the request, send nothing.")
    ] = False,
    yes: YesOpt = False,
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait", metavar="STATE", help="Wait until accepted, open, filled or closed."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="S", help="Seconds for --wait.")
    ] = 30.0,
    batch: Annotated[
        Path | None,
        typer.Option("--batch", metavar="FILE", help="One JSON order per line ('-' = stdin)."),
    ] = None,
    chunk_size: Annotated[
        int,
        typer.Option("--chunk-size", min=1, max=50, help="Orders per batch request."),
    ] = 10,
    output: OutputOpt = None,
) -> None:
    """Validate, sign and place an order (or a --batch file of orders).

    Every order carries a client_id (printed). After a timeout, reset or 5xx the order is
    looked up by client_id, never re-sent; if its fate stays unknown, exit 6.
    """
    from paradexctl.paradex.orders import (
        ORDER_TYPES,
        SIDES,
        STP_MODES,
        TIFS,
        WAIT_TARGETS,
        OrderSpec,
        new_client_id,
        parse_decimal,
        stp_mode,
        validate,
    )

    ctx = get_ctx()
    out = ctx.output(output)
    _refuse_unknown_options(market, side, size)
    if wait is not None and wait not in WAIT_TARGETS:
        raise UsageError(f"--wait {wait!r}: choose one of {', '.join(WAIT_TARGETS)}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout {timeout}: give a positive, finite number of seconds")
    if wait is not None and dry_run:
        raise UsageError("--wait cannot be used with --dry-run (nothing is sent to wait for)")
    if batch is not None:
        if market or side or size:
            raise UsageError("--batch takes the orders from the file; give no MARKET, side or SIZE")
        given = _explicit_options(
            ("price", "--price"), ("type_", "--type"), ("trigger_price", "--trigger-price"),
            ("tif", "--tif"), ("reduce_only", "--reduce-only"), ("client_id", "--client-id"),
            ("stp", "--stp"), ("wait", "--wait"), ("timeout", "--timeout"),
        )  # fmt: skip
        if given:
            raise UsageError(
                f"{', '.join(given)} cannot be used with --batch: each line of the file "
                "carries its own price, type, trigger_price, tif, reduce_only, stp and client_id "
                "(see 'paradexctl order place --help'); --wait is not supported for batches"
            )
        _place_batch(batch, chunk_size=chunk_size, dry_run=dry_run, yes=yes, output=output)
        return
    if market is None or side is None or size is None:
        raise UsageError("order place needs MARKET {buy,sell} SIZE (or --batch FILE)")
    if side.lower() not in SIDES:
        raise UsageError(f"side must be buy or sell, not {side!r}")
    if type_.lower() not in ORDER_TYPES:
        raise UsageError(f"--type {type_!r}: choose {', '.join(ORDER_TYPES)}")
    if tif.lower() not in TIFS:
        raise UsageError(f"--tif {tif!r}: choose {', '.join(TIFS)}")
    stp_x = None if stp is None else stp_mode(stp)
    if stp_x is not None and stp_x not in STP_MODES.values():
        raise UsageError(f"--stp {stp!r}: choose {', '.join(STP_MODES)}")
    spec = OrderSpec(
        market=market,
        side=SIDES[side.lower()],
        size=parse_decimal(size, "size"),
        type=ORDER_TYPES[type_.lower()],
        price=None if price is None else parse_decimal(price, "price"),
        trigger_price=None
        if trigger_price is None
        else parse_decimal(trigger_price, "trigger price"),
        instruction=TIFS[tif.lower()],
        reduce_only=reduce_only,
        client_id=new_client_id() if client_id is None else client_id,
        stp=stp_x,
    )
    validate(spec, {})  # everything that needs no market metadata, before any request
    question = None if dry_run else _pending_confirmation(f"place {spec.describe()}", yes)
    _place_one(
        spec, dry_run=dry_run, wait=wait, timeout=timeout, out=out, confirm=question is not None
    )


def _pending_confirmation(question: str, yes: bool) -> str | None:
    """The prod question to ask once the order is fully validated, or None if none is needed.

    Without a terminal (and without ``--yes``) the refusal happens here, before any request;
    on a terminal the question is asked only after the market checks, so nobody is asked to
    confirm an order that would then be refused locally.
    """
    import sys

    ctx = get_ctx()
    if yes or not ctx.settings().real_money:
        return None
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        ctx.confirm(question, yes=False)  # raises: needs --yes, nothing was sent
    return question


def _refuse_unknown_options(market: str | None, side: str | None, size: str | None) -> None:
    """Arguments that look like options: a negative SIZE is refused as negative (sizes are
    positive: the side says buy or sell), anything else as an unknown option."""
    from decimal import Decimal, InvalidOperation

    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    extra = list(ctx.args) if ctx is not None else []
    if size is not None and size.startswith("-"):
        try:
            number = Decimal(size)
        except InvalidOperation:
            number = None
        if number is not None:
            given = (side or "buy").lower()
            other = "sell" if given == "buy" else "buy"
            raise ValidationError(
                f"size {size} is negative: sizes must be positive, the side (buy or sell) "
                f"gives the direction (e.g. '{other} {-number}' instead of '{given} {size}')"
            )
    for arg in (market, side, size, *extra):
        if arg is not None and arg.startswith("-") and arg != "-":
            raise UsageError(f"no such option: {arg} (see 'paradexctl order place --help')")
    if extra:
        raise UsageError(f"unexpected extra argument(s): {' '.join(extra)}")


def _explicit_options(*names: tuple[str, str]) -> list[str]:
    """The options (``(param name, flag)``) given on the command line, not defaulted."""
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is None:
        return []
    defaulted = (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
    return [flag for name, flag in names if ctx.get_parameter_source(name) not in defaulted]


def _place_one(
    spec: Any, *, dry_run: bool, wait: str | None, timeout: float, out: Any, confirm: bool
) -> None:
    from paradexctl.cli._session import lookup_policy, open_session
    from paradexctl.paradex.orders import (
        build_order_request,
        check_against_market,
        mark_price,
        submit_order,
    )

    with open_session() as sess:
        sess.private_key()  # no key: exit 3 before any request
        spec = check_against_market(
            spec, sess.market(spec.market), lambda symbol: mark_price(sess.client, symbol)
        )
        if not dry_run:  # a valid order, not signed yet
            _system_gate(sess, [spec.instruction], out)
        if confirm:  # on prod, once the order passed every check; nothing sent yet
            get_ctx().confirm(f"place {spec.describe()}", yes=False)
        body = build_order_request(
            spec,
            chain_id=sess.chain_id(),
            account=sess.account_address(),
            private_key=sess.private_key(),
            timestamp_ms=_now_ms(),
        )
        if dry_run:
            out.emit(
                {
                    "dry_run": True,
                    "method": "POST",
                    "url": f"{sess.client.base_url}/orders",
                    "body": body,
                }
            )
            out.info(f"dry run: {spec.describe()} validated and signed; nothing was sent")
            return
        if wait is None:
            out.info(f"placing {spec.describe()}")
            result = submit_order(sess.client, body, lookup=lookup_policy())
            if result.note:
                out.warn(result.note)
        else:
            result = _place_and_wait(sess, spec, body, str(wait), timeout, out)
    data = result.to_dict()
    if out.fmt == "table":
        out.emit(_flat(data))
    else:
        out.emit(data)
    out.info(_place_summary(result, wait))


def _system_gate(sess: Any, instructions: list[str], out: Any) -> None:
    """Read the exchange's system state before anything is signed: ``cancel_only`` and
    ``maintenance`` refuse (exit 7), ``post_only`` warns about an order that is not
    POST_ONLY (:func:`paradexctl.paradex.system.order_gate`). A state that cannot be read
    is a warning, not a refusal: the exchange enforces its state itself, and an order is
    never held back by a failed read of an advisory endpoint."""
    from paradexctl.errors import ExchangeRejected, ExchangeUnavailable
    from paradexctl.paradex.rest import RetryPolicy
    from paradexctl.paradex.system import order_gate, read_state

    try:  # one try, no retries: an advisory read never holds the order back for long
        state = read_state(sess.client, RetryPolicy(attempts=1))
    except (ExchangeRejected, ExchangeUnavailable) as err:
        out.warn(f"the system state could not be read ({err.message}); sending anyway")
        return
    warning = order_gate(state, instructions)
    if warning is not None:
        out.warn(warning)


def _place_summary(result: Any, wait: str | None) -> str:
    """The one stderr line after ``order place``, worded per outcome."""
    order = result.order or {}
    status = order.get("status")
    what = f"order {order.get('id')} (client_id {result.client_id})"
    if wait is not None:
        return f"{what} is {wait}"
    reason = order.get("cancel_reason")
    state = f"{status}" + (f" ({reason})" if status == "CLOSED" and reason else "")
    if result.outcome == "recovered":
        head = f"recovered: the POST failed, but {what} was found on the exchange: {state}"
    else:
        head = f"acknowledged: {what} is {state}"
    if status in ("OPEN", "UNTRIGGERED", "CLOSED"):
        return head + " (use 'order get' to follow it)"
    return head + "; not yet confirmed open or filled (use --wait to confirm)"


def _place_and_wait(sess: Any, spec: Any, body: Any, wait: str, timeout: float, out: Any) -> Any:
    """Place the order and follow it to ``wait`` on a live feed: the WebSocket ``orders``
    channel of its market (subscribed before the order is sent: an update published before
    the subscription is never sent), with REST lookups by id as its safety net (REST alone
    with the profile setting ``wait_ws = 0``)."""
    import asyncio

    from paradexctl.cli._session import _trace, live_feed, lookup_policy
    from paradexctl.errors import OutcomeUnknown
    from paradexctl.paradex.orders import OrderWatch, submit_order

    ctx = get_ctx()
    settings = sess.settings
    use_ws = _wait_ws(settings)

    async def main() -> Any:
        async with (
            live_feed(
                sess,
                settings,
                url=settings.ws_url if use_ws else None,
                channels=("orders",),
                market=spec.market,
                resync=False,
                ws_required=False,
                ws_options={"max_reconnects": 1, "stale_after": None, "compression": None,
                            "open_timeout": 5.0},
                trace=_trace if ctx.verbose else None,
            ) as feed,
            OrderWatch(feed) as watch,
        ):  # fmt: skip
            await watch.ready(min(2.0, timeout / 4))
            out.info(f"placing {spec.describe()}")
            result = await asyncio.to_thread(
                submit_order, sess.client, body, lookup=lookup_policy()
            )
            if result.note:
                out.warn(result.note)
            if not (result.order or {}).get("id"):
                raise OutcomeUnknown(
                    f"order with client_id {result.client_id}: the exchange's answer has no "
                    "order id, so it cannot be followed; check with 'paradexctl order get "
                    f"--client-id {result.client_id}'",
                    client_id=result.client_id,
                )
            progress = ctx.progress_sink()
            if progress is not None:
                status = (result.order or {}).get("status") or "sent"
                progress(f"order {result.order.get('id')} is {status}: waiting up to "  # type: ignore[union-attr]
                         f"{timeout:g} s for it to be {wait}")  # fmt: skip
            order, via = await watch.wait(result.order or {}, wait, timeout)
            result.order = order
            result.outcome = wait
            how = "the WebSocket" if via == "ws" else "REST"
            err = str(watch.error or "") if use_ws else ""
            if err and not err.lower().startswith("websocket unavailable"):
                err = f"WebSocket unavailable: {err}"
            why = f" ({err})" if err else ""
            out.info(f"confirmed through {how}{why}")
            return result

    return asyncio.run(main())


def _wait_ws(settings: Any) -> bool:
    """``--wait`` follows the order over the WebSocket unless the profile says
    ``wait_ws = 0``."""
    from paradexctl.cli._session import tunable

    return tunable("wait_ws", settings) != 0


def _place_batch(
    path: Path, *, chunk_size: int, dry_run: bool, yes: bool, output: str | None
) -> None:
    import sys

    from paradexctl.cli._session import lookup_policy, open_session
    from paradexctl.paradex.orders import (
        build_order_request,
        check_against_market,
        mark_price,
        parse_batch,
        place_batch,
        validate,
    )

    ctx = get_ctx()
    out = ctx.output(output)
    if str(path) == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise UsageError(f"cannot read {path}: {err.strerror}") from None
    items = parse_batch(lines, str(path))
    for item in items:
        try:
            validate(item.spec, {})
        except UsageError as err:
            raise type(err)(f"{path}:{item.line}: {err.message}") from None
    question = None
    if not dry_run:
        question = _pending_confirmation(f"place {len(items)} orders from {path}", yes)
    with open_session() as sess:
        signed: list[tuple[Any, dict[str, Any]]] = []
        marks: dict[str, Any] = {}  # one mark price per market for the whole batch

        def cached_mark(symbol: str) -> Any:
            if symbol not in marks:
                marks[symbol] = mark_price(sess.client, symbol)
            return marks[symbol]

        sess.private_key()  # no key: exit 3 before any request
        if not dry_run:
            _system_gate(sess, [item.spec.instruction for item in items], out)
        for item in items:
            try:
                item.spec = check_against_market(
                    item.spec, sess.market(item.spec.market), cached_mark
                )
            except UsageError as err:
                raise type(err)(f"{path}:{item.line}: {err.message}") from None
            ts = _now_ms()
            body = build_order_request(
                item.spec,
                chain_id=sess.chain_id(),
                account=sess.account_address(),
                private_key=sess.private_key(),
                timestamp_ms=ts,
            )
            signed.append((item, body))
        if question is not None:  # every line validated and signed, nothing sent yet
            ctx.confirm(question, yes=False)
        if dry_run:
            # the exact requests: one POST per chunk, its body the JSON array of orders
            requests = []
            for n, start in enumerate(range(0, len(signed), chunk_size), 1):
                chunk = signed[start : start + chunk_size]
                requests.append(
                    {
                        "request": n,
                        "lines": [it.line for it, _ in chunk],
                        "method": "POST",
                        "url": f"{sess.client.base_url}/orders/batch",
                        "body": [body for _, body in chunk],
                    }
                )
            out.emit(requests, columns=["request", "lines", "method", "url", "body"])
            out.info(
                f"dry run: {len(signed)} orders validated and signed, {len(requests)} "
                f"request(s) of at most {chunk_size}; nothing was sent"
            )
            return
        rows = place_batch(sess.client, signed, chunk_size=chunk_size, lookup=lookup_policy())
    out.emit(rows, columns=BATCH_COLUMNS)
    unknown = [r for r in rows if r["outcome"] == "unknown"]
    rejected = [r for r in rows if r["outcome"] == "rejected"]
    not_sent = [r for r in rows if r["outcome"] == "not_sent"]
    placed = len(rows) - len(unknown) - len(rejected) - len(not_sent)
    out.info(
        f"{placed} acknowledged or recovered, {len(rejected)} rejected, {len(not_sent)} not sent, "
        f"{len(unknown)} unknown"
    )
    if unknown:
        from paradexctl.errors import OutcomeUnknown

        ids = ", ".join(r["client_id"] for r in unknown)
        raise OutcomeUnknown(
            f"{len(unknown)} order(s) have an unknown outcome (NOT re-sent): client_id {ids}",
            client_id=ids,
        )
    if not_sent:
        from paradexctl.errors import ExchangeUnavailable

        raise ExchangeUnavailable(
            f"{len(not_sent)} of {len(rows)} orders were not sent (the exchange was unavailable"
            f"; see the per-order results): client_id "
            + ", ".join(r["client_id"] for r in not_sent)
        )
    if rejected:
        raise ExchangeRejected(
            f"{len(rejected)} of {len(rows)} orders were rejected (see the per-order results)",
            code="BATCH_PARTIAL_FAILURE",
        )


# -- order modify ---------------------------------------------------------------------------


@order_app.command("modify")
def order_modify(
    order_id: Annotated[str, typer.Argument(metavar="ID", help="Order id.")],
    price: Annotated[str | None, typer.Option("--price", metavar="P", help="New price.")] = None,
    size: Annotated[str | None, typer.Option("--size", metavar="S", help="New size.")] = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Change an open limit order's price and/or size (PUT /orders/{id}).

    With --dry-run the order is read and the modification checked and signed; the signed
    PUT is printed and nothing is sent."""
    from paradexctl.cli._session import open_session
    from paradexctl.paradex.orders import (
        OrderSpec,
        build_modify_request,
        get_order,
        parse_decimal,
        validate,
    )
    from paradexctl.paradex.rest import OutcomeUncertain, path_segment

    ctx = get_ctx()
    out = ctx.output(output)
    ctx.require_writer()  # a read-only token: exit 3 before any request
    if price is None and size is None:
        raise UsageError("order modify needs --price and/or --size")
    new_price = None if price is None else parse_decimal(price, "price")
    new_size = None if size is None else parse_decimal(size, "size")
    question = None if dry_run else _pending_confirmation(f"modify order {order_id}", yes)
    with open_session() as sess:
        current = get_order(sess.client, order_id)
        if current.get("status") == "CLOSED":
            raise ExchangeRejected(
                f"order {order_id} is already CLOSED ({current.get('cancel_reason') or 'filled'}"
                "); not sending a modification",
                code="ORDER_IS_CLOSED",
            )
        final_price = (
            new_price
            if new_price is not None
            else parse_decimal(str(current.get("price")), "price")
        )
        final_size = (
            new_size if new_size is not None else parse_decimal(str(current.get("size")), "size")
        )
        trig = current.get("trigger_price")
        spec = OrderSpec(
            market=str(current.get("market")),
            side=str(current.get("side")),
            size=final_size,
            type=str(current.get("type")),
            price=final_price,
            trigger_price=None if trig in (None, "", "0") else parse_decimal(str(trig), "trigger"),
            instruction=str(current.get("instruction") or "GTC"),
            client_id=str(current.get("client_id") or "modify"),
        )
        if spec.type not in ("LIMIT", "STOP_LIMIT"):
            raise UsageError(
                f"order {order_id} is a {spec.type} order; only limit orders can be modified"
            )
        validate(spec, sess.market(spec.market))
        if not dry_run:
            _system_gate(sess, [spec.instruction], out)
        if question is not None:
            ctx.confirm(f"modify order {order_id} to {spec.describe()}", yes=False)
        body = build_modify_request(
            current,
            size=final_size,
            price=final_price,
            chain_id=sess.chain_id(),
            account=sess.account_address(),
            private_key=sess.private_key(),
            timestamp_ms=_now_ms(),
        )
        path = f"/orders/{path_segment(order_id)}"
        if dry_run:
            out.emit(
                {
                    "dry_run": True,
                    "method": "PUT",
                    "url": f"{sess.client.base_url}{path}",
                    "body": body,
                }
            )
            out.info(
                f"dry run: modify order {order_id} to {spec.describe()} signed; nothing was sent"
            )
            return
        try:
            order = sess.client.put(path, body)
        except OutcomeUncertain as err:
            err.message += f"; check the order with 'paradexctl order get {order_id}'"
            raise
    out.emit(order if isinstance(order, dict) else {"id": order_id})


# -- cancel ---------------------------------------------------------------------------------


@order_app.command("cancel")
def order_cancel(
    order_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="Order id.")] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", metavar="X", help="Cancel by client id.")
    ] = None,
    market: Annotated[
        str | None, typer.Option("--market", help="Market of the client id (faster).")
    ] = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Cancel one order. Refused locally (exit 4, ORDER_IS_CLOSED) if it is already CLOSED.

    With --dry-run the order is looked up and checked; the DELETE is printed, not sent."""
    from paradexctl.cli._session import open_session
    from paradexctl.paradex.orders import cancel_order, check_client_id

    ctx = get_ctx()
    out = ctx.output(output)
    ctx.require_writer()  # a read-only token: exit 3 before any request
    if (order_id is None) == (client_id is None):
        raise UsageError("give an order ID or --client-id (exactly one)")
    if client_id is not None:
        check_client_id(client_id)
    if not dry_run:
        ctx.confirm(f"cancel order {order_id or 'with client_id ' + str(client_id)}", yes=yes)
    with open_session() as sess:
        result = cancel_order(
            sess.client, order_id=order_id, client_id=client_id, market=market, dry_run=dry_run
        )
    out.emit(result)
    if dry_run:
        out.info("dry run: the cancel was checked; nothing was sent")
        return
    out.info("cancel queued (the exchange confirms it asynchronously)")


@order_app.command("cancel-all")
def order_cancel_all(
    market: Annotated[str | None, typer.Option("--market", help="Only this market.")] = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Cancel every open order (in one market with --market).

    With --dry-run the open orders are listed (GET /orders) with the DELETE that would
    cancel them; nothing is sent."""
    from paradexctl.cli._session import open_session
    from paradexctl.paradex.orders import cancel_all

    ctx = get_ctx()
    out = ctx.output(output)
    ctx.require_writer()  # a read-only token: exit 3 before any request
    if dry_run:
        from paradexctl.paradex.rest import expect_rows

        with open_session() as sess:
            params = {"market": market} if market else {}
            listing = sess.client.get("/orders", {"market": market}, private=True)
            rows = expect_rows(listing, "GET /orders")
            url = f"{sess.client.base_url}/orders"
        out.emit(
            {
                "dry_run": True,
                "method": "DELETE",
                "url": url,
                "params": params,
                "orders": [
                    {k: o.get(k) for k in ("id", "client_id", "market", "status")} for o in rows
                ],
            }
        )
        out.info(f"dry run: {len(rows)} open order(s) would be cancelled; nothing was sent")
        return
    ctx.confirm(f"cancel all open orders{' in ' + market if market else ''}", yes=yes)
    with open_session() as sess:
        result = cancel_all(sess.client, market)
    out.emit(result.rows, columns=["id", "client_id", "market", "status"])
    where = f" in {market}" if market else ""
    if not result.count_known:
        out.warn(
            f"the exchange accepted the cancel-all{where}, but how many orders it cancels is "
            f"not known ({result.note})"
        )
        return
    if result.note:
        out.warn(result.note)
    if result.source == "DELETE /orders":
        out.info(f"the exchange reports {len(result.rows)} order(s){where} in its cancel answer")
    else:
        out.info(
            f"{len(result.rows)} open order(s) queued for cancellation{where} (the exchange "
            "accepted the cancel-all; it confirms each cancel asynchronously)"
        )

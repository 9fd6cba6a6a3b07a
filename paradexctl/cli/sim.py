"""``paradexctl sim``: run the local Paradex-compatible exchange (see ``docs/sim.md``)."""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.errors import ConfigError, UsageError

DEFAULT_MARKETS = "BTC-USD-PERP,ETH-USD-PERP,SOL-USD-PERP"
STALENESS_HELP = (
    "REST reads lag the engine by MS milliseconds: a number (every endpoint) or KEY=MS for one "
    "of orders, orders-history, order, positions, balance, account, fills. Repeatable."
)


def register(app: typer.Typer) -> None:
    app.command("sim")(sim)


def _parse_staleness(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {"default": 0}
    for raw in values:
        key, sep, ms = raw.rpartition("=")
        key = key if sep else "default"
        try:
            n = int(ms)
        except ValueError:
            raise UsageError(f"--rest-staleness: {raw!r} is not MS or KEY=MS") from None
        if n < 0:
            raise UsageError("--rest-staleness must not be negative")
        out[key] = n
    return out


def _parse_marks(values: list[str], symbols: tuple[str, ...]) -> dict[str, Decimal]:
    from paradexctl.sim.exchange import DEFAULT_MARKETS as KNOWN
    from paradexctl.sim.exchange import Rejected, parse_decimal

    out: dict[str, Decimal] = {}
    for raw in values:
        market, sep, text = raw.partition("=")
        market = market.strip()
        if not sep or market not in symbols:
            raise UsageError(f"--mark: {raw!r} is not MARKET=PRICE for one of {', '.join(symbols)}")
        try:
            price = parse_decimal(text.strip(), f"{market} price")  # the engine's own rules
        except Rejected as err:
            raise UsageError(f"--mark: {err.message}") from None
        tick = KNOWN[market].tick
        if price < tick:
            raise UsageError(f"--mark: {market} price must be at least its tick {tick}")
        out[market] = price
    return out


def sim(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port to bind; 0 picks a free one. [default: 8787]"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for prices, book and faults.")] = 0,
    markets: Annotated[
        str, typer.Option("--markets", help="Comma-separated markets to list.")
    ] = DEFAULT_MARKETS,
    rest_staleness: Annotated[
        list[str] | None, typer.Option("--rest-staleness", metavar="MS|KEY=MS", help=STALENESS_HELP)
    ] = None,
    jwt_lifetime: Annotated[
        int, typer.Option("--jwt-lifetime", metavar="S", help="JWT lifetime in seconds.")
    ] = 300,
    faucet: Annotated[
        str, typer.Option("--faucet", metavar="USDC", help="USDC credited to new accounts.")
    ] = "100000",
    state: Annotated[
        Path | None,
        typer.Option("--state", metavar="FILE", help="Keep state in FILE across restarts."),
    ] = None,
    mark_walk_ms: Annotated[
        int,
        typer.Option("--mark-walk-ms", metavar="MS", help="Mark-price step period; 0 freezes it."),
    ] = 1000,
    ws_ping_interval: Annotated[
        float, typer.Option("--ws-ping-interval", metavar="S", help="Server ping period.")
    ] = 55.0,
    ws_latency_ms: Annotated[
        int, typer.Option("--ws-latency-ms", help="Fault: delay every WS notification.")
    ] = 0,
    ws_jitter_ms: Annotated[
        int, typer.Option("--ws-jitter-ms", help="Fault: extra random WS delay (order kept).")
    ] = 0,
    ws_duplicate_rate: Annotated[
        float, typer.Option("--ws-duplicate-rate", help="Fault: share of WS messages sent twice.")
    ] = 0.0,
    ws_drop_rate: Annotated[
        float, typer.Option("--ws-drop-rate", help="Fault: share of WS messages never sent.")
    ] = 0.0,
    ws_disconnect_every: Annotated[
        float,
        typer.Option("--ws-disconnect-every", metavar="S", help="Fault: drop every WS each S s."),
    ] = 0.0,
    refuse_connections: Annotated[
        float,
        typer.Option("--refuse-connections", metavar="S", help="Fault: refuse WS for S s."),
    ] = 0.0,
    rest_5xx: Annotated[
        int, typer.Option("--rest-5xx", metavar="N", help="Fault: next N REST calls get 503.")
    ] = 0,
    rest_5xx_status: Annotated[
        int,
        typer.Option("--rest-5xx-status", metavar="CODE", help="Status --rest-5xx answers."),
    ] = 503,
    rest_429: Annotated[
        int, typer.Option("--rest-429", metavar="N", help="Fault: next N REST calls get 429.")
    ] = 0,
    retry_after: Annotated[
        int,
        typer.Option("--retry-after", metavar="S", help="retry-after of the --rest-429 answers."),
    ] = 1,
    accept_then_timeout: Annotated[
        int,
        typer.Option(
            "--accept-then-timeout",
            metavar="N",
            help="Fault: place the next N orders but never answer.",
        ),
    ] = 0,
    timeout_hold: Annotated[
        float,
        typer.Option(
            "--timeout-hold",
            metavar="S",
            help="How long --accept-then-timeout holds a response before a 503.",
        ),
    ] = 30.0,
    mark: Annotated[
        list[str] | None,
        typer.Option(
            "--mark",
            metavar="MARKET=PRICE",
            help="Starting mark price of a market (rounded down to its tick). Repeatable.",
        ),
    ] = None,
    verify_workers: Annotated[
        int | None,
        typer.Option(
            "--verify-workers",
            metavar="N",
            help="Processes verifying order signatures in parallel (0: in the server "
            "process). [default: the number of CPUs, at most 4; 0 on one CPU]",
        ),
    ] = None,
    admin_allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--admin-allow-origin",
            metavar="ORIGIN",
            help="Let browser pages from ORIGIN (scheme://host[:port]) use the admin API; "
            "other browser requests are refused. Repeatable.",
        ),
    ] = None,
    signing_tables: Annotated[
        str,
        typer.Option(
            "--signing-tables",
            hidden=True,
            help="Signature-verification table level (small, medium, large), built in the "
            "background once the sim is ready (in each verify worker).",
        ),
    ] = "large",
    output: OutputOpt = None,
) -> None:
    """Run a local Paradex-compatible exchange (REST + WebSocket) until interrupted.

    Prints its URLs (one JSON line with -o json). Point other commands at it with
    --env local, or --api-url/--ws-url. The admin API (faults, state) is under /_sim/.
    """
    ctx = get_ctx()
    out = ctx.output(output)

    from paradexctl.paradex.env import LOCAL_PORT
    from paradexctl.sim.app import STALENESS_KEYS, SimOptions
    from paradexctl.sim.exchange import DEFAULT_MARKETS as KNOWN
    from paradexctl.sim.faults import FaultConfig

    symbols = tuple(m.strip() for m in markets.split(",") if m.strip())
    unknown = [m for m in symbols if m not in KNOWN]
    if not symbols or unknown:
        raise UsageError(
            f"--markets: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(KNOWN)}"
        )
    marks = _parse_marks(mark or [], symbols)
    staleness = _parse_staleness(rest_staleness or [])
    for key in staleness:
        if key not in STALENESS_KEYS:
            raise UsageError(f"--rest-staleness: unknown key {key!r}")
    try:
        faucet_usdc = Decimal(faucet)
    except InvalidOperation:
        raise UsageError("--faucet must be a decimal amount") from None
    if not faucet_usdc.is_finite() or faucet_usdc < 0:
        raise UsageError("--faucet must be a non-negative amount")
    if signing_tables not in ("small", "medium", "large"):
        raise UsageError("--signing-tables must be small, medium or large")
    if verify_workers is None:
        cpus = os.cpu_count() or 1
        verify_workers = min(cpus, 4) if cpus > 1 else 0
    if verify_workers < 0:
        raise UsageError("--verify-workers must not be negative")
    origins = tuple(o.rstrip("/") for o in admin_allow_origin or ())
    for origin in origins:
        if not origin.startswith(("http://", "https://")) or "/" in origin.split("//", 1)[1]:
            raise UsageError(f"--admin-allow-origin: {origin!r} is not scheme://host[:port]")
    if jwt_lifetime <= 0:
        raise UsageError("--jwt-lifetime must be positive")
    faults = FaultConfig(
        ws_latency_ms=ws_latency_ms,
        ws_jitter_ms=ws_jitter_ms,
        ws_duplicate_rate=ws_duplicate_rate,
        ws_drop_rate=ws_drop_rate,
        ws_disconnect_every_s=ws_disconnect_every,
        refuse_connections_s=refuse_connections,
        rest_5xx=rest_5xx,
        rest_5xx_status=rest_5xx_status,
        rest_429=rest_429,
        retry_after_s=retry_after,
        accept_then_timeout=accept_then_timeout,
        timeout_hold_s=timeout_hold,
    )
    try:
        faults.validate()
    except ValueError as err:
        raise UsageError(f"fault options: {err}") from None
    options = SimOptions(
        seed=seed,
        markets=symbols,
        faucet=faucet_usdc,
        jwt_lifetime_s=jwt_lifetime,
        rest_staleness_ms=staleness,
        faults=faults,
        state_file=state,
        mark_walk_ms=mark_walk_ms,
        ws_ping_interval_s=ws_ping_interval,
        warm_tables=signing_tables,
        verify_workers=verify_workers,
        marks=marks,
        admin_origins=origins,
    )
    if host not in ("127.0.0.1", "::1", "localhost"):
        out.warn(f"binding {host}: the simulator is reachable beyond this machine")

    from paradexctl.sim.server import serve

    def ready(_sim: Any, bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        info = {
            "event": "ready",
            "http_url": f"http://{shown}:{bound_port}/v1",
            "ws_url": f"ws://{shown}:{bound_port}/v1",
            "admin_url": f"http://{shown}:{bound_port}/_sim",
            "port": bound_port,
            "seed": seed,
            "markets": list(symbols),
        }
        if out.fmt in ("json", "ndjson"):
            out.line(info)
        else:
            print(
                f"paradexctl sim listening\n  REST      {info['http_url']}\n"
                f"  WebSocket {info['ws_url']}\n  admin     {info['admin_url']}",
                file=out.stdout,
                flush=True,
            )
            out.info("Ctrl-C to stop.")

    from paradexctl.sim.app import StateFileError

    try:
        serve(options, host, LOCAL_PORT if port is None else port, on_ready=ready)
    except StateFileError as err:
        raise ConfigError(str(err)) from None
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    out.info("paradexctl sim: stopped")

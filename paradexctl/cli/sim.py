"""``paradexctl sim``: run the local Paradex-compatible exchange (see ``docs/sim.md``)."""

from __future__ import annotations

import inspect
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.cli.grammar import METAVARS
from paradexctl.errors import ConfigError, UsageError
from paradexctl.sim.faults import FAULTS

DEFAULT_MARKETS = "BTC-USD-PERP,ETH-USD-PERP,SOL-USD-PERP"
STALENESS_HELP = (
    "REST reads lag the engine by MS milliseconds: a number (every endpoint) or KEY=MS for one "
    "of orders, orders-history, order, positions, balance, account, fills. Repeatable."
)


def register(app: typer.Typer) -> None:
    app.command("sim")(sim)


# the fault options' metavars are the fault table's (one place declares a fault)
METAVARS.update({spec.flag: spec.metavar for spec in FAULTS if spec.flag and spec.metavar})


def _fault_options() -> list[inspect.Parameter]:
    """One ``--flag`` per fault of :data:`~paradexctl.sim.faults.FAULTS` that has one (its
    name, metavar, help, type and default from the table); the values reach :func:`sim` as
    ``fault_values``, keyed by the fault's name."""
    return [
        inspect.Parameter(
            spec.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=spec.default,
            annotation=Annotated[
                spec.type,
                typer.Option(spec.flag, metavar=spec.metavar, help=spec.flag_help),
            ],
        )
        for spec in FAULTS
        if spec.flag is not None
    ]


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
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback).")] = "127.0.0.1",
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
    clock: Annotated[
        str | None,
        typer.Option(
            "--clock",
            metavar="CLOCK",
            help="wall (real time; POST /_sim/time/advance jumps ahead) or manual (time stands "
            "still until POST /_sim/time/advance moves it). [default: the scenario's, else wall]",
        ),
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            metavar="FILE",
            help="Start from a scenario (TOML or JSON; docs/sim.md): accounts, balances, "
            "positions, resting orders, marks, and a timeline of events on the sim clock.",
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
    playback: Annotated[
        Path | None,
        typer.Option(
            "--playback",
            metavar="RECORDING",
            help="Serve a recording made by stream/reconcile --record back to any client "
            "(docs/sim.md, Playback).",
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            metavar="X",
            help="With --playback: recorded time runs X times faster; 0 as fast as possible.",
        ),
    ] = 1.0,
    output: OutputOpt = None,
    **fault_values: Any,
) -> None:
    """Run a local Paradex-compatible exchange (REST + WebSocket) until interrupted.

    Prints its URLs (one JSON line with -o json). Point other commands at it with
    --env local, or --api-url/--ws-url. The admin API (faults, state) is under /_sim/.
    """
    ctx = get_ctx()
    out = ctx.report_output(output, "sim")

    from paradexctl.paradex.env import LOCAL_PORT
    from paradexctl.sim.app import STALENESS_KEYS, SimOptions
    from paradexctl.sim.exchange import DEFAULT_MARKETS as KNOWN
    from paradexctl.sim.faults import FaultConfig

    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is out of range: use 0 to 65535 (0 picks a free one)")
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
    faults = FaultConfig(**fault_values)
    try:
        faults.validate()
    except ValueError as err:
        raise UsageError(f"fault options: {err}") from None
    from paradexctl.sim.clock import CLOCK_MODES

    if clock is not None and clock not in CLOCK_MODES:
        raise UsageError(f"--clock must be {' or '.join(CLOCK_MODES)}")
    loaded = None
    if scenario is not None:
        from paradexctl.sim.scenario import ScenarioError, load

        if state is not None:
            raise UsageError("--scenario and --state cannot be combined (a scenario starts fresh)")
        try:
            loaded = load(scenario)
        except ScenarioError as err:
            raise UsageError(f"--scenario {scenario.name}: {err}") from None
    recording = None
    if playback is not None:
        from paradexctl.sim.playback import Recording

        if not speed >= 0:
            raise UsageError("--speed must be 0 (as fast as possible) or positive")
        recording = Recording.load(playback)
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
    if loaded is not None:
        options = loaded.configured(options)  # the scenario's settings over the flags'
        symbols = options.markets
    if clock is not None:
        options.clock = clock
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

    bound = LOCAL_PORT if port is None else port
    try:
        if recording is None:
            serve(options, host, bound, on_ready=ready)
        else:
            serve(options, host, bound, on_ready=ready, playback=recording, speed=speed)
    except StateFileError as err:
        raise ConfigError(str(err)) from None
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{bound}: {err.strerror or err}") from None
    out.info("paradexctl sim: stopped")


def _with_fault_options() -> None:
    """:func:`sim`'s signature as typer reads it: the fault options (from the table) after
    ``--ws-ping-interval``, in place of ``**fault_values``."""
    params = [
        p
        for p in inspect.signature(sim, eval_str=True).parameters.values()
        if p.kind is not p.VAR_KEYWORD
    ]
    at = [p.name for p in params].index("ws_ping_interval") + 1
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    params[at:at] = _fault_options()
    sim.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]


_with_fault_options()

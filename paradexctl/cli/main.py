"""The root of the ``paradexctl`` command line.

Adding a command group: write ``paradexctl/cli/<name>.py`` exposing
``register(app: typer.Typer) -> None`` (which calls ``app.command(...)`` or
``app.add_typer(...)``), and add ``<name>`` to ``COMMAND_MODULES`` below. Keep module-level
imports cheap: typer, the stdlib and ``paradexctl.{errors,config,output,cli.context}`` only.
Import httpx, websockets, rich, starlette/uvicorn and the signer inside the command
functions, so that ``paradexctl --help`` stays fast (tests check this).

Commands report failure by raising a :mod:`paradexctl.errors` class; :func:`main` turns it
into one line on stderr (a JSON object with ``-o json``) and the class's exit code. A command
may also ``raise typer.Exit(code)`` for a non-error status (reconcile's 1).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from paradexctl import __version__
from paradexctl.cli.completion import COMPLETE_VAR
from paradexctl.cli.context import AppContext, _check_format, get_ctx, set_ctx
from paradexctl.errors import ParadexctlError
from paradexctl.output import OutputClosed, compile_jq, silence_stdout

__all__ = ["COMMANDS", "COMMAND_MODULES", "app", "load_commands", "main", "run"]

#: Command modules, in the order their commands appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "markets",
    "account",
    "orders",
    "sign",
    "stream",
    "reconcile",
    "smoke",
    "status",
    "doctor",
    "sim",
    "config",
    "auth",
    "completion",
)

#: Exit code for an unexpected internal error (a bug). Not part of the contract's success or
#: failure classes; the message asks for a report.
EXIT_INTERNAL = 70


class _LazyRootGroup(TyperGroup):
    """The root group: lists every command of ``COMMAND_TABLE`` even when its module is not
    loaded (the root ``--help``), with the table's summary standing in for the command."""

    def list_commands(self, ctx: Any) -> list[str]:
        loaded = super().list_commands(ctx)
        return loaded if set(loaded) >= set(COMMAND_TABLE) else list(COMMAND_TABLE)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            from paradexctl.cli.grammar import normalize

            return normalize(cmd, cmd_name)
        if cmd_name in COMMAND_TABLE:
            from typer.core import TyperCommand

            summary = COMMAND_TABLE[cmd_name][1]
            return TyperCommand(cmd_name, help=summary)
        return cmd


app = typer.Typer(
    name="paradexctl",
    cls=_LazyRootGroup,
    help=(
        "Command-line toolkit for the Paradex perpetuals exchange: place and cancel orders, "
        "query the account, stream WebSocket updates as NDJSON, reconcile REST against "
        "WebSocket, run a smoke test, or run a local simulated exchange."
    ),
    no_args_is_help=True,  # main() prints the help on stdout and exits 0
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"paradexctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", metavar="NAME", help="Configuration profile [env: PARADEXCTL_PROFILE]."
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            metavar="ENV",
            help="Environment: prod, testnet, nightly or local (the built-in sim) "
            "[env: PARADEX_ENV].",
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url", metavar="URL", help="REST base URL override [env: PARADEX_API_URL]."
        ),
    ] = None,
    ws_url: Annotated[
        str | None,
        typer.Option(
            "--ws-url", metavar="URL", help="WebSocket URL override [env: PARADEX_WS_URL]."
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Output format: table, wide, json, ndjson or csv [default: table on a TTY, "
            "json when piped].",
            callback=_check_format,
            metavar="FORMAT",
        ),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            metavar="FIELDS",
            help="Comma-separated fields to keep in json, ndjson, csv and table output "
            "(an unknown one lists the valid ones).",
        ),
    ] = None,
    jq: Annotated[
        str | None,
        typer.Option(
            "--jq",
            metavar="EXPR",
            help="Filter the output through a jq expression (strings printed raw, other "
            "results as compact JSON, one per line).",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Trace HTTP and WebSocket traffic to stderr (redacted); -vv also prints "
            "the traceback of an error.",
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only data and errors.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Disable colour (also NO_COLOR).")
    ] = False,
    utc: Annotated[
        bool, typer.Option("--utc", help="Times in tables in UTC (else the local zone).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Global options apply to every command, and may be given before or after it
    (``paradexctl positions -v --env local``)."""
    set_ctx(
        AppContext(
            profile=profile,
            env=env,
            api_url=api_url,
            ws_url=ws_url,
            output_format=output,
            fields=tuple(f.strip() for f in (fields or "").split(",") if f.strip()),
            jq=None if jq is None else compile_jq(jq),
            verbose=verbose >= 1,
            debug=verbose >= 2,
            quiet=quiet,
            color=not no_color and "NO_COLOR" not in os.environ,
            utc=utc,
            error_format=output or get_ctx().error_format,
            transport=ctx.obj.get("transport") if isinstance(ctx.obj, dict) else None,
            on_mark=ctx.obj.get("on_mark") if isinstance(ctx.obj, dict) else None,
        )
    )


#: Top-level command name -> (the module that registers it, its one-line summary), in the
#: order ``--help`` lists them (typer puts plain commands before command groups). Only the
#: invoked command's module is imported and converted when a command runs, and the root
#: ``--help`` is rendered from this table without importing any command module: building
#: typer's whole command tree costs more than most commands' own work.
#: ``tests/test_cli_root.py`` checks this table against the modules and the rendered help.
COMMAND_TABLE: dict[str, tuple[str, str]] = {
    "markets": (
        "markets",
        "List markets with their increments and limits (or one market in full).",
    ),
    "bbo": ("markets", "Best bid and offer of one market."),
    "balances": ("account", "Token balances (GET /balance)."),
    "positions": ("account", "Positions (GET /positions), as the exchange reports them."),
    "fills": ("account", "Your fills, newest first as the exchange pages them (GET /fills)."),
    "stream": (
        "stream",
        "Stream private WebSocket channels as NDJSON, one object per line, flushed before every wait.",
    ),
    "reconcile": (
        "reconcile",
        "Compare the REST view of the account with the WebSocket's, once, and report every "
        "difference.",
    ),
    "smoke": ("smoke", "Run a self-checking round trip against the exchange and report each step."),
    "status": (
        "status",
        "Exchange status (system state, clock skew) and whether the account authenticates.",
    ),
    "doctor": (
        "doctor",
        "Check the setup: config and key permissions, credential, REST, system state, clock, auth.",
    ),
    "sim": ("sim", "Run a local Paradex-compatible exchange (REST + WebSocket) until interrupted."),
    "completion": ("completion", "Print the completion script for SHELL."),
    "account": (
        "account",
        "The account summary (margin, collateral); 'account onboard' registers a new account.",
    ),
    "orders": ("orders", "List orders (open or history)."),
    "order": ("orders", "Get, place, modify and cancel orders (never placed twice)."),
    "sign": (
        "sign",
        "Sign Paradex messages offline (orders, modifications, auth, onboarding); prints the "
        "typed data, hash, signature and the exact body or headers.",
    ),
    "config": ("config", "Manage profiles and credentials (config.toml, mode 0600)."),
    "auth": ("auth", "Read-only API tokens for automation (create, list, revoke)."),
}
COMMANDS: dict[str, str] = {name: module for name, (module, _) in COMMAND_TABLE.items()}


_loaded: set[str] = set()


def load_commands(modules: Sequence[str] | None = None) -> typer.Typer:
    """Register ``modules`` (default: all of ``COMMAND_MODULES``) on ``app`` and return it."""
    for name in COMMAND_MODULES if modules is None else modules:
        if name not in _loaded:
            importlib.import_module(f"paradexctl.cli.{name}").register(app)
            _loaded.add(name)
    return app


def _command_name(argv: Sequence[str]) -> str | None:
    """The first positional word of ``argv`` after the root options, if any."""
    from paradexctl.cli.grammar import GLOBAL_VALUE_OPTIONS

    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--":
            return None
        if arg.startswith("-"):
            skip = arg in GLOBAL_VALUE_OPTIONS
            continue
        return arg
    return None


def _stdout_closed() -> bool:
    """True when click has seen an EPIPE on stdout (it then wraps sys.stdout)."""
    from typer._click.utils import PacifyFlushWrapper

    return isinstance(sys.stdout, PacifyFlushWrapper)


def _asked_format(args: Sequence[str]) -> str:
    """The last ``-o``/``--output`` value of ``args`` (before ``--``), or ``table``: the
    format of an error raised before any command chose its output."""
    fmt = "table"
    for i, a in enumerate(args):
        if a == "--":
            break
        if a in ("-o", "--output") and i + 1 < len(args):
            fmt = args[i + 1]
        elif a.startswith("--output="):
            fmt = a.split("=", 1)[1]
        elif a.startswith("-o") and len(a) > 2 and not a.startswith("--"):
            fmt = a[2:]
    return fmt


def _usage_error(err: Any) -> ParadexctlError:
    """A click usage error as a :class:`~paradexctl.errors.UsageError`: one line, worded
    like paradexctl's own (``no such option: -x (see 'paradexctl positions --help')``)."""
    from paradexctl.errors import UsageError

    message = err.format_message().strip().rstrip(".")
    message = message[:1].lower() + message[1:]
    ctx = getattr(err, "ctx", None)
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return UsageError(message)


def _explain(err: ParadexctlError) -> ParadexctlError:
    """``err`` in the words a user needs (the REST client's message and details already name
    the full URL): a refused connection says so, and on ``--env local`` points at the
    simulator; a 404 from an API URL without ``/v1`` says so."""
    from paradexctl.errors import ExchangeRejected, ExchangeUnavailable

    s = get_ctx().resolved_settings()
    request = err.details.get("request")
    if s is None or not isinstance(request, str) or " /" not in request:
        return err
    if isinstance(err, ExchangeRejected) and err.status == 404:
        if not s.api_url.rstrip("/").endswith("/v1"):
            err.message += f" (the REST URL {s.api_url} has no /v1: did you mean {s.api_url}/v1?)"
    elif type(err) is ExchangeUnavailable and "refused" in str(err.details.get("last", "")).lower():
        method = request.split(" ", 1)[0]
        err.message = f"{method} {err.details['url']}: connection refused "
        err.message += f"({err.details['attempts']} attempts)"
        if s.env == "local" and s.origins.get("api_url") == "default":
            err.message += "; is the simulator running? start it with 'paradexctl sim'"
    return err


def _report(err: ParadexctlError) -> None:
    ctx = get_ctx()
    if ctx.error_format in ("json", "ndjson"):
        import json

        print(json.dumps(err.to_json(), default=str), file=sys.stderr, flush=True)
    else:
        print(f"paradexctl: {err.message}", file=sys.stderr, flush=True)


def _report_internal(err: Exception) -> None:
    message = (
        f"internal error: {type(err).__name__}: {err} "
        "(re-run with -v for the traceback; please report it)"
    )
    if get_ctx().error_format in ("json", "ndjson"):
        import json

        line = {"type": "error", "error": "internal", "exit_code": EXIT_INTERNAL}
        print(json.dumps({**line, "message": message}), file=sys.stderr, flush=True)
    else:
        print(f"paradexctl: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None, *, transport: Any = None, on_mark: Any = None) -> int:
    """Run the CLI and return its exit code (see ``docs/exit-codes.md``).

    Parameters for in-process callers (tests): ``transport``, an httpx transport every REST
    client of this run uses instead of the network (``httpx.MockTransport`` serves sync and
    async clients alike); ``on_mark``, called on the event loop with the name of each mark a
    live reconcile records (``collect(on_mark=)``)."""
    from typer import Abort
    from typer._click import exceptions as click_exc

    args = list(sys.argv[1:] if argv is None else argv)
    name = _command_name(args)
    if COMPLETE_VAR in os.environ:
        # A shell asks for completions: typer's completion classes must be registered (the
        # root app has add_completion=False) and every command must be known.
        from typer.completion import completion_init  # type: ignore[attr-defined]

        completion_init()
        load_commands()
    elif name in COMMANDS and not any(a in ("-h", "--help") for a in args[: args.index(name)]):
        load_commands([COMMANDS[name]])
    elif name is None and args and all(a in ("-h", "--help") for a in args):
        pass  # the root help lists COMMAND_TABLE; no command module is needed
    else:
        load_commands()
    from typer.main import get_command

    from paradexctl.cli.grammar import hoist_globals, normalize

    set_ctx(AppContext(color="NO_COLOR" not in os.environ, error_format=_asked_format(args)))
    root = normalize(get_command(app))
    try:
        rv = root.main(
            args=hoist_globals(root, args),
            standalone_mode=False,
            prog_name="paradexctl",
            obj={"transport": transport, "on_mark": on_mark},
        )
    except ParadexctlError as err:
        if get_ctx().debug:
            import traceback

            traceback.print_exc(file=sys.stderr)
        _report(_explain(err))
        return err.exit_code
    except OutputClosed:
        return 0
    except SystemExit as exc:
        # click answers an EPIPE on stdout (--help, --version, print() in a command) with
        # SystemExit(1) after wrapping sys.stdout; a closed pipe is a quiet success.
        if exc.code == 1 and _stdout_closed():
            silence_stdout()
            return 0
        raise
    except Abort:
        from paradexctl.errors import Interrupted

        _report(Interrupted("interrupted"))
        return 130
    except click_exc.NoArgsIsHelpError as err:
        # `paradexctl`, `paradexctl orders`: the help, on stdout, and success (as gh does)
        try:
            print(err.ctx.get_help(), flush=True)
        except BrokenPipeError:
            silence_stdout()
        return 0
    except click_exc.ClickException as err:
        _report(_usage_error(err))
        return 2
    except KeyboardInterrupt:
        from paradexctl.errors import Interrupted

        _report(Interrupted("interrupted"))
        return 130
    except Exception as err:  # a bug: one line, the traceback only with -v
        if get_ctx().verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        _report_internal(err)
        return EXIT_INTERNAL
    if isinstance(rv, int):
        if rv == 130:  # typer turns a KeyboardInterrupt inside a command into Exit(130)
            from paradexctl.errors import Interrupted

            _report(Interrupted("interrupted"))
        return rv
    return 0


def run() -> None:
    """Console-script entry point."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.exit(code)

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
from typing import Annotated

import typer

from paradexctl import __version__
from paradexctl.cli.context import AppContext, _check_format, get_ctx, set_ctx
from paradexctl.errors import ParadexctlError
from paradexctl.output import OutputClosed

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
    "sim",
    "config",
    "completion",
)

#: Exit code for an unexpected internal error (a bug). Not part of the contract's success or
#: failure classes; the message asks for a report.
EXIT_INTERNAL = 70

app = typer.Typer(
    name="paradexctl",
    help=(
        "Command-line toolkit for the Paradex perpetuals exchange: place and cancel orders, "
        "query the account, stream WebSocket updates as NDJSON, reconcile REST against "
        "WebSocket, run a smoke test, or run a local simulated exchange."
    ),
    no_args_is_help=True,
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
            help="Output format: table, json or ndjson (default: table on a TTY, json when piped).",
            callback=_check_format,
            metavar="FORMAT",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Trace HTTP and WebSocket traffic to stderr (redacted)."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only data and errors.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="Disable colour (also NO_COLOR).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Global options apply to every command."""
    set_ctx(
        AppContext(
            profile=profile,
            env=env,
            api_url=api_url,
            ws_url=ws_url,
            output_format=output,
            verbose=verbose,
            quiet=quiet,
            color=not no_color and "NO_COLOR" not in os.environ,
            error_format=output or "table",
        )
    )


#: Top-level command name -> the module that registers it. Only that module is imported
#: and converted when the command runs: building typer's whole command tree costs more than
#: most commands' own work. ``tests/test_cli_root.py`` checks this map against the modules.
COMMANDS: dict[str, str] = {
    "markets": "markets",
    "bbo": "markets",
    "account": "account",
    "balances": "account",
    "positions": "account",
    "fills": "account",
    "orders": "orders",
    "order": "orders",
    "sign": "sign",
    "stream": "stream",
    "reconcile": "reconcile",
    "smoke": "smoke",
    "sim": "sim",
    "config": "config",
    "completion": "completion",
}

#: Root options that take a value (skipped when looking for the command name).
_VALUE_OPTIONS = frozenset({"--profile", "--env", "--api-url", "--ws-url", "--output", "-o"})

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
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--":
            return None
        if arg.startswith("-"):
            skip = arg in _VALUE_OPTIONS
            continue
        return arg
    return None


def _report(err: ParadexctlError) -> None:
    ctx = get_ctx()
    if ctx.error_format in ("json", "ndjson"):
        import json

        print(json.dumps(err.to_json(), default=str), file=sys.stderr, flush=True)
    else:
        print(f"paradexctl: {err.message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (see ``docs/exit-codes.md``)."""
    from typer import Abort
    from typer._click import exceptions as click_exc

    args = list(sys.argv[1:] if argv is None else argv)
    name = _command_name(args)
    if name in COMMANDS and not any(a in ("-h", "--help") for a in args[: args.index(name)]):
        load_commands([COMMANDS[name]])
    else:
        load_commands()
    try:
        rv = app(
            args=args,
            standalone_mode=False,
            prog_name="paradexctl",
        )
    except ParadexctlError as err:
        if get_ctx().verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        _report(err)
        return err.exit_code
    except OutputClosed:
        return 0
    except Abort:
        print("paradexctl: interrupted", file=sys.stderr)
        return 130
    except click_exc.ClickException as err:
        err.show()
        return 2
    except KeyboardInterrupt:
        print("paradexctl: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line, the traceback only with -v
        if get_ctx().verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        print(
            f"paradexctl: internal error: {type(err).__name__}: {err} "
            "(re-run with -v for the traceback; please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    if isinstance(rv, int):
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

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

__all__ = ["COMMAND_MODULES", "app", "main", "run"]

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


def _register_all() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"paradexctl.cli.{name}")
        module.register(app)


_register_all()


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

    try:
        rv = app(
            args=list(argv) if argv is not None else None,
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

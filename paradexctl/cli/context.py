"""Process-wide CLI context: global options, resolved settings, the one ``Output``.

Commands get it with :func:`get_ctx` and never parse global options themselves::

    from paradexctl.cli.context import OutputOpt, get_ctx

    def balances(output: OutputOpt = None) -> None:
        ctx = get_ctx()
        out = ctx.output(output)          # -o given on the command wins over the global -o
        settings = ctx.settings()         # flag > env var > profile > default
        ...
        out.emit(rows, columns=[...])

Heavy modules (httpx, websockets, rich, the signer's tables) are imported inside commands only.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from paradexctl.config import Settings, load_private_key_text, resolve_settings
from paradexctl.errors import ConfigError, UsageError
from paradexctl.output import FORMATS, Output, default_format

__all__ = ["AppContext", "OutputOpt", "get_ctx", "set_ctx"]


def _check_format(value: str | None) -> str | None:
    if value is not None and value not in (*FORMATS, "wide"):
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)} or wide")
    return value


#: The per-command ``-o/--output`` option; commands declare ``output: OutputOpt = None``.
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Output format: table, wide, json, ndjson or csv [default: table on a TTY, "
        "json when piped].",
        callback=_check_format,
        metavar="FORMAT",
    ),
]
#: ``-w/--watch`` on the list commands that have a stream channel (``cli/watch.py``)
WatchOpt = Annotated[
    bool,
    typer.Option(
        "--watch",
        "-w",
        help="Keep the rows live from the merged stream (a table redrawn in place, or each "
        "change with -o ndjson) until interrupted.",
    ),
]


@dataclass
class AppContext:
    profile: str | None = None
    env: str | None = None
    api_url: str | None = None
    ws_url: str | None = None
    output_format: str | None = None
    #: ``--fields a,b,c``: only these fields in json, ndjson, csv and table output
    fields: tuple[str, ...] = ()
    #: ``--jq EXPR``: the compiled program every emitted value goes through
    jq: Any = None
    verbose: bool = False
    #: ``-vv``: an error's traceback is printed too
    debug: bool = False
    quiet: bool = False
    color: bool = True
    #: ``--utc``: times in tables in UTC
    utc: bool = False
    #: the format used for error reporting; updated when a command picks its own
    error_format: str = "table"
    #: an httpx transport for every REST client (``main(transport=)``; None: the network)
    transport: Any = None
    #: called with each mark name of a live reconcile (``main(on_mark=)``; tests)
    on_mark: Any = None
    _settings: Settings | None = field(default=None, repr=False)
    _outputs: dict[str, Output] = field(default_factory=dict, repr=False)

    def output(self, override: str | None = None) -> Output:
        explicit = override or self.output_format
        fmt = explicit or default_format()
        if self.jq is not None:
            fmt = "json"  # --jq filters the JSON shape of the result, whatever the terminal
        wide = fmt == "wide"  # a table with every column, cells folded, raw values
        if wide:
            fmt = "table"
        # errors are JSON only when JSON was asked for explicitly
        self.error_format = explicit or "table"
        json_messages = explicit in ("json", "ndjson")
        key = f"{fmt}:{json_messages}:{wide}"
        out = self._outputs.get(key)
        if out is None:
            out = Output(
                fmt,
                color=self.color,
                quiet=self.quiet,
                verbose=self.verbose,
                json_messages=json_messages,
                fields=self.fields,
                jq=self.jq,
                wide=wide,
                utc=self.utc,
            )
            self._outputs[key] = out
        return out

    def report_output(self, override: str | None, command: str) -> Output:
        """:meth:`output` for a command whose output is a report or a stream, not a list:
        ``-o csv`` (for lists) and ``--fields`` are usage errors (exit 2)."""
        out = self.output(override)
        if self.jq is not None and command not in ("status", "doctor"):
            raise UsageError(
                f"--jq filters a command's result; {command} prints a report or a stream "
                "(use -o json | jq)"
            )
        if out.fmt == "csv" or self.fields:
            what = "-o csv" if out.fmt == "csv" else "--fields"
            raise UsageError(f"{what} is for lists; {command} prints a table, json or ndjson")
        return out

    def progress_sink(self) -> Any:
        """``progress(line)`` for waits and retries when stderr is a terminal and not
        ``-q`` (None otherwise: nothing of it in a pipe or a log)."""
        if self.quiet or not sys.stderr.isatty():
            return None
        from paradexctl.output import stderr_message

        as_json = self.error_format in ("json", "ndjson")

        def progress(line: str) -> None:
            stderr_message(sys.stderr, "progress", line, as_json=as_json)

        return progress

    def trace(self, line: str) -> None:
        """A traffic trace line (``-v``) on stderr: a JSON object ``{"type": "trace"}`` when
        errors are JSON (``-o json``/``ndjson``), else the text."""
        from paradexctl.output import stderr_message

        stderr_message(sys.stderr, "trace", line, as_json=self.error_format in ("json", "ndjson"))

    def settings(self, **overrides: Any) -> Settings:
        """Resolved settings; ``overrides`` are command-level flags (they win)."""
        if overrides:
            merged: dict[str, Any] = {
                "profile": self.profile,
                "env": self.env,
                "api_url": self.api_url,
                "ws_url": self.ws_url,
            }
            merged.update({k: v for k, v in overrides.items() if v is not None})
            return resolve_settings(**merged)
        if self._settings is None:
            self._settings = resolve_settings(
                profile=self.profile, env=self.env, api_url=self.api_url, ws_url=self.ws_url
            )
        return self._settings

    def resolved_settings(self) -> Settings | None:
        """The settings if :meth:`settings` resolved them in this run, else None."""
        return self._settings

    def private_key(self, settings: Settings | None = None) -> int:
        """The private key as an integer. ConfigError (exit 3) when missing or invalid."""
        from paradexctl.signing import InvalidKeyError, parse_private_key

        s = settings or self.settings()
        self.require_writer(s)
        try:
            text = load_private_key_text(s)
        except ConfigError as err:
            if s.key_source is None and command_has_option("--key-file"):
                raise ConfigError(f"{err.message}; or pass --key-file FILE") from None
            raise
        try:
            return parse_private_key(text)
        except InvalidKeyError as err:
            src = s.key_source.describe() if s.key_source else "the configured source"
            raise ConfigError(f"invalid private key from {src}: {err}") from None

    def require_writer(self, settings: Settings | None = None) -> None:
        """ConfigError (exit 3) when the credential in use is a read-only API token: called
        by every command that writes (or signs), before any request and any question."""
        s = settings or self.settings()
        if s.credential == "read-only token" and s.credential_source is not None:
            raise ConfigError(
                "this needs a private key: the configured credential is a read-only API "
                f"token ({s.credential_source.describe()}), which can only read (nothing was "
                "sent)"
            )

    def account_address(self, settings: Settings | None = None) -> str:
        s = settings or self.settings()
        if not s.account_address:
            flag = " pass --account ADDR," if command_has_option("--account") else ""
            raise ConfigError(
                f"no account address configured: set PARADEX_ACCOUNT_ADDRESS,{flag} or run "
                "'paradexctl config set account_address 0x...'"
            )
        return s.account_address

    def confirm(self, question: str, *, yes: bool, settings: Settings | None = None) -> None:
        """Ask before acting on a real-money environment.

        On ``prod``: proceeds with ``--yes``; asks on a TTY; refuses (exit 2) without a TTY.
        Elsewhere: proceeds.
        """
        s = settings or self.settings()
        if yes or not s.real_money:
            return
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise UsageError(
                f"{question} on {s.env} needs confirmation; not on a TTY, so pass --yes "
                "to proceed (nothing was sent)"
            )
        if not typer.confirm(f"{question} on {s.env} (real money)?", default=False, err=True):
            raise UsageError("not confirmed; nothing was sent")


def command_has_option(name: str) -> bool:
    """True when the command being run defines the option ``name``: a hint names only
    options the user can pass to it."""
    from typer._click.globals import get_current_context

    click_ctx = get_current_context(silent=True)
    params = getattr(getattr(click_ctx, "command", None), "params", [])
    return any(name in (*p.opts, *p.secondary_opts) for p in params)


_CTX: AppContext | None = None


def set_ctx(ctx: AppContext) -> None:
    global _CTX
    _CTX = ctx


def get_ctx() -> AppContext:
    """The current context (a default one when a command is invoked without the root)."""
    global _CTX
    if _CTX is None:
        _CTX = AppContext(color="NO_COLOR" not in os.environ)
    return _CTX

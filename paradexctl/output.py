"""Renderers: ``table`` (rich, for a TTY), ``json`` (one document), ``ndjson`` (one object a line).

Rules:

* Only data goes to stdout; messages and progress go to stderr (:meth:`Output.info`).
* Decimals are rendered as JSON *strings*, exactly as ``str(Decimal)`` gives them, so the
  exchange's own strings (``"0.0100"``) survive unchanged. Floats never appear.
* NDJSON is flushed after every line, so ``paradexctl stream | jq`` sees lines immediately.
* rich is imported only when a table is actually rendered; venue strings are escaped before
  they reach rich markup.

``render_json``/``render_ndjson`` are pure functions returning strings (tested directly);
:class:`Output` writes them.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TextIO

__all__ = [
    "FORMATS",
    "Output",
    "OutputClosed",
    "default_format",
    "jsonable",
    "render_json",
    "render_ndjson",
    "silence_stdout",
]

FORMATS = ("table", "json", "ndjson")


class OutputClosed(Exception):
    """stdout was closed by the reader (``| head``); the CLI exits quietly."""


def default_format(stream: TextIO | None = None) -> str:
    """``table`` when stdout is a terminal, ``json`` when it is piped or redirected."""
    s = stream if stream is not None else sys.stdout
    try:
        return "table" if s.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def jsonable(obj: Any) -> Any:
    """Convert ``obj`` into plain JSON types. Decimal becomes its exact string."""
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, float):
        # Floats are never money here; render them as a string to avoid silent rounding.
        return repr(obj)
    if isinstance(obj, enum.Enum):
        return jsonable(obj.value)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        if callable(to_dict):
            return jsonable(to_dict())
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return str(obj)


def render_json(data: Any) -> str:
    """One JSON document, indented, with a trailing newline."""
    import json

    return json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n"


def render_ndjson(rows: Iterable[Any]) -> Iterator[str]:
    """One compact JSON object per line (each string ends with a newline)."""
    import json

    for row in rows:
        yield json.dumps(jsonable(row), separators=(",", ":"), ensure_ascii=False) + "\n"


def silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _cell(value: Any) -> str:
    import json

    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class Output:
    """Writes rendered data to stdout and messages to stderr.

    One instance per process, created by the CLI root and injected into commands.
    """

    def __init__(
        self,
        fmt: str,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        color: bool = True,
        quiet: bool = False,
        verbose: bool = False,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}")
        self.fmt = fmt
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.color = color
        self.quiet = quiet
        self.verbose = verbose

    # -- data -----------------------------------------------------------------------------

    def emit(
        self,
        data: Any,
        *,
        columns: Sequence[str] | None = None,
        title: str | None = None,
    ) -> None:
        """Render ``data`` (a mapping, or a list of mappings) in the chosen format."""
        if self.fmt == "json":
            self._write(render_json(data))
        elif self.fmt == "ndjson":
            rows = data if isinstance(data, list) else [data]
            for line in render_ndjson(rows):
                self._write(line)
        else:
            try:
                self._table(data, columns=columns, title=title)
            except BrokenPipeError:
                silence_stdout()
                raise OutputClosed() from None

    def line(self, obj: Any) -> None:
        """Write one NDJSON line and flush (streaming commands)."""
        for line in render_ndjson([obj]):
            self._write(line)

    def _write(self, text: str) -> None:
        try:
            self.stdout.write(text)
            self.stdout.flush()
        except BrokenPipeError:
            silence_stdout()
            raise OutputClosed() from None

    def _table(self, data: Any, *, columns: Sequence[str] | None, title: str | None) -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                # rich would raise SystemExit(1); a closed pipe ends the command quietly
                # with status 0 (OutputClosed), as for json and ndjson.
                raise BrokenPipeError()

        console = _Console(
            file=self.stdout,
            # --no-color / NO_COLOR: plain text, no colour and no other styling (bold)
            color_system="auto" if self.color else None,
            no_color=not self.color,
            highlight=False,
            soft_wrap=False,
        )
        if isinstance(data, Mapping) and not columns:
            table = Table(title=title, show_header=True, header_style="bold")
            table.add_column("field")
            table.add_column("value", overflow="fold")
            for key, value in jsonable(data).items():
                table.add_row(escape(str(key)), escape(_cell(value)))
            console.print(table)
            return
        rows = [jsonable(r) for r in (data if isinstance(data, list) else [data])]
        if not columns:
            seen: dict[str, None] = {}
            for r in rows:
                for k in r:
                    seen.setdefault(k, None)
            columns = list(seen)
        table = Table(title=title, show_header=True, header_style="bold")
        for c in columns:
            table.add_column(escape(c), overflow="fold")
        for r in rows:
            table.add_row(*(escape(_cell(r.get(c))) for c in columns))
        console.print(table)
        if not rows:
            self.info("(no rows)")

    # -- messages -------------------------------------------------------------------------

    def info(self, message: str) -> None:
        """A human message on stderr; suppressed by ``--quiet``."""
        if not self.quiet:
            print(message, file=self.stderr, flush=True)

    def warn(self, message: str) -> None:
        """A warning on stderr; always shown."""
        print(f"warning: {message}", file=self.stderr, flush=True)

    def debug(self, message: str) -> None:
        """A trace line on stderr, only with ``--verbose``. Callers must redact secrets."""
        if self.verbose:
            print(message, file=self.stderr, flush=True)

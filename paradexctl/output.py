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
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TextIO

__all__ = [
    "FORMATS",
    "Output",
    "OutputClosed",
    "default_format",
    "jsonable",
    "render_csv",
    "render_json",
    "render_ndjson",
    "select_fields",
    "silence_stdout",
    "stderr_message",
]

FORMATS = ("table", "json", "ndjson", "csv")


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


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (JSON ``"\\ud800"`` from the exchange decodes to a
    str that UTF-8 cannot encode) replaced by its ``\\uXXXX`` escape. In JSON text a
    surrogate can only sit inside a string, so the escape is exact: the line parses back to
    the same value. The one fallback of every writer of exchange text (stdout, recordings)."""
    import re

    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


def _write_text(stdout: TextIO, text: str) -> None:
    """Write and flush; text UTF-8 cannot encode (a lone surrogate) is written escaped (the
    encoding fails before anything is written, so nothing is written twice)."""
    try:
        stdout.write(text)
    except UnicodeEncodeError:
        stdout.write(escape_surrogates(text))
    stdout.flush()


def render_json(data: Any) -> str:
    """One JSON document, indented, with a trailing newline."""
    import json

    return json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n"


def render_ndjson(rows: Iterable[Any]) -> Iterator[str]:
    """One compact JSON object per line (each string ends with a newline): :func:`ndjson_line`
    after the :func:`jsonable` pass that any value may need."""
    for row in rows:
        yield ndjson_line(jsonable(row)) + "\n"


_ndjson_encode: Callable[[Any], str] | None = None


def ndjson_line(obj: Any) -> str:
    """The one NDJSON encoder: compact, UTF-8 as is, a Decimal as its exact string (a
    :class:`LineWriter`'s live payloads go straight here, the fast path; every other row
    comes through :func:`render_ndjson`'s :func:`jsonable` pass first). No newline."""
    global _ndjson_encode
    if _ndjson_encode is None:  # built on first use: json is not imported for --help
        import json

        _ndjson_encode = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, default=_decimal_fallback
        ).encode
    return _ndjson_encode(obj)


def _rows(data: Any) -> list[Any]:
    return list(data) if isinstance(data, list) else [data]


def _keys(rows: Sequence[Any]) -> list[str]:
    """Every key of the mapping rows, in first-seen order."""
    seen: dict[str, None] = {}
    for r in rows:
        if isinstance(r, Mapping):
            seen.update(dict.fromkeys(str(k) for k in r))
    return list(seen)


#: the largest integer a jq number (an IEEE double) holds exactly
_JQ_EXACT = 2**53


def compile_jq(expr: str) -> Any:
    """``--jq EXPR`` compiled (the ``jq`` package is imported only then).

    Raises:
        UsageError: the expression does not compile (exit 2, before any request).
    """
    from paradexctl.errors import UsageError

    try:
        import jq
    except ImportError:  # pragma: no cover - a runtime dependency
        raise UsageError("--jq needs the 'jq' package (pip install jq)") from None
    try:
        return jq.compile(expr)
    except ValueError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid expression"
        raise UsageError(
            f"--jq {expr!r}: {first.removeprefix('jq: error: ').rstrip(':')}"
        ) from None


def _jq_safe(obj: Any) -> Any:
    """``obj`` (plain JSON types) with every integer a double cannot hold exactly as its
    decimal string: jq computes in doubles, and a sequence number or a nanosecond time must
    not come out rounded. Decimal values are already strings (:func:`jsonable`)."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj if -_JQ_EXACT <= obj <= _JQ_EXACT else str(obj)
    if isinstance(obj, dict):
        return {k: _jq_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jq_safe(v) for v in obj]
    return obj


def jq_lines(program: Any, data: Any) -> Iterator[str]:
    """``data`` through the compiled jq ``program``: one line per result, a string raw (as
    ``gh --jq`` prints it), anything else as compact JSON.

    Raises:
        UsageError: the program failed on this data (exit 2).
    """
    from paradexctl.errors import UsageError

    try:
        results = program.input_value(_jq_safe(jsonable(data))).all()
    except ValueError as err:
        raise UsageError(f"--jq: {str(err).strip().splitlines()[0]}") from None
    for r in results:
        yield escape_surrogates(r if isinstance(r, str) else ndjson_line(r)) + "\n"


def select_fields(data: Any, fields: Sequence[str]) -> Any:
    """``data`` (a mapping or a list of mappings) with only ``fields``, in that order
    (``--fields a,b,c``). A field no row has is a usage error naming the valid ones."""
    from paradexctl.errors import UsageError

    rows = [jsonable(r) for r in _rows(data)]
    valid = _keys(rows)
    unknown = [f for f in fields if rows and f not in valid]
    if unknown:
        raise UsageError(
            f"--fields: unknown field(s) {', '.join(unknown)}; valid: {', '.join(valid) or '(none)'}"
        )
    picked = [{f: r.get(f) for f in fields} if isinstance(r, Mapping) else r for r in rows]
    return picked if isinstance(data, list) else picked[0]


def render_csv(data: Any, columns: Sequence[str] | None = None) -> str:
    """RFC 4180 CSV: a header row, then one row per object (a mapping is one row). Columns:
    ``columns``, else every key in first-seen order. Decimals exactly as sent; a nested
    value is compact JSON; None is empty."""
    import csv
    import io

    rows = [jsonable(r) for r in _rows(data)]
    if not columns:
        columns = _keys(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        row = r if isinstance(r, Mapping) else {"value": r}
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


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
    return escape_surrogates(str(value))


#: a cell that is a number as the exchange writes it (right-aligned in tables)
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
#: ms (13 digits) or ns (19) since the epoch, ASCII digits only
_EPOCH = re.compile(r"[0-9]{13}|[0-9]{19}")
#: columns shortened first when a table is too wide (never below :data:`MIN_ID`)
ID_COLUMNS = frozenset(
    {"id", "order_id", "client_id", "account", "lookup_id", "token_id", "fill_id", "busted_fill_id",
     "key"}
)  # fmt: skip
#: columns a report cannot do without: never left out (they are short)
KEEP_COLUMNS = frozenset({"status", "failing", "check", "step", "entity", "kind"})
#: the shortest an id is cut to (``17964151…0002``: its start and end stay readable)
MIN_ID = 14
#: free-text columns (a report's ``detail``): never hidden, folded over lines as needed
FOLD_COLUMNS = frozenset({"detail", "message", "checks", "ws", "rest", "rule"})
#: the width a fold column is counted at when a table is fitted
FOLD_MIN = 24
#: columns hidden first when a table is too wide, after the ids were shortened
LOW_PRIORITY = ("cancel_reason", "remaining_size", "liquidity", "last_updated_at", "created_at",
                "timestamp", "type", "client_id")  # fmt: skip


def fit_columns(
    columns: list[str], cells: list[list[str]], width: int
) -> tuple[list[int], dict[int, int]]:
    """Which columns a table of ``width`` characters shows, and to what width each id column
    is cut: every column whole at first; then id columns cut down to :data:`MIN_ID`; then
    the :data:`LOW_PRIORITY` columns hidden, then others from the right, at least two
    kept. A rich table takes three characters per column plus one."""
    from rich.cells import cell_len  # what a character takes on screen (CJK: two)

    natural = [
        max([cell_len(c), *(cell_len(row[i]) for row in cells)]) for i, c in enumerate(columns)
    ]
    natural = [
        min(n, FOLD_MIN) if c in FOLD_COLUMNS else n for n, c in zip(natural, columns, strict=True)
    ]
    keep = list(range(len(columns)))
    cut: dict[int, int] = {}

    def total() -> int:
        return sum(cut.get(i, natural[i]) for i in keep) + 3 * len(keep) + 1

    for i in keep:
        if total() <= width:
            break
        if columns[i] in ID_COLUMNS and natural[i] > MIN_ID:
            cut[i] = max(MIN_ID, natural[i] - (total() - width), len(columns[i]))
    order = [i for c in LOW_PRIORITY for i in keep if columns[i] == c]
    order += [
        i
        for i in reversed(keep)
        if i not in order and columns[i] not in FOLD_COLUMNS | KEEP_COLUMNS
    ]
    for i in order:
        if total() <= width or len(keep) <= 2:
            break
        keep.remove(i)
    cut = {i: w for i, w in cut.items() if i in keep}
    for i in sorted(cut):  # what hiding freed goes back to the cut ids first
        room = width - total()
        if room <= 0:
            break
        cut[i] = min(natural[i], cut[i] + room)
        if cut[i] == natural[i]:
            del cut[i]
    return keep, cut


def _shorten(text: str, width: int | None) -> str:
    """``text`` cut to ``width`` with ``…`` in the middle (the start and the end stay)."""
    if width is None or len(text) <= width:
        return text
    head = (width - 1) // 2 + (width - 1) % 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def human_time(value: Any, *, utc: bool, today: Any = None) -> str | None:
    """``12:03:41`` for a time today, ``2026-11-30 12:03`` otherwise (local, or UTC with
    ``utc``), for a value in ms or ns since the epoch; None for anything else (shown as is)."""
    from datetime import UTC, datetime

    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    text = str(value)
    if not _EPOCH.fullmatch(text):
        return None
    seconds = int(text) / (1000 if len(text) == 13 else 1_000_000_000)
    when = datetime.fromtimestamp(seconds, UTC if utc else None)
    now = today if today is not None else datetime.now(UTC if utc else None)
    if when.date() == now.date():
        return when.strftime("%H:%M:%S")
    return when.strftime("%Y-%m-%d %H:%M")


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
        json_messages: bool = False,
        fields: Sequence[str] | None = None,
        jq: Any = None,
        wide: bool = False,
        utc: bool = False,
    ) -> None:
        """``json_messages``: every stderr line (message, warning, trace) is a JSON object
        with a ``type`` (``-o json``/``-o ndjson`` given explicitly: both streams are
        machine-readable)."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}")
        self.fmt = fmt
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.color = color
        self.quiet = quiet
        self.verbose = verbose
        self.json_messages = json_messages
        #: ``--fields``: only these fields of every emitted object, in this order
        self.fields = list(fields) if fields else None
        #: ``--jq``: a compiled jq program every emitted value goes through (:func:`jq_lines`)
        self.jq = jq
        #: ``-o wide``: a table with every column, cells folded, raw values
        self.wide = wide
        #: ``--utc``: times in tables in UTC (else the local zone)
        self.utc = utc
        #: "now" for human times (today's times without a date); injectable for tests
        self.today: Any = None
        self.hidden_note: str | None = None

    # -- data -----------------------------------------------------------------------------

    def emit(
        self,
        data: Any,
        *,
        columns: Sequence[str] | None = None,
        title: str | None = None,
    ) -> None:
        """Render ``data`` (a mapping, or a list of mappings) in the chosen format
        (``--fields``: only those fields, and those columns of a table or CSV)."""
        if self.fields:
            data = select_fields(data, self.fields)
            columns = self.fields if isinstance(data, list) or self.fmt == "csv" else None
        if self.jq is not None:
            for line in jq_lines(self.jq, data):
                self._write(line)
            return
        if self.fmt == "csv":
            self._write(render_csv(data, columns))
        elif self.fmt == "json":
            self._write(render_json(data))
        elif self.fmt == "ndjson":
            for line in render_ndjson(_rows(data)):
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

    def write(self, text: str) -> None:
        """Text as it is (a verdict line, a canonical report), flushed; a lone surrogate is
        written escaped, a closed pipe is :class:`OutputClosed`, as for :meth:`emit`."""
        self._write(text)

    def _write(self, text: str) -> None:
        _write_or_close(self.stdout, text)

    def console(self) -> Any:
        """The rich console tables are printed on (stdout; a closed pipe is
        :class:`OutputClosed`, no colour with ``--no-color``/``NO_COLOR``)."""
        from rich.console import Console

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                # rich would raise SystemExit(1); a closed pipe ends the command quietly
                # with status 0 (OutputClosed), as for json and ndjson.
                raise BrokenPipeError()

        return _Console(
            file=self.stdout,
            # --no-color / NO_COLOR: plain text, no colour and no other styling (bold)
            color_system="auto" if self.color else None,
            no_color=not self.color,
            highlight=False,
            soft_wrap=False,
        )

    def build_table(
        self, data: Any, *, columns: Sequence[str] | None = None, title: str | None = None
    ) -> Any:
        """The rich table of ``data``: a mapping as field/value rows (without ``columns``),
        else one row per mapping in ``columns`` (default: every key)."""
        from rich.markup import escape
        from rich.table import Table

        if isinstance(data, Mapping) and not columns:
            table = Table(title=title, show_header=True, header_style="bold")
            table.add_column("field")
            table.add_column("value", overflow="fold")
            for key, value in jsonable(data).items():
                name = escape_surrogates(str(key))
                table.add_row(escape(name), escape(self._shown(name, value)))
            return table
        rows = [jsonable(r) for r in _rows(data)]
        if not columns:
            columns = _keys(rows)
        cells = [[self._shown(c, r.get(c)) for c in columns] for r in rows]
        keep: list[int] = list(range(len(columns)))
        cut: dict[int, int] = {}
        if not self.wide:
            keep, cut = fit_columns(list(columns), cells, self.console().width)
            hidden = [c for i, c in enumerate(columns) if i not in keep]
            if hidden:
                self.hidden_note = (
                    f"({len(hidden)} column(s) not shown at this width: {', '.join(hidden)}; "
                    "-o wide or -o json shows every field)"
                )
        table = Table(title=title, show_header=True, header_style="bold")
        for i in keep:
            values = [row[i] for row in cells if row[i]]
            numeric = (
                columns[i] not in ID_COLUMNS
                and bool(values)
                and all(_NUMBER.fullmatch(v) for v in values)
            )
            table.add_column(
                escape(escape_surrogates(columns[i])),
                justify="right" if numeric else "left",
                no_wrap=not (self.wide or columns[i] in FOLD_COLUMNS),
                overflow="fold" if self.wide or columns[i] in FOLD_COLUMNS else "ellipsis",
            )
        for row in cells:
            table.add_row(*(escape(_shorten(row[i], cut.get(i))) for i in keep))
        return table

    def _shown(self, column: str, value: Any) -> str:
        """A cell as a person reads it: times human (``_at`` columns and ``timestamp``, in
        ms or ns since the epoch), booleans yes/no; everything else exactly as sent."""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if (column.endswith("_at") or column == "timestamp") and not self.wide:
            shown = human_time(value, utc=self.utc, today=self.today)
            if shown is not None:
                return shown
        return _cell(value)

    def _table(self, data: Any, *, columns: Sequence[str] | None, title: str | None) -> None:
        self.hidden_note = None
        self.console().print(self.build_table(data, columns=columns, title=title))
        if not (isinstance(data, Mapping) and not columns) and not list(_rows(data)):
            self.info("(no rows)")
        elif self.hidden_note:
            self.info(self.hidden_note)

    # -- messages -------------------------------------------------------------------------

    def info(self, message: str) -> None:
        """A human message on stderr; suppressed by ``--quiet``."""
        if not self.quiet:
            self.message("info", message)

    def warn(self, message: str) -> None:
        """A warning on stderr; always shown."""
        self.message("warning", message)

    def debug(self, message: str) -> None:
        """A trace line on stderr, only with ``--verbose``. Callers must redact secrets."""
        if self.verbose:
            self.message("trace", message)

    def message(self, kind: str, message: str) -> None:
        """One stderr line of ``kind`` (info, warning, trace); see :func:`stderr_message`."""
        stderr_message(self.stderr, kind, message, as_json=self.json_messages)


# -- live output: the NDJSON line writer, the terminal view, the stream's lines -----------------


def stderr_message(stream: TextIO, kind: str, message: str, *, as_json: bool) -> None:
    """One stderr line of ``kind`` (info, warning, trace), flushed: ``{"type": kind,
    "message": ...}`` when ``as_json``, else the text (``warning: `` before a warning)."""
    if as_json:
        line = ndjson_line({"type": kind, "message": message}) + "\n"
    else:
        line = (f"warning: {message}" if kind == "warning" else message) + "\n"
    stream.write(line)
    stream.flush()


def _write_or_close(stdout: TextIO, data: str) -> None:
    try:
        _write_text(stdout, data)
    except BrokenPipeError:
        silence_stdout()
        raise OutputClosed() from None


def _decimal_fallback(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return jsonable(value)


class LineWriter:
    """NDJSON lines through the one encoder, :func:`ndjson_line`, as :meth:`Output.line`
    renders them, without :func:`jsonable`'s pre-pass over every value (live payloads are
    plain JSON types and Decimals).

    By default each line is written and flushed at once. With ``batch=True`` lines are kept
    until :meth:`flush` (a live command calls it before it waits for input) or until
    ``batch_bytes`` of them are pending, then written with one write and one flush: a burst
    of frames costs one pipe write instead of one per line (``docs/stream.md``, Output).
    :meth:`text` takes a line already encoded (the fast path of :class:`StreamLines`).
    """

    def __init__(self, stdout: TextIO, *, batch: bool = False, batch_bytes: int = 65536) -> None:
        self.stdout = stdout
        self.batch = batch
        self.batch_bytes = batch_bytes
        self._pending: list[str] = []
        self._size = 0

    def __call__(self, obj: Mapping[str, Any]) -> None:
        self.text(ndjson_line(obj))

    def text(self, line: str) -> None:
        if not self.batch:
            _write_or_close(self.stdout, line + "\n")
            return
        self._pending.append(line)
        self._size += len(line)
        if self._size >= self.batch_bytes:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            data = "\n".join(self._pending) + "\n"
            self._pending.clear()
            self._size = 0
            _write_or_close(self.stdout, data)


def _clean(value: Any) -> str:
    """A venue string made safe for a terminal (no control characters)."""
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else "?" for c in text)


class LiveView:
    """A readable one-line-per-event view of live lines for a terminal."""

    text = None  # no fast path: every line is rendered from its dict

    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout

    def flush(self) -> None:
        pass

    def __call__(self, line: Mapping[str, Any]) -> None:
        import time as _time

        ts = line.get("ts")
        clock = (
            _time.strftime("%H:%M:%S", _time.localtime(ts / 1000)) + f".{ts % 1000:03d}"
            if isinstance(ts, int)
            else "--:--:--.---"
        )
        kind = line.get("type")
        if kind == "update":
            text = f"{line.get('source', ''):4} {line.get('channel', ''):9} " + self._data(line)
            decision = line.get("decision")
            if isinstance(decision, dict):
                verdict = "accepted" if decision.get("accepted") else "rejected"
                text += f"  [{verdict}: {decision.get('reason')}]"
        else:
            extras = " ".join(
                f"{k}={_clean(v if not isinstance(v, (list, dict)) else len(v))}"
                for k, v in line.items()
                if k not in ("ts", "type") and v not in (None, "", [], {})
            )
            text = f"-- {kind} {extras}"
        _write_or_close(self.stdout, f"{clock} {text}\n")

    @staticmethod
    def _data(line: Mapping[str, Any]) -> str:
        d = line.get("data")
        if not isinstance(d, dict):
            return f"{_clean(line.get('key'))} (absent)"
        ch = line.get("channel")
        g = d.get
        if ch == "orders":
            parts = [g("market"), g("side"), g("type"), g("size")]
            price = g("price")
            text = " ".join(_clean(p) for p in parts if p)
            if price not in (None, "", "0"):
                text += f" @ {_clean(price)}"
            text += f" {_clean(g('status'))} remaining {_clean(g('remaining_size'))}"
            if g("cancel_reason"):
                text += f" ({_clean(g('cancel_reason'))})"
            return text + f" id {_clean(g('id'))}"
        if ch == "fills":
            if "busted_fill_id" in d:
                return f"tradebust of fill {_clean(g('busted_fill_id'))}"
            return (
                f"{_clean(g('market'))} {_clean(g('side'))} {_clean(g('size'))} @ "
                f"{_clean(g('price'))} fee {_clean(g('fee'))} {_clean(g('liquidity'))}"
                f" order {_clean(g('order_id'))}"
            )
        if ch == "positions":
            return (
                f"{_clean(g('market'))} {_clean(g('side'))} size {_clean(g('size'))} "
                f"entry {_clean(g('average_entry_price'))} uPnL {_clean(g('unrealized_pnl'))}"
            )
        if ch == "balances":
            return f"{_clean(g('token'))} {_clean(g('size'))}"
        if ch == "account":
            return (
                f"value {_clean(g('account_value'))} free "
                f"{_clean(g('free_collateral'))} status {_clean(g('status'))}"
            )
        return _clean(d)


class StreamLines:
    """The lines of ``paradexctl stream`` (``docs/stream.md``), from the feed's typed events.

    ``sink`` is a :class:`LineWriter` or a :class:`LiveView`. An update whose payload text
    was kept as received (``raw``) is written by copying that text into the line (the fast
    path: the same bytes the encoder would give, without decoding and re-encoding).
    """

    def __init__(self, sink: LineWriter | LiveView, *, explain: bool = False) -> None:
        from json.encoder import encode_basestring

        self.sink = sink
        self.explain = explain
        self._q = encode_basestring
        self._text = sink.text if isinstance(sink, LineWriter) and not explain else None
        self._mids: dict[tuple[str, str, Any], str] = {}

    def flush(self) -> None:
        self.sink.flush()

    def ws_update(
        self,
        received_at: int,
        channel: str,
        origin: str,
        data: Any,
        raw: str | None,
        decision: Any,
        malformed: str | None = None,
    ) -> None:
        """An update line for a WS frame (``decision`` None: nothing applied)."""
        text = self._text
        if text is not None and raw is not None and decision is not None:
            u = decision.update
            kind = u.kind
            mid = self._mids.get((channel, origin, kind))
            if mid is None:  # the same for every line of this channel: encoded once
                q = self._q
                mid = self._mids[(channel, origin, kind)] = (
                    f',"type":"update","channel":{q(channel)},"source":"ws",'
                    f'"origin":{q(origin)},"kind":"{kind.value}","key":'
                )
            text(f'{{"ts":{received_at}{mid}{self._q(u.key)},"data":{raw}}}')
            return
        line: dict[str, Any] = {
            "ts": received_at,
            "type": "update",
            "channel": channel,
            "source": "ws",
            "origin": origin,
        }
        if decision is not None:
            line["kind"] = decision.update.kind.value
            line["key"] = decision.update.key
        line["data"] = data
        if self.explain:
            if decision is not None:
                line["decision"] = decision.to_json()
            elif malformed is not None:
                line["decision"] = {"accepted": False, "reason": "malformed", "detail": malformed}
        self.sink(line)

    def decision(self, decision: Any, channel: str, origin: str) -> None:
        """An update line for one decision (``--merged``, REST rows with ``--explain``)."""
        u = decision.update
        line: dict[str, Any] = {
            "ts": u.received_at,
            "type": "update",
            "channel": channel,
            "source": u.source.value,
            "origin": origin,
            "kind": u.kind.value,
            "key": u.key,
            "data": u.payload if u.payload else None,
        }
        if self.explain:
            line["decision"] = decision.to_json()
        self.sink(line)

    def lifecycle(self, name: str, fields: Mapping[str, Any]) -> None:
        """``connected``, ``subscribed``, ``reconnecting``, ``stale``, ``disconnected``,
        ``resynced``: ``fields`` start with ``at`` (the line's ``ts``)."""
        line: dict[str, Any] = {"ts": fields.get("at"), "type": name}
        line.update((k, v) for k, v in fields.items() if k != "at")
        self.sink(line)

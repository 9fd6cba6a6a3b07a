"""``paradexctl reconcile``: one consistency check of REST against the WebSocket.

Thin: parse flags, run :func:`paradexctl.paradex.collect.collect` (live) or read a recording
(``--replay``), reconcile the records with the pure core (the same path for both), render the report, write the Prometheus file, return the exit status.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.cli.status import WaitOkOpt
from paradexctl.errors import CheckFailed, ExchangeRejected, ParadexctlError, UsageError

if TYPE_CHECKING:
    from paradexctl.core.reconcile import ReconcileOptions, Report

__all__ = ["register", "write_prometheus"]

HELP = """Compare the REST view of the account with the WebSocket's, once, and report every difference.

Subscribes to the WebSocket first, takes a REST snapshot, collects WS updates for --window
seconds, waits out the --grace window, takes a second REST snapshot, and feeds everything in
arrival order through the state manager. Each key is a match, pending (explained by an update
inside the grace window), or a mismatch: stale_rest, ws_gap, missing_in_rest, missing_in_ws,
conflict, invariant_position, invariant_balance (docs/reconcile.md).

Exit 0 when consistent, 1 on a mismatch (the report is printed first), 5 when the exchange
cannot be reached. --record FILE keeps the inputs; --replay FILE reconciles them again offline
and gives the same report, byte for byte.
"""


REPORT_COLUMNS = ["entity", "key", "kind", "failing", "rule", "ws", "rest", "detail"]


def _parse_list(text: str | None, flag: str, allowed: tuple[str, ...]) -> frozenset[str] | None:
    if text is None:
        return None
    items = {t.strip() for t in text.split(",") if t.strip()}
    bad = sorted(items - set(allowed))
    if bad or not items:
        raise UsageError(
            f"{flag} takes a comma-separated subset of {','.join(allowed)}"
            + (f" (unknown: {', '.join(bad)})" if bad else "")
        )
    return frozenset(items)


def _side_text(side: dict[str, Any] | None) -> str:
    if side is None:
        return ""
    value = side.get("value")
    text = "(absent)" if value is None else " ".join(f"{k}={v}" for k, v in value.items())
    ts = side.get("exchange_ts")
    if ts is None:
        ts = side.get("received_at")
    return f"{text} @{ts}" if ts is not None else text


def _table_rows(report: Report) -> list[dict[str, Any]]:
    rows = []
    for r in report.to_json()["rows"]:
        detail = r["detail"]
        extra = r.get("extra")
        if extra:
            detail += " (" + ", ".join(f"{k}={v}" for k, v in extra.items()) + ")"
        ws = r["ws"]
        rest = r["rest"]
        merged = r["merged"]
        if ws is None and rest is None and merged is not None:
            # neither source is known apart from the merged state: name its real source
            detail += f" [merged from {merged['source']}: {_side_text(merged)}]"
        rows.append(
            {
                "entity": r["entity"],
                "key": r["key"],
                "kind": r["kind"],
                "failing": "FAIL" if r["failing"] else "",
                "rule": r["rule"] or "",
                "ws": _side_text(ws),
                "rest": _side_text(rest),
                "detail": detail,
            }
        )
    return rows


def write_prometheus(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same directory, renamed),
    so node_exporter's textfile collector never reads a half-written file."""
    directory = path.parent if str(path.parent) else Path(".")
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise UsageError(f"--prometheus {path}: {err.strerror or err}") from None


def prometheus_file_text(report: Report, now_s: float) -> str:
    from paradexctl.core.reconcile import prometheus_text

    name = "paradexctl_reconcile_last_run_timestamp_seconds"
    return (
        prometheus_text(report)
        + f"# HELP {name} When the last reconcile finished (unix seconds).\n"
        + f"# TYPE {name} gauge\n"
        + f"{name} {int(now_s)}\n"
    )


def prometheus_error_text(exit_code: int, now_s: float) -> str:
    """The Prometheus file of a run that produced no report (the exchange was unreachable...):
    no row counts, the exit status, and the time, so an alert can tell "down" from "stale"."""
    p = "paradexctl_reconcile"
    return (
        f"# HELP {p}_exit_status Exit status of the last reconcile (0 consistent).\n"
        f"# TYPE {p}_exit_status gauge\n"
        f"{p}_exit_status {exit_code}\n"
        f"# HELP {p}_last_run_timestamp_seconds When the last reconcile finished (unix seconds).\n"
        f"# TYPE {p}_last_run_timestamp_seconds gauge\n"
        f"{p}_last_run_timestamp_seconds {int(now_s)}\n"
    )


def _options(
    meta: dict[str, Any],
    *,
    entities: frozenset[str] | None,
    market: str | None,
    grace: float | None,
    strict: bool,
    fail_on: frozenset[str] | None,
    show_matches: bool,
) -> ReconcileOptions:
    from paradexctl.core.reconcile import ENTITIES, ReconcileOptions

    if entities is None:
        recorded = meta.get("entities")
        ok = isinstance(recorded, list) and recorded and set(recorded) <= set(ENTITIES)
        entities = frozenset(recorded) if ok else frozenset(ENTITIES)  # type: ignore[arg-type]
    if market is None and isinstance(meta.get("market"), str):
        market = meta["market"]
    if grace is not None:
        grace_ms = round(grace * 1000)
    elif type(meta.get("grace_ms")) is int and meta["grace_ms"] >= 0:
        grace_ms = meta["grace_ms"]
    else:
        grace_ms = 5000
    try:
        return ReconcileOptions(
            grace_ms=grace_ms,
            entities=entities,
            market=market,
            strict=strict,
            fail_on=fail_on or frozenset({"any"}),
            show_matches=show_matches,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None


def collect_options(
    *,
    entities: frozenset[str],
    market: str | None,
    window: float,
    grace: float,
    since_ms: int | None,
) -> Any:
    """The :class:`~paradexctl.paradex.collect.CollectOptions` of a live reconcile."""
    from paradexctl import __version__
    from paradexctl.cli._session import tunable
    from paradexctl.paradex.collect import CollectOptions

    settings = get_ctx().settings()
    return CollectOptions(
        entities=entities,
        market=market,
        window_s=window,
        grace_s=grace,
        since_ms=since_ms,
        subscribe_timeout=tunable("ws_subscribe_timeout_s", settings),
        meta={"version": __version__, "env": settings.env, "api_url": settings.api_url,
              "ws_url": settings.ws_url},
    )  # fmt: skip


async def collect_live(
    session: Any,
    options: Any,
    *,
    sink: Any = None,
    trace: Any = None,
    on_mark: Any = None,
) -> list[Any]:
    """Collect a recording on ``session``, on the running loop (``reconcile`` and ``smoke``)."""
    from paradexctl.cli._session import live_clients, ws_options
    from paradexctl.paradex.collect import collect

    settings = get_ctx().settings()
    async with live_clients(session, settings) as (rest, jwt):
        return await collect(
            url=settings.ws_url,
            rest=rest,
            jwt=jwt,
            options=options,
            sink=sink,
            ws_options=ws_options(),
            trace=trace,
            on_mark=on_mark,
        )


def _phase_marks(window: float, grace: float) -> Any:
    """``on_mark`` for the live collection: the context's (tests) and, on a terminal, one
    progress line per phase of the window and the grace."""
    ctx = get_ctx()
    sink, test_mark = ctx.progress_sink(), ctx.on_mark
    phases = {
        "window_start": f"reconcile: subscribed, collecting for {window:g} s",
        "window_end": f"reconcile: window over, grace {grace:g} s",
        "grace_end": "reconcile: grace over, taking the final snapshot",
    }
    if sink is None:
        return test_mark

    def on_mark(name: str) -> None:
        if test_mark is not None:
            test_mark(name)
        if name in phases:
            sink(phases[name])

    return on_mark


def run_live(
    *,
    entities: frozenset[str],
    market: str | None,
    window: float,
    grace: float,
    since_ms: int | None,
    record: Path | None,
    trace: Any = None,
    wait_ok: float | None = None,
    out: Any = None,
) -> list[Any]:
    """Collect a recording from the configured exchange (``reconcile``); with ``wait_ok``,
    once the system state is ok (``--wait-ok``)."""
    import asyncio

    from paradexctl.cli._session import open_session
    from paradexctl.paradex.recordfile import RecordingWriter

    opts = collect_options(
        entities=entities, market=market, window=window, grace=grace, since_ms=since_ms
    )
    # the recording holds account data: 0600; a failed write is exit 74
    writer = RecordingWriter.open(record) if record is not None else None
    try:
        with open_session(get_ctx().settings()) as session:
            if wait_ok is not None:
                from paradexctl.cli.status import wait_until_ok

                wait_until_ok(session.client, wait_ok, out)
            records: list[Any] = asyncio.run(
                collect_live(
                    session,
                    opts,
                    sink=writer.write_line if writer is not None else None,
                    trace=trace,
                    on_mark=_phase_marks(window, grace),
                )
            )
        if writer is not None:
            writer.close()  # raises LocalFileError (exit 74) if the last write fails
        return records
    finally:
        if writer is not None:
            writer.abort()  # after an error: what was written in full stays


def reconcile_cmd(
    entities: Annotated[
        str | None,
        typer.Option(
            "--entities",
            metavar="LIST",
            help="Comma-separated: orders,positions,balances,fills [default: all].",
        ),
    ] = None,
    market: Annotated[
        str | None, typer.Option("--market", metavar="M", help="Only this market.")
    ] = None,
    grace: Annotated[
        float | None,
        typer.Option(
            "--grace",
            metavar="S",
            min=0.0,
            help="Grace window in seconds: a difference explained by an update this recent is "
            "pending, not a mismatch [default: 5, or the recording's].",
        ),
    ] = None,
    window: Annotated[
        float,
        typer.Option("--window", metavar="S", min=0.0, help="Seconds of WS updates to collect."),
    ] = 10.0,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="List fills since WHEN (unix ms/s, ISO time, or an age like 30m) [default: 15m].",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Count pending differences as mismatches.")
    ] = False,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="WHAT",
            help="Which mismatches make the exit status 1: any, or a comma-separated subset of "
            "orders,positions,balances [default: any].",
        ),
    ] = None,
    show_matches: Annotated[
        bool, typer.Option("--show-matches", help="Also list the keys that match.")
    ] = False,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record", metavar="FILE", dir_okay=False, help="Save the inputs to FILE (NDJSON)."
        ),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            "--replay",
            metavar="FILE",
            dir_okay=False,
            help="Reconcile a recording offline instead of the exchange (deterministic).",
        ),
    ] = None,
    prometheus: Annotated[
        Path | None,
        typer.Option(
            "--prometheus",
            metavar="FILE",
            dir_okay=False,
            help="Also write the counts in Prometheus text format to FILE (atomically).",
        ),
    ] = None,
    wait_ok: WaitOkOpt = None,
    output: OutputOpt = None,
) -> None:
    from paradexctl.core.reconcile import ENTITIES, FAIL_ON
    from paradexctl.paradex.recordfile import load_recording, recording_meta

    ctx = get_ctx()
    out = ctx.report_output(output, "reconcile")
    ents = _parse_list(entities, "--entities", ENTITIES)
    fail = _parse_list(fail_on, "--fail-on", FAIL_ON)
    if replay is not None and record is not None:
        raise UsageError("--record and --replay cannot be combined")
    if replay is not None and wait_ok is not None:
        raise UsageError("--wait-ok and --replay cannot be combined (a replay reads no exchange)")
    if replay is not None:
        try:
            lines = replay.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise UsageError(f"--replay {replay}: {err.strerror or err}") from None
        meta, records = load_recording(lines)
    else:
        from paradexctl.cli._session import parse_since

        since_ms = parse_since(since, int(time.time() * 1000))
        trace = out.debug if ctx.verbose else None
        out.info(
            f"reconcile: collecting for {window:g} s + {grace if grace is not None else 5:g} s "
            "grace"
        )
        try:
            records = run_live(
                entities=ents if ents is not None else frozenset(ENTITIES),
                market=market,
                window=window,
                grace=grace if grace is not None else 5.0,
                since_ms=since_ms,
                record=record,
                trace=trace,
                wait_ok=wait_ok,
                out=out,
            )
        except ParadexctlError as err:
            if prometheus is not None and not isinstance(err, UsageError):
                write_prometheus(prometheus, prometheus_error_text(err.exit_code, time.time()))
            raise
        meta = recording_meta(records)
    opts = _options(
        meta,
        entities=ents,
        market=market,
        grace=grace,
        strict=strict,
        fail_on=fail,
        show_matches=show_matches,
    )
    from paradexctl.core.models import ModelError
    from paradexctl.core.reconcile import reconcile

    try:
        report = reconcile(records, opts)
    except ModelError as err:  # a payload the state manager cannot read
        if replay is not None:
            raise UsageError(f"--replay {replay}: {err}") from None
        raise ExchangeRejected(
            f"the exchange sent data that cannot be reconciled: {err}", code="BAD_RESPONSE"
        ) from None
    if out.fmt == "table":
        rows = _table_rows(report)
        if rows:
            out.emit(rows, columns=REPORT_COLUMNS)
        out.write(report.verdict_line() + "\n")
    else:
        out.write(report.to_canonical_json() + "\n")
    if prometheus is not None:
        write_prometheus(prometheus, prometheus_file_text(report, time.time()))
    if report.exit_status != 0:
        raise CheckFailed(
            f"reconcile: {report.verdict_line()}",
            details={"counts": {e: dict(c) for e, c in report.counts.items()}},
        )


def register(app: typer.Typer) -> None:
    app.command("reconcile", help=HELP)(reconcile_cmd)

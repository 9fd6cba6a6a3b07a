"""``paradexctl smoke``: a self-checking end-to-end test for CI (``docs/smoke.md``).

Thin: build a :class:`~paradexctl.paradex.smoke.SmokeRun`, run it, render the step table (or
JSON), write the JUnit file, map the outcome to the exit code.
"""

from __future__ import annotations

import functools
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx
from paradexctl.cli.status import WaitOkOpt
from paradexctl.errors import CheckFailed, Interrupted, UsageError

__all__ = ["junit_xml", "register"]

HELP = """Run a self-checking round trip against the exchange and report each step.

Steps: auth; markets; WebSocket subscription; place a minimum-size post-only BUY far below the
mark; see it OPEN on the WebSocket; verify it over REST through the state manager; modify its
price; cancel it; see it CLOSED on the WebSocket and over REST; reconcile the market.

The exchange's system state is read first: in a release window (maintenance, cancel_only,
post_only) nothing is placed and the exit is 7; an exchange that cannot be reached is 5.
--wait-ok S waits up to S seconds for the state to become ok.

Exit 0 only when every step passed; 1 otherwise (the table shows the failed step and why);
130 when interrupted. The order it placed is always cancelled, also on failure and on SIGINT.
--junit FILE writes a JUnit XML report for CI.
"""

STEP_COLUMNS = ["step", "status", "duration_ms", "detail"]


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def smoke(
    market: Annotated[
        str, typer.Option("--market", metavar="M", help="Market to trade in.")
    ] = "BTC-USD-PERP",
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="FILE", dir_okay=False, help="Write JUnit XML to FILE."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="S", min=0.1, help="Seconds each waiting step may take."),
    ] = 15.0,
    grace: Annotated[
        float,
        typer.Option("--grace", metavar="S", min=0.0, help="Grace window of the reconcile step."),
    ] = 2.0,
    window: Annotated[
        float,
        typer.Option("--window", metavar="S", min=0.0, help="Window of the reconcile step."),
    ] = 1.0,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation on prod.")
    ] = False,
    wait_ok: WaitOkOpt = None,
    output: OutputOpt = None,
) -> None:
    from paradexctl.cli._session import live_feed, open_session
    from paradexctl.cli.reconcile import collect_live, collect_options
    from paradexctl.cli.status import wait_until_ok
    from paradexctl.core.reconcile import ENTITIES, ReconcileOptions
    from paradexctl.core.reconcile import reconcile as reconcile_records
    from paradexctl.errors import ExchangeRestricted, ExchangeUnavailable
    from paradexctl.paradex.smoke import SmokeOptions, SmokeRun, Step
    from paradexctl.paradex.system import read_state, restricted

    ctx = get_ctx()
    out = ctx.report_output(output, "smoke")
    settings = ctx.settings()
    if junit is not None and not junit.parent.is_dir():
        raise UsageError(f"--junit {junit}: no such directory {junit.parent}")
    ctx.confirm(f"run the smoke test (places and cancels a {market} order)", yes=yes)
    trace = out.debug if ctx.verbose else None

    async def reconcile(m: str, window_s: float, grace_s: float) -> Any:
        options = collect_options(entities=frozenset(ENTITIES), market=m, window=window_s,
                                  grace=grace_s, since_ms=None)  # fmt: skip
        records = await collect_live(session, options, trace=trace)
        opts = ReconcileOptions(grace_ms=round(grace_s * 1000), market=m)
        return reconcile_records(records, opts)

    opts = SmokeOptions(market=market, timeout=timeout, reconcile_window=window,
                        reconcile_grace=grace)  # fmt: skip
    started = time.time()
    previous = signal.signal(signal.SIGTERM, _sigterm)  # CI cancels jobs with SIGTERM
    try:
        with open_session(settings) as session:
            session.private_key()  # no credentials: exit 3 before anything is sent
            # the system state first: a release window is exit 7 (not a failed check), an
            # exchange that cannot be reached exit 5; nothing is placed in either case, and
            # the JUnit file says so (a skipped or a failed system_state case)
            try:
                wait_until_ok(session.client, wait_ok, out)
                state = read_state(session.client)
                if state != "ok":
                    raise restricted(state, "the smoke test did not run (nothing was placed)")
            except (ExchangeRestricted, ExchangeUnavailable) as err:
                if junit is not None:
                    verdict = "skipped" if isinstance(err, ExchangeRestricted) else "failed"
                    took = round((time.time() - started) * 1000)
                    step = Step("system_state", SYSTEM_STATE_CHECK, verdict, took, err.message)
                    _write_junit(junit, [step], started, out)
                raise
            run = SmokeRun(
                session,
                feed=functools.partial(live_feed, session, settings),
                options=opts,
                reconcile=reconcile,
                trace=trace,
                progress=ctx.progress_sink(),
            )
            steps = run.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    elapsed = time.time() - started
    failed = next((s for s in steps if s.status == "failed"), None)
    if run.ok:
        verdict = f"SMOKE PASSED: {len(steps)} steps in {elapsed:.1f} s on {settings.env}"
    elif run.interrupted:
        verdict = "SMOKE INTERRUPTED" + (f" at {failed.name}" if failed else "")
    else:
        assert failed is not None
        verdict = f"SMOKE FAILED at {failed.name}: {failed.detail}"
    if junit is not None:
        _write_junit(junit, steps, started, out)
    if out.fmt == "table":
        out.emit([s.to_dict() for s in steps], columns=STEP_COLUMNS)
        out.write(verdict + "\n")
    else:
        out.emit(
            {
                "ok": run.ok,
                "interrupted": run.interrupted,
                "env": settings.env,
                "market": market,
                "order_id": run.order_id,
                "client_id": run.client_id,
                "duration_ms": round(elapsed * 1000),
                "verdict": verdict,
                "steps": [s.to_dict() for s in steps],
            }
        )
    cleanup = steps[-1]
    if cleanup.status == "failed":
        out.warn(f"cleanup failed: {cleanup.detail}; check with 'paradexctl orders list --open'")
    if run.interrupted:
        raise Interrupted("smoke interrupted; " + (cleanup.detail or "nothing to clean up"))
    if not run.ok:
        raise CheckFailed(verdict)


#: the check of the ``system_state`` case a run that did not start writes to its JUnit file
SYSTEM_STATE_CHECK = "the exchange's system state is ok (GET /system/state)"


def _write_junit(path: Path, steps: list[Any], started: float, out: Any) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started))
    try:
        path.write_text(junit_xml(steps, timestamp=stamp), encoding="utf-8")
    except OSError as err:
        out.warn(f"--junit {path}: {err.strerror or err}")


def junit_xml(steps: list[Any], *, name: str = "paradexctl smoke", timestamp: str = "") -> str:
    """A JUnit XML report: one ``testcase`` per step (failure or skipped when not passed)."""
    import xml.etree.ElementTree as ET

    failures = sum(1 for s in steps if s.status == "failed")
    skipped = sum(1 for s in steps if s.status == "skipped")
    total_s = sum(s.duration_ms for s in steps) / 1000
    suite = ET.Element(
        "testsuite",
        {
            "name": name,
            "tests": str(len(steps)),
            "failures": str(failures),
            "errors": "0",
            "skipped": str(skipped),
            "time": f"{total_s:.3f}",
        },
    )
    if timestamp:
        suite.set("timestamp", timestamp)
    for s in steps:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": "paradexctl.smoke",
                "name": s.name,
                "time": f"{s.duration_ms / 1000:.3f}",
            },
        )
        if s.status == "failed":
            fail = ET.SubElement(case, "failure", {"message": s.detail or "failed"})
            fail.text = f"{s.title}: {s.detail}"
        elif s.status == "skipped":
            ET.SubElement(
                case, "skipped", {"message": s.detail or "not run: an earlier step failed"}
            )
        else:
            out = ET.SubElement(case, "system-out")
            out.text = s.detail
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def register(app: typer.Typer) -> None:
    app.command("smoke", help=HELP)(smoke)

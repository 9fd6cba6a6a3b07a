"""``paradexctl doctor``: check a setup, one row per check (``docs/cron-and-ci.md``)."""

# No ``from __future__ import annotations``: typer would have to evaluate every string
# annotation of the commands below at start-up.

import time
from typing import Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx

HELP = """Check the setup: config and key permissions, credential, REST, system state, clock, auth.

One row per check (ok, warn, fail or skip, with the time it took): the config file's
permissions, the key or token source and its file's permissions, the environment and its
URLs, REST reachability with its latency, the system state, the local clock against the
exchange's, authentication (a private read), the JWT cache file, and a WebSocket connection
(authenticated and subscribed when there is a credential). Never shows a key or token.

Exit 0 when nothing failed (warnings included), 1 when a check failed.
"""

COLUMNS = ["check", "status", "ms", "detail"]


def register(app: typer.Typer) -> None:
    app.command("doctor", help=HELP)(doctor)


def doctor(output: OutputOpt = None) -> None:
    import asyncio

    from paradexctl.cli._session import open_session, tunable
    from paradexctl.config import config_path
    from paradexctl.errors import CheckFailed
    from paradexctl.paradex import doctor as doc

    ctx = get_ctx()
    out = ctx.report_output(output, "doctor")
    s = ctx.settings()
    timeout = tunable("ws_open_timeout_s", s)

    def ws_probe(channels: list[str], jwt: Any) -> doc.Check:
        return asyncio.run(doc.probe_ws(s.ws_url, channels, jwt=jwt, timeout=timeout))

    with open_session(s) as sess:
        checks = doc.run(
            s, sess, config_file=config_path(), wall_ms=lambda: int(time.time() * 1000),
            ws_probe=ws_probe,
        )  # fmt: skip
    rows = [c.to_dict() for c in checks]
    failed = [c for c in checks if c.status == "fail"]
    warned = [c for c in checks if c.status == "warn"]
    verdict = (
        f"DOCTOR: {len(failed)} failed ({', '.join(c.name for c in failed)})"
        if failed
        else f"DOCTOR: all {len(checks)} checks passed"
        + (f" ({len(warned)} warning(s): {', '.join(c.name for c in warned)})" if warned else "")
    )
    if out.fmt == "table":
        out.emit(rows, columns=COLUMNS)
        out.write(verdict + "\n")
    else:
        out.emit({"ok": not failed, "verdict": verdict, "checks": rows})
    if failed:
        raise CheckFailed(verdict, details={"failed": [c.name for c in failed]})

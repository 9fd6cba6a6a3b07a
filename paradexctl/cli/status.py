"""``paradexctl status``: is the exchange trading, is our clock right, do we authenticate.

Thin: the reads and the rules are :mod:`paradexctl.paradex.system`'s.
"""

# No ``from __future__ import annotations``: typer would have to evaluate every string
# annotation of the commands below at start-up.

import time
from typing import Annotated, Any

import typer

from paradexctl.cli.context import OutputOpt, get_ctx

HELP = """Exchange status (system state, clock skew) and whether the account authenticates.

Shows the system state, the server's time and the local clock's skew, the environment and
its URLs, and, when credentials are configured, whether the account authenticates, the
JWT's expiry and the key source in use (never the key).

Exit 0 when the system state is ok; 7 when the exchange answers but is in
maintenance, cancel_only or post_only; 5 when it cannot be reached; when credentials are
configured but do not authenticate, the error's own code (3 configuration, 4 refused, 5
unavailable) after the report. --wait-ok S waits up to S seconds for the state to become
ok first (the report is printed either way).
"""

WaitOkOpt = Annotated[
    float | None,
    typer.Option(
        "--wait-ok",
        metavar="SECONDS",
        min=0.0,
        help="Wait up to SECONDS for the system state to be ok before starting.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("status", help=HELP)(status)


def wait_until_ok(client: Any, seconds: float | None, out: Any) -> None:
    """``--wait-ok``: read the system state until ok (progress lines on stderr), or exit 7
    at the deadline (5 if the exchange could not be reached by then). No-op when ``seconds``
    is None."""
    if seconds is None:
        return
    import random

    from paradexctl.paradex.system import read_state, wait_ok

    def progress(state: str, left: float) -> None:
        out.info(f"system state {state}: waiting for ok ({left:.0f} s left of --wait-ok)")

    wait_ok(
        lambda: read_state(client),
        timeout_s=seconds,
        clock=time.monotonic,
        sleep=time.sleep,
        on_wait=progress,
        rng=random.random,
    )


def status(wait_ok: WaitOkOpt = None, output: OutputOpt = None) -> None:
    from paradexctl.cli._session import open_session
    from paradexctl.errors import ExchangeRestricted, ParadexctlError
    from paradexctl.paradex.auth import jwt_expiry
    from paradexctl.paradex.system import SKEW_FAIL_MS, read_clock, read_state, restricted

    ctx = get_ctx()
    out = ctx.report_output(output, "status")
    s = ctx.settings()
    source = s.credential_source
    report: dict[str, Any] = {"env": s.env, "api_url": s.api_url, "ws_url": s.ws_url}
    waited_out: ExchangeRestricted | None = None
    auth_failure: ParadexctlError | None = None
    with open_session(s) as sess:
        try:
            wait_until_ok(sess.client, wait_ok, out)
        except ExchangeRestricted as err:
            waited_out = err  # the report is still printed, then exit 7
        state = read_state(sess.client)
        clock = read_clock(sess.client, lambda: int(time.time() * 1000))
        report.update(
            system_state=state,
            server_time=clock.server_ms,
            local_time=clock.local_ms,
            clock_skew_ms=clock.skew_ms,
            round_trip_ms=clock.round_trip_ms,
            key_source=source.describe() if source is not None else None,
            credential=s.credential,
            account=s.account_address,
            authenticated=None,
            jwt_expires_at=None,
            jwt_from=None,
            auth_error=None,
        )
        if s.credential is not None:
            try:
                token = sess.prove_authenticated()
                auth = sess.authenticator
                assert auth is not None
                exp = jwt_expiry(token)
                report.update(
                    account=sess.account_address(),
                    authenticated=True,
                    jwt_expires_at=None if exp is None else exp * 1000,
                    jwt_from="token" if auth.read_only else ("login" if auth.logins else "cache"),
                )
            except ParadexctlError as err:
                auth_failure = err
                report.update(authenticated=False, auth_error=err.message)
    out.emit(report)
    if abs(clock.skew_ms) > SKEW_FAIL_MS:
        out.warn(
            f"the local clock is {clock.skew_text()}: signed timestamps may be refused; "
            "synchronise it (NTP)"
        )
    if waited_out is not None and state != "ok":
        raise waited_out
    if state != "ok":
        raise restricted(state, "orders and checks would not run normally")
    if auth_failure is not None:
        raise auth_failure

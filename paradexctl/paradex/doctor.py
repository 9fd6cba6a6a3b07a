"""``paradexctl doctor``: every check a setup needs, one row each.

Each check is a function returning a :class:`Check` (``ok``, ``warn``, ``fail`` or ``skip``,
a detail that never holds a secret, and how long it took). :func:`run` calls them in order;
a check whose precondition failed (no REST, so no authentication) is ``skip`` with the
reason. The clocks are passed in. Only :func:`probe_ws` does I/O of its own (over
:class:`~paradexctl.paradex.ws.WsClient`); the REST checks go through the session's client.
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paradexctl.errors import ParadexctlError

if TYPE_CHECKING:
    from paradexctl.config import Settings
    from paradexctl.paradex.auth import Session

__all__ = ["Check", "check_file_mode", "probe_ws", "run"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "ms": self.ms, "detail": self.detail}


def check_file_mode(
    name: str, path: Path, what: str, *, required: bool, lax: str = "fail"
) -> Check:
    """A private file (config, key, token, JWT cache): present, a regular file, mode 0600 (no
    group or other bits; else ``lax``, a failure unless said otherwise). Missing is ``skip``
    unless ``required``. The path is shown redacted (a key file may be named after its key)."""
    import shlex

    from paradexctl.config import redact

    shown = redact(str(path))  # a key file may be named after its key
    try:
        st = path.stat()
    except FileNotFoundError:
        return Check(name, "fail" if required else "skip", f"no {what} at {shown}")
    except OSError as err:
        return Check(name, "fail", f"cannot read {what} {shown}: {err.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return Check(name, "fail", f"{what} {shown} is not a regular file")
    if st.st_mode & 0o077:
        return Check(
            name, lax,
            f"{what} {shown} is mode {stat.filemode(st.st_mode)}: run chmod 600 "
            f"{shlex.quote(shown)}",
        )  # fmt: skip
    return Check(name, "ok", f"{what} {shown} (mode 0600)")


async def probe_ws(
    url: str,
    channels: list[str],
    *,
    jwt: Callable[[bool], Awaitable[str]] | None,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    ws_factory: Callable[..., Any] | None = None,
) -> Check:
    """Connect the WebSocket once (no reconnect), authenticate with ``jwt`` if given and
    subscribe ``channels``; ``ok`` with the time to the last of these."""
    from paradexctl.paradex import ws as wsmod

    queue: asyncio.Queue[Any] = asyncio.Queue()
    factory = ws_factory or wsmod.WsClient
    client = factory(url, channels, jwt=jwt, queue=queue, max_reconnects=0,
                     open_timeout=timeout, stale_after=None)  # fmt: skip
    started = clock()
    task = asyncio.get_running_loop().create_task(client.run())
    what = "connected and authenticated" if jwt is not None else "connected"
    try:
        async with asyncio.timeout(timeout * 2 + 1):
            while True:
                ev = await queue.get()
                took = round((clock() - started) * 1000)
                if isinstance(ev, wsmod.Connected) and not channels:
                    return Check("websocket", "ok", f"{url}: {what}", took)
                if isinstance(ev, wsmod.Subscribed):
                    subs = ", ".join(ev.channels)
                    return Check("websocket", "ok", f"{url}: {what}, subscribed {subs}", took)
                if isinstance(ev, wsmod.Closed) and ev.error is not None:
                    reason = wsmod.to_cli_error(ev.error).message
                    return Check("websocket", "fail", f"{url}: {reason}", took)
                if isinstance(ev, wsmod.Disconnected):
                    return Check("websocket", "fail", f"{url}: {ev.reason}", took)
    except TimeoutError:
        return Check("websocket", "fail", f"{url}: no answer within {timeout * 2 + 1:g} s")
    finally:
        client.stop()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _holds_key() -> bool:
    """True when config.toml has a plaintext ``private_key`` in any profile."""
    from paradexctl.config import load_config

    try:
        profiles = load_config().get("profiles") or {}
    except ParadexctlError:  # unreadable: the credential check says why
        return False
    return any(isinstance(p, dict) and p.get("private_key") for p in profiles.values())


def run(
    settings: Settings,
    session: Session,
    *,
    config_file: Path,
    wall_ms: Callable[[], int],
    clock: Callable[[], float] = time.monotonic,
    ws_probe: Callable[[list[str], Callable[[bool], Awaitable[str]] | None], Check],
) -> list[Check]:
    """Every check, in order (see ``docs/cron-and-ci.md``, doctor)."""
    from paradexctl.paradex.auth import TokenAuth, jwt_expiry
    from paradexctl.paradex.system import SKEW_FAIL_MS, SKEW_WARN_MS, read_clock, read_state

    checks: list[Check] = []
    add = checks.append
    # a config readable by others is refused only when it holds a key (config.py): a warning
    holds_key = _holds_key()
    cfg = check_file_mode("config", config_file, "config file", required=False,
                          lax="fail" if holds_key else "warn")  # fmt: skip
    add(cfg if cfg.status != "skip" else Check("config", "ok", f"no config file ({config_file}): environment and defaults"))  # fmt: skip
    add(Check("environment", "ok", f"{settings.env}: {settings.api_url} and {settings.ws_url}"))
    credential = settings.credential
    source = settings.credential_source
    if source is None:
        add(Check("credential", "skip", "no key or token configured: public checks only"))
    else:
        if source.kind == "file":
            mode = check_file_mode("credential", Path(source.ref).expanduser(),
                                   f"{source.secret} file", required=True)  # fmt: skip
            if mode.status != "ok":
                add(mode)
                source = None
        if source is not None:
            t0 = clock()
            try:
                if credential == "read-only token":
                    assert isinstance(session.authenticator, TokenAuth)
                    session.authenticator.token()
                else:
                    session.private_key()
                add(Check("credential", "ok", f"{credential} from {source.describe()}",
                          round((clock() - t0) * 1000)))  # fmt: skip
            except ParadexctlError as err:
                add(Check("credential", "fail", err.message))
                source = None
    # REST: reachability, system state, clock
    t0 = clock()
    try:
        state = read_state(session.client)
        add(Check("rest", "ok", f"{settings.api_url} answers", round((clock() - t0) * 1000)))
    except ParadexctlError as err:
        add(Check("rest", "fail", err.message, round((clock() - t0) * 1000)))
        for name in ("system_state", "clock", "auth", "jwt_cache", "websocket"):
            add(Check(name, "skip", "the REST API cannot be reached"))
        return checks
    add(Check("system_state", "ok" if state == "ok" else "warn", f"system state {state}"))
    try:
        reading = read_clock(session.client, wall_ms)
        skew = abs(reading.skew_ms)
        level = "ok" if skew < SKEW_WARN_MS else "warn" if skew < SKEW_FAIL_MS else "fail"
        add(Check("clock", level,
                  f"local clock {reading.skew_text()} "
                  f"(round trip {reading.round_trip_ms} ms)"))  # fmt: skip
    except ParadexctlError as err:
        add(Check("clock", "fail", err.message))
    # authentication
    jwt: Callable[[bool], Awaitable[str]] | None = None
    auth = session.authenticator
    if source is None or auth is None:
        add(Check("auth", "skip", "no usable credential"))
        add(Check("jwt_cache", "skip", "no usable credential"))
    else:
        t0 = clock()
        try:
            token = session.prove_authenticated()
            exp = jwt_expiry(token)
            left = "" if exp is None else f", expires in {max(0, exp - wall_ms() // 1000)} s"
            add(Check("auth", "ok", f"account {session.account_address()} authenticated{left}",
                      round((clock() - t0) * 1000)))  # fmt: skip

            async def jwt_fn(refresh: bool) -> str:
                return token

            jwt = jwt_fn
        except ParadexctlError as err:
            add(Check("auth", "fail", err.message, round((clock() - t0) * 1000)))
        if isinstance(auth, TokenAuth):
            add(Check("jwt_cache", "skip", "a token is not cached"))
        else:
            try:
                add(check_file_mode("jwt_cache", auth.cache.path, "JWT cache", required=False))
            except ParadexctlError as err:
                add(Check("jwt_cache", "skip", err.message))
    add(ws_probe(["account"] if jwt is not None else [], jwt))
    return checks

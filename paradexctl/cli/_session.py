"""Building a :class:`~paradexctl.paradex.auth.Session` from the CLI context (not a command module).

The transport of every client the CLI creates is the context's (``main(transport=...)``:
an ``httpx.MockTransport`` in tests, the network otherwise). Network tunables (timeouts,
retries, backoffs) are profile keys of ``config.toml`` (:data:`TUNABLES`,
``docs/configuration.md``), never environment knobs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from paradexctl.cli.context import get_ctx
from paradexctl.errors import UsageError

if TYPE_CHECKING:
    from paradexctl.config import Settings
    from paradexctl.paradex.auth import Session
    from paradexctl.paradex.orders import LookupPolicy
    from paradexctl.paradex.rest import AsyncRestClient


#: Network tunables, profile keys of ``config.toml`` (``docs/configuration.md``): name ->
#: (default, what it sets). For slow links, unusual networks, demos and tests.
TUNABLES: dict[str, tuple[float, str]] = {
    "timeout_s": (10.0, "REST request timeout (s)"),
    "retry_attempts": (4, "tries of an idempotent REST request (the first included)"),
    "retry_base_ms": (250, "base of the REST retry backoff and of lookups by client_id (ms)"),
    "lookup_rounds": (5, "rounds of the lookup by client_id after an unknown outcome"),
    "ws_backoff_base_ms": (500, "base of the WebSocket reconnect backoff (ms)"),
    "ws_backoff_cap_ms": (30_000, "cap of the WebSocket reconnect backoff (ms)"),
    "ws_stable_after_s": (10.0, "a WebSocket connection open this long is stable (s)"),
    "ws_open_timeout_s": (10.0, "WebSocket upgrade and auth/subscribe reply timeout (s)"),
    "ws_subscribe_timeout_s": (15.0, "reconcile (and smoke's reconcile): first subscription (s)"),
    "wait_ws": (1, "0: order place --wait follows the order over REST only"),
}


def tunable(name: str, settings: Settings | None = None) -> float:
    """The profile's value of the tunable ``name`` (:data:`TUNABLES`), or its default."""
    from paradexctl.config import load_config

    default, _ = TUNABLES[name]
    s = settings or get_ctx().settings()
    profile = (load_config().get("profiles") or {}).get(s.profile) or {}
    raw = profile.get(name)
    if raw is None or raw == "":
        return float(default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise UsageError(f"profile {s.profile!r}: {name} = {raw!r} is not a number") from None
    if value < 0 or value != value:
        raise UsageError(f"profile {s.profile!r}: {name} must not be negative")
    return value


def ws_options(**extra: Any) -> dict[str, Any]:
    """WebSocket client options shared by every live command, from the profile's tunables
    (``ws_backoff_base_ms``, ``ws_backoff_cap_ms``, ``ws_stable_after_s``,
    ``ws_open_timeout_s``). ``extra`` entries are added as given."""
    from paradexctl.paradex.ws import backoff

    base = tunable("ws_backoff_base_ms") / 1000
    cap = tunable("ws_backoff_cap_ms") / 1000

    def delays() -> Any:
        return backoff(base=base, cap=max(cap, base))

    return {
        "stable_after": tunable("ws_stable_after_s"),
        "open_timeout": tunable("ws_open_timeout_s"),
        "reconnect_delays": delays,
        **extra,
    }


def _trace(line: str) -> None:
    get_ctx().trace(line)


def open_session(settings: Settings | None = None) -> Session:
    """A Session for the resolved settings; the key is loaded only if a request needs it."""
    from paradexctl.paradex.auth import Session
    from paradexctl.paradex.rest import RetryPolicy

    ctx = get_ctx()
    s = settings or ctx.settings()
    note = s.credential_note
    if note is not None:
        from paradexctl.output import stderr_message

        stderr_message(sys.stderr, "warning", note, as_json=ctx.error_format in ("json", "ndjson"))
    retry = RetryPolicy(
        attempts=max(1, int(tunable("retry_attempts", s))),
        base=tunable("retry_base_ms", s) / 1000,
    )
    from paradexctl.config import load_token_text

    return Session.open(
        s,
        lambda: ctx.private_key(s),
        transport=ctx.transport,
        trace=_trace if ctx.verbose else None,
        retry=retry,
        timeout=tunable("timeout_s", s),
        token_loader=lambda: load_token_text(s),
        progress=ctx.progress_sink(),
    )


def lookup_policy() -> LookupPolicy:
    from paradexctl.paradex.orders import LookupPolicy

    rounds = max(1, int(tunable("lookup_rounds")))
    return LookupPolicy(rounds=rounds, base=tunable("retry_base_ms") / 1000)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | None, now_ms: int) -> int | None:
    """``--since``: unix ms (13+ digits), unix seconds, an ISO-8601 time (UTC if naive), or
    a relative age such as ``30m``, ``2h``, ``7d``. Returns unix ms."""
    if text is None or text == "":
        return None
    t = text.strip()
    if t[-1:].lower() in _UNITS and t[:-1].replace(".", "", 1).isdigit():
        return now_ms - int(float(t[:-1]) * _UNITS[t[-1].lower()] * 1000)
    if t.isdigit():
        n = int(t)
        return n if n >= 10**12 else n * 1000
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: use unix ms or seconds, an ISO time (2026-01-31T12:00:00Z) "
            "or an age like 30m, 2h, 7d"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@contextlib.asynccontextmanager
async def live_clients(
    session: Session, settings: Settings
) -> AsyncIterator[tuple[AsyncRestClient, Callable[[bool], Awaitable[str]]]]:
    """``(rest, jwt)`` for a live feed on ``session``: an
    :class:`~paradexctl.paradex.rest.AsyncRestClient` with the session's retry policy,
    timeout and transport, and the WebSocket's ``async jwt(refresh)``. Both authenticate
    through the session's authenticator (its login, a blocking REST call made once per JWT
    lifetime, runs in a worker thread). The async client is closed on exit."""
    import asyncio

    from paradexctl.paradex.rest import AsyncRestClient

    lock = asyncio.Lock()
    auth = session.authenticator
    if auth is None:  # pragma: no cover - every CLI session has one
        raise UsageError("a live command needs an authenticated session")

    async def authorize(refresh: bool) -> str:
        def fetch() -> str:
            if refresh:
                auth.invalidate()
            return str(auth.authorization(session.client))

        async with lock:
            return await asyncio.to_thread(fetch)

    async def jwt(refresh: bool) -> str:
        return (await authorize(refresh)).split(" ", 1)[1]

    sync = session.client
    rest = AsyncRestClient(
        settings.api_url,
        authorize=authorize,
        transport=get_ctx().transport,
        timeout=sync._timeout,
        retry=sync.retry,
        trace=sync.trace,
        progress=sync.progress,
    )
    try:
        yield rest, jwt
    finally:
        await rest.aclose()


@contextlib.asynccontextmanager
async def live_feed(session: Session, settings: Settings, **options: Any) -> AsyncIterator[Any]:
    """A :class:`~paradexctl.paradex.feed.LiveFeed` on ``session`` (see :func:`live_clients`)."""
    from paradexctl.paradex.feed import LiveFeed

    async with live_clients(session, settings) as (rest, jwt):
        url = options.pop("url", settings.ws_url)
        yield LiveFeed(url, rest=rest, jwt=jwt, **options)

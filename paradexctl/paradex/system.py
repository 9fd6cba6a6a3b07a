"""The exchange's system state and clock (``GET /system/state``, ``GET /system/time``), what
the state allows, and waiting out a release window.

Paradex passes a daily release window (weekdays around 04:30 UTC, about 15 minutes) through
``cancel_only`` and ``post_only`` back to ``ok``; ``maintenance`` is a full stop
(``paradex-api.md`` §1.1, §1.4). :func:`order_gate` is the one rule for order entry:

1. ``ok``: every order may be sent.
2. ``cancel_only`` and ``maintenance``: no order is signed or sent
   (:class:`~paradexctl.errors.ExchangeRestricted`, exit 7).
3. ``post_only``: a ``POST_ONLY`` order is sent; any other is sent with a warning (the
   exchange is expected to refuse it with ``SYSTEM_STATUS_POST_ONLY``, which is its answer
   to give, as in any other state change between our read and its check).
4. A state this module does not know: sent with a warning (never refused on a guess).

Clocks and sleeps are passed in; nothing here reads the time or sleeps on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paradexctl.core.backoff import Backoff
from paradexctl.errors import ExchangeRestricted, ExchangeUnavailable, UnexpectedAnswer
from paradexctl.paradex.rest import describe_json, expect_object

if TYPE_CHECKING:
    from paradexctl.paradex.rest import RestClient, RetryPolicy

__all__ = [
    "KNOWN_STATES",
    "POLL_BACKOFF",
    "SKEW_FAIL_MS",
    "SKEW_WARN_MS",
    "ClockReading",
    "order_gate",
    "read_clock",
    "read_state",
    "restricted",
    "wait_ok",
]

#: ``GET /system/state``'s documented values
KNOWN_STATES = ("ok", "maintenance", "cancel_only", "post_only")

#: clock skew against the exchange: over this ``doctor`` warns; over the next it fails and
#: ``status`` warns (timestamps in signatures drift)
SKEW_WARN_MS = 1_000
SKEW_FAIL_MS = 5_000

#: the delays between reads of the state while waiting for ``ok`` (1 s doubling to 15 s)
POLL_BACKOFF = Backoff(base=1.0, cap=15.0)

_MEANING = {
    "maintenance": "the exchange is in maintenance",
    "cancel_only": "the exchange accepts cancels only",
    "post_only": "the exchange accepts POST_ONLY orders only",
}


def read_state(client: RestClient, retry: RetryPolicy | None = None) -> str:
    """``GET /system/state``'s ``status``, lower-cased (``retry``: instead of the client's
    policy, e.g. one try for an advisory read).

    Raises:
        UnexpectedAnswer: the answer has no ``status`` string (exit 5).
    """
    body = expect_object(client.request("GET", "/system/state", retry=retry), "GET /system/state")
    status = body.get("status")
    if not isinstance(status, str) or not status.strip():
        raise UnexpectedAnswer(
            "GET /system/state", "an object with a 'status' string", describe_json(status)
        )
    return status.strip().lower()


def restricted(state: str, doing: str) -> ExchangeRestricted:
    """The error for ``doing`` (e.g. ``"not sending the order"``) in a state that is not ok."""
    meaning = _MEANING.get(state, "the exchange is not in normal trading")
    return ExchangeRestricted(f"{meaning} (system state {state}): {doing}", state=state)


def order_gate(state: str, instructions: Sequence[str]) -> str | None:
    """Apply the order-entry rule (module docstring) to orders with ``instructions``.

    Returns a warning to print before sending (None: nothing to say).

    Raises:
        ExchangeRestricted: rule 2; nothing may be signed or sent.
    """
    if state == "ok":
        return None
    if state in ("cancel_only", "maintenance"):
        raise restricted(state, "the order was not signed or sent")
    if state == "post_only":
        others = sum(1 for i in instructions if i != "POST_ONLY")
        if others == 0:
            return None
        what = (
            "this order is"
            if len(instructions) == 1
            else f"{others} of these {len(instructions)} orders are"
        )
        return (
            f"{_MEANING[state]} (system state post_only): {what} not POST_ONLY and will "
            "likely be rejected (SYSTEM_STATUS_POST_ONLY)"
        )
    return f"the exchange's system state is {state!r}, not ok: sending anyway"


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One ``GET /system/time``: the server's time against the local clock's midpoint."""

    server_ms: int
    local_ms: int  # the local clock at the midpoint of the request
    round_trip_ms: int

    @property
    def skew_ms(self) -> int:
        """How far the local clock is behind the server's (negative: ahead)."""
        return self.server_ms - self.local_ms

    def skew_text(self) -> str:
        """How far the local clock is off: ``60012 ms behind the exchange's`` (or ``ahead
        of``)."""
        way = "behind" if self.skew_ms > 0 else "ahead of"
        return f"{abs(self.skew_ms)} ms {way} the exchange's"


def read_clock(client: RestClient, clock_ms: Callable[[], int]) -> ClockReading:
    """``GET /system/time`` (``server_time``: ms, a string), timed with ``clock_ms``.

    Raises:
        UnexpectedAnswer: no ``server_time`` that is a whole number of ms (exit 5).
    """
    t0 = clock_ms()
    body = expect_object(client.get("/system/time"), "GET /system/time")
    t1 = clock_ms()
    raw = body.get("server_time")
    text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not text.isdigit():
        raise UnexpectedAnswer(
            "GET /system/time", "an object with 'server_time' in ms", describe_json(raw)
        )
    return ClockReading(int(text), (t0 + t1) // 2, t1 - t0)


def wait_ok(
    read: Callable[[], str],
    *,
    timeout_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_wait: Callable[[str, float], None] | None = None,
    rng: Callable[[], float] | None = None,
) -> str:
    """Read the state until it is ``ok``, for at most ``timeout_s`` seconds of ``clock``.

    ``on_wait(state, seconds_left)`` is called before each sleep (a progress line); the
    state is ``unreachable`` after a read that failed: an exchange in a release window may
    answer 5xx or not at all for a moment, so that is waited out like a state until the
    deadline. Delays come from :data:`POLL_BACKOFF` (jittered by ``rng``: many jobs waiting
    on one window do not poll together), never past the deadline. Returns ``"ok"``.

    Raises:
        ExchangeRestricted: still not ok at the deadline (exit 7).
        ExchangeUnavailable: the last read before the deadline failed (exit 5).
        ParadexctlError: a read was refused (4xx) or had an unexpected shape.
    """
    deadline = clock() + max(0.0, timeout_s)
    delays = POLL_BACKOFF.delays(rng)
    while True:
        failure: ExchangeUnavailable | None = None
        try:
            state = read()
        except UnexpectedAnswer:
            raise
        except ExchangeUnavailable as err:
            failure, state = err, "unreachable"
        if state == "ok":
            return state
        left = deadline - clock()
        if left <= 0:
            if failure is not None:
                raise failure
            raise restricted(state, f"still so after waiting {timeout_s:g} s (--wait-ok)")
        if on_wait is not None:
            on_wait(state, left)
        sleep(min(next(delays), left))

"""The one backoff of paradexctl: exponential, capped, with full jitter (sans-I/O).

Every retry loop takes its delays from here: the WebSocket client's reconnects
(:mod:`paradexctl.paradex.ws`), the REST client's retries (:class:`~paradexctl.paradex.rest.RetryPolicy`)
and the lookups of an order whose placement is uncertain
(:class:`~paradexctl.paradex.orders.LookupPolicy`).

The delay before retry number ``n`` (from 0) is ``rng() * min(cap, base * factor**n)``: "full
jitter", so many clients that failed together do not retry together. ``rng`` returns a float in
``[0, 1)`` and is always passed in (``random.random`` in production, a constant in tests);
``rng=None`` gives the ceiling itself, for a loop that must not wait less (the lookups).
Nothing here sleeps or reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``base * factor**n`` seconds, at most ``cap``, jittered by ``rng``."""

    base: float
    cap: float
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not (self.base >= 0 and self.cap >= 0 and self.factor >= 1):
            raise ValueError("backoff needs base >= 0, cap >= 0 and factor >= 1")

    def ceiling(self, attempt: int) -> float:
        """The longest delay before retry number ``attempt`` (from 0): never above ``cap``,
        also for an attempt so large that ``factor**attempt`` would overflow."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        if self.base == 0:
            return 0.0
        try:
            return float(min(self.cap, self.base * self.factor**attempt))
        except OverflowError:
            return float(self.cap)

    def delay(self, attempt: int, rng: Callable[[], float] | None) -> float:
        """The delay before retry number ``attempt``: ``rng() * ceiling`` (the ceiling itself
        when ``rng`` is None)."""
        top = self.ceiling(attempt)
        return top if rng is None else float(rng() * top)

    def delays(self, rng: Callable[[], float] | None) -> Iterator[float]:
        """The delays before retries 0, 1, 2, ... forever (``itertools.islice`` to bound it)."""
        n = 0
        while True:
            top = self.ceiling(n)
            yield top if rng is None else float(rng() * top)
            if 0 < top < self.cap:  # stop counting once capped
                n += 1

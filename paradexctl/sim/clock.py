"""The simulator's one clock: every time the sim reasons with (JWT and signature expiry, REST
staleness, the mark walk, scheduled faults, the scenario timeline, exchange timestamps) is
read from :class:`SimClock`.

Two modes:

- ``wall`` (the default): the wall clock plus an offset that ``POST /_sim/time/advance``
  moves forward.
- ``manual`` (``sim --clock manual``): frozen at the time the sim started (or a scenario's
  ``start_ms``); only the admin API moves it, so a test of a 24-hour day runs in seconds and
  the same requests give the same timestamps.

What is *not* read from here, on purpose: waits on real I/O (a held response's timeout, the
WebSocket latency fault, the save cadence of ``--state``, server start-up): they pace the
process, not the market.
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOCK_MODES = ("wall", "manual")
#: how far the sim clock may run ahead of its start (advance, restore, a timeline event)
MAX_CLOCK_OFFSET_MS = 7 * 86_400_000


class SimClock:
    """Milliseconds on the sim's clock: the wall clock (or a frozen start) plus ``offset_ms``.

    ``offset_ms`` is what the admin API advances; setting it back to 0 (``/_sim/reset``)
    returns to the start (manual) or to the wall clock (wall)."""

    def __init__(
        self,
        mode: str = "wall",
        *,
        start_ms: int | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if mode not in CLOCK_MODES:
            raise ValueError(f"clock must be one of {', '.join(CLOCK_MODES)}, not {mode!r}")
        self.mode = mode
        self._wall = wall
        self.offset_ms = 0
        #: the frozen base of a manual clock (ms); None for the wall clock
        self.start_ms: int | None = None
        if mode == "manual":
            self.start_ms = int(wall() * 1000) if start_ms is None else start_ms

    @property
    def manual(self) -> bool:
        return self.start_ms is not None

    def now_ms(self) -> int:
        base = self.start_ms if self.start_ms is not None else int(self._wall() * 1000)
        return base + self.offset_ms

    def now_us(self) -> int:
        """Microseconds on the sim's clock (a manual clock has no sub-ms part)."""
        if self.start_ms is not None:
            return (self.start_ms + self.offset_ms) * 1000
        return int(self._wall() * 1_000_000) + self.offset_ms * 1000

    def now_ns(self) -> int:
        return self.now_us() * 1000

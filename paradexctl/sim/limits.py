"""What the simulator accepts from a client, and the one place each limit is enforced.

* :class:`Limits`: body size, JSON nesting depth, header and body timeouts, connections.
* :func:`decode_json`: the one JSON decoder of request bodies, WebSocket frames, JWT parts
  and cursors; it checks the nesting depth on the raw text first (``json`` recurses, so a
  2 KB body nested 1,000 deep would otherwise raise ``RecursionError``).
* :func:`read_body`: a request body read in chunks, stopped at the size limit (a 200 MB body
  is never buffered) and at the body timeout.
* :class:`RefusalLog`: one warning per interval summing every refusal, instead of a line per
  socket.

The connection limit and the header timeout live at the server layer
(:mod:`paradexctl.sim.server`); the admin API's checks live in :mod:`paradexctl.sim.app`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from paradexctl.core.jsonlimits import json_depth

from .exchange import Rejected

__all__ = ["JsonTooDeep", "Limits", "RefusalLog", "decode_json", "read_body"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one client can make the simulator hold or wait for."""

    #: request body bytes (REST and admin); ``Content-Length`` above it is refused at once
    max_body_bytes: int = 1 << 20
    #: one WebSocket message (uvicorn's ``ws_max_size``; a larger one closes with 1009)
    max_ws_message_bytes: int = 1 << 20
    #: JSON nesting ([ and { levels) of a body, WebSocket message, JWT part or cursor
    max_json_depth: int = 32
    #: seconds a new connection (or a kept-alive one after a response) has to send its
    #: complete request headers
    header_timeout_s: float = 5.0
    #: seconds a request has to send its whole body
    body_timeout_s: float = 10.0
    #: open connections (HTTP and WebSocket); over it, the oldest connection that has not yet
    #: sent a complete request is closed to make room, else the new one gets a 503
    max_connections: int = 1000
    #: seconds between two refusal summaries in the log
    log_interval_s: float = 10.0


# ------------------------------------------------------------------------------ JSON


class JsonTooDeep(ValueError):
    """A JSON text nested deeper than the limit (a ``ValueError``, like a parse error)."""


def decode_json(raw: bytes | str, max_depth: int) -> Any:
    """``json.loads`` after a nesting-depth check; ``ValueError`` (:class:`JsonTooDeep` for
    depth) on anything that is not acceptable JSON."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if json_depth(data, max_depth) > max_depth:
        raise JsonTooDeep(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except RecursionError:  # cannot happen within the depth limit; never a 500 if it does
        raise JsonTooDeep(f"nested deeper than {max_depth} levels") from None


# ------------------------------------------------------------------------------ bodies


async def read_body(request: Request, limits: Limits, refusals: RefusalLog) -> bytes:
    """The request body, or :class:`Rejected` 413 (too large: ``Content-Length`` or the bytes
    read so far) or 408 (not sent within ``body_timeout_s``)."""
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        refusals.note("body too large")
        raise body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    refusals.note("body too large")
                    raise body_too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        refusals.note("body timeout")
        raise Rejected(
            "BINDING_ERROR",
            f"request body not received within {limits.body_timeout_s:g} s",
            status=408,
        ) from None
    return b"".join(chunks)


def body_too_large(limit: int) -> Rejected:
    return Rejected("BINDING_ERROR", f"request body larger than {limit} bytes", status=413)


# ------------------------------------------------------------------------------ logging


class RefusalLog:
    """Counts refusals by reason and logs them as one warning per ``interval_s`` (the first
    one at once), so a flood of hostile sockets costs one log line, not one per socket."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self.pending: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self._last: float | None = None

    def note(self, reason: str) -> None:
        self.pending[reason] += 1
        self.total[reason] += 1
        now = self.clock()
        if self._last is None or now - self._last >= self.interval_s:
            self.flush(now)

    def tick(self) -> None:
        """Log what was refused since the last line, once the interval has passed (called
        periodically, so the last refusals of a burst are not held back)."""
        now = self.clock()
        if self.pending and (self._last is None or now - self._last >= self.interval_s):
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if not self.pending:
            return
        first = self._last is None
        self._last = self.clock() if now is None else now
        parts = ", ".join(f"{reason} {n}" for reason, n in sorted(self.pending.items()))
        span = "" if first else f" in the last {self.interval_s:g} s"
        self.logger.warning("refused client requests%s: %s", span, parts)
        self.pending.clear()

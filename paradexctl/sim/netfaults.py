"""Connection-level faults: one wrapper around the asyncio transport of every sim connection.

uvicorn hands each accepted socket's transport to the sim's HTTP protocol
(:class:`~paradexctl.sim.server.GuardedH11Protocol`), which wraps it in a
:class:`FaultyTransport` before anything is written; a WebSocket upgrade keeps the same
transport, so REST and WebSocket traffic go through the one mechanism. The faults
(:data:`~paradexctl.sim.faults.FAULTS`, the ``net_*`` entries) act on the bytes the sim sends:

* ``net_latency_ms``: every write leaves that much later (order kept);
* ``net_bandwidth_bps``: writes leave at most that many bytes per second;
* ``net_slice_bytes``: every write is cut into TCP writes of at most N bytes;
* ``net_reset_after_bytes``: once N bytes have been sent, the connection is reset (RST);
* ``net_half_open_after_bytes``: once N bytes have been sent, the connection stops: nothing
  more is sent, nothing is read, and it is not closed (the peer sees a silent, open socket).

A connection takes the settings in force when it is opened and keeps them (so the admin
connection that switches a fault on is not cut by it, and can switch it off again).
"""

from __future__ import annotations

import asyncio
import collections
import socket
import struct
from typing import Any

from .faults import NET_FAULTS, FaultConfig, Faults

__all__ = ["FaultyTransport", "active", "wrap"]


def active(c: FaultConfig) -> bool:
    """Whether any connection-level fault is on."""
    return any(getattr(c, name) for name in NET_FAULTS)


def wrap(transport: asyncio.Transport, faults: Faults | None) -> asyncio.Transport:
    """``transport``, wrapped if a connection-level fault is on now."""
    if faults is None or not active(faults.config):
        return transport
    return FaultyTransport(transport, faults)  # type: ignore[return-value]


class FaultyTransport:
    """An asyncio transport that delays, throttles, slices, resets or stalls what is written
    (everything else is the wrapped transport's)."""

    def __init__(self, inner: asyncio.Transport, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults
        self._config = faults.config  # the settings at connection time (a new object on update)
        self._loop = asyncio.get_running_loop()
        self._queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._ready_at = 0.0
        self._sent = 0
        self._stalled = False
        self._close_after_drain = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    # -- writing --------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._stalled or not data:
            return
        c = self._config
        data = bytes(data)
        size = c.net_slice_bytes or len(data)
        at = max(self._loop.time() + c.net_latency_ms / 1000, self._ready_at)
        for i in range(0, len(data), size):
            chunk = data[i : i + size]
            if c.net_bandwidth_bps:
                at += len(chunk) / c.net_bandwidth_bps
            self._queue.append((at, chunk))
            if c.net_slice_bytes:
                self._faults.injected["net_sliced_writes"] += 1
        self._ready_at = at
        self._drain()

    def writelines(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)

    def _drain(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self._queue and not self._stalled:
            at, chunk = self._queue[0]
            if at > now:
                self._timer = self._loop.call_at(at, self._drain)
                return
            self._queue.popleft()
            self._send(chunk)
        if not self._queue and self._close_after_drain and not self._stalled:
            self._inner.close()

    def _send(self, chunk: bytes) -> None:
        if self._inner.is_closing():
            self._queue.clear()
            return
        c = self._config
        for limit, what in (
            (c.net_half_open_after_bytes, "half_open"),
            (c.net_reset_after_bytes, "reset"),
        ):
            if limit and self._sent + len(chunk) >= limit:
                head = chunk[: max(0, limit - self._sent)]
                if head:
                    self._inner.write(head)
                    self._sent += len(head)
                self._queue.clear()
                if what == "half_open":
                    self._stalled = True
                    self._faults.injected["net_half_open"] += 1
                    self._inner.pause_reading()
                else:
                    self._faults.injected["net_resets"] += 1
                    self._reset()
                return
        self._inner.write(chunk)
        self._sent += len(chunk)

    def _reset(self) -> None:
        """Abort with an RST (``SO_LINGER`` 0), as a middlebox that cuts a connection."""
        sock = self._inner.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self._inner.abort()

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Close once the delayed writes have gone. A stalled connection is not closed (it is
        half-open: the peer is never told); it is read again, so it closes once the peer
        closes its side (at the latest when the sim stops)."""
        if self._stalled:
            if not self._inner.is_closing():
                self._inner.resume_reading()
            return
        if self._queue:
            self._close_after_drain = True
            return
        self._inner.close()

    def abort(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._queue.clear()
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._close_after_drain or self._inner.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + sum(len(c) for _, c in self._queue)

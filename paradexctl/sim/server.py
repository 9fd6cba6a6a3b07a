"""Running the simulator: under uvicorn in the foreground (the CLI) or in a background thread
(:class:`SimServer`, for tests and benchmarks), plus a small admin-API client.

Example::

    with SimServer(SimOptions(seed=1, mark_walk_ms=0)) as sim:
        httpx.get(sim.http_url + "/markets")
        sim.admin.mark_price("BTC-USD-PERP", "95000")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import netfaults
from .app import SimApp, SimOptions, StateSaveError
from .faults import Faults
from .limits import Limits, RefusalLog

if TYPE_CHECKING:  # httpx is imported on first use: ``paradexctl sim`` itself never needs it
    import httpx

    from .playback import Recording  # loaded only with --playback

__all__ = ["SimAdmin", "SimServer", "make_uvicorn_config", "serve"]


def _front(playback: Recording, sim: SimApp, speed: float) -> Any:
    """``--playback``: the app that serves the recording in front of ``sim``."""
    from .playback import PlaybackApp

    return PlaybackApp(playback, sim.app, speed=speed)


#: connections the kernel may queue before they are accepted
BACKLOG = 256


def _raw_error(status: int, reason: str, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response in Paradex's shape that closes the connection."""
    body = json.dumps({"error": code, "message": message, "data": None}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=UTF-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _RefusalLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """uvicorn's per-connection warnings ("Invalid HTTP request received.", ...) counted into
    the refusal summary instead of one line per socket."""

    def __init__(self, logger: logging.Logger, refusals: RefusalLog) -> None:
        super().__init__(logger, {})
        self.refusals = refusals

    @property
    def level(self) -> int:
        return int(self.logger.level)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.refusals.note(str(msg).rstrip("."))


class ConnectionGuard:
    """One server's connection limit and header timeout, shared by its connections."""

    def __init__(
        self, limits: Limits, refusals: RefusalLog, faults: Callable[[], Faults] | None = None
    ) -> None:
        self.limits = limits
        self.refusals = refusals
        #: the sim's faults now (a reset replaces them): connection-level ones wrap each
        #: transport (:mod:`.netfaults`)
        self.faults = faults
        self.max_connections = _connection_cap(limits.max_connections)
        #: connections that have not yet sent their first complete request headers, oldest
        #: first: the ones closed to make room at the limit; those that sent part of one
        #: (what a stalled or hostile client leaves) go before those that sent nothing yet
        self.partial: dict[GuardedH11Protocol, None] = {}
        self.waiting: dict[GuardedH11Protocol, None] = {}

    def evictable(self) -> GuardedH11Protocol | None:
        """The connection to close to make room: the oldest that sent part of a request, else
        the oldest that has sent nothing (a new client's request is read within a loop turn
        or two, so it is rarely the oldest; one that held a slot without a request is)."""
        for pool in (self.partial, self.waiting):
            if pool:
                return next(iter(pool))
        return None

    def forget(self, conn: GuardedH11Protocol) -> None:
        self.partial.pop(conn, None)
        self.waiting.pop(conn, None)


def _connection_cap(wanted: int) -> int:
    """``wanted``, lowered to leave file descriptors for the backlog and the process (a
    server out of descriptors fails every accept, and asyncio logs each one)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft - BACKLOG - 64))


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on a connection: uvicorn writes a response's head and body separately, and
    with Nagle's algorithm the body waits for the ACK of the head, which a keep-alive client
    delays (about 40 ms a request). asyncio sets it only on sockets created with
    ``IPPROTO_TCP``; ``socket.create_server`` leaves the protocol 0."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a connection limit (uvicorn has
    neither: ``limit_concurrency`` answers 503 to everyone once half-open sockets fill it).

    * A connection gets ``header_timeout_s`` to send complete request headers (from its
      start, and again after each response); then it is closed, with a 408 if it had sent
      part of a request.
    * Beyond ``max_connections`` open connections, the oldest one still waiting for its first
      request headers is closed to make room (one that sent part of a request before one
      that sent nothing yet); if there is none (every connection is serving a request or a
      WebSocket), the new connection gets a 503 and is closed.
    * Malformed requests get a 400 in Paradex's error shape; all of these are counted in the
      refusal summary (one log line per interval)."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _RefusalLogger(self.logger, self.guard.refusals)  # type: ignore[assignment]
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        faults = self.guard.faults
        super().connection_made(netfaults.wrap(transport, None if faults is None else faults()))
        g = self.guard
        if len(self.connections) > g.max_connections:
            oldest = g.evictable()
            if oldest is not None:
                g.refusals.note("connection limit: closed a connection without a request")
                oldest._close(timed_out=False)
            else:
                g.refusals.note("connection limit: refused a connection")
                transport.write(
                    _raw_error(
                        503, "Service Unavailable", "SERVICE_UNAVAILABLE", "too many connections"
                    )
                )
                self.connections.discard(self)
                transport.close()
                return
        g.waiting[self] = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(
            self.guard.limits.header_timeout_s, self._header_timeout
        )

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _waiting_for_headers(self) -> bool:
        return self.conn.their_state is h11.IDLE and (
            self.cycle is None or self.cycle.response_complete
        )

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._waiting_for_headers():
            return
        self.guard.refusals.note("header timeout")
        self._close(timed_out=True)

    def _close(self, *, timed_out: bool) -> None:
        """Close a connection that is waiting for request headers (a 408 if it sent part of
        one and ran out of time)."""
        self._disarm()
        self.guard.forget(self)
        if self.transport.is_closing():
            return
        if timed_out and self.conn.trailing_data[0]:
            late = f"request headers not received within {self.guard.limits.header_timeout_s:g} s"
            self.transport.write(_raw_error(408, "Request Timeout", "BINDING_ERROR", late))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        g = self.guard
        if not self._waiting_for_headers():  # a request (or a WebSocket upgrade) has begun
            self._disarm()
            g.forget(self)
        elif self in g.waiting:  # part of a first request: first in line to be closed
            del g.waiting[self]
            g.partial[self] = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._waiting_for_headers():
            self._arm()  # the next request's headers get the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.forget(self)
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_raw_error(400, "Bad Request", "BINDING_ERROR", msg.rstrip(".")))
        self.transport.close()


def guarded_protocol(
    limits: Limits, refusals: RefusalLog, faults: Callable[[], Faults] | None = None
) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` class bound to one server's own guard."""
    guard = ConnectionGuard(limits, refusals, faults)
    return type("SimH11Protocol", (GuardedH11Protocol,), {"guard": guard})


def make_uvicorn_config(sim: SimApp, host: str, port: int, app: Any = None) -> uvicorn.Config:
    """uvicorn's config for ``sim`` (``app``: an ASGI app in front of ``sim.app``, such as a
    :class:`~paradexctl.sim.playback.PlaybackApp`)."""
    o = sim.options
    return uvicorn.Config(
        sim.app if app is None else app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # loopback, no proxy: one ASGI middleware less per request
        lifespan="on",
        http=guarded_protocol(o.limits, sim.refusals, lambda: sim.faults),
        ws="websockets-sansio",
        ws_max_size=o.limits.max_ws_message_bytes,
        ws_ping_interval=o.ws_ping_interval_s or None,
        ws_ping_timeout=o.ws_ping_timeout_s or None,
        backlog=BACKLOG,
        timeout_graceful_shutdown=2,
    )


class SimAdmin:
    """Client for the loopback-only admin API under ``/_sim/``."""

    def __init__(self, base_url: str) -> None:
        import httpx

        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url + "/_sim", timeout=10, verify=False)

    def close(self) -> None:
        self.client.close()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.client.post(path, json=body or {})
        r.raise_for_status()
        return r.json()

    def state(self) -> dict[str, Any]:
        r = self.client.get("/state")
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def faults(self, **changes: Any) -> dict[str, Any]:
        """Update faults (e.g. ``rest_5xx=2``, ``ws_drop_rate=0.5``); returns the new set."""
        return self._post("/faults", changes)  # type: ignore[no-any-return]

    def staleness(self, **ms: int) -> dict[str, int]:
        """Set REST staleness per endpoint key (``default``, ``orders``, ``order``, ...)."""
        return self._post("/staleness", ms)  # type: ignore[no-any-return]

    def system(self, status: str) -> dict[str, Any]:
        """Set ``GET /system/state``'s status (ok, maintenance, cancel_only, post_only)."""
        return self._post("/system", {"status": status})  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Fresh engine, faults and staleness back to their start values; closes WebSockets."""
        self._post("/reset")

    def force_fill(self, order_id: str, size: str | None = None, price: str | None = None) -> Any:
        body: dict[str, Any] = {"order_id": order_id}
        if size is not None:
            body["size"] = size
        if price is not None:
            body["price"] = price
        return self._post("/force-fill", body)

    def mark_price(self, market: str, price: str) -> Any:
        return self._post("/mark-price", {"market": market, "price": price})

    def mark_walk(self, steps: int) -> Any:
        """Run ``steps`` mark-price random-walk steps at once (every market)."""
        return self._post("/mark-walk", {"steps": steps})

    def ws_emit(self, order_id: str, count: int) -> int:
        """Publish ``count`` WebSocket updates of an order (benchmarks); returns how many."""
        return int(self._post("/ws/emit", {"order_id": order_id, "count": count})["emitted"])

    def disconnect(self, code: int = 1012) -> int:
        return int(self._post("/disconnect", {"code": code})["disconnected"])

    def advance_time(self, ms: int) -> Any:
        return self._post("/time/advance", {"ms": ms})

    def deposit(self, account: str, amount: str) -> Any:
        return self._post("/deposit", {"account": account, "amount": amount})

    def add_subkey(self, account: str, public_key: str) -> dict[str, Any]:
        """Register a trade-only subkey of ``account`` (idempotent)."""
        return self._post(  # type: ignore[no-any-return]
            "/subkeys", {"account": account, "public_key": public_key}
        )

    def subkeys(self, account: str | None = None) -> list[dict[str, Any]]:
        """Registered subkeys (``account``, ``public_key``, ``created_at``), of one account
        or of all."""
        r = self.client.get("/subkeys", params={} if account is None else {"account": account})
        r.raise_for_status()
        return r.json()["results"]  # type: ignore[no-any-return]

    def remove_subkey(self, public_key: str) -> dict[str, Any]:
        r = self.client.delete(f"/subkeys/{public_key}")
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


class SimServer:
    """The simulator on a loopback port (0 = any free port) in a background thread."""

    def __init__(
        self,
        options: SimOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        playback: Recording | None = None,
        speed: float = 1.0,
    ) -> None:
        self.sim = SimApp(options)
        self.host = host
        self.port: int = port  # the real port once started, if 0 was asked for
        #: ``--playback``: the recording served in front of the sim (None: the live sim)
        self.playback = None if playback is None else _front(playback, self.sim, speed)
        self._server = uvicorn.Server(make_uvicorn_config(self.sim, host, port, self.playback))
        self._thread: threading.Thread | None = None
        self._admin: SimAdmin | None = None
        self._http: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1"

    @property
    def admin(self) -> SimAdmin:
        if self._admin is None:
            self._admin = SimAdmin(self.base_url)
        return self._admin

    @property
    def http(self) -> httpx.Client:
        """An httpx client with ``base_url=http_url`` (closed by :meth:`stop`)."""
        if self._http is None:
            import httpx

            self._http = httpx.Client(base_url=self.http_url, timeout=10, verify=False)
        return self._http

    def start(self, timeout: float = 15.0) -> SimServer:
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="paradexctl-sim")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.002)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    options: SimOptions,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[SimApp, str, int], None] | None = None,
    *,
    playback: Recording | None = None,
    speed: float = 1.0,
) -> None:
    """Run the simulator in the foreground until SIGINT or SIGTERM, then return normally
    (:class:`StateSaveError` if the final save of ``--state`` failed).

    ``on_ready(sim, host, port)`` is called once the socket is bound (with the real port).
    """
    sim = SimApp(options)
    front = None if playback is None else _front(playback, sim, speed)
    server = uvicorn.Server(make_uvicorn_config(sim, host, port, front))
    # Bind here, not in uvicorn: a busy port or a bad address is then one OSError (uvicorn
    # would log it, exit, and leave a task's traceback behind).
    try:
        sock = socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET
        )
    except OverflowError:
        raise OSError(f"port {port} is out of range (0-65535)") from None

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if server.started and not server.should_exit and server.servers and on_ready is not None:
            real_port = server.servers[0].sockets[0].getsockname()[1]
            on_ready(sim, host, real_port)
        await task

    # uvicorn re-raises the signal it caught once it has shut down; make that a no-op so a
    # clean shutdown is a normal return (exit status 0), not KeyboardInterrupt or death by
    # SIGTERM.
    # A signal before uvicorn installs its own handlers (during start-up) must stop it too.
    def early(sig: int, frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, early) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        asyncio.run(main())
    except SystemExit:
        # uvicorn exits the process when it cannot bind; report that as an OSError instead
        if not server.started:
            raise OSError(f"cannot listen on {host}:{port}") from None
        raise
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if sim.final_save_error is not None:
        path = options.state_file
        raise StateSaveError(
            f"{sim.final_save_error}; the final state is lost, {path} keeps the last good save"
        )

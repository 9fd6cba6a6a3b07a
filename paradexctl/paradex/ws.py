"""The Paradex WebSocket client: JSON-RPC 2.0, auth, subscriptions, reconnects, a watchdog.

Two layers, after the websockets library's own split:

* :class:`RpcProtocol` is sans-I/O: it builds request frames (``auth``, ``subscribe``, ...)
  with fresh ids and turns each received text frame into one event (:class:`Reply`,
  :class:`RpcError`, :class:`Notification`, :class:`Invalid`, :class:`Unknown`). It keeps the
  counters reported with ``-v``. No sockets, no clock: tested frame by frame.
* :class:`WsClient` pumps it over ``websockets.asyncio.client.connect`` and puts every
  event the consumer needs on one :class:`asyncio.Queue`: lifecycle events
  (:class:`Connected`, :class:`Subscribed`, :class:`Reconnecting`, :class:`Stale`,
  :class:`Disconnected`), data (:class:`Notification`), and a final :class:`Closed`.

Reconnect policy (STYLE item 7):

* It reconnects forever unless ``max_reconnects`` is given: the number of reconnects in a row
  without a *stable* connection before giving up. A connection is stable when it was
  *productive* (authenticated, subscribed, and delivered at least one notification) or stayed
  open ``stable_after`` seconds.
* Delays come from ``reconnect_delays()``, a factory of delay iterators (default
  :func:`backoff`: :class:`~paradexctl.core.backoff.Backoff`, exponential, full jitter,
  capped; the RNG is injectable). The iterator is restarted only after a stable connection, so
  a server that accepts and drops at once (a *flap*) is not hammered: the backoff keeps
  growing; while a server that delivers data and drops every few seconds is reconnected to at
  the base delay. A connection that ended with a frame over the size limit is not productive
  (only its duration can make it stable), so a server that sends one on every connection
  meets a growing backoff.
* Hostile frames: a frame that cannot be parsed, or nests deeper than
  :data:`~paradexctl.core.jsonlimits.MAX_JSON_DEPTH` (64) levels, is an :class:`Invalid`
  event: counted and skipped, never fatal. A frame over ``max_frame_bytes`` (1 MiB) makes the
  websockets library close the connection (code 1009); it is counted (``frames_too_large``),
  named as the :class:`Disconnected` reason (``frame_too_large size_limit=1048576``) and the
  reconnect backs off.
* ``process_exception(exc)`` decides: ``None`` to retry, an exception to stop with (default
  :func:`process_exception`). Invalid channels and HTTP 4xx upgrades are fatal; network
  errors, 5xx, timeouts, stale connections and a first auth rejection are retried.
* Every connection authenticates with a JWT from ``jwt(refresh)``, called per connection so a
  token near expiry is replaced (``refresh=True`` after the exchange rejected one), then
  restores every subscription.
* The watchdog: the client sends its own pings every ``ping_interval`` seconds; when nothing
  (data, reply or pong) arrives for ``stale_after`` seconds it emits :class:`Stale` and drops
  the connection, which is then re-established like any other.

Secrets: the JWT is only ever put in the ``auth`` frame; traces (``trace=``) show it as ``***``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from paradexctl.core.backoff import Backoff
from paradexctl.core.jsonlimits import MAX_JSON_DEPTH, reject_constant, too_deep
from paradexctl.errors import ExchangeRejected, ExchangeUnavailable, ParadexctlError

__all__ = [
    "MAX_FRAME_BYTES",
    "AuthRejected",
    "Closed",
    "Connected",
    "Disconnected",
    "Invalid",
    "Notification",
    "Reconnecting",
    "Reply",
    "RpcError",
    "RpcProtocol",
    "Stale",
    "StaleConnection",
    "SubscribeRejected",
    "Subscribed",
    "Unknown",
    "WsClient",
    "WsError",
    "backoff",
    "process_exception",
]


# --- errors -----------------------------------------------------------------------------------


class WsError(Exception):
    """Base class of the WebSocket client's own errors (the CLI maps them to exit codes)."""


class RpcFailure(WsError):
    """The exchange answered a request with a JSON-RPC error."""

    def __init__(self, method: str, code: Any, message: str, data: Any = None) -> None:
        text = f"{method}: error {code}: {message}"
        if isinstance(data, str) and data:
            text += f" ({data})"
        super().__init__(text)
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


class AuthRejected(RpcFailure):
    """``auth`` was refused (40110 malformed, 40111 invalid, 40112 geo-blocked)."""


class SubscribeRejected(RpcFailure):
    """``subscribe`` was refused (an invalid channel, or a private channel without auth)."""


class StaleConnection(WsError):
    """Nothing arrived for ``stale_after`` seconds; the watchdog dropped the connection."""


class RequestTimeout(WsError):
    """A request got no reply within the open timeout."""


# --- events -----------------------------------------------------------------------------------


class Notification(NamedTuple):
    """A ``subscription`` notification: the subscribed channel name and ``params.data``.

    ``raw`` is the JSON text of ``data`` exactly as received when the frame had the canonical
    shape and no fractional JSON number (so it can be copied to NDJSON without re-encoding);
    otherwise None.
    """

    channel: str
    data: Any
    received_at: int
    raw: str | None = None


class Reply(NamedTuple):
    """A successful reply to a request of ours."""

    id: Any
    method: str
    result: Any


class RpcError(NamedTuple):
    """An error reply (``id`` may be None when the server could not parse our request)."""

    id: Any
    method: str | None
    code: Any
    message: str
    data: Any


class Invalid(NamedTuple):
    """A frame that is not JSON, or not a JSON object. Counted, never fatal."""

    reason: str
    excerpt: str


class Unknown(NamedTuple):
    """Valid JSON we do not understand (an unknown method, a reply to no request of ours)."""

    message: Any


class Connected(NamedTuple):
    """The upgrade succeeded and ``auth`` was accepted."""

    attempt: int
    url: str
    node_id: str | None
    at: int


class Subscribed(NamedTuple):
    """Every subscription is (re)established on this connection."""

    channels: tuple[str, ...]
    attempt: int
    at: int


class Reconnecting(NamedTuple):
    """About to sleep ``delay`` seconds before reconnect number ``attempt``."""

    attempt: int
    delay: float
    reason: str
    at: int


class Stale(NamedTuple):
    """The watchdog saw nothing for ``silent_for`` seconds and drops the connection."""

    silent_for: float
    at: int


class Disconnected(NamedTuple):
    """A connection ended (or an attempt failed). ``code`` is the close code, if any (the one
    received from the server, else the one the client sent: 1009 for a frame too large)."""

    reason: str
    code: int | None
    at: int


class Closed(NamedTuple):
    """The client stopped for good: ``error`` is None after :meth:`WsClient.stop`."""

    error: BaseException | None
    at: int


Event = Notification | Reply | RpcError | Invalid | Unknown
Lifecycle = Connected | Subscribed | Reconnecting | Stale | Disconnected | Closed


# --- the sans-I/O protocol --------------------------------------------------------------------


#: The canonical start of a notification frame (Paradex and the sim both write it so).
_HEAD = '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"'
_HEAD_LEN = len(_HEAD)
_DATA = '","data":'


class RpcProtocol:
    """JSON-RPC 2.0 framing for one connection: requests out, events in.

    ``received_at`` (ms) is passed in with each frame; nothing here reads a clock.
    """

    def __init__(self) -> None:
        self._next_id = 1
        self._floats = False
        # Money never becomes a float: a non-integer JSON number is read as a Decimal; NaN,
        # Infinity and -Infinity are not JSON (a frame holding one is invalid, never printed).
        self._decoder = json.JSONDecoder(parse_float=self._float, parse_constant=reject_constant)
        self.pending: dict[int, str] = {}
        self.notifications = 0
        self.replies = 0
        self.errors = 0
        self.invalid = 0
        self.unknown = 0

    def request(self, method: str, params: Mapping[str, Any]) -> tuple[int, str]:
        """A request frame with a fresh integer id; the reply will name ``method``."""
        rid = self._next_id
        self._next_id += 1
        self.pending[rid] = method
        frame = {"jsonrpc": "2.0", "method": method, "params": dict(params), "id": rid}
        return rid, json.dumps(frame, separators=(",", ":"))

    def _float(self, text: str) -> Decimal:
        self._floats = True
        return Decimal(text)

    def _notification(self, text: str, received_at: int) -> Notification | None:
        """The fast path for a canonical notification: parse only ``data``, keep its text."""
        i = text.find(_DATA, _HEAD_LEN)
        if i < 0:
            return None
        channel = text[_HEAD_LEN:i]
        if '"' in channel or "\\" in channel:
            return None
        start = i + len(_DATA)
        self._floats = False
        try:
            data, end = self._decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            return None
        if text[end:].rstrip() != "}}":
            return None  # more members, or not JSON: the general path decides
        self.notifications += 1
        return Notification(channel, data, received_at, None if self._floats else text[start:end])

    def receive(self, text: str | bytes, received_at: int) -> Event:
        """Decode one frame into one event; never raises (a frame nested deeper than
        :data:`~paradexctl.core.jsonlimits.MAX_JSON_DEPTH` levels is :class:`Invalid`)."""
        if not isinstance(text, str):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as err:
                self.invalid += 1
                return Invalid(f"not JSON: {err}", _excerpt(text))
        # (the bracket count first: a frame with few brackets cannot be too deep; no call)
        if text.count("[") + text.count("{") > MAX_JSON_DEPTH and too_deep(text):
            self.invalid += 1
            return Invalid(f"nested deeper than {MAX_JSON_DEPTH} levels", _excerpt(text))
        if text.startswith(_HEAD):
            fast = self._notification(text, received_at)
            if fast is not None:
                return fast
        try:
            msg = self._decoder.decode(text)
        except (ValueError, RecursionError) as err:
            self.invalid += 1
            return Invalid(f"not JSON: {err}", _excerpt(text))
        if type(msg) is not dict:
            self.invalid += 1
            return Invalid("not a JSON object", _excerpt(text))
        if msg.get("method") == "subscription":
            params = msg.get("params")
            if type(params) is dict:
                channel = params.get("channel")
                if type(channel) is str and "data" in params:
                    self.notifications += 1
                    return Notification(channel, params["data"], received_at)
            self.invalid += 1
            return Invalid("subscription without params.channel/data", _excerpt(text))
        if "id" in msg and ("result" in msg or "error" in msg):
            rid = msg["id"]
            method = self.pending.pop(rid, None) if type(rid) is int else None
            if "error" in msg:
                rpc_err = msg["error"]
                self.errors += 1
                if type(rpc_err) is dict:
                    return RpcError(
                        rid,
                        method,
                        rpc_err.get("code"),
                        str(rpc_err.get("message", "")),
                        rpc_err.get("data"),
                    )
                return RpcError(rid, method, None, str(rpc_err), None)
            if method is None:
                self.unknown += 1
                return Unknown(msg)
            self.replies += 1
            return Reply(rid, method, msg["result"])
        self.unknown += 1
        return Unknown(msg)

    def counters(self) -> dict[str, int]:
        return {
            "notifications": self.notifications,
            "replies": self.replies,
            "errors": self.errors,
            "invalid": self.invalid,
            "unknown": self.unknown,
        }


def _excerpt(text: str | bytes, limit: int = 80) -> str:
    s = text if isinstance(text, str) else text.decode("utf-8", "replace")
    s = s[:limit]
    return "".join(c if c.isprintable() else "?" for c in s)


# --- the reconnect policy ---------------------------------------------------------------------


def backoff(
    base: float = 0.5,
    cap: float = 30.0,
    factor: float = 2.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """The default reconnect delays: :meth:`Backoff.delays <paradexctl.core.backoff.Backoff>`,
    ``rng() * min(cap, base * factor**n)`` for n = 0, 1, 2, ... forever."""
    return Backoff(base, cap, factor).delays(rng)


#: The largest frame accepted (the websockets library's ``max_size``; its default, 1 MiB).
#: A larger one closes the connection with code 1009; see :class:`WsClient`.
MAX_FRAME_BYTES = 1 << 20


_RETRY_CODES = frozenset({408, 425, 429})


def process_exception(exc: BaseException) -> BaseException | None:
    """The default policy: ``None`` to reconnect, or the exception to stop with."""
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    if isinstance(exc, SubscribeRejected):
        return exc
    if isinstance(exc, AuthRejected):
        return exc if exc.code == 40112 else None  # geo-blocked: retrying cannot help
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return None if status >= 500 or status in _RETRY_CODES else exc
    if isinstance(exc, (OSError, TimeoutError, EOFError, InvalidHandshake, WsError)):
        return None
    from websockets.exceptions import ConnectionClosed

    if isinstance(exc, ConnectionClosed):
        return None
    return exc


# --- the asyncio client -----------------------------------------------------------------------


def _wall_ms() -> int:
    return int(time.time() * 1000)


class WsClient:
    """A reconnecting Paradex WebSocket client; events go to ``queue``.

    Args:
        url: the WebSocket URL (``wss://ws.api.testnet.paradex.trade/v1``).
        channels: the channels to (re)subscribe on every connection.
        jwt: ``async jwt(refresh) -> token`` for private channels; ``None`` for public only.
            It is called for every connection (a token near expiry must be renewed) and with
            ``refresh=True`` after the exchange rejected the previous one.
        queue: where events go (a fresh unbounded queue by default).
        reconnect_delays: a factory of delay generators (default :func:`backoff`).
        process_exception: the retry policy (default :func:`process_exception`).
        max_reconnects: give up after this many reconnects in a row without a stable
            connection; ``None`` = forever; ``0`` = never reconnect.
        stable_after: seconds a connection must stay open to count as stable (flap guard);
            a productive connection (subscribed, then delivered a notification) is stable
            at once.
        max_frame_bytes: the largest frame accepted (:data:`MAX_FRAME_BYTES`); a larger one
            ends the connection (``frame_too_large`` in the :class:`Disconnected` reason).
        stale_after: the watchdog's silence limit in seconds (``None`` disables it).
        ping_interval: seconds between the client's pings (default ``stale_after / 3``).
        open_timeout: seconds allowed for the upgrade and for each reply to auth/subscribe.
        connect: the connect function (``websockets.asyncio.client.connect``); a test seam.
        sleep, clock, wall_ms: injectable time (monotonic seconds, wall ms).
        trace: a callable receiving one redacted line per frame sent (``-v``).
    """

    def __init__(
        self,
        url: str,
        channels: Iterable[str],
        *,
        jwt: Callable[[bool], Awaitable[str]] | None = None,
        queue: asyncio.Queue[Any] | None = None,
        reconnect_delays: Callable[[], Iterator[float]] = backoff,
        process_exception: Callable[[BaseException], BaseException | None] = process_exception,
        max_reconnects: int | None = None,
        stable_after: float = 10.0,
        stale_after: float | None = 30.0,
        ping_interval: float | None = None,
        open_timeout: float = 10.0,
        connect: Callable[..., Any] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
        compression: str | None = "deflate",
        trace: Callable[[str], None] | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        if max_reconnects is not None and max_reconnects < 0:
            raise ValueError("max_reconnects must be >= 0 or None")
        if stale_after is not None and stale_after <= 0:
            raise ValueError("stale_after must be > 0 or None")
        self.url = url
        self.channels: list[str] = list(dict.fromkeys(channels))
        self.jwt = jwt
        self.queue: asyncio.Queue[Any] = queue if queue is not None else asyncio.Queue()
        self.reconnect_delays = reconnect_delays
        self.process_exception = process_exception
        self.max_reconnects = max_reconnects
        self.stable_after = stable_after
        self.stale_after = stale_after
        if ping_interval is None and stale_after is not None:
            ping_interval = max(stale_after / 3, 0.001)
        self.ping_interval = ping_interval
        self.open_timeout = open_timeout
        self._connect = connect
        self.sleep = sleep
        self.clock = clock
        self.wall_ms = wall_ms
        self.compression = compression
        self.trace = trace
        self.max_frame_bytes = max_frame_bytes
        #: counters over all connections (``-v``)
        self.stats: dict[str, int] = {
            "connections": 0,
            "reconnects": 0,
            "stale": 0,
            "notifications": 0,
            "invalid": 0,
            "unknown": 0,
            "rpc_errors": 0,
            "frames_too_large": 0,
        }
        self._stopping = False
        self._ws: Any = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._proto: RpcProtocol | None = None
        self._last_activity = 0.0
        self._refresh_jwt = False
        self._auth_failures = 0

    # -- public API --------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, reconnect per the policy, and put events on :attr:`queue` until stopped.

        Always ends by putting one :class:`Closed`; never raises (except on cancellation).
        """
        error: BaseException | None = None
        delays: Iterator[float] | None = None
        in_a_row = 0  # reconnects since the last stable connection
        attempt = 0  # reconnects in total
        try:
            while not self._stopping:
                opened_at: float | None = None
                reason = ""
                try:
                    opened_at = await self._session(attempt)
                    reason = "stale connection dropped" if self._stale else "closed by the server"
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:
                    opened_at = getattr(exc, "_opened_at", None)
                    reason = "stale: " + _describe(exc) if self._stale else _describe(exc)
                    if isinstance(exc, AuthRejected) and self._auth_failures >= 2:
                        verdict: BaseException | None = exc  # a fresh JWT was refused too
                    else:
                        verdict = self.process_exception(exc)
                    if verdict is not None and not self._stopping:
                        self._put(Disconnected(reason, _close_code(exc), self.wall_ms()))
                        error = verdict
                        break
                if self._stopping:
                    break
                code = self._last_close_code
                if self._too_large:
                    self.stats["frames_too_large"] += 1
                    reason = f"frame_too_large size_limit={self.max_frame_bytes}"
                    code = 1009
                self._put(Disconnected(reason, code, self.wall_ms()))
                stable = (self._productive and not self._too_large) or (
                    opened_at is not None and self.clock() - opened_at >= self.stable_after
                )
                if stable or delays is None:
                    if stable:
                        in_a_row = 0
                    delays = self.reconnect_delays()
                if self.max_reconnects is not None and in_a_row >= self.max_reconnects:
                    error = _GaveUp(in_a_row, reason)
                    break
                in_a_row += 1
                attempt += 1
                self.stats["reconnects"] += 1
                delay = next(delays)
                self._put(Reconnecting(attempt, delay, reason, self.wall_ms()))
                await self.sleep(delay)
        finally:
            closer = self._closer
            if closer is not None:  # the close that stop() started: the socket is released
                with contextlib.suppress(BaseException):
                    await closer
            self._put(Closed(error, self.wall_ms()))

    def stop(self) -> None:
        """Ask :meth:`run` to end: the current connection is closed, no reconnect follows.

        A caller that cannot wait for the close handshake may cancel the task running
        :meth:`run` instead; a :class:`Closed` is put on the queue either way.
        """
        self._stopping = True
        ws = self._ws
        if ws is not None and self._closer is None:
            self._closer = asyncio.ensure_future(_close_quietly(ws))

    _closer: asyncio.Future[None] | None = None

    async def subscribe(self, channel: str) -> None:
        """Subscribe now (if connected) and on every later connection."""
        if channel in self.channels:
            return
        self.channels.append(channel)
        if self._ws is not None and self._proto is not None:
            await self._call("subscribe", {"channel": channel}, SubscribeRejected)

    async def unsubscribe(self, channel: str) -> None:
        """Unsubscribe now (if connected) and stop restoring it."""
        if channel not in self.channels:
            return
        self.channels.remove(channel)
        if self._ws is not None and self._proto is not None:
            await self._call("unsubscribe", {"channel": channel}, RpcFailure)

    def counters(self) -> dict[str, int]:
        return dict(self.stats)

    # -- one connection ----------------------------------------------------------------------

    _last_close_code: int | None = None

    def _put(self, event: Any) -> None:
        self.queue.put_nowait(event)

    def _trace(self, line: str) -> None:
        if self.trace is not None:
            self.trace(line)

    async def _open(self) -> Any:
        connect = self._connect
        if connect is None:
            from websockets.asyncio.client import connect as ws_connect

            connect = ws_connect
        from paradexctl import __version__

        return await connect(
            self.url,
            open_timeout=self.open_timeout,
            ping_interval=None,  # the watchdog pings, so pongs count as activity
            compression=self.compression,
            user_agent_header=f"paradexctl/{__version__}",
            max_queue=256,
            max_size=self.max_frame_bytes,
        )

    async def _session(self, attempt: int) -> float | None:
        """One connection from upgrade to close. Returns when it closed; raises on failure."""
        self._last_close_code = None
        self._stale = False
        self._subscribing = None
        self._subscribed = self._productive = self._too_large = False
        self._trace(f"ws> connect {self.url} (attempt {attempt})")
        ws = await self._open()
        opened_at = self.clock()
        if self._stopping:  # stop() came while connecting: nothing else to do on it
            await _close_quietly(ws)
            return opened_at
        self._ws = ws
        self._proto = proto = RpcProtocol()
        self._last_activity = opened_at
        self.stats["connections"] += 1
        reader = asyncio.ensure_future(self._reader(ws, proto))
        watchdog = asyncio.ensure_future(self._watchdog(ws)) if self.stale_after else None
        try:
            node_id: str | None = None
            if self.jwt is not None:
                token = await self.jwt(self._refresh_jwt)
                try:
                    result = await self._call("auth", {"bearer": token}, AuthRejected)
                except AuthRejected:
                    self._refresh_jwt = True
                    self._auth_failures += 1
                    raise
                self._refresh_jwt = False
                self._auth_failures = 0
                if isinstance(result, dict) and isinstance(result.get("node_id"), str):
                    node_id = result["node_id"]
            self._put(Connected(attempt, self.url, node_id, self.wall_ms()))
            if self.channels:
                # The reader puts Subscribed when the last reply arrives, so that it precedes
                # the notifications read after it.
                self._subscribing = (tuple(self.channels), attempt)
                await asyncio.gather(
                    *(
                        self._call("subscribe", {"channel": c}, SubscribeRejected)
                        for c in list(self.channels)
                    )
                )
            else:
                self._subscribed = True
                self._put(Subscribed((), attempt, self.wall_ms()))
            await reader
            return opened_at
        except BaseException as exc:
            with contextlib.suppress(Exception):
                exc._opened_at = opened_at  # type: ignore[attr-defined]
            raise
        finally:
            self._ws = None
            self._proto = None
            if watchdog is not None:
                watchdog.cancel()
            if not reader.done():
                reader.cancel()
            await _close_quietly(ws)
            with contextlib.suppress(BaseException):
                await reader
            if watchdog is not None:
                with contextlib.suppress(BaseException):
                    await watchdog
            self._last_close_code = _ws_close_code(ws)
            self._too_large = _ws_close_code(ws, sent=True) == 1009  # MESSAGE_TOO_BIG
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))
                    fut.exception()  # mark retrieved
            self._pending.clear()

    async def _call(
        self, method: str, params: Mapping[str, Any], error_cls: type[RpcFailure]
    ) -> Any:
        ws, proto = self._ws, self._proto
        if ws is None or proto is None:
            raise ConnectionError("not connected")
        rid, frame = proto.request(method, params)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        if method == "auth":
            self._trace(f"ws> {{auth id={rid} bearer=***}}")
        else:
            self._trace(f"ws> {frame}")
        await ws.send(frame)
        try:
            async with asyncio.timeout(self.open_timeout):
                event = await fut
        except TimeoutError:
            raise RequestTimeout(f"{method}: no reply within {self.open_timeout} s") from None
        finally:
            self._pending.pop(rid, None)
        if isinstance(event, RpcError):
            raise error_cls(method, event.code, event.message, event.data)
        return event.result

    async def _reader(self, ws: Any, proto: RpcProtocol) -> None:
        put = self.queue.put_nowait
        stats = self.stats
        clock = self.clock
        wall_ms = self.wall_ms
        trace = self.trace
        try:
            await self._read_frames(ws, proto, put, stats, clock, wall_ms, trace)
        except BaseException as exc:
            why = ConnectionError(f"connection closed: {_describe(exc)}")
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(why)
            raise
        why = ConnectionError("connection closed")
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(why)

    async def _read_frames(
        self,
        ws: Any,
        proto: RpcProtocol,
        put: Callable[[Any], None],
        stats: dict[str, int],
        clock: Callable[[], float],
        wall_ms: Callable[[], int],
        trace: Callable[[str], None] | None,
    ) -> None:
        async for frame in ws:
            self._last_activity = clock()
            ev = proto.receive(frame, wall_ms())
            if type(ev) is Notification:
                stats["notifications"] += 1
                if self._subscribed:
                    self._productive = True  # resets the backoff (see run)
                put(ev)
                continue
            if isinstance(ev, (Reply, RpcError)):
                fut = self._pending.get(ev.id) if type(ev.id) is int else None
                if fut is not None and not fut.done():
                    fut.set_result(ev)
                    if self._subscribing is not None and ev.method == "subscribe":
                        self._subscribe_replied(ev, proto)
                    continue
                stats["rpc_errors"] += isinstance(ev, RpcError)
                if trace is not None:
                    trace(f"ws< unexpected {_excerpt(str(ev), 200)}")
                put(ev)
            elif isinstance(ev, Invalid):
                stats["invalid"] += 1
                if trace is not None:
                    trace(f"ws< invalid frame ({ev.reason}): {ev.excerpt}")
                put(ev)
            else:
                stats["unknown"] += 1
                if trace is not None:
                    raw = json.dumps(getattr(ev, "message", None), default=str)
                    trace(f"ws< unknown frame: {_excerpt(raw)}")
                put(ev)

    _subscribing: tuple[tuple[str, ...], int] | None = None

    def _subscribe_replied(self, ev: Reply | RpcError, proto: RpcProtocol) -> None:
        assert self._subscribing is not None
        if isinstance(ev, RpcError):
            self._subscribing = None  # the session raises SubscribeRejected
            return
        if "subscribe" not in proto.pending.values():
            channels, attempt = self._subscribing
            self._subscribing = None
            self._subscribed = True
            self._put(Subscribed(channels, attempt, self.wall_ms()))

    async def _watchdog(self, ws: Any) -> None:
        assert self.stale_after is not None
        interval = self.ping_interval or self.stale_after
        next_ping = self.clock() + interval
        while True:
            now = self.clock()
            silent = now - self._last_activity
            if silent >= self.stale_after and self.queue.qsize() == 0:
                self.stats["stale"] += 1
                self._put(Stale(silent, self.wall_ms()))
                self._stale = True
                await _close_quietly(ws, abort=True)
                return
            if now >= next_ping:
                next_ping = now + interval
                with contextlib.suppress(Exception):
                    pong = await ws.ping()
                    pong.add_done_callback(self._on_pong)
            wake = min(next_ping, self._last_activity + self.stale_after)
            await self.sleep(max(wake - self.clock(), 0.0005))

    def _on_pong(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._last_activity = self.clock()

    _stale = False
    #: this connection: Subscribed was put / a notification followed it / it ended with a
    #: frame over ``max_frame_bytes``
    _subscribed = False
    _productive = False
    _too_large = False


class _GaveUp(WsError):
    def __init__(self, reconnects: int, last: str) -> None:
        super().__init__(
            f"WebSocket unavailable: gave up after {reconnects} reconnect(s) (last: {last})"
        )
        self.reconnects = reconnects
        self.last = last


async def _close_quietly(ws: Any, *, abort: bool = False) -> None:
    """Close ``ws`` (handshake, at most 2 s) or abort it; the socket is released either way,
    also when this is cancelled half-way.

    A transport that is only *closing* (a close that waits to flush, or a handshake cut
    short) is aborted too, and the loop is given one turn to run the connection-lost
    callback that closes the socket: a socket left to the garbage collector is a leak
    (and a ``ResourceWarning`` in whatever runs when it is collected).
    """
    try:
        if not abort:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
    finally:
        transport = getattr(ws, "transport", None)
        if transport is not None:
            transport.abort()  # a no-op once the connection is lost
            with contextlib.suppress(BaseException):
                await asyncio.sleep(0)


def _ws_close_code(ws: Any, *, sent: bool = False) -> int | None:
    """The close code received from the server (``sent``: the one the client sent)."""
    try:
        frame = ws.protocol.close_sent if sent else ws.protocol.close_rcvd
        return int(frame.code) if frame is not None else None
    except Exception:
        return None


def _close_code(exc: BaseException) -> int | None:
    rcvd = getattr(exc, "rcvd", None)
    code = getattr(rcvd, "code", None)
    return int(code) if isinstance(code, int) else None


def _describe(exc: BaseException) -> str:
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    if isinstance(exc, InvalidStatus):
        return f"upgrade refused: HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        code = _close_code(exc)
        return f"connection closed (code {code})" if code is not None else "connection lost"
    if isinstance(exc, StaleConnection):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def to_cli_error(exc: BaseException) -> ParadexctlError:
    """Map a fatal WebSocket error to the CLI's exception (and so its exit code)."""
    if isinstance(exc, ParadexctlError):
        return exc
    if isinstance(exc, RpcFailure):
        return ExchangeRejected(
            f"WebSocket {exc}", code=str(exc.code) if exc.code is not None else None
        )
    from websockets.exceptions import InvalidStatus  # imported when the WebSocket is used

    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return ExchangeRejected(f"WebSocket upgrade refused: HTTP {status}", status=status)
    return ExchangeUnavailable(str(exc) or type(exc).__name__)

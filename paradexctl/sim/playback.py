"""``sim --playback RECORDING``: serve a recording (``stream --record``, ``reconcile --record``)
back to any client.

The recording (``docs/recording.md``) holds the WS notifications and REST answers one client
received. Playback serves them again over the ordinary wire protocol:

* **Order**: a frame recorded after N REST answers is sent once N REST answers have been
  served (at most :data:`REST_WAIT_S` later), so the client sees REST and WS in the recorded
  order at any speed.
* **WebSocket** (any path): JSON-RPC ``auth`` accepts any valid-looking JWT (three
  dot-separated parts; nothing is verified: a recording holds no secrets, so there is no key
  to check against); ``subscribe`` accepts any channel. A connection is sent the recorded
  frames of the channels it subscribed to, in recorded order, each when the playback clock
  reaches its ``received_at``; frames of channels it has not subscribed to are skipped.
* **REST**: ``GET`` of a recorded endpoint (``/orders``, ``/orders/{id}``, ``/positions``,
  ``/balance``, ``/account``, ``/fills``, ...) answers the recorded body "at the nearest
  earlier time": the last answer for the same endpoint and parameters (time parameters such
  as ``start_at`` and paging are ignored) whose ``boundary_at`` is at or before the playback
  clock, and never an earlier one than the number of such requests already answered (so a
  client a little faster than the recorded one still gets its second snapshot second).
  Private paths need ``Authorization: Bearer`` with a valid-looking JWT. An endpoint the
  recording marks ``unavailable`` answers that status. Everything else (``/system/config``,
  ``/markets``, ``/onboarding``, ``/auth``, order entry) is passed to an ordinary sim
  behind, so a client logs in as usual with any key.

The playback clock maps recording time to wall time: it starts when the first WebSocket
subscription arrives, at the recording's ``subscribed`` mark (else its first frame), and runs
at ``speed`` (1 = the recorded timing). ``speed=0`` runs as fast as possible: every frame is
sent as soon as the connection has subscribed to all the recording's channels.

Sans-I/O where it can be: :class:`Recording` (the index and the choice of an answer) takes
times as arguments; :class:`PlaybackApp` is the ASGI adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from paradexctl.core.recording import (  # the recording's own encoder: Decimals keep digits
    Mark,
    Meta,
    RestSnapshot,
    WsFrame,
    _dumps,
    read_records,
)
from paradexctl.errors import UsageError

from .common import _err
from .limits import Limits, decode_json

__all__ = ["PATHS", "PlaybackApp", "Recording"]

#: the nesting a client frame may have (the sim's own limit)
_MAX_DEPTH = Limits().max_json_depth

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

#: recorded REST endpoint -> its path under ``/v1`` (``order`` is ``/orders/{order_id}``)
PATHS: dict[str, str] = {
    "orders": "/orders",
    "orders-history": "/orders-history",
    "positions": "/positions",
    "balance": "/balance",
    "account": "/account",
    "fills": "/fills",
    "tradebusts": "/tradebusts",
    "transfers": "/transfers",
    "funding_payments": "/funding/payments",
}
#: longest a frame waits for the REST answers recorded before it (seconds)
REST_WAIT_S = 2.0
#: a frame recorded after a REST answer goes at least this long after that answer was served:
#: the answer has left the server, but the client may not have taken it in yet (its HTTP
#: client still reading, its task not yet run), and a frame that overtook it would reach the
#: client's output first, unlike in the recorded run
REST_SETTLE_S = 0.2
_BY_PATH = {path: endpoint for endpoint, path in PATHS.items()}
#: query parameters that do not select an answer (times differ between runs; paging is one page)
_IGNORED_PARAMS = frozenset({"start_at", "end_at", "cursor", "page_size", "limit", "order_id"})


def _key(endpoint: str, params: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    items = params.items() if isinstance(params, dict) else ()
    kept = sorted((str(k), str(v)) for k, v in items if k not in _IGNORED_PARAMS)
    if endpoint == "order" and isinstance(params, dict):
        kept = [("order_id", str(params.get("order_id")))]
    return endpoint, tuple(kept)


def _valid_looking_jwt(token: object) -> bool:
    return isinstance(token, str) and token.count(".") == 2 and all(token.split("."))


@dataclass
class Recording:
    """A parsed recording indexed for playback, and the playback's counters."""

    frames: list[WsFrame]
    #: per frame: how many REST answers precede it in the recording
    rest_before: list[int]
    answers: dict[tuple[str, tuple[tuple[str, str], ...]], list[RestSnapshot]]
    unavailable: dict[str, int]
    channels: frozenset[str]
    start_ms: int
    served: dict[tuple[str, tuple[tuple[str, str], ...]], int] = field(default_factory=dict)

    @classmethod
    def from_lines(cls, lines: Iterable[str | bytes]) -> Recording:
        frames: list[WsFrame] = []
        rest_before: list[int] = []
        rest_seen = 0
        answers: dict[tuple[str, tuple[tuple[str, str], ...]], list[RestSnapshot]] = {}
        unavailable: dict[str, int] = {}
        meta_channels: list[str] = []
        subscribed: int | None = None
        started: int | None = None
        for rec in read_records(lines):
            if isinstance(rec, WsFrame):
                frames.append(rec)
                rest_before.append(rest_seen)
            elif isinstance(rec, RestSnapshot):
                rest_seen += 1
                answers.setdefault(_key(rec.endpoint, rec.params), []).append(rec)
            elif isinstance(rec, Meta):
                chans = rec.fields.get("channels")
                if isinstance(chans, list):
                    meta_channels = [c for c in chans if isinstance(c, str)]
                at = rec.fields.get("started_at")
                started = at if isinstance(at, int) else started
            elif isinstance(rec, Mark):
                at = rec.fields.get("at")
                if rec.name == "subscribed" and subscribed is None and isinstance(at, int):
                    subscribed = at
                status = rec.fields.get("status")
                endpoint = rec.fields.get("endpoint")
                if rec.name == "unavailable" and isinstance(endpoint, str):
                    unavailable[endpoint] = status if isinstance(status, int) else 404
        for snaps in answers.values():
            snaps.sort(key=lambda s: s.boundary_at)
        start = subscribed
        if start is None:
            start = frames[0].received_at if frames else (started or 0)
        channels = frozenset(meta_channels) or frozenset(f.channel for f in frames)
        return cls(frames, rest_before, answers, unavailable, channels, start)

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Read ``path``; :class:`UsageError` (exit 2) if it cannot be read or parsed."""
        from paradexctl.core.recording import RecordingError

        try:
            with open(path, "rb") as f:
                return cls.from_lines(f)
        except OSError as err:
            raise UsageError(f"--playback {path}: {err.strerror or err}") from None
        except RecordingError as err:
            raise UsageError(f"--playback {path}: {err}") from None

    def answer(self, endpoint: str, params: dict[str, Any], rec_now: int) -> RestSnapshot | None:
        """The recorded answer for a request at recording time ``rec_now``, or None."""
        key = _key(endpoint, params)
        snaps = self.answers.get(key)
        if not snaps:
            return None
        by_time = -1
        for i, snap in enumerate(snaps):
            if snap.boundary_at <= rec_now:
                by_time = i
        n = self.served.get(key, 0)
        self.served[key] = n + 1
        return snaps[min(max(by_time, n), len(snaps) - 1)]


class PlaybackApp:
    """The ASGI app of a playback sim: recorded answers, the rest passed to ``fallback``.

    Args:
        recording: the parsed recording.
        fallback: the ordinary sim's ASGI app (login, onboarding, public data, order entry).
        speed: recorded time runs this many times faster than wall time; 0: as fast as
            possible.
        monotonic: the wall clock (seconds), injectable.
    """

    def __init__(
        self,
        recording: Recording,
        fallback: ASGIApp,
        *,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed >= 0:
            raise UsageError("--speed must be 0 (as fast as possible) or positive")
        self.recording = recording
        self.fallback = fallback
        self.speed = speed
        self.monotonic = monotonic
        self.started: float | None = None
        self.frames_sent = 0
        #: REST answers served (a frame recorded after N of them waits for N: :meth:`_after_rest`)
        self.rest_served = 0
        #: when each REST answer was served (monotonic): a frame recorded after the n-th goes
        #: :data:`REST_SETTLE_S` after it at the earliest
        self._served_at: list[float] = []
        self._rest_event = asyncio.Event()
        #: recording time of the last frame sent (a later connection starts after it)
        self.last_sent_ms: int | None = None

    # -- the clock ------------------------------------------------------------------------

    def rec_now(self) -> int:
        """The recording time now (its start until the first subscription)."""
        start = self.recording.start_ms
        if self.started is None:
            return start
        if self.speed == 0:
            return 2**62
        return start + int((self.monotonic() - self.started) * 1000 * self.speed)

    async def _until(self, rec_ms: int) -> None:
        while self.speed > 0 and self.started is not None and self.rec_now() < rec_ms:
            left = (rec_ms - self.rec_now()) / 1000 / self.speed
            await asyncio.sleep(max(left, 0.001))

    async def _after_rest(self, n: int) -> None:
        """Until ``n`` REST answers have been served (at most :data:`REST_WAIT_S`, for a
        client that makes no such request), so a frame recorded after a REST answer reaches
        the client after it, as it did when recorded."""
        if n <= 0:
            return
        deadline = self.monotonic() + REST_WAIT_S
        while self.rest_served < n and self.monotonic() < deadline:
            self._rest_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rest_event.wait(), deadline - self.monotonic())
        if self.rest_served >= n:  # the n-th answer has been sent, maybe not yet taken in
            left = self._served_at[n - 1] + REST_SETTLE_S - self.monotonic()
            if left > 0:
                await asyncio.sleep(left)

    # -- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive, send))
            return
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            response = self._rest(Request(scope, receive))
            if response is not None:
                await response(scope, receive, send)
                self.rest_served += 1
                self._served_at.append(self.monotonic())
                self._rest_event.set()
                return
        await self.fallback(scope, receive, send)

    # -- REST -----------------------------------------------------------------------------

    def _rest(self, request: Request) -> Response | None:
        path = request.url.path
        if path.startswith("/v1"):
            path = path[3:]
        params: dict[str, Any] = dict(request.query_params)
        endpoint = _BY_PATH.get(path)
        if endpoint is None and path.startswith("/orders/") and path.count("/") == 2:
            endpoint = "order"
            params = {"order_id": path.rsplit("/", 1)[1]}
        if endpoint is None:
            return None
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not _valid_looking_jwt(auth[7:]):
            return _err("INVALID_TOKEN", "invalid bearer jwt", 401)
        if endpoint in self.recording.unavailable:
            status = self.recording.unavailable[endpoint]
            return _err("NOT_FOUND", "not recorded", status)
        snap = self.recording.answer(endpoint, params, self.rec_now())
        if snap is None:
            return None  # never recorded: the ordinary sim answers
        if endpoint == "order" and snap.data is None:
            return _err("ORDER_ID_NOT_FOUND", "order not found", 404)
        data = snap.data
        if (
            isinstance(data, dict)
            and "results" in data
            and endpoint in ("fills", "transfers", "funding_payments")
        ):
            data = {**data, "next": None, "prev": None}  # the recorded pages, as one page
        return _json(data, 200)

    # -- WebSocket ------------------------------------------------------------------------

    async def _websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        subs: set[str] = set()
        ready = asyncio.Event()
        lock = asyncio.Lock()
        sender: asyncio.Task[None] | None = None

        async def send(msg: dict[str, Any]) -> None:
            async with lock:
                await ws.send_text(_dumps(msg))

        async def play(from_ms: int) -> None:
            if self.speed == 0:
                await ready.wait()
            for frame, rest_before in zip(
                self.recording.frames, self.recording.rest_before, strict=True
            ):
                if frame.received_at < from_ms:
                    continue
                await self._until(frame.received_at)
                await self._after_rest(rest_before)
                if frame.channel in subs:
                    await send({"jsonrpc": "2.0", "method": "subscription",
                                "params": {"channel": frame.channel, "data": frame.data}})  # fmt: skip
                    self.frames_sent += 1
                    self.last_sent_ms = frame.received_at

        try:
            while True:
                text = await ws.receive_text()
                try:
                    req = decode_json(text, _MAX_DEPTH)
                except ValueError:
                    await send({"jsonrpc": "2.0", "id": None,
                                "error": {"code": -32700, "message": "parse error"}})  # fmt: skip
                    continue
                if not isinstance(req, dict):
                    continue
                rid, method, params = req.get("id"), req.get("method"), req.get("params")
                params = params if isinstance(params, dict) else {}
                if method == "auth":
                    if _valid_looking_jwt(params.get("bearer")):
                        await send({"jsonrpc": "2.0", "id": rid,
                                    "result": {"node_id": "paradexctl-sim-playback"}})  # fmt: skip
                    else:
                        await send({"jsonrpc": "2.0", "id": rid,
                                    "error": {"code": 40110,
                                              "message": "Malformed Bearer Token"}})  # fmt: skip
                elif method in ("subscribe", "unsubscribe") and isinstance(
                    params.get("channel"), str
                ):
                    channel = params["channel"]
                    (subs.add if method == "subscribe" else subs.discard)(channel)
                    await send({"jsonrpc": "2.0", "id": rid, "result": {"channel": channel}})
                    if method == "subscribe":
                        if self.started is None:
                            self.started = self.monotonic()
                        if sender is None:
                            first = self.last_sent_ms is None
                            at = self.recording.start_ms if first else self.rec_now()
                            if self.speed == 0 and self.last_sent_ms is not None:
                                at = self.last_sent_ms + 1
                            sender = asyncio.create_task(play(at))
                        if self.recording.channels <= subs:
                            ready.set()
                else:
                    await send({"jsonrpc": "2.0", "id": rid,
                                "error": {"code": -32601, "message": "method does not exist"}})  # fmt: skip
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender


def _json(body: Any, status: int) -> Response:
    return Response(
        _dumps({"_": body})[5:-1],
        status_code=status,
        media_type="application/json",
    )

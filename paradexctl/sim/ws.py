"""The WebSocket endpoint and its JSON-RPC methods (auth, subscribe, orders); the hub that
publishes to the connections is :mod:`.hub`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from .auth import JwtError
from .common import (
    MAX_BATCH,
    RouteSpec,
    _err,
    _log,
)
from .core import SimCore
from .exchange import (
    CLOSED,
    Rejected,
)
from .hub import PRIVATE_EXACT, Conn
from .limits import JsonTooDeep


class WsRoutes(SimCore):
    """The WebSocket endpoint and its JSON-RPC methods (a :class:`SimApp` mixin)."""

    def _channel_ok(self, channel: str) -> tuple[bool, bool]:
        """(valid?, private?) for a channel name."""
        markets = self.engine.markets
        if channel in PRIVATE_EXACT:
            return True, True
        for prefix, private, allow_all in (
            ("orders.", True, True),
            ("fills.", True, True),
            ("bbo.", False, True),
            ("trades.", False, True),
        ):
            if channel.startswith(prefix):
                rest = channel[len(prefix) :]
                return (rest in markets or (allow_all and rest == "ALL")), private
        return False, False

    async def ws_endpoint(self, websocket: WebSocket) -> None:
        if self.faults.refusing(self.clock.now_ms()):
            try:
                await websocket.send_denial_response(
                    _err("SERVICE_UNAVAILABLE", "connections refused (injected fault)", 503)
                )
            except RuntimeError:
                await websocket.close(1013)
                return
            # The 503 has been sent and the socket closed. uvicorn's websockets-sansio
            # protocol does not count a denial response as a finished handshake and would log
            # "ASGI callable returned without completing handshake" for every refusal: tell it
            # the handshake is over (its bound ``receive`` leads to the protocol object).
            proto: Any = getattr(websocket._receive, "__self__", None)
            if getattr(proto, "initial_response", None) is not None and getattr(
                proto, "close_sent", False
            ):
                proto.handshake_complete = True
            return
        await websocket.accept()
        conn = Conn(websocket)
        self.hub.conns.add(conn)
        sender = asyncio.create_task(conn.sender())
        try:
            while True:
                msg = await websocket.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                text = msg.get("text")
                if text is None:
                    raw = msg.get("bytes") or b""
                    text = raw.decode("utf-8", "replace")
                await self._ws_safe_handle(conn, text)
        except Exception:  # connection errors end the session
            pass
        finally:
            conn.closed = True
            conn.end_silence()
            self.hub.remove(conn)
            if conn.cancel_on_disconnect and conn.account in self.engine.accounts:
                self._cancel_placed(conn)
            conn.queue.put_nowait(None)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            if websocket.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close()

    async def _ws_reply(
        self, conn: Conn, req_id: Any, result: Any = None, error: Any = None
    ) -> None:
        us_in = self.clock.now_us()
        msg: dict[str, Any] = {"jsonrpc": "2.0"}
        if error is not None:
            msg["error"] = error
        else:
            msg["result"] = result if result is not None else {}
        us_out = self.clock.now_us()
        msg.update({"usIn": us_in, "usOut": us_out, "usDiff": us_out - us_in, "id": req_id})
        await conn.send(json.dumps(msg, separators=(",", ":")))

    async def _ws_safe_handle(self, conn: Conn, text: str) -> None:
        """:meth:`_ws_handle`, answering an unexpected exception with JSON-RPC ``-32603``
        (logged) instead of ending the connection."""
        try:
            await self._ws_handle(conn, text)
        except Exception:
            _log.exception("WebSocket request failed: %.200s", text)
            rid: Any = None
            with contextlib.suppress(ValueError, AttributeError):
                req = self.decode(text)
                rid = req.get("id") if isinstance(req, dict) else None
            await self._ws_reply(conn, rid, error={"code": -32603, "message": "internal error"})

    async def _ws_handle(self, conn: Conn, text: str) -> None:
        try:
            req = self.decode(text)
        except JsonTooDeep as err:
            await self._ws_reply(
                conn, None, error={"code": -32600, "message": "invalid request", "data": str(err)}
            )
            return
        except ValueError:
            await self._ws_reply(conn, None, error={"code": -32700, "message": "parse error"})
            return
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            rid = req.get("id") if isinstance(req, dict) else None
            await self._ws_reply(conn, rid, error={"code": -32600, "message": "invalid request"})
            return
        rid = req.get("id")
        method = req["method"]
        params = req.get("params")
        if method == "auth":
            token = params.get("bearer") if isinstance(params, dict) else None
            if not isinstance(token, str) or token.count(".") != 2:
                await self._ws_reply(
                    conn, rid, error={"code": 40110, "message": "Malformed Bearer Token"}
                )
                return
            try:
                claims = self.jwt.verify(token, self.clock.now_ms())
            except JwtError as err:
                await self._ws_reply(
                    conn, rid,
                    error={"code": 40111, "message": "Invalid Bearer Token", "data": str(err)},
                )  # fmt: skip
                return
            ident = self._identity(claims)
            if ident is None:
                await self._ws_reply(
                    conn, rid, error={"code": 40111, "message": "Invalid Bearer Token"}
                )
                return
            sub, conn.subkey = ident
            conn.read_only = self.read_only(claims)
            if conn.account is not None and conn.account != sub:
                for ch in list(conn.subs):  # private subscriptions belonged to the old account
                    if self._channel_ok(ch)[1]:
                        self.hub.unsubscribe(conn, ch)
            conn.account = sub
            await self._ws_reply(conn, rid, {"node_id": "paradexctl-sim"})
            return
        if method in ("subscribe", "unsubscribe"):
            channel = params.get("channel") if isinstance(params, dict) else None
            if not isinstance(channel, str):
                await self._ws_reply(
                    conn, rid,
                    error={"code": -32602, "message": "invalid params", "data": "channel is required"},
                )  # fmt: skip
                return
            ok, private = self._channel_ok(channel)
            if method == "unsubscribe":
                if channel not in conn.subs:
                    await self._ws_reply(
                        conn, rid,
                        error={"code": -32600, "message": "invalid unsubscribe request",
                               "data": "not subscribed to channel"},
                    )  # fmt: skip
                    return
                self.hub.unsubscribe(conn, channel)
                await self._ws_reply(conn, rid, {"channel": channel})
                return
            if not ok:
                await self._ws_reply(
                    conn, rid,
                    error={"code": -32600, "message": "invalid subscribe request",
                           "data": "invalid channel"},
                )  # fmt: skip
                return
            if private and conn.account is None:
                await self._ws_reply(
                    conn, rid,
                    error={"code": 40300, "message": "permission denied, authentication required"},
                )  # fmt: skip
                return
            if channel in conn.subs:
                await self._ws_reply(
                    conn, rid,
                    error={"code": -32600, "message": "invalid subscribe request",
                           "data": "already subscribed to channel"},
                )  # fmt: skip
                return
            self.hub.subscribe(conn, channel, private)
            await self._ws_reply(conn, rid, {"channel": channel})
            return
        if method.startswith("order."):
            await self._ws_order(conn, rid, method, params)
            return
        await self._ws_reply(conn, rid, error={"code": -32601, "message": "method does not exist"})

    def _cancel_placed(self, conn: Conn) -> None:
        assert conn.account is not None
        now = self.clock.now_ms()
        for oid in sorted(conn.placed):
            o = self.engine.orders.get(oid)
            if o is not None and o.status != CLOSED:
                self.commit(self.engine.cancel_order(conn.account, oid, now))

    async def _ws_place(self, conn: Conn, body: Any) -> dict[str, Any]:
        """One order.create: the result object, or raises :class:`Rejected`."""
        assert conn.account is not None
        received_ns = self.clock.now_ns()
        req, sig, _ = self._parse_order(body)
        self.engine.validate(conn.account, req, self.clock.now_ms())
        await self._check_order_signature(conn.account, req, sig, subkey=conn.subkey)
        accepted, events = self.engine.place_order(conn.account, req, self.clock.now_ms())
        conn.placed.add(accepted["id"])
        self.commit(events)
        return {"order": accepted, "created_at": accepted["created_at"], "received_at": received_ns}

    async def _ws_order(self, conn: Conn, rid: Any, method: str, params: Any) -> None:
        """``order.*`` methods (``paradex-api.md`` §5.8); errors are code 100 with the
        Paradex error code in ``data``."""
        if conn.account is None or conn.account not in self.engine.accounts:
            await self._ws_reply(
                conn, rid,
                error={"code": 40300, "message": "permission denied, authentication required"},
            )  # fmt: skip
            return
        if conn.read_only:
            await self._ws_reply(
                conn, rid,
                error={"code": 40300, "message": "permission denied, a read-only token cannot trade"},
            )  # fmt: skip
            return
        sk = None if conn.subkey is None else self.engine.subkeys.get(conn.subkey)
        if conn.subkey is not None and (sk is None or sk.account != conn.account):
            await self._ws_reply(
                conn, rid,
                error={"code": 40300, "message": "permission denied, the subkey was removed"},
            )  # fmt: skip
            return
        account = conn.account
        now = self.clock.now_ms()
        p = params if isinstance(params, dict) else {}
        try:
            if method == "order.create":
                result = await self._ws_place(conn, params)
                if self.faults.take_accept_then_timeout():
                    return  # placed, but the reply never comes
            elif method == "order.create_batch":
                items = params if isinstance(params, list) else p.get("orders")
                if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
                    raise Rejected(
                        "BATCH_SIZE_OUT_OF_RANGE", f"batch size must be in [1, {MAX_BATCH}]"
                    )
                results: list[dict[str, Any]] = []
                for item in items:
                    try:
                        results.append(await self._ws_place(conn, item))
                    except Rejected as err:
                        results.append({"error": err.message})
                result = {"results": results}
            elif method == "order.modify":
                oid = str(p.get("id", ""))
                req, sig, _ = self._parse_order(p, modify=True)
                if not oid.isdigit():
                    raise Rejected("ORDER_ID_NOT_FOUND", f"order {oid} not found")
                self.engine.get_order(account, oid)
                await self._check_order_signature(
                    account, req, sig, order_id=oid, subkey=conn.subkey
                )
                order, events = self.engine.modify_order(account, oid, req, self.clock.now_ms())
                self.commit(events)
                result = {"order": order}
            elif method == "order.cancel":
                if "id" in p:
                    oid = str(p["id"])
                    self.commit(self.engine.cancel_order(account, oid, now))
                elif "client_id" in p:
                    market = p.get("market")
                    if not isinstance(market, str):
                        raise Rejected("VALIDATION_ERROR", "market is required with client_id")
                    oid = self.engine.find_by_client_id(account, str(p["client_id"])).id
                    self.commit(
                        self.engine.cancel_by_client_id(account, str(p["client_id"]), market, now)
                    )
                else:
                    raise Rejected("VALIDATION_ERROR", "id or client_id is required")
                result = {"order_id": oid, "status": "QUEUED_FOR_CANCELLATION"}
            elif method == "order.cancel_batch":
                ids = p.get("order_ids")
                if not isinstance(ids, list):
                    raise Rejected("VALIDATION_ERROR", "order_ids must be a list")
                rows, events = self.engine.cancel_batch(account, [str(i) for i in ids], [], now)
                self.commit(events)
                result = {
                    "results": [
                        {k: r[k] for k in ("id", "market", "status") if k in r} for r in rows
                    ]
                }
            elif method == "order.cancel_all":
                market = p.get("market")
                self.commit(
                    self.engine.cancel_all(
                        account, market if isinstance(market, str) else None, now
                    )
                )
                result = {"status": "ok"}
            elif method == "order.cancel_on_disconnect":
                enabled = p.get("enabled")
                if not isinstance(enabled, bool):
                    raise Rejected("VALIDATION_ERROR", "enabled must be true or false")
                conn.cancel_on_disconnect = enabled
                result = {"enabled": enabled}
            else:
                await self._ws_reply(
                    conn, rid, error={"code": -32601, "message": "method does not exist"}
                )
                return
        except Rejected as err:
            await self._ws_reply(
                conn, rid, error={"code": 100, "message": err.message, "data": err.code}
            )
            return
        await self._ws_reply(conn, rid, result)


#: the WebSocket: ``/v1``, ``/`` and any other path: ``(path, methods, handler, category)``
ROUTES: list[RouteSpec] = [
    ("/v1", (), WsRoutes.ws_endpoint, "ws"),
    ("/", (), WsRoutes.ws_endpoint, "ws"),
    ("/{path:path}", (), WsRoutes.ws_endpoint, "ws"),
]

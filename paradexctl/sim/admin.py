"""The admin API under ``/_sim``: faults, staleness, clock, marks, fills, deposits, subkeys
(loopback only)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from paradexctl.signing.tables import key_point

from .auth import norm_hex
from .clock import MAX_CLOCK_OFFSET_MS
from .common import (
    SYSTEM_STATES,
    Handler,
    RouteSpec,
    _err,
    _json,
    _log,
    _rejected,
)
from .core import SimCore
from .exchange import (
    Rejected,
    parse_decimal,
)

#: peer addresses and ``Host`` names the admin API accepts
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost")
#: the most updates one ``POST /_sim/ws/emit`` publishes
MAX_EMIT = 10_000_000


class AdminRoutes(SimCore):
    """The ``/_sim`` handlers (a :class:`SimApp` mixin)."""

    def _admin_refusal(self, request: Request) -> str | None:
        """Why an admin request is refused (None: allowed). The peer must be loopback, the
        ``Host`` a loopback name (a page on another name that resolves here, DNS rebinding,
        is refused), and a browser's request (``Origin``, or ``Sec-Fetch-Site`` other than a
        typed address) is refused unless its origin was allowed at start (CSRF)."""
        peer = request.client.host if request.client else ""
        if peer not in LOOPBACK_HOSTS:
            return "the admin API is loopback-only"
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.strip("[]").lower() not in LOOPBACK_HOSTS:
            return "the admin API needs a loopback Host (localhost, 127.0.0.1 or [::1])"
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site", "none")
        browser = origin is not None or site != "none"
        if browser and (origin is None or origin not in self.options.admin_origins):
            return "the admin API refuses browser requests (origin not allowed)"
        return None

    def admin(self, fn: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            why = self._admin_refusal(request)
            if why is not None:
                self.refusals.note("admin request refused")
                return _err("REQUEST_NOT_ALLOWED", why, 403)
            try:
                return await fn(request)
            except Rejected as err:
                return _rejected(err)
            except (ValueError, TypeError, KeyError) as err:
                return _err("VALIDATION_ERROR", str(err), 400)
            except Exception:
                _log.exception("%s %s failed", request.method, request.url.path)
                return _err("INTERNAL_ERROR", "internal server error", 500)

        return wrapped

    async def _admin_body(self, request: Request) -> dict[str, Any]:
        body = await self._body(request)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    async def a_state(self, request: Request) -> Response:
        now = self.clock.now_ms()
        d = self.engine.truth()
        d["faults"] = self.faults.to_json(now)
        d["staleness_ms"] = dict(self.staleness)
        d["clock_offset_ms"] = self.clock.offset_ms
        d["clock"] = self.clock.mode
        d["system_status"] = self.system_status
        d["ws_connections"] = len(self.hub.conns)
        d["ws_sent"] = self.hub.sent
        return _json(d)

    async def a_faults_get(self, request: Request) -> Response:
        return _json(self.faults.to_json(self.clock.now_ms()))

    async def a_faults_post(self, request: Request) -> Response:
        body = await self._admin_body(request)
        now = self.clock.now_ms()
        disconnect = body.pop("disconnect_now", False)
        if not isinstance(disconnect, bool):
            raise ValueError("disconnect_now must be true or false")
        self.update_faults(body, now)
        if disconnect:
            await self.hub.disconnect_all()
        return _json(self.faults.to_json(now))

    async def a_system(self, request: Request) -> Response:
        body = await self._admin_body(request)
        status = body.get("status")
        if status not in SYSTEM_STATES:
            raise ValueError("status must be one of " + ", ".join(SYSTEM_STATES))
        self.system_status = status
        return _json({"status": status})

    async def a_staleness(self, request: Request) -> Response:
        body = await self._admin_body(request)
        self.set_staleness(body)
        return _json(dict(self.staleness))

    async def a_reset(self, request: Request) -> Response:
        await self.hub.disconnect_all(1012)
        self.reset()
        return _json({"status": "ok"})

    async def a_force_fill(self, request: Request) -> Response:
        body = await self._admin_body(request)
        size = body.get("size")
        price = body.get("price")
        self.commit(
            self.engine.force_fill(
                str(body["order_id"]),
                None if size is None else parse_decimal(size, "size"),
                None if price is None else parse_decimal(price, "price"),
                self.clock.now_ms(),
            )
        )
        return _json(self.engine.orders[str(body["order_id"])].to_json())

    async def a_mark_price(self, request: Request) -> Response:
        body = await self._admin_body(request)
        market = str(body["market"])
        self.commit(
            self.engine.set_mark(market, parse_decimal(body["price"], "price"), self.clock.now_ms())
        )
        return _json({"market": market, "mark_price": str(self.engine.mark(market))})

    async def a_mark_walk(self, request: Request) -> Response:
        body = await self._admin_body(request)
        steps = body.get("steps", 1)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 < steps <= 100_000:
            raise ValueError("steps must be an integer in [1, 100000]")
        events = self.engine.walk(steps, self.clock.now_ms())
        self.commit(events)
        return _json(
            {
                "events": len(events),
                "marks": {s: str(self.engine.mark(s)) for s in self.engine.markets},
            }
        )

    async def a_disconnect(self, request: Request) -> Response:
        body = await self._admin_body(request)
        n = await self.hub.disconnect_all(int(body.get("code", 1012)))
        return _json({"disconnected": n})

    async def a_ws_emit(self, request: Request) -> Response:
        """Benchmarks: publish ``count`` WebSocket updates of one order (copies, each 1 ms
        later than the last; the engine and REST are not touched) through the hub, paced so
        a subscriber that reads is not dropped; answers when they are all queued."""
        body = await self._admin_body(request)
        count = body.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_EMIT:
            raise ValueError(f"count must be an integer in [1, {MAX_EMIT}]")
        order_id = str(body["order_id"])
        order = self.engine.orders.get(order_id)
        if order is None:
            raise Rejected("ORDER_ID_NOT_FOUND", f"order {order_id} not found", status=404)
        emitted = await self.hub.emit_order_updates(order.to_json(), count, self.clock.now_ms)
        return _json({"emitted": emitted})

    async def a_time_advance(self, request: Request) -> Response:
        body = await self._admin_body(request)
        ms = body.get("ms")
        room = MAX_CLOCK_OFFSET_MS - self.clock.offset_ms
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= room:
            raise ValueError(
                f"ms must be an integer in [0, {room}]: the clock runs at most "
                f"{MAX_CLOCK_OFFSET_MS // 86_400_000} days ahead (POST /_sim/reset sets it back)"
            )
        await self.advance_by(ms)  # the scenario timeline on the way
        return _json(
            {
                "now_ms": self.clock.now_ms(),
                "offset_ms": self.clock.offset_ms,
                "clock": self.clock.mode,
            }
        )

    async def a_deposit(self, request: Request) -> Response:
        body = await self._admin_body(request)
        addr = norm_hex(str(body["account"]))
        amount = parse_decimal(body["amount"], "amount")
        self.commit(self.engine.deposit(addr, amount, self.clock.now_ms()))
        return _json(self.engine.balance(addr))

    async def a_subkeys_get(self, request: Request) -> Response:
        account = request.query_params.get("account")
        rows = [
            sk.to_json()
            for sk in self.engine.subkeys.values()
            if account is None or sk.account == norm_hex(account)
        ]
        rows.sort(key=lambda d: (d["account"], d["created_at"], d["public_key"]))
        return _json({"results": rows})

    def _admin_public_key(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("public_key must be a hex string")
        try:
            pub = norm_hex(value)
        except ValueError:
            raise ValueError("public_key must be a hex string") from None
        if key_point(int(pub, 16)) is None:
            raise Rejected("PUBLIC_KEY_INVALID", "public_key is not a valid Stark public key")
        return pub

    async def a_subkeys_post(self, request: Request) -> Response:
        """Register a trade-only subkey of an onboarded account (idempotent)."""
        body = await self._admin_body(request)
        if not isinstance(body.get("account"), str):
            raise ValueError("account must be a hex string")
        addr = norm_hex(body["account"])
        pub = self._admin_public_key(body.get("public_key"))
        sk = self.engine.register_subkey(addr, pub, self.clock.now_ms())
        self.dirty = True
        return _json(sk.to_json())

    async def a_subkeys_delete(self, request: Request) -> Response:
        """Remove a subkey: its auth signatures and the JWTs it obtained stop working."""
        pub = self._admin_public_key(request.path_params["public_key"])
        sk = self.engine.remove_subkey(pub)
        self.dirty = True
        return _json(sk.to_json())

    async def a_position_adjust(self, request: Request) -> Response:
        """Fault: change a position's size by ``size_delta`` with no fill (an exchange-side
        adjustment nothing explains: a reconcile ``invariant_position``)."""
        body = await self._admin_body(request)
        addr = norm_hex(str(body["account"]))
        market = str(body["market"])
        delta = parse_decimal(body["size_delta"], "size_delta")
        self.commit(self.engine.adjust_position(addr, market, delta, self.clock.now_ms()))
        self.faults.injected["position_adjusted"] += 1
        eng = self.engine
        return _json(eng.positions[(addr, market)].to_json(eng.markets[market].mark))


#: the admin API (loopback only): ``(path, methods, handler, category)``
ROUTES: list[RouteSpec] = [
    ("/_sim/state", ("GET",), AdminRoutes.a_state, "admin"),
    ("/_sim/faults", ("GET",), AdminRoutes.a_faults_get, "admin"),
    ("/_sim/faults", ("POST",), AdminRoutes.a_faults_post, "admin"),
    ("/_sim/staleness", ("POST",), AdminRoutes.a_staleness, "admin"),
    ("/_sim/system", ("POST",), AdminRoutes.a_system, "admin"),
    ("/_sim/reset", ("POST",), AdminRoutes.a_reset, "admin"),
    ("/_sim/force-fill", ("POST",), AdminRoutes.a_force_fill, "admin"),
    ("/_sim/mark-price", ("POST",), AdminRoutes.a_mark_price, "admin"),
    ("/_sim/mark-walk", ("POST",), AdminRoutes.a_mark_walk, "admin"),
    ("/_sim/disconnect", ("POST",), AdminRoutes.a_disconnect, "admin"),
    ("/_sim/ws/emit", ("POST",), AdminRoutes.a_ws_emit, "admin"),
    ("/_sim/time/advance", ("POST",), AdminRoutes.a_time_advance, "admin"),
    ("/_sim/deposit", ("POST",), AdminRoutes.a_deposit, "admin"),
    ("/_sim/position-adjust", ("POST",), AdminRoutes.a_position_adjust, "admin"),
    ("/_sim/subkeys", ("GET",), AdminRoutes.a_subkeys_get, "admin"),
    ("/_sim/subkeys", ("POST",), AdminRoutes.a_subkeys_post, "admin"),
    ("/_sim/subkeys/{public_key}", ("DELETE",), AdminRoutes.a_subkeys_delete, "admin"),
]

"""The private REST routes (a JWT): account, balance, positions, fills, orders."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.requests import Request
from starlette.responses import Response

from .common import (
    MAX_BATCH,
    RouteSpec,
    _err,
    _json,
    _time_filter,
    paginate,
    system_refusal,
)
from .core import SimCore
from .exchange import (
    CLOSED,
    OPEN_STATUSES,
    Rejected,
)


class PrivateRoutes(SimCore):
    """The private REST handlers (a :class:`SimApp` mixin)."""

    def _check_system(self, instructions: list[str]) -> None:
        """Refuse an order write the system state does not allow (:func:`system_refusal`)."""
        refusal = system_refusal(self.system_status, instructions)
        if refusal is not None:
            raise refusal

    async def r_account(self, request: Request) -> Response:
        a = request.state.account
        d = self.view.latest(self.view.accounts, a, self.cutoff("account"))
        if d is None:
            d = self.engine.account_summary(a)
        return _json(d)

    async def r_account_summary(self, request: Request) -> Response:
        resp = await self.r_account(request)
        return _json({"results": [json.loads(bytes(resp.body))]})

    async def r_account_info(self, request: Request) -> Response:
        a = request.state.account
        acct = self.engine.accounts[a]
        cfg = self.engine.config
        return _json(
            {
                "results": [
                    {
                        "account": a,
                        "created_at": acct.created_at,
                        "derivation_path": "",
                        "fees": {
                            "maker_rate": str(cfg.maker_fee),
                            "taker_rate": str(cfg.taker_fee),
                            # the sim trades perpetuals only, at one rate, with no discount
                            "commission_rate": "0",
                            "discount_rate": "0",
                            "perp_option_maker_rate": None,
                            "perp_option_taker_rate": None,
                            "dated_option_maker_rate": None,
                            "dated_option_taker_rate": None,
                            "spot_maker_rate": None,
                            "spot_taker_rate": None,
                        },
                        "has_ecosystem_nft": False,
                        "volume_tiers": {},
                        "kind": "main",
                        "isolated_market": "",
                        "parent_account": "",
                        "public_key": acct.public_key,
                        "username": "",
                    }
                ]
            }
        )

    async def r_margin_get(self, request: Request) -> Response:
        """``GET /account/margin?market=`` (required): ``GetAccountMarginConfigsResp``."""
        market = request.query_params.get("market")
        if not market:
            raise Rejected("VALIDATION_ERROR", "market is required")
        entry = self.engine.margin_config(request.state.account, market)
        return _json({"account": request.state.account, "margin_methodology": "cross_margin",
                      "configs": [entry]})  # fmt: skip

    async def r_margin_post(self, request: Request) -> Response:
        """``POST /account/margin/{market} {leverage, margin_type}``:
        ``UpdateAccountMarginConfigResp``. The margin is then computed with the chosen
        leverage (cross margin in any case: isolated margin is not emulated)."""
        body = await self._body(request)
        if not isinstance(body, dict):
            raise Rejected("VALIDATION_ERROR", "body must be {leverage, margin_type}")
        if body.get("on_behalf_of_account"):
            raise Rejected(
                "VALIDATION_ERROR", "on_behalf_of_account: sub-accounts are not emulated"
            )
        a, market = request.state.account, request.path_params["market"]
        self.engine.set_margin(a, market, body.get("leverage"), body.get("margin_type"))
        self.dirty = True  # no engine event: --state saves it all the same
        entry = self.engine.margin_config(a, market)
        return _json({"account": a, "market": market, "leverage": entry["leverage"],
                      "margin_type": entry["margin_type"]})  # fmt: skip

    async def r_balance(self, request: Request) -> Response:
        d = self.view.latest(self.view.balances, request.state.account, self.cutoff("balance"))
        return _json({"results": [d] if d else []})

    async def r_positions(self, request: Request) -> Response:
        rows = self.view.positions_of(request.state.account, self.cutoff("positions"))
        return _json({"results": rows})

    async def r_fills(self, request: Request) -> Response:
        rows = self.view.fills_of(request.state.account, self.cutoff("fills"))
        market = request.query_params.get("market")
        if market:
            rows = [r for r in rows if r["market"] == market]
        rows = _time_filter(rows, request, "created_at")
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return _json(paginate(rows, request))

    async def r_orders_open(self, request: Request) -> Response:
        rows = self.view.account_orders(request.state.account, self.cutoff("orders"))
        market = request.query_params.get("market")
        rows = [
            r
            for r in rows
            if r["status"] in OPEN_STATUSES and (not market or r["market"] == market)
        ]
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return _json({"results": rows})

    async def r_orders_history(self, request: Request) -> Response:
        rows = self.view.account_orders(request.state.account, self.cutoff("orders-history"))
        q = request.query_params
        status = q.get("status")
        if status and status not in (*OPEN_STATUSES, CLOSED):
            raise Rejected(
                "INVALID_REQUEST_PARAMETER", "status must be NEW, UNTRIGGERED, OPEN or CLOSED"
            )
        for key in ("market", "client_id", "side", "status", "type"):
            if q.get(key):
                rows = [r for r in rows if r[key] == q[key]]
        rows = _time_filter(rows, request, "created_at")
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return _json(paginate(rows, request))

    async def r_order_get(self, request: Request) -> Response:
        oid = request.path_params["order_id"]
        d = self.view.order(request.state.account, oid, self.cutoff("order"))
        if d is None:
            raise Rejected("ORDER_ID_NOT_FOUND", f"order {oid} not found")
        return _json(d)

    async def r_order_by_cid_get(self, request: Request) -> Response:
        cid = request.path_params["client_id"]
        rows = [
            r
            for r in self.view.account_orders(request.state.account, self.cutoff("order"))
            if r["client_id"] == cid
        ]
        if not rows:
            raise Rejected("CLIENT_ORDER_ID_NOT_FOUND", f"client_id {cid!r} not found")
        open_rows = [r for r in rows if r["status"] != CLOSED]
        pick = max(open_rows or rows, key=lambda r: (r["created_at"], r["id"]))
        return _json(pick)

    async def _hold(self, request: Request, deadline_s: float) -> Response:
        """Accept-then-timeout: hold the response until the client disconnects (None) or
        the hold expires (503, as Paradex's own 30 s server timeout)."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and not self.stopping:
            if await request.is_disconnected():
                return Response(b"", 499)
            await asyncio.sleep(0.02)
        return _err("SERVICE_UNAVAILABLE", "request timed out", 503)

    async def r_order_post(self, request: Request) -> Response:
        a = request.state.account
        req, sig, _ = self._parse_order(await self._body(request))
        self._check_system([req.instruction])
        self.engine.validate(a, req, self.clock.now_ms())
        await self._check_order_signature(a, req, sig, subkey=request.state.subkey)
        accepted, events = self.engine.place_order(a, req, self.clock.now_ms())
        self.commit(events)
        if self.faults.take_accept_then_timeout():
            return await self._hold(request, self.faults.config.timeout_hold_s)
        return _json(accepted, 201)

    async def r_orders_batch_post(self, request: Request) -> Response:
        a = request.state.account
        body = await self._body(request)
        if not isinstance(body, list):
            raise Rejected("BINDING_ERROR", "body must be a JSON array of orders")
        if not 1 <= len(body) <= MAX_BATCH:
            raise Rejected("BATCH_SIZE_OUT_OF_RANGE", f"batch size must be in [1, {MAX_BATCH}]")
        parsed = []
        for i, item in enumerate(body):
            try:
                parsed.append(self._parse_order(item))
            except Rejected as err:
                raise Rejected(
                    err.code, err.message, status=err.status, data={"index": i}
                ) from None
        checks = await asyncio.gather(
            *(
                self._check_order_signature(a, req, sig, subkey=request.state.subkey)
                for req, sig, _ in parsed
            ),
            return_exceptions=True,
        )
        for i, outcome in enumerate(checks):
            if isinstance(outcome, Rejected):
                raise Rejected(
                    outcome.code, outcome.message, status=outcome.status, data={"index": i}
                )
            if isinstance(outcome, BaseException):
                raise outcome
        reqs = [req for req, _, _ in parsed]
        self._check_system([req.instruction for req in reqs])
        accepted, events = self.engine.place_batch(a, reqs, self.clock.now_ms())
        self.commit(events)
        if self.faults.take_accept_then_timeout():
            return await self._hold(request, self.faults.config.timeout_hold_s)
        return _json({"orders": accepted, "errors": []}, 201)

    async def r_order_put(self, request: Request) -> Response:
        a = request.state.account
        oid = request.path_params["order_id"]
        body = await self._body(request)
        req, sig, _ = self._parse_order(body, modify=True)
        if isinstance(body, dict) and "id" in body and str(body["id"]) != oid:
            raise Rejected("VALIDATION_ERROR", "body id does not match the path")
        if not oid.isdigit():
            raise Rejected("ORDER_ID_NOT_FOUND", f"order {oid} not found")
        current = self.engine.get_order(a, oid)
        # a modification keeps the order's instruction (the body carries none)
        self._check_system([current.instruction])
        await self._check_order_signature(a, req, sig, order_id=oid, subkey=request.state.subkey)
        order, events = self.engine.modify_order(a, oid, req, self.clock.now_ms())
        self.commit(events)
        return _json(order)

    async def r_order_delete(self, request: Request) -> Response:
        self._check_system([])
        self.commit(
            self.engine.cancel_order(
                request.state.account, request.path_params["order_id"], self.clock.now_ms()
            )
        )
        return Response(status_code=204)

    async def r_order_by_cid_delete(self, request: Request) -> Response:
        self._check_system([])
        market = request.query_params.get("market") or None
        self.commit(
            self.engine.cancel_by_client_id(
                request.state.account,
                request.path_params["client_id"],
                market,
                self.clock.now_ms(),
            )
        )
        return Response(status_code=204)

    async def r_orders_delete_all(self, request: Request) -> Response:
        self._check_system([])
        market = request.query_params.get("market") or None
        self.commit(self.engine.cancel_all(request.state.account, market, self.clock.now_ms()))
        return _json({})

    async def r_orders_batch_delete(self, request: Request) -> Response:
        self._check_system([])
        body = await self._body(request)
        if not isinstance(body, dict):
            raise Rejected("BINDING_ERROR", "body must be {order_ids, client_order_ids}")
        ids = body.get("order_ids") or []
        cids = body.get("client_order_ids") or []
        if not isinstance(ids, list) or not isinstance(cids, list):
            raise Rejected("VALIDATION_ERROR", "order_ids and client_order_ids must be lists")
        if not 1 <= len(ids) + len(cids) <= MAX_BATCH:
            raise Rejected("BATCH_SIZE_OUT_OF_RANGE", f"batch size must be in [1, {MAX_BATCH}]")
        if not all(isinstance(i, str) for i in ids + cids):
            raise Rejected("VALIDATION_ERROR", "order_ids and client_order_ids must be strings")
        results, events = self.engine.cancel_batch(
            request.state.account,
            [str(i) for i in ids],
            [str(c) for c in cids],
            self.clock.now_ms(),
        )
        self.commit(events)
        return _json({"results": results})


#: the private REST routes (a JWT); order writes before the reads, and ``/orders/batch``
#: before ``/orders/{order_id}`` (matched in this order): ``(path, methods, handler, category)``
ROUTES: list[RouteSpec] = [
    ("/v1/orders", ("POST",), PrivateRoutes.r_order_post, "orders"),
    ("/v1/orders", ("DELETE",), PrivateRoutes.r_orders_delete_all, "orders"),
    ("/v1/orders/batch", ("POST",), PrivateRoutes.r_orders_batch_post, "orders"),
    ("/v1/orders/batch", ("DELETE",), PrivateRoutes.r_orders_batch_delete, "orders"),
    (
        "/v1/orders/by_client_id/{client_id}",
        ("DELETE",),
        PrivateRoutes.r_order_by_cid_delete,
        "orders",
    ),
    ("/v1/orders/{order_id}", ("PUT",), PrivateRoutes.r_order_put, "orders"),
    ("/v1/orders/{order_id}", ("DELETE",), PrivateRoutes.r_order_delete, "orders"),
    ("/v1/account", ("GET",), PrivateRoutes.r_account, "private"),
    ("/v1/account/summary", ("GET",), PrivateRoutes.r_account_summary, "private"),
    ("/v1/account/info", ("GET",), PrivateRoutes.r_account_info, "private"),
    ("/v1/account/margin", ("GET",), PrivateRoutes.r_margin_get, "private"),
    ("/v1/account/margin/{market}", ("POST",), PrivateRoutes.r_margin_post, "private"),
    ("/v1/balance", ("GET",), PrivateRoutes.r_balance, "private"),
    ("/v1/positions", ("GET",), PrivateRoutes.r_positions, "private"),
    ("/v1/fills", ("GET",), PrivateRoutes.r_fills, "private"),
    ("/v1/orders-history", ("GET",), PrivateRoutes.r_orders_history, "private"),
    ("/v1/orders", ("GET",), PrivateRoutes.r_orders_open, "private"),
    ("/v1/orders/by_client_id/{client_id}", ("GET",), PrivateRoutes.r_order_by_cid_get, "private"),
    ("/v1/orders/{order_id}", ("GET",), PrivateRoutes.r_order_get, "private"),
]

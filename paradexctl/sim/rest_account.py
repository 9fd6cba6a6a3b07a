"""Account management and the remaining market-data and system reads over REST: the account
profile, sub-accounts, subkeys (``/account/keys/subkeys``), klines, the insurance fund and the
portfolio-margin config. Shapes are the published models' (``AccountProfileResp``,
``GetSubAccountsResponse``, ``Subkey``, ``RevokeSubkeyResponse``, ``InsuranceAccountResp``,
``PortfolioMarginParamsResp``)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .auth import (
    API_TOKEN_KINDS,
    API_TOKEN_MAX_S,
    API_TOKEN_MIN_S,
    ApiToken,
    public_key_param,
)
from .common import RouteSpec, _json, subkey_forbidden
from .core import SimCore
from .exchange import Rejected, Subkey, fmt

#: the kline resolutions Paradex takes, in minutes (``paradex-api.md`` §3)
KLINE_RESOLUTIONS = (1, 3, 5, 15, 30, 60)
#: at most this many candles in one klines answer
MAX_KLINES = 5000
#: the address the insurance fund is reported under (the sim has no liquidations to fund)
INSURANCE_ACCOUNT = "0x1"
#: the longest subkey name taken
MAX_SUBKEY_NAME = 64


class AccountRoutes(SimCore):
    """Account-management and extra public read handlers (a :class:`SimApp` mixin)."""

    def _main_key_only(self, request: Request, what: str) -> None:
        """403 :data:`SUBKEY_FORBIDDEN` for a subkey's JWT on an account-management call."""
        if request.state.subkey is not None:
            raise subkey_forbidden(what)

    async def r_account_profile(self, request: Request) -> Response:
        return _json(
            {
                "username": "",
                "is_username_private": True,
                "referral_code": "",
                "referred_by": "",
                "marketed_by": "",
                "size_currency_display": "BASE",
                "market_max_slippage": {},
                "nfts": [],
                "twitter_following": {},
                "last_seen_notification": 0,
                "ai_agent_url": "",
                "tap_status": "",
                "notifications": {
                    "announcements": False,
                    "fill_sound": False,
                    "fills": False,
                    "orders": False,
                    "transfers": False,
                },
                # no social accounts, referral programme or share rates in the sim
                "discord": None,
                "twitter": None,
                "referral": None,
                "tap_share_rate": None,
                "xp_share_rate": None,
            }
        )

    # -- API tokens (``CreateToken`` -> ``CreateTokenResponse``; all read-only here) ------

    async def r_tokens_post(self, request: Request) -> Response:
        """``POST /account/tokens {"name", "token_type", "expiry_duration"}``: a new token,
        ``{"api_token": ApiToken, "token": JWT}`` (the only time the token is shown)."""
        self._main_key_only(request, "create API tokens")
        body = await self._body(request)
        if not isinstance(body, dict):
            raise Rejected("VALIDATION_ERROR", "body must be {name, token_type, expiry_duration}")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_SUBKEY_NAME:
            raise Rejected("VALIDATION_ERROR", "name is required (a string of 1 to "
                           f"{MAX_SUBKEY_NAME} characters)")  # fmt: skip
        kind = body.get("token_type")
        if kind not in API_TOKEN_KINDS:
            raise Rejected("VALIDATION_ERROR", "token_type must be one of "
                           + ", ".join(API_TOKEN_KINDS))  # fmt: skip
        life = body.get("expiry_duration")
        if isinstance(life, bool) or not isinstance(life, int):
            raise Rejected("VALIDATION_ERROR", "expiry_duration must be an integer (seconds)")
        if not API_TOKEN_MIN_S <= life <= API_TOKEN_MAX_S:
            raise Rejected(
                "VALIDATION_ERROR",
                f"expiry_duration must be in [{API_TOKEN_MIN_S}, {API_TOKEN_MAX_S}] seconds",
            )
        now_ms = self.clock.now_ms()
        tok = ApiToken(  # random ids: a reset never hands out a revoked token's id again
            lookup_id=f"lk-{secrets.token_hex(8)}",
            token_id=f"tok-{secrets.token_hex(8)}",
            account=request.state.account,
            name=name,
            kind=str(kind),
            created_at=now_ms * 1_000_000,
            expiry_at=(now_ms + life * 1000) * 1_000_000,
        )
        self.tokens[tok.lookup_id] = tok
        token = self.jwt.issue(
            tok.account, now_ms // 1000, life, scope="read", lookup_id=tok.lookup_id,
            token_usage="api",
        )  # fmt: skip
        return _json({"api_token": tok.to_json(), "token": token})

    async def r_tokens_list(self, request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        rows = [
            t.to_json()
            for t in self.tokens.values()
            if t.account == request.state.account and kind in (None, t.kind)
        ]
        return _json({"results": rows})

    async def r_token_delete(self, request: Request) -> Response:
        self._main_key_only(request, "revoke API tokens")
        lookup_id = request.path_params["lookup_id"]
        tok = self.tokens.get(lookup_id)
        if tok is None or tok.account != request.state.account:
            raise Rejected(
                "NOT_FOUND", f"token {lookup_id} is not a token of this account", status=404
            )
        if not tok.revoked_at:
            tok.revoked_at = self.clock.now_ms() * 1_000_000
        return _json({"lookup_id": lookup_id})

    async def r_subaccounts(self, request: Request) -> Response:
        # the sim's accounts are all main accounts: none has sub-accounts
        return _json({"results": []})

    @staticmethod
    def _subkey_json(sk: Subkey) -> dict[str, Any]:
        return {
            "id": sk.created_at,
            "account_id": sk.account,
            "public_key": sk.public_key,
            "name": sk.name,
            "state": "active",
            "allowed_cidrs": [],
            "created_at": sk.created_at,
            "updated_at": sk.created_at,
            "revoked_at": 0,
        }

    @staticmethod
    def _path_key(request: Request) -> str:
        return public_key_param(request.path_params["public_key"])

    def _own_subkey(self, request: Request) -> Subkey:
        pk = self._path_key(request)
        sk = self.engine.subkeys.get(pk)
        if sk is None or sk.account != request.state.account:
            raise Rejected("NOT_FOUND", f"{pk} is not a subkey of this account", status=404)
        return sk

    async def r_subkeys_list(self, request: Request) -> Response:
        rows = self.engine.subkeys_of(request.state.account)
        return _json({"results": [self._subkey_json(sk) for sk in rows]})

    async def r_subkey_get(self, request: Request) -> Response:
        return _json(self._subkey_json(self._own_subkey(request)))

    async def r_subkeys_post(self, request: Request) -> Response:
        self._main_key_only(request, "register a subkey")
        body = await self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("public_key"), str):
            raise Rejected("VALIDATION_ERROR", "public_key is required")
        pk = public_key_param(body["public_key"])
        name = self._name(body)
        state = body.get("state", "active")
        if state != "active":
            raise Rejected("VALIDATION_ERROR", "state must be active (pending is not emulated)")
        self.engine.register_subkey(request.state.account, pk, self.clock.now_ms(), name)
        self.dirty = True  # no engine event: --state saves it all the same
        return Response(status_code=204)

    @staticmethod
    def _name(body: dict[str, Any]) -> str:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Rejected("VALIDATION_ERROR", "name is required (a non-empty string)")
        if len(name) > MAX_SUBKEY_NAME:
            raise Rejected("VALIDATION_ERROR", f"name is longer than {MAX_SUBKEY_NAME} characters")
        return name

    async def r_subkey_put(self, request: Request) -> Response:
        self._main_key_only(request, "rename a subkey")
        sk = self._own_subkey(request)
        body = await self._body(request)
        if not isinstance(body, dict):
            raise Rejected("VALIDATION_ERROR", "body must be {name}")
        name = self._name(body)
        sk = self.engine.register_subkey(sk.account, sk.public_key, self.clock.now_ms(), name)
        self.dirty = True  # no engine event: --state saves it all the same
        return _json(self._subkey_json(sk))

    async def r_subkey_delete(self, request: Request) -> Response:
        self._main_key_only(request, "revoke a subkey")
        sk = self._own_subkey(request)
        self.engine.remove_subkey(sk.public_key)
        self.dirty = True  # no engine event: --state saves it all the same
        return _json({"public_key": sk.public_key})

    async def r_klines(self, request: Request) -> Response:
        q = request.query_params
        for name in ("symbol", "resolution", "start_at", "end_at"):
            if not q.get(name):
                raise Rejected("VALIDATION_ERROR", f"{name} is required")
        symbol = q["symbol"]
        if symbol not in self.engine.markets:
            raise Rejected("MARKET_NOT_FOUND", f"market {symbol!r} not found", status=404)
        try:
            res = int(q["resolution"])
            start, end = int(q["start_at"]), int(q["end_at"])
        except ValueError:
            raise Rejected(
                "INVALID_REQUEST_PARAMETER", "resolution, start_at and end_at must be integers"
            ) from None
        if res not in KLINE_RESOLUTIONS:
            raise Rejected(
                "INVALID_REQUEST_PARAMETER",
                f"resolution must be one of {', '.join(map(str, KLINE_RESOLUTIONS))}",
            )
        price_kind = q.get("price_kind", "last")
        if price_kind not in ("last", "mark", "underlying"):
            raise Rejected(
                "INVALID_REQUEST_PARAMETER", "price_kind must be last, mark or underlying"
            )
        if end < start:
            raise Rejected("INVALID_REQUEST_PARAMETER", "end_at is before start_at")
        step = res * 60_000
        if (end - start) // step + 1 > MAX_KLINES:
            raise Rejected("INVALID_REQUEST_PARAMETER", f"more than {MAX_KLINES} candles asked")
        # candles from the public trades the sim keeps (the last 1,000 per market), oldest first;
        # a bucket without a trade has no candle
        buckets: dict[int, list[Decimal]] = {}
        volume: dict[int, Decimal] = {}
        for t in sorted(self.engine.trades(symbol), key=lambda t: (t["created_at"], t["id"])):
            at = t["created_at"]
            if not start <= at <= end:
                continue
            b = at - at % step
            buckets.setdefault(b, []).append(Decimal(t["price"]))
            volume[b] = volume.get(b, Decimal(0)) + Decimal(t["size"])
        rows = [
            [b, fmt(p[0]), fmt(max(p)), fmt(min(p)), fmt(p[-1]), fmt(volume[b])]
            for b, p in sorted(buckets.items())
        ]
        return _json({"results": rows})

    async def r_insurance(self, request: Request) -> Response:
        return _json(
            {
                "account": INSURANCE_ACCOUNT,
                "account_value": "0",
                "settlement_asset": "USDC",
                "updated_at": self.engine.started_at,
            }
        )

    async def r_portfolio_margin_config(self, request: Request) -> Response:
        # the sim has no portfolio margin (cross margin only, no options): no underlying has one
        return _json({"results": []})


#: account management and the extra reads: ``(path, methods, handler, category)``
ROUTES: list[RouteSpec] = [
    ("/v1/account/profile", ("GET",), AccountRoutes.r_account_profile, "private"),
    ("/v1/account/subaccounts", ("GET",), AccountRoutes.r_subaccounts, "private"),
    ("/v1/account/keys/subkeys", ("GET",), AccountRoutes.r_subkeys_list, "private"),
    ("/v1/account/keys/subkeys", ("POST",), AccountRoutes.r_subkeys_post, "private"),
    ("/v1/account/keys/subkeys/{public_key}", ("GET",), AccountRoutes.r_subkey_get, "private"),
    ("/v1/account/keys/subkeys/{public_key}", ("PUT",), AccountRoutes.r_subkey_put, "private"),
    (
        "/v1/account/keys/subkeys/{public_key}",
        ("DELETE",),
        AccountRoutes.r_subkey_delete,
        "private",
    ),
    ("/v1/account/tokens", ("GET",), AccountRoutes.r_tokens_list, "private"),
    ("/v1/account/tokens", ("POST",), AccountRoutes.r_tokens_post, "private"),
    ("/v1/account/tokens/{lookup_id}", ("DELETE",), AccountRoutes.r_token_delete, "private"),
    ("/v1/markets/klines", ("GET",), AccountRoutes.r_klines, "public"),
    ("/v1/insurance", ("GET",), AccountRoutes.r_insurance, "public"),
    (
        "/v1/system/portfolio-margin-config",
        ("GET",),
        AccountRoutes.r_portfolio_margin_config,
        "public",
    ),
]

"""The public REST routes (no JWT): system, markets, order books, trades; onboarding and
``POST /auth``, which hand out the JWTs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from paradexctl import signing

from .auth import (
    ACCOUNT_CLASS_HASH,
    CHAIN_NAME,
    PROXY_CLASS_HASH,
    JwtError,
    derive_address,
    norm_hex,
    public_key_param,
)
from .common import (
    JSON_TYPE,
    RouteSpec,
    _json,
    _time_filter,
    paginate,
    subkey_forbidden,
)
from .core import SimCore
from .exchange import (
    Rejected,
)


class PublicRoutes(SimCore):
    """The public REST handlers (a :class:`SimApp` mixin)."""

    def system_config(self) -> dict[str, Any]:
        return {
            "environment": "local",
            "starknet_gateway_url": "",
            "starknet_fullnode_rpc_url": "http://127.0.0.1:9/rpc/v0_10",
            "starknet_fullnode_rpc_base_url": "http://127.0.0.1:9/rpc",
            "l1_relayer_address": "0x0",
            "l2_relayer_address": "0x0",
            "universal_deployer_address": "0x0",
            "dime_staking_contract_address": "0x0",
            "paraclear_evm_account_hash": "0x0",
            "partial_liquidation_buffer": "0.2",
            "partial_liquidation_share_increment": "0.05",
            "starknet_chain_id": CHAIN_NAME,
            "block_explorer_url": "http://127.0.0.1:9/explorer",
            "paraclear_address": "0x286003f7c7bfc3f94e8f0af48b48302e7aee2fb13c23b141479ba00832ef2c6",
            "paraclear_decimals": 8,
            "paraclear_account_proxy_hash": PROXY_CLASS_HASH,
            "paraclear_account_hash": ACCOUNT_CLASS_HASH,
            "oracle_address": "0x2c6a867917ef858d6b193a0ff9e62b46d0dc760366920d631715d58baeaca1f",
            "bridged_tokens": [
                {
                    "name": "TEST USDC",
                    "symbol": "USDC",
                    "decimals": 6,
                    "l1_token_address": "0x29A873159D5e14AcBd63913D4A7E2df04570c666",
                    "l1_bridge_address": "0x8586e05adc0C35aa11609023d4Ae6075Cb813b4C",
                    "l2_token_address": self.engine.config.settlement_asset_address,
                    "l2_bridge_address": "0x46e9237f5408b5f899e72125dd69bd55485a287aaf24663d3ebe00d237fc7ef",
                }
            ],
            "l1_core_contract_address": "0x582CC5d9b509391232cd544cDF9da036e55833Af",
            "l1_operator_address": "0x11bACdFbBcd3Febe5e8CEAa75E0Ef6444d9B45FB",
            "l1_chain_id": "11155111",
            "liquidation_fee": "0.2",
        }

    async def r_config(self, request: Request) -> Response:
        return _json(self.system_config())

    async def r_state(self, request: Request) -> Response:
        return _json({"status": self.system_status})

    async def r_time(self, request: Request) -> Response:
        return _json({"server_time": str(self.clock.now_ms())})

    async def r_markets(self, request: Request) -> Response:
        market = request.query_params.get("market")
        ex = self.engine
        if market and market not in ex.markets:
            raise Rejected("MARKET_NOT_FOUND", f"market {market!r} not found", status=404)
        rows = [
            m.spec.to_json(ex.started_at)
            for sym, m in ex.markets.items()
            if not market or sym == market
        ]
        return _json({"results": rows})

    async def r_markets_summary(self, request: Request) -> Response:
        market = request.query_params.get("market")
        if not market:
            raise Rejected("VALIDATION_ERROR", "market is required (a symbol or ALL)")
        ex = self.engine
        syms = list(ex.markets) if market == "ALL" else [market]
        return _json({"results": [ex.market_summary(s) for s in syms]})

    async def r_bbo(self, request: Request) -> Response:
        return _json(self.engine.bbo(request.path_params["market"]))

    async def r_orderbook(self, request: Request) -> Response:
        try:
            depth = int(request.query_params.get("depth", "20"))
        except ValueError:
            raise Rejected("INVALID_REQUEST_PARAMETER", "depth must be an integer") from None
        return _json(self.engine.orderbook(request.path_params["market"], max(1, depth)))

    async def r_trades(self, request: Request) -> Response:
        market = request.query_params.get("market")
        if market and market not in self.engine.markets:
            raise Rejected("MARKET_NOT_FOUND", f"market {market!r} not found")
        rows = _time_filter(self.engine.trades(market), request, "created_at")
        return _json(paginate(rows, request, 1000))

    # ----------------------------------------------------------------- onboarding and auth

    def _derive(self, public_key: str) -> str:
        try:
            return derive_address(public_key)
        except ValueError:
            raise Rejected("PUBLIC_KEY_INVALID", "public_key is not a valid Stark key") from None

    async def r_onboarding_get(self, request: Request) -> Response:
        q = request.query_params
        if q.get("account_signer_type") != "starknet":
            raise Rejected("VALIDATION_ERROR", "account_signer_type must be starknet")
        pub = public_key_param(q.get("public_key", ""))
        addr = self._derive(pub)
        return _json(
            {
                "account_signer_type": "starknet",
                "address": addr,
                "exists": addr in self.engine.accounts,
                "derivation_info": {
                    "class_hash": ACCOUNT_CLASS_HASH,
                    "proxy_class_hash": PROXY_CLASS_HASH,
                },
            }
        )

    def _header_account(self, request: Request) -> str:
        raw = request.headers.get("paradex-starknet-account")
        if not raw:
            raise Rejected("VALIDATION_ERROR", "PARADEX-STARKNET-ACCOUNT header is required")
        try:
            return norm_hex(raw)
        except ValueError:
            raise Rejected("INVALID_STARKNET_ADDRESS", "invalid starknet address") from None

    def _refuse_subkey(self, request: Request, public_key: str | None, what: str) -> None:
        """403 for a subkey's credentials on an account-management call: a subkey's JWT in
        ``Authorization``, or a registered subkey's ``public_key`` in the body."""
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        via_token = False
        if scheme.lower() == "bearer" and token.strip():
            try:
                ident = self._identity(self.jwt.verify(token.strip(), self.clock.now_ms()))
            except JwtError:
                ident = None
            via_token = ident is not None and ident[1] is not None
        if via_token or (public_key is not None and public_key in self.engine.subkeys):
            raise subkey_forbidden(what)

    async def r_onboarding_post(self, request: Request) -> Response:
        body = await self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("public_key"), str):
            raise Rejected("VALIDATION_ERROR", "public_key is required")
        pub = public_key_param(body["public_key"])
        self._refuse_subkey(request, pub, "onboard an account")
        address = self._header_account(request)
        if self._derive(pub) != address:
            raise Rejected(
                "INVALID_STARKNET_ADDRESS",
                "PARADEX-STARKNET-ACCOUNT does not match the address derived from public_key",
            )
        h = signing.onboarding_message_hash(self.chain_id, int(address, 16))
        self._verify(
            h,
            request.headers.get("paradex-starknet-signature"),
            pub,
            "INVALID_STARKNET_SIGNATURE",
        )
        self.commit(self.engine.onboard(pub, address, self.clock.now_ms()))
        return Response(b"", 200, media_type=JSON_TYPE)

    async def r_auth(self, request: Request) -> Response:
        address = self._header_account(request)
        acct = self.engine.accounts.get(address)
        if acct is None:
            raise Rejected("NOT_ONBOARDED", "User has never called /onboarding endpoint")
        signer = acct.public_key  # the key the signature must verify against
        path_key = request.path_params.get("public_key")
        if path_key is not None:
            try:
                pk = norm_hex(path_key)
            except ValueError:
                raise Rejected("PUBLIC_KEY_INVALID", "public key must be hex") from None
            if pk != acct.public_key:
                sk = self.engine.subkeys.get(pk)
                if sk is None or sk.account != address:
                    raise Rejected(
                        "INVALID_SUBKEY",
                        "the public key is not a registered subkey of this account",
                        status=401,
                    )
                signer = pk
        h = request.headers
        try:
            ts = int(h.get("paradex-timestamp", ""))
            exp = int(h.get("paradex-signature-expiration") or ts + 1800)
        except ValueError:
            raise Rejected("INVALID_TIMESTAMP", "PARADEX-TIMESTAMP must be unix seconds") from None
        now_s = self.clock.now_ms() // 1000
        if exp <= now_s:
            raise Rejected("INVALID_TIMESTAMP", "signature has expired", status=401)
        if ts > now_s + 300:
            raise Rejected("INVALID_TIMESTAMP", "timestamp is in the future", status=401)
        if exp - ts > 7 * 86400:
            raise Rejected("INVALID_TIMESTAMP", "signature expiration exceeds one week", status=401)
        msg = signing.auth_message_hash(self.chain_id, int(address, 16), ts, exp)
        self._verify(msg, h.get("paradex-starknet-signature"), signer, "INVALID_STARKNET_SIGNATURE")
        extra = {}
        if signer != acct.public_key:
            extra["subkey"] = signer  # a subkey's token: trade, cancel, read
        if request.query_params.get("token_usage") == "interactive":
            extra["token_usage"] = "interactive"
        token = self.jwt.issue(address, now_s, self.options.jwt_lifetime_s, **extra)
        return _json({"jwt_token": token})


#: the public REST routes, onboarding and auth (no JWT): ``(path, methods, handler, category)``
ROUTES: list[RouteSpec] = [
    ("/v1/system/config", ("GET",), PublicRoutes.r_config, "public"),
    ("/v1/system/state", ("GET",), PublicRoutes.r_state, "public"),
    ("/v1/system/time", ("GET",), PublicRoutes.r_time, "public"),
    ("/v1/markets", ("GET",), PublicRoutes.r_markets, "public"),
    ("/v1/markets/summary", ("GET",), PublicRoutes.r_markets_summary, "public"),
    ("/v1/bbo/{market}", ("GET",), PublicRoutes.r_bbo, "public"),
    ("/v1/orderbook/{market}", ("GET",), PublicRoutes.r_orderbook, "public"),
    ("/v1/trades", ("GET",), PublicRoutes.r_trades, "public"),
    ("/v1/onboarding", ("GET",), PublicRoutes.r_onboarding_get, "public"),
    ("/v1/onboarding", ("POST",), PublicRoutes.r_onboarding_post, "auth"),
    ("/v1/auth", ("POST",), PublicRoutes.r_auth, "auth"),
    ("/v1/auth/{public_key}", ("POST",), PublicRoutes.r_auth, "auth"),
]

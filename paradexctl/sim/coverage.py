"""What of Paradex's API surface the sim does not serve, and why; and its WebSocket channels
and methods. What *is* served over REST is :func:`paradexctl.sim.app.served` (the route
tables); ``tests/data/sdk_surface.json`` is the official SDK's list, which
``tests/test_sim_coverage.py`` checks against both. docs/sim.md's coverage list is generated
from here (``scripts/gen_docs.py``)."""

from __future__ import annotations

_MMP = "out of scope: market maker protection guards options quoting; the sim trades perpetuals"
_BLOCK = "out of scope: block trades (docs/sim.md, Not emulated)"
_EVM = "out of scope: EVM (`/v2`) onboarding (docs/sim.md, Not emulated)"
_LEDGER = "not yet: issue 15 (ledger)"
_ALGO = "not yet: issue 16 (algo orders)"
_SUBKEY_MORE = "not yet: pending subkeys and CIDR allow-lists (issue 13, follow-up)"

#: ``(method, path, why)`` for every endpoint of the SDK's REST client the sim does not serve;
#: any such path answers Paradex's 404 ``NOT_FOUND`` shape
NOT_SERVED: list[tuple[str, str, str]] = [
    ("POST", "/v1/account/keys/subkeys/activate", _SUBKEY_MORE),
    ("PUT", "/v1/account/keys/subkeys/{public_key}/allowed-cidrs", _SUBKEY_MORE),
    ("GET", "/v1/account/mmp", _MMP),
    ("POST", "/v1/account/mmp/reset", _MMP),
    ("POST", "/v1/account/mmp/{base_asset}", _MMP),
    ("DELETE", "/v1/account/mmp/{base_asset}", _MMP),
    ("GET", "/v1/algo/orders", _ALGO),
    ("POST", "/v1/algo/orders", _ALGO),
    ("DELETE", "/v1/algo/orders/{algo_order_id}", _ALGO),
    ("GET", "/v1/funding/data", _LEDGER),
    ("GET", "/v1/funding/payments", _LEDGER),
    ("GET", "/v1/liquidations", _LEDGER),
    ("GET", "/v1/tradebusts", _LEDGER),
    ("GET", "/v1/transactions", _LEDGER),
    ("GET", "/v1/transfers", _LEDGER),
    ("GET", "/v1/points_data/{market}/{program}", "out of scope: rewards programs"),
    ("GET", "/v1/block-trades", _BLOCK),
    ("POST", "/v1/block-trades", _BLOCK),
    ("GET", "/v1/block-trades/{block_trade_id}", _BLOCK),
    ("DELETE", "/v1/block-trades/{block_trade_id}", _BLOCK),
    ("POST", "/v1/block-trades/{block_trade_id}/execute", _BLOCK),
    ("GET", "/v1/block-trades/{block_trade_id}/offers", _BLOCK),
    ("POST", "/v1/block-trades/{block_trade_id}/offers", _BLOCK),
    ("GET", "/v1/block-trades/{block_trade_id}/offers/{offer_id}", _BLOCK),
    ("DELETE", "/v1/block-trades/{block_trade_id}/offers/{offer_id}", _BLOCK),
    ("POST", "/v1/block-trades/{block_trade_id}/offers/{offer_id}/execute", _BLOCK),
    ("POST", "/v2/onboarding", _EVM),
    ("POST", "/v2/auth", _EVM),
]

#: ``(channel, served?, note)`` for each WebSocket channel of the SDK's client; ``{market}``
#: takes a symbol or ``ALL`` on the served ones
WS_CHANNELS: list[tuple[str, bool, str]] = [
    ("account", True, "private"),
    ("balance_events", True, "private"),
    ("bbo.{market}", True, "public"),
    ("fills.{market}", True, "private"),
    ("orders.{market}", True, "private"),
    ("positions", True, "private"),
    ("trades.{market}", True, "public"),
    ("block_trades", False, _BLOCK),
    ("funding_data.{market}", False, "not yet: issue 14 (market data)"),
    ("funding_payments.{market}", False, _LEDGER),
    ("funding_rate_comparison.ALL@{refresh_rate}", False, "not yet: issue 14 (market data)"),
    ("markets_summary.{market}", False, "not yet: issue 14 (market data)"),
    ("mmp", False, _MMP),
    (
        "order_book.{market}.{feed_type}@15@{refresh_rate}@{price_tick}",
        False,
        "not yet: issue 14 (market data)",
    ),
    ("tradebusts", False, _LEDGER),
    ("transaction", False, _LEDGER),
    ("transfers", False, _LEDGER),
]

#: the JSON-RPC methods the WebSocket answers (``paradex-api.md`` §5, §5.8); any other is
#: ``-32601 method does not exist``
WS_METHODS: tuple[str, ...] = (
    "auth",
    "subscribe",
    "unsubscribe",
    "order.create",
    "order.create_batch",
    "order.modify",
    "order.cancel",
    "order.cancel_batch",
    "order.cancel_all",
    "order.cancel_on_disconnect",
)

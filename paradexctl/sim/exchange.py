"""The simulator's matching engine: the single source of truth.

Pure: no I/O, no asyncio, no wall clock. Every mutating method takes ``now_ms`` and returns
the list of :class:`Event` objects it produced (the adapters turn them into WebSocket
notifications and REST snapshots). Randomness (the mark-price walk and the synthetic book)
comes from one ``random.Random(seed)``, so a run is reproducible from its seed and its
sequence of calls.

Model, in brief:

* Accounts are onboarded by public key; the caller supplies the derived address. New
  accounts receive ``faucet`` USDC.
* Each market has a mark price (a seeded random walk, or set explicitly) and a synthetic
  order book of ``book_levels`` levels per side around it. User orders trade against the
  synthetic book and against other accounts' resting orders. Synthetic liquidity that is
  taken stays consumed until the book is regenerated on the next mark change.
* When the mark moves, the book is regenerated; resting user orders crossed by the new book
  fill as makers at their own price (partial fills possible), and stop orders whose trigger
  condition is met trigger.
* Orders go ``NEW`` (the acceptance snapshot returned to REST) and then ``OPEN`` or
  ``CLOSED``. Risk rejections are late, as on Paradex: the order is accepted and then closed
  with a ``cancel_reason`` (``NOT_ENOUGH_MARGIN``, ``POST_ONLY_WOULD_CROSS``, ...).
  Validation failures raise :class:`Rejected` (HTTP 400) before anything changes.

Invariants (checked by ``tests/test_sim_engine.py`` with hypothesis):

1. A position's size equals the signed sum of its fills.
2. An account's balance equals the faucet credit plus the sum of realized PnL minus fees.
3. No order is both open (in a book or untriggered list) and ``CLOSED``.
4. ``Event.seq`` strictly increases; an order's ``seq_no`` strictly increases per update.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

__all__ = [
    "CLOSED",
    "DEFAULT_MARKETS",
    "LIMIT_TYPES",
    "NEW",
    "OPEN",
    "OPEN_STATUSES",
    "UNTRIGGERED",
    "Account",
    "Event",
    "Exchange",
    "Fill",
    "MarketSpec",
    "Order",
    "OrderRequest",
    "Position",
    "Rejected",
    "SimConfig",
    "Subkey",
    "fmt",
]

D = Decimal
ZERO = D(0)
ONE = D(1)
_Q8 = D("0.00000001")
_BP = D("0.0001")

NEW, OPEN, UNTRIGGERED, CLOSED = "NEW", "OPEN", "UNTRIGGERED", "CLOSED"
OPEN_STATUSES = frozenset({NEW, OPEN, UNTRIGGERED})

ORDER_TYPES = frozenset(
    {
        "MARKET",
        "LIMIT",
        "STOP_LIMIT",
        "STOP_MARKET",
        "TAKE_PROFIT_LIMIT",
        "TAKE_PROFIT_MARKET",
        "STOP_LOSS_LIMIT",
        "STOP_LOSS_MARKET",
    }
)
LIMIT_TYPES = frozenset({"LIMIT", "STOP_LIMIT", "TAKE_PROFIT_LIMIT", "STOP_LOSS_LIMIT"})
TRIGGER_TYPES = ORDER_TYPES - {"MARKET", "LIMIT"}
INSTRUCTIONS = frozenset({"GTC", "IOC", "POST_ONLY", "RPI"})
STP_MODES = frozenset({"EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"})

# cancel_reason strings. USER_CANCELED and NOT_ENOUGH_MARGIN are confirmed Paradex values;
# the others follow Paradex's naming but are not published (docs/sim.md lists them).
USER_CANCELED = "USER_CANCELED"
NOT_ENOUGH_MARGIN = "NOT_ENOUGH_MARGIN"
POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
REDUCE_ONLY_WILL_INCREASE = "REDUCE_ONLY_WILL_INCREASE"
ORDER_EXCEEDS_POSITION_LIMIT = "ORDER_EXCEEDS_POSITION_LIMIT"
SELF_TRADE = "SELF_TRADE"
IOC_REMAINDER = "IOC_CANCELED"
NO_LIQUIDITY = "NO_LIQUIDITY"


def fmt(value: Decimal) -> str:
    """A Decimal as Paradex writes it: plain notation, no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    try:
        return step > 0 and value % step == 0
    except InvalidOperation:  # the quotient has more digits than the context holds
        return False


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def _ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_CEILING) * step


class StateMarketsError(ValueError):
    """A saved state has open orders or positions in a market the engine does not serve."""


class Rejected(Exception):
    """A synchronous rejection: nothing changed. Maps to Paradex's error body."""

    def __init__(
        self, code: str, message: str, *, status: int = 400, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.data = data


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class MarketSpec:
    symbol: str
    base: str
    tick: Decimal
    size_increment: Decimal
    min_notional: Decimal
    max_order_size: Decimal
    position_limit: Decimal
    initial_price: Decimal
    #: typical size of one synthetic book level
    level_size: Decimal

    def to_json(self, open_at: int) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "base_currency": self.base,
            "quote_currency": "USD",
            "settlement_currency": "USDC",
            "asset_kind": "PERP",
            "market_kind": "cross",
            "order_size_increment": fmt(self.size_increment),
            "price_tick_size": fmt(self.tick),
            "min_notional": fmt(self.min_notional),
            "max_order_size": fmt(self.max_order_size),
            "position_limit": fmt(self.position_limit),
            "max_open_orders": 100,
            "open_at": open_at,
            "expiry_at": 0,
            "price_bands_width": "0.05",
            "max_slippage": "0.05",
            "funding_period_hours": 8,
            "funding_multiplier": 1,
            "max_funding_rate": "0.05",
            "max_funding_rate_change": "0.0005",
            "max_tob_spread": "0.2",
            "interest_rate": "0.0001",
            "clamp_rate": "0.05",
            "oracle_ewma_factor": "0.2",
            "price_feed_id": "",
            "delta1_cross_margin_params": {
                "imf_base": "0.1",
                "imf_factor": "0",
                "imf_shift": "0",
                "mmf_factor": "0.5",
            },
            "tags": [],
            "trading_mode": "STANDARD",
            # options-only fields: null on a perpetual
            "option_type": None,
            "strike_price": None,
            "iv_bands_width": None,
            "option_cross_margin_params": None,
            "chain_details": {
                "symbol": self.symbol,
                "collateral_address": _SIM_ADDRESS,
                "contract_address": _SIM_ADDRESS,
                "fee_account_address": _SIM_ADDRESS,
                "insurance_fund_address": _SIM_ADDRESS,
                "oracle_address": _SIM_ADDRESS,
                "fee_maker": fmt(_MAKER_FEE),
                "fee_taker": fmt(_TAKER_FEE),
                "liquidation_fee": "0.01",
            },
            "fee_config": {
                feed: {
                    "maker_fee": {"fee": fmt(_MAKER_FEE), "fee_cap": None, "fee_floor": None},
                    "taker_fee": {"fee": fmt(_TAKER_FEE), "fee_cap": None, "fee_floor": None},
                }
                for feed in ("api_fee", "interactive_fee", "rpi_fee")
            },
        }


DEFAULT_MARKETS: dict[str, MarketSpec] = {
    m.symbol: m
    for m in (
        MarketSpec(
            "BTC-USD-PERP", "BTC", D("0.1"), D("0.001"), D("10"), D("100"), D("500"),
            D("97000"), D("0.5"),
        ),
        MarketSpec(
            "ETH-USD-PERP", "ETH", D("0.01"), D("0.001"), D("10"), D("1000"), D("5000"),
            D("3500"), D("5"),
        ),
        MarketSpec(
            "SOL-USD-PERP", "SOL", D("0.001"), D("0.01"), D("10"), D("10000"), D("100000"),
            D("180"), D("50"),
        ),
    )
}  # fmt: skip


_FAUCET, _MAKER_FEE, _TAKER_FEE, _IMF = D("100000"), D("0.0002"), D("0.0005"), D("0.1")
#: the address the sim gives its contracts (the chain is not emulated)
_SIM_ADDRESS = "0x0"


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 0
    markets: tuple[str, ...] = tuple(DEFAULT_MARKETS)
    faucet: Decimal = _FAUCET
    maker_fee: Decimal = _MAKER_FEE
    taker_fee: Decimal = _TAKER_FEE
    #: initial margin fraction (0.1 = 10x leverage); maintenance is half of it
    imf: Decimal = _IMF
    max_open_orders: int = 100
    book_levels: int = 10
    #: one mark-price step per this many ms; 0 freezes the mark (tests)
    mark_walk_ms: int = 1000
    #: standard deviation of one mark step, in basis points
    mark_volatility_bp: int = 5
    #: receive window applied when an order has no ``recv_window`` (Paradex: 300,000 ms);
    #: 0 accepts any signature timestamp
    default_recv_window_ms: int = 300_000
    settlement_asset_address: str = (
        "0x6f373b346561036d98ea10fb3e60d2f459c872b1933b50b21fe6ef4fda3b75e"
    )


# --------------------------------------------------------------------------- state objects


@dataclass(frozen=True, slots=True)
class Event:
    """One state change. ``kind`` is order, fill, position, balance_event, balance, account,
    bbo or trade. ``data`` is the Paradex JSON object (REST seq_no) at that moment."""

    kind: str
    account: str | None
    market: str | None
    data: dict[str, Any]
    at_ms: int
    seq: int


@dataclass(slots=True)
class OrderRequest:
    market: str
    side: str
    type: str
    size: Decimal
    price: Decimal | None = None
    instruction: str = "GTC"
    client_id: str = ""
    flags: tuple[str, ...] = ()
    trigger_price: Decimal | None = None
    stp: str = "EXPIRE_TAKER"
    signature_timestamp: int = 0
    recv_window: int | None = None


@dataclass(slots=True)
class Subkey:
    """A trade-only key registered to a main account (``paradex-api.md`` §2.1)."""

    account: str
    public_key: str
    created_at: int
    #: the label ``POST``/``PUT /account/keys/subkeys`` give it ("" when registered without)
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "public_key": self.public_key,
            "created_at": self.created_at,
            "name": self.name,
        }


@dataclass(slots=True)
class Account:
    address: str
    public_key: str
    balance: Decimal
    created_at: int
    last_updated_at: int
    seq_no: int = 0
    #: when the balance last changed (``Balance.last_updated_at``)
    balance_updated_at: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "public_key": self.public_key,
            "balance": fmt(self.balance),
            "created_at": self.created_at,
            "last_updated_at": self.last_updated_at,
            "seq_no": self.seq_no,
            "balance_updated_at": self.balance_updated_at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Account:
        return cls(
            d["address"],
            d["public_key"],
            D(d["balance"]),
            d["created_at"],
            d["last_updated_at"],
            d.get("seq_no", 0),
            d.get("balance_updated_at", d["last_updated_at"]),
        )


@dataclass(slots=True)
class Order:
    id: str
    account: str
    market: str
    side: str
    type: str
    size: Decimal
    remaining: Decimal
    price: Decimal
    instruction: str
    client_id: str
    flags: list[str]
    stp: str
    trigger_price: Decimal
    timestamp: int
    created_at: int
    received_at: int
    last_updated_at: int
    status: str = NEW
    cancel_reason: str = ""
    seq_no: int = 0
    filled_notional: Decimal = ZERO
    # the last modify request on this order (OrderResp.request_info); absent until one
    request_info: dict[str, str] | None = None

    @property
    def is_buy(self) -> bool:
        return self.side == "BUY"

    @property
    def reduce_only(self) -> bool:
        return "REDUCE_ONLY" in self.flags

    @property
    def filled(self) -> Decimal:
        return self.size - self.remaining

    def to_json(self) -> dict[str, Any]:
        filled = self.filled
        avg = ""
        if filled > 0:
            avg = fmt((self.filled_notional / filled).quantize(_Q8, ROUND_HALF_EVEN))
        return {
            "id": self.id,
            "client_id": self.client_id,
            "account": self.account,
            "market": self.market,
            "side": self.side,
            "type": self.type,
            "size": fmt(self.size),
            "remaining_size": fmt(self.remaining),
            "price": fmt(self.price),
            "avg_fill_price": avg,
            "status": self.status,
            "cancel_reason": self.cancel_reason,
            "instruction": self.instruction,
            "flags": list(self.flags),
            "stp": self.stp,
            "trigger_price": fmt(self.trigger_price),
            "timestamp": self.timestamp,
            "created_at": self.created_at,
            "received_at": self.received_at,
            "last_updated_at": self.last_updated_at,
            "seq_no": self.seq_no,
            **({"request_info": dict(self.request_info)} if self.request_info else {}),
        }

    def to_state(self) -> dict[str, Any]:
        d = self.to_json()
        d["filled_notional"] = fmt(self.filled_notional)
        return d

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Order:
        return cls(
            id=d["id"],
            account=d["account"],
            market=d["market"],
            side=d["side"],
            type=d["type"],
            size=D(d["size"]),
            remaining=D(d["remaining_size"]),
            price=D(d["price"]),
            instruction=d["instruction"],
            client_id=d["client_id"],
            flags=list(d["flags"]),
            stp=d["stp"],
            trigger_price=D(d["trigger_price"]),
            timestamp=d["timestamp"],
            created_at=d["created_at"],
            received_at=d["received_at"],
            last_updated_at=d["last_updated_at"],
            status=d["status"],
            cancel_reason=d["cancel_reason"],
            seq_no=d["seq_no"],
            filled_notional=D(d["filled_notional"]),
            request_info=d.get("request_info"),
        )


@dataclass(slots=True)
class Fill:
    id: str
    order_id: str
    client_id: str
    account: str
    market: str
    side: str
    liquidity: str
    price: Decimal
    size: Decimal
    remaining_size: Decimal
    fee: Decimal
    realized_pnl: Decimal
    created_at: int
    orderbook_seq_no: int
    underlying_price: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "order_id": self.order_id,
            "client_id": self.client_id,
            "account": self.account,
            "market": self.market,
            "side": self.side,
            "liquidity": self.liquidity,
            "price": fmt(self.price),
            "size": fmt(self.size),
            "remaining_size": fmt(self.remaining_size),
            "fee": fmt(self.fee),
            "fee_currency": "USDC",
            "fill_type": "FILL",
            "flags": [],
            "realized_pnl": fmt(self.realized_pnl),
            "realized_funding": "0",
            "underlying_price": fmt(self.underlying_price),
            "orderbook_seq_no": self.orderbook_seq_no,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Fill:
        return cls(
            d["id"], d["order_id"], d["client_id"], d["account"], d["market"], d["side"],
            d["liquidity"], D(d["price"]), D(d["size"]), D(d["remaining_size"]), D(d["fee"]),
            D(d["realized_pnl"]), d["created_at"], d["orderbook_seq_no"],
            D(d["underlying_price"]),
        )  # fmt: skip


@dataclass(slots=True)
class Position:
    account: str
    market: str
    size: Decimal = ZERO
    average_entry_price: Decimal = ZERO
    average_exit_price: Decimal = ZERO
    realized_positional_pnl: Decimal = ZERO
    exit_size: Decimal = ZERO
    created_at: int = 0
    closed_at: int = 0
    last_updated_at: int = 0
    last_fill_id: str = ""
    seq_no: int = 0
    side: str = "LONG"  # of the open position; a closed one keeps the side it had (spec enum)

    def to_json(self, mark: Decimal) -> dict[str, Any]:
        side = "LONG" if self.size > 0 else "SHORT" if self.size < 0 else self.side
        upnl = (mark - self.average_entry_price) * self.size if self.size else ZERO
        cost = self.average_entry_price * self.size
        return {
            "id": f"{self.account}-{self.market}",
            "account": self.account,
            "market": self.market,
            "status": "OPEN" if self.size else "CLOSED",
            "side": side,
            "size": fmt(self.size),
            "average_entry_price": fmt(self.average_entry_price),
            "average_entry_price_usd": fmt(self.average_entry_price),
            "average_exit_price": fmt(self.average_exit_price),
            "cost": fmt(cost),
            "cost_usd": fmt(cost),
            "unrealized_pnl": fmt(upnl),
            "unrealized_funding_pnl": "0",
            "realized_positional_pnl": fmt(self.realized_positional_pnl),
            "realized_positional_funding_pnl": "0",
            "cached_funding_index": "0",
            "leverage": "",
            "liquidation_price": "",
            "last_fill_id": self.last_fill_id,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "last_updated_at": self.last_updated_at,
            "seq_no": self.seq_no,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "market": self.market,
            "size": fmt(self.size),
            "average_entry_price": fmt(self.average_entry_price),
            "average_exit_price": fmt(self.average_exit_price),
            "realized_positional_pnl": fmt(self.realized_positional_pnl),
            "exit_size": fmt(self.exit_size),
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "last_updated_at": self.last_updated_at,
            "last_fill_id": self.last_fill_id,
            "seq_no": self.seq_no,
            "side": self.side,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Position:
        return cls(
            d["account"], d["market"], D(d["size"]), D(d["average_entry_price"]),
            D(d["average_exit_price"]), D(d["realized_positional_pnl"]), D(d["exit_size"]),
            d["created_at"], d["closed_at"], d["last_updated_at"], d["last_fill_id"],
            d["seq_no"], d.get("side", "LONG"),
        )  # fmt: skip

    def set_size(self, size: Decimal) -> None:
        """The one place a position's size changes (a closed position remembers its side)."""
        self.size = size
        if size:
            self.side = "LONG" if size > 0 else "SHORT"


@dataclass(slots=True)
class _Level:
    price: Decimal
    size: Decimal


@dataclass(slots=True)
class _Market:
    spec: MarketSpec
    mark: Decimal
    bids: list[_Level] = field(default_factory=list)  # synthetic, best first
    asks: list[_Level] = field(default_factory=list)
    user_bids: list[Order] = field(default_factory=list)  # resting, price desc then time
    user_asks: list[Order] = field(default_factory=list)  # resting, price asc then time
    stops: list[Order] = field(default_factory=list)
    book_seq: int = 0
    last_bbo: tuple[Any, ...] = ()
    last_trade_price: Decimal = ZERO
    volume_24h: Decimal = ZERO
    trades: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- the engine


class Exchange:
    """The engine. Not thread-safe: call it from one thread (the server's event loop)."""

    def __init__(self, config: SimConfig | None = None, *, now_ms: int = 0) -> None:
        self.config = config or SimConfig()
        self.rng = random.Random(self.config.seed)
        self.accounts: dict[str, Account] = {}
        self.by_public_key: dict[str, str] = {}
        #: registered trade-only subkeys, by public key
        self.subkeys: dict[str, Subkey] = {}
        #: ``POST /account/margin/{market}``: (leverage, margin_type) per (account, market);
        #: absent, the market's maximum leverage and CROSS
        self.margin: dict[tuple[str, str], tuple[int, str]] = {}
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, list[Fill]] = {}  # account -> fills, oldest first
        self.positions: dict[tuple[str, str], Position] = {}
        self.markets: dict[str, _Market] = {}
        self.now_ms = now_ms
        self.started_at = now_ms
        self._last_walk = now_ms
        self._seq = 0
        self._ids = 0
        self._events: list[Event] = []
        self._touched_accounts: set[str] = set()
        self._touched_markets: set[str] = set()
        for sym in self.config.markets:
            spec = DEFAULT_MARKETS.get(sym)
            if spec is None:
                raise ValueError(f"unknown market {sym!r}; known: {', '.join(DEFAULT_MARKETS)}")
            m = _Market(spec, spec.initial_price)
            self.markets[sym] = m
            self._regen_book(m)
            m.last_bbo = self._bbo_key(m)

    # ----------------------------------------------------------------- bookkeeping helpers

    def _tick(self, now_ms: int) -> int:
        if now_ms > self.now_ms:
            self.now_ms = now_ms
        return self.now_ms

    def _next_seq(self) -> int:
        self._seq = max(self._seq + 1, self.now_ms * 1_000_000)
        return self._seq

    def _next_id(self) -> str:
        self._ids += 1
        return f"{self.now_ms}{self._ids:015d}"

    def _emit(
        self, kind: str, account: str | None, market: str | None, data: dict[str, Any]
    ) -> None:
        self._events.append(Event(kind, account, market, data, self.now_ms, self._next_seq()))

    def _finish(self) -> list[Event]:
        for addr in sorted(self._touched_accounts):
            acct = self.accounts[addr]
            acct.seq_no = self._next_seq()
            acct.last_updated_at = self.now_ms
            self._emit("account", addr, None, self.account_summary(addr))
        self._touched_accounts.clear()
        for sym in sorted(self._touched_markets):
            m = self.markets[sym]
            key = self._bbo_key(m)
            if key != m.last_bbo:
                m.last_bbo = key
                m.book_seq += 1
                self._emit("bbo", None, sym, self.bbo(sym))
        self._touched_markets.clear()
        out, self._events = self._events, []
        return out

    def _order_changed(self, o: Order) -> None:
        o.last_updated_at = self.now_ms  # nothing changes after CLOSED, so it stays put
        o.seq_no = self._next_seq()
        self._emit("order", o.account, o.market, o.to_json())
        self._touched_accounts.add(o.account)

    def _market(self, symbol: str) -> _Market:
        m = self.markets.get(symbol)
        if m is None:
            raise Rejected("MARKET_NOT_FOUND", f"market {symbol!r} not found")
        return m

    def _account(self, address: str) -> Account:
        a = self.accounts.get(address)
        if a is None:
            raise Rejected("NOT_ONBOARDED", "User has never called /onboarding endpoint")
        return a

    # ----------------------------------------------------------------- accounts

    def onboard(self, public_key: str, address: str, now_ms: int) -> list[Event]:
        """Register an account (idempotent). New accounts receive the faucet credit."""
        self._tick(now_ms)
        if address in self.accounts:
            return []
        acct = Account(address, public_key, ZERO, self.now_ms, self.now_ms)
        self.accounts[address] = acct
        self.by_public_key[public_key] = address
        self.fills[address] = []
        if self.config.faucet > 0:
            before = acct.balance
            acct.balance += self.config.faucet
            self._emit_balance(acct, before, "DEPOSIT", {"amount": fmt(self.config.faucet)})
        self._touched_accounts.add(address)
        return self._finish()

    def register_subkey(
        self, address: str, public_key: str, now_ms: int, name: str | None = None
    ) -> Subkey:
        """Register a trade-only subkey of ``address`` (idempotent for the same account; a
        ``name`` given renames it).

        A key is either an account's main key or a subkey of one account, never both."""
        self._tick(now_ms)
        if address not in self.accounts:
            raise Rejected("ACCOUNT_NOT_FOUND", f"account {address} is not onboarded", status=404)
        owner = self.by_public_key.get(public_key)
        if owner is not None:
            raise Rejected("PUBLIC_KEY_INVALID", f"{public_key} is the main key of account {owner}")
        current = self.subkeys.get(public_key)
        if current is not None:
            if current.account != address:
                raise Rejected(
                    "NOT_UNIQUE", f"{public_key} is already a subkey of {current.account}"
                )
            if name is not None:
                current.name = name
            return current
        sk = Subkey(address, public_key, self.now_ms, name or "")
        self.subkeys[public_key] = sk
        return sk

    def remove_subkey(self, public_key: str) -> Subkey:
        """Revoke a subkey: its auth signatures and its JWTs are refused from now on."""
        sk = self.subkeys.pop(public_key, None)
        if sk is None:
            raise Rejected("NOT_FOUND", f"{public_key} is not a registered subkey", status=404)
        return sk

    def subkeys_of(self, address: str) -> list[Subkey]:
        return sorted(
            (sk for sk in self.subkeys.values() if sk.account == address),
            key=lambda sk: (sk.created_at, sk.public_key),
        )

    def _emit_balance(
        self, acct: Account, before: Decimal, kind: str, extra: dict[str, Any]
    ) -> None:
        acct.balance_updated_at = self.now_ms
        self._emit("balance", acct.address, None, self.balance(acct.address))
        data: dict[str, Any] = {
            "type": kind,
            "status": "ON_BLOCKCHAIN",
            "settlement_asset_name": "USDC",
            "settlement_asset_address": self.config.settlement_asset_address,
            "settlement_asset_balance_before": fmt(before),
            "settlement_asset_balance_after": fmt(acct.balance),
            "settlement_asset_price": "1",
            "created_at": self.now_ms,
        }
        data.update(extra)
        self._emit("balance_event", acct.address, extra.get("market"), data)

    def deposit(self, address: str, amount: Decimal, now_ms: int) -> list[Event]:
        """Credit (or, if negative, debit) USDC to an account (admin faucet)."""
        self._tick(now_ms)
        acct = self._account(address)
        if amount == 0:
            raise Rejected("VALIDATION_ERROR", "amount must not be zero")
        before = acct.balance
        acct.balance += amount
        kind = "DEPOSIT" if amount > 0 else "WITHDRAWAL"
        self._emit_balance(acct, before, kind, {"amount": fmt(amount)})
        self._touched_accounts.add(address)
        return self._finish()

    def adjust_position(
        self, address: str, market: str, size_delta: Decimal, now_ms: int
    ) -> list[Event]:
        """Fault: change a position's size with no fill (an exchange-side adjustment that
        nothing explains: a reconcile ``invariant_position``)."""
        pos = self.positions.get((address, market))
        if pos is None or market not in self.markets:
            raise Rejected(
                "POSITION_NOT_FOUND", f"no position of {address} in {market}", status=404
            )
        now = self._tick(now_ms)
        pos.set_size(pos.size + size_delta)
        pos.seq_no = self._next_seq()
        pos.last_updated_at = now
        self._emit("position", address, market, pos.to_json(self.markets[market].mark))
        self._touched_accounts.add(address)
        return self._finish()

    def set_position(
        self, address: str, market: str, size: Decimal, entry_price: Decimal, now_ms: int
    ) -> list[Event]:
        """Scenario set-up: the account holds ``size`` (signed) of ``market`` at
        ``entry_price``, with no fill (a position opened before the scenario starts)."""
        self._account(address)
        m = self._market(market)
        now = self._tick(now_ms)
        pos = self.positions.get((address, market))
        if pos is None:
            pos = self.positions[(address, market)] = Position(address, market, created_at=now)
        pos.set_size(size)
        pos.average_entry_price = entry_price if size else ZERO
        pos.seq_no = self._next_seq()
        pos.last_updated_at = now
        self._emit("position", address, market, pos.to_json(m.mark))
        self._touched_accounts.add(address)
        return self._finish()

    def fund(self, market: str, rate: Decimal, now_ms: int) -> list[Event]:
        """A funding tick (minimal, until the ledger of issue 15): every open position of
        ``market`` pays ``size * mark * rate`` (longs pay a positive rate, shorts receive
        it), settled into the USDC balance with a ``FUNDING`` balance event."""
        m = self._market(market)
        self._tick(now_ms)
        for (addr, sym), pos in sorted(self.positions.items()):
            if sym != market or not pos.size:
                continue
            payment = -(pos.size * m.mark * rate).quantize(Decimal("0.000001"))
            if not payment:
                continue
            acct = self.accounts[addr]
            before = acct.balance
            acct.balance += payment
            self._emit_balance(acct, before, "FUNDING", {"market": market, "amount": fmt(payment)})
            self._touched_accounts.add(addr)
        return self._finish()

    def account_summary(self, address: str) -> dict[str, Any]:
        acct = self._account(address)
        upnl = ZERO
        notional = ZERO
        for (addr, sym), pos in self.positions.items():
            if addr == address and pos.size:
                mark = self.markets[sym].mark
                upnl += (mark - pos.average_entry_price) * pos.size
                notional += abs(pos.size) * mark
        imr = self._initial_margin(address)
        imf = self.config.imf
        value = acct.balance + upnl
        mmr = notional * imf / 2
        return {
            "account": address,
            "account_value": fmt(value),
            "free_collateral": fmt(value - imr),
            "initial_margin_requirement": fmt(imr),
            "maintenance_margin_requirement": fmt(mmr),
            "margin_cushion": fmt(value - mmr),
            "total_collateral": fmt(value),
            "settlement_asset": "USDC",
            "status": "ACTIVE",
            "updated_at": acct.last_updated_at,
            "seq_no": acct.seq_no,
        }

    def balance(self, address: str) -> dict[str, Any]:
        """The settlement token's balance (BalanceResp). USDC is valued at 1 USD, so its
        average entry price is 1 and its cost is its size."""
        acct = self._account(address)
        size = fmt(acct.balance)
        return {
            "token": "USDC",
            "size": size,
            "average_entry_price": "1",
            "average_entry_price_usd": "1",
            "cost": size,
            "cost_usd": size,
            "last_updated_at": acct.balance_updated_at,
        }

    # ----------------------------------------------------------------- leverage

    @property
    def max_leverage(self) -> int:
        """The most leverage a market allows: 1 / its initial margin fraction (``imf_base``)."""
        return int(1 / self.config.imf)

    def imf_for(self, address: str, market: str) -> Decimal:
        """The initial margin fraction of ``address`` in ``market``: the market's, or more
        when the account chose less leverage (``1 / leverage``)."""
        lev, _ = self.margin.get((address, market), (self.max_leverage, "CROSS"))
        return max(self.config.imf, Decimal(1) / Decimal(lev))

    def margin_config(self, address: str, market: str) -> dict[str, Any]:
        """``AccountMarginEntry`` of ``address`` in ``market``."""
        self._account(address)
        if market not in self.markets:
            raise Rejected("MARKET_NOT_FOUND", f"market {market} not found", status=404)
        lev, mtype = self.margin.get((address, market), (self.max_leverage, "CROSS"))
        return {"market": market, "leverage": lev, "isolated_margin_leverage": lev,
                "margin_type": mtype}  # fmt: skip

    def set_margin(self, address: str, market: str, leverage: Any, margin_type: Any) -> None:
        """Set the account's leverage and margin type in ``market`` (validated)."""
        self._account(address)
        if market not in self.markets:
            raise Rejected("MARKET_NOT_FOUND", f"market {market} not found", status=404)
        if isinstance(leverage, bool) or not isinstance(leverage, int):
            raise Rejected("VALIDATION_ERROR", "leverage must be an integer")
        if not 1 <= leverage <= self.max_leverage:
            raise Rejected(
                "VALIDATION_ERROR", f"leverage must be in [1, {self.max_leverage}] for {market}"
            )
        if margin_type not in ("CROSS", "ISOLATED"):
            raise Rejected("VALIDATION_ERROR", "margin_type must be CROSS or ISOLATED")
        self.margin[(address, market)] = (leverage, margin_type)

    def _initial_margin(self, address: str, exclude: str | None = None) -> Decimal:
        """Positions' and open orders' notional, each times the account's initial margin
        fraction in its market (reduce-only orders need none)."""
        total = ZERO
        for (addr, sym), pos in self.positions.items():
            if addr == address and pos.size:
                total += abs(pos.size) * self.markets[sym].mark * self.imf_for(address, sym)
        for o in self.open_orders(address):
            if o.id == exclude or o.reduce_only:
                continue
            px = o.price if o.price > 0 else self.markets[o.market].mark
            total += o.remaining * px * self.imf_for(address, o.market)
        return total

    def open_orders(self, address: str, market: str | None = None) -> list[Order]:
        out: list[Order] = []
        for m in self.markets.values():
            if market is not None and m.spec.symbol != market:
                continue
            for o in (*m.user_bids, *m.user_asks, *m.stops):
                if o.account == address:
                    out.append(o)
        out.sort(key=lambda o: o.created_at)
        return out

    def position(self, address: str, market: str) -> Position:
        key = (address, market)
        p = self.positions.get(key)
        if p is None:
            p = Position(address, market, created_at=self.now_ms)
            self.positions[key] = p
        return p

    # ----------------------------------------------------------------- market data

    @staticmethod
    def _bbo_key(m: _Market) -> tuple[Any, ...]:
        return (*Exchange._best(m, True), *Exchange._best(m, False))

    @staticmethod
    def _best(m: _Market, bid: bool) -> tuple[Decimal | None, Decimal]:
        syn = m.bids if bid else m.asks
        users = m.user_bids if bid else m.user_asks
        best: Decimal | None = None
        for lvl in syn:
            if lvl.size > 0:
                best = lvl.price
                break
        if users:
            up = users[0].price
            if best is None or (up > best if bid else up < best):
                best = up
        if best is None:
            return None, ZERO
        size = sum((lv.size for lv in syn if lv.price == best), ZERO)
        size += sum((o.remaining for o in users if o.price == best), ZERO)
        return best, size

    def bbo(self, market: str) -> dict[str, Any]:
        m = self._market(market)
        bid, bid_size = self._best(m, True)
        ask, ask_size = self._best(m, False)
        return {
            "market": market,
            "bid": fmt(bid) if bid is not None else "",
            "bid_size": fmt(bid_size),
            "ask": fmt(ask) if ask is not None else "",
            "ask_size": fmt(ask_size),
            "last_updated_at": self.now_ms,
            "seq_no": m.book_seq,
        }

    def orderbook(self, market: str, depth: int = 20) -> dict[str, Any]:
        m = self._market(market)

        def side(bid: bool) -> list[list[str]]:
            agg: dict[Decimal, Decimal] = {}
            for lvl in m.bids if bid else m.asks:
                if lvl.size > 0:
                    agg[lvl.price] = agg.get(lvl.price, ZERO) + lvl.size
            for o in m.user_bids if bid else m.user_asks:
                agg[o.price] = agg.get(o.price, ZERO) + o.remaining
            prices = sorted(agg, reverse=bid)[:depth]
            return [[fmt(p), fmt(agg[p])] for p in prices]

        bids, asks = side(True), side(False)
        return {
            "market": market,
            "seq_no": m.book_seq,
            "last_updated_at": self.now_ms,
            "bids": bids,
            "asks": asks,
            # the spec's list[str]: the best level as [price, size] ([] for an empty side)
            "best_bid_api": list(bids[0]) if bids else [],
            "best_ask_api": list(asks[0]) if asks else [],
            "best_bid_interactive": list(bids[0]) if bids else [],
            "best_ask_interactive": list(asks[0]) if asks else [],
        }

    def market_summary(self, market: str) -> dict[str, Any]:
        m = self._market(market)
        bbo = self.bbo(market)
        return {
            "symbol": market,
            "mark_price": fmt(m.mark),
            "last_traded_price": fmt(m.last_trade_price),
            "bid": bbo["bid"],
            "bid_size": bbo["bid_size"],
            "ask": bbo["ask"],
            "ask_size": bbo["ask_size"],
            "volume_24h": fmt(m.volume_24h),
            "total_volume": fmt(m.volume_24h),
            "open_interest": fmt(self._open_interest(market)),
            "funding_rate": "0",
            "future_funding_rate": "0",
            "price_change_rate_24h": fmt(
                ((m.mark - m.spec.initial_price) / m.spec.initial_price).quantize(_Q8)
            ),
            "underlying_price": fmt(m.mark),
            "external_fair_price": fmt(m.mark),
            "delta": "1",  # a perpetual moves one for one with its underlying
            "created_at": self.now_ms,
            # options and rolling-contract fields: null on a perpetual
            "greeks": None,
            "mark_iv": None,
            "bid_iv": None,
            "ask_iv": None,
            "last_iv": None,
            "forward_rate": None,
            "risk_free_rate": None,
            "rolling_details": None,
        }

    def _open_interest(self, market: str) -> Decimal:
        return sum(
            (p.size for (_, sym), p in self.positions.items() if sym == market and p.size > 0),
            ZERO,
        )

    def trades(self, market: str | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in self.markets.values():
            if market is None or m.spec.symbol == market:
                out.extend(m.trades)
        out.sort(key=lambda t: t["created_at"], reverse=True)
        return out

    def mark(self, market: str) -> Decimal:
        return self._market(market).mark

    # ----------------------------------------------------------------- synthetic book, walk

    def _regen_book(self, m: _Market) -> None:
        """A fresh synthetic book: ``book_levels`` levels a side, 1 bp apart, around the mark,
        each 50-150% of the market's typical level size (one RNG draw for the whole book)."""
        spec = m.spec
        inc = spec.size_increment
        step = max(spec.tick, _floor_to(m.mark * _BP, spec.tick))
        best_bid = _floor_to(m.mark - step, spec.tick)
        best_ask = _ceil_to(m.mark + step, spec.tick)
        units = int(spec.level_size / inc)
        n = self.config.book_levels
        bits = self.rng.getrandbits(14 * n)
        bids: list[_Level] = []
        asks: list[_Level] = []
        for i in range(n):
            b = 50 + ((bits >> (14 * i)) & 127) * 100 // 127
            a = 50 + ((bits >> (14 * i + 7)) & 127) * 100 // 127
            offset = step * i
            bp = best_bid - offset
            if bp > 0:
                bids.append(_Level(bp, max(1, units * b // 100) * inc))
            asks.append(_Level(best_ask + offset, max(1, units * a // 100) * inc))
        m.bids, m.asks = bids, asks
        m.book_seq += 1

    def advance(self, now_ms: int) -> list[Event]:
        """Advance time: step the mark-price walk (if enabled) up to ``now_ms``."""
        self._tick(now_ms)
        walk = self.config.mark_walk_ms
        if walk <= 0:
            self._last_walk = self.now_ms
            return self._finish()
        steps = (self.now_ms - self._last_walk) // walk
        if steps <= 0:
            return self._finish()
        self._last_walk += steps * walk
        for _ in range(min(steps, 10)):  # after a long pause, do not replay hours of walk
            self._walk_step()
        return self._finish()

    def walk(self, steps: int, now_ms: int) -> list[Event]:
        """Run ``steps`` steps of the mark-price walk now, whatever ``mark_walk_ms`` is."""
        self._tick(now_ms)
        for _ in range(steps):
            self._walk_step()
        return self._finish()

    def _walk_step(self) -> None:
        vol = self.config.mark_volatility_bp
        for m in self.markets.values():
            change_bp = D(round(self.rng.gauss(0.0, vol) * 100)) / 1_000_000
            new = _floor_to(m.mark * (ONE + change_bp), m.spec.tick)
            if new > 0:
                self._move_mark(m, new)

    def set_mark(self, market: str, price: Decimal, now_ms: int) -> list[Event]:
        """Move the mark price (admin fault): regenerates the book, fills crossed resting
        orders, triggers stops."""
        self._tick(now_ms)
        m = self._market(market)
        price = _floor_to(price, m.spec.tick) if price > 0 else price
        if price <= 0:
            raise Rejected(
                "VALIDATION_ERROR", f"mark price must be at least the tick size {fmt(m.spec.tick)}"
            )
        self._move_mark(m, price)
        return self._finish()

    def _move_mark(self, m: _Market, price: Decimal) -> None:
        m.mark = price
        self._regen_book(m)
        self._touched_markets.add(m.spec.symbol)
        # Resting user orders crossed by the new synthetic book fill as makers.
        for o in list(m.user_bids):
            self._cross_resting(m, o)
        for o in list(m.user_asks):
            self._cross_resting(m, o)
        # Stops whose condition is met trigger.
        for o in list(m.stops):
            above = "STOP_CONDITION_ABOVE_TRIGGER" in o.flags
            if (above and m.mark >= o.trigger_price) or (not above and m.mark <= o.trigger_price):
                m.stops.remove(o)
                o.status = NEW
                self._order_changed(o)
                self._execute(m, o)
        # Margin on orders without a price (stop-market) follows the mark.
        for o in m.stops:
            if o.price == 0:
                self._touched_accounts.add(o.account)
        # Positions revalue with the mark.
        for (addr, sym), pos in self.positions.items():
            if sym == m.spec.symbol and pos.size:
                pos.seq_no = self._next_seq()
                pos.last_updated_at = self.now_ms
                self._emit("position", addr, sym, pos.to_json(m.mark))
                self._touched_accounts.add(addr)

    def _cross_resting(self, m: _Market, o: Order) -> None:
        levels = m.asks if o.is_buy else m.bids
        filled = False
        for lvl in levels:
            if o.status == CLOSED or o.remaining <= 0:
                break
            crosses = lvl.price <= o.price if o.is_buy else lvl.price >= o.price
            if not crosses:
                break
            if lvl.size <= 0:
                continue
            qty = self._reduce_only_cap(o, min(o.remaining, lvl.size))
            if qty <= 0:
                self._close(o, REDUCE_ONLY_WILL_INCREASE)
                return
            lvl.size -= qty
            self._fill(o, qty, o.price, "MAKER")
            filled = True
        if o.status == CLOSED or not filled:
            return
        if o.remaining == 0:
            self._close(o, "")
        else:
            self._order_changed(o)

    # ----------------------------------------------------------------- order entry

    def validate(self, address: str, req: OrderRequest, now_ms: int) -> _Market:
        """Synchronous checks (HTTP 400 on failure). Raises :class:`Rejected`."""
        self._account(address)
        m = self._market(req.market)
        spec = m.spec
        if req.side not in ("BUY", "SELL"):
            raise Rejected("VALIDATION_ERROR", "side must be BUY or SELL")
        if req.type not in ORDER_TYPES:
            raise Rejected("VALIDATION_ERROR", f"invalid order type {req.type!r}")
        if req.instruction not in INSTRUCTIONS:
            raise Rejected("VALIDATION_ERROR", f"invalid instruction {req.instruction!r}")
        if req.instruction == "RPI":
            raise Rejected("RPI_ACCOUNT_NOT_WHITELISTED", "account is not whitelisted for RPI")
        if req.instruction == "IOC" and req.type not in LIMIT_TYPES:
            raise Rejected("VALIDATION_ERROR", "IOC is only valid with limit order types")
        if req.instruction == "POST_ONLY" and req.type not in ("LIMIT", "STOP_LIMIT"):
            raise Rejected("VALIDATION_ERROR", "POST_ONLY is only valid with LIMIT or STOP_LIMIT")
        if req.stp not in STP_MODES:
            raise Rejected("VALIDATION_ERROR", f"invalid stp {req.stp!r}")
        for flag in req.flags:
            if flag != "REDUCE_ONLY":
                raise Rejected("VALIDATION_ERROR", f"invalid flag {flag!r}")
        if req.size <= 0 or not _is_multiple(req.size, spec.size_increment):
            raise Rejected(
                "INVALID_ORDER_SIZE",
                f"size must be a positive multiple of {fmt(spec.size_increment)}",
            )
        if req.size > spec.max_order_size:
            raise Rejected("INVALID_ORDER_SIZE", f"size exceeds max {fmt(spec.max_order_size)}")
        if req.type in LIMIT_TYPES:
            if req.price is None or req.price <= 0:
                raise Rejected("VALIDATION_ERROR", "price is required for limit orders")
            if not _is_multiple(req.price, spec.tick):
                raise Rejected(
                    "VALIDATION_ERROR", f"price must be a multiple of tick size {fmt(spec.tick)}"
                )
        elif req.price is not None and req.price != 0:
            raise Rejected("VALIDATION_ERROR", "price must be 0 or omitted for market orders")
        if req.type in TRIGGER_TYPES:
            tp = req.trigger_price
            if tp is None or tp <= 0 or not _is_multiple(tp, spec.tick):
                raise Rejected(
                    "VALIDATION_ERROR",
                    f"trigger_price must be a positive multiple of {fmt(spec.tick)}",
                )
        ref = req.price if req.type in LIMIT_TYPES and req.price else m.mark
        if req.size * ref < spec.min_notional:
            raise Rejected(
                "INVALID_ORDER_SIZE",
                f"order notional below min_notional {fmt(spec.min_notional)}",
            )
        if len(req.client_id) > 64:
            raise Rejected("VALIDATION_ERROR", "client_id longer than 64 characters")
        if req.client_id and any(o.client_id == req.client_id for o in self.open_orders(address)):
            raise Rejected("DUPLICATED_CLIENT_ID", f"client_id {req.client_id!r} is in use")
        if req.recv_window is not None and req.recv_window < 10:
            raise Rejected("VALIDATION_ERROR", "recv_window must be at least 10 ms")
        window = self.config.default_recv_window_ms if req.recv_window is None else req.recv_window
        if window and req.signature_timestamp and now_ms > req.signature_timestamp + window:
            raise Rejected(
                "VALIDATION_ERROR",
                f"request expired: signature_timestamp is more than {window} ms old (recv_window)",
            )
        if len(self.open_orders(address, req.market)) >= self.config.max_open_orders:
            raise Rejected(
                "VALIDATION_ERROR",
                f"max open orders ({self.config.max_open_orders}) reached for {req.market}",
            )
        return m

    def place_order(
        self, address: str, req: OrderRequest, now_ms: int
    ) -> tuple[dict[str, Any], list[Event]]:
        """Accept an order. Returns the acceptance snapshot (status NEW, what the REST 201
        carries) and the events (NEW, then OPEN or CLOSED, fills, ...)."""
        self._tick(now_ms)
        m = self.validate(address, req, self.now_ms)
        accepted = self._accept(address, m, req)
        return accepted, self._finish()

    def place_batch(
        self, address: str, reqs: list[OrderRequest], now_ms: int
    ) -> tuple[list[dict[str, Any]], list[Event]]:
        """All-or-nothing validation (``data.index`` names the failing order), then each
        order is risk-checked and matched independently."""
        self._tick(now_ms)
        markets: list[_Market] = []
        seen: set[str] = set()
        for i, req in enumerate(reqs):
            try:
                markets.append(self.validate(address, req, self.now_ms))
            except Rejected as err:
                raise Rejected(err.code, err.message, data={"index": i}) from None
            if req.client_id:
                if req.client_id in seen:
                    raise Rejected(
                        "DUPLICATED_CLIENT_ID",
                        f"client_id {req.client_id!r} repeated in batch",
                        data={"index": i},
                    )
                seen.add(req.client_id)
        accepted = [self._accept(address, m, r) for m, r in zip(markets, reqs, strict=True)]
        return accepted, self._finish()

    def _accept(self, address: str, m: _Market, req: OrderRequest) -> dict[str, Any]:
        flags = list(req.flags)
        trigger = req.trigger_price or ZERO
        if req.type in TRIGGER_TYPES:
            flags.append(
                "STOP_CONDITION_ABOVE_TRIGGER"
                if trigger >= m.mark
                else "STOP_CONDITION_BELOW_TRIGGER"
            )
        o = Order(
            id=self._next_id(),
            account=address,
            market=m.spec.symbol,
            side=req.side,
            type=req.type,
            size=req.size,
            remaining=req.size,
            price=req.price if req.type in LIMIT_TYPES and req.price else ZERO,
            instruction=req.instruction,
            client_id=req.client_id,
            flags=flags,
            stp=req.stp,
            trigger_price=trigger,
            timestamp=req.signature_timestamp,
            created_at=self.now_ms,
            received_at=self.now_ms,
            last_updated_at=self.now_ms,
        )
        self.orders[o.id] = o
        self._order_changed(o)
        accepted = o.to_json()
        # Risk checks (late rejection: 201 then CLOSED with a cancel_reason).
        reason = self._risk_check(o, m)
        if reason:
            self._close(o, reason)
        elif o.type in TRIGGER_TYPES:
            o.status = UNTRIGGERED
            m.stops.append(o)
            self._order_changed(o)
        else:
            self._execute(m, o)
        return accepted

    def _risk_check(self, o: Order, m: _Market) -> str:
        pos = self.position(o.account, o.market).size
        signed = o.size if o.is_buy else -o.size
        if o.reduce_only:
            if pos == 0 or (pos > 0) == o.is_buy:
                return REDUCE_ONLY_WILL_INCREASE
            return ""
        if abs(pos + signed) > m.spec.position_limit and abs(pos + signed) > abs(pos):
            return ORDER_EXCEEDS_POSITION_LIMIT
        # Only the part of the order that increases exposure needs margin.
        reducing = pos != 0 and (pos > 0) != o.is_buy
        increase = max(ZERO, o.size - abs(pos)) if reducing else o.size
        px = o.price if o.price > 0 else m.mark
        summary = self.account_summary(o.account)
        value = D(summary["account_value"])
        imr = D(summary["initial_margin_requirement"])
        if imr + increase * px * self.imf_for(o.account, o.market) > value:
            return NOT_ENOUGH_MARGIN
        return ""

    def _reduce_only_cap(self, o: Order, qty: Decimal) -> Decimal:
        if not o.reduce_only:
            return qty
        pos = self.position(o.account, o.market).size
        if pos == 0 or (pos > 0) == o.is_buy:
            return ZERO
        return min(qty, abs(pos))

    def _would_cross(self, m: _Market, o: Order) -> bool:
        best, _ = self._best(m, not o.is_buy)
        if best is None:
            return False
        if o.type not in LIMIT_TYPES:
            return True
        return best <= o.price if o.is_buy else best >= o.price

    def _execute(self, m: _Market, o: Order) -> None:
        """Match a (new, triggered or modified) order as taker; rest or close the remainder."""
        if o.instruction == "POST_ONLY" and self._would_cross(m, o):
            self._close(o, POST_ONLY_WOULD_CROSS)
            return
        reason = self._take(m, o)
        if o.status == CLOSED:
            return
        if o.remaining == 0:
            self._close(o, "")
        elif reason:
            self._close(o, reason)
        elif o.type not in LIMIT_TYPES:
            self._close(o, NO_LIQUIDITY)
        elif o.instruction == "IOC":
            self._close(o, IOC_REMAINDER)
        else:
            self._rest(m, o)

    def _take(self, m: _Market, o: Order) -> str:
        """Take liquidity for ``o``; returns a cancel_reason if matching must stop early."""
        syn = m.asks if o.is_buy else m.bids
        users = m.user_asks if o.is_buy else m.user_bids
        limit = o.price if o.type in LIMIT_TYPES else None
        si = 0
        while o.remaining > 0:
            while si < len(syn) and syn[si].size <= 0:
                si += 1
            lvl = syn[si] if si < len(syn) else None
            maker = users[0] if users else None
            if lvl is None and maker is None:
                return ""
            use_user = maker is not None and (
                lvl is None or (maker.price <= lvl.price if o.is_buy else maker.price >= lvl.price)
            )
            price = maker.price if use_user and maker is not None else lvl.price  # type: ignore[union-attr]
            if limit is not None and (price > limit if o.is_buy else price < limit):
                return ""
            if use_user and maker is not None and maker.account == o.account:
                if o.stp in ("EXPIRE_MAKER", "EXPIRE_BOTH"):
                    self._close(maker, SELF_TRADE)
                if o.stp in ("EXPIRE_TAKER", "EXPIRE_BOTH"):
                    return SELF_TRADE
                continue
            avail = maker.remaining if use_user and maker is not None else lvl.size  # type: ignore[union-attr]
            qty = self._reduce_only_cap(o, min(o.remaining, avail))
            if qty <= 0:
                return REDUCE_ONLY_WILL_INCREASE
            if use_user and maker is not None:
                mqty = self._reduce_only_cap(maker, qty)
                if mqty <= 0:
                    self._close(maker, REDUCE_ONLY_WILL_INCREASE)
                    continue
                qty = mqty
                self._fill(maker, qty, price, "MAKER")
                if maker.remaining == 0:
                    self._close(maker, "")
                else:
                    self._order_changed(maker)
            else:
                lvl.size -= qty  # type: ignore[union-attr]
            self._fill(o, qty, price, "TAKER")
            self._public_trade(m, o, qty, price)
        return ""

    def _rest(self, m: _Market, o: Order) -> None:
        book = m.user_bids if o.is_buy else m.user_asks
        i = 0
        if o.is_buy:
            while i < len(book) and book[i].price >= o.price:
                i += 1
        else:
            while i < len(book) and book[i].price <= o.price:
                i += 1
        book.insert(i, o)
        self._touched_markets.add(m.spec.symbol)
        if o.status != OPEN:
            o.status = OPEN
            self._order_changed(o)

    def _unbook(self, o: Order) -> None:
        m = self.markets[o.market]
        for book in (m.user_bids, m.user_asks, m.stops):
            if o in book:
                book.remove(o)
                self._touched_markets.add(o.market)
                return

    def _close(self, o: Order, reason: str) -> None:
        if o.status == CLOSED:
            return
        self._unbook(o)
        o.status = CLOSED
        o.cancel_reason = reason
        self._order_changed(o)

    def _public_trade(self, m: _Market, taker: Order, qty: Decimal, price: Decimal) -> None:
        m.last_trade_price = price
        m.volume_24h += qty * price
        trade = {
            "id": self._next_id(),
            "market": m.spec.symbol,
            "side": taker.side,
            "size": fmt(qty),
            "price": fmt(price),
            "created_at": self.now_ms,
            "trade_type": "FILL",
        }
        m.trades.append(trade)
        if len(m.trades) > 1000:
            del m.trades[:100]
        self._touched_markets.add(m.spec.symbol)
        self._emit("trade", None, m.spec.symbol, trade)

    def _fill(self, o: Order, qty: Decimal, price: Decimal, liquidity: str) -> Fill:
        m = self.markets[o.market]
        acct = self.accounts[o.account]
        rate = self.config.maker_fee if liquidity == "MAKER" else self.config.taker_fee
        fee = qty * price * rate
        pos = self.position(o.account, o.market)
        realized = self._apply_to_position(pos, qty if o.is_buy else -qty, price)
        o.remaining -= qty
        o.filled_notional += qty * price
        fill = Fill(
            id=self._next_id(),
            order_id=o.id,
            client_id=o.client_id,
            account=o.account,
            market=o.market,
            side=o.side,
            liquidity=liquidity,
            price=price,
            size=qty,
            remaining_size=o.remaining,
            fee=fee,
            realized_pnl=realized,
            created_at=self.now_ms,
            orderbook_seq_no=m.book_seq,
            underlying_price=m.mark,
        )
        self.fills[o.account].append(fill)
        pos.last_fill_id = fill.id
        pos.last_updated_at = self.now_ms
        pos.seq_no = self._next_seq()
        before = acct.balance
        acct.balance += realized - fee
        self._touched_accounts.add(acct.address)
        self._touched_markets.add(o.market)
        self._emit("fill", o.account, o.market, fill.to_json())
        self._emit("position", o.account, o.market, pos.to_json(m.mark))
        self._emit_balance(
            acct,
            before,
            "TRANSACTION_FILL",
            {
                "market": o.market,
                "fill_id": fill.id,
                "fees": fmt(fee),
                "funding_index": "0",
                "realized_funding": "0",
                "realized_pnl": fmt(realized),
            },
        )
        return fill

    def _apply_to_position(self, pos: Position, delta: Decimal, price: Decimal) -> Decimal:
        old = pos.size
        new = old + delta
        realized = ZERO
        if old == 0 or (old > 0) == (delta > 0):
            pos.average_entry_price = (
                (abs(old) * pos.average_entry_price + abs(delta) * price) / abs(new)
            ).quantize(_Q8, ROUND_HALF_EVEN)
            if old == 0:
                pos.created_at = self.now_ms
                pos.realized_positional_pnl = ZERO
                pos.exit_size = ZERO
                pos.average_exit_price = ZERO
        else:
            closing = min(abs(delta), abs(old))
            realized = (price - pos.average_entry_price) * closing * (1 if old > 0 else -1)
            pos.average_exit_price = (
                (pos.exit_size * pos.average_exit_price + closing * price)
                / (pos.exit_size + closing)
            ).quantize(_Q8, ROUND_HALF_EVEN)
            pos.exit_size += closing
            pos.realized_positional_pnl += realized
            if new == 0:
                pos.average_entry_price = ZERO
                pos.closed_at = self.now_ms
            elif (new > 0) != (old > 0):  # flipped: the rest opens at the fill price
                pos.average_entry_price = price
                pos.created_at = self.now_ms
                pos.realized_positional_pnl = ZERO
                pos.exit_size = ZERO
                pos.average_exit_price = ZERO
        pos.set_size(new)
        return realized

    # ----------------------------------------------------------------- modify and cancel

    def get_order(self, address: str, order_id: str) -> Order:
        o = self.orders.get(order_id)
        if o is None or o.account != address:
            raise Rejected("ORDER_ID_NOT_FOUND", f"order {order_id} not found")
        return o

    def find_by_client_id(self, address: str, client_id: str) -> Order:
        """The open order with this client_id, else the most recent closed one."""
        best: Order | None = None
        for o in self.open_orders(address):
            if o.client_id == client_id:
                return o
        for o in self.orders.values():
            if (
                o.account == address
                and o.client_id == client_id
                and (best is None or o.created_at >= best.created_at)
            ):
                best = o
        if best is None:
            raise Rejected("CLIENT_ORDER_ID_NOT_FOUND", f"client_id {client_id!r} not found")
        return best

    def modify_order(
        self, address: str, order_id: str, req: OrderRequest, now_ms: int
    ) -> tuple[dict[str, Any], list[Event]]:
        """Change price/size (and trigger price) of an open limit or stop order; keeps the id."""
        self._tick(now_ms)
        o = self.get_order(address, order_id)
        if o.status == CLOSED:
            raise Rejected("ORDER_IS_CLOSED", f"order {order_id} is closed")
        if o.type not in LIMIT_TYPES and o.status != UNTRIGGERED:
            raise Rejected("ORDER_IS_NOT_OPEN", "only limit or untriggered orders can be modified")
        if req.market != o.market or req.side != o.side or req.type != o.type:
            raise Rejected("VALIDATION_ERROR", "market, side and type must match the order")
        m = self.markets[o.market]
        spec = m.spec
        if req.size <= o.filled or not _is_multiple(req.size, spec.size_increment):
            raise Rejected(
                "INVALID_ORDER_SIZE", "size must exceed the filled size and match the increment"
            )
        if req.size > spec.max_order_size:
            raise Rejected("INVALID_ORDER_SIZE", f"size exceeds max {fmt(spec.max_order_size)}")
        new_price = req.price if req.price is not None else o.price
        if o.type in LIMIT_TYPES and (new_price <= 0 or not _is_multiple(new_price, spec.tick)):
            raise Rejected(
                "VALIDATION_ERROR", f"price must be a multiple of tick size {fmt(spec.tick)}"
            )
        if req.trigger_price is not None and req.trigger_price > 0:
            if o.status != UNTRIGGERED:
                raise Rejected("VALIDATION_ERROR", "trigger_price can only change before trigger")
            if not _is_multiple(req.trigger_price, spec.tick):
                raise Rejected("VALIDATION_ERROR", "trigger_price must match the tick size")
            o.trigger_price = req.trigger_price
        self._unbook(o)
        o.remaining = req.size - o.filled
        o.size = req.size
        o.price = new_price if o.type in LIMIT_TYPES else ZERO
        o.timestamp = req.signature_timestamp or o.timestamp
        reason = self._risk_check(o, m)  # a bigger or moved order may need more margin
        o.request_info = {
            "id": self._next_id(),
            "request_type": "MODIFY_ORDER",
            "status": "REJECTED" if reason else "SUCCESS",
            "message": reason or "",
        }
        if reason:
            self._close(o, reason)
        elif o.status == UNTRIGGERED:
            m.stops.append(o)
            self._order_changed(o)
        else:
            self._order_changed(o)
            self._execute(m, o)
        return o.to_json(), self._finish()

    def cancel_order(self, address: str, order_id: str, now_ms: int) -> list[Event]:
        self._tick(now_ms)
        o = self.get_order(address, order_id)
        if o.status == CLOSED:
            raise Rejected("ORDER_IS_CLOSED", f"order {order_id} is already closed")
        self._close(o, USER_CANCELED)
        return self._finish()

    def cancel_by_client_id(
        self, address: str, client_id: str, market: str | None, now_ms: int
    ) -> list[Event]:
        self._tick(now_ms)
        for o in self.open_orders(address, market):
            if o.client_id == client_id:
                self._close(o, USER_CANCELED)
                return self._finish()
        raise Rejected("CLIENT_ORDER_ID_NOT_FOUND", f"no open order with client_id {client_id!r}")

    def cancel_all(self, address: str, market: str | None, now_ms: int) -> list[Event]:
        self._tick(now_ms)
        self._account(address)
        if market is not None:
            self._market(market)
        for o in self.open_orders(address, market):
            self._close(o, USER_CANCELED)
        return self._finish()

    def cancel_batch(
        self, address: str, order_ids: Iterable[str], client_ids: Iterable[str], now_ms: int
    ) -> tuple[list[dict[str, Any]], list[Event]]:
        self._tick(now_ms)
        results: list[dict[str, Any]] = []

        def entry(o: Order, status: str) -> dict[str, Any]:
            return {
                "id": o.id,
                "client_id": o.client_id,
                "account": o.account,
                "market": o.market,
                "status": status,
            }

        for oid in order_ids:
            o = self.orders.get(oid)
            if o is None or o.account != address:
                results.append({"id": oid, "status": "NOT_FOUND"})
            elif o.status == CLOSED:
                results.append(entry(o, "ALREADY_CLOSED"))
            else:
                self._close(o, USER_CANCELED)
                results.append(entry(o, "QUEUED_FOR_CANCELLATION"))
        for cid in client_ids:
            try:
                o = self.find_by_client_id(address, cid)
            except Rejected:
                results.append({"client_id": cid, "status": "NOT_FOUND"})
                continue
            if o.status == CLOSED:
                results.append(entry(o, "ALREADY_CLOSED"))
            else:
                self._close(o, USER_CANCELED)
                results.append(entry(o, "QUEUED_FOR_CANCELLATION"))
        return results, self._finish()

    def force_fill(
        self, order_id: str, size: Decimal | None, price: Decimal | None, now_ms: int
    ) -> list[Event]:
        """Fill an open order as maker against the synthetic book (admin fault)."""
        self._tick(now_ms)
        o = self.orders.get(order_id)
        if o is None:
            raise Rejected("ORDER_ID_NOT_FOUND", f"order {order_id} not found", status=404)
        if o.status == CLOSED:
            raise Rejected("ORDER_IS_CLOSED", f"order {order_id} is closed")
        m = self.markets[o.market]
        qty = o.remaining if size is None else size
        if qty <= 0 or qty > o.remaining or not _is_multiple(qty, m.spec.size_increment):
            raise Rejected("INVALID_ORDER_SIZE", "size must be in (0, remaining_size]")
        px = price if price is not None else (o.price if o.price > 0 else m.mark)
        if o.status == UNTRIGGERED:
            m.stops.remove(o)
            o.status = NEW
        qty = self._reduce_only_cap(o, qty)
        if qty <= 0:
            self._close(o, REDUCE_ONLY_WILL_INCREASE)
            return self._finish()
        self._fill(o, qty, px, "MAKER")
        self._public_trade(m, o, qty, px)
        if o.remaining == 0:
            self._close(o, "")
        elif o in m.user_bids or o in m.user_asks:
            self._order_changed(o)
        elif o.type in LIMIT_TYPES:
            self._rest(m, o)
        else:
            self._close(o, NO_LIQUIDITY)
        return self._finish()

    # ----------------------------------------------------------------- persistence

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume: accounts, orders, fills, positions, marks, counters."""
        rng_state = self.rng.getstate()
        return {
            "version": 1,
            "seed": self.config.seed,
            "now_ms": self.now_ms,
            "seq": self._seq,
            "ids": self._ids,
            "rng": [rng_state[0], list(rng_state[1]), rng_state[2]],
            "marks": {s: fmt(m.mark) for s, m in self.markets.items()},
            "accounts": [a.to_json() for a in self.accounts.values()],
            "orders": [o.to_state() for o in self.orders.values()],
            "fills": [f.to_json() for fs in self.fills.values() for f in fs],
            "positions": [p.to_state() for p in self.positions.values()],
            "subkeys": [sk.to_json() for sk in self.subkeys.values()],
            "margin": [
                {"account": a, "market": m, "leverage": lev, "margin_type": t}
                for (a, m), (lev, t) in self.margin.items()
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: SimConfig) -> Exchange:
        if state.get("version") != 1:
            raise ValueError("unsupported sim state version")
        ex = cls(config, now_ms=state["now_ms"])
        ex._seq = state["seq"]
        ex._ids = state["ids"]
        for a in state["accounts"]:
            acct = Account.from_json(a)
            ex.accounts[acct.address] = acct
            ex.by_public_key[acct.public_key] = acct.address
            ex.fills[acct.address] = []
        for d in state.get("subkeys", []):  # absent in states written before subkeys
            sk = Subkey(
                str(d["account"]),
                str(d["public_key"]),
                int(d["created_at"]),
                str(d.get("name", "")),  # absent in states written before names
            )
            ex.subkeys[sk.public_key] = sk
        for d in state.get("margin", []):  # absent in states written before leverage
            ex.margin[(str(d["account"]), str(d["market"]))] = (
                int(d["leverage"]),
                str(d["margin_type"]),
            )
        for f in state["fills"]:
            ex.fills.setdefault(f["account"], []).append(Fill.from_json(f))
        for p in state["positions"]:
            pos = Position.from_state(p)
            ex.positions[(pos.account, pos.market)] = pos
        for sym, mark in state["marks"].items():
            if sym in ex.markets:
                ex.markets[sym].mark = D(mark)
                ex._regen_book(ex.markets[sym])
        for od in state["orders"]:
            o = Order.from_state(od)
            ex.orders[o.id] = o
            m = ex.markets.get(o.market)
            if m is None or o.status == CLOSED:
                continue
            if o.status == UNTRIGGERED:
                m.stops.append(o)
            else:
                (m.user_bids if o.is_buy else m.user_asks).append(o)
        missing = sorted(
            {p.market for p in ex.positions.values() if p.size != 0 and p.market not in ex.markets}
            | {
                o.market
                for o in ex.orders.values()
                if o.status != CLOSED and o.market not in ex.markets
            }
        )
        if missing:
            raise StateMarketsError(
                f"it holds open orders or positions in {', '.join(missing)}, which is not "
                f"among the markets served ({', '.join(ex.markets)}); add "
                f"{'it' if len(missing) == 1 else 'them'} to --markets"
            )
        for m in ex.markets.values():
            m.user_bids.sort(key=lambda o: (-o.price, o.created_at))
            m.user_asks.sort(key=lambda o: (o.price, o.created_at))
            m.last_bbo = ex._bbo_key(m)
        ex._last_walk = ex.now_ms
        # last, so the book regeneration above does not consume the saved random state
        r = state["rng"]
        ex.rng.setstate((r[0], tuple(r[1]), r[2]))
        return ex

    # ----------------------------------------------------------------- introspection

    def truth(self) -> dict[str, Any]:
        """The engine's view for ``GET /_sim/state``: per account, open orders, positions,
        balance; plus marks."""
        accounts = {}
        for addr, acct in self.accounts.items():
            accounts[addr] = {
                "public_key": acct.public_key,
                "balance": fmt(acct.balance),
                "open_orders": [o.to_json() for o in self.open_orders(addr)],
                "positions": [
                    p.to_json(self.markets[p.market].mark)
                    for (a, _), p in self.positions.items()
                    if a == addr and p.size != 0
                ],
                "fills": len(self.fills.get(addr, [])),
                "subkeys": [sk.public_key for sk in self.subkeys_of(addr)],
            }
        return {
            "now_ms": self.now_ms,
            "marks": {s: fmt(m.mark) for s, m in self.markets.items()},
            "accounts": accounts,
            "orders": {oid: o.status for oid, o in self.orders.items()},
        }


#: largest magnitude a price, size or amount may have (below 10**16), and most decimal places:
#: beyond these the engine's 28-digit arithmetic could not represent tick/step multiples
MAX_DECIMAL_ADJUSTED = 15
MAX_DECIMAL_PLACES = 18


def parse_decimal(value: Any, name: str) -> Decimal:
    """Parse a JSON decimal (string or number) or raise :class:`Rejected`.

    Values of 10**16 or more, or with more than 18 significant decimal places, are refused
    (``VALIDATION_ERROR``), so that no later computation on them can overflow."""
    if isinstance(value, bool) or value is None:
        raise Rejected("VALIDATION_ERROR", f"{name} must be a decimal string")
    text = str(value)
    if len(text) > 100:
        raise Rejected("VALIDATION_ERROR", f"{name} is too long")
    try:
        d = D(text)
    except (InvalidOperation, ValueError):
        raise Rejected("VALIDATION_ERROR", f"{name} must be a decimal string") from None
    if not d.is_finite():
        raise Rejected("VALIDATION_ERROR", f"{name} must be finite")
    if d == 0:
        return d
    if d.adjusted() > MAX_DECIMAL_ADJUSTED:
        raise Rejected("VALIDATION_ERROR", f"{name} is out of range (must be below 1e16)")
    _, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    n = len(digits)
    while n > 1 and digits[n - 1] == 0:  # trailing zeros do not count
        n -= 1
        exp += 1
    if exp < -MAX_DECIMAL_PLACES:
        raise Rejected(
            "VALIDATION_ERROR", f"{name} has more than {MAX_DECIMAL_PLACES} decimal places"
        )
    return d

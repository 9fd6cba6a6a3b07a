"""Typed, immutable views of the objects Paradex sends (``paradex-api.md`` §3.5, §5.7).

Every price, size and amount is a :class:`decimal.Decimal` parsed from the exchange's string,
never a float; ``""`` (the venue's "empty") becomes ``None``. Timestamps are integer unix
milliseconds and ``seq_no`` values are ints. Unknown keys are ignored, and the dict the exchange
sent is kept as ``raw`` (excluded from equality) so output can show exactly what was received.

Each ``parse_*`` function takes the decoded JSON object and raises :class:`ModelError` (a
``ValueError``) naming the object, the field and the offending value when the input is malformed.
The module imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "BBO",
    "ORDER_SIDES",
    "ORDER_STATUSES",
    "Account",
    "Balance",
    "BalanceEvent",
    "Fill",
    "Market",
    "ModelError",
    "Order",
    "Position",
    "Tradebust",
    "parse_account",
    "parse_balance",
    "parse_balance_event",
    "parse_bbo",
    "parse_fill",
    "parse_market",
    "parse_order",
    "parse_position",
    "parse_tradebust",
]

ORDER_STATUSES = frozenset({"NEW", "UNTRIGGERED", "OPEN", "CLOSED"})
ORDER_SIDES = frozenset({"BUY", "SELL"})


class ModelError(ValueError):
    """A payload from the exchange (or a recording) does not have the expected shape."""


# --- field readers -------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(obj: str, key: str, expected: str, value: Any) -> ModelError:
    return ModelError(f"{obj}: field {key!r} must be {expected}, got {_show(value)}")


def _mapping(obj: str, raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ModelError(f"{obj}: expected a JSON object, got {_show(raw)}")
    return raw


def _dec(obj: str, raw: Mapping[str, Any], key: str, *, required: bool = False) -> Decimal | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise _fail(obj, key, "a decimal string", value)
        return None
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise _fail(obj, key, "a decimal string", value) from None
        if result.is_finite():
            return result
    raise _fail(obj, key, "a decimal string", value)


def _req_dec(obj: str, raw: Mapping[str, Any], key: str) -> Decimal:
    value = _dec(obj, raw, key, required=True)
    assert value is not None
    return value


def _int(obj: str, raw: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    value = raw.get(key)
    if type(value) is int:
        return value
    if value is None or value == "":
        if required:
            raise _fail(obj, key, "an integer", value)
        return None
    # Observed type drift: some integer fields arrive quoted (e.g. option markets' open_at).
    if isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit():
        return int(value)
    raise _fail(obj, key, "an integer", value)


def _str(obj: str, raw: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise _fail(obj, key, "a non-empty string", value)
        return None
    if isinstance(value, str):
        return value
    raise _fail(obj, key, "a string", value)


def _req_str(obj: str, raw: Mapping[str, Any], key: str) -> str:
    value = _str(obj, raw, key, required=True)
    assert value is not None
    return value


def _enum(obj: str, raw: Mapping[str, Any], key: str, allowed: frozenset[str]) -> str:
    value = raw.get(key)
    if isinstance(value, str) and value in allowed:
        return value
    raise _fail(obj, key, "one of " + ", ".join(sorted(allowed)), value)


def _strs(obj: str, raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _fail(obj, key, "a list of strings", value)


def _obj(obj: str, raw: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value
    raise _fail(obj, key, "an object", value)


def _raw_field() -> Any:
    return field(default_factory=dict, compare=False, repr=False)


# --- orders --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Order:
    """An order (§3.5.1). ``status`` is one of NEW, UNTRIGGERED, OPEN, CLOSED (terminal)."""

    id: str
    market: str
    side: str
    type: str
    status: str
    size: Decimal
    remaining_size: Decimal | None = None
    price: Decimal | None = None
    avg_fill_price: Decimal | None = None
    trigger_price: Decimal | None = None
    client_id: str | None = None
    account: str | None = None
    cancel_reason: str | None = None
    instruction: str | None = None
    stp: str | None = None
    flags: tuple[str, ...] = ()
    timestamp: int | None = None
    created_at: int | None = None
    received_at: int | None = None
    published_at: int | None = None
    last_updated_at: int | None = None
    seq_no: int | None = None
    request_info: Mapping[str, Any] | None = field(default=None, compare=False)
    raw: Mapping[str, Any] = _raw_field()

    @property
    def is_terminal(self) -> bool:
        return self.status == "CLOSED"

    @property
    def filled_size(self) -> Decimal | None:
        """``size - remaining_size``, or None when the remaining size is unknown."""
        if self.remaining_size is None:
            return None
        return self.size - self.remaining_size


def parse_order(raw: Any) -> Order:
    o = "Order"
    r = _mapping(o, raw)
    return Order(
        id=_req_str(o, r, "id"),
        market=_req_str(o, r, "market"),
        side=_enum(o, r, "side", ORDER_SIDES),
        type=_req_str(o, r, "type"),
        status=_enum(o, r, "status", ORDER_STATUSES),
        size=_req_dec(o, r, "size"),
        remaining_size=_dec(o, r, "remaining_size"),
        price=_dec(o, r, "price"),
        avg_fill_price=_dec(o, r, "avg_fill_price"),
        trigger_price=_dec(o, r, "trigger_price"),
        client_id=_str(o, r, "client_id"),
        account=_str(o, r, "account"),
        cancel_reason=_str(o, r, "cancel_reason"),
        instruction=_str(o, r, "instruction"),
        stp=_str(o, r, "stp"),
        flags=_strs(o, r, "flags"),
        timestamp=_int(o, r, "timestamp"),
        created_at=_int(o, r, "created_at"),
        received_at=_int(o, r, "received_at"),
        published_at=_int(o, r, "published_at"),
        last_updated_at=_int(o, r, "last_updated_at"),
        seq_no=_int(o, r, "seq_no"),
        request_info=_obj(o, r, "request_info"),
        raw=r,
    )


# --- positions, balances, account ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """A position (§3.5.2). ``size`` is signed: positive long, negative short."""

    market: str
    size: Decimal
    status: str | None = None
    side: str | None = None
    id: str | None = None
    account: str | None = None
    average_entry_price: Decimal | None = None
    average_entry_price_usd: Decimal | None = None
    average_exit_price: Decimal | None = None
    cost: Decimal | None = None
    cost_usd: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    unrealized_funding_pnl: Decimal | None = None
    realized_positional_pnl: Decimal | None = None
    realized_positional_funding_pnl: Decimal | None = None
    cached_funding_index: Decimal | None = None
    leverage: Decimal | None = None
    liquidation_price: Decimal | None = None
    last_fill_id: str | None = None
    created_at: int | None = None
    closed_at: int | None = None
    last_updated_at: int | None = None
    seq_no: int | None = None
    raw: Mapping[str, Any] = _raw_field()


def parse_position(raw: Any) -> Position:
    o = "Position"
    r = _mapping(o, raw)
    return Position(
        market=_req_str(o, r, "market"),
        size=_req_dec(o, r, "size"),
        status=_str(o, r, "status"),
        side=_str(o, r, "side"),
        id=_str(o, r, "id"),
        account=_str(o, r, "account"),
        average_entry_price=_dec(o, r, "average_entry_price"),
        average_entry_price_usd=_dec(o, r, "average_entry_price_usd"),
        average_exit_price=_dec(o, r, "average_exit_price"),
        cost=_dec(o, r, "cost"),
        cost_usd=_dec(o, r, "cost_usd"),
        unrealized_pnl=_dec(o, r, "unrealized_pnl"),
        unrealized_funding_pnl=_dec(o, r, "unrealized_funding_pnl"),
        realized_positional_pnl=_dec(o, r, "realized_positional_pnl"),
        realized_positional_funding_pnl=_dec(o, r, "realized_positional_funding_pnl"),
        cached_funding_index=_dec(o, r, "cached_funding_index"),
        leverage=_dec(o, r, "leverage"),
        liquidation_price=_dec(o, r, "liquidation_price"),
        last_fill_id=_str(o, r, "last_fill_id"),
        created_at=_int(o, r, "created_at"),
        closed_at=_int(o, r, "closed_at"),
        last_updated_at=_int(o, r, "last_updated_at"),
        seq_no=_int(o, r, "seq_no"),
        raw=r,
    )


@dataclass(frozen=True, slots=True)
class Balance:
    """A token balance (§3.5.3). For the settlement token ``size`` includes realised PnL,
    funding and fees."""

    token: str
    size: Decimal
    last_updated_at: int | None = None
    average_entry_price: Decimal | None = None
    average_entry_price_usd: Decimal | None = None
    cost: Decimal | None = None
    cost_usd: Decimal | None = None
    raw: Mapping[str, Any] = _raw_field()


def parse_balance(raw: Any) -> Balance:
    o = "Balance"
    r = _mapping(o, raw)
    return Balance(
        token=_req_str(o, r, "token"),
        size=_req_dec(o, r, "size"),
        last_updated_at=_int(o, r, "last_updated_at"),
        average_entry_price=_dec(o, r, "average_entry_price"),
        average_entry_price_usd=_dec(o, r, "average_entry_price_usd"),
        cost=_dec(o, r, "cost"),
        cost_usd=_dec(o, r, "cost_usd"),
        raw=r,
    )


@dataclass(frozen=True, slots=True)
class BalanceEvent:
    """A ``balance_events`` notification (§5.7): one change of the settlement balance."""

    type: str
    settlement_asset_name: str
    settlement_asset_balance_after: Decimal
    created_at: int
    settlement_asset_balance_before: Decimal | None = None
    status: str | None = None
    market: str | None = None
    fill_id: str | None = None
    fees: Decimal | None = None
    funding_index: Decimal | None = None
    realized_funding: Decimal | None = None
    realized_pnl: Decimal | None = None
    settlement_asset_address: str | None = None
    settlement_asset_price: Decimal | None = None
    raw: Mapping[str, Any] = _raw_field()


def parse_balance_event(raw: Any) -> BalanceEvent:
    o = "BalanceEvent"
    r = _mapping(o, raw)
    created_at = _int(o, r, "created_at", required=True)
    assert created_at is not None
    return BalanceEvent(
        type=_req_str(o, r, "type"),
        settlement_asset_name=_req_str(o, r, "settlement_asset_name"),
        settlement_asset_balance_after=_req_dec(o, r, "settlement_asset_balance_after"),
        created_at=created_at,
        settlement_asset_balance_before=_dec(o, r, "settlement_asset_balance_before"),
        status=_str(o, r, "status"),
        market=_str(o, r, "market"),
        fill_id=_str(o, r, "fill_id"),
        fees=_dec(o, r, "fees"),
        funding_index=_dec(o, r, "funding_index"),
        realized_funding=_dec(o, r, "realized_funding"),
        realized_pnl=_dec(o, r, "realized_pnl"),
        settlement_asset_address=_str(o, r, "settlement_asset_address"),
        settlement_asset_price=_dec(o, r, "settlement_asset_price"),
        raw=r,
    )


@dataclass(frozen=True, slots=True)
class Account:
    """The account summary (§3.5.5); its exchange time is ``updated_at``."""

    account: str | None = None
    account_value: Decimal | None = None
    free_collateral: Decimal | None = None
    initial_margin_requirement: Decimal | None = None
    maintenance_margin_requirement: Decimal | None = None
    margin_cushion: Decimal | None = None
    total_collateral: Decimal | None = None
    settlement_asset: str | None = None
    status: str | None = None
    updated_at: int | None = None
    seq_no: int | None = None
    last_seen_notification: int | None = None
    raw: Mapping[str, Any] = _raw_field()


def parse_account(raw: Any) -> Account:
    o = "Account"
    r = _mapping(o, raw)
    return Account(
        account=_str(o, r, "account"),
        account_value=_dec(o, r, "account_value"),
        free_collateral=_dec(o, r, "free_collateral"),
        initial_margin_requirement=_dec(o, r, "initial_margin_requirement"),
        maintenance_margin_requirement=_dec(o, r, "maintenance_margin_requirement"),
        margin_cushion=_dec(o, r, "margin_cushion"),
        total_collateral=_dec(o, r, "total_collateral"),
        settlement_asset=_str(o, r, "settlement_asset"),
        status=_str(o, r, "status"),
        updated_at=_int(o, r, "updated_at"),
        seq_no=_int(o, r, "seq_no"),
        last_seen_notification=_int(o, r, "last_seen_notification"),
        raw=r,
    )


# --- fills and tradebusts --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fill:
    """A fill (§3.5.4). ``side`` is the account's side (spec says taker side; unconfirmed)."""

    id: str
    market: str
    side: str
    size: Decimal
    price: Decimal
    order_id: str | None = None
    client_id: str | None = None
    account: str | None = None
    remaining_size: Decimal | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    liquidity: str | None = None
    fill_type: str | None = None
    flags: tuple[str, ...] = ()
    realized_pnl: Decimal | None = None
    realized_funding: Decimal | None = None
    underlying_price: Decimal | None = None
    orderbook_seq_no: int | None = None
    created_at: int | None = None
    raw: Mapping[str, Any] = _raw_field()

    @property
    def signed_size(self) -> Decimal:
        """``size`` for a BUY, ``-size`` for a SELL: the fill's effect on the position."""
        return self.size if self.side == "BUY" else -self.size


def parse_fill(raw: Any) -> Fill:
    o = "Fill"
    r = _mapping(o, raw)
    return Fill(
        id=_req_str(o, r, "id"),
        market=_req_str(o, r, "market"),
        side=_enum(o, r, "side", ORDER_SIDES),
        size=_req_dec(o, r, "size"),
        price=_req_dec(o, r, "price"),
        order_id=_str(o, r, "order_id"),
        client_id=_str(o, r, "client_id"),
        account=_str(o, r, "account"),
        remaining_size=_dec(o, r, "remaining_size"),
        fee=_dec(o, r, "fee"),
        fee_currency=_str(o, r, "fee_currency"),
        liquidity=_str(o, r, "liquidity"),
        fill_type=_str(o, r, "fill_type"),
        flags=_strs(o, r, "flags"),
        realized_pnl=_dec(o, r, "realized_pnl"),
        realized_funding=_dec(o, r, "realized_funding"),
        underlying_price=_dec(o, r, "underlying_price"),
        orderbook_seq_no=_int(o, r, "orderbook_seq_no"),
        created_at=_int(o, r, "created_at"),
        raw=r,
    )


@dataclass(frozen=True, slots=True)
class Tradebust:
    """A tradebust (§3.5.8): the fill ``busted_fill_id`` failed to settle and was reverted."""

    busted_fill_id: str
    account: str | None = None
    created_at: int | None = None
    raw: Mapping[str, Any] = _raw_field()


def parse_tradebust(raw: Any) -> Tradebust:
    o = "Tradebust"
    r = _mapping(o, raw)
    return Tradebust(
        busted_fill_id=_req_str(o, r, "busted_fill_id"),
        account=_str(o, r, "account"),
        created_at=_int(o, r, "created_at"),
        raw=r,
    )


# --- market data -------------------------------------------------------------------------------


def _on_grid(value: Decimal, step: Decimal | None) -> bool:
    if step is None or step <= 0:
        return True
    return value % step == 0


@dataclass(frozen=True, slots=True)
class Market:
    """A market's static definition (§3.5.6): increments and limits used to validate orders."""

    symbol: str
    base_currency: str | None = None
    quote_currency: str | None = None
    settlement_currency: str | None = None
    asset_kind: str | None = None
    market_kind: str | None = None
    order_size_increment: Decimal | None = None
    price_tick_size: Decimal | None = None
    min_notional: Decimal | None = None
    max_order_size: Decimal | None = None
    position_limit: Decimal | None = None
    max_open_orders: int | None = None
    max_slippage: Decimal | None = None
    price_bands_width: Decimal | None = None
    funding_period_hours: Decimal | None = None
    open_at: int | None = None
    expiry_at: int | None = None
    trading_mode: str | None = None
    raw: Mapping[str, Any] = _raw_field()

    def size_on_increment(self, size: Decimal) -> bool:
        """True when ``size`` is a whole multiple of ``order_size_increment`` (or none is set)."""
        return _on_grid(size, self.order_size_increment)

    def price_on_tick(self, price: Decimal) -> bool:
        """True when ``price`` is a whole multiple of ``price_tick_size`` (or none is set)."""
        return _on_grid(price, self.price_tick_size)


def parse_market(raw: Any) -> Market:
    o = "Market"
    r = _mapping(o, raw)
    return Market(
        symbol=_req_str(o, r, "symbol"),
        base_currency=_str(o, r, "base_currency"),
        quote_currency=_str(o, r, "quote_currency"),
        settlement_currency=_str(o, r, "settlement_currency"),
        asset_kind=_str(o, r, "asset_kind"),
        market_kind=_str(o, r, "market_kind"),
        order_size_increment=_dec(o, r, "order_size_increment"),
        price_tick_size=_dec(o, r, "price_tick_size"),
        min_notional=_dec(o, r, "min_notional"),
        max_order_size=_dec(o, r, "max_order_size"),
        position_limit=_dec(o, r, "position_limit"),
        max_open_orders=_int(o, r, "max_open_orders"),
        max_slippage=_dec(o, r, "max_slippage"),
        price_bands_width=_dec(o, r, "price_bands_width"),
        funding_period_hours=_dec(o, r, "funding_period_hours"),
        open_at=_int(o, r, "open_at"),
        expiry_at=_int(o, r, "expiry_at"),
        trading_mode=_str(o, r, "trading_mode"),
        raw=r,
    )


@dataclass(frozen=True, slots=True)
class BBO:
    """Best bid and offer (§3.1); a side is None when the book side is empty."""

    market: str
    bid: Decimal | None = None
    bid_size: Decimal | None = None
    ask: Decimal | None = None
    ask_size: Decimal | None = None
    last_updated_at: int | None = None
    seq_no: int | None = None
    raw: Mapping[str, Any] = _raw_field()


def parse_bbo(raw: Any) -> BBO:
    o = "BBO"
    r = _mapping(o, raw)
    return BBO(
        market=_req_str(o, r, "market"),
        bid=_dec(o, r, "bid"),
        bid_size=_dec(o, r, "bid_size"),
        ask=_dec(o, r, "ask"),
        ask_size=_dec(o, r, "ask_size"),
        last_updated_at=_int(o, r, "last_updated_at"),
        seq_no=_int(o, r, "seq_no"),
        raw=r,
    )

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
    "ORDER_SIDES",
    "ORDER_STATUSES",
    "Account",
    "Balance",
    "Fill",
    "ModelError",
    "Order",
    "Position",
    "parse_account",
    "parse_balance",
    "parse_fill",
    "parse_order",
    "parse_position",
]

ORDER_STATUSES = frozenset({"NEW", "UNTRIGGERED", "OPEN", "CLOSED"})
ORDER_SIDES = frozenset({"BUY", "SELL"})


class ModelError(ValueError):
    """A payload from the exchange (or a recording) does not have the expected shape."""


# --- field readers -------------------------------------------------------------------------


def show_value(value: Any) -> str:
    """A received value for an error message: a number as JSON writes it, anything else as
    its repr, cut to 60 characters."""
    text = str(value) if type(value) is Decimal else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(obj: str, key: str, expected: str, value: Any) -> ModelError:
    return ModelError(f"{obj}: field {key!r} must be {expected}, got {show_value(value)}")


def _mapping(obj: str, raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ModelError(f"{obj}: expected a JSON object, got {show_value(raw)}")
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

"""Order entry without the CLI: validation, signing, placement, lookup, cancel, modify, wait.

Command outcomes (STYLE item 5) for ``POST /orders``:

* **invalid**: :func:`validate` fails before anything is signed or sent (exit 2);
* **rejected**: the exchange answers with an error (exit 4), or accepts the order and closes it
  a moment later with a ``cancel_reason`` (a *late rejection*, detected by :class:`OrderWatch`);
* **unknown**: a timeout, connection reset or 5xx after the request may have reached the
  exchange. The order is **never re-sent**: :func:`find_by_client_id` looks it up (bounded,
  with backoff) and reports what the exchange holds; if it still cannot tell, exit 6 naming the
  client_id (:class:`~paradexctl.errors.OutcomeUnknown`).

Every order carries a client_id (:func:`new_client_id` when the user gives none), which is what
makes the lookup possible.

Money is ``Decimal`` throughout; excess precision is refused, never truncated.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from itertools import islice
from typing import Any

from paradexctl.core.backoff import Backoff
from paradexctl.errors import (
    ExchangeRejected,
    ExchangeUnavailable,
    OutcomeUnknown,
    UnexpectedAnswer,
    UsageError,
    ValidationError,
)
from paradexctl.paradex.rest import (
    OutcomeUncertain,
    RefusedAfterSend,
    RestClient,
    describe_json,
    expect_object,
    expect_rows,
    path_segment,
    without_none,
)

__all__ = [
    "NOT_FOUND_CODES",
    "ORDER_TYPES",
    "TIFS",
    "WAIT_TARGETS",
    "BatchLine",
    "CancelAllResult",
    "LookupPolicy",
    "OrderSpec",
    "OrderWatch",
    "PlaceResult",
    "build_modify_request",
    "build_order_request",
    "cancel_all",
    "cancel_order",
    "check_against_market",
    "check_client_id",
    "find_by_client_id",
    "get_order",
    "mark_price",
    "mismatch",
    "needs_mark_price",
    "new_client_id",
    "parse_batch",
    "parse_decimal",
    "place_batch",
    "submit_order",
    "validate",
]

#: CLI spelling -> exchange spelling
ORDER_TYPES: dict[str, str] = {
    "limit": "LIMIT",
    "market": "MARKET",
    "stop-limit": "STOP_LIMIT",
    "stop-market": "STOP_MARKET",
}
TIFS: dict[str, str] = {"gtc": "GTC", "ioc": "IOC", "post-only": "POST_ONLY"}
SIDES: dict[str, str] = {"buy": "BUY", "sell": "SELL"}
#: self-trade prevention modes (``--stp``); unset, the exchange applies EXPIRE_TAKER
STP_MODES: dict[str, str] = {
    "expire-maker": "EXPIRE_MAKER",
    "expire-taker": "EXPIRE_TAKER",
    "expire-both": "EXPIRE_BOTH",
}
LIMIT_TYPES = frozenset({"LIMIT", "STOP_LIMIT"})
STOP_TYPES = frozenset({"STOP_LIMIT", "STOP_MARKET"})
#: ``--wait`` targets, in the order an order passes them
WAIT_TARGETS = ("accepted", "open", "filled", "closed")
#: error codes meaning "the exchange has no such order"
NOT_FOUND_CODES = frozenset(
    {"CLIENT_ORDER_ID_NOT_FOUND", "ORDER_ID_NOT_FOUND", "NOT_FOUND", "ORDER_NOT_FOUND"}
)
#: cancel reasons that are the user's own doing, not a rejection
USER_CANCEL_REASONS = frozenset({"", "USER_CANCELED", "USER_CANCELLED"})
#: a signed quantity has at most this many decimals (the chain's fixed point)
CHAIN_DECIMALS = 8
MAX_CLIENT_ID = 64
#: no market's size or price comes near this: a larger value is a typo (and would overflow the
#: 28 significant digits of the increment and tick checks)
MAX_MAGNITUDE = Decimal(10) ** 15


def new_client_id() -> str:
    """A fresh client id: ``pctl-`` + ms timestamp (hex) + 48 random bits."""
    return f"pctl-{int(time.time() * 1000):x}-{secrets.token_hex(6)}"


def parse_decimal(text: str | Decimal | int, what: str) -> Decimal:
    """A finite Decimal or ValidationError naming ``what``. Floats are refused."""
    if isinstance(text, float):
        raise ValidationError(f"{what}: pass {text!r} as a string, not a float")
    try:
        value = text if isinstance(text, Decimal) else Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise ValidationError(f"{what} {text!r} is not a finite number")
    return value


def check_client_id(client_id: str) -> str:
    """``client_id`` if it is 1 to 64 UTF-8 bytes without control characters, else
    ValidationError (exit 2)."""
    import unicodedata

    if not client_id:
        raise ValidationError(
            "client_id must not be empty (leave --client-id out to get a generated one)"
        )
    size = len(client_id.encode("utf-8", "surrogatepass"))
    if size > MAX_CLIENT_ID:
        raise ValidationError(
            f"client_id {client_id[:20]!r}... is {size} bytes; at most {MAX_CLIENT_ID} "
            "(UTF-8) are allowed"
        )
    bad = next((c for c in client_id if unicodedata.category(c) in ("Cc", "Cf", "Cs")), None)
    if bad is not None:
        raise ValidationError(
            f"client_id {client_id!r} contains the control character U+{ord(bad):04X}"
        )
    return client_id


def _plain(d: Decimal) -> str:
    """A Decimal as a plain string (no exponent), trailing zeros kept as given."""
    s = format(d, "f")
    return s


def _dec(market: Mapping[str, Any], key: str) -> Decimal | None:
    raw = market.get(key)
    if raw in (None, ""):
        return None
    try:
        d = Decimal(str(raw))
    except InvalidOperation:
        return None
    return d if d.is_finite() and d > 0 else None


def _neighbours(value: Decimal, step: Decimal) -> tuple[Decimal, Decimal]:
    lo = (value / step).to_integral_value(rounding=ROUND_FLOOR) * step
    hi = (value / step).to_integral_value(rounding=ROUND_CEILING) * step
    q = step.normalize()
    exp = q.as_tuple().exponent
    if isinstance(exp, int) and exp < 0:
        lo, hi = lo.quantize(q), hi.quantize(q)
    return lo, hi


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    try:
        return (value % step) == 0
    except InvalidOperation:
        raise ValidationError(
            f"{_plain(value)} is too large to check against the step {_plain(step)}"
        ) from None


def _decimals(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


@dataclass(frozen=True)
class OrderSpec:
    """An order as the user asked for it, in the exchange's spelling (``BUY``, ``LIMIT``...)."""

    market: str
    side: str
    size: Decimal
    type: str = "LIMIT"
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    instruction: str = "GTC"
    reduce_only: bool = False
    client_id: str = field(default_factory=new_client_id)
    #: self-trade prevention (``EXPIRE_MAKER``...); None: not sent, the exchange's default
    stp: str | None = None

    def describe(self) -> str:
        price = f" @ {_plain(self.price)}" if self.price is not None else ""
        trig = f" trigger {_plain(self.trigger_price)}" if self.trigger_price is not None else ""
        ro = " reduce-only" if self.reduce_only else ""
        stp = f" stp {self.stp}" if self.stp is not None else ""
        return (
            f"{self.side} {_plain(self.size)} {self.market} {self.type}{price}{trig} "
            f"{self.instruction}{ro}{stp} (client_id {self.client_id})"
        )


def validate(
    spec: OrderSpec, market: Mapping[str, Any], *, mark_price: Decimal | None = None
) -> None:
    """Check ``spec`` against the market's metadata; ValidationError (exit 2) says what is valid.

    Checks: side/type/instruction values, prices and sizes positive and finite, at most 8
    decimals (the chain's precision: never truncated), price on the tick, size on the
    increment, size within ``max_order_size``, notional at least ``min_notional``, price
    present exactly when the type needs one, trigger price for stop types, and the
    instruction allowed for the type.

    The notional is priced at the limit price, at the trigger price of a stop-market order,
    and at ``mark_price`` (see :func:`mark_price`) for a market order; without a price it is
    not checked (the exchange still is).
    """
    sym = spec.market
    if spec.side not in ("BUY", "SELL"):
        raise ValidationError(f"side must be buy or sell, not {spec.side!r}")
    if spec.type not in ORDER_TYPES.values():
        raise ValidationError(
            f"order type {spec.type!r} is not supported; choose {', '.join(ORDER_TYPES)}"
        )
    if spec.instruction not in TIFS.values():
        raise ValidationError(
            f"time in force {spec.instruction!r} is not supported; choose {', '.join(TIFS)}"
        )
    if spec.stp is not None and spec.stp not in STP_MODES.values():
        raise ValidationError(
            f"self-trade prevention {spec.stp!r} is not supported; choose {', '.join(STP_MODES)}"
        )
    check_client_id(spec.client_id)
    if spec.size <= 0:
        raise ValidationError(f"size must be positive, not {_plain(spec.size)}")
    is_limit = spec.type in LIMIT_TYPES
    if is_limit and spec.price is None:
        raise ValidationError(f"a {spec.type} order needs --price")
    if not is_limit and spec.price is not None:
        raise ValidationError(
            f"a {spec.type} order takes no --price (it executes at the market); "
            "use --type limit or stop-limit to set a price"
        )
    if spec.type in STOP_TYPES and spec.trigger_price is None:
        raise ValidationError(f"a {spec.type} order needs --trigger-price")
    if spec.type not in STOP_TYPES and spec.trigger_price is not None:
        raise ValidationError("--trigger-price is only for stop-limit and stop-market orders")
    if spec.instruction == "IOC" and not is_limit:
        raise ValidationError("--tif ioc applies to limit orders only (market orders are IOC)")
    if spec.instruction == "POST_ONLY" and not is_limit:
        raise ValidationError("--tif post-only applies to limit and stop-limit orders only")

    for name, value in (("size", spec.size), ("price", spec.price),
                        ("trigger price", spec.trigger_price)):  # fmt: skip
        if value is not None and _decimals(value) > CHAIN_DECIMALS:
            raise ValidationError(
                f"{name} {_plain(value)} has more than {CHAIN_DECIMALS} decimals; "
                "refusing to truncate it"
            )
    for name, value in (("price", spec.price), ("trigger price", spec.trigger_price)):
        if value is not None and value <= 0:
            raise ValidationError(f"{name} must be positive, not {_plain(value)}")

    max_size = _dec(market, "max_order_size")
    if max_size is not None and spec.size > max_size:
        raise ValidationError(
            f"size {_plain(spec.size)} is above {sym}'s maximum order size {_plain(max_size)}"
        )
    for name, value in (("size", spec.size), ("price", spec.price),
                        ("trigger price", spec.trigger_price)):  # fmt: skip
        if value is not None and value > MAX_MAGNITUDE:
            what = "any market's maximum order size" if name == "size" else "any market's prices"
            raise ValidationError(
                f"{name} {_plain(value)} is far above {what} (at most {_plain(MAX_MAGNITUDE)}); "
                f"see 'paradexctl markets {sym}'"
            )

    tick = _dec(market, "price_tick_size")
    step = _dec(market, "order_size_increment")
    if step is not None and not _is_multiple(spec.size, step):
        lo, hi = _neighbours(spec.size, step)
        near = f"{_plain(hi)}" if lo <= 0 else f"{_plain(lo)} or {_plain(hi)}"
        raise ValidationError(
            f"size {_plain(spec.size)} is not a multiple of {sym}'s size increment "
            f"{_plain(step)}; nearest valid sizes: {near}"
        )
    if tick is not None:
        for name, value in (("price", spec.price), ("trigger price", spec.trigger_price)):
            if value is not None and not _is_multiple(value, tick):
                lo, hi = _neighbours(value, tick)
                near = f"{_plain(hi)}" if lo <= 0 else f"{_plain(lo)} or {_plain(hi)}"
                raise ValidationError(
                    f"{name} {_plain(value)} is not on {sym}'s tick of {_plain(tick)}; "
                    f"nearest valid prices: {near}"
                )
    min_notional = _dec(market, "min_notional")
    ref_price: Decimal | None = None
    ref_what = "price"
    if spec.price is not None:
        ref_price = spec.price
    elif spec.type == "STOP_MARKET" and spec.trigger_price is not None:
        ref_price, ref_what = spec.trigger_price, "trigger price"
    elif spec.type == "MARKET" and mark_price is not None and mark_price > 0:
        ref_price, ref_what = mark_price, "mark price"
    if min_notional is not None and ref_price is not None and not spec.reduce_only:
        notional = spec.size * ref_price
        if notional < min_notional:
            need = min_notional / ref_price
            if step is not None:
                need = (need / step).to_integral_value(rounding=ROUND_CEILING) * step
                q = step.normalize()
                if isinstance(q.as_tuple().exponent, int) and _decimals(q) > 0:
                    need = need.quantize(q)
            raise ValidationError(
                f"notional {_plain(notional)} (size {_plain(spec.size)} x {ref_what} "
                f"{_plain(ref_price)}) is below {sym}'s minimum of {_plain(min_notional)}; "
                f"the smallest valid size at this {ref_what} is {_plain(need)}"
            )


def needs_mark_price(spec: OrderSpec, market: Mapping[str, Any]) -> bool:
    """True when only the mark price can tell whether ``spec`` meets ``min_notional``."""
    return (
        spec.type == "MARKET" and not spec.reduce_only and _dec(market, "min_notional") is not None
    )


def mark_price(client: RestClient, market: str) -> Decimal | None:
    """The market's mark price (``GET /markets/summary?market=``), or None when the exchange
    does not give one. ExchangeUnavailable when it cannot be asked."""
    try:
        body = client.get("/markets/summary", {"market": market})
    except ExchangeRejected:
        return None
    rows = (body or {}).get("results") if isinstance(body, dict) else None
    for row in rows or []:
        if isinstance(row, dict) and row.get("symbol") in (None, market):
            try:
                value = Decimal(str(row.get("mark_price")))
            except InvalidOperation:
                return None
            return value if value.is_finite() and value > 0 else None
    return None


def check_against_market(
    spec: OrderSpec,
    market: Mapping[str, Any],
    mark: Callable[[str], Decimal | None],
) -> OrderSpec:
    """``spec`` with the market's own symbol (``btc-usd-perp`` becomes ``BTC-USD-PERP``, the
    symbol that is signed), validated against ``market``; ``mark(symbol)`` is asked for the
    mark price only when a market order's notional needs it (see :func:`needs_mark_price`)."""
    symbol = market.get("symbol")
    if symbol and symbol != spec.market:
        spec = replace(spec, market=str(symbol))
    validate(spec, market, mark_price=mark(spec.market) if needs_mark_price(spec, market) else None)
    return spec


# -- signing --------------------------------------------------------------------------------


def _to_chain(value: Decimal, what: str) -> int:
    from paradexctl.signing import PrecisionError, to_chain_int

    try:
        return int(to_chain_int(value))
    except PrecisionError as err:
        raise ValidationError(f"{what} {_plain(value)}: {err}; refusing to truncate") from None


def build_order_request(
    spec: OrderSpec,
    *,
    chain_id: str,
    account: str,
    private_key: int,
    timestamp_ms: int,
) -> dict[str, Any]:
    """The signed ``POST /orders`` body. MARKET-style orders sign price 0 and send none."""
    from paradexctl.signing import chain_id_felt, format_signature, order_message_hash, sign

    is_limit = spec.type in LIMIT_TYPES
    price = spec.price if is_limit and spec.price is not None else Decimal(0)
    chain_size = _to_chain(spec.size, "size")
    chain_price = _to_chain(price, "price")
    try:
        msg = order_message_hash(
            chain_id_felt(chain_id),
            int(account, 16),
            timestamp_ms=timestamp_ms,
            market=spec.market,
            side=spec.side,
            order_type=spec.type,
            size=chain_size,
            price=chain_price,
        )
    except ValueError as err:  # PrecisionError and other encoding failures
        raise ValidationError(f"cannot sign the order: {err}") from None
    r, s = sign(msg, private_key)
    body: dict[str, Any] = {
        "market": spec.market,
        "side": spec.side,
        "type": spec.type,
        "size": _plain(spec.size),
        "instruction": spec.instruction,
        "client_id": spec.client_id,
        "signature": format_signature(r, s),
        "signature_timestamp": timestamp_ms,
    }
    if is_limit:
        body["price"] = _plain(price)
    if spec.trigger_price is not None:
        body["trigger_price"] = _plain(spec.trigger_price)
    if spec.reduce_only:
        body["flags"] = ["REDUCE_ONLY"]
    if spec.stp is not None:
        body["stp"] = spec.stp  # not signed (``paradex-api.md`` §3.2)
    return body


def build_modify_request(
    order: Mapping[str, Any],
    *,
    size: Decimal,
    price: Decimal,
    chain_id: str,
    account: str,
    private_key: int,
    timestamp_ms: int,
) -> dict[str, Any]:
    """The signed ``PUT /orders/{id}`` body for ``order`` (the exchange's current object)."""
    from paradexctl.signing import (
        chain_id_felt,
        format_signature,
        modify_order_message_hash,
        sign,
    )

    chain_size = _to_chain(size, "size")
    chain_price = _to_chain(price, "price")
    order_id = str(order["id"])
    try:
        msg = modify_order_message_hash(
            chain_id_felt(chain_id),
            int(account, 16),
            timestamp_ms=timestamp_ms,
            market=str(order["market"]),
            side=str(order["side"]),
            order_type=str(order["type"]),
            size=chain_size,
            price=chain_price,
            order_id=int(order_id),
        )
    except ValueError as err:
        raise ValidationError(f"cannot sign the modification: {err}") from None
    r, s = sign(msg, private_key)
    body: dict[str, Any] = {
        "id": order_id,
        "market": order["market"],
        "side": order["side"],
        "type": order["type"],
        "size": _plain(size),
        "price": _plain(price),
        "signature": format_signature(r, s),
        "signature_timestamp": timestamp_ms,
    }
    trig = order.get("trigger_price")
    if trig not in (None, "", "0"):
        body["trigger_price"] = trig
    return body


# -- lookups --------------------------------------------------------------------------------


@dataclass
class LookupPolicy:
    """How hard to look for an order after an uncertain POST: ``rounds`` lookups with
    exponential backoff (``base`` * 2**n, capped at ``cap``) between them."""

    rounds: int = 5
    base: float = 0.2
    cap: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delays(self) -> Iterator[float]:
        return islice(Backoff(self.base, self.cap).delays(None), max(self.rounds - 1, 0))


def _is_not_found(err: ExchangeRejected) -> bool:
    return err.code in NOT_FOUND_CODES or err.status == 404


def get_order(client: RestClient, order_id: str) -> dict[str, Any]:
    """``GET /orders/{id}``: the order object; UnexpectedAnswer (exit 5) when the answer is
    not an order (an object with the id)."""
    body = expect_object(
        client.get(f"/orders/{path_segment(order_id)}", private=True), "GET /orders/{id}"
    )
    if not _is_id(body.get("id")):
        raise UnexpectedAnswer(
            "GET /orders/{id}", "an order object with a string 'id'", "an object without one"
        )
    return body


def _is_id(value: Any) -> bool:
    """An exchange order id: a non-empty string (Paradex's ids are decimal strings)."""
    return isinstance(value, str) and value != ""


def _candidates(
    client: RestClient, client_id: str, market: str | None, *, stop: Callable[[Any], bool]
) -> list[dict[str, Any]]:
    """Orders carrying ``client_id``: ``/orders/by_client_id/{id}`` (the open order, else the
    newest closed one), then ``/orders-history?client_id=``, stopping as soon as ``stop``
    accepts one. ExchangeUnavailable when the exchange cannot be asked."""
    out: list[dict[str, Any]] = []
    try:
        body = client.get(f"/orders/by_client_id/{path_segment(client_id)}", private=True)
        # an object without an id is "nothing open under this client_id"; anything else
        # (a list, a string) is an unreadable answer: the lookup failed, it did not say "none"
        body = expect_object(body, "GET /orders/by_client_id/{client_id}")
        if _is_id(body.get("id")):
            out.append(body)
            if stop(body):
                return out
    except ExchangeRejected as err:
        if not _is_not_found(err):
            raise
    params: dict[str, Any] = {"client_id": client_id, "page_size": 10}
    if market:
        params["market"] = market
    page = client.get("/orders-history", params, private=True)
    seen = {str(o.get("id")) for o in out}
    for row in expect_rows(page, "GET /orders-history"):
        if row.get("client_id") == client_id and _is_id(row.get("id")):
            if str(row.get("id")) in seen:
                continue
            out.append(row)
            if stop(row):
                return out
    return out


def lookup_client_id_once(
    client: RestClient, client_id: str, market: str | None = None
) -> dict[str, Any] | None:
    """One lookup: ``/orders/by_client_id/{id}``, then ``/orders-history?client_id=``.

    Returns the first order found with that client_id (the open one, else the newest closed
    one), or None (the exchange says it has none). ExchangeUnavailable when the exchange
    cannot be asked.
    """
    found = _candidates(client, client_id, market, stop=lambda o: True)
    return found[0] if found else None


def _same_decimal(a: Any, b: Any) -> bool:
    try:
        return Decimal(str(a if a not in (None, "") else 0)) == Decimal(
            str(b if b not in (None, "") else 0)
        )
    except InvalidOperation:
        return False


def mismatch(order: Mapping[str, Any], sent: Mapping[str, Any]) -> str | None:
    """None when ``order`` (the exchange's object) is the order ``sent`` (a signed
    ``POST /orders`` body) placed; else which field differs.

    A client_id can be reused once its order is closed, so finding *an* order with the
    client_id proves nothing: it must also carry the signature timestamp that was signed
    (``Order.timestamp``, a per-order nonce) and the same market, side, type, size, price and
    trigger price.
    """
    ts = order.get("timestamp")
    try:
        same_ts = ts is not None and int(str(ts)) == int(str(sent.get("signature_timestamp")))
    except ValueError:
        same_ts = False
    if not same_ts:
        return f"timestamp {ts} is not the signed {sent.get('signature_timestamp')}"
    for key in ("market", "side", "type"):
        if str(order.get(key)) != str(sent.get(key)):
            return f"{key} {order.get(key)} is not {sent.get(key)}"
    for key in ("size", "price", "trigger_price"):
        if not _same_decimal(order.get(key), sent.get(key)):
            return f"{key} {order.get(key)} is not {sent.get(key) or 0}"
    return None


def _describe_order(o: Mapping[str, Any]) -> str:
    price = o.get("price")
    at = f" @ {price}" if price not in (None, "", "0") else ""
    return (
        f"id {o.get('id')}: {o.get('side')} {o.get('size')} {o.get('market')} "
        f"{o.get('type')}{at}, {o.get('status')}, timestamp {o.get('timestamp')}"
    )


def find_by_client_id(
    client: RestClient,
    client_id: str,
    market: str | None = None,
    *,
    policy: LookupPolicy | None = None,
    sent: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """Look an order up by client_id, ``policy.rounds`` times with backoff.

    With ``sent`` (the signed body that was POSTed), only the order that body placed counts
    (see :func:`mismatch`); another order with the same client_id (an older, closed one) is
    reported in ``why`` but never returned.

    Returns ``(order, "")`` when found, else ``(None, why)`` where ``why`` says whether the
    exchange kept answering "not found", held only a different order with that client_id, or
    could not be asked.
    """
    found, why, _absent = _lookup(client, client_id, market, policy=policy, sent=sent)
    return found, why


def _lookup(
    client: RestClient,
    client_id: str,
    market: str | None,
    *,
    policy: LookupPolicy | None,
    sent: Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, str, bool]:
    """:func:`find_by_client_id`, plus whether every round got a readable answer saying the
    exchange holds no order at all with this client_id (``absent``)."""
    pol = policy or LookupPolicy()
    delays = pol.delays()
    last = ""
    absent = True

    def accept(o: Any) -> bool:
        return sent is None or mismatch(o, sent) is None

    for n in range(pol.rounds):
        try:
            found = _candidates(client, client_id, market, stop=accept)
            hit = next((o for o in found if accept(o)), None)
            if hit is not None:
                return hit, "", False
            if found and sent is not None:
                absent = False
                other = found[0]
                last = (
                    f"the exchange holds a different order with this client_id "
                    f"({_describe_order(other)}; {mismatch(other, sent)}), not the one sent"
                )
            else:
                last = "the exchange reports no such order"
        except ExchangeUnavailable as err:
            absent = False
            last = f"lookup failed: {err.message}"
        if n + 1 < pol.rounds:
            pol.sleep(next(delays))
    return None, f"{last} after {pol.rounds} lookups", absent


# -- placement ------------------------------------------------------------------------------


@dataclass
class PlaceResult:
    """What ``order place`` learned. ``outcome``: ``acknowledged`` (201, not yet confirmed
    open or filled), ``recovered`` (the POST failed but the order was found by client_id),
    or, after :class:`OrderWatch`, the target reached."""

    client_id: str
    outcome: str
    order: dict[str, Any] | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "outcome": self.outcome,
            "client_id": self.client_id,
            "order_id": (self.order or {}).get("id"),
            "status": (self.order or {}).get("status"),
            "order": self.order,
        }
        if self.note:
            out["note"] = self.note
        return out


def submit_order(
    client: RestClient,
    body: Mapping[str, Any],
    *,
    lookup: LookupPolicy | None = None,
) -> PlaceResult:
    """``POST /orders`` once; after an uncertain failure, look it up; never re-send blindly.

    A 2xx is an acknowledgement only when its body accounts for this order (see
    :func:`_acknowledges`); any other answer is looked up by client_id like a failed POST.
    After a 401 (:class:`~paradexctl.paradex.rest.RefusedAfterSend`: the client has
    re-authenticated) the order is looked up first, and sent again (once) only when every
    lookup round got a readable "no such order"."""
    client_id = str(body["client_id"])
    try:
        order = client.post("/orders", dict(body))
    except RefusedAfterSend as err:
        found, why, absent = _lookup(
            client, client_id, str(body["market"]), policy=lookup, sent=body
        )
        if found is not None:
            note = f"the POST got a 401 ({err.message}); the order was found by client_id"
            return PlaceResult(client_id, "recovered", found, note=note)
        if not absent:
            raise _unknown(client_id, "outcome unknown", f"{err.message}; {why}") from None
        # the exchange holds no order with this client_id: the 401 came before processing
        try:
            order = client.post("/orders", dict(body))
        except OutcomeUncertain as err2:
            return _recover(
                client,
                body,
                lookup,
                note=f"the POST failed ({err2.message}); the order was found by client_id",
                headline="outcome unknown",
                cause=err2.message,
            )
    except OutcomeUncertain as err:
        return _recover(
            client,
            body,
            lookup,
            note=f"the POST failed ({err.message}); the order was found by client_id",
            headline="outcome unknown",
            cause=err.message,
        )
    problem = _acknowledges(order, body)
    if problem is not None:
        # accepted, but the answer does not say which order: find it like a failed POST
        return _recover(
            client,
            body,
            lookup,
            note=f"the exchange's answer {problem}; the order was found by client_id",
            headline=f"the exchange accepted it but its answer {problem}",
        )
    return PlaceResult(client_id, "acknowledged", order)


def _acknowledges(order: Any, sent: Mapping[str, Any]) -> str | None:
    """None when ``order`` (a 2xx answer to ``POST /orders``) is an order object for ``sent``:
    an object with a string ``id`` and ``status``, and ``sent``'s client_id when it carries
    one; else what is wrong with it (the order must then be looked up)."""
    if not isinstance(order, dict):
        return f"carried no order id (it was {describe_json(order)}, not an order object)"
    if not _is_id(order.get("id")):
        return "carried no order id" if order.get("id") is None else "carried no usable order id"
    if not isinstance(order.get("status"), str):
        return "carried no order status"
    cid = order.get("client_id")
    if cid is not None and cid != sent.get("client_id"):
        return "was for another client_id"
    return None


def _unknown(
    client_id: str, headline: str, reasons: str, cause: str | None = None
) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"order with client_id {client_id}: {headline} ({reasons}). It was NOT re-sent. "
        f"Check with 'paradexctl order get --client-id {client_id}' before placing it again",
        client_id=client_id,
        details=None if cause is None else {"cause": cause},
    )


def _recover(
    client: RestClient,
    body: Mapping[str, Any],
    lookup: LookupPolicy | None,
    *,
    note: str,
    headline: str,
    cause: str | None = None,
) -> PlaceResult:
    """Look up by client_id the order ``body`` placed with an uncertain outcome: ``recovered``
    when found (and it matches what was sent), else :class:`OutcomeUnknown` (exit 6)."""
    client_id = str(body["client_id"])
    found, why = find_by_client_id(client, client_id, str(body["market"]), policy=lookup, sent=body)
    if found is not None:
        return PlaceResult(client_id, "recovered", found, note=note)
    reasons = f"{cause}; {why}" if cause is not None else why
    raise _unknown(client_id, headline, reasons, cause)


# -- late rejections and --wait ---------------------------------------------------------------


def _remaining(order: Mapping[str, Any]) -> Decimal | None:
    raw = order.get("remaining_size")
    if raw in (None, ""):
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        return None


def is_filled(order: Mapping[str, Any]) -> bool:
    rem = _remaining(order)
    return order.get("status") == "CLOSED" and rem is not None and rem == 0


def rejection_reason(order: Mapping[str, Any]) -> str | None:
    """The cancel_reason of an order CLOSED with nothing filled, other than by the user."""
    if order.get("status") != "CLOSED":
        return None
    reason = str(order.get("cancel_reason") or "")
    if reason in USER_CANCEL_REASONS:
        return None
    rem = _remaining(order)
    try:
        size = Decimal(str(order.get("size")))
    except InvalidOperation:
        size = None
    if rem is not None and size is not None and rem < size:
        return None  # partly filled: not a rejection
    return reason


def target_reached(order: Mapping[str, Any], target: str) -> bool | None:
    """True when ``order`` satisfies ``target``; False when it never can; None: keep waiting.

    Rejections (closed with a cancel_reason that is not the user's) are False for every
    target. ``accepted`` = past the risk checks (no longer NEW); ``open`` = resting (OPEN or
    UNTRIGGERED) or already filled; ``filled`` = closed with nothing remaining; ``closed`` =
    any CLOSED.
    """
    status = order.get("status")
    if status == "CLOSED":
        if rejection_reason(order) is not None:
            return False
        if target in ("accepted", "closed"):
            return True
        return is_filled(order)
    if target == "accepted":
        return True if status in ("OPEN", "UNTRIGGERED") else None
    if target == "open":
        return True if status in ("OPEN", "UNTRIGGERED") else None
    return None


def _decide(payload: Mapping[str, Any], order_id: str, target: str) -> bool:
    """True when ``payload`` reached ``target``; False: keep waiting.

    Raises:
        ExchangeRejected: a (late) rejection, or a state that can no longer reach ``target``.
    """
    verdict = target_reached(payload, target)
    if verdict is None:
        return False
    if verdict is True:
        return True
    reason = rejection_reason(payload)
    if reason:
        raise ExchangeRejected(
            f"order {order_id} (client_id {payload.get('client_id')}) was rejected "
            f"after being acknowledged: {reason}",
            code=reason,
            details={"order": dict(payload)},
        )
    raise ExchangeRejected(
        f"order {order_id} closed without reaching '{target}' "
        f"(remaining {payload.get('remaining_size')} of {payload.get('size')}, "
        f"cancel_reason {payload.get('cancel_reason') or 'none'})",
        code=str(payload.get("cancel_reason") or "CLOSED"),
        details={"order": dict(payload)},
    )


class OrderWatch:
    """``order place --wait``: follow one order on a live feed until a target.

    The feed's records (the ``orders`` WebSocket channel, and lookups by id of the order)
    all go through one StateManager (:func:`~paradexctl.core.recording.apply_record`); the
    order is looked up over REST every ``rest_fast`` seconds while the WebSocket is not
    subscribed (connecting, reconnecting, or closed for good) and every ``rest_slow``
    seconds while it is (an update sent before the subscription would otherwise be missed).

    Use as ``async with OrderWatch(feed) as w: await w.ready(t); ...; await w.wait(...)``:
    the feed runs from the start, so it has subscribed before the order is sent.
    """

    def __init__(
        self,
        feed: Any,
        *,
        rest_fast: float = 0.25,
        rest_slow: float = 1.0,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        # the live layer's imports stay off the path of one-shot order commands
        from paradexctl.core.state import StateManager

        self.feed = feed
        self.rest_fast = rest_fast
        self.rest_slow = rest_slow
        self.sleep = sleep
        self.state = StateManager()
        self.order_id: str | None = None
        self.target = ""
        self._done: Any = None
        self._consumer: Any = None

    async def __aenter__(self) -> OrderWatch:
        import asyncio

        self._done = asyncio.get_running_loop().create_future()
        self._consumer = asyncio.ensure_future(self._consume())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.feed.stop("done")
        with contextlib.suppress(BaseException):
            await self._consumer

    @property
    def error(self) -> str | None:
        """Why the WebSocket is not used (it closed for good), if it is not."""
        return self.feed.ws_error  # type: ignore[no-any-return]

    async def ready(self, timeout: float) -> bool:
        """Wait until the WebSocket has subscribed (True), at most ``timeout`` seconds."""
        import asyncio

        if self.feed.url is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self.feed.wait_subscribed()
        except TimeoutError:
            return False
        return True

    async def _consume(self) -> None:
        from paradexctl.core.models import ModelError
        from paradexctl.core.recording import apply_record

        try:
            async with contextlib.aclosing(self.feed.records()) as records:
                async for rec in records:
                    try:
                        decisions = apply_record(self.state, rec)
                    except ModelError:
                        continue  # a malformed observation is ignored, not fatal
                    oid = self.order_id
                    if oid is not None and any(d.key == oid and d.accepted for d in decisions):
                        self._check()
        except BaseException as exc:
            if self._done is not None and not self._done.done():
                self._done.set_exception(exc)
            raise

    def _check(self) -> None:
        assert self.order_id is not None
        current = self.state.get("order", self.order_id)
        if current is None or self._done.done():
            return
        try:
            if _decide(current.payload, self.order_id, self.target):
                self._done.set_result((dict(current.payload), current.source.value))
        except ExchangeRejected as err:
            self._done.set_exception(err)

    async def _poll(self) -> None:
        import asyncio

        assert self.order_id is not None
        sleep = self.sleep or asyncio.sleep
        while True:
            with contextlib.suppress(ExchangeUnavailable):
                await self.feed.lookup(self.order_id)
            await sleep(self.rest_slow if self.feed.live else self.rest_fast)

    async def wait(
        self,
        initial: Mapping[str, Any],
        target: str,
        timeout: float,
        *,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> tuple[dict[str, Any], str]:
        """Follow the order ``initial`` (the exchange's answer to the POST) to ``target``.

        Returns the order that reached it and the source (``rest``/``ws``) of that state.

        Raises:
            ExchangeRejected: a (late) rejection or a state that can no longer reach
                ``target`` (exit 4).
            ExchangeUnavailable: ``timeout`` passed; the message names the last known state
                (exit 5).
        """
        import asyncio

        from paradexctl.core.state import Update

        if target not in WAIT_TARGETS:
            raise UsageError(f"--wait takes one of {', '.join(WAIT_TARGETS)}")
        order_id = str(initial["id"])
        self.order_id, self.target = order_id, target
        if self._done.done():  # a second wait on the same watch
            self._done = asyncio.get_running_loop().create_future()
        self.state.apply(Update.order(dict(initial), "rest", wall_ms()))
        self._check()
        poller = asyncio.ensure_future(self._poll())
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._done)
        except TimeoutError:
            current = self.state.get("order", order_id)
            payload = dict(current.payload) if current is not None else dict(initial)
            raise ExchangeUnavailable(
                f"timed out waiting for order {order_id} to be {target}; last known status "
                f"{payload.get('status')} (remaining {payload.get('remaining_size')})",
                details={"order": payload},
            ) from None
        finally:
            poller.cancel()
            with contextlib.suppress(BaseException):
                await poller


# -- cancel ---------------------------------------------------------------------------------


def _refuse_if_closed(order: Mapping[str, Any], wall_ms: int) -> None:
    from paradexctl.core.state import StateManager, Update

    state = StateManager()
    state.apply(Update.order(dict(order), "rest", wall_ms))
    check = state.check_cancellable(str(order["id"]))
    if not check.allowed:
        raise ExchangeRejected(
            check.message, code="ORDER_IS_CLOSED", details={"order": dict(order), "local": True}
        )


def cancel_order(
    client: RestClient,
    *,
    order_id: str | None = None,
    client_id: str | None = None,
    market: str | None = None,
    known: Mapping[str, Any] | None = None,
    wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    dry_run: bool = False,
) -> dict[str, Any]:
    """Cancel one order after a fresh lookup; refuse locally (exit 4, ORDER_IS_CLOSED) when the
    exchange already reports it CLOSED. Returns ``{id, client_id, status}``.

    ``known``: the order as the caller already knows it from a source at least as fresh as a
    ``GET`` would be: a live feed's state manager (``StateManager.get``, which has already
    refused stale REST answers over newer WebSocket ones), or the answer the caller received
    from the exchange a moment ago. When it is the same order (its ``id``, or its
    ``client_id``), the lookup is skipped: the guard is the same (CLOSED is refused locally)
    and costs no round trip. A CLOSED order never reopens, so a ``known`` CLOSED is always
    right; a ``known`` open order that has closed since gets the exchange's own refusal of the
    DELETE.

    ``dry_run``: the lookup and the checks, then the DELETE it would send (``dry_run``,
    ``method``, ``url``, ``params``) instead of sending it."""
    if (order_id is None) == (client_id is None):
        raise UsageError("give an order ID or --client-id (exactly one)")
    current: dict[str, Any] | None = None
    if (
        known is not None
        and known.get("id")
        and (
            str(known["id"]) == order_id
            or (client_id is not None and known.get("client_id") == client_id)
        )
    ):
        current = dict(known)
    else:
        try:
            if order_id is not None:
                current = get_order(client, order_id)
            else:
                current = lookup_client_id_once(client, str(client_id), market)
        except ExchangeRejected as err:
            if not _is_not_found(err):
                raise
    if current is not None and current.get("id"):
        _refuse_if_closed(current, wall_ms())
        order_id = str(current["id"])
        market = market or current.get("market")
    if order_id is not None:
        path, params = f"/orders/{path_segment(order_id)}", None
    else:
        path, params = f"/orders/by_client_id/{path_segment(str(client_id))}", {"market": market}
    which = {
        "id": order_id,
        "client_id": client_id if client_id is not None else (current or {}).get("client_id"),
        "market": market,
    }
    if dry_run:
        url = f"{client.base_url}{path}"
        return {"dry_run": True, "method": "DELETE", "url": url,
                "params": without_none(params), **which}  # fmt: skip
    client.delete(path, params=params)
    return {**which, "status": "QUEUED_FOR_CANCELLATION"}


@dataclass
class CancelAllResult:
    """What ``DELETE /orders`` did, as far as the exchange said.

    ``rows``: the cancelled orders when the DELETE's answer lists them (``{"results": [...]}``,
    with the exchange's statuses), else the orders open just before it (status
    ``QUEUED_FOR_CANCELLATION``: the DELETE is documented without a body), else none.
    ``count_known`` is False when neither answer was readable: the exchange accepted the
    cancel-all, but how many orders it cancelled is not known (``note`` says why)."""

    rows: list[dict[str, Any]]
    count_known: bool
    source: str
    note: str = ""


def cancel_all(client: RestClient, market: str | None = None) -> CancelAllResult:
    """``DELETE /orders[?market=]``, preceded by ``GET /orders`` (what is open). An unreadable
    listing does not stop the cancel (cancelling is the safe direction); it only makes the
    count unknown unless the DELETE's own answer lists the orders."""
    before: list[dict[str, Any]] | None = None
    note = ""
    try:
        before = expect_rows(client.get("/orders", {"market": market}, private=True), "GET /orders")
    except UnexpectedAnswer as err:
        note = err.message
    answer = client.delete("/orders", params={"market": market})
    if answer not in (None, {}) and not (isinstance(answer, dict) and "results" not in answer):
        try:
            listed = expect_rows(answer, "DELETE /orders")
        except UnexpectedAnswer as err:
            note = f"{note}; {err.message}" if note else err.message
        else:
            return CancelAllResult(
                [_cancel_row(o, o.get("status")) for o in listed], True, "DELETE /orders"
            )
    if before is None:
        return CancelAllResult([], False, "", note)
    return CancelAllResult(
        [_cancel_row(o, "QUEUED_FOR_CANCELLATION") for o in before], True, "GET /orders", note
    )


def _cancel_row(o: Mapping[str, Any], status: Any) -> dict[str, Any]:
    return {
        "id": o.get("id"),
        "client_id": o.get("client_id"),
        "market": o.get("market"),
        "status": status,
    }


# -- batch ----------------------------------------------------------------------------------


@dataclass
class BatchLine:
    line: int
    spec: OrderSpec


def _pick(row: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if n in row and row[n] is not None:
            return row[n]
    return None


def spec_from_mapping(row: Mapping[str, Any], where: str) -> OrderSpec:
    """An OrderSpec from a batch line (CLI or exchange spelling: ``buy``/``BUY``,
    ``limit``/``LIMIT``, ``tif``/``instruction``, ``reduce_only``/``flags``)."""
    known = {"market", "side", "size", "price", "type", "tif", "instruction", "trigger_price",
             "reduce_only", "flags", "client_id", "stp"}  # fmt: skip
    extra = set(row) - known
    if extra:
        raise ValidationError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    market = _pick(row, "market")
    side = str(_pick(row, "side") or "")
    size = _pick(row, "size")
    if not market or not side or size is None:
        raise ValidationError(f"{where}: market, side and size are required")
    typ = str(_pick(row, "type") or "limit")
    tif = str(_pick(row, "tif", "instruction") or "gtc")
    typ_x = ORDER_TYPES.get(typ.lower(), typ.upper().replace("-", "_"))
    tif_x = TIFS.get(tif.lower(), tif.upper().replace("-", "_"))
    price = _pick(row, "price")
    trig = _pick(row, "trigger_price")
    flags = row.get("flags") or []
    reduce_only = bool(row.get("reduce_only")) or "REDUCE_ONLY" in flags
    stp = _pick(row, "stp")
    return OrderSpec(
        market=str(market),
        side=SIDES.get(side.lower(), side.upper()),
        size=parse_decimal(size, f"{where}: size"),
        type=typ_x,
        price=None if price in (None, "") else parse_decimal(price, f"{where}: price"),
        trigger_price=None if trig in (None, "") else parse_decimal(trig, f"{where}: trigger"),
        instruction=tif_x,
        reduce_only=reduce_only,
        client_id=new_client_id() if row.get("client_id") is None else str(row["client_id"]),
        stp=None if stp in (None, "") else stp_mode(str(stp)),
    )


def stp_mode(text: str) -> str:
    """``--stp`` / a batch line's ``stp`` in any spelling (``expire_maker``, ``expire-maker``,
    ``EXPIRE_MAKER``) as the exchange's; an unknown mode is passed on for :func:`validate`
    to refuse with the list."""
    key = text.strip().lower().replace("_", "-")
    return STP_MODES.get(key, text.strip().upper())


def parse_batch(lines: Sequence[str], source: str) -> list[BatchLine]:
    """One JSON object per non-blank line (``#`` comments allowed)."""
    import json

    out: list[BatchLine] = []
    for n, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{source}:{n}"

        def constant(name: str, where: str = where) -> Any:
            raise ValidationError(f"{where}: {name} is not a finite number")

        try:
            row = json.loads(text, parse_float=Decimal, parse_constant=constant)
        except ValueError as err:
            raise ValidationError(
                f"{where}: not JSON ({err.args[0] if err.args else err})"
            ) from None
        if not isinstance(row, dict):
            raise ValidationError(f"{where}: each line must be a JSON object")
        out.append(BatchLine(n, spec_from_mapping(row, where)))
    if not out:
        raise ValidationError(f"{source}: no orders")
    ids = [b.spec.client_id for b in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValidationError(f"{source}: duplicate client_id(s) {', '.join(sorted(dup))}")
    return out


def place_batch(
    client: RestClient,
    items: Sequence[tuple[BatchLine, dict[str, Any]]],
    *,
    chunk_size: int = 10,
    lookup: LookupPolicy | None = None,
) -> list[dict[str, Any]]:
    """Send signed bodies in chunks via ``POST /orders/batch``; one result row per order.

    Rows: ``{line, client_id, market, side, size, price, outcome, order_id, status, error}``
    with outcome ``acknowledged``, ``recovered``, ``rejected``, ``not_sent`` or ``unknown``.
    A chunk whose POST is uncertain is never re-sent: each of its orders is looked up by
    client_id. So is every order that a 201 does not account for row by row (see
    :func:`_match_batch`): no order is reported rejected unless the answer says so. After a
    401 (the client re-authenticated), the orders are looked up first and those the exchange
    consistently reports absent are sent again, once. A chunk that provably never reached the
    exchange after the retry budget (connection refused, 429s) stops the batch: its orders and
    every later chunk's are ``not_sent``, and the rows already known are kept.
    """
    return _place_batch(client, items, chunk_size=chunk_size, lookup=lookup, resend=True)


def _place_batch(
    client: RestClient,
    items: Sequence[tuple[BatchLine, dict[str, Any]]],
    *,
    chunk_size: int,
    lookup: LookupPolicy | None,
    resend: bool,
) -> list[dict[str, Any]]:
    if chunk_size < 1:
        raise UsageError("--chunk-size must be at least 1")
    rows: list[dict[str, Any]] = []
    for start in range(0, len(items), chunk_size):
        chunk = items[start : start + chunk_size]
        bodies = [b for _, b in chunk]
        try:
            resp = client.post("/orders/batch", bodies)
            matched = _match_batch(chunk, resp)
            for (bl, body), row in zip(chunk, matched, strict=True):
                if row:
                    rows.append(row)
                    continue
                found, why = find_by_client_id(
                    client, str(body["client_id"]), bl.spec.market, policy=lookup, sent=body
                )
                if found is not None:
                    rows.append(_row(bl, "recovered", found, None))
                else:
                    rows.append(
                        _row(
                            bl,
                            "unknown",
                            None,
                            "the exchange's 201 answer does not account for this order; "
                            f"{why}; NOT re-sent",
                        )
                    )
        except OutcomeUncertain as err:
            retry: list[tuple[BatchLine, dict[str, Any]]] = []
            slots: list[int] = []
            for bl, body in chunk:
                found, why, absent = _lookup(
                    client, str(body["client_id"]), bl.spec.market, policy=lookup, sent=body
                )
                if found is not None:
                    rows.append(_row(bl, "recovered", found, None))
                elif absent and resend and isinstance(err, RefusedAfterSend):
                    slots.append(len(rows))
                    rows.append({})
                    retry.append((bl, body))
                else:
                    rows.append(_row(bl, "unknown", None, f"{err.message}; {why}; NOT re-sent"))
            if retry:
                # a 401 and the exchange holds none of these: refused before processing
                again = _place_batch(
                    client, retry, chunk_size=chunk_size, lookup=lookup, resend=False
                )
                for slot, row in zip(slots, again, strict=True):
                    rows[slot] = row
                if any(r["outcome"] == "not_sent" for r in again):
                    _stop(rows, items[start + len(chunk) :], chunk[0][0].line, err.message)
                    break
        except ExchangeUnavailable as err:
            # not OutcomeUncertain: the request provably was not processed (connection
            # refused, rate limited after the budget). Stop here; nothing later is sent.
            first = chunk[0][0].line
            for k, (bl, _) in enumerate(items[start:]):
                why = (
                    f"not sent: {err.message}"
                    if k < len(chunk)
                    else f"not sent: the batch stopped at line {first} ({err.message})"
                )
                rows.append(_row(bl, "not_sent", None, why))
            break
        except ExchangeRejected as err:
            # the whole chunk was refused (basic validation or a signature); ``data.index``
            # names the culprit when the exchange says which one it was
            data = err.details.get("data")
            culprit = data.get("index") if isinstance(data, dict) else None
            why = err.details.get("exchange_message") or err.message
            for k, (bl, _) in enumerate(chunk):
                if culprit is None or k == culprit:
                    rows.append(_row(bl, "rejected", None, f"{err.code}: {why}"))
                else:
                    line = (
                        chunk[culprit][0].line
                        if isinstance(culprit, int) and 0 <= culprit < len(chunk)
                        else "?"
                    )
                    rows.append(
                        _row(
                            bl,
                            "rejected",
                            None,
                            f"not placed: its batch was refused because of line {line}",
                        )
                    )
    return rows


def _row(
    bl: BatchLine, outcome: str, order: Mapping[str, Any] | None, error: str | None
) -> dict[str, Any]:
    s = bl.spec
    return {
        "line": bl.line,
        "client_id": s.client_id,
        "market": s.market,
        "side": s.side,
        "size": _plain(s.size),
        "price": _plain(s.price) if s.price is not None else None,
        "outcome": outcome,
        "order_id": (order or {}).get("id"),
        "status": (order or {}).get("status"),
        "error": error,
    }


def _stop(
    rows: list[dict[str, Any]],
    later: Sequence[tuple[BatchLine, dict[str, Any]]],
    line: int,
    why: str,
) -> None:
    for bl, _ in later:
        rows.append(
            _row(bl, "not_sent", None, f"not sent: the batch stopped at line {line} ({why})")
        )


def _error_text(entry: Any) -> str | None:
    """The text of one ``errors[]`` entry of a batch answer, or None when it is not an error
    (an ``{"error", "message"}`` object, or a non-empty string)."""
    if isinstance(entry, dict):
        code, message = entry.get("error"), entry.get("message")
        if isinstance(code, str) or isinstance(message, str):
            return f"{code}: {message}"
        return None
    if isinstance(entry, str) and entry:
        return entry
    return None


def _match_batch(
    chunk: Sequence[tuple[BatchLine, dict[str, Any]]], resp: Any
) -> list[dict[str, Any]]:
    """One row per order of ``chunk`` from a 201 answer, ``{}`` for an order the answer does
    not account for (the caller looks it up by client_id).

    An order is ``acknowledged`` when ``orders`` holds an order object (string ``id``) with its
    client_id. The others are ``rejected`` only when the answer accounts for every order: as
    many readable ``errors`` entries as unmatched orders (their alignment is unconfirmed, so
    they are paired in order). Any other answer (not an object, no ``orders`` list, counts that
    do not add up) leaves the unmatched orders uncertain.
    """
    body = resp if isinstance(resp, dict) else {}
    raw_orders = body.get("orders")
    raw_errors = body.get("errors")
    orders = raw_orders if isinstance(raw_orders, list) else []
    by_cid: dict[str, dict[str, Any]] = {}
    for o in orders:
        if isinstance(o, dict) and _is_id(o.get("id")) and isinstance(o.get("client_id"), str):
            by_cid.setdefault(o["client_id"], o)
    rows: list[dict[str, Any]] = []
    for bl, _ in chunk:
        order = by_cid.get(bl.spec.client_id)
        rows.append(_row(bl, "acknowledged", order, None) if order is not None else {})
    unmatched = sum(1 for r in rows if not r)
    texts = [_error_text(e) for e in raw_errors] if isinstance(raw_errors, list) else []
    readable = [t for t in texts if t is not None]
    accounted = (
        isinstance(raw_orders, list)
        and isinstance(raw_errors, list)
        and len(readable) == len(texts) == unmatched
    )
    if not accounted:
        return rows
    it = iter(readable)
    return [
        r or _row(bl, "rejected", None, next(it)) for r, (bl, _) in zip(rows, chunk, strict=True)
    ]

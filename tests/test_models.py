"""core.models: exact decimals, the venue's empty strings, unknown keys, clear errors."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest

from paradexctl.core.models import (
    ModelError,
    parse_account,
    parse_balance,
    parse_fill,
    parse_order,
    parse_position,
)

# The examples of paradex-api.md §3.5, verbatim.
ORDER = json.loads("""
{"id": "1718941725080201704028870000", "client_id": "", "account": "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3",
 "market": "BTC-USD-PERP", "side": "SELL", "type": "LIMIT", "size": "10.153", "remaining_size": "10.153",
 "price": "70784.5", "avg_fill_price": "", "status": "CLOSED", "cancel_reason": "USER_CANCELED",
 "instruction": "GTC", "flags": [], "stp": "EXPIRE_TAKER", "trigger_price": "0",
 "timestamp": 1718941724678, "created_at": 1718941725082, "last_updated_at": 1718958002991,
 "received_at": 1718958510959, "published_at": 1718958510960, "seq_no": 1718958002991595738}
""")
POSITION = json.loads("""
{"id": "0x49dd-BTC-USD-PERP", "market": "BTC-USD-PERP", "status": "OPEN", "side": "LONG",
 "size": "0.01", "average_entry_price": "64839.96053748", "average_entry_price_usd": "64852.9",
 "unrealized_pnl": "-2.39677214", "unrealized_funding_pnl": "-0.11214013", "cost": "648.39960537",
 "cost_usd": "648.529", "cached_funding_index": "35202.1002351", "last_updated_at": 1718950074249,
 "last_fill_id": "1718947571560201703986670001", "seq_no": 1718950074249176253, "liquidation_price": ""}
""")
FILL = json.loads("""
{"id": "1718947571560201703986670001", "order_id": "1718947571540201703992340000", "client_id": "",
 "market": "BTC-USD-PERP", "side": "BUY", "liquidity": "TAKER", "price": "64852.9", "size": "0.01",
 "remaining_size": "0", "fee": "0.1945587", "fee_currency": "USDC", "fill_type": "FILL",
 "flags": [], "realized_pnl": "0", "realized_funding": "0", "created_at": 1718947571569}
""")
ACCOUNT = json.loads("""
{"account": "0x495d", "account_value": "136285.06918911", "free_collateral": "73276.47229774",
 "initial_margin_requirement": "63008.59689218", "maintenance_margin_requirement": "31597.25239676",
 "margin_cushion": "104687.8167956", "total_collateral": "123003.62047353", "settlement_asset": "USDC",
 "status": "ACTIVE", "updated_at": 1681471234972, "seq_no": 1681471234972000000}
""")


def test_order_parses_exact_decimals_and_empty_strings():
    o = parse_order(ORDER)
    assert o.size == Decimal("10.153") and str(o.size) == "10.153"
    assert o.avg_fill_price is None and o.client_id is None
    assert o.cancel_reason == "USER_CANCELED" and o.is_terminal
    assert o.seq_no == 1718958002991595738 and o.last_updated_at == 1718958002991
    assert o.flags == () and o.filled_size == Decimal("0")
    assert o.raw is ORDER


def test_unknown_keys_are_ignored_but_kept_in_raw():
    raw = dict(ORDER, brand_new_field={"x": 1})
    o = parse_order(raw)
    assert o.raw["brand_new_field"] == {"x": 1}
    assert o == parse_order(ORDER)  # raw is not part of equality


def test_position_balance_fill_account():
    p = parse_position(POSITION)
    assert p.size == Decimal("0.01") and p.liquidation_price is None
    assert p.seq_no == 1718950074249176253
    f = parse_fill(FILL)
    assert f.signed_size == Decimal("0.01") and f.fee == Decimal("0.1945587")
    assert parse_fill(dict(FILL, side="SELL")).signed_size == Decimal("-0.01")
    a = parse_account(ACCOUNT)
    assert a.updated_at == 1681471234972 and a.account_value == Decimal("136285.06918911")
    b = parse_balance({"token": "USDC", "size": "99980.2382266290601", "last_updated_at": 1})
    assert str(b.size) == "99980.2382266290601"


def test_observed_type_drift_quoted_integers():
    assert parse_order(dict(ORDER, seq_no="20784", created_at="0")).seq_no == 20784
    assert parse_order(dict(ORDER, created_at="0")).created_at == 0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("id"), "Order: field 'id' must be a non-empty string, got None"),
        (lambda r: r.update(size=1.5), "field 'size' must be a decimal string, got 1.5"),
        (lambda r: r.update(size="abc"), "field 'size' must be a decimal string, got 'abc'"),
        (lambda r: r.update(price="NaN"), "field 'price' must be a decimal string"),
        (lambda r: r.update(status="FILLED"), "field 'status' must be one of CLOSED, NEW"),
        (lambda r: r.update(side="buy"), "field 'side' must be one of BUY, SELL"),
        (lambda r: r.update(seq_no=True), "field 'seq_no' must be an integer, got True"),
        (lambda r: r.update(flags="REDUCE_ONLY"), "field 'flags' must be a list of strings"),
        (lambda r: r.update(request_info=[1]), "field 'request_info' must be an object"),
    ],
)
def test_malformed_orders_raise_model_error_naming_the_field(mutate, message):
    raw = copy.deepcopy(ORDER)
    mutate(raw)
    with pytest.raises(ModelError) as err:
        parse_order(raw)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_not_an_object_and_long_values_are_truncated():
    with pytest.raises(ModelError, match="Position: expected a JSON object"):
        parse_position(["x"])
    with pytest.raises(ModelError) as err:
        parse_balance({"token": "USDC", "size": "x" * 500})
    assert len(str(err.value)) < 150


def test_models_are_frozen():
    o = parse_order(ORDER)
    with pytest.raises(AttributeError):
        o.status = "OPEN"  # type: ignore[misc]

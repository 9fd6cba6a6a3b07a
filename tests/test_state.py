"""StateManager: one test per rule of ``paradexctl/core/state.py`` (cited), and the seed's four
race types (``seed-race-conditions.md``), each a named test."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from paradexctl.core.models import ModelError
from paradexctl.core.state import (
    ORDER_TRANSITIONS,
    Kind,
    Reason,
    Source,
    StateManager,
    Update,
)

T0 = 1_718_958_000_000
WS, REST = Source.WS, Source.REST


def order(
    status: str = "OPEN",
    ts: int | None = T0,
    seq: int | None = 1,
    *,
    oid: str = "o1",
    remaining: str = "1",
    market: str = "BTC-USD-PERP",
    **extra: Any,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "id": oid,
        "client_id": f"c-{oid}",
        "market": market,
        "side": "BUY",
        "type": "LIMIT",
        "size": "1",
        "remaining_size": remaining,
        "price": "70000",
        "avg_fill_price": "",
        "status": status,
        "cancel_reason": "",
    }
    if ts is not None:
        p["last_updated_at"] = ts
    if seq is not None:
        p["seq_no"] = seq
    p.update(extra)
    return p


def position(size: str, ts: int | None, seq: int | None = None, market: str = "BTC-USD-PERP"):
    p: dict[str, Any] = {"market": market, "size": size, "status": "OPEN", "side": "LONG"}
    if ts is not None:
        p["last_updated_at"] = ts
    if seq is not None:
        p["seq_no"] = seq
    return p


def balance(size: str, ts: int | None, token: str = "USDC") -> dict[str, Any]:
    p: dict[str, Any] = {"token": token, "size": size}
    if ts is not None:
        p["last_updated_at"] = ts
    return p


def ws_order(sm: StateManager, at: int, **kw: Any):
    return sm.apply(Update.order(order(**kw), WS, at))


def rest_order(sm: StateManager, at: int, **kw: Any):
    return sm.apply(Update.order(order(**kw), REST, at))


# --- the seed's four race types ------------------------------------------------------------


def test_race_stale_data_overwrite():
    """Seed race 1: WS says position 0.01; a stale REST poll says 0. The position stays 0.01.

    Rule 3 (older, and REST inside the grace window: ws_recent) applies."""
    sm = StateManager()
    d1 = sm.apply(Update.position(position("0.01", T0 + 10, seq=7), WS, T0 + 10))
    assert d1.accepted
    d2 = sm.apply(Update.position(position("0", T0, seq=3), REST, T0 + 357))
    assert not d2.accepted and d2.reason is Reason.WS_RECENT
    assert sm.position("BTC-USD-PERP").size == Decimal("0.01")  # type: ignore[union-attr]
    # Even long after the grace window the stale REST state is older: still rejected.
    d3 = sm.apply(Update.position(position("0", T0, seq=4), REST, T0 + 60_000))
    assert not d3.accepted and d3.reason is Reason.OLDER
    assert sm.position("BTC-USD-PERP").size == Decimal("0.01")  # type: ignore[union-attr]


def test_race_order_status_confusion():
    """Seed race 2: WS says CLOSED (filled); a cached REST poll says OPEN. Stays CLOSED (rule 2),
    and a local cancel check refuses to send a cancel with a clear reason."""
    sm = StateManager()
    ws_order(sm, T0, status="OPEN", ts=T0, seq=1)
    ws_order(sm, T0 + 50, status="CLOSED", ts=T0 + 40, seq=2, remaining="0")
    # REST with a *newer-looking* timestamp and far outside the grace window: still terminal.
    d = rest_order(sm, T0 + 100_000, status="OPEN", ts=T0 + 90_000, seq=999)
    assert not d.accepted and d.reason is Reason.TERMINAL
    assert sm.order("o1").status == "CLOSED"  # type: ignore[union-attr]
    assert sm.is_terminal("o1")
    check = sm.check_cancellable("o1")
    assert not check.allowed and check.reason == "terminal"
    assert "CLOSED" in check.message and "not sending a cancel" in check.message


def test_race_double_execution():
    """Seed race 3: after the WS fill, "has an open order" stays false whatever REST says."""
    sm = StateManager()
    ws_order(sm, T0, status="NEW", ts=T0, seq=1)
    assert sm.has_open_order("BTC-USD-PERP")
    ws_order(sm, T0 + 10, status="OPEN", ts=T0 + 5, seq=2)
    ws_order(sm, T0 + 20, status="CLOSED", ts=T0 + 15, seq=3, remaining="0")
    assert not sm.has_open_order("BTC-USD-PERP") and not sm.has_open_order()
    for i, status in enumerate(["OPEN", "NEW", "UNTRIGGERED", "OPEN"]):
        for ts in (T0, T0 + 15, T0 + 10**6):  # older, same, newer
            rest_order(sm, T0 + 30 + i * 10**7, status=status, ts=ts, seq=10 + i)
            assert not sm.has_open_order("BTC-USD-PERP")
    # A REST listing that still shows it open does not reopen it either.
    sm.apply_snapshot(
        Kind.ORDER, [order("OPEN", T0 + 5, 50)], boundary_at=T0 + 10**8, received_at=T0 + 10**8
    )
    assert not sm.has_open_order() and sm.open_orders() == {}


def test_race_balance_mismatch():
    """Seed race 4: the post-trade WS balance is not replaced by the pre-trade REST one."""
    sm = StateManager()
    sm.apply(Update.balance(balance("100000", T0), REST, T0 + 1))
    event = {
        "type": "TRANSACTION_FILL",
        "settlement_asset_name": "USDC",
        "settlement_asset_balance_before": "100000",
        "settlement_asset_balance_after": "99000",
        "fees": "1",
        "created_at": T0 + 100,
    }
    d = sm.apply(Update.balance_event(event, WS, T0 + 110))
    assert d.accepted and d.reason is Reason.NEWER
    stale = sm.apply(Update.balance(balance("100000", T0), REST, T0 + 400))
    assert not stale.accepted and stale.reason is Reason.WS_RECENT
    assert sm.balance("USDC").size == Decimal("99000")  # type: ignore[union-attr]


# --- rule 1 ----------------------------------------------------------------------------------


def test_rule1_stale_seq_within_source():
    """Rule 1: a seq_no at or below the last accepted one from the same source is stale."""
    sm = StateManager()
    ws_order(sm, T0, ts=T0, seq=10)
    d = ws_order(sm, T0 + 1, ts=T0 + 5, seq=9, remaining="0.5")  # newer ts, but seq went back
    assert not d.accepted and d.reason is Reason.STALE_SEQ
    assert sm.order("o1").remaining_size == Decimal("1")  # type: ignore[union-attr]


def test_rule1_duplicate_same_seq_same_content():
    """Rule 1: the same frame twice (Paradex WS duplicates) is a duplicate."""
    sm = StateManager()
    ws_order(sm, T0, ts=T0, seq=10)
    d = ws_order(sm, T0 + 1, ts=T0, seq=10, published_at=T0 + 99)  # transport field differs
    assert not d.accepted and d.reason is Reason.DUPLICATE


def test_rule1_seq_never_compared_across_sources():
    """Rule 1: a REST seq_no far below the WS one is not stale; REST/WS seq are independent."""
    sm = StateManager(grace_ms=0)
    ws_order(sm, T0, ts=T0, seq=1_718_958_002_991_595_738)
    d = rest_order(sm, T0 + 10, ts=T0 + 5, seq=3, remaining="0.4")
    assert d.accepted and d.reason is Reason.NEWER
    # and the REST high-water mark is separate: a lower REST seq is stale, the WS one is not.
    assert rest_order(sm, T0 + 20, ts=T0 + 6, seq=2).reason is Reason.STALE_SEQ
    d2 = ws_order(sm, T0 + 30, ts=T0 + 7, seq=1_718_958_002_991_595_739, remaining="0.3")
    assert d2.accepted


def test_rule5_same_source_same_time_higher_seq_wins():
    """Rules 1, 5: same source and exchange time, higher seq_no, different content: accepted."""
    sm = StateManager()
    ws_order(sm, T0, ts=T0, seq=1)
    d = ws_order(sm, T0 + 1, ts=T0, seq=2, remaining="0.5")
    assert d.accepted and d.reason is Reason.NEWER_SEQ


# --- rule 3 -----------------------------------------------------------------------------------


def test_rule3_older_exchange_time_dropped_across_sources():
    """Rule 3: across sources, an older last_updated_at is dropped; a newer one accepted."""
    sm = StateManager(grace_ms=0)
    rest_order(sm, T0, ts=T0 + 100, seq=5)
    d = ws_order(sm, T0 + 1, ts=T0 + 50, seq=1, remaining="0.5")
    assert not d.accepted and d.reason is Reason.OLDER
    assert d.prior_source is REST and d.prior_exchange_ts == T0 + 100
    d2 = ws_order(sm, T0 + 2, ts=T0 + 150, seq=2, remaining="0.5")
    assert d2.accepted and d2.reason is Reason.NEWER


def test_rule3_account_uses_updated_at_and_fills_created_at():
    """Rule 3: the account's exchange time is updated_at."""
    sm = StateManager(grace_ms=0)
    acct = {"account": "0x1", "account_value": "10", "updated_at": T0, "seq_no": 1}
    assert sm.apply(Update.account(acct, WS, T0)).reason is Reason.NEW
    older = dict(acct, account_value="9", updated_at=T0 - 1, seq_no=50)
    assert sm.apply(Update.account(older, REST, T0 + 1)).reason is Reason.OLDER
    assert sm.account.account_value == Decimal("10")  # type: ignore[union-attr]
    assert Update.fill(fill("f1"), WS, T0).exchange_ts == T0 + 1


# --- rules 2, 7, 8 ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", [WS, REST])
@pytest.mark.parametrize("status", ["NEW", "UNTRIGGERED", "OPEN"])
def test_rule2_terminal_is_sticky_whatever_source_or_time(source: Source, status: str):
    """Rule 2: once CLOSED, no non-terminal update reopens the order."""
    sm = StateManager(grace_ms=0)
    ws_order(sm, T0, status="CLOSED", ts=T0, seq=5, remaining="0")
    for i, ts in enumerate((T0 - 1, T0, T0 + 10**9, None)):
        d = sm.apply(Update.order(order(status, ts, 100 + i), source, T0 + 10**6 * (i + 1)))
        assert not d.accepted and d.reason is Reason.TERMINAL
    assert sm.is_terminal("o1")


@pytest.mark.parametrize("source", [WS, REST])
def test_rule8_closed_report_wins_whatever_its_time_or_seq(source: Source):
    """Rule 8: CLOSED is absorbing; a CLOSED report for a live order closes it even when its
    exchange time is older, its seq_no lower, or a WS frame is inside the grace window."""
    sm = StateManager()
    ws_order(sm, T0, status="OPEN", ts=T0 + 500, seq=10)
    d = sm.apply(Update.order(order("CLOSED", T0 + 100, 3, remaining="0"), source, T0 + 1))
    assert d.accepted and d.reason is Reason.TERMINAL_WINS
    assert sm.is_terminal("o1") and not sm.has_open_order()


def test_rule7_transition_table_is_one_dict_and_rejects_illegal_moves():
    """Rule 10: moves come from ORDER_TRANSITIONS; OPEN -> UNTRIGGERED is illegal."""
    assert ORDER_TRANSITIONS["CLOSED"] == {"CLOSED"}
    assert "UNTRIGGERED" not in ORDER_TRANSITIONS["OPEN"]
    sm = StateManager()
    ws_order(sm, T0, status="OPEN", ts=T0, seq=1)
    d = ws_order(sm, T0 + 1, status="UNTRIGGERED", ts=T0 + 1, seq=2)
    assert not d.accepted and d.reason is Reason.ILLEGAL_TRANSITION
    # An older illegal move is reported by the time rule, which decided first.
    assert ws_order(sm, T0 + 2, status="UNTRIGGERED", ts=T0 - 1, seq=3).reason is Reason.OLDER
    assert sm.order("o1").status == "OPEN"  # type: ignore[union-attr]


def test_rule2_closed_to_closed_follows_time_rules():
    """Rule 2: CLOSED -> CLOSED is legal; a same-time REST copy is a duplicate."""
    sm = StateManager()
    ws_order(sm, T0, status="CLOSED", ts=T0, seq=5, remaining="0")
    d = rest_order(sm, T0 + 1, status="CLOSED", ts=T0, seq=77, remaining="0")
    assert not d.accepted and d.reason is Reason.DUPLICATE


# --- rules 3, 5 (grace window, conflict) --------------------------------------------------


def test_rule3_rest_inside_grace_needs_strictly_newer_time():
    """Rule 3: within grace a REST update is applied only when strictly newer."""
    sm = StateManager(grace_ms=5000)
    ws_order(sm, T0, ts=T0 + 100, seq=1)
    d = rest_order(sm, T0 + 4999, ts=T0 + 99, seq=1)
    assert not d.accepted and d.reason is Reason.WS_RECENT
    d2 = rest_order(sm, T0 + 4999, ts=T0 + 101, seq=2, remaining="0.5")
    assert d2.accepted and d2.reason is Reason.NEWER


def test_rule3_grace_is_configurable_and_measured_from_the_last_ws_frame():
    """Rule 3: the window is grace_ms after the key's last WS frame; after it, time decides."""
    sm = StateManager(grace_ms=1000)
    ws_order(sm, T0, ts=T0 + 100, seq=1)
    assert rest_order(sm, T0 + 999, ts=T0 + 50, seq=1).reason is Reason.WS_RECENT
    assert rest_order(sm, T0 + 1000, ts=T0 + 50, seq=2).reason is Reason.OLDER
    # A later WS frame (even a rejected duplicate) restarts the window.
    ws_order(sm, T0 + 2000, ts=T0 + 100, seq=1)
    assert rest_order(sm, T0 + 2500, ts=T0 + 50, seq=3).reason is Reason.WS_RECENT


def test_rule5_same_time_different_content_keeps_ws_and_flags_conflict():
    """Rule 5: same exchange time, different content across sources: WS kept, key flagged."""
    sm = StateManager(grace_ms=0)
    ws_order(sm, T0, ts=T0, seq=1, remaining="0.5")
    d = rest_order(sm, T0 + 10_000, ts=T0, seq=1, remaining="0.7")
    assert not d.accepted and d.reason is Reason.CONFLICT
    assert (Kind.ORDER, "o1") in sm.conflicts
    assert sm.order("o1").remaining_size == Decimal("0.5")  # type: ignore[union-attr]
    # The other way round: the WS version replaces the REST one.
    sm2 = StateManager()
    rest_order(sm2, T0, ts=T0, seq=1, remaining="0.7")
    d2 = ws_order(sm2, T0 + 1, ts=T0, seq=1, remaining="0.5")
    assert d2.accepted and d2.reason is Reason.CONFLICT and (Kind.ORDER, "o1") in sm2.conflicts
    # A strictly newer state clears the flag.
    ws_order(sm2, T0 + 2, ts=T0 + 1, seq=2, remaining="0.4")
    assert sm2.conflicts == frozenset()


def test_rule5_decimal_spelling_is_not_a_conflict():
    """Content compares numbers as decimals: "0.50" and "0.5" are the same content."""
    sm = StateManager()
    ws_order(sm, T0, ts=T0, seq=1, remaining="0.5")
    d = rest_order(sm, T0 + 1, ts=T0, seq=1, remaining="0.50")
    assert d.reason is Reason.DUPLICATE and not sm.conflicts


# --- rule 6 ----------------------------------------------------------------------------------


def test_rule6_no_exchange_time_ws_wins_by_arrival():
    """Rule 6: without exchange time a WS update is accepted and the decision says why."""
    sm = StateManager()
    sm.apply(Update.balance(balance("10", None), REST, T0))
    d = sm.apply(Update.balance(balance("9", None), WS, T0 + 1))
    assert d.accepted and d.reason is Reason.NO_EXCHANGE_TIME_WS_PRIORITY
    assert "no exchange time" in d.detail


def test_rule6_no_exchange_time_rest_respects_grace():
    """Rule 6: a REST update without exchange time is held off during grace, then accepted."""
    sm = StateManager(grace_ms=5000)
    sm.apply(Update.balance(balance("9", None), WS, T0))
    d = sm.apply(Update.balance(balance("10", None), REST, T0 + 4000))
    assert not d.accepted and d.reason is Reason.NO_EXCHANGE_TIME_WS_RECENT
    assert d.to_json()["detail"].startswith("rule 6:")
    d2 = sm.apply(Update.balance(balance("10", None), REST, T0 + 5000))
    assert d2.accepted and d2.reason is Reason.REST_AFTER_GRACE
    assert sm.balance("USDC").size == Decimal("10")  # type: ignore[union-attr]


def test_rule6_rest_only_key_latest_arrival_wins_and_earlier_arrival_is_older():
    """Rule 6: a key never seen on WS: the latest REST arrival wins; an earlier one is older."""
    sm = StateManager()
    sm.apply(Update.balance(balance("10", T0), REST, T0))
    d = sm.apply(Update.balance(balance("11", None), REST, T0 + 1))
    assert d.accepted and d.reason is Reason.NO_EXCHANGE_TIME_LATEST
    d2 = sm.apply(Update.balance(balance("12", None), REST, T0))
    assert not d2.accepted and d2.reason is Reason.OLDER_ARRIVAL
    assert d2.to_json()["detail"].startswith("rule 6:")  # not rule 3: no exchange time decided


# --- rule 9 ----------------------------------------------------------------------------------


def _open_two(sm: StateManager) -> None:
    ws_order(sm, T0, oid="a", ts=T0, seq=1)
    ws_order(sm, T0 + 1, oid="b", ts=T0 + 1, seq=1)


def test_rule9_absence_from_snapshot_is_not_closing():
    """Rule 9: an order missing from an open-orders listing stays as it was, unconfirmed."""
    sm = StateManager()
    _open_two(sm)
    ds = sm.apply_snapshot(
        Kind.ORDER, [order(oid="a", ts=T0, seq=9)], boundary_at=T0 + 100, received_at=T0 + 400
    )
    reasons = {d.key: d.reason for d in ds}
    assert reasons == {"a": Reason.DUPLICATE, "b": Reason.UNCONFIRMED}
    assert sm.order("b").status == "OPEN"  # type: ignore[union-attr]
    assert sm.unconfirmed == {(Kind.ORDER, "b")}
    assert sm.has_open_order()  # conservative: an unconfirmed order still counts as live


def test_rule9_change_after_boundary_cannot_be_judged():
    """Rule 9: the boundary is taken before the call; later changes are not judged by absence."""
    sm = StateManager()
    _open_two(sm)
    ws_order(sm, T0 + 200, oid="c", ts=T0 + 150, seq=1)  # placed after the boundary
    ws_order(sm, T0 + 100, oid="d", ts=T0 + 50, seq=1)  # received exactly at the boundary
    ds = sm.apply_snapshot(Kind.ORDER, [], boundary_at=T0 + 100, received_at=T0 + 400)
    reasons = {d.key: d.reason for d in ds}
    assert reasons == {"a": Reason.UNCONFIRMED, "b": Reason.UNCONFIRMED,
                       "c": Reason.AFTER_BOUNDARY, "d": Reason.AFTER_BOUNDARY}  # fmt: skip
    assert (Kind.ORDER, "c") not in sm.unconfirmed


def test_rule9_settled_by_ws_update_or_lookup():
    """Rule 9: a WS update or a lookup by id settles an unconfirmed order."""
    sm = StateManager()
    _open_two(sm)
    sm.apply_snapshot(Kind.ORDER, [], boundary_at=T0 + 100, received_at=T0 + 400)
    ws_order(sm, T0 + 500, oid="a", status="CLOSED", ts=T0 + 50, seq=2, remaining="0")
    assert sm.unconfirmed == {(Kind.ORDER, "b")}
    nf = sm.settle("b", None, T0 + 600)
    assert nf.reason is Reason.NOT_FOUND and sm.unconfirmed == {(Kind.ORDER, "b")}
    d = sm.settle("b", order(oid="b", status="CLOSED", ts=T0 + 60, seq=4), T0 + 10_000)
    assert d.accepted and sm.unconfirmed == frozenset() and sm.is_terminal("b")


def test_rule9_market_scoped_listing_only_judges_that_market():
    """Rule 9: a listing restricted to one market says nothing about other markets."""
    sm = StateManager()
    ws_order(sm, T0, oid="a", ts=T0, seq=1)
    ws_order(sm, T0, oid="e", ts=T0, seq=1, market="ETH-USD-PERP")
    ds = sm.apply_snapshot(
        Kind.ORDER, [], boundary_at=T0 + 100, received_at=T0 + 400, market="ETH-USD-PERP"
    )
    assert [(d.key, d.reason) for d in ds] == [("e", Reason.UNCONFIRMED)]


def test_rule9_closed_orders_and_flat_positions_are_not_judged():
    """Rule 9: absence of a CLOSED order or a zero position is consistent, not unconfirmed."""
    sm = StateManager()
    ws_order(sm, T0, oid="a", status="CLOSED", ts=T0, seq=1, remaining="0")
    sm.apply(Update.position(position("0", T0), WS, T0))
    sm.apply(Update.position(position("2", T0, market="ETH-USD-PERP"), WS, T0))
    assert sm.apply_snapshot(Kind.ORDER, [], boundary_at=T0 + 10, received_at=T0 + 20) == []
    ds = sm.apply_snapshot(Kind.POSITION, [], boundary_at=T0 + 10, received_at=T0 + 20)
    assert [(d.key, d.reason) for d in ds] == [("ETH-USD-PERP", Reason.UNCONFIRMED)]


# --- rule 10 ----------------------------------------------------------------------------------


def fill(fid: str, **extra: Any) -> dict[str, Any]:
    p = {"id": fid, "order_id": "o1", "market": "BTC-USD-PERP", "side": "BUY", "size": "0.01",
         "price": "64852.9", "fee": "0.19", "created_at": T0 + 1}  # fmt: skip
    p.update(extra)
    return p


def test_rule10_fills_append_only_and_tradebust_marks_busted():
    """Rule 10: fills are stored once; duplicates and conflicts are reported; busts mark."""
    sm = StateManager()
    assert sm.apply(Update.fill(fill("f1"), WS, T0)).reason is Reason.NEW
    assert sm.apply(Update.fill(fill("f1"), REST, T0 + 5)).reason is Reason.DUPLICATE
    d = sm.apply(Update.fill(fill("f1", size="0.02"), REST, T0 + 6))
    assert not d.accepted and d.reason is Reason.CONFLICT and (Kind.FILL, "f1") in sm.conflicts
    assert sm.fills["f1"].size == Decimal("0.01")
    bust = {"account": "0x1", "busted_fill_id": "f1", "created_at": T0 + 9}
    assert sm.apply(Update.tradebust(bust, WS, T0 + 9)).reason is Reason.BUSTED
    assert sm.apply(Update.tradebust(bust, REST, T0 + 10)).reason is Reason.DUPLICATE
    assert sm.is_busted("f1")


def test_rule10_tradebust_before_fill_and_fill_bound():
    """Rule 10: a bust seen before its fill still marks it; max_fills evicts the oldest."""
    sm = StateManager(max_fills=2)
    sm.apply(Update.tradebust({"busted_fill_id": "f9"}, WS, T0))
    sm.apply(Update.fill(fill("f9"), WS, T0 + 1))
    assert sm.is_busted("f9")
    sm.apply(Update.fill(fill("f10"), WS, T0 + 2))
    sm.apply(Update.fill(fill("f11"), WS, T0 + 3))
    assert list(sm.fills) == ["f10", "f11"]


# --- API surface -------------------------------------------------------------------------------


def test_every_decision_carries_explainable_fields():
    sm = StateManager()
    d = ws_order(sm, T0, ts=T0, seq=1)
    j = d.to_json()
    assert j["accepted"] is True and j["reason"] == "new" and j["kind"] == "order"
    assert j["key"] == "o1" and j["source"] == "ws" and j["seq_no"] == 1
    d2 = rest_order(sm, T0 + 1, ts=T0 - 1, seq=1)
    j2 = d2.to_json()
    assert j2["prior"] == {"source": "ws", "exchange_ts": T0, "received_at": T0}
    assert j2["detail"].startswith("rule 3")
    assert d2.prior is not None and d2.prior["seq_no"] == 1
    json.dumps(j2)


def test_views_client_id_and_cancel_checks():
    sm = StateManager()
    ws_order(sm, T0, ts=T0, seq=1, oid="x")
    assert sm.order_by_client_id("c-x").id == "x"  # type: ignore[union-attr]
    assert sm.order_by_client_id("nope") is None
    assert sm.check_cancellable("x").allowed and sm.check_cancellable("x").reason == "open"
    assert sm.check_cancellable("zz").reason == "unknown"
    assert set(sm.open_orders()) == {"x"} and sm.open_orders("ETH-USD-PERP") == {}


def test_snapshot_is_deterministic_and_json_able():
    def run() -> str:
        sm = StateManager()
        ws_order(sm, T0, oid="b", ts=T0, seq=1)
        ws_order(sm, T0, oid="a", ts=T0, seq=1)
        sm.apply(Update.balance(balance("1.10", T0), REST, T0))
        sm.apply(Update.account({"account_value": Decimal("5.0"), "updated_at": T0}, WS, T0))
        sm.apply(Update.fill(fill("f1"), WS, T0))
        return json.dumps(sm.snapshot(), sort_keys=True)

    first = run()
    assert first == run()
    snap = json.loads(first)
    assert list(snap["orders"]) == ["a", "b"]
    assert snap["balances"]["USDC"]["data"]["size"] == "1.10"
    assert snap["account"]["data"]["account_value"] == "5.0"
    assert snap["fills"]["f1"]["busted"] is False


def test_update_builders_reject_malformed_payloads():
    with pytest.raises(ModelError, match="'id'"):
        Update.order({"status": "OPEN"}, WS, T0)
    with pytest.raises(ModelError, match="status"):
        Update.order(order("FILLED"), WS, T0)
    with pytest.raises(ModelError, match="seq_no"):
        Update.order(order(seq=None, seq_no=1.5), WS, T0)
    with pytest.raises(ModelError, match="JSON object"):
        Update.position([1], WS, T0)
    with pytest.raises(ModelError, match="balance_after"):
        Update.balance_event({"settlement_asset_name": "USDC"}, WS, T0)
    assert Update.order(order(seq=None, seq_no="42"), "ws", T0).seq_no == 42
    assert Update.of("position", position("1", T0), "rest", T0).source is REST


def test_rule2_holds_for_evicted_closed_orders():
    """Rule 2 with max_closed_orders: an evicted CLOSED order leaves a tombstone; a stale REST
    OPEN for it is still refused and has_open_order stays false."""
    sm = StateManager(max_closed_orders=1)
    for oid in ("a", "b"):
        ws_order(sm, T0, oid=oid, ts=T0, seq=1)
        ws_order(sm, T0 + 1, oid=oid, status="CLOSED", ts=T0 + 1, seq=2, remaining="0")
    assert sm.order("a") is None and sm.order("b") is not None  # "a" evicted, "b" kept
    d = rest_order(sm, T0 + 10**6, oid="a", status="OPEN", ts=T0 + 10**6, seq=9)
    assert not d.accepted and d.reason is Reason.TERMINAL
    assert rest_order(sm, T0 + 10**6, oid="a", status="CLOSED", seq=9).reason is Reason.DUPLICATE
    assert sm.is_terminal("a") and not sm.has_open_order()
    assert not sm.check_cancellable("a").allowed
    assert sm.order_by_client_id("c-a") is None
    # With the tombstone bound reached, the oldest evicted order is forgotten.
    sm2 = StateManager(max_closed_orders=0, max_tombstones=1)
    for oid in ("a", "b"):
        ws_order(sm2, T0, oid=oid, status="CLOSED", ts=T0, seq=1, remaining="0")
    assert not sm2.is_terminal("a") and sm2.is_terminal("b")


def test_grace_and_bound_arguments_are_validated():
    with pytest.raises(ValueError):
        StateManager(grace_ms=-1)
    with pytest.raises(ValueError):
        StateManager(max_fills=0)
    with pytest.raises(ValueError):
        StateManager(max_closed_orders=-1)
    with pytest.raises(ValueError):
        StateManager(max_tombstones=-1)

"""StateManager rules added by issues 11 and 12: the rule list itself, rule 4 (the order lifecycle
at one exchange time) and rule 0 (an unreadable required field is ``malformed``).

Issue 11's defect: the sim stamps NEW and OPEN with the same ``last_updated_at``; when the WS
OPEN frame is lost, every REST OPEN used to be refused as a ``conflict``, leaving the order NEW
forever. The tests named ``..._new_then_open...`` fail on the code before rule 4.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paradexctl.core.models import ModelError
from paradexctl.core.state import (
    LATER_STATUSES,
    REASON_TEXT,
    RULES,
    Kind,
    Reason,
    Source,
    StateManager,
    Update,
    malformed_reason,
)

T0 = 1_718_958_000_000
WS, REST = Source.WS, Source.REST


def order(status: str, ts: int | None = T0, seq: int | None = 1, **extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "id": "o1", "client_id": "c1", "market": "BTC-USD-PERP", "side": "BUY",
        "type": "LIMIT", "size": "1", "remaining_size": "1", "price": "70000",
        "avg_fill_price": "", "status": status, "cancel_reason": "",
    }  # fmt: skip
    if ts is not None:
        p["last_updated_at"] = ts
    if seq is not None:
        p["seq_no"] = seq
    p.update(extra)
    return p


def apply(sm: StateManager, source: Source, at: int, status: str, **kw: Any) -> Any:
    return sm.apply(Update.order(order(status, **kw), source, at))


# --- the rule list -----------------------------------------------------------------------------


def test_rules_are_listed_in_order_and_numbered_like_the_reasons():
    """The docstring's rule numbers follow RULES: rule n's function is RULES[n - 1], and every
    reason a rule function can return names that rule (or a later one it shares) in its text."""
    names = [r.__name__ for r in RULES]
    assert names == [
        "_rule_seq", "_rule_terminal", "_rule_exchange_time", "_rule_lifecycle",
        "_rule_source_priority", "_rule_no_exchange_time",
    ]  # fmt: skip
    for n, rule in enumerate(RULES, 1):
        assert (rule.__doc__ or "").startswith(f"Rule {n}:"), rule.__name__
    assert REASON_TEXT[Reason.STALE_SEQ].startswith("rule 1:")
    assert REASON_TEXT[Reason.TERMINAL].startswith("rule 2:")
    assert REASON_TEXT[Reason.OLDER].startswith("rule 3:")
    assert REASON_TEXT[Reason.PROGRESS].startswith("rule 4:")
    assert REASON_TEXT[Reason.CONFLICT].startswith("rule 5:")
    assert REASON_TEXT[Reason.OLDER_ARRIVAL].startswith("rule 6:")
    assert REASON_TEXT[Reason.ILLEGAL_TRANSITION].startswith("rule 7:")
    assert REASON_TEXT[Reason.TERMINAL_WINS].startswith("rule 8:")
    assert REASON_TEXT[Reason.UNCONFIRMED].startswith("rule 9:")
    assert REASON_TEXT[Reason.BUSTED].startswith("rule 10:")
    assert REASON_TEXT[Reason.MALFORMED].startswith("rule 0:")
    assert set(REASON_TEXT) == set(Reason)


def test_apply_many_is_gone():
    assert not hasattr(StateManager, "apply_many")


# --- rule 4: the lifecycle at one exchange time ------------------------------------------------


def test_later_statuses_follow_the_lifecycle_table():
    assert LATER_STATUSES["NEW"] == {"OPEN", "CLOSED"}
    assert LATER_STATUSES["UNTRIGGERED"] == {"OPEN", "CLOSED"}
    assert LATER_STATUSES["OPEN"] == {"CLOSED"}
    assert LATER_STATUSES["CLOSED"] == frozenset()


@pytest.mark.parametrize("first, then", [(WS, REST), (REST, WS), (WS, WS), (REST, REST)])
def test_rule4_new_then_open_at_the_same_time_is_progress(first: Source, then: Source):
    """Issue 11: NEW then OPEN with the same last_updated_at is accepted from either source,
    REST inside the grace window included, and is not flagged as a conflict."""
    sm = StateManager(grace_ms=5000)
    apply(sm, first, T0, "NEW", seq=1)
    d = apply(sm, then, T0 + 100, "OPEN", seq=2)
    assert d.accepted and d.reason is Reason.PROGRESS
    assert sm.order("o1").status == "OPEN"  # type: ignore[union-attr]
    assert sm.conflicts == frozenset()


def test_rule4_lost_ws_open_then_rest_resyncs_converge_to_open():
    """The sim scenario: WS NEW, the WS OPEN frame lost, REST resyncs every 2 s show OPEN at the
    same exchange time. The first resync settles it (it used to be refused as conflict)."""
    sm = StateManager(grace_ms=5000)
    apply(sm, WS, T0 + 5, "NEW", seq=10)
    decisions = [apply(sm, REST, T0 + 2000 * i, "OPEN", seq=100 + i) for i in range(1, 4)]
    assert [d.reason for d in decisions] == [Reason.PROGRESS, Reason.DUPLICATE, Reason.DUPLICATE]
    assert sm.order("o1").status == "OPEN"  # type: ignore[union-attr]
    assert not sm.conflicts


@pytest.mark.parametrize("first, then", [(WS, REST), (REST, WS), (WS, WS)])
def test_rule4_an_earlier_status_at_the_same_time_is_refused(first: Source, then: Source):
    """OPEN then NEW at the same exchange time (a delayed NEW frame): refused as earlier_status,
    the key not flagged as a conflict."""
    sm = StateManager()
    apply(sm, first, T0, "OPEN", seq=1)
    d = apply(sm, then, T0 + 1, "NEW", seq=2)
    assert not d.accepted and d.reason is Reason.EARLIER_STATUS
    assert sm.order("o1").status == "OPEN"  # type: ignore[union-attr]
    assert not sm.conflicts


def test_rule4_closed_at_the_same_time_is_progress_and_stays_sticky():
    sm = StateManager()
    apply(sm, WS, T0, "OPEN", seq=1)
    d = apply(sm, REST, T0 + 1, "CLOSED", seq=1, remaining_size="0")
    assert d.accepted and d.reason is Reason.PROGRESS and sm.is_terminal("o1")
    for source in (WS, REST):
        for status in ("NEW", "OPEN", "UNTRIGGERED"):
            d = apply(sm, source, T0 + 2, status, seq=5)
            assert not d.accepted and d.reason is Reason.TERMINAL


def test_rule4_untriggered_and_new_are_not_ordered_at_one_time():
    """A stop order goes NEW -> UNTRIGGERED and, once triggered, UNTRIGGERED -> NEW: at one
    exchange time neither is later, so rule 5 decides (a conflict across sources)."""
    sm = StateManager()
    apply(sm, WS, T0, "UNTRIGGERED", seq=1)
    d = apply(sm, REST, T0 + 1, "NEW", seq=1)
    assert not d.accepted and d.reason is Reason.CONFLICT
    d = apply(sm, REST, T0 + 2, "OPEN", seq=2)
    assert d.accepted and d.reason is Reason.PROGRESS


def test_rule4_needs_the_same_exchange_time_and_rule1_comes_first():
    sm = StateManager()
    apply(sm, WS, T0, "OPEN", ts=T0 + 10, seq=5)
    # older by exchange time: rule 3, not rule 4
    assert apply(sm, REST, T0 + 1, "CLOSED", ts=T0, seq=1).reason is Reason.TERMINAL_WINS
    sm = StateManager()
    apply(sm, WS, T0, "NEW", seq=5)
    # same source, lower seq_no: rule 1 decides before the lifecycle does
    assert apply(sm, WS, T0 + 1, "OPEN", seq=4).reason is Reason.STALE_SEQ
    sm = StateManager()
    apply(sm, WS, T0, "NEW", ts=None)
    # no exchange time: rule 6
    assert apply(sm, REST, T0 + 1, "OPEN", ts=None).reason is Reason.NO_EXCHANGE_TIME_WS_RECENT


# --- rule 0: an unreadable required field ------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("size", "abc"), ("size", ""), ("size", "NaN"), ("size", None), ("size", True),
     ("market", ""), ("market", 7), ("side", "LONG"), ("type", None)],
)  # fmt: skip
def test_rule0_an_order_with_an_unreadable_required_field_is_malformed(field: str, value: Any):
    """Issue 11: an order frame with size "abc" was accepted and printed as received."""
    p = order("OPEN")
    p[field] = value
    with pytest.raises(ModelError, match=repr(field)):
        Update.order(p, WS, T0)
    sm = StateManager()
    d = sm.apply_payload(Kind.ORDER, p, WS, T0)
    assert not d.accepted and d.reason is Reason.MALFORMED and d.key == "o1"
    assert sm.order("o1") is None and not sm.has_open_order()
    assert sm.malformed == {Kind.ORDER: 1}
    assert malformed_reason(Kind.ORDER, p) is not None
    assert d.to_json()["detail"].startswith("rule 0:")


@pytest.mark.parametrize("size", ["1", "1.5", "-0.25", "1E+2", "0", 3, Decimal("2.5")])
def test_rule0_readable_decimals_pass(size: Any):
    assert Update.order(order("OPEN", size=size), WS, T0).key == "o1"
    assert Update.position({"market": "M", "size": size}, WS, T0).key == "M"
    assert Update.balance({"token": "USDC", "size": size}, WS, T0).key == "USDC"


def test_rule0_positions_balances_fills_and_balance_events():
    sm = StateManager()
    bad = [
        (Kind.POSITION, {"market": "M", "size": "x"}),
        (Kind.BALANCE, {"token": "USDC", "size": "1,000"}),
        (Kind.FILL, {"id": "f1", "market": "M", "side": "BUY", "size": "1", "price": "?"}),
        ("balance_event", {"settlement_asset_name": "USDC", "settlement_asset_balance_after": "x",
                           "created_at": T0}),
    ]  # fmt: skip
    for kind, p in bad:
        d = sm.apply_payload(kind, p, WS, T0)
        assert not d.accepted and d.reason is Reason.MALFORMED, kind
    assert sm.malformed == {Kind.POSITION: 1, Kind.BALANCE: 2, Kind.FILL: 1}
    assert sm.positions == {} and sm.balances == {} and sm.fills == {}
    assert sm.get(Kind.BALANCE, "USDC") is None


def test_rule0_a_malformed_frame_leaves_the_current_state_alone():
    sm = StateManager()
    apply(sm, WS, T0, "OPEN", seq=1)
    d = sm.apply_payload(Kind.ORDER, order("CLOSED", ts=T0 + 5, seq=2, size="abc"), WS, T0 + 5)
    assert d.reason is Reason.MALFORMED and d.prior is not None
    assert sm.order("o1").status == "OPEN"  # type: ignore[union-attr]
    # a readable frame is applied normally afterwards
    assert apply(sm, WS, T0 + 6, "CLOSED", ts=T0 + 5, seq=2).reason is Reason.NEWER


def test_rule0_a_malformed_listing_row_is_rejected_alone_and_not_judged_by_absence():
    sm = StateManager()
    apply(sm, WS, T0 - 10_000, "OPEN", ts=T0 - 10_000, seq=1)
    other = order("OPEN", ts=T0 - 5_000, seq=3, id="o2", client_id="c2")
    rows = [order("OPEN", ts=T0, seq=2, size="abc"), other, "not an object"]
    ds = sm.apply_snapshot(Kind.ORDER, rows, boundary_at=T0, received_at=T0 + 100)
    assert [d.reason for d in ds] == [Reason.MALFORMED, Reason.NEW, Reason.MALFORMED]
    assert [d.key for d in ds] == ["o1", "o2", ""]
    assert sm.unconfirmed == frozenset()  # o1 was listed (unreadably): not absent
    assert set(sm.open_orders()) == {"o1", "o2"}
    assert sm.malformed == {Kind.ORDER: 2}


def test_rule0_a_malformed_lookup_changes_nothing():
    sm = StateManager()
    apply(sm, WS, T0, "OPEN", seq=1)
    d = sm.settle("o1", {"id": "o1", "status": "CLOSED"}, T0 + 10)
    assert not d.accepted and d.reason is Reason.MALFORMED and d.key == "o1"
    assert not sm.is_terminal("o1")


def test_rule0_an_unreadable_account_is_keyed_account():
    sm = StateManager()
    d = sm.apply_payload(Kind.ACCOUNT, {"updated_at": "soon"}, WS, T0)
    assert d.reason is Reason.MALFORMED and d.key == "account" and sm.account is None

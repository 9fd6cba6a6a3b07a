"""core.reconcile: a small venue model produces consistent recordings; faults injected one at a
time must produce exactly the expected mismatch kind; reports are byte-for-byte deterministic."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paradexctl.core.reconcile import (
    MISMATCH_KINDS,
    ReconcileOptions,
    Report,
    prometheus_text,
    reconcile,
)
from paradexctl.core.recording import (
    Mark,
    Meta,
    Record,
    RestSnapshot,
    WsFrame,
    read_records,
    to_line,
)

T0 = 1_718_958_000_000
GRACE = 5000
B1 = T0 + 2_000  # snapshot 1 boundary
WE = B1 + 10_000  # window end
B2 = WE + GRACE + 500  # snapshot 2 boundary (after waiting out the grace window)
END = B2 + 1_500
MARKETS = ("BTC-USD-PERP", "ETH-USD-PERP")
FAULTS = (
    "stale_rest",
    "ws_gap",
    "missing_in_rest",
    "missing_in_ws",
    "conflict",
    "invariant_position",
    "invariant_balance",
)


@dataclass
class Venue:
    """The exchange's truth: versions per key, each with its exchange time."""

    rng: random.Random
    t: int = T0
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    positions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    balance: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # WS frames
    n: int = 0
    zero_money_fill: int | None = None
    quiet: set[str] = field(default_factory=set)  # orders random_op never touches

    def tick(self, lo: int = 1, hi: int = 400) -> int:
        self.t += self.rng.randint(lo, hi)
        return self.t

    def _order_version(self, oid: str, **changes: Any) -> None:
        prev = self.orders[oid][-1] if oid in self.orders else {}
        v = {**prev, **changes, "last_updated_at": self.t}
        v["seq_no"] = 1_000_000 + len(self.orders.get(oid, [])) * 7
        self.orders.setdefault(oid, []).append(v)
        self.events.append((self.t, "orders.ALL", v))

    def place(self, market: str | None = None) -> str:
        self.n += 1
        oid = f"o{self.n:04d}"
        market = market or self.rng.choice(MARKETS)
        self.tick()
        self._order_version(
            oid, id=oid, client_id=f"c{self.n}", market=market,
            side=self.rng.choice(["BUY", "SELL"]), type="LIMIT", size="1.0",
            remaining_size="1.0", price=str(100 + self.n), status="NEW", cancel_reason="",
            created_at=self.t,
        )  # fmt: skip
        self.tick()
        self._order_version(oid, status="OPEN")
        return oid

    def live(self) -> list[str]:
        return [
            k
            for k, vs in self.orders.items()
            if vs[-1]["status"] != "CLOSED" and k not in self.quiet
        ]

    def cancel(self, oid: str) -> None:
        self.tick()
        self._order_version(oid, status="CLOSED", cancel_reason="USER_CANCELED")

    def fill(self, oid: str) -> None:
        o = self.orders[oid][-1]
        remaining = Decimal(o["remaining_size"])
        size = min(remaining, Decimal(self.rng.choice(["0.3", "0.5", "1.0"])))
        left = remaining - size
        self.tick()
        idx = len(self.fills)
        quiet = idx == self.zero_money_fill
        fee = Decimal(0) if quiet else Decimal(self.rng.randint(1, 50)) / 100
        pnl = Decimal(0) if quiet else Decimal(self.rng.randint(-300, 300)) / 100
        f = {"id": f"f{idx:04d}", "order_id": oid, "market": o["market"], "side": o["side"],
             "size": str(size), "price": o["price"], "fee": str(fee), "realized_pnl": str(pnl),
             "realized_funding": "0", "created_at": self.t}  # fmt: skip
        self.fills.append(f)
        self.events.append((self.t, "fills.ALL", f))
        self._order_version(oid, remaining_size=str(left), status="OPEN" if left else "CLOSED",
                            cancel_reason="" if left else "FILLED")  # fmt: skip
        signed = size if o["side"] == "BUY" else -size
        prev = self.positions.get(o["market"], [{"size": "0"}])[-1]
        new_size = Decimal(prev["size"]) + signed
        pos = {"market": o["market"], "size": str(new_size),
               "status": "OPEN" if new_size else "CLOSED", "last_updated_at": self.t,
               "last_fill_id": f["id"],
               "seq_no": 5_000 + len(self.positions.get(o["market"], []))}  # fmt: skip
        self.positions.setdefault(o["market"], []).append(pos)
        self.events.append((self.t, "positions", pos))
        self._balance(pnl - fee, "TRANSACTION_FILL")

    def _balance(self, change: Decimal, why: str) -> None:
        before = Decimal(self.balance[-1]["size"])
        after = before + change
        self.balance.append({"token": "USDC", "size": str(after), "last_updated_at": self.t})
        self.events.append((self.t, "balance_events", {
            "type": why, "settlement_asset_name": "USDC",
            "settlement_asset_balance_before": str(before),
            "settlement_asset_balance_after": str(after), "created_at": self.t}))  # fmt: skip

    def phantom_deposit(self) -> None:
        """A balance change with no fill, funding payment or transfer behind it."""
        self.tick()
        self._balance(Decimal("7"), "UNKNOWN")

    def random_op(self) -> None:
        live = self.live()
        r = self.rng.random()
        if not live or r < 0.35:
            self.place()
        elif r < 0.8:
            self.fill(self.rng.choice(live))
        else:
            self.cancel(self.rng.choice(live))

    # --- views at a time ---

    @staticmethod
    def at(versions: list[dict[str, Any]], t: int) -> dict[str, Any] | None:
        shown = [v for v in versions if v["last_updated_at"] <= t]
        return shown[-1] if shown else None


def build(
    seed: int, fault: str | None = None, *, n_before: int = 4, n_window: int = 14
) -> tuple[list[Record], dict[str, Any]]:
    """A recorded reconcile run over a random order flow, with at most one fault injected."""
    rng = random.Random(seed)
    v = Venue(rng)
    v.balance.append({"token": "USDC", "size": "1000", "last_updated_at": T0 - 10_000})
    quiet_a = v.place("BTC-USD-PERP")  # never touched again: targets for faults
    v.quiet.add(quiet_a)
    for _ in range(n_before):
        v.random_op()
    v.t = max(v.t, B1 + 1)
    quiet_b = v.place("ETH-USD-PERP")
    v.quiet.add(quiet_b)
    lost_fill = None
    if fault == "invariant_position":  # a fill in the window that moves no money, then lost
        v.zero_money_fill = len(v.fills)
        lost_fill = f"f{len(v.fills):04d}"
        v.fill(v.place("ETH-USD-PERP"))
    while v.t < WE - 3000 and n_window > 0:
        v.random_op()
        n_window -= 1
    if fault == "invariant_balance":
        v.phantom_deposit()
    info: dict[str, Any] = {"quiet_a": quiet_a, "quiet_b": quiet_b}

    # WS frames, each delayed a little (< grace); some faults remove frames.
    target: str | None = None
    drop: set[int] = set()
    events = v.events
    if fault == "ws_gap":
        target = rng.choice(sorted(v.orders))
        last = v.orders[target][-1]
        drop = {i for i, (_, ch, p) in enumerate(events) if p is last and ch == "orders.ALL"}
    elif fault == "missing_in_ws":
        target = quiet_b
        drop = {i for i, (_, ch, p) in enumerate(events)
                if ch == "orders.ALL" and p["id"] == quiet_b}  # fmt: skip
    elif fault == "invariant_position":
        drop = {
            i for i, (_, ch, p) in enumerate(events) if ch == "fills.ALL" and p["id"] == lost_fill
        }
    records: list[tuple[int, int, Record]] = []
    for i, (t, ch, payload) in enumerate(events):
        if i not in drop:
            at = t + rng.randint(5, 200)
            records.append((at, len(records), WsFrame(at, ch, payload)))

    def rest_orders(b: int, stale_target: str | None = None) -> list[dict[str, Any]]:
        out = []
        for oid, vs in sorted(v.orders.items()):
            cur = Venue.at(vs, b)
            if oid == stale_target:
                cur = Venue.at(vs, vs[-1]["last_updated_at"] - 1)
            if cur is None or cur["status"] == "CLOSED":
                continue
            out.append({**cur, "seq_no": 3 + vs.index(cur)})
        return out

    def listings(b: int, stale_target: str | None = None) -> list[RestSnapshot]:
        r = b + 300
        orders = rest_orders(b, stale_target)
        positions = [p for vs in v.positions.values() if (p := Venue.at(vs, b)) is not None]
        fills = [f for f in v.fills if f["created_at"] <= b]
        bal = Venue.at(v.balance, b)
        return [
            RestSnapshot("orders", b, r, {"results": orders}),
            RestSnapshot("positions", b, r, {"results": positions}),
            RestSnapshot("balance", b, r, {"results": [bal] if bal else []}),
            RestSnapshot("fills", b, r, {"results": fills}, {"start_at": T0}),
        ]

    for snap in listings(B1):
        records.append((snap.received_at, len(records), snap))
    s2 = listings(B2)
    if fault == "stale_rest":
        target = quiet_a
        s2[0] = RestSnapshot("orders", B2, B2 + 300, {"results": rest_orders(B2, quiet_a)})
    elif fault == "missing_in_rest":
        target = quiet_a
        res = [o for o in s2[0].data["results"] if o["id"] != quiet_a]
        s2[0] = RestSnapshot("orders", B2, B2 + 300, {"results": res})
    elif fault == "conflict":
        target = quiet_a
        res = [dict(o, price="1") if o["id"] == quiet_a else o for o in s2[0].data["results"]]
        s2[0] = RestSnapshot("orders", B2, B2 + 300, {"results": res})
    elif fault == "invariant_position":
        kept = [f for f in s2[3].data["results"] if f["id"] != lost_fill]
        s2[3] = RestSnapshot("fills", B2, B2 + 300, {"results": kept}, {"start_at": T0})
    for snap in s2:
        records.append((snap.received_at, len(records), snap))
    # Lookups by id of known orders that snapshot 2 no longer lists (what the I/O layer does).
    listed = {o["id"] for o in s2[0].data["results"]}
    for oid, vs in sorted(v.orders.items()):
        if oid in listed or (fault == "missing_in_ws" and oid == quiet_b):
            continue
        cur = Venue.at(vs, B2 + 400)
        if fault == "missing_in_rest" and oid == quiet_a:
            cur = None
        data = None if cur is None else {**cur, "seq_no": 3 + vs.index(cur)}
        rec = RestSnapshot("order", B2 + 400, B2 + 600, data, {"order_id": oid})
        records.append((rec.received_at, len(records), rec))
    records.append((WE, len(records), Mark("window_end", {"at": WE})))
    records.append((END, len(records), Mark("end", {"at": END})))
    records.sort(key=lambda r: (r[0], r[1]))
    meta = Meta({"tool": "paradexctl", "grace_ms": GRACE, "seed": seed})
    info["target"] = target
    info["market_of_target"] = v.orders[target][0]["market"] if target in v.orders else None
    return [meta] + [r for _, _, r in records], info


def failing_kinds(report: Report) -> dict[str, int]:
    return {k: n for k, n in report.counts["total"].items() if n and k in MISMATCH_KINDS}


# --- consistency and faults ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 6), st.integers(0, 25))
def test_consistent_history_reconciles_to_zero_mismatches(seed: int, nb: int, nw: int) -> None:
    records, _ = build(seed, n_before=nb, n_window=nw)
    report = reconcile(records, ReconcileOptions(grace_ms=GRACE, strict=True))
    assert failing_kinds(report) == {}, report.to_json()["rows"]
    assert report.exit_status == 0 and report.verdict == "consistent"
    assert report.counts["total"]["match"] > 0


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(FAULTS))
def test_one_fault_gives_exactly_its_kind(seed: int, fault: str) -> None:
    records, info = build(seed, fault)
    report = reconcile(records, ReconcileOptions(grace_ms=GRACE))
    kinds = failing_kinds(report)
    assert kinds == {fault: 1}, report.to_json()["rows"]
    assert report.exit_status == 1
    (row,) = [r for r in report.rows if r.failing]
    if info["target"] is not None:
        assert row.key == info["target"]


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_row_explains_itself(fault: str) -> None:
    records, _ = build(7, fault)
    report = reconcile(records, ReconcileOptions(grace_ms=GRACE))
    (row,) = [r for r in report.rows if r.failing]
    j = row.to_json()
    assert j["kind"] == fault and j["detail"]
    if fault in ("stale_rest", "ws_gap", "conflict"):
        assert j["ws"]["value"] is not None and j["rest"]["value"] is not None
        assert j["ws"]["exchange_ts"] is not None and j["rest"]["received_at"] is not None
        assert j["rule"] is not None  # the state manager's decision on the REST side
    if fault == "stale_rest":
        assert j["rule"] in ("older", "stale_seq") and j["merged"]["source"] == "ws"
    if fault == "invariant_position":
        assert j["extra"]["change"] != j["extra"]["fills_signed_sum"]
    if fault == "invariant_balance":
        assert Decimal(j["extra"]["change"]) - Decimal(j["extra"]["expected_change"]) == 7


# --- pending, strict, fail-on, entities, market --------------------------------------------------


def _pending_case() -> list[Record]:
    """An order that changes on WS inside the grace window before snapshot 2, which REST does
    not show yet."""
    o = {"id": "p1", "market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "1",
         "remaining_size": "1", "price": "10", "status": "OPEN", "last_updated_at": T0,
         "seq_no": 1}  # fmt: skip
    o2 = dict(o, remaining_size="0.5", last_updated_at=B2 - 1000, seq_no=2)
    return [
        WsFrame(T0 + 10, "orders.ALL", o),
        RestSnapshot("orders", B1, B1 + 300, {"results": [o]}),
        WsFrame(B2 - 990, "orders.ALL", o2),
        RestSnapshot("orders", B2, B2 + 300, {"results": [o]}),
    ]


def test_pending_is_not_a_mismatch_unless_strict() -> None:
    loose = reconcile(_pending_case(), ReconcileOptions(grace_ms=GRACE))
    assert loose.counts["orders"]["pending"] == 1 and loose.exit_status == 0
    strict = reconcile(_pending_case(), ReconcileOptions(grace_ms=GRACE, strict=True))
    assert strict.exit_status == 1 and strict.rows[0].failing
    # The same REST lag, with the WS update older than the grace window: stale_rest.
    late = reconcile(_pending_case(), ReconcileOptions(grace_ms=500))
    assert late.counts["orders"]["stale_rest"] == 1 and late.exit_status == 1


def test_fail_on_limits_which_entities_fail() -> None:
    records, _ = build(3, "invariant_balance")
    assert reconcile(records, ReconcileOptions(fail_on=frozenset({"orders"}))).exit_status == 0
    assert reconcile(records, ReconcileOptions(fail_on=frozenset({"balances"}))).exit_status == 1
    assert reconcile(records, ReconcileOptions(fail_on=frozenset({"any"}))).exit_status == 1
    only_orders = reconcile(records, ReconcileOptions(entities=frozenset({"orders"})))
    assert only_orders.exit_status == 0 and set(only_orders.counts) == {"total", "orders"}


def test_market_filter() -> None:
    records, info = build(11, "missing_in_rest")
    other = "ETH-USD-PERP" if info["market_of_target"] == "BTC-USD-PERP" else "BTC-USD-PERP"
    report = reconcile(records, ReconcileOptions(market=other))
    assert report.exit_status == 0
    assert all(r.key != info["target"] for r in report.rows)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown entities"):
        ReconcileOptions(entities=frozenset({"trades"}))
    with pytest.raises(ValueError, match="fail-on"):
        ReconcileOptions(fail_on=frozenset({"fills"}))


# --- determinism and output ----------------------------------------------------------------------


def test_replay_from_lines_gives_byte_identical_report() -> None:
    records, _ = build(99, "ws_gap")
    lines = [to_line(r) for r in records]
    first = reconcile(read_records(lines), ReconcileOptions(show_matches=True))
    second = reconcile(read_records(list(lines)), ReconcileOptions(show_matches=True))
    assert first.to_canonical_json() == second.to_canonical_json()
    assert first.to_canonical_json() == reconcile(records, ReconcileOptions(
        show_matches=True)).to_canonical_json()  # fmt: skip
    doc = json.loads(first.to_canonical_json())
    assert doc["schema"] == "paradexctl.reconcile/1"
    assert doc["counts"]["total"]["ws_gap"] == 1 and doc["exit_status"] == 1
    keys = [(r["entity"], r["key"]) for r in doc["rows"]]
    order = {"orders": 0, "positions": 1, "balances": 2, "fills": 3}
    assert keys == sorted(keys, key=lambda k: (order[k[0]], k[1]))


def test_verdict_line_and_prometheus() -> None:
    records, _ = build(5, "conflict")
    report = reconcile(records)
    assert report.verdict_line().startswith("MISMATCH: 1 failing; ")
    assert "conflict=1" in report.verdict_line()
    text = prometheus_text(report)
    assert 'paradexctl_reconcile_rows{entity="orders",kind="conflict"} 1' in text
    assert "paradexctl_reconcile_exit_status 1" in text and text.endswith("\n")
    ok = reconcile(build(5)[0])
    assert ok.verdict_line().startswith("CONSISTENT: 0 failing")


def test_empty_input_is_consistent() -> None:
    report = reconcile([])
    assert report.exit_status == 0 and report.rows == ()
    assert report.verdict_line() == "CONSISTENT: 0 failing; nothing to compare"


def test_report_bytes_do_not_depend_on_the_hash_seed(tmp_path) -> None:
    """Byte-identical across processes: no set or dict iteration order leaks into the report."""
    import subprocess
    import sys
    from pathlib import Path

    records, _ = build(42, "missing_in_rest")
    rec = tmp_path / "run.ndjson"
    rec.write_text("".join(to_line(r) + "\n" for r in records), encoding="utf-8")
    script = (
        "import sys\n"
        "from paradexctl.core.recording import read_records\n"
        "from paradexctl.core.reconcile import ReconcileOptions, reconcile\n"
        "with open(sys.argv[1], encoding='utf-8') as f:\n"
        "    r = reconcile(read_records(f), ReconcileOptions(show_matches=True))\n"
        "sys.stdout.write(r.to_canonical_json())\n"
    )
    outs = set()
    for seed in ("1", "2", "3"):
        env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
        proc = subprocess.run(
            [sys.executable, "-c", script, str(rec)],
            capture_output=True, text=True, env=env, timeout=60,
            cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outs.add(proc.stdout)
    assert len(outs) == 1
    expected = reconcile(records, ReconcileOptions(show_matches=True)).to_canonical_json()
    assert outs == {expected}


def _o(oid: str = "x1", ts: int | None = T0, **kw: Any) -> dict[str, Any]:
    p = {"id": oid, "market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "1",
         "remaining_size": "1", "price": "10", "status": "OPEN", "seq_no": 1, **kw}  # fmt: skip
    if ts is not None:
        p["last_updated_at"] = ts
    return p


def _listing(b: int, *orders: dict[str, Any]) -> RestSnapshot:
    return RestSnapshot("orders", b, b + 300, {"results": list(orders)})


ORDERS_ONLY = ReconcileOptions(entities=frozenset({"orders"}))


def test_known_key_changed_without_any_ws_is_a_ws_gap() -> None:
    recs = [_listing(B1, _o()), _listing(B2, _o(ts=B1 + 10, remaining_size="0.5", seq_no=2)),
            Mark("end", {"at": END})]  # fmt: skip
    report = reconcile(recs, ORDERS_ONLY)
    assert failing_kinds(report) == {"ws_gap": 1}
    # The same change close to the end of the recording is still pending.
    late = [_listing(B1, _o()), _listing(B2, _o(ts=END - 100, remaining_size="0.5", seq_no=2)),
            Mark("end", {"at": END})]  # fmt: skip
    assert reconcile(late, ORDERS_ONLY).counts["orders"]["pending"] == 1


def test_without_exchange_times_received_at_and_grace_decide() -> None:
    ws = WsFrame(T0 + 100, "orders.ALL", _o(ts=None, remaining_size="0.5", seq_no=5))
    recs = [_listing(B1, _o(ts=None)), ws, _listing(B2, _o(ts=None, seq_no=2))]
    assert failing_kinds(reconcile(recs, ORDERS_ONLY)) == {"stale_rest": 1}
    ws_late = WsFrame(B2 - 100, "orders.ALL", _o(ts=None, remaining_size="0.5", seq_no=5))
    recs = [_listing(B1, _o(ts=None)), ws_late, _listing(B2, _o(ts=None, seq_no=2))]
    report = reconcile(recs, ORDERS_ONLY)
    assert report.counts["orders"]["pending"] == 1 and report.exit_status == 0


def test_fill_with_two_contents_is_a_conflict() -> None:
    fill = {"id": "f1", "market": "BTC-USD-PERP", "side": "BUY", "size": "1", "price": "10",
            "created_at": B1 + 10}  # fmt: skip
    recs = [
        RestSnapshot("fills", B1, B1 + 300, {"results": []}),
        WsFrame(B1 + 20, "fills.ALL", fill),
        RestSnapshot("fills", B2, B2 + 300, {"results": [dict(fill, size="2")]}),
    ]
    report = reconcile(recs, ReconcileOptions(entities=frozenset({"fills"})))
    assert failing_kinds(report) == {"conflict": 1}
    (row,) = report.rows
    assert row.key == "f1" and row.merged is not None and row.merged.value["size"] == "1"
    # both contents are in the row: WS's (kept) and REST's (refused)
    assert row.ws is not None and row.ws.value["size"] == "1" and row.ws.source == "ws"
    assert row.rest is not None and row.rest.value["size"] == "2" and row.rest.source == "rest"
    assert row.ws.exchange_ts == row.rest.exchange_ts == B1 + 10
    assert row.rest.received_at == B2 + 300
    assert row.rule == "conflict"
    assert row.to_json()["extra"]["rejected"]["value"]["size"] == "2"


def test_fill_rows_show_the_source_that_saw_them_and_the_rule() -> None:
    fill = {"id": "f2", "market": "BTC-USD-PERP", "side": "SELL", "size": "1", "price": "10",
            "created_at": B1 + 10}  # fmt: skip
    only_rest = [
        RestSnapshot("fills", B1, B1 + 300, {"results": []}),
        RestSnapshot("fills", B2, B2 + 300, {"results": [fill]}),
        Mark("end", {"at": END}),
    ]
    (row,) = reconcile(only_rest, ReconcileOptions(entities=frozenset({"fills"}))).rows
    assert row.kind == "missing_in_ws"
    assert row.ws is None  # WS never saw it: nothing under "ws"
    assert row.rest is not None and row.rest.value["side"] == "SELL"
    assert row.rest.exchange_ts == B1 + 10 and row.rest.received_at == B2 + 300
    assert row.rule == "new"


def _pos(size: str, ts: int, seq: int, **kw: Any) -> dict[str, Any]:
    return {"id": "a-BTC", "market": "BTC-USD-PERP", "status": "OPEN", "side": "LONG",
            "size": size, "average_entry_price": "100", "last_updated_at": ts, "seq_no": seq,
            **kw}  # fmt: skip


def _positions(b: int, *ps: dict[str, Any]) -> RestSnapshot:
    return RestSnapshot("positions", b, b + 300, {"results": list(ps)})


def test_a_missed_position_size_change_is_a_ws_gap_even_when_the_mark_bumps_its_time() -> None:
    """WS saw 0.001 and missed the change to 0.004 (a fill well before the end); REST's
    ``last_updated_at`` is recent only because the mark moved. The size changed long ago: a
    missed WS message (``ws_gap``), not ``pending``."""
    fill = {"id": "f9", "market": "BTC-USD-PERP", "side": "BUY", "size": "0.003",
            "price": "100", "created_at": B1 + 1000}  # fmt: skip
    recs = [
        WsFrame(T0 + 10, "positions", _pos("0.001", T0, 1)),
        _positions(B1, _pos("0.001", T0, 1)),
        RestSnapshot("fills", B1, B1 + 300, {"results": []}, {"start_at": T0}),
        # the fill and the new size were dropped on WS; the mark moves until the end
        _positions(B2, _pos("0.004", END - 200, 9, last_fill_id="f9")),
        RestSnapshot("fills", B2, B2 + 300, {"results": [fill]}, {"start_at": T0}),
        Mark("end", {"at": END}),
    ]
    opts = ReconcileOptions(grace_ms=GRACE, entities=frozenset({"positions", "fills"}))
    report = reconcile(recs, opts)
    rows = {(r.entity, r.kind) for r in report.rows}
    assert ("positions", "ws_gap") in rows, report.rows
    (row,) = [r for r in report.rows if r.entity == "positions" and r.kind == "ws_gap"]
    assert row.ws is not None and row.ws.value["size"] == "0.001"
    assert row.rest is not None and row.rest.value["size"] == "0.004"
    # the same size change close to the end is still pending
    late_fill = dict(fill, created_at=END - 300)
    late = [
        *recs[:3],
        _positions(B2, _pos("0.004", END - 200, 9, last_fill_id="f9")),
        RestSnapshot("fills", B2, B2 + 300, {"results": [late_fill]}, {"start_at": T0}),
        Mark("end", {"at": END}),
    ]
    report = reconcile(late, opts)
    assert report.counts["positions"]["pending"] == 1
    assert report.counts["positions"]["ws_gap"] == 0


def test_a_position_differing_only_in_mark_driven_fields_is_a_match() -> None:
    """Size, side and average entry agree; only the time and unrealized PnL moved with the
    mark (a dropped mark-only WS update): nothing the report compares differs."""
    recs = [
        WsFrame(T0 + 10, "positions", _pos("0.001", T0, 1, unrealized_pnl="1")),
        _positions(B1, _pos("0.001", T0, 1, unrealized_pnl="1")),
        _positions(B2, _pos("0.001", B1 + 100, 9, unrealized_pnl="5")),
        Mark("end", {"at": END}),
    ]
    report = reconcile(recs, ReconcileOptions(entities=frozenset({"positions"})))
    assert report.counts["positions"]["match"] == 1 and report.exit_status == 0


def test_a_stale_rest_position_is_dated_by_the_ws_size_change_not_the_last_mark_move() -> None:
    """WS showed the new size long ago and has since only sent mark-driven updates; REST still
    shows the old size after the grace window: ``stale_rest``, not ``pending``."""
    recs = [
        _positions(B1, _pos("0.001", T0, 1)),
        WsFrame(B1 + 100, "positions", _pos("0.004", B1 + 90, 2)),
        WsFrame(B2 - 100, "positions", _pos("0.004", B2 - 110, 3, unrealized_pnl="3")),
        _positions(B2, _pos("0.001", T0, 1)),
        Mark("end", {"at": END}),
    ]
    report = reconcile(recs, ReconcileOptions(grace_ms=GRACE, entities=frozenset({"positions"})))
    assert report.counts["positions"]["stale_rest"] == 1  # (no fills: the invariant fails too)
    assert report.counts["positions"]["pending"] == 0


def test_invariant_rows_show_both_sources_and_the_rule() -> None:
    for fault in ("invariant_position", "invariant_balance"):
        records, _ = build(7, fault)
        report = reconcile(records, ReconcileOptions(grace_ms=GRACE))
        (row,) = [r for r in report.rows if r.failing]
        assert row.rule == "invariant"
        assert row.rest is not None and row.rest.source == "rest" and row.rest.value
        assert row.rest.received_at is not None
        if row.ws is not None:
            assert row.ws.source == "ws" and row.ws.received_at is not None


# --- issue 11: NEW then OPEN at one exchange time; the WS-only view -------------------------------


def test_a_lost_ws_open_with_new_and_open_at_one_time_is_a_ws_gap_not_a_conflict() -> None:
    """The sim stamps NEW and OPEN with one last_updated_at. WS showed NEW, its OPEN frame was
    lost, REST shows OPEN: a missed WS message (ws_gap), and the merged state is OPEN. Before
    rule 4 this was a conflict and the merged state stayed NEW."""
    ts = B1 + 10
    recs = [_listing(B1), WsFrame(ts + 5, "orders.ALL", _o(ts=ts, status="NEW", seq_no=7)),
            _listing(B2, _o(ts=ts, seq_no=2)), Mark("end", {"at": END})]  # fmt: skip
    report = reconcile(recs, ORDERS_ONLY)
    assert failing_kinds(report) == {"ws_gap": 1}
    (row,) = report.rows
    assert row.ws is not None and row.ws.value["status"] == "NEW"
    assert row.rest is not None and row.rest.value["status"] == "OPEN"
    assert row.merged is not None and row.merged.value["status"] == "OPEN"
    assert row.rule == "progress"
    # The other way round (REST still NEW, WS OPEN at the same time, well before snapshot 2):
    # REST is the older side, a stale_rest, not a conflict.
    recs = [_listing(B1), WsFrame(ts + 5, "orders.ALL", _o(ts=ts, seq_no=7)),
            _listing(B2, _o(ts=ts, status="NEW", seq_no=2)), Mark("end", {"at": END})]  # fmt: skip
    report = reconcile(recs, ORDERS_ONLY)
    assert failing_kinds(report) == {"stale_rest": 1}
    assert report.rows[0].rule == "earlier_status"


def test_the_ws_side_is_what_a_state_manager_fed_only_ws_holds() -> None:
    """The WS-only view is a second StateManager, not a second merge: a WS frame with a newer
    time but a lower seq_no than one already accepted is stale (rule 1) on the WS side too."""
    from paradexctl.core.state import StateManager, Update

    frames = [
        WsFrame(B1 + 20, "orders.ALL", _o(ts=B1 + 10, remaining_size="0.8", seq_no=9)),
        WsFrame(B1 + 40, "orders.ALL", _o(ts=B1 + 30, remaining_size="0.5", seq_no=8)),
    ]
    recs = [_listing(B1, _o()), *frames, _listing(B2, _o(ts=B1 + 10, remaining_size="0.8")),
            Mark("end", {"at": END})]  # fmt: skip
    report = reconcile(recs, ReconcileOptions(entities=frozenset({"orders"}), show_matches=True))
    ws_only = StateManager(grace_ms=GRACE)
    for f in frames:
        ws_only.apply(Update.order(f.data, "ws", f.received_at))
    held = ws_only.get("order", "x1")
    (row,) = report.rows
    assert held is not None and row.ws is not None
    assert (row.ws.value["remaining_size"], row.ws.seq_no, row.ws.received_at) == (
        held.payload["remaining_size"], held.seq_no, held.received_at,
    )  # fmt: skip
    assert row.kind == "match"  # REST agrees with the WS state the rules kept


# --- issue 12: an unreadable row is its own mismatch kind ----------------------------------------


def test_a_rest_order_without_market_size_seq_or_time_is_unreadable_never_a_match() -> None:
    """Both listings show an order with only an id and a status; WS never showed it. It used to
    be a match ("both sources agree"); it is an unreadable row, failing, exit 1."""
    bare = {"id": "x9", "status": "OPEN"}
    recs = [_listing(B1, _o(), bare), _listing(B2, _o(), bare), Mark("end", {"at": END})]
    report = reconcile(recs, ReconcileOptions(entities=frozenset({"orders"}), show_matches=True))
    assert failing_kinds(report) == {"unreadable": 1} and report.exit_status == 1
    row = next(r for r in report.rows if r.key == "x9")
    assert row.kind == "unreadable" and row.failing and row.rule == "malformed"
    assert row.rest is not None and row.rest.source == "rest" and row.ws is None
    errors = [u["error"] for u in row.extra["unreadable"]]
    assert len(errors) == 2 and all("'market'" in e for e in errors)
    assert {r.key: r.kind for r in report.rows} == {"x1": "match", "x9": "unreadable"}
    assert "unreadable=1" in report.verdict_line()


@pytest.mark.parametrize(
    "channel, payload, entity, key",
    [
        ("orders.ALL", _o(ts=B1 + 10, size="abc"), "orders", "x1"),
        ("positions", {"market": "BTC-USD-PERP", "size": "abc", "last_updated_at": B1 + 10},
         "positions", "BTC-USD-PERP"),
        ("balance_events", {"settlement_asset_name": "USDC",
                            "settlement_asset_balance_after": "1e", "created_at": B1 + 10},
         "balances", "USDC"),
        ("fills.ALL", {"id": "f1", "market": "BTC-USD-PERP", "side": "BUY", "size": "1",
                       "price": None, "created_at": B1 + 10}, "fills", "f1"),
    ],
)  # fmt: skip
def test_a_ws_payload_with_an_unreadable_required_field_is_unreadable(
    channel: str, payload: dict[str, Any], entity: str, key: str
) -> None:
    """A WS frame the state manager refuses (rule 0) used to abort the reconcile (an order
    without a status) or be accepted as received (size "abc"): now an unreadable row, exit 1."""
    recs = [_listing(B1, _o()), WsFrame(B1 + 20, channel, payload), _listing(B2, _o()),
            Mark("end", {"at": END})]  # fmt: skip
    report = reconcile(recs, ReconcileOptions(entities=frozenset({entity})))
    assert failing_kinds(report) == {"unreadable": 1} and report.exit_status == 1
    (row,) = [r for r in report.rows if r.failing]
    assert (row.entity, row.key, row.kind) == (entity, key, "unreadable")
    assert row.ws is not None and row.ws.source == "ws" and row.ws.received_at == B1 + 20
    assert row.extra["unreadable"][0]["record"] == 1
    json.dumps(report.to_json())


@pytest.mark.parametrize("payload", [Decimal("1E+999"), [1, 2], None, "x"])
def test_a_ws_payload_that_is_no_object_is_shown_as_it_came(payload: Any) -> None:
    """A notification whose ``data`` is a number, a list, null or a string: the row's WS value
    is that data (it was ``{}``: a value no frame carried), the error names it as JSON has it."""
    recs = [_listing(B1, _o()), WsFrame(B1 + 20, "orders.ALL", payload), _listing(B2, _o()),
            Mark("end", {"at": END})]  # fmt: skip
    report = reconcile(recs, ORDERS_ONLY)
    (row,) = [r for r in report.rows if r.failing]
    assert row.kind == "unreadable" and row.ws is not None and row.ws.value == payload
    shown = "1E+999" if isinstance(payload, Decimal) else repr(payload)
    assert row.extra["unreadable"][0]["error"] == f"order: expected a JSON object, got {shown}"
    json.dumps(report.to_json())


def test_an_unreadable_row_without_a_key_is_keyed_by_its_record() -> None:
    recs = [_listing(B1, _o()), _listing(B2, _o(), "not an object"), Mark("end", {"at": END})]
    report = reconcile(recs, ORDERS_ONLY)
    (row,) = [r for r in report.rows if r.failing]
    assert row.kind == "unreadable" and row.key == "#1"
    # shown as it came, and the error says what is wrong with it (it showed {} and "field 'id'
    # must be a non-empty string")
    assert row.rest is not None and row.rest.value == "not an object"
    assert row.extra["unreadable"][0]["error"] == (
        "order: expected a JSON object, got 'not an object'"
    )
    # fail-on excludes it like any other kind of its entity
    quiet = reconcile(recs, ReconcileOptions(entities=frozenset({"orders"}),
                                             fail_on=frozenset({"positions"})))  # fmt: skip
    assert quiet.exit_status == 0 and quiet.counts["orders"]["unreadable"] == 1

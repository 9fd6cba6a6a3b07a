"""Benchmark core.reconcile: CPU spent replaying a recorded run and building the report.

Run: .venv/bin/python bench/reconcile.py

The recorded run: snapshot 1 (open orders, 100 positions, balance, fills), then WS updates in
groups of four per trade (fill, order, position, balance event), then snapshot 2. Sizes go
1k / 10k / 100k WS updates with open orders = updates / 10 (so 10,000 open orders at 100k);
the goal is <= 2 s CPU at 10,000 orders / 100 positions / 100,000 updates, growing linearly.
Figures (best of 3 runs): CPU for reconcile() on parsed records (the live case), and
including parsing the NDJSON lines (the replay case).
"""

from __future__ import annotations

import gc
import random
import time
from decimal import Decimal
from typing import Any

from paradexctl.core.reconcile import ReconcileOptions, reconcile
from paradexctl.core.recording import Record, RestSnapshot, WsFrame, read_records, to_line

T0 = 1_718_958_000_000
N_POSITIONS = 100
REPEAT = 3


def build(n_orders: int, n_updates: int, seed: int = 1) -> list[Record]:
    rng = random.Random(seed)
    markets = [f"M{i:03d}-USD-PERP" for i in range(N_POSITIONS)]
    orders: dict[str, dict[str, Any]] = {}
    for i in range(n_orders):
        oid = f"17189580000002017{i:011d}"
        orders[oid] = {
            "id": oid, "client_id": f"c{i}", "market": markets[i % N_POSITIONS],
            "side": "BUY", "type": "LIMIT", "size": "1000", "remaining_size": "1000",
            "price": "100.5", "avg_fill_price": "", "status": "OPEN", "cancel_reason": "",
            "instruction": "GTC", "flags": [], "stp": "EXPIRE_TAKER", "trigger_price": "0",
            "created_at": T0 - 10_000, "last_updated_at": T0 - 10_000, "seq_no": 1,
        }  # fmt: skip
    positions = {m: {"market": m, "size": "0", "status": "OPEN", "side": "LONG",
                     "last_updated_at": T0 - 10_000, "seq_no": 1} for m in markets}  # fmt: skip
    balance = {"token": "USDC", "size": "1000000", "last_updated_at": T0 - 10_000}
    b1 = T0
    recs: list[Record] = [
        RestSnapshot("orders", b1, b1 + 300, {"results": [dict(o) for o in orders.values()]}),
        RestSnapshot("positions", b1, b1 + 300, {"results": list(positions.values())}),
        RestSnapshot("balance", b1, b1 + 300, {"results": [dict(balance)]}),
        RestSnapshot("fills", b1, b1 + 300, {"results": []}, {"start_at": T0 - 20_000}),
    ]
    ids = list(orders)
    fills = []
    t = b1 + 400
    for k in range(n_updates // 4):
        t += 1
        oid = ids[rng.randrange(len(ids))]
        o = orders[oid]
        left = Decimal(o["remaining_size"]) - 1
        o = orders[oid] = {**o, "remaining_size": str(left), "last_updated_at": t,
                           "seq_no": o["seq_no"] + 1}  # fmt: skip
        fill = {"id": f"f{k:09d}", "order_id": oid, "market": o["market"], "side": "BUY",
                "size": "1", "price": "100.5", "fee": "0.01", "realized_pnl": "0",
                "realized_funding": "0", "created_at": t}  # fmt: skip
        fills.append(fill)
        p = positions[o["market"]]
        p = positions[o["market"]] = {**p, "size": str(Decimal(p["size"]) + 1),
                                      "last_updated_at": t, "seq_no": p["seq_no"] + 1}  # fmt: skip
        before = balance["size"]
        balance = {"token": "USDC", "size": str(Decimal(before) - Decimal("0.01")),
                   "last_updated_at": t}  # fmt: skip
        ev = {"type": "TRANSACTION_FILL", "settlement_asset_name": "USDC",
              "settlement_asset_balance_before": before,
              "settlement_asset_balance_after": balance["size"], "created_at": t}  # fmt: skip
        at = t + 20
        recs += [WsFrame(at, "fills.ALL", fill), WsFrame(at, "orders.ALL", o),
                 WsFrame(at, "positions", p), WsFrame(at, "balance_events", ev)]  # fmt: skip
    b2 = t + 6000
    recs += [
        RestSnapshot("orders", b2, b2 + 300, {"results": [dict(o, seq_no=9) for o in orders.values()]}),
        RestSnapshot("positions", b2, b2 + 300, {"results": list(positions.values())}),
        RestSnapshot("balance", b2, b2 + 300, {"results": [balance]}),
        RestSnapshot("fills", b2, b2 + 300, {"results": fills}, {"start_at": T0 - 20_000}),
    ]  # fmt: skip
    return recs


def main() -> None:
    rows = []
    for n_updates in (1_000, 10_000, 100_000):
        n_orders = n_updates // 10
        records = build(n_orders, n_updates)
        lines = [to_line(r) for r in records]
        cpu = cpu_lines = float("inf")
        for _ in range(REPEAT):  # best of REPEAT: the box is shared, the minimum is the cost
            gc.collect()
            t0 = time.process_time()
            report = reconcile(records, ReconcileOptions())
            cpu = min(cpu, time.process_time() - t0)
            t0 = time.process_time()
            reconcile(read_records(lines), ReconcileOptions())
            cpu_lines = min(cpu_lines, time.process_time() - t0)
        rows.append((n_orders, n_updates, cpu, cpu_lines, report))
    print(f"{'orders':>7} {'positions':>9} {'ws updates':>10} {'reconcile CPU':>14} "
          f"{'us/update':>9} {'incl. NDJSON parse':>19}  verdict")  # fmt: skip
    for n_orders, n_updates, cpu, cpu_lines, report in rows:
        print(
            f"{n_orders:>7,} {N_POSITIONS:>9} {n_updates:>10,} {cpu:>12.3f} s "
            f"{cpu / n_updates * 1e6:>9.1f} {cpu_lines:>17.3f} s  {report.verdict_line()}"
        )
    big = rows[-1]
    print(f"goal: <= 2 s CPU at 10,000 orders / 100 positions / 100,000 updates: "
          f"{big[2]:.2f} s ({big[2] / 2:.2f}x of budget); growth 10k->100k: "
          f"{rows[2][2] / rows[1][2]:.1f}x for 10x input")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark the StateManager: updates/s for orders, positions and a mixed stream, and RSS growth.

Run: .venv/bin/python bench/state.py [--n 200000] [--rss-n 1000000]
     .venv/bin/python bench/state.py --against OLD/paradexctl/core/state.py [--rounds 9]

``--against`` compares another version of ``state.py`` (e.g. ``git show REV:paradexctl/core/
state.py > /tmp/old_state.py``) with this one in one process, in alternating rounds (best of
each), which a loaded machine's drift cannot bias the way separate runs can.

Figures printed (throughput: best of 3 runs):
- ``apply``: StateManager.apply on pre-built Update objects (the manager's own cost);
- ``build+apply``: Update.order(...)/... from the raw payload dict, then apply (what a feed pays);
- RSS growth (VmRSS, measured first in a fresh process) over a stream of --rss-n updates with a bounded key space
  and fills capped by ``max_fills`` (decisions are consumed, not kept); and over a churn of
  ever-new order ids with ``max_closed_orders`` and ``max_tombstones``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

from paradexctl.core import state as this_state
from paradexctl.core.state import Source, StateManager, Update

BASE_TS = 1_718_000_000_000


def order_payload(i: int, n_keys: int) -> dict[str, Any]:
    k = i % n_keys
    step = i // n_keys
    status = "NEW" if step == 0 else "OPEN"
    return {
        "id": f"1718941725080201704{k:09d}",
        "client_id": f"c-{k}",
        "account": "0x49dd",
        "market": ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP")[k % 3],
        "side": "BUY" if k % 2 else "SELL",
        "type": "LIMIT",
        "size": "1.5",
        "remaining_size": str(max(0, 1000 - step)),
        "price": "70784.5",
        "avg_fill_price": "",
        "status": status,
        "cancel_reason": "",
        "instruction": "GTC",
        "flags": [],
        "stp": "EXPIRE_TAKER",
        "trigger_price": "0",
        "timestamp": BASE_TS,
        "created_at": BASE_TS,
        "last_updated_at": BASE_TS + i,
        "received_at": BASE_TS,
        "published_at": BASE_TS + i,
        "seq_no": 1_718_958_002_991_595_738 + i,
    }


def position_payload(i: int, n_keys: int) -> dict[str, Any]:
    k = i % n_keys
    return {
        "id": f"0x49dd-M{k}-USD-PERP",
        "market": f"M{k}-USD-PERP",
        "status": "OPEN",
        "side": "LONG",
        "size": f"0.{i % 1000 + 1}",
        "average_entry_price": "64839.96053748",
        "unrealized_pnl": "-2.39677214",
        "cost": "648.39960537",
        "last_updated_at": BASE_TS + i,
        "last_fill_id": f"f{i}",
        "seq_no": 1_718_950_074_249_176_253 + i,
    }


def balance_payload(i: int) -> dict[str, Any]:
    return {"token": "USDC", "size": f"99980.{i}", "last_updated_at": BASE_TS + i}


def fill_payload(i: int) -> dict[str, Any]:
    return {
        "id": f"f{i}",
        "order_id": "1",
        "market": "BTC-USD-PERP",
        "side": "BUY",
        "size": "0.01",
        "price": "64852.9",
        "fee": "0.19",
        "created_at": BASE_TS + i,
    }


def mixed(i: int, n_keys: int) -> tuple[Callable[..., Update], dict[str, Any], Source]:
    r = i % 10
    src = Source.REST if r == 9 else Source.WS
    if r < 5:
        return Update.order, order_payload(i, n_keys), src
    if r < 7:
        return Update.position, position_payload(i, 100), src
    if r < 8:
        return Update.balance, balance_payload(i), src
    return Update.fill, fill_payload(i), Source.WS


def gen(kind: str, n: int, n_keys: int) -> Iterator[tuple[Callable[..., Update], Any, Source]]:
    for i in range(n):
        if kind == "orders":
            src = Source.REST if i % 10 == 9 else Source.WS
            yield Update.order, order_payload(i, n_keys), src
        elif kind == "positions":
            yield Update.position, position_payload(i, n_keys), Source.WS
        else:
            yield mixed(i, n_keys)


def bench(kind: str, n: int, n_keys: int, repeat: int = 3) -> tuple[float, float]:
    """Best of ``repeat`` runs (the box is shared; the minimum is the cost)."""
    raw = list(gen(kind, n, n_keys))
    updates = [b(p, s, BASE_TS + i) for i, (b, p, s) in enumerate(raw)]
    t_apply = t_build = float("inf")
    for _ in range(repeat):
        gc.collect()
        sm = StateManager(max_fills=10_000)
        apply = sm.apply
        t0 = time.process_time()
        for u in updates:
            apply(u)
        t_apply = min(t_apply, time.process_time() - t0)
        sm = StateManager(max_fills=10_000)
        apply = sm.apply
        t0 = time.process_time()
        for i, (b, p, s) in enumerate(raw):
            apply(b(p, s, BASE_TS + i))
        t_build = min(t_build, time.process_time() - t0)
    return n / t_apply, n / t_build


def rss_kib() -> int:
    """Current resident set size in KiB (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_growth(n: int) -> tuple[int, int, float]:
    """Stream n mixed updates built on the fly; decisions are dropped as a stream would."""
    sm = StateManager(max_fills=10_000)
    warm = 50_000
    for i in range(warm):
        b, p, s = mixed(i, 1_000)
        sm.apply(b(p, s, BASE_TS + i))
    gc.collect()
    before = rss_kib()
    t0 = time.process_time()
    for i in range(warm, warm + n):
        b, p, s = mixed(i, 1_000)
        sm.apply(b(p, s, BASE_TS + i))
    cpu = time.process_time() - t0
    return before, rss_kib(), n / cpu


def churn_payload(i: int) -> dict[str, Any]:
    """Ever-new orders: each id gets NEW, OPEN, CLOSED, then is never seen again."""
    p = order_payload(0, 1)
    p.update(id=f"ch{i // 3:012d}", client_id=f"cc{i // 3}",
             status=("NEW", "OPEN", "CLOSED")[i % 3], last_updated_at=BASE_TS + i,
             seq_no=1 + i)  # fmt: skip
    return p


def rss_churn(n: int) -> tuple[int, int]:
    """RSS over n order updates on ever-new order ids, with closed orders and tombstones bounded."""
    sm = StateManager(max_fills=10_000, max_closed_orders=10_000, max_tombstones=100_000)
    warm = 400_000  # past the point where both bounds are reached
    for i in range(warm):
        sm.apply(Update.order(churn_payload(i), Source.WS, BASE_TS + i))
    gc.collect()
    before = rss_kib()
    for i in range(warm, warm + n):
        sm.apply(Update.order(churn_payload(i), Source.WS, BASE_TS + i))
    gc.collect()
    return before, rss_kib()


def compare(path: str, n: int, n_keys: int, rounds: int) -> None:
    """``apply`` and build+apply of this state.py against the one at ``path``, alternating."""
    spec = importlib.util.spec_from_file_location("other_state", path)
    assert spec is not None and spec.loader is not None
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)
    versions = {"against": other, "this": this_state}
    for kind in ("orders", "mixed"):
        raw = list(gen(kind, n, n_keys))
        best = {name: [float("inf"), float("inf")] for name in versions}
        for r in range(rounds):
            for name in ("against", "this") if r % 2 == 0 else ("this", "against"):
                mod = versions[name]
                build = {
                    Update.order: mod.Update.order,
                    Update.position: mod.Update.position,
                    Update.balance: mod.Update.balance,
                    Update.fill: mod.Update.fill,
                }
                items = [(build[b], p, mod.Source(s.value)) for b, p, s in raw]  # fmt: skip
                updates = [b(p, s, BASE_TS + i) for i, (b, p, s) in enumerate(items)]
                gc.collect()
                apply = mod.StateManager(max_fills=10_000).apply
                t0 = time.process_time()
                for u in updates:
                    apply(u)
                best[name][0] = min(best[name][0], time.process_time() - t0)
                apply = mod.StateManager(max_fills=10_000).apply
                t0 = time.process_time()
                for i, (b, p, s) in enumerate(items):
                    apply(b(p, s, BASE_TS + i))
                best[name][1] = min(best[name][1], time.process_time() - t0)
        for name in versions:
            a, b = best[name]
            print(f"{kind:7s} {name:8s} apply: {n / a:>10,.0f} updates/s   "
                  f"build+apply: {n / b:>10,.0f} updates/s")  # fmt: skip
        (a0, b0), (a1, b1) = best["against"], best["this"]
        print(f"{kind:7s} this/against: apply {a0 / a1:.3f}x, build+apply {b0 / b1:.3f}x "
              f"(best of {rounds} alternating rounds)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=1_000)
    ap.add_argument("--rss-n", type=int, default=1_000_000)
    ap.add_argument("--against", metavar="STATE_PY", help="compare with another state.py")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    if args.against:
        compare(args.against, args.n, args.keys, args.rounds)
        return
    goal = 200_000
    before, after, rate = rss_growth(args.rss_n)
    c_before, c_after = rss_churn(args.rss_n)
    for kind in ("orders", "positions", "mixed"):
        a, b = bench(kind, args.n, args.keys)
        print(
            f"{kind:10s} apply: {a:>10,.0f} updates/s ({a / goal:.2f}x goal)   "
            f"build+apply: {b:>10,.0f} updates/s ({b / goal:.2f}x goal)"
        )
    growth_mb = (after - before) / 1024
    print(
        f"rss over {args.rss_n:,} mixed updates (payloads built on the fly, max_fills=10,000): "
        f"{before / 1024:.1f} MB -> {after / 1024:.1f} MB, growth {growth_mb:.1f} MB "
        f"(goal <= 20 MB); {rate:,.0f} updates/s incl. payload generation"
    )
    print(
        f"rss over {args.rss_n:,} order updates on ever-new ids (NEW, OPEN, CLOSED each; "
        f"max_closed_orders=10,000, max_tombstones=100,000): {c_before / 1024:.1f} MB -> "
        f"{c_after / 1024:.1f} MB, growth {(c_after - c_before) / 1024:.1f} MB"
    )


if __name__ == "__main__":
    main()

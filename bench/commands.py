"""Benchmark of the trading commands, each run as a fresh process (what a user or script sees).

Measures, against a local simulator started by this script (loopback, no faults):

1. ``order place --dry-run`` with warm metadata caches (goal: median <= 400 ms);
2. a full ``order place`` with a cached JWT, process start to printed result (goal: <= 600 ms);
3. the JWT cache effect: a private command with an empty JWT cache vs with a cached JWT.

Usage::

    .venv/bin/python bench/commands.py [--runs N]

Prints one line per figure (median, min, max in ms) and the ratios. No assertions: figures
are for the release notes; timing never gates a unit test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(env: dict[str, str], *args: str) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "paradexctl", "-o", "json", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        raise SystemExit(f"paradexctl {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return elapsed


def report(name: str, samples: list[float], goal: float | None = None) -> float:
    med = statistics.median(samples)
    goal_txt = f"  goal <= {goal:.0f} ms: {'met' if med <= goal else 'NOT met'}" if goal else ""
    print(
        f"{name:<44} median {med:7.1f} ms  min {min(samples):7.1f}  max {max(samples):7.1f}"
        f"  (n={len(samples)}){goal_txt}"
    )
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from paradexctl.sim.app import SimOptions
    from paradexctl.sim.server import SimServer
    from paradexctl.sim.testing import new_account

    server = SimServer(SimOptions(seed=1, mark_walk_ms=0)).start()
    try:
        acct = new_account(server.http_url)
        with tempfile.TemporaryDirectory() as tmp:
            # no PYTHON* variable: PYTHONDONTWRITEBYTECODE would compile paradexctl from source
            # in every run, which an installed package never does
            env = dict(
                {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
                XDG_CONFIG_HOME=f"{tmp}/config",
                XDG_CACHE_HOME=f"{tmp}/cache",
                PARADEX_ENV="local",
                PARADEX_API_URL=server.http_url,
                PARADEX_L2_PRIVATE_KEY=hex(acct.private_key),
                PARADEX_ACCOUNT_ADDRESS=acct.address,
            )
            order = ["order", "place", "BTC-USD-PERP", "buy", "0.001", "--price", "90000"]
            run(env, *order, "--dry-run")  # warm the metadata caches
            run(env, *order)  # obtains and caches the JWT
            jwt_dir = Path(tmp) / "cache" / "paradexctl"
            version, control, dry, placed, cold, warm = [], [], [], [], [], []
            # interleaved, so machine noise hits every figure alike
            for _ in range(args.runs):
                version.append(run(env, "--version"))
                control.append(run(env, "markets", "BTC-USD-PERP"))  # cache only, no request
                dry.append(run(env, *order, "--dry-run"))
                placed.append(run(env, *order))
                for f in jwt_dir.glob("jwt-*.json"):
                    f.unlink()
                cold.append(run(env, "balances"))
                warm.append(run(env, "balances"))
    finally:
        server.stop()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, sim on loopback")
    report("-o json --version (typer start-up floor)", version)
    m = report("markets MARKET from cache (CLI floor)", control)
    d = report("order place --dry-run (warm metadata)", dry, 400)
    p = report("order place, cached JWT (start -> result)", placed, 600)
    c = report("balances, empty JWT cache (first run)", cold)
    w = report("balances, cached JWT (second run)", warm)
    print(f"JWT cache effect: first/second = {c / w:.2f}x ({c - w:.0f} ms saved per invocation)")
    print(f"placed/dry-run = {p / d:.2f}x; dry-run - CLI floor = {d - m:.0f} ms (validate + sign)")


if __name__ == "__main__":
    main()

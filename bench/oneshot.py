#!/usr/bin/env python3
"""One-shot commands against their physical floor, and a long-lived session's worst request.

Usage::

    .venv/bin/python bench/oneshot.py [--runs N] [--orders N] [--compare DIR]

``--compare DIR``: another checkout of paradexctl (e.g. ``git archive BASE | tar -x -C DIR``)
measured in the same run, sample by sample alternated with this one, on the same sim and the
same virtualenv (its third-party packages): before/after figures under the same load.

Measured, each a fresh process unless said (medians, p10-p90 spreads, n samples):

1. **floor**: a bare Python process (the same interpreter) that opens a socket to the sim,
   sends one pre-signed ``POST /orders`` (the JWT and the signature made beforehand by this
   script, untimed) and reads the answer. Goal: ``order place`` with a cached JWT <= 2x it.
2. ``python -c pass``: the interpreter's own start. Goal: ``order place --dry-run`` and
   ``sign order`` <= 60 ms over it.
3. ``order place`` against the sim, JWT and metadata cached; ``order place --dry-run``;
   ``sign order`` (offline).
4. **long-lived session**: one process placing and cancelling ``--orders`` orders through the
   library as ``order place`` / ``order cancel`` do (``build_order_request`` +
   ``submit_order``, ``cancel_order``, with the placement's answer as ``known`` where the
   revision supports it); every request timed. Goal: none over 3x the median.

Child processes get no ``PYTHON*`` variable from this environment (``PYTHONDONTWRITEBYTECODE``
would make every run compile paradexctl from source, which an installed package never does),
and each checkout is compiled once before anything is timed. No assertion: figures only.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from peers import load, spread  # bench/ is this script's own directory: one set of helpers

ROOT = Path(__file__).resolve().parent.parent
MARKET = "BTC-USD-PERP"
ORDER = ["order", "place", MARKET, "buy", "0.001", "--price", "90000"]

FLOOR = """
import socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
s.sendall(data)
answer = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    answer += chunk
if b" 201 " not in answer[:16]:
    sys.exit(answer[:200].decode(errors="replace"))
"""

SESSION = """
import inspect, json, os, sys, time
from decimal import Decimal
from paradexctl.config import resolve_settings
from paradexctl.paradex.auth import Session
from paradexctl.paradex.orders import OrderSpec, build_order_request, cancel_order, submit_order
n = int(sys.argv[1])
sess = Session.open(resolve_settings(), lambda: int(os.environ["PARADEX_L2_PRIVATE_KEY"], 16))
can_know = "known" in inspect.signature(cancel_order).parameters
account, chain = sess.account_address(), sess.chain_id()
key = sess.private_key()
sess.client.get("/system/config")
place, cancel, place_cpu, cancel_cpu = [], [], [], []
for i in range(n):
    spec = OrderSpec("BTC-USD-PERP", "BUY", Decimal("0.001"), price=Decimal(80000 + i % 500))
    t0, c0 = time.perf_counter(), time.process_time()
    body = build_order_request(spec, chain_id=chain, account=account, private_key=key,
                               timestamp_ms=int(time.time() * 1000))
    result = submit_order(sess.client, body)
    t1, c1 = time.perf_counter(), time.process_time()
    kw = {"known": result.order} if can_know and result.order else {}
    cancel_order(sess.client, order_id=str(result.order["id"]), **kw)
    t2, c2 = time.perf_counter(), time.process_time()
    place.append((t1 - t0) * 1e3)
    cancel.append((t2 - t1) * 1e3)
    place_cpu.append((c1 - c0) * 1e3)
    cancel_cpu.append((c2 - c1) * 1e3)
print(json.dumps({"place": place, "cancel": cancel, "place_cpu": place_cpu,
                  "cancel_cpu": cancel_cpu, "known": can_know}))
"""


def fmt(samples: list[float]) -> str:
    d = spread(samples)
    cpu = statistics.median(CPU.get(id(samples)) or [0.0])
    return (
        f"{d['median']:7.1f} ms (p10-p90 {d['p10']:.1f}-{d['p90']:.1f}, n={d['n']}; "
        f"CPU {cpu:.1f} ms)"
    )


def child_env(base: dict[str, str], source: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(base)
    env["PYTHONPATH"] = str(source)
    return env


#: CPU ms (user + system) of each timed child, by the wall figure's list (see ``timed``)
CPU: dict[int, list[float]] = {}


def timed(cmd: list[str], env: dict[str, str], into: list[float] | None = None) -> float:
    """Run ``cmd``; its wall ms (appended to ``into``, its CPU ms to ``CPU[id(into)]``)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd="/")
    ms = (time.perf_counter() - t0) * 1e3
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} failed ({p.returncode}): {p.stderr[-500:]}")
    if into is not None:
        into.append(ms)
        cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1e3
        CPU.setdefault(id(into), []).append(cpu)
    return ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--compare", type=Path, help="another checkout, measured alternately")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from paradexctl.sim.app import SimOptions
    from paradexctl.sim.server import SimServer
    from paradexctl.sim.testing import login, new_account, order_body

    revs: dict[str, Path] = {"this": ROOT}
    if args.compare is not None:
        revs = {"before": args.compare.resolve(), "after": ROOT}
    for src in revs.values():
        compileall.compile_dir(str(src / "paradexctl"), quiet=1)
    py = sys.executable
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {load()} at start")
    from paradexctl.signing import warm_tables

    warm_tables("large")  # the sim's verifier (in this process), built before anything is timed
    server = SimServer(SimOptions(seed=1, mark_walk_ms=0, warm_tables=None)).start()
    started = time.time()
    try:
        acct = new_account(server.http_url)
        port = int(server.http_url.split(":")[2].split("/")[0])
        jwt = login(server.http_url, acct)
        with tempfile.TemporaryDirectory() as tmp:
            envs: dict[str, dict[str, str]] = {}
            for name, src in revs.items():
                base = {
                    "XDG_CONFIG_HOME": f"{tmp}/{name}/config",
                    "XDG_CACHE_HOME": f"{tmp}/{name}/cache",
                    "PARADEX_ENV": "local",
                    "PARADEX_API_URL": server.http_url,
                    "PARADEX_L2_PRIVATE_KEY": hex(acct.private_key),
                    "PARADEX_ACCOUNT_ADDRESS": acct.address,
                }
                envs[name] = child_env(base, src)
                cli = [py, "-m", "paradexctl", "-o", "json"]
                timed([*cli, *ORDER, "--dry-run"], envs[name])  # metadata cached
                timed([*cli, *ORDER], envs[name])  # JWT cached
            sign = ["sign", "order", "--market", MARKET, "--side", "BUY", "--size", "0.015",
                    "--price", "97123.5", "--account", acct.address,
                    "--chain-id", "PRIVATE_SN_POTC_SEPOLIA", "--timestamp", "1735689600123"]  # fmt: skip
            fig: dict[str, dict[str, list[float]]] = {
                n: {k: [] for k in ("pass", "floor", "place", "dry", "sign")} for n in revs
            }
            floor_file = Path(tmp) / "placement.http"
            for i in range(args.runs):
                for name in revs:
                    env = envs[name]
                    cli = [py, "-m", "paradexctl", "-o", "json"]
                    body = order_body(
                        acct, MARKET, "BUY", "0.001", "90000", client_id=f"floor-{name}-{i}"
                    )
                    raw = json.dumps(body, separators=(",", ":")).encode()
                    floor_file.write_bytes(
                        b"POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + f"Authorization: Bearer {jwt}\r\n".encode()
                        + b"Content-Type: application/json\r\nConnection: close\r\n"
                        + f"Content-Length: {len(raw)}\r\n\r\n".encode()
                        + raw
                    )
                    f = fig[name]
                    timed([py, "-c", "pass"], env, f["pass"])
                    timed([py, "-c", FLOOR, str(floor_file), str(port)], env, f["floor"])
                    timed([*cli, *ORDER], env, f["place"])
                    timed([*cli, *ORDER, "--dry-run"], env, f["dry"])
                    timed([*cli, *sign], env, f["sign"])
            sessions: dict[str, dict[str, Any]] = {}
            for name in revs:  # one after the other: each takes the whole machine it gets
                out = subprocess.run(
                    [py, "-c", SESSION, str(args.orders)],
                    env=envs[name], capture_output=True, text=True, check=True, cwd="/",
                )  # fmt: skip
                sessions[name] = json.loads(out.stdout)
    finally:
        server.stop()
    print(f"{time.time() - started:.0f} s; load {load()} at end; {args.runs} runs, alternated")
    for name, f in fig.items():
        print(f"\n== {name} ({revs[name]})")
        med = {k: statistics.median(v) for k, v in f.items()}
        cpu = {k: statistics.median(CPU[id(v)]) for k, v in f.items()}
        print(f"python -c pass                     {fmt(f['pass'])}")
        print(f"floor (socket + pre-signed POST)   {fmt(f['floor'])}")
        print(f"order place, cached JWT            {fmt(f['place'])}  "
              f"= {med['place'] / med['floor']:.2f}x the floor (goal <= 2x; "
              f"CPU {cpu['place'] / cpu['floor']:.2f}x)")  # fmt: skip
        for key, label in (("dry", "order place --dry-run"), ("sign", "sign order")):
            over = med[key] - med["pass"]
            print(f"{label:<35}{fmt(f[key])}  = +{over:.1f} ms over python -c pass "
                  f"(goal <= 60 ms: {'met' if over <= 60 else 'NOT met'}; "
                  f"CPU +{cpu[key] - cpu['pass']:.1f} ms)")  # fmt: skip
        s = sessions[name]
        for key in ("place", "cancel"):
            d = spread(s[key])
            what = "cancel (known state, no GET)" if key == "cancel" and s["known"] else key
            c = spread(s[f"{key}_cpu"])
            worst = max(range(len(s[key])), key=s[key].__getitem__)
            print(f"session {what:<29}median {d['median']:.2f} ms, p99 {d['p99']:.2f}, "
                  f"max {d['max']:.2f} = {d['max'] / d['median']:.2f}x the median "
                  f"(goal <= 3x), n={d['n']}, worst #{worst}; client CPU median "
                  f"{c['median']:.2f} ms, max {c['max']:.2f} = {c['max'] / c['median']:.2f}x")  # fmt: skip
    if len(revs) == 2:
        b, a = fig["before"], fig["after"]
        print("\n== after vs before (medians)")
        for key in ("place", "dry", "sign"):
            mb, ma = statistics.median(b[key]), statistics.median(a[key])
            cb, ca = statistics.median(CPU[id(b[key])]), statistics.median(CPU[id(a[key])])
            print(f"{key:<6} {mb:7.1f} -> {ma:7.1f} ms ({mb / ma:.2f}x faster); "
                  f"CPU {cb:.1f} -> {ca:.1f} ms")  # fmt: skip
        for key in ("place", "cancel"):
            mb = statistics.median(sessions["before"][key])
            ma = statistics.median(sessions["after"][key])
            print(f"session {key:<6} median {mb:.2f} -> {ma:.2f} ms; max "
                  f"{max(sessions['before'][key]):.1f} -> {max(sessions['after'][key]):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()

"""Simulator throughput: WS notifications/s to one client, signed order placements/s over REST.

Runs ``paradexctl sim`` in a child process (so the client does not share its GIL), then:

1. **WS notifications/s**: one client subscribes to ``bbo.*``, ``positions`` and ``account``
   (holding a position in every market), asks the admin API for N mark-price walk steps at
   once, and counts notifications until the stream goes quiet. Goal: >= 5,000/s.
2. **Signed placements/s**: M pre-signed IOC orders (resting nowhere, so no open-order cap)
   are POSTed with C concurrent keep-alive connections; the sim verifies every Stark
   signature. Goal: >= 500/s. Signing happens before the clock starts. Two clients: httpx
   (what a Python bot uses; it costs about as much CPU per request as the sim itself), then a
   minimal HTTP/1.1 client on asyncio streams, which leaves the cores to the sim. For each run
   the CPU time the sim used per order (server process + verify workers, from ``/proc``) is
   printed: ``CPUs / that`` is the sim's ceiling on an otherwise idle machine.

Also printed: the time from starting ``paradexctl sim`` to its ready line (wall, and the sim
process's CPU time by then).

Usage: ``.venv/bin/python bench/sim.py [--steps 3000] [--orders 1500] [--concurrency 8]
[--sim-path DIR] [--compare DIR]``. ``--sim-path`` runs the simulator from another checkout
(e.g. an older commit unpacked with ``git archive``); ``--compare DIR`` runs both side by side
and places orders on each in alternating batches, which gives before/after ratios that the
machine's changing load does not blur.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import Any

import httpx
import websockets

from paradexctl import signing
from paradexctl.sim.testing import SimAccount, login, new_account, order_body

MARKETS = ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP")
SIZES = {"BTC-USD-PERP": "0.001", "ETH-USD-PERP": "0.01", "SOL-USD-PERP": "1"}


def start_sim(sim_path: str | None = None) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, "-m", "paradexctl", "sim", "--port", "0", "-o", "json"]
    cmd += ["--mark-walk-ms", "0", "--seed", "1"]
    env = dict(os.environ)
    if sim_path:
        env["PYTHONPATH"] = sim_path
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=sim_path, env=env)
    line: list[str] = []
    t = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
    t.start()
    t.join(120)
    if not line or not line[0]:
        proc.kill()
        raise SystemExit("the simulator did not start")
    info = json.loads(line[0])
    info["ready_s"] = time.perf_counter() - t0
    info["ready_cpu_s"] = proc_cpu(proc.pid, children=False)
    return proc, info


def proc_cpu(pid: int, children: bool = True) -> float:
    """CPU seconds (user + system) of ``pid`` and, if asked, of its live child processes."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if entry == str(pid) or (children and fields[1] == str(pid)):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, limit: float) -> None:
    """Wait (at most ``limit`` s) until the sim and its workers stop using CPU: the signing
    tables it builds in the background after its ready line are then in place."""
    deadline = time.monotonic() + limit
    last = proc_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = proc_cpu(pid)
        if now - last < 0.05:
            return
        last = now


async def place_raw(http_url: str, jwt: str, bodies: list[dict[str, Any]], conc: int) -> float:
    """Like :func:`place_all` with a minimal keep-alive HTTP/1.1 client (requests pre-encoded)."""
    url = httpx.URL(http_url)
    host, port, path = url.host, url.port or 80, url.path.rstrip("/") + "/orders"
    requests = []
    for b in bodies:
        data = json.dumps(b, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {jwt}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        requests.append(head.encode() + data)
    failures: list[str] = []

    async def worker(share: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for req in share:
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 201"):
                    failures.append(body.decode(errors="replace"))
        finally:
            writer.close()

    shares = [requests[i::conc] for i in range(conc)]
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(sh) for sh in shares))
    elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} placements failed, e.g. {failures[0]}")
    return elapsed


async def ws_round(info: dict[str, Any], jwt: str, steps: int) -> tuple[int, float, float]:
    async with websockets.connect(info["ws_url"], max_queue=None) as ws:
        channels = [f"bbo.{m}" for m in MARKETS] + ["positions", "account"]
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "method": "auth", "params": {"bearer": jwt}, "id": 0})
        )
        for i, ch in enumerate(channels, 1):
            msg = {"jsonrpc": "2.0", "method": "subscribe", "params": {"channel": ch}, "id": i}
            await ws.send(json.dumps(msg))
        for _ in range(len(channels) + 1):
            await ws.recv()
        async with httpx.AsyncClient(timeout=120) as admin:
            t0 = time.perf_counter()
            walk = asyncio.create_task(
                admin.post(info["admin_url"] + "/mark-walk", json={"steps": steps})
            )
            await asyncio.wait_for(ws.recv(), 120)  # the engine computes every step first
            first = last = time.perf_counter()
            count = 1
            while True:
                try:
                    await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:
                    break
                count += 1
                last = time.perf_counter()
            (await walk).raise_for_status()
        return count, first - t0, last - first


async def place_all(http_url: str, jwt: str, bodies: list[dict[str, Any]], conc: int) -> float:
    headers = {"Authorization": f"Bearer {jwt}"}
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(
        base_url=http_url, headers=headers, limits=limits, timeout=60
    ) as c:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for b in bodies:
            queue.put_nowait(b)
        failures = []

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                r = await c.post("/orders", json=body)
                if r.status_code != 201:
                    failures.append(r.text)

        await c.get("/system/time")  # open a connection before the clock starts
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} placements failed, e.g. {failures[0]}")
    return elapsed


def presign(acct: SimAccount, n: int, mark: Decimal) -> list[dict[str, Any]]:
    far = str((mark / 2).quantize(Decimal("0.1")))
    base = int(time.time() * 1000)
    return [
        order_body(acct, "BTC-USD-PERP", "BUY", "0.001", far, instruction="IOC", ts=base + i)
        for i in range(n)
    ]


def signature_cost(acct: SimAccount, n: int = 100) -> tuple[float, float]:
    """Per-order cost (ms, this process, one core) of the typed-data hash and of verify."""
    chain = signing.chain_id_felt("PRIVATE_SN_POTC_SEPOLIA")
    account, pub = int(acct.address, 16), int(acct.public_key, 16)
    base = int(time.time() * 1000)
    t0 = time.perf_counter()
    hashes = [
        signing.order_message_hash(
            chain, account, timestamp_ms=base + i, market="BTC-USD-PERP", side="BUY",
            order_type="LIMIT", size=100_000, price=4_850_000_000_000,
        )
        for i in range(n)
    ]  # fmt: skip
    t1 = time.perf_counter()
    sigs = [signing.sign(h, acct.private_key) for h in hashes]
    t2 = time.perf_counter()
    assert all(signing.verify(h, r, s, pub) for h, (r, s) in zip(hashes, sigs, strict=True))
    t3 = time.perf_counter()
    return (t1 - t0) / n * 1000, (t3 - t2) / n * 1000


def compare(other: str, rounds: int, batch: int = 150) -> None:
    """Run this checkout's sim and the one in ``other`` side by side and place signed orders
    on each in alternating batches (raw client, 8 connections), so both see the same load."""
    procs = {}
    try:
        for tag, path in (("before", other), ("after", None)):
            procs[tag] = start_sim(path)
            print(f"{tag:6}: ready line after {procs[tag][1]['ready_s']:.2f} s")
        for proc, _ in procs.values():
            wait_idle(proc.pid, 60)
        bodies, jwts = {}, {}
        for tag, (_, info) in procs.items():
            acct = new_account(info["http_url"])
            jwts[tag] = login(info["http_url"], acct)
            bodies[tag] = presign(acct, rounds * batch + 50, Decimal("96000"))
            asyncio.run(place_raw(info["http_url"], jwts[tag], bodies[tag][:50], 8))
        wall = dict.fromkeys(procs, 0.0)
        cpu = dict.fromkeys(procs, 0.0)
        server = dict.fromkeys(procs, 0.0)
        for r in range(rounds):
            for tag in list(procs) if r % 2 else list(procs)[::-1]:
                proc, info = procs[tag]
                chunk = bodies[tag][50 + r * batch : 50 + (r + 1) * batch]
                c0, s0 = proc_cpu(proc.pid), proc_cpu(proc.pid, children=False)
                wall[tag] += asyncio.run(place_raw(info["http_url"], jwts[tag], chunk, 8))
                cpu[tag] += proc_cpu(proc.pid) - c0
                server[tag] += proc_cpu(proc.pid, children=False) - s0
        n = rounds * batch
        print(f"{n} placements each, {batch} at a time, alternating:")
        for tag in procs:
            print(
                f"{tag:6}: {n / wall[tag]:,.0f}/s; sim CPU {cpu[tag] / n * 1000:.2f} ms per order "
                f"(server process {server[tag] / n * 1000:.2f})"
            )
    finally:
        for proc, _ in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="mark-walk steps per WS round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--orders", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--sim-path", help="run the simulator from this checkout instead")
    ap.add_argument(
        "--compare",
        metavar="DIR",
        help="only: placements on this checkout's sim vs DIR's, interleaved (see compare())",
    )
    ap.add_argument(
        "--settle", type=float, default=60.0, help="max seconds to wait for the sim to go idle"
    )
    args = ap.parse_args()

    signing.warm_tables("large")  # client-side signing speed only; not part of the figures
    if args.compare:
        compare(args.compare, max(2, args.orders // 150))
        return
    proc, info = start_sim(args.sim_path)
    print(
        f"time to ready line: {info['ready_s']:.2f} s wall, {info['ready_cpu_s']:.2f} s CPU "
        "in the sim process"
    )
    try:
        wait_idle(proc.pid, args.settle)  # tables are built in the background after ready
        http_url = info["http_url"]
        acct = new_account(http_url)
        jwt = login(http_url, acct)
        with httpx.Client(base_url=http_url, headers={"Authorization": f"Bearer {jwt}"}) as c:
            for m in MARKETS:  # hold a position everywhere: every step updates it
                c.post("/orders", json=order_body(acct, m, "BUY", SIZES[m])).raise_for_status()
            mark = Decimal(
                c.get("/markets/summary", params={"market": "BTC-USD-PERP"}).json()["results"][0][
                    "mark_price"
                ]
            )

        print(f"sim pid {proc.pid} at {http_url}")
        print(f"\n1. WebSocket notifications to one client ({args.steps} walk steps per round)")
        rates, e2e = [], []
        for r in range(args.rounds):
            count, gen, secs = asyncio.run(ws_round(info, jwt, args.steps))
            rates.append(count / secs)
            e2e.append(count / (gen + secs))
            print(
                f"   round {r + 1}: {count} notifications delivered in {secs:.3f} s = "
                f"{count / secs:,.0f}/s (engine produced them in {gen:.3f} s before the first "
                f"was sent; end to end {count / (gen + secs):,.0f}/s)"
            )
        med = statistics.median(rates)
        print(
            f"   median delivery {med:,.0f}/s, end to end {statistics.median(e2e):,.0f}/s; "
            f"goal 5,000/s; ratio {med / 5000:.2f}x"
        )

        print(f"\n2. Signed order placements over REST ({args.orders} orders)")
        t0 = time.perf_counter()
        bodies = presign(acct, 2 * args.orders + 200, mark)
        print(f"   (pre-signed client-side in {time.perf_counter() - t0:.1f} s, not counted)")
        seq = asyncio.run(place_all(http_url, jwt, bodies[:200], 1))
        print(f"   1 connection:  200 in {seq:.3f} s = {200 / seq:,.0f}/s")
        cpus = os.cpu_count() or 1
        n = args.orders
        for label, fn, batch in (
            ("httpx", place_all, bodies[200 : 200 + n]),
            ("raw HTTP/1.1", place_raw, bodies[200 + n : 200 + 2 * n]),
        ):
            c0, m0 = proc_cpu(proc.pid), time.process_time()
            par = asyncio.run(fn(http_url, jwt, batch, args.concurrency))
            sim_ms = (proc_cpu(proc.pid) - c0) / n * 1000
            client_ms = (time.process_time() - m0) / n * 1000
            rate = n / par
            print(
                f"   {label}, {args.concurrency} connections: {n} in {par:.3f} s = "
                f"{rate:,.0f}/s; goal 500/s; ratio {rate / 500:.2f}x\n"
                f"      CPU per order: sim {sim_ms:.2f} ms (server + verify workers; ceiling "
                f"{cpus * 1000 / sim_ms:,.0f}/s on {cpus} idle CPUs), client {client_ms:.2f} ms"
            )
        hash_ms, verify_ms = signature_cost(acct)
        per_core = 1000 / (hash_ms + verify_ms)
        print(
            f"   signature check per order, one core: hash {hash_ms:.2f} ms + verify "
            f"{verify_ms:.2f} ms -> at most {per_core:,.0f}/s per core, "
            f"~{per_core * cpus:,.0f}/s on {cpus} CPU(s) with nothing else running"
        )
        print(f"   load average now: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


if __name__ == "__main__":
    main()

"""Benchmark ``paradexctl stream``: messages/s to NDJSON on stdout, and RSS growth.

Run: .venv/bin/python bench/stream.py [--e2e-n 200000] [--rss-n 1000000] [--skip-e2e]

Two measurements, printed with their goals:

1. **End to end, real processes** (``--e2e-n`` messages): the local sim (REST: auth and the
   resync) in this process; a WebSocket server in a *separate process* that speaks the
   Paradex JSON-RPC protocol and sends sim-shaped ``orders.ALL`` notifications (the payload is
   an order the sim itself returned, with ids and sequence numbers varied) as fast as the
   client reads them; and the real CLI, ``paradexctl stream orders --count N -o ndjson``, in a
   third process, whose stdout this script reads. The sim's own WebSocket cannot produce
   20,000 notifications/s (each one is a signed order through its engine), hence the
   dedicated sender. The rate is N / (time of the last update line - time of the first).
2. **RSS over 1,000,000 messages, in process**: the same pipeline without sockets, frame text
   -> ``RpcProtocol.receive`` -> ``StreamPump._on_frame`` (StateManager included) -> the CLI's
   NDJSON writer (batched, as in the CLI) -> /dev/null, over a mix of orders (1,000 ids),
   fills (all new ids), positions (3 markets), balance events and account updates. VmRSS is read after a warm-up
   of 100,000 messages (fills reach their bound) and at the end.

The machine is shared: figures vary with its load (``uptime`` is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_TS = 1_795_000_000_000


def vm_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- frames -----------------------------------------------------------------------------------

ORDER = {
    "id": "", "client_id": "", "account": "0x213a20f3994fc67b7cbee8b2f7e44e34a295aaacb3b11cbacc2ed90d2c6245f",
    "market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "0.01",
    "remaining_size": "0.01", "price": "1000", "avg_fill_price": "", "status": "OPEN",
    "cancel_reason": "", "instruction": "GTC", "flags": [], "stp": "EXPIRE_TAKER",
    "trigger_price": "0", "timestamp": BASE_TS, "created_at": BASE_TS, "received_at": BASE_TS,
    "published_at": BASE_TS, "last_updated_at": BASE_TS, "seq_no": BASE_TS * 1_000_000,
}  # fmt: skip


def _note(channel: str, data: dict[str, Any]) -> str:
    return json.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}},
        separators=(",", ":"),
    )


def mixed_frames(n: int) -> Iterator[str]:
    """A realistic mix, generated lazily (nothing is kept)."""
    markets = ("BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP")
    for i in range(n):
        ts = BASE_TS + i
        r = i % 10
        if r < 6:  # orders: 1,000 ids, each update newer than the last
            o = dict(ORDER)
            o["id"] = f"{10**27 + i % 1000}"
            o["last_updated_at"] = o["published_at"] = ts
            o["seq_no"] = ts * 1_000_000
            yield _note("orders.ALL", o)
        elif r == 6:  # fills: always new ids
            yield _note("fills.ALL", {
                "id": f"{2 * 10**27 + i}", "order_id": f"{10**27 + i % 1000}", "client_id": "",
                "market": markets[i % 3], "side": "BUY", "liquidity": "TAKER", "price": "64852.9",
                "size": "0.01", "remaining_size": "0", "fee": "0.1945587", "fee_currency": "USDC",
                "fill_type": "FILL", "flags": [], "realized_pnl": "0", "realized_funding": "0",
                "created_at": ts})  # fmt: skip
        elif r == 7:
            yield _note("positions", {
                "id": f"0xabc-{markets[i % 3]}", "market": markets[i % 3], "status": "OPEN",
                "side": "LONG", "size": f"0.{i % 97 + 1:02d}", "average_entry_price": "64839.96",
                "unrealized_pnl": "-2.39", "cost": "648.39", "last_updated_at": ts,
                "last_fill_id": f"{2 * 10**27 + i}", "seq_no": ts * 1_000_000})  # fmt: skip
        elif r == 8:
            yield _note("balance_events", {
                "type": "TRANSACTION_FILL", "status": "ON_BLOCKCHAIN", "market": "BTC-USD-PERP",
                "fill_id": f"{2 * 10**27 + i}", "fees": "0.12", "settlement_asset_name": "USDC",
                "settlement_asset_balance_before": "1000.0",
                "settlement_asset_balance_after": f"{1000 + i % 1000}.5", "created_at": ts})  # fmt: skip
        else:
            yield _note("account", {
                "account": "0x495d", "account_value": f"{136285 + i % 1000}.06",
                "free_collateral": "73276.47", "initial_margin_requirement": "63008.59",
                "maintenance_margin_requirement": "31597.25", "margin_cushion": "104687.81",
                "total_collateral": "123003.62", "settlement_asset": "USDC", "status": "ACTIVE",
                "updated_at": ts, "seq_no": ts * 1_000_000})  # fmt: skip


# --- 2. in process: RSS and rate ---------------------------------------------------------------


def bench_rss(n: int, warmup: int = 100_000) -> dict[str, float]:
    import asyncio

    from paradexctl.core.recording import WsFrame
    from paradexctl.output import LineWriter, StreamLines
    from paradexctl.paradex.feed import ws_channel_names
    from paradexctl.paradex.stream import StreamStats, consume, new_state
    from paradexctl.paradex.ws import RpcProtocol

    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    lines = StreamLines(LineWriter(devnull, batch=True))  # as the CLI does
    proto = RpcProtocol()
    receive = proto.receive
    state = new_state()
    marks: dict[str, float] = {}
    raw: list[str | None] = [None]

    async def frames() -> Any:
        # what the feed yields: a WsFrame per notification, its payload text kept aside
        for i, text in enumerate(mixed_frames(warmup + n)):
            if i == warmup:
                marks["rss_warm"] = vm_rss_mb()
                marks["t_warm"] = time.perf_counter()
            note = receive(text, BASE_TS + i)
            raw[0] = note.raw  # type: ignore[union-attr]
            yield WsFrame(note.received_at, note.channel, note.data)  # type: ignore[union-attr]

    rss0 = vm_rss_mb()
    stats = StreamStats()
    asyncio.run(
        consume(frames(), state=state, lines=lines, ws_channels=ws_channel_names(
            ("orders", "fills", "positions", "balances", "account")), raw=lambda: raw[0],
            idle=lambda: False, stats=stats)
    )  # fmt: skip
    t_end = time.perf_counter()
    rss_end = vm_rss_mb()
    devnull.close()
    return {
        "messages": n,
        "rate": n / (t_end - marks["t_warm"]),
        "rss_start": rss0,
        "rss_warm": marks["rss_warm"],
        "rss_end": rss_end,
        "growth": rss_end - marks["rss_warm"],
        "growth_from_start": rss_end - rss0,
        "accepted": stats.counts["accepted"],
    }


# --- 1. end to end ----------------------------------------------------------------------------

SENDER = textwrap.dedent(
    """
    import asyncio, json, sys
    from websockets.asyncio.server import serve

    N = int(sys.argv[1])
    TEMPLATE = json.loads(sys.argv[2])

    async def handler(ws):
        pending = None
        while True:
            msg = json.loads(await ws.recv())
            if msg["method"] == "auth":
                await ws.send(json.dumps({"jsonrpc": "2.0", "result": {"node_id": "bench"},
                                          "id": msg["id"]}))
                continue
            await ws.send(json.dumps({"jsonrpc": "2.0", "result": {"channel":
                                      msg["params"]["channel"]}, "id": msg["id"]}))
            break
        base_id = 10**27
        ts = TEMPLATE["last_updated_at"]
        o = dict(TEMPLATE, id="@ID@", last_updated_at="@TS@", published_at="@TS@",
                 seq_no="@SEQ@")
        text = json.dumps(o, separators=(",", ":")).replace("%", "%%")
        text = text.replace('"@ID@"', '"%(id)d"').replace('"@TS@"', "%(ts)d")
        text = text.replace('"@SEQ@"', "%(seq)d")
        fmt = ('{"jsonrpc":"2.0","method":"subscription","params":{"channel":"orders.ALL",'
               '"data":' + text + "}}")
        send = ws.send
        for i in range(N):
            t = ts + i
            await send(fmt % {"id": base_id + i % 1000, "ts": t, "seq": t * 1000000})
        await ws.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.get_running_loop().create_future()

    asyncio.run(main())
    """
)


def bench_e2e(n: int) -> dict[str, float]:
    import httpx

    from paradexctl.sim.app import SimOptions
    from paradexctl.sim.server import SimServer
    from paradexctl.sim.testing import login, new_account, order_body

    with SimServer(SimOptions(seed=1, mark_walk_ms=0)) as sim, tempfile.TemporaryDirectory() as tmp:
        acct = new_account(sim.http_url)
        jwt = login(sim.http_url, acct)
        headers = {"Authorization": f"Bearer {jwt}"}
        placed = httpx.post(
            f"{sim.http_url}/orders",
            json=order_body(acct, "BTC-USD-PERP", "BUY", "0.01", "1000"),
            headers=headers,
            timeout=10,
        ).json()
        template = httpx.get(
            f"{sim.http_url}/orders/{placed['id']}", headers=headers, timeout=10
        ).json()  # an order exactly as the sim renders it
        sender = subprocess.Popen(
            [sys.executable, "-c", SENDER, str(n), json.dumps(template)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert sender.stdout is not None
            port = int(sender.stdout.readline())
            env = dict(os.environ)
            env.update(
                XDG_CONFIG_HOME=f"{tmp}/config",
                XDG_CACHE_HOME=f"{tmp}/cache",
                PARADEX_ENV="local",
                PARADEX_API_URL=sim.http_url,
                PARADEX_WS_URL=f"ws://127.0.0.1:{port}/v1",
                PARADEX_ACCOUNT_ADDRESS=acct.address,
                PARADEX_L2_PRIVATE_KEY=hex(acct.private_key),
            )
            t_start = time.perf_counter()
            cli = subprocess.Popen(
                [sys.executable, "-m", "paradexctl", "stream", "orders", "--count", str(n),
                 "-o", "ndjson"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            assert cli.stdout is not None
            # read in large chunks so that the reader is not the bottleneck (like `> file`)
            fd = cli.stdout.fileno()
            first = last = 0.0
            updates = 0
            marker = b'"type":"update"'
            tail = b""  # a marker may straddle two reads: keep what could be its start
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                buf = tail + chunk
                n_up = buf.count(marker)
                tail = buf[-(len(marker) - 1) :]
                if n_up:
                    last = time.perf_counter()
                    if not updates:
                        first = last
                    updates += n_up
            _, status, usage = os.wait4(cli.pid, 0)
            cli.returncode = os.waitstatus_to_exitcode(status)
            t_end = time.perf_counter()
            cpu = usage.ru_utime + usage.ru_stime
            err = cli.stderr.read().decode() if cli.stderr else ""
            if cli.returncode != 0:
                raise SystemExit(f"stream exited {cli.returncode}: {err}")
            if updates != n:
                raise SystemExit(f"stream wrote {updates} update lines, expected {n}")
        finally:
            sender.kill()
            sender.wait()
    return {
        "messages": updates,
        "rate": (updates - 1) / (last - first) if updates > 1 else float("nan"),
        "wall": t_end - t_start,
        "cpu": cpu,
    }


def _read_updates(cli: subprocess.Popen[bytes]) -> tuple[int, float, float]:
    """Read the CLI's stdout in large chunks (like ``> file``): update lines, first, last."""
    assert cli.stdout is not None
    fd = cli.stdout.fileno()
    first = last = 0.0
    updates = 0
    marker = b'"type":"update"'
    tail = b""  # a marker may straddle two reads: keep what could be its start
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        buf = tail + chunk
        n_up = buf.count(marker)
        tail = buf[-(len(marker) - 1) :]
        if n_up:
            last = time.perf_counter()
            if not updates:
                first = last
            updates += n_up
    return updates, first, last


def bench_through_sim(n: int, python: str, chunk: int = 5000) -> dict[str, float]:
    """The sim's own WebSocket path: ``n`` order updates published by the sim's hub (its
    encoder, its per-connection send queue and sender, uvicorn's WebSocket) to the real CLI
    process. The sim's engine cannot produce them that fast (each one is a signed order),
    so the bench hands the hub engine events for one resting order, ids and times varied,
    in chunks below the sim's slow-consumer limit, on the sim's own event loop. The rate is
    counted from the moment the first update is handed to the sim (sent) to the last line
    read from the CLI's stdout."""
    import httpx

    from paradexctl.sim.app import MAX_UNSENT, SimOptions
    from paradexctl.sim.exchange import Event
    from paradexctl.sim.server import SimServer
    from paradexctl.sim.testing import login, new_account, order_body

    assert chunk < MAX_UNSENT
    with SimServer(SimOptions(seed=1, mark_walk_ms=0)) as sim, tempfile.TemporaryDirectory() as tmp:
        acct = new_account(sim.http_url)
        jwt = login(sim.http_url, acct)
        headers = {"Authorization": f"Bearer {jwt}"}
        placed = httpx.post(
            f"{sim.http_url}/orders",
            json=order_body(acct, "BTC-USD-PERP", "BUY", "0.01", "1000"),
            headers=headers,
            timeout=10,
        ).json()
        template = httpx.get(
            f"{sim.http_url}/orders/{placed['id']}", headers=headers, timeout=10
        ).json()
        env = dict(os.environ)
        env.update(
            XDG_CONFIG_HOME=f"{tmp}/config",
            XDG_CACHE_HOME=f"{tmp}/cache",
            PARADEX_ENV="local",
            PARADEX_API_URL=sim.http_url,
            PARADEX_WS_URL=sim.ws_url,
            PARADEX_ACCOUNT_ADDRESS=acct.address,
            PARADEX_L2_PRIVATE_KEY=hex(acct.private_key),
        )
        hub = sim.sim.hub
        loop = sim._server.servers[0].get_loop()
        cli = subprocess.Popen(
            [python, "-m", "paradexctl", "stream", "orders", "--count", str(n), "-o", "ndjson"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not any(("orders.ALL" in c.subs) for c in list(hub.conns)):
                if time.monotonic() > deadline or cli.poll() is not None:
                    raise SystemExit("the CLI did not subscribe")
                time.sleep(0.01)
            time.sleep(0.5)  # its first resync's lines are out of the way
            (conn,) = [c for c in list(hub.conns) if "orders.ALL" in c.subs]
            base = template["last_updated_at"] + 1

            def events(first: int, count: int) -> list[Any]:
                return [
                    Event("order", acct.address, "BTC-USD-PERP",
                          {**template, "id": str(10**27 + i % 1000), "last_updated_at": base + i,
                           "seq_no": (base + i) * 1_000_000}, base + i, base + i)
                    for i in range(first, first + count)
                ]  # fmt: skip

            batches = [events(i, min(chunk, n - i)) for i in range(0, n, chunk)]
            import threading

            t_sent = time.perf_counter()

            async def publish(batch: list[Any]) -> None:
                hub.publish(batch, base)

            def feed_hub() -> None:
                import asyncio

                for batch in batches:
                    while conn.queue.qsize() > MAX_UNSENT - 2 * chunk:
                        time.sleep(0.001)
                    asyncio.run_coroutine_threadsafe(publish(batch), loop).result(30)
                    if conn.closed:
                        return

            feeder = threading.Thread(target=feed_hub, daemon=True)
            feeder.start()
            updates, _first, last = _read_updates(cli)
            feeder.join(10)
            if conn.overflowed:
                raise SystemExit("the sim dropped the CLI as a slow consumer")
            _, status, usage = os.wait4(cli.pid, 0)
            cli.returncode = os.waitstatus_to_exitcode(status)
            err = cli.stderr.read().decode() if cli.stderr else ""
            if cli.returncode != 0:
                raise SystemExit(f"stream exited {cli.returncode}: {err}")
            if updates < n:
                raise SystemExit(f"stream wrote {updates} update lines, expected {n}")
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    return {
        "messages": n,
        "rate": n / (last - t_sent),
        "cpu": usage.ru_utime + usage.ru_stime,
        "wall": last - t_sent,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--e2e-n", type=int, default=200_000)
    ap.add_argument("--rss-n", type=int, default=1_000_000)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--sim-n", type=int, default=200_000)
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter of the measured CLI (another "
        "checkout's .venv/bin/python measures that checkout's paradexctl through the same sim)",
    )
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} CPUs")
    if not args.skip_sim:
        t = bench_through_sim(args.sim_n, args.python)
        print(
            f"through the sim (its hub, send queue and WebSocket -> paradexctl stream -> "
            f"stdout pipe): {t['messages']:,} messages, {t['rate']:,.0f} messages/s from the "
            f"first update sent (goal >= 30,000: {t['rate'] / 30_000:.2f}x); "
            f"the CLI used {t['cpu']:.1f} s of CPU in {t['wall']:.1f} s"
        )
    if not args.skip_e2e:
        e = bench_e2e(args.e2e_n)
        print(
            f"end to end (sender process -> paradexctl stream -> stdout pipe): "
            f"{e['messages']} messages, {e['rate']:,.0f} messages/s "
            f"(goal >= 20,000: {e['rate'] / 20_000:.2f}x); whole run {e['wall']:.1f} s, "
            f"the CLI used {e['cpu']:.1f} s of CPU ({e['cpu'] / e['wall']:.0%} of one core)"
        )
    if not args.skip_rss:
        r = bench_rss(args.rss_n)
        print(
            f"in process over {r['messages']:,} messages: {r['rate']:,.0f} messages/s; "
            f"RSS {r['rss_start']:.1f} MB at start, {r['rss_warm']:.1f} MB after warm-up, "
            f"{r['rss_end']:.1f} MB at end: growth {r['growth']:.1f} MB after warm-up "
            f"({r['growth_from_start']:.1f} MB from start; goal <= 20 MB)"
        )


if __name__ == "__main__":
    main()

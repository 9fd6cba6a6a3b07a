"""Benchmark ``paradexctl stream``: messages/s to NDJSON on stdout, and RSS growth.

Run: .venv/bin/python bench/stream.py [--sim-n 200000] [--runs 3] [--compare DIR]
[--e2e-n 200000] [--rss-n 1000000] [--skip-sim] [--skip-e2e] [--skip-rss]

Three measurements, printed with their goals:

1. **Through the sim** (``--sim-n`` messages, ``--runs`` runs, medians): ``paradexctl sim``
   in its own process and the real CLI, ``paradexctl stream orders --count N -o ndjson``,
   in another, whose stdout this script reads through a 1 MiB pipe in large chunks. Once the
   CLI printed its first ``resynced`` line, ``POST /_sim/ws/emit`` has the sim publish N
   updates of one resting order through its hub (stamped with WS seq_no, encoded, queued and
   sent like any engine event, through uvicorn's WebSocket, permessage-deflate as
   negotiated). The rate counts from just before that request (the first update sent) to
   the last update line read; the CPU per message of each process is over the same span.
   ``--compare DIR`` also runs the CLI of another checkout (e.g. the base commit unpacked
   with ``git archive``) through the same sim, alternating with this one.
2. **Dedicated sender** (``--e2e-n`` messages): a WebSocket server in a separate process
   that speaks the Paradex JSON-RPC protocol and sends sim-shaped ``orders.ALL``
   notifications (an order the sim returned, ids and sequence numbers varied) as fast as the
   client reads them, uncompressed; the rate is N / (time of the last update line - the
   first).
3. **RSS over 1,000,000 messages, in process**: the same pipeline without sockets, frame text
   -> ``RpcProtocol.receive`` -> the stream consumer (StateManager included) -> the CLI's
   NDJSON writer (batched, as in the CLI) -> /dev/null, over a mix of orders (1,000 ids),
   fills (all new ids), positions (3 markets), balance events and account updates. VmRSS is
   read after a warm-up of 100,000 messages (fills reach their bound) and at the end.

The machine is shared: figures vary with its load (printed); the CPU per message varies less.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import statistics
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


def _read_updates(fd: int, first_chunk: bytes = b"") -> tuple[int, float]:
    """Read the CLI's stdout in large chunks (like ``> file``) to its end: the update lines,
    and the time the last one was read."""
    last = 0.0
    updates = 0
    marker = b'"type":"update"'
    tail = b""  # a marker may straddle two reads: keep what could be its start
    chunk = first_chunk
    while True:
        if chunk:
            buf = tail + chunk
            n_up = buf.count(marker)
            tail = buf[-(len(marker) - 1) :]
            if n_up:
                last = time.perf_counter()
                updates += n_up
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return updates, last


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sim:
    """``paradexctl sim`` in a child process (this checkout), one account with one resting
    order whose updates ``POST /_sim/ws/emit`` publishes."""

    def __init__(self) -> None:
        import httpx

        from paradexctl.sim.testing import login, new_account, order_body

        cmd = [sys.executable, "-m", "paradexctl", "sim", "--port", "0", "-o", "json",
               "--mark-walk-ms", "0", "--seed", "1"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            raise SystemExit("the simulator did not start")
        info = json.loads(line)
        self.http_url, self.ws_url = info["http_url"], info["ws_url"]
        self.admin_url = info["admin_url"]
        self.acct = new_account(self.http_url)
        jwt = login(self.http_url, self.acct)
        self.order = httpx.post(
            f"{self.http_url}/orders",
            json=order_body(self.acct, "BTC-USD-PERP", "BUY", "0.01", "1000"),
            headers={"Authorization": f"Bearer {jwt}"},
            timeout=10,
        ).json()

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bench_through_sim(sim: Sim, n: int, checkout: Path = ROOT) -> dict[str, float]:
    """``n`` order updates from the sim's own WebSocket path (``paradexctl sim`` in its own
    process: its hub stamps, encodes and queues each, its sender writes them through
    uvicorn's WebSocket, permessage-deflate as negotiated) to ``paradexctl stream orders
    --count n -o ndjson`` run from ``checkout``. Once the CLI printed its first ``resynced``
    line, ``POST /_sim/ws/emit`` asks for the ``n`` updates; the rate is counted from just
    before that request (the first update sent) to the last update line read from the CLI's
    stdout. CPU per message, of each process, over the same span."""
    import threading

    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env.update(
            XDG_CONFIG_HOME=f"{tmp}/config",
            XDG_CACHE_HOME=f"{tmp}/cache",
            PARADEX_ENV="local",
            PARADEX_API_URL=sim.http_url,
            PARADEX_WS_URL=sim.ws_url,
            PARADEX_ACCOUNT_ADDRESS=sim.acct.address,
            PARADEX_L2_PRIVATE_KEY=hex(sim.acct.private_key),
            PYTHONPATH=str(checkout),
        )
        cli = subprocess.Popen(
            [sys.executable, "-m", "paradexctl", "stream", "orders", "--count", str(n),
             "-o", "ndjson"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=checkout,
        )  # fmt: skip
        try:
            assert cli.stdout is not None
            fd = cli.stdout.fileno()
            with contextlib.suppress(OSError):  # a large pipe, so the reader is not the limit
                fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
            seen = b""
            while b'"type":"resynced"' not in seen:  # connected, subscribed, resynced
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    err = cli.stderr.read().decode() if cli.stderr else ""
                    raise SystemExit(f"the CLI ended before its first resync: {err}")
                seen += chunk
            rest = seen[seen.index(b'"type":"resynced"') :]
            rest = rest[rest.index(b"\n") + 1 :] if b"\n" in rest else b""
            answer: list[Any] = []

            def emit() -> None:
                r = httpx.post(
                    f"{sim.admin_url}/ws/emit",
                    json={"order_id": sim.order["id"], "count": n},
                    timeout=600,
                )
                answer.append(r.json())

            cpu_cli0, cpu_sim0 = proc_cpu(cli.pid), proc_cpu(sim.proc.pid)
            t_sent = time.perf_counter()
            emitter = threading.Thread(target=emit)
            emitter.start()
            updates, last = _read_updates(fd, rest)
            cpu_sim = proc_cpu(sim.proc.pid) - cpu_sim0
            emitter.join(60)
            _, status, usage = os.wait4(cli.pid, 0)
            cli.returncode = os.waitstatus_to_exitcode(status)
            cpu_cli = usage.ru_utime + usage.ru_stime - cpu_cli0
            err = cli.stderr.read().decode() if cli.stderr else ""
            if cli.returncode != 0:
                raise SystemExit(f"stream exited {cli.returncode}: {err}")
            if updates != n or answer != [{"emitted": n}]:
                raise SystemExit(f"stream wrote {updates} update lines of {n}; emit: {answer}")
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    return {
        "messages": n,
        "rate": n / (last - t_sent),
        "wall": last - t_sent,
        "cli_us": cpu_cli / n * 1e6,
        "sim_us": cpu_sim / n * 1e6,
    }


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sim-n", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3, help="runs through the sim (median)")
    ap.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="also run the CLI of another checkout (e.g. the base commit unpacked with git "
        "archive) through the same sim, alternating with this one: before/after in one run",
    )
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--e2e-n", type=int, default=200_000)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--rss-n", type=int, default=1_000_000)
    ap.add_argument("--skip-rss", action="store_true")
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} CPUs")
    if not args.skip_sim:
        sim = Sim()
        try:
            checkouts = [("this checkout", ROOT)]
            if args.compare is not None:
                checkouts.append((f"--compare {args.compare}", args.compare.resolve()))
            runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in checkouts}
            for _ in range(args.runs):
                for name, path in checkouts:
                    r = bench_through_sim(sim, args.sim_n, path)
                    runs[name].append(r)
                    print(
                        f"  {name}: {r['rate']:,.0f} messages/s; CPU per message: CLI "
                        f"{r['cli_us']:.1f} us, sim {r['sim_us']:.1f} us",
                        flush=True,
                    )
        finally:
            sim.close()
        for name, rs in runs.items():
            rate = _median(rs, "rate")
            print(
                f"through the sim ({name}: paradexctl sim's hub, send queue and WebSocket -> "
                f"paradexctl stream -> stdout pipe): {args.sim_n:,} messages, median of "
                f"{len(rs)} runs {rate:,.0f} messages/s from the first update sent (goal >= "
                f"30,000: {rate / 30_000:.2f}x); CPU per message: CLI "
                f"{_median(rs, 'cli_us'):.1f} us, sim {_median(rs, 'sim_us'):.1f} us"
            )
        if args.compare is not None:
            new, old = runs["this checkout"], runs[checkouts[1][0]]
            print(
                f"this checkout / --compare: rate {_median(new, 'rate') / _median(old, 'rate'):.2f}x, "
                f"CLI CPU per message {_median(old, 'cli_us') / _median(new, 'cli_us'):.2f}x less"
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

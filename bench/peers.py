#!/usr/bin/env python3
"""paradexctl against its peers, the official SDK (paradex-py 0.8.2) and paradex-cli (0.2.1).

Run: ``make bench-peers`` (builds ``.venv-peers``, a CPython 3.10 virtualenv outside the
project's dependencies), or ``.venv/bin/python bench/peers.py [--peers-python PATH] [--quick]``.

Every comparison runs both sides in this one run, alternating paradexctl and the peer sample
by sample (or batch by batch), against the same in-process sim on loopback, and prints the
median, the p10-p90 spread and the ratio. No peer figure is typed in. The SDK side is
``bench/peers_sdk.py``, run by the peer virtualenv's Python; nothing reaches the internet
(REST and WebSocket URLs point at the sim or at this script's feed, the Starknet RPC URL in
the sim's config at a dead loopback port).

1. ``--help``: ``paradexctl --help`` vs ``paradex-cli --help``, with each interpreter's bare
   ``python -c pass`` as the floor.
2. fresh ``sign order``: ``paradexctl sign order`` vs a fresh SDK process signing the same
   order (same key, account, timestamp: the signatures are compared, they must be equal).
3. warm signing: CPU ms per order hash+sign in two long-running workers, alternating batches
   (paradexctl ``build_order_request``, the SDK ``ParadexAccount.sign_order``).
4. place+cancel round trips against the sim: ``paradexctl order place`` + ``order cancel``
   processes (JWT cached, as a script runs them) vs the SDK's ``submit_order`` +
   ``cancel_order`` in a warm client, alternating round trip by round trip.
5. ``order place --wait open`` vs a fresh SDK process: construct (config, auth), connect,
   subscribe to ``orders``, submit over REST, wait for the OPEN notification.
6. ``stream``: messages/s end to end from the same feed (a WebSocket server process sending
   sim-rendered ``orders.ALL`` notifications as fast as the client reads) to NDJSON on a
   stdout pipe: ``paradexctl stream orders --count N`` vs the SDK's WS client writing each
   notification's data as a JSON line. Goal: >= 1.5x the SDK.
7. installed footprint: size on disk of the package and its runtime dependency closure in
   each virtualenv, and the modules and time of a fresh import of each CLI's entry point.

The machine is shared: the load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SDK_HELPER = ROOT / "bench" / "peers_sdk.py"
PRIV = 0x543B6CF6C91817A87174AAEA4FB370AC1C694E864D7740D728F8344D53E815
L1_ADDRESS = "0x1234567890abcdef1234567890abcdef12345678"
CHAIN = "PRIVATE_SN_POTC_SEPOLIA"
TS = 1735689600123


# --- pure helpers (no SDK, no sim) -------------------------------------------------------------


def spread(samples: Sequence[float]) -> dict[str, float]:
    """Median, p10, p90, p99, min and max of some samples (percentiles by nearest rank)."""
    if not samples:
        raise ValueError("no samples")
    s = sorted(samples)

    def rank(q: float) -> float:
        return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]

    return {
        "median": statistics.median(s),
        "p10": rank(0.1),
        "p90": rank(0.9),
        "p99": rank(0.99),
        "min": s[0],
        "max": s[-1],
        "n": len(s),
    }


def fmt_spread(samples: Sequence[float], unit: str = "ms", digits: int = 1) -> str:
    d = spread(samples)
    f = f"{{:,.{digits}f}}"
    return f"{f.format(d['median'])} {unit} (p10-p90 {f.format(d['p10'])}-{f.format(d['p90'])})"


def ratio_text(ours: float, peer: float, *, higher_is_better: bool) -> str:
    """'3.10x faster' / '1.20x slower' for paradexctl, from two medians."""
    if ours <= 0 or peer <= 0:
        return "n/a"
    r = ours / peer if higher_is_better else peer / ours
    return f"{r:.2f}x faster" if r >= 1 else f"{1 / r:.2f}x slower"


def alternate(
    sides: dict[str, Callable[[], float]], rounds: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """Call each side once per round, alternating which goes first; collect the results."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            out[name].append(sides[name]())
    return out


def machine() -> dict[str, str]:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": str(os.cpu_count()), "cpu": model, "kernel": platform.release()}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# Run by each virtualenv's own Python: the runtime dependency closure of some distributions
# (extras excluded, requirements whose distribution is absent skipped: markers that exclude
# it) and the bytes on disk of every file they installed (RECORD, .pyc included); an editable
# install also counts its source package directory.
FOOTPRINT = textwrap.dedent(
    r"""
    import json, os, re, sys
    from importlib import metadata

    def norm(n): return re.sub(r"[-_.]+", "-", n).lower()
    seen, todo = {}, [norm(r) for r in sys.argv[1:]]
    while todo:
        name = todo.pop()
        if name in seen: continue
        try: dist = metadata.distribution(name)
        except metadata.PackageNotFoundError: continue
        seen[name] = dist
        for req in dist.requires or []:
            if "extra ==" in req.replace("extra==", "extra =="): continue
            todo.append(norm(re.split(r"[ ;<>=!~\[(]", req.strip(), maxsplit=1)[0]))
    total, files = 0, 0
    for dist in seen.values():
        for f in dist.files or []:
            p = dist.locate_file(f)
            if os.path.isfile(p):
                total += os.path.getsize(p); files += 1
        direct = dist.read_text("direct_url.json")
        if direct and '"editable": true' in direct.replace('"editable":true', '"editable": true'):
            src = json.loads(direct)["url"].removeprefix("file://")
            for top in (dist.read_text("top_level.txt") or dist.metadata["Name"]).split():
                for base, _, names in os.walk(os.path.join(src, top)):
                    for n in names:
                        total += os.path.getsize(os.path.join(base, n)); files += 1
    print(json.dumps({"dists": len(seen), "files": files, "bytes": total,
                      "names": sorted(seen)}))
    """
)

# paradexctl's client layer: what `order place --wait` and `stream` use
LIBRARY = (
    "paradexctl.paradex.rest", "paradexctl.paradex.ws", "paradexctl.paradex.orders",
    "paradexctl.paradex.stream", "paradexctl.signing",
)  # fmt: skip

IMPORTS = textwrap.dedent(
    """
    import json, sys, time
    before = len(sys.modules)
    t = time.perf_counter()
    for name in sys.argv[1].split(","):
        __import__(name)
    ms = (time.perf_counter() - t) * 1e3
    print(json.dumps({"modules": len(sys.modules) - before, "ms": ms}))
    """
)


# Runs a CLI's entry point with --help; prints the number of modules loaded at exit.
HELP_MODULES = textwrap.dedent(
    """
    import atexit, os, sys
    atexit.register(lambda: os.write(2, f"\\nMODULES {len(sys.modules)}\\n".encode()))
    module, entry = sys.argv[1], sys.argv[2]
    sys.argv = [module, "--help"]
    getattr(__import__(module, fromlist=[entry]), entry)()
    """
)


# --- the paradexctl side's warm signer (run with the project's Python) --------------------------


def paradexctl_worker() -> None:
    """Same line protocol as the SDK worker's ``sign`` op (see bench/peers_sdk.py)."""
    from decimal import Decimal

    from paradexctl.paradex.orders import OrderSpec, build_order_request
    from paradexctl.signing import derive_account_address, private_to_public

    account = hex(
        derive_account_address(
            private_to_public(PRIV),
            int(sys.argv[2], 16),
            int(sys.argv[3], 16),
        )
    )
    ts = [1_735_689_600_000]
    print(json.dumps({"ready": True, "account": account}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] != "sign":
            return
        samples = []
        for _ in range(cmd["n"]):
            ts[0] += 1
            spec = OrderSpec("BTC-USD-PERP", "BUY", Decimal("0.015"), price=Decimal("97123.5"))
            t = time.process_time()
            build_order_request(
                spec, chain_id=CHAIN, account=account, private_key=PRIV, timestamp_ms=ts[0]
            )
            samples.append((time.process_time() - t) * 1e3)
        print(json.dumps({"samples": samples}), flush=True)


class Worker:
    """A long-running child speaking one JSON object per line each way."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker {self.proc.args!r} exited ({self.proc.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


# --- the feed for the stream comparison -------------------------------------------------------

FEED = textwrap.dedent(
    """
    import asyncio, json, sys
    from websockets.asyncio.server import serve

    N = int(sys.argv[1])
    TEMPLATE = json.loads(sys.argv[2])

    async def handler(ws):
        while True:  # auth, then one subscribe (both clients subscribe to orders.ALL only)
            msg = json.loads(await ws.recv())
            if msg["method"] == "auth":
                await ws.send(json.dumps({"jsonrpc": "2.0", "result": {"node_id": "bench"},
                                          "id": msg["id"]}))
                continue
            await ws.send(json.dumps({"jsonrpc": "2.0", "result": {"channel":
                                      msg["params"]["channel"]}, "id": msg["id"]}))
            break
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
            await send(fmt % {"id": 10**27 + i % 1000, "ts": t, "seq": t * 1000000})
        await ws.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.get_running_loop().create_future()

    asyncio.run(main())
    """
)


def read_lines_rate(cmd: list[str], env: dict[str, str], marker: bytes, n: int) -> float:
    """Run ``cmd``, read its stdout in large chunks; messages/s from the first to the last
    chunk that carried ``marker`` (N lines must arrive)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        fd = proc.stdout.fileno()
        first = last = 0.0
        count = 0
        tail = b""
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            buf = tail + chunk
            k = buf.count(marker)
            tail = buf[-(len(marker) - 1) :] if len(marker) > 1 else b""
            if k:
                last = time.perf_counter()
                if not count:
                    first = last
                count += k
        rc = proc.wait(60)
        err = proc.stderr.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if rc != 0 or count != n:
        raise SystemExit(f"{cmd[:4]}... exited {rc} after {count}/{n} lines: {err[-2000:]}")
    return (count - 1) / (last - first)


# --- the comparisons -------------------------------------------------------------------------


class Bench:
    def __init__(self, peers_python: Path, quick: bool) -> None:
        self.py = sys.executable
        self.peer_py = str(peers_python)
        self.peer_cli = str(peers_python.with_name("paradex-cli"))
        self.pdx = str(Path(self.py).with_name("paradexctl"))
        self.quick = quick
        self.rows: list[tuple[str, str, str, str]] = []  # what, paradexctl, peer, ratio
        self.tmp = Path(tempfile.mkdtemp(prefix="paradexctl-bench-peers-"))
        self.base_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PARADEX", "PYTHON"))
        }
        self.base_env.update(
            XDG_CONFIG_HOME=str(self.tmp / "config"), XDG_CACHE_HOME=str(self.tmp / "cache")
        )

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def row(self, what: str, ours: str, peer: str, ratio: str) -> None:
        self.rows.append((what, ours, peer, ratio))
        print(f"  paradexctl  {ours}\n  peer        {peer}\n  => {ratio}", flush=True)

    def timed(self, cmd: list[str], env: dict[str, str] | None = None) -> float:
        t = time.perf_counter()
        proc = subprocess.run(
            cmd, env=env or self.base_env, capture_output=True, text=True, cwd=ROOT
        )
        ms = (time.perf_counter() - t) * 1e3
        if proc.returncode != 0:
            raise SystemExit(f"{cmd} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return ms

    # 1
    def help(self) -> None:
        print("\n[1] --help, fresh process, wall ms", flush=True)
        cases = {
            "paradexctl --help": [self.pdx, "--help"],
            "paradex-cli --help": [self.peer_cli, "--help"],
            "python3.11 -c pass": [self.py, "-c", "pass"],
            "python3.10 -c pass": [self.peer_py, "-c", "pass"],
        }
        got = alternate({k: (lambda c=c: self.timed(c)) for k, c in cases.items()}, self.n(9, 3))
        for k in ("python3.11 -c pass", "python3.10 -c pass"):
            print(f"  floor {k}: {fmt_spread(got[k])}")
        a, b = got["paradexctl --help"], got["paradex-cli --help"]
        self.row(
            "`--help`, fresh process (vs `paradex-cli --help`)",
            fmt_spread(a),
            fmt_spread(b),
            ratio_text(statistics.median(a), statistics.median(b), higher_is_better=False),
        )
        fa = statistics.median(a) - statistics.median(got["python3.11 -c pass"])
        fb = statistics.median(b) - statistics.median(got["python3.10 -c pass"])
        self.row(
            "`--help` above its interpreter's `python -c pass`",
            f"{fa:.1f} ms",
            f"{fb:.1f} ms",
            ratio_text(fa, fb, higher_is_better=False),
        )

    # 2
    def sign_fresh(self, config: dict[str, Any]) -> None:
        print("\n[2] fresh `sign order` (same order, key, timestamp), wall ms", flush=True)
        account = self.account_address(config)
        env = dict(self.base_env, PARADEX_L2_PRIVATE_KEY=hex(PRIV))
        ours = [
            self.pdx, "sign", "order", "--market", "BTC-USD-PERP", "--side", "BUY",
            "--size", "0.015", "--price", "97123.5", "--timestamp", str(TS),
            "--chain-id", CHAIN, "--account", account, "-o", "json",
        ]  # fmt: skip
        args = json.dumps({"config": config, "key": hex(PRIV), "l1": L1_ADDRESS, "ts": TS})
        peer = [self.peer_py, str(SDK_HELPER), "sign-order", args]
        a = json.loads(subprocess.run(ours, env=env, capture_output=True, check=True).stdout)
        b = json.loads(subprocess.run(peer, env=env, capture_output=True, check=True).stdout)
        sig_a = [int(x, 0) for x in json.loads(a["signature"]["value"])]
        sig_b = [int(x, 0) for x in json.loads(b["signature"])]
        same = "identical" if sig_a == sig_b and b["account"] == account else "DIFFERENT"
        print(f"  signatures: {same} (account {account})")
        got = alternate(
            {"ours": lambda: self.timed(ours, env), "peer": lambda: self.timed(peer, env)},
            self.n(7, 3),
        )
        self.row(
            f"fresh `sign order` (vs a fresh SDK process; signatures {same})",
            fmt_spread(got["ours"]),
            fmt_spread(got["peer"]),
            ratio_text(
                statistics.median(got["ours"]),
                statistics.median(got["peer"]),
                higher_is_better=False,
            ),
        )

    def account_address(self, config: dict[str, Any]) -> str:
        from paradexctl.signing import derive_account_address, private_to_public

        return hex(
            derive_account_address(
                private_to_public(PRIV),
                int(config["paraclear_account_hash"], 16),
                int(config["paraclear_account_proxy_hash"], 16),
            )
        )

    # 3
    def sign_warm(self, config: dict[str, Any]) -> None:
        print("\n[3] warm order hash+sign, CPU ms per order, alternating batches", flush=True)
        ours = Worker(
            [self.py, __file__, "--worker", config["paraclear_account_hash"],
             config["paraclear_account_proxy_hash"]],
            env=self.base_env,
        )  # fmt: skip
        args = {"config": config, "key": hex(PRIV), "l1": L1_ADDRESS}
        peer = Worker([self.peer_py, str(SDK_HELPER), "worker", json.dumps(args)])
        try:
            for w in (ours, peer):  # warm-up (paradexctl: tables auto-upgrade when busy)
                w.ask(op="sign", n=300)
            batch = 20
            samples: dict[str, list[float]] = {"ours": [], "peer": []}
            for r in range(self.n(12, 4)):
                pair = (("ours", ours), ("peer", peer))
                for name, w in pair if r % 2 == 0 else pair[::-1]:
                    samples[name] += w.ask(op="sign", n=batch)["samples"]
        finally:
            ours.close()
            peer.close()
        a, b = samples["ours"], samples["peer"]
        self.row(
            "warm order hash+sign, CPU (`build_order_request` vs `ParadexAccount.sign_order`)",
            fmt_spread(a, digits=2),
            fmt_spread(b, digits=2),
            ratio_text(statistics.median(a), statistics.median(b), higher_is_better=False),
        )

    # 4
    def round_trips(self, sim: Any, env: dict[str, str], sdk_args: dict[str, Any]) -> None:
        n = self.n(50, 8)
        print(f"\n[4] {n} place+cancel round trips against the sim, wall ms each", flush=True)
        t = time.perf_counter()
        peer = Worker([self.peer_py, str(SDK_HELPER), "worker", json.dumps(sdk_args)])
        peer_start = (time.perf_counter() - t) * 1e3  # import, config, auth
        place = [
            self.pdx, "-o", "json", "order", "place", "BTC-USD-PERP", "buy", "0.015",
            "--price", "1000",
        ]  # fmt: skip

        def ours() -> float:
            t = time.perf_counter()
            out = subprocess.run(place, env=env, capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                raise SystemExit(f"order place exited {out.returncode}: {out.stderr}")
            oid = json.loads(out.stdout)["order"]["id"]
            cancel = subprocess.run(
                [self.pdx, "-o", "json", "order", "cancel", oid],
                env=env, capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            if cancel.returncode != 0:
                raise SystemExit(f"order cancel exited {cancel.returncode}: {cancel.stderr}")
            return (time.perf_counter() - t) * 1e3

        try:
            got = alternate(
                {"ours": ours, "peer": lambda: float(peer.ask(op="roundtrip")["ms"])}, n
            )
        finally:
            peer.close()
        self.row(
            f"place+cancel round trip, sim, {n} each (2 fresh CLI processes vs a warm SDK client)",
            fmt_spread(got["ours"]),
            fmt_spread(got["peer"]),
            ratio_text(
                statistics.median(got["ours"]),
                statistics.median(got["peer"]),
                higher_is_better=False,
            ),
        )
        total_b = sum(got["peer"]) + peer_start
        self.row(
            f"all {n} round trips, total wall (the SDK's including its start: import, config, auth)",
            f"{sum(got['ours']) / 1e3:.1f} s",
            f"{total_b / 1e3:.1f} s (start {peer_start / 1e3:.1f} s)",
            ratio_text(sum(got["ours"]), total_b, higher_is_better=False),
        )

    # 5
    def place_wait(self, env: dict[str, str], sdk_args: dict[str, Any]) -> None:
        print("\n[5] `order place --wait open`, fresh process, wall ms", flush=True)
        i = [0]

        def ours() -> float:
            i[0] += 1
            return self.timed(
                [self.pdx, "-o", "json", "order", "place", "BTC-USD-PERP", "buy", "0.015",
                 "--price", "1000", "--wait", "open", "--client-id", f"bench-w-{i[0]}"],
                env,
            )  # fmt: skip

        def peer() -> float:
            i[0] += 1
            args = dict(sdk_args, client_id=f"bench-sdk-w-{i[0]}")
            return self.timed([self.peer_py, str(SDK_HELPER), "place-wait", json.dumps(args)])

        got = alternate({"ours": ours, "peer": peer}, self.n(5, 3))
        self.row(
            "`order place --wait open` (vs SDK connect, subscribe, submit, wait OPEN), fresh",
            fmt_spread(got["ours"]),
            fmt_spread(got["peer"]),
            ratio_text(
                statistics.median(got["ours"]),
                statistics.median(got["peer"]),
                higher_is_better=False,
            ),
        )

    # 6
    def stream(self, sim: Any, env: dict[str, str], sdk_args: dict[str, Any]) -> None:
        n = self.n(30_000, 10_000)
        print(f"\n[6] stream: {n:,} orders.ALL notifications, same feed, messages/s", flush=True)
        import httpx

        from paradexctl.sim.testing import login, new_account, order_body

        acct = new_account(sim.http_url)
        headers = {"Authorization": f"Bearer {login(sim.http_url, acct)}"}
        placed = httpx.post(
            f"{sim.http_url}/orders",
            json=order_body(acct, "BTC-USD-PERP", "BUY", "0.01", "1000"),
            headers=headers,
            timeout=10,
        ).json()
        template = httpx.get(
            f"{sim.http_url}/orders/{placed['id']}", headers=headers, timeout=10
        ).json()
        feed = subprocess.Popen(
            [self.py, "-c", FEED, str(n), json.dumps(template)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert feed.stdout is not None
            ws = f"ws://127.0.0.1:{int(feed.stdout.readline())}/v1"
            ours_env = dict(env, PARADEX_WS_URL=ws)
            ours = [self.pdx, "stream", "orders", "--count", str(n), "-o", "ndjson"]
            peer = [self.peer_py, str(SDK_HELPER), "stream", json.dumps(dict(sdk_args, ws=ws, n=n))]
            got = alternate(
                {
                    "ours": lambda: read_lines_rate(ours, ours_env, b'"type":"update"', n),
                    "peer": lambda: read_lines_rate(peer, self.base_env, b"\n", n),
                },
                self.n(5, 1),
                warmup=0,
            )
        finally:
            feed.kill()
            feed.wait()
        a, b = statistics.median(got["ours"]), statistics.median(got["peer"])
        r = a / b
        self.row(
            "`stream` end to end, same feed (vs SDK WS client printing JSON lines); goal >= 1.5x",
            fmt_spread(got["ours"], "msg/s", 0),
            fmt_spread(got["peer"], "msg/s", 0),
            f"{r:.2f}x the SDK ({'goal met' if r >= 1.5 else 'BELOW GOAL'})",
        )

    # 7
    def footprint(self) -> None:
        print("\n[7] installed footprint", flush=True)
        a = json.loads(self.check_out([self.py, "-c", FOOTPRINT, "paradexctl"]))
        b = json.loads(self.check_out([self.peer_py, "-c", FOOTPRINT, "paradex-py", "paradex-cli"]))
        print(f"  paradexctl closure: {', '.join(a['names'])}")
        print(f"  SDK closure: {len(b['names'])} distributions")
        self.row(
            "installed: package + runtime dependency closure, on disk",
            f"{a['bytes'] / 2**20:.1f} MB ({a['dists']} distributions, {a['files']:,} files)",
            f"{b['bytes'] / 2**20:.1f} MB ({b['dists']} distributions, {b['files']:,} files)",
            f"{b['bytes'] / a['bytes']:.1f}x smaller",
        )
        mods_a = self.modules_at_exit([self.py, "-c", HELP_MODULES, "paradexctl.cli", "run"])
        mods_b = self.modules_at_exit([self.peer_py, "-c", HELP_MODULES, "paradex_cli.main", "app"])
        self.row(
            "modules loaded to answer `--help`",
            f"{mods_a}",
            f"{mods_b}",
            f"{mods_b / mods_a:.1f}x fewer",
        )
        lib_a, lib_b = ",".join(LIBRARY), "paradex_py"
        got = alternate(
            {
                "ours": lambda: json.loads(self.check_out([self.py, "-c", IMPORTS, lib_a])),
                "peer": lambda: json.loads(self.check_out([self.peer_py, "-c", IMPORTS, lib_b])),
            },
            self.n(5, 3),
            warmup=1,
        )
        ms_a = [d["ms"] for d in got["ours"]]
        ms_b = [d["ms"] for d in got["peer"]]
        self.row(
            "fresh import of the client library (REST, WS, signing, orders vs `paradex_py`)",
            f"{fmt_spread(ms_a)}, {got['ours'][0]['modules']} modules",
            f"{fmt_spread(ms_b)}, {got['peer'][0]['modules']} modules",
            ratio_text(statistics.median(ms_a), statistics.median(ms_b), higher_is_better=False),
        )

    def modules_at_exit(self, cmd: list[str]) -> int:
        proc = subprocess.run(cmd, env=self.base_env, capture_output=True, text=True, cwd=ROOT)
        for line in proc.stderr.splitlines():
            if line.startswith("MODULES "):
                return int(line.split()[1])
        raise SystemExit(f"{cmd} printed no module count: {proc.stderr[-2000:]}")

    def check_out(self, cmd: list[str]) -> str:
        return subprocess.run(
            cmd, env=self.base_env, capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout

    def markdown(self) -> str:
        lines = ["| what | paradexctl | peer | paradexctl vs peer |", "|---|---|---|---|"]
        lines += [f"| {w} | {a} | {b} | {r} |" for w, a, b, r in self.rows]
        return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    peers_python = Path(args.peers_python)
    if not (peers_python.exists() and peers_python.with_name("paradex-cli").exists()):
        print(
            f"peer virtualenv not found ({peers_python}): run `make bench-peers`, which builds it",
            file=sys.stderr,
        )
        return 2
    from paradexctl.sim.app import SimOptions
    from paradexctl.sim.server import SimServer

    m = machine()
    started = datetime.now(UTC)
    print(
        f"bench/peers.py {started:%Y-%m-%d %H:%M} UTC, {m['cpus']} CPUs ({m['cpu']}), "
        f"Linux {m['kernel']}; load average {load()} at start"
    )
    bench = Bench(peers_python, args.quick)
    only = set(args.only.split(",")) if args.only else None

    def want(name: str) -> bool:
        return only is None or name in only

    try:
        with SimServer(SimOptions(seed=1, mark_walk_ms=0)) as sim:
            config = sim.http.get("/system/config").json()
            env = dict(
                bench.base_env,
                PARADEX_ENV="local",
                PARADEX_API_URL=sim.http_url,
                PARADEX_WS_URL=sim.ws_url,
                PARADEX_L2_PRIVATE_KEY=hex(PRIV),
                PARADEX_ACCOUNT_ADDRESS=bench.account_address(config),
            )
            sdk_args = {"api": sim.http_url, "ws": sim.ws_url, "key": hex(PRIV), "l1": L1_ADDRESS}
            # the SDK onboards this key on first use (auth -> NOT_ONBOARDED -> onboarding);
            # do that once before anything is timed
            subprocess.run(
                [bench.peer_py, str(SDK_HELPER), "place-wait",
                 json.dumps(dict(sdk_args, client_id="bench-onboard"))],
                check=True, capture_output=True, env=bench.base_env,
            )  # fmt: skip
            steps: list[tuple[str, Callable[[], None]]] = [
                ("help", bench.help),
                ("sign", lambda: bench.sign_fresh(config)),
                ("warm", lambda: bench.sign_warm(config)),
                ("roundtrips", lambda: bench.round_trips(sim, env, sdk_args)),
                ("wait", lambda: bench.place_wait(env, sdk_args)),
                ("stream", lambda: bench.stream(sim, env, sdk_args)),
                ("footprint", bench.footprint),
            ]
            for name, step in steps:
                if want(name):
                    step()
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    took = (datetime.now(UTC) - started).total_seconds()
    print(f"\nload average {load()} at end; {took:.0f} s in all\n")
    print(bench.markdown())
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        paradexctl_worker()
        return 0
    ap = argparse.ArgumentParser(
        prog="bench/peers.py", description=(__doc__ or "").split("\n", 1)[0]
    )
    ap.add_argument(
        "--peers-python",
        default=str(ROOT / ".venv-peers" / "bin" / "python"),
        help="the peer virtualenv's python (default: .venv-peers/bin/python)",
    )
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    ap.add_argument(
        "--only",
        metavar="LIST",
        help="comma-separated subset of: help,sign,warm,roundtrips,wait,stream,footprint",
    )
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

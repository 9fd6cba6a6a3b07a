"""The simulator under hostile clients: a healthy client's latency with and without them.

Starts ``paradexctl sim`` on 127.0.0.1 (a child process), then measures a healthy client (one
keep-alive connection, alternating ``GET /bbo/BTC-USD-PERP`` and an authenticated
``GET /account``, one request every 10 ms) twice in one run:

1. **quiet**: nothing else talks to the sim;
2. **hostile**: a second child process hammers it at the same time with
   * oversized bodies: POSTs announcing 200 MB (``Content-Length``) and chunked POSTs that
     never end, streamed as fast as the sim takes them;
   * deep JSON: 2 KB bodies nested 1,000 levels, to ``/onboarding`` and the admin API, and as
     WebSocket messages;
   * half-open sockets: up to ``--half-open`` connections that send half a request line and
     stall (reopened when the sim closes them).

Prints the healthy client's p50/p99/max latency and error count per phase, what the hostile
clients got back (413, 400, 408, closed sockets), and the sim's peak resident memory.
Everything is bounded (``--seconds`` per phase, fixed counts), loopback only, and stops by
itself; the sim and the hostile process are stopped on exit (also on Ctrl-C).

Usage: ``.venv/bin/python bench/sim_hostile.py [--seconds 8] [--half-open 3000]
[--bodies 8] [--deep 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from paradexctl.sim.testing import Trader

HOST = "127.0.0.1"
DEEP = b"[" * 1000 + b"]" * 1000


# ----------------------------------------------------------------------------- the sim


def start_sim() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, "-m", "paradexctl", "sim", "--host", HOST, "--port", "0", "-o"]
    cmd += ["json", "--signing-tables", "small", "--verify-workers", "0", "--mark-walk-ms", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    if not line or not line[0]:
        stop(proc)
        raise SystemExit("the sim did not start")
    return proc, json.loads(line[0])


def stop(proc: subprocess.Popen[str] | None) -> str:
    if proc is None or proc.poll() is not None:
        return ""
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err or ""


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ----------------------------------------------------------------------------- healthy client


def fresh_get(port: int, path: str) -> bool:
    """One request on a new connection (a client that starts now), read to the close."""
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.startswith(b"HTTP/1.1 200")


def healthy(
    trader: Trader, http_url: str, port: int, seconds: float
) -> dict[str, tuple[list[float], int]]:
    """A paced healthy client: per kind of request, its latencies (ms) and failures. Kinds:
    ``keep-alive`` (alternating public and authenticated reads on kept-alive connections)
    and ``new connection`` (every tenth request)."""
    import httpx

    out: dict[str, tuple[list[float], int]] = {"keep-alive": ([], 0), "new connection": ([], 0)}
    failures: Counter[str] = Counter()
    end = time.monotonic() + seconds
    with httpx.Client(base_url=http_url, timeout=10) as public:
        i = 0
        while time.monotonic() < end:
            kind = "new connection" if i % 10 == 9 else "keep-alive"
            t0 = time.perf_counter()
            try:
                if kind == "new connection":
                    ok = fresh_get(port, "/v1/system/time")
                else:
                    r = trader.http.get("/account") if i % 2 else public.get("/bbo/BTC-USD-PERP")
                    ok = r.status_code == 200
                    if not ok:
                        failures[f"{r.status_code} {r.text[:60]}"] += 1
            except (httpx.HTTPError, OSError) as err:
                ok = False
                failures[type(err).__name__] += 1
            dt = (time.perf_counter() - t0) * 1000
            lat, errors = out[kind]
            if ok:
                lat.append(dt)
            else:
                out[kind] = (lat, errors + 1)
            i += 1
            time.sleep(max(0.0, 0.010 - dt / 1000))
    if failures:
        print(f"  healthy client failures: {dict(failures)}")
    return out


def summary(latencies: list[float], errors: int) -> str:
    if len(latencies) < 2:
        return f"n={len(latencies)} errors={errors}"
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return (
        f"n={len(latencies):5d}  p50 {q[49]:7.2f} ms  p99 {q[98]:7.2f} ms  "
        f"max {max(latencies):8.2f} ms  errors {errors}"
    )


# ----------------------------------------------------------------------------- hostile clients


async def _status(reader: asyncio.StreamReader, timeout: float) -> str:
    line = await asyncio.wait_for(reader.readline(), timeout)
    parts = line.split()
    return parts[1].decode() if len(parts) > 1 else "closed"


async def oversized(port: int, end: float, got: Counter[str], chunked: bool) -> None:
    """POST bodies of 200 MB (declared) or an endless chunked body, streamed until the sim
    answers or closes."""
    chunk = b"a" * 65536
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            got["connect failed"] += 1
            await asyncio.sleep(0.05)
            continue
        length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {200 << 20}"
        writer.write(f"POST /v1/onboarding HTTP/1.1\r\nHost: {HOST}\r\n{length}\r\n\r\n".encode())

        async def pump(writer: asyncio.StreamWriter) -> None:
            frame = b"10000\r\n" + chunk + b"\r\n" if chunked else chunk
            for _ in range(3200):  # at most 200 MB
                writer.write(frame)
                await writer.drain()

        sender = asyncio.create_task(pump(writer))
        try:
            got[("chunked " if chunked else "declared ") + await _status(reader, 10)] += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            got["oversized: reset"] += 1
        finally:
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
            writer.close()


async def deep_rest(port: int, end: float, got: Counter[str]) -> None:
    paths = ("/v1/onboarding", "/_sim/faults")
    i = 0
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
            path = paths[i % 2]
            i += 1
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(DEEP)}\r\nConnection: close\r\n\r\n".encode()
                + DEEP
            )
            got["deep " + await _status(reader, 10)] += 1
            writer.close()
        except (OSError, TimeoutError):
            got["deep: failed"] += 1
            await asyncio.sleep(0.05)


async def deep_ws(ws_url: str, end: float, got: Counter[str]) -> None:
    import websockets

    while time.monotonic() < end:
        try:
            async with websockets.connect(ws_url, open_timeout=10) as ws:
                while time.monotonic() < end:
                    await ws.send(DEEP.decode())
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    got[f"ws deep {reply.get('error', {}).get('code')}"] += 1
        except (OSError, TimeoutError, websockets.WebSocketException):
            got["ws deep: closed"] += 1
            await asyncio.sleep(0.05)


async def half_open(port: int, end: float, got: Counter[str], slots: int) -> None:
    """Hold up to ``slots`` connections that sent half a request line; reopen closed ones."""

    async def one() -> None:
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                got["half-open: connect failed"] += 1
                await asyncio.sleep(0.2)
                continue
            writer.write(b"GET /v1/system/time HTT")
            try:
                status = await asyncio.wait_for(
                    _status(reader, 30), max(0.01, end - time.monotonic())
                )
                got[f"half-open closed ({status})"] += 1
            except TimeoutError:
                got["half-open: still held at the end"] += 1
            except (OSError, asyncio.IncompleteReadError):
                got["half-open closed (reset)"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one() for _ in range(slots)))


async def hostile_main(port: int, ws_url: str, seconds: float, args: argparse.Namespace) -> None:
    end = time.monotonic() + seconds
    got: Counter[str] = Counter()
    tasks = [half_open(port, end, got, args.half_open)]
    tasks += [oversized(port, end, got, chunked=i % 2 == 1) for i in range(args.bodies)]
    tasks += [deep_rest(port, end, got) for _ in range(args.deep)]
    tasks += [deep_ws(ws_url, end, got)]
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), seconds + 40)
    print(json.dumps(dict(got)), flush=True)


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    ap.add_argument("--half-open", type=int, default=3000, help="half-open sockets held")
    ap.add_argument("--bodies", type=int, default=8, help="parallel oversized-body senders")
    ap.add_argument("--deep", type=int, default=4, help="parallel deep-JSON senders")
    ap.add_argument("--hostile-worker", nargs=2, metavar=("PORT", "WS_URL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hostile_worker:
        port, ws_url = int(args.hostile_worker[0]), args.hostile_worker[1]
        asyncio.run(hostile_main(port, ws_url, args.seconds, args))
        return

    sim: subprocess.Popen[str] | None = None
    hostile: subprocess.Popen[str] | None = None
    try:
        sim, info = start_sim()
        print(f"sim pid {sim.pid} on {info['http_url']}")
        trader = Trader(info["http_url"])  # onboarded and logged in before any load
        quiet = healthy(trader, info["http_url"], info["port"], args.seconds)
        worker = [sys.executable, __file__, "--hostile-worker", str(info["port"]), info["ws_url"]]
        worker += ["--seconds", str(args.seconds), "--half-open", str(args.half_open)]
        worker += ["--bodies", str(args.bodies), "--deep", str(args.deep)]
        hostile = subprocess.Popen(worker, stdout=subprocess.PIPE, text=True)
        time.sleep(min(1.0, args.seconds / 4))  # let the hostile load build up first
        loud = healthy(trader, info["http_url"], info["port"], args.seconds)
        trader.close()
        out, _ = hostile.communicate(timeout=args.seconds + 60)
        got = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        rss = peak_rss_mb(sim.pid)
        for kind in quiet:
            print(f"healthy {kind:14s} quiet:   {summary(*quiet[kind])}")
            print(f"healthy {kind:14s} hostile: {summary(*loud[kind])}")
        print(f"sim peak RSS: {rss:.0f} MB")
        print("hostile clients got:")
        for key, n in sorted(got.items()):
            print(f"  {key:40s} {n}")
    finally:
        if hostile is not None and hostile.poll() is None:
            hostile.kill()
            hostile.wait()
        err = stop(sim)
        log = [ln for ln in err.splitlines() if ln.strip()]
        print(f"sim log: {len(log)} lines, {len(err)} bytes")
        for ln in log[-8:]:
            print(f"  {ln[:160]}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

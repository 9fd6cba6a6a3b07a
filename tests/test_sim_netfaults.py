"""Connection-level faults (``net_*`` in ``paradexctl.sim.faults.FAULTS``, implemented by
``paradexctl.sim.netfaults``), each observed by a client on a connection opened after the
fault is set. Waits are deadlines (socket timeouts), never sleeps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import write_profile
from ndjson_lines import Lines

from paradexctl.sim.app import SimOptions
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import login, new_account, order_body

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[SimServer]:
    server = SimServer(SimOptions(seed=1, mark_walk_ms=0, warm_tables=None)).start()
    try:
        server.admin.state()  # the admin connection is opened before any fault: never cut
        yield server
    finally:
        server.admin.faults(net_latency_ms=0, net_bandwidth_bps=0, net_slice_bytes=0,
                            net_reset_after_bytes=0, net_half_open_after_bytes=0)  # fmt: skip
        server.stop()


def raw_get(sim: SimServer, path: str, timeout: float = 10.0) -> tuple[bytes, int]:
    """GET over a new socket, read to EOF: (bytes, number of recv calls that got data)."""
    with socket.create_connection((sim.host, sim.port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
        out, reads = b"", 0
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out, reads
            out += chunk
            reads += 1


def test_latency_and_bandwidth_slow_the_answer_down(sim):
    baseline, _ = raw_get(sim, "/v1/markets")
    sim.admin.faults(net_latency_ms=400)
    t0 = time.monotonic()
    body, _ = raw_get(sim, "/v1/markets")
    assert time.monotonic() - t0 >= 0.4
    assert body.split(b"\r\n\r\n", 1)[1] == baseline.split(b"\r\n\r\n", 1)[1]
    sim.admin.faults(net_latency_ms=0, net_bandwidth_bps=len(baseline) * 2)  # ~0.5 s of data
    t0 = time.monotonic()
    body, _ = raw_get(sim, "/v1/markets")
    assert time.monotonic() - t0 >= 0.4
    assert body.split(b"\r\n\r\n", 1)[1] == baseline.split(b"\r\n\r\n", 1)[1]


def test_slicing_cuts_writes_and_the_answer_is_whole(sim):
    sim.admin.faults(net_slice_bytes=16, net_bandwidth_bps=16_000)  # one slice per ms
    body, reads = raw_get(sim, "/v1/markets")
    assert body.startswith(b"HTTP/1.1 200")
    assert reads > 10  # the client saw the answer in pieces
    assert sim.admin.state() is not None
    got = httpx.get(sim.admin.base_url + "/_sim/faults", timeout=10).json()
    assert got["injected"]["net_sliced_writes"] >= len(body) // 16


def test_reset_after_n_bytes_cuts_the_answer(sim):
    sim.admin.faults(net_reset_after_bytes=20)
    with pytest.raises(httpx.TransportError):
        httpx.get(sim.http_url + "/markets", timeout=10)
    with socket.create_connection((sim.host, sim.port), timeout=10) as s:
        s.sendall(b"GET /v1/markets HTTP/1.1\r\nhost: x\r\n\r\n")
        got = [b""]
        with pytest.raises(ConnectionResetError):
            while True:
                chunk = s.recv(65536)
                assert chunk, "closed without a reset"
                got.append(chunk)
        assert len(b"".join(got)) <= 20


def test_half_open_stops_answering_without_closing(sim):
    sim.admin.faults(net_half_open_after_bytes=20)
    with socket.create_connection((sim.host, sim.port), timeout=10) as s:
        s.sendall(b"GET /v1/markets HTTP/1.1\r\nhost: x\r\n\r\n")
        got = s.recv(65536)
        assert 0 < len(got) <= 20
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):  # neither data nor EOF: the socket is open and mute
            s.recv(65536)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(sim.http_url + "/markets", timeout=httpx.Timeout(10, read=0.5))


def test_faults_apply_to_new_connections_only_and_switch_off(sim):
    sim.admin.faults(net_reset_after_bytes=20)
    assert sim.admin.state() is not None  # the admin's connection predates the fault
    sim.admin.faults(net_reset_after_bytes=0)
    assert httpx.get(sim.http_url + "/markets", timeout=10).status_code == 200


# --- paradexctl stream under connection-level faults ----------------------------------------
# The fault is set, then the sim drops the stream's WebSocket: the stream's new connection is
# the first one opened under the fault (its REST keep-alive connection predates it).


@pytest.fixture
def streamer(sim: SimServer, tmp_path: Path) -> Iterator[Any]:
    acct = new_account(sim.http_url)
    jwt = login(sim.http_url, acct)
    http = httpx.Client(base_url=sim.http_url, timeout=10,
                        headers={"Authorization": f"Bearer {jwt}"})  # fmt: skip
    env = dict(os.environ)
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               PARADEX_ENV="local", PARADEX_API_URL=sim.http_url, PARADEX_WS_URL=sim.ws_url,
               PARADEX_ACCOUNT_ADDRESS=acct.address, PARADEX_L2_PRIVATE_KEY=hex(acct.private_key),
               PYTHONUNBUFFERED="1")  # fmt: skip
    env.pop("PARADEXCTL_PROFILE", None)
    write_profile(tmp_path / "config", ws_backoff_base_ms=20, ws_backoff_cap_ms=100,
                  ws_stable_after_s=0)  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "paradexctl", "stream", "orders", "--stale-after", "0.5",
         "-o", "ndjson"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out = Lines(proc)

    def place(price: str) -> str:
        r = http.post("/orders", json=order_body(acct, "BTC-USD-PERP", "BUY", "0.01", price))
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    try:
        out.until("resynced", 20000)
        assert http.get("/account").status_code == 200  # its connection predates the faults
        yield out, place
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
        http.close()


def _reconnect_under(sim: SimServer, out: Lines, **fault: int) -> None:
    sim.admin.faults(**fault)
    sim.admin.disconnect()
    out.until("reconnecting", 10000)
    out.until("connected", 10000)


def test_stream_converges_under_slicing_and_latency(sim, streamer):
    out, place = streamer
    _reconnect_under(sim, out, net_slice_bytes=7, net_latency_ms=30)
    out.until("resynced", 20000)
    order_id = place("41000")
    got = out.first(lambda ln: ln.get("type") == "update" and ln.get("key") == order_id,
                    "the order's update", 20)  # fmt: skip
    assert got[-1]["data"]["status"] in ("NEW", "OPEN")
    assert sim.admin.state()["faults"]["injected"]["net_sliced_writes"] > 0


def test_stream_reconnects_after_a_reset(sim, streamer):
    out, place = streamer
    _reconnect_under(sim, out, net_reset_after_bytes=700)
    for price in [f"4{i:04d}" for i in range(1, 13)]:  # notifications past 700 bytes
        place(price)
    out.until("reconnecting", 10000)
    assert sim.admin.state()["faults"]["injected"]["net_resets"] >= 1


def test_stream_marks_a_half_open_connection_stale(sim, streamer):
    out, place = streamer
    _reconnect_under(sim, out, net_half_open_after_bytes=700)
    for price in [f"4{i:04d}" for i in range(1, 13)]:
        place(price)
    stale = out.until("stale", 10000)
    assert stale[-1]["silent_ms"] >= 500
    assert sim.admin.state()["faults"]["injected"]["net_half_open"] >= 1

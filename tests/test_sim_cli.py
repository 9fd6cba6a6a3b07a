"""``paradexctl sim`` as a process: prints its URLs, serves, exits 0 on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, "-m", "paradexctl", "sim", "--port", "0", "-o", "json"]
    cmd += ["--signing-tables", "small", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    if not line or not line[0]:
        proc.kill()
        proc.wait()
        raise AssertionError(f"sim did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line[0])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_prints_urls_serves_and_exits_cleanly(sig: signal.Signals) -> None:
    proc, info = start("--seed", "5", "--markets", "BTC-USD-PERP,ETH-USD-PERP")
    try:
        assert info["event"] == "ready" and info["seed"] == 5
        assert info["http_url"] == f"http://127.0.0.1:{info['port']}/v1"
        assert info["ws_url"] == f"ws://127.0.0.1:{info['port']}/v1"
        markets = httpx.get(info["http_url"] + "/markets", timeout=10).json()["results"]
        assert [m["symbol"] for m in markets] == ["BTC-USD-PERP", "ETH-USD-PERP"]
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == ""  # the ready line was the only output
    assert "Traceback" not in err


def test_fault_flags_apply_from_start(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    proc, info = start("--rest-5xx", "1", "--rest-staleness", "orders=250", "--state", str(state))
    try:
        assert httpx.get(info["http_url"] + "/markets", timeout=10).status_code == 503
        assert httpx.get(info["http_url"] + "/markets", timeout=10).status_code == 200
        st = httpx.get(info["admin_url"] + "/state", timeout=10).json()
        assert st["staleness_ms"] == {"default": 0, "orders": 250}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert json.loads(state.read_text())["version"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--markets", "DOGE-USD-PERP"],
        ["--rest-staleness", "nope=5"],
        ["--ws-drop-rate", "1.5"],
        ["--faucet", "lots"],
        ["--admin-allow-origin", "localhost:3000"],
    ],
)
def test_bad_options_exit_2(args: list[str]) -> None:
    from paradexctl.cli.main import main

    assert main(["sim", "--port", "0", *args]) == 2


def test_signature_checks_in_worker_processes() -> None:
    from paradexctl.sim.testing import login, new_account, order_body

    proc, info = start("--verify-workers", "2", "--mark-walk-ms", "0")
    try:
        acct = new_account(info["http_url"])
        jwt = login(info["http_url"], acct)
        with httpx.Client(
            base_url=info["http_url"], headers={"Authorization": f"Bearer {jwt}"}, timeout=30
        ) as c:
            good = order_body(acct, "BTC-USD-PERP", "BUY", "0.01", "90000")
            assert c.post("/orders", json=good).status_code == 201
            bad = dict(good, price="90000.1")
            r = c.post("/orders", json=bad)
            assert r.status_code == 400 and r.json()["error"] == "INVALID_ORDER_SIGNATURE"
            batch = [
                order_body(acct, "BTC-USD-PERP", "BUY", "0.01", str(89000 + i)) for i in range(4)
            ]
            assert len(c.post("/orders/batch", json=batch).json()["orders"]) == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_unusable_state_file_is_a_config_error(tmp_path: Path) -> None:
    from paradexctl.cli.main import main

    bad = tmp_path / "state.json"
    for content in ("not json", '{"version": 1}'):
        bad.write_text(content)
        assert main(["sim", "--port", "0", "--signing-tables", "small", "--state", str(bad)]) == 3


def test_state_with_positions_in_unserved_markets_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from paradexctl.cli.main import main
    from paradexctl.sim.app import SimOptions
    from paradexctl.sim.server import SimServer
    from paradexctl.sim.testing import login, new_account, order_body

    state = tmp_path / "state.json"
    options = SimOptions(mark_walk_ms=0, warm_tables=None, state_file=state)
    with SimServer(options) as sim:
        acct = new_account(sim.http_url)
        h = {"Authorization": f"Bearer {login(sim.http_url, acct)}"}
        body = order_body(acct, "BTC-USD-PERP", "BUY", "0.01")
        assert sim.http.post("/orders", headers=h, json=body).status_code == 201
    args = ["sim", "--port", "0", "--signing-tables", "small", "--state", str(state)]
    capsys.readouterr()
    assert main([*args, "--markets", "ETH-USD-PERP,SOL-USD-PERP"]) == 3
    err = capsys.readouterr().err
    assert "BTC-USD-PERP" in err and "--markets" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err

    # once the position is closed, the same state loads with fewer markets
    with SimServer(options) as sim:
        h = {"Authorization": f"Bearer {login(sim.http_url, acct)}"}
        body = order_body(acct, "BTC-USD-PERP", "SELL", "0.01", flags=["REDUCE_ONLY"])
        assert sim.http.post("/orders", headers=h, json=body).status_code == 201
    eth_only = SimOptions(
        mark_walk_ms=0, warm_tables=None, state_file=state, markets=("ETH-USD-PERP",)
    )
    with SimServer(eth_only) as sim:
        h = {"Authorization": f"Bearer {login(sim.http_url, acct)}"}
        assert sim.http.get("/positions", headers=h).json()["results"] == []
        assert sim.http.get("/account", headers=h).status_code == 200
        fills = sim.http.get("/fills", headers=h).json()["results"]
        assert {f["market"] for f in fills} == {"BTC-USD-PERP"} and len(fills) >= 2

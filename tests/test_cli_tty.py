"""Behaviour on a terminal: interactive ``config init``, tables by default, colour switches,
and the ``-v`` WebSocket trace (the auth frame's JWT is never shown)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from stderr_text import stderr_text

from paradexctl.sim.server import SimServer

ADDR = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"
KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"
BOLD = b"\x1b[1m"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARADEX", "NO_COLOR"))}
    env.update(
        XDG_CONFIG_HOME=str(tmp / "cfg"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        TERM="xterm-256color",
        COLUMNS="200",
        **extra,
    )
    return env


def run_in_pty(
    argv: Sequence[str], env: dict[str, str], answers: Sequence[tuple[str, str]] = ()
) -> tuple[int, bytes]:
    """Run paradexctl with stdin, stdout and stderr on a pseudo-terminal; answer each prompt
    (a substring of the output) with its line. Returns the exit code and everything written."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paradexctl", *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    pending = list(answers)
    buf = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer is gone
                    break
                if not chunk:
                    break
                buf += chunk
            if pending and pending[0][0].encode() in buf:
                prompt, answer = pending.pop(0)
                buf = buf.replace(prompt.encode(), b"<" + prompt.encode() + b">", 1)
                os.write(master, answer.encode() + b"\n")
        else:
            raise AssertionError(f"timed out; output so far: {buf!r}")
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not pending, f"prompts never shown: {pending}; output: {buf!r}"
    return code, buf


def test_config_init_is_interactive_on_a_tty(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    code, out = run_in_pty(
        ["config", "init", "--profile", "mine"],
        _env(tmp_path),
        answers=[
            ("Environment [testnet]:", "local"),
            ("Account address (blank to set later):", ADDR),
            ("Key file path", str(key_file)),
        ],
    )
    assert code == 0, out
    path = tmp_path / "cfg" / "paradexctl" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    import tomllib

    prof = tomllib.loads(path.read_text())["profiles"]["mine"]
    assert prof == {"env": "local", "account_address": ADDR, "key_file": str(key_file)}
    assert KEY[2:].encode() not in out
    assert b"wrote profile 'mine'" in out


def test_config_init_subkey_prompt_left_blank_is_refused(tmp_path: Path) -> None:
    code, out = run_in_pty(
        ["config", "init", "--subkey"],
        _env(tmp_path),
        answers=[
            ("Environment [testnet]:", ""),
            ("Account address (blank to set later):", ""),
            ("Key file path", ""),
        ],
    )
    assert code == 2
    assert b"subkey cannot derive its account address" in out
    assert not (tmp_path / "cfg" / "paradexctl" / "config.toml").exists()


def test_table_is_the_default_on_a_tty(tmp_path: Path) -> None:
    code, out = run_in_pty(["config", "show"], _env(tmp_path))
    assert code == 0, out
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.decode())
    assert "┃ field" in text and "┃ value" in text  # a rich table, not JSON
    assert "│ profile" in text and "testnet" in text
    assert not text.lstrip().startswith("{")
    code, out = run_in_pty(["-o", "json", "config", "show"], _env(tmp_path))
    assert code == 0
    assert json.loads(out.decode())["env"] == "testnet"


@pytest.mark.parametrize(
    ("argv", "extra", "styled"),
    [
        (["config", "show"], {}, True),
        (["config", "show"], {"NO_COLOR": "1"}, False),
        (["config", "show"], {"NO_COLOR": ""}, False),
        (["--no-color", "config", "show"], {}, False),
        (["config", "profiles"], {"NO_COLOR": "1"}, False),
    ],
)
def test_no_color_and_no_color_flag_give_plain_text(
    tmp_path: Path, argv: list[str], extra: dict[str, str], styled: bool
) -> None:
    code, out = run_in_pty(argv, _env(tmp_path, **extra))
    assert code == 0, out
    assert ("field" in out.decode()) or ("profile" in out.decode())
    if styled:
        assert BOLD in out  # the header is bold on a terminal
    else:
        assert b"\x1b[" not in out, out


def test_verbose_websocket_trace_hides_the_jwt(
    sim: SimServer,
    sim_account: Callable[[SimServer], tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    priv, _pub, address = sim_account(sim)
    env = _env(
        tmp_path,
        PARADEX_ENV="local",
        PARADEX_API_URL=sim.http_url,
        PARADEX_WS_URL=sim.ws_url,
        PARADEX_ACCOUNT_ADDRESS=address,
        PARADEX_L2_PRIVATE_KEY=hex(priv),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "paradexctl", "-v", "stream", "--duration", "1.5", "-o", "ndjson"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    trace = stderr_text(proc.stderr)
    auth_lines = [ln for ln in trace.splitlines() if ln.startswith("ws> {auth")]
    assert auth_lines and all("bearer=***" in ln for ln in auth_lines), trace
    assert any(ln.startswith("ws> ") and "subscribe" in ln for ln in trace.splitlines())
    jwt_files = list((tmp_path / "cache" / "paradexctl").glob("jwt-*.json"))
    assert len(jwt_files) == 1
    token_text = json.loads(jwt_files[0].read_text())["jwt"]
    jwt_parts = [p for p in token_text.split(".") if len(p) > 8]
    assert len(jwt_parts) >= 2
    for part in jwt_parts:
        assert part not in trace and part not in proc.stdout
    assert "eyJ" not in trace
    assert hex(priv)[2:] not in trace


def test_waits_and_retries_show_progress_on_a_terminal_and_nowhere_else(
    sim: SimServer,
    sim_account: Callable[[SimServer], tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    from conftest import write_profile

    priv, _pub, _address = sim_account(sim)
    env = _env(tmp_path, PARADEX_ENV="local", PARADEX_API_URL=sim.http_url,
               PARADEX_WS_URL=sim.ws_url, PARADEX_L2_PRIVATE_KEY=hex(priv))  # fmt: skip
    write_profile(tmp_path / "cfg", retry_base_ms=5)
    # a retry: the first GET /markets answers 503
    sim.admin.faults(rest_5xx=1)
    code, out = run_in_pty(["markets", "--refresh"], env)
    assert code == 0, out
    assert re.search(rb"retrying GET /markets in \d+\.\d s \(2/4; HTTP 503", out), out
    sim.admin.faults(rest_5xx=1)
    piped = subprocess.run([sys.executable, "-m", "paradexctl", "markets", "--refresh"],
                           env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert piped.returncode == 0 and "retrying" not in piped.stderr, piped.stderr
    sim.admin.faults(rest_5xx=1)
    code, out = run_in_pty(["-q", "markets", "--refresh"], env)
    assert code == 0 and b"retrying" not in out
    # smoke's steps as they end, and reconcile's phases
    code, out = run_in_pty(["smoke", "--timeout", "5", "--window", "0.3", "--grace", "0.3"], env)
    assert code == 0, out
    text = out.decode(errors="replace")
    ended = re.findall(r"smoke: (\w+) passed in \d+ ms", text)
    assert ended[:3] == ["auth", "markets", "ws"] and "cleanup" in ended, text
    assert text.index("smoke: auth passed") < text.index("SMOKE PASSED")  # before the table
    code, out = run_in_pty(["reconcile", "--window", "0.3", "--grace", "0.2"], env)
    assert code == 0, out
    for phase in (b"collecting for 0.3 s", b"window over, grace 0.2 s", b"grace over"):
        assert phase in out, out
    code, out = run_in_pty(["order", "place", "BTC-USD-PERP", "buy", "0.01", "--price", "50000",
                            "--wait", "open", "--timeout", "10"], env)  # fmt: skip
    assert code == 0, out
    assert re.search(rb"order \d+ is NEW: waiting up to 10 s for it to be open", out), out


class PtyProc:
    """paradexctl on a pseudo-terminal, read until a condition holds (with a deadline)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        import signal

        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paradexctl", *argv], stdin=slave, stdout=slave,
            stderr=slave, env=env, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        os.close(slave)
        self.buf = b""

    def until(self, pattern: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.buf)
        while pattern not in self.buf[start:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout} s: {self.buf[-3000:]!r}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.buf += os.read(self.master, 65536)
                except OSError:
                    raise AssertionError(
                        f"ended before {pattern!r}: {self.buf[-3000:]!r}"
                    ) from None

    def interrupt(self) -> int:
        import signal

        os.killpg(self.proc.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.buf += os.read(self.master, 65536)
                except OSError:
                    break
        return self.proc.wait(timeout=30)

    def close(self) -> None:
        os.close(self.master)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_watch_redraws_the_table_from_the_stream_and_ends_on_ctrl_c(
    sim: SimServer,
    sim_account: Callable[[SimServer], tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    from paradexctl.sim.testing import SimAccount, login, order_body

    priv, pub, address = sim_account(sim)
    acct = SimAccount(priv, pub, address)
    http = __import__("httpx").Client(base_url=sim.http_url, timeout=10, headers={
        "Authorization": f"Bearer {login(sim.http_url, acct)}"})  # fmt: skip
    assert http.post("/orders", json=order_body(acct, "BTC-USD-PERP", "BUY", "0.01", "50000",
                                                client_id="watch-1")).status_code == 201  # fmt: skip
    env = _env(tmp_path, PARADEX_ENV="local", PARADEX_API_URL=sim.http_url,
               PARADEX_WS_URL=sim.ws_url, PARADEX_L2_PRIVATE_KEY=hex(priv))  # fmt: skip
    p = PtyProc(["orders", "list", "--watch"], env)
    try:
        p.until(b"watch-1")  # the REST snapshot of the subscription
        assert http.post("/orders", json=order_body(acct, "BTC-USD-PERP", "BUY", "0.01", "50001",
                                                    client_id="watch-2")).status_code == 201  # fmt: skip
        p.until(b"watch-2")  # the WebSocket update, redrawn
        assert http.delete("/orders/by_client_id/watch-1").status_code == 204

        def last_table() -> bytes:  # the most recent redraw: from its top border on
            return p.buf[p.buf.rfind("┏".encode()) :]

        deadline = time.monotonic() + 30
        while not (b"watch-2" in last_table() and b"watch-1" not in last_table()):
            assert time.monotonic() < deadline, last_table()
            p.until(b"\n", timeout=5)  # more output: a redraw
        assert b"watch-2" in last_table() and b"watch-1" not in last_table()
        assert p.interrupt() == 130
    finally:
        p.close()
        http.close()


def test_watch_with_ndjson_prints_each_change(
    sim: SimServer,
    sim_account: Callable[[SimServer], tuple[int, str, str]],
    tmp_path: Path,
) -> None:
    import signal

    priv, _pub, _address = sim_account(sim)
    env = _env(tmp_path, PARADEX_ENV="local", PARADEX_API_URL=sim.http_url,
               PARADEX_WS_URL=sim.ws_url, PARADEX_L2_PRIVATE_KEY=hex(priv))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "paradexctl", "balances", "-w"],  # a pipe: NDJSON
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    import queue
    import threading

    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True)
    reader.start()
    try:
        kinds: list[str] = []
        deadline = time.monotonic() + 30
        while "resynced" not in kinds:
            try:  # a line, or the deadline: never a read that blocks for ever
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no resynced line within 30 s: {kinds}") from None
            obj = json.loads(line)
            kinds.append(obj["type"])
            if obj["type"] == "update":
                assert obj["channel"] == "balances" and obj["data"]["token"] == "USDC"
        assert kinds[:2] == ["connected", "subscribed"] and "update" in kinds, kinds
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def test_watch_refuses_what_it_cannot_show(tmp_path: Path) -> None:
    env = _env(tmp_path, PARADEX_ENV="local")
    for argv, message in (
        (["orders", "list", "--watch", "--history"], "--history cannot be used"),
        (["-o", "csv", "positions", "--watch"], "not csv"),
        (["--jq", ".", "balances", "-w"], "--watch cannot be combined with --jq"),
    ):
        done = subprocess.run([sys.executable, "-m", "paradexctl", *argv], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 2 and message in done.stderr, (argv, done.stderr)


@pytest.mark.parametrize("width", [80, 120])
def test_tables_fit_the_terminal_ids_unwrapped_headers_whole_times_human(
    sim: SimServer,
    sim_account: Callable[[SimServer], tuple[int, str, str]],
    tmp_path: Path,
    width: int,
) -> None:
    priv, _pub, _address = sim_account(sim)
    env = _env(tmp_path, PARADEX_ENV="local", PARADEX_API_URL=sim.http_url,
               PARADEX_WS_URL=sim.ws_url, PARADEX_L2_PRIVATE_KEY=hex(priv))  # fmt: skip
    env["COLUMNS"] = str(width)
    placed = subprocess.run(
        [sys.executable, "-m", "paradexctl", "-o", "json", "order", "place", "BTC-USD-PERP", "buy",
         "0.01", "--type", "market", "--wait", "filled"], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    order_id = json.loads(placed.stdout)["order_id"]
    subprocess.run([sys.executable, "-m", "paradexctl", "order", "place", "BTC-USD-PERP", "buy",
                    "0.01", "--price", "50000", "--client-id", "tty-order-1"], env=env,
                   capture_output=True, timeout=60, check=True)  # fmt: skip
    known = {"id", "client_id", "market", "side", "type", "size", "remaining_size", "price",
             "status", "cancel_reason", "created_at", "average_entry_price", "unrealized_pnl",
             "liquidation_price", "last_updated_at", "liquidity", "fee", "order_id", "step",
             "duration_ms", "detail"}  # fmt: skip
    for argv in (["orders", "list"], ["positions"], ["fills"],
                 ["smoke", "--timeout", "5", "--window", "0.3", "--grace", "0.3"]):  # fmt: skip
        code, raw = run_in_pty(argv, env)
        assert code == 0, raw
        text = re.sub(r"\x1b\[[0-9;]*m", "", raw.decode()).replace("\r", "")
        table = [ln for ln in text.splitlines() if ln[:1] in "┏┃┡│└"]
        assert table, text
        assert all(len(ln) <= width for ln in table), (argv, width, text)
        header = next(ln for ln in table if ln.startswith("┃"))
        names = [c.strip() for c in header.strip("┃").split("┃")]
        assert set(names) <= known, (argv, names)  # every header whole, none split
        assert len([ln for ln in table if ln.startswith("┃")]) == 1  # on one line
        cells = [c.strip() for ln in table if ln.startswith("│") for c in ln.strip("│").split("│")]
        for c in cells:  # an id is whole or cut with its marker, never broken over lines
            if c.isdigit() and len(c) > 16:
                assert c == order_id or len(c) == len(order_id), (argv, c)
        if argv[0] in ("orders", "fills"):
            # today's time, or a date and time when the run crossed midnight
            times = [c for c in cells if re.fullmatch(r"(\d{4}-\d\d-\d\d )?\d\d:\d\d(:\d\d)?", c)]
            raw_ms = [c for c in cells if re.fullmatch(r"1\d{12}", c)]
            if "created_at" in names:
                assert times and not raw_ms, (argv, cells)
        if argv[0] == "fills" and width == 80:
            assert any("…" in c for c in cells) or order_id in cells  # the marker, or room

"""``--state`` on a full disk: a save is written whole or not at all, the last good file
survives, the failure is logged once and retried, and a failed final save exits nonzero."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from paradexctl.sim.app import SimApp, SimOptions
from paradexctl.sim.testing import new_account

pytestmark = pytest.mark.e2e


def options(state: Path) -> SimOptions:
    return SimOptions(mark_walk_ms=0, warm_tables=None, state_file=state)


class FullDisk:
    """A state writer that fails like a full disk until ``full`` is cleared."""

    def __init__(self) -> None:
        self.full = True
        self.calls = 0

    def __call__(self, path: Path, data: bytes) -> None:
        self.calls += 1
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        path.write_bytes(data)


def test_failed_save_keeps_the_last_good_file_logs_once_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state.json"
    good = SimApp(options(state))
    good.dirty = True
    assert good.save() is True
    before = state.read_bytes()

    disk = FullDisk()
    sim = SimApp(options(state), write_state=disk)
    sim.engine.set_mark("BTC-USD-PERP", sim.engine.mark("BTC-USD-PERP") + 100, 0)
    sim.dirty = True
    with caplog.at_level(logging.WARNING, logger="paradexctl.sim"):
        assert sim.save() is False
        assert sim.save() is False  # retried (dirty is still set), logged only once
        assert disk.calls == 2 and sim.dirty
        assert state.read_bytes() == before  # the last good save is untouched
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "No space left on device" in errors[0], errors
        disk.full = False
        assert sim.save() is True and not sim.dirty and sim.save_error is None
    assert any("saved to" in r.getMessage() for r in caplog.records)
    assert state.read_bytes() != before
    assert SimApp(options(state)).engine.mark("BTC-USD-PERP") == sim.engine.mark("BTC-USD-PERP")


def start_sim(state: Path, fsize_limit: int | None = None) -> tuple[subprocess.Popen[str], Any]:
    """``paradexctl sim --state`` in a subprocess, optionally with a file-size limit (a short
    write, then EFBIG: what a filling disk does; Python ignores SIGXFSZ)."""
    args = ["sim", "--port", "0", "-o", "json", "--signing-tables", "small"]
    args += ["--verify-workers", "0", "--mark-walk-ms", "0", "--state", str(state)]
    code = (
        "import resource, runpy, sys\n"
        "n = int(sys.argv[1])\n"
        "if n: resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))\n"
        "sys.argv = ['paradexctl', *sys.argv[2:]]\n"
        "runpy.run_module('paradexctl', run_name='__main__')\n"
    )
    cmd = [sys.executable, "-c", code, str(fsize_limit or 0), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    if not line or not line[0]:
        proc.kill()
        proc.communicate()
        raise AssertionError("sim did not start")
    return proc, json.loads(line[0])


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def test_full_disk_at_shutdown_exits_nonzero_and_keeps_the_last_good_state(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    proc, info = start_sim(state)
    try:
        first = new_account(info["http_url"])
    finally:
        rc, err = stop(proc)
    assert rc == 0, err
    good = state.read_bytes()

    # room for a little more than the good file: the next saves are cut short
    proc, info = start_sim(state, fsize_limit=len(good) + 64)
    try:
        for _ in range(3):
            new_account(info["http_url"])
    finally:
        rc, err = stop(proc)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 3, err
    assert "Traceback" not in err
    assert "the final state is lost" in lines[-1] and str(state) in lines[-1], lines
    assert state.read_bytes() == good  # never replaced by a truncated file

    proc, info = start_sim(state)  # and it still loads
    try:
        accounts = httpx.get(info["admin_url"] + "/state", timeout=10).json()["accounts"]
        assert first.address in accounts
    finally:
        rc, err = stop(proc)
    assert rc == 0, err

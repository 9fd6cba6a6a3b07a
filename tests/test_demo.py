"""`make demo` end to end: ``scripts/demo.sh`` against its own sim, as the README runs it
(the venv's bin first on PATH), in a throw-away HOME and temporary directory."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _json_docs(text: str) -> list[object]:
    """Every JSON value printed on stdout (NDJSON lines and indented documents)."""
    decoder = json.JSONDecoder()
    docs: list[object] = []
    i = 0
    while True:
        i = min((j for j in (text.find("{", i), text.find("[", i)) if j >= 0), default=-1)
        if i < 0:
            return docs
        try:
            doc, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        docs.append(doc)
        i = end


def _processes_mentioning(marker: bytes) -> list[int]:
    """Our own processes whose environment mentions ``marker`` (every process the demo
    starts inherits its TMPDIR)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_make_demo_runs_its_tour_and_leaves_nothing_behind(tmp_path: Path) -> None:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PARADEX", "XDG_")) and k not in ("PYTHONTRACEMALLOC",)
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        TMPDIR=str(tmp),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PARADEXCTL_PROFILE="mine",  # the demo must ignore the user's profile
    )
    proc = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=240,  # bounds a hang only: a loaded 2-core machine runs the tour 5x slower
    )  # fmt: skip
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0, f"stdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
    assert "Traceback" not in err

    # the sim's pid and port, printed by the script
    m = re.search(r"^sim: http://127\.0\.0\.1:(\d+)/v1 +ws://\S+ +\(pid (\d+)\)$", out, re.M)
    assert m, out[:2000]
    port, sim_pid = int(m.group(1)), int(m.group(2))

    # the key outcomes, in the order the tour runs them
    assert re.search(r"^account 0x[0-9a-f]+ is onboarded$", err, re.M), err
    assert re.search(r"^order \d+ \(client_id demo-2\) is closed$", err, re.M), err
    docs = [d for d in _json_docs(out) if isinstance(d, dict)]
    (recon,) = [d for d in docs if d.get("schema") == "paradexctl.reconcile/1"]
    assert recon["verdict"] == "consistent" and recon["exit_status"] == 0
    assert recon["failing"] == 0 and recon["rows"] == []
    (smoke,) = [d for d in docs if "verdict" in d and "steps" in d]
    assert smoke["ok"] is True, smoke
    assert {s["status"] for s in smoke["steps"]} == {"passed"}
    streamed = [d for d in docs if d.get("type") in ("connected", "subscribed", "update")]
    assert [d["type"] for d in streamed][:2] == ["connected", "subscribed"]
    assert out.rstrip().endswith(
        "Demo finished: the sim is stopped and its temporary state removed."
    )

    # nothing left running: the sim (and any worker it started) is gone, its port closed
    leftovers = _processes_mentioning(str(tmp).encode())
    for pid in leftovers:  # do not leak them into the rest of the test run
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert leftovers == []
    with pytest.raises(ProcessLookupError):
        os.kill(sim_pid, 0)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))
    # its temporary state is removed, and the user's own config and cache are untouched
    assert list(tmp.iterdir()) == []
    assert not (home / ".config").exists() and not (home / ".cache").exists()

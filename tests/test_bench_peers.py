"""bench/peers.py's pure helpers and its command line work without the SDK installed.

The benchmark itself (``make bench-peers``) needs the peer virtualenv and is never run here."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "peers.py"


@pytest.fixture(scope="module")
def peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_spread_median_and_nearest_rank_percentiles(peers: ModuleType) -> None:
    d = peers.spread([5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 7.0, 8.0, 9.0, 0.0])
    assert (d["median"], d["p10"], d["p90"], d["min"], d["max"], d["n"]) == (
        5.0, 1.0, 9.0, 0.0, 10.0, 11,
    )  # fmt: skip
    with pytest.raises(ValueError):
        peers.spread([])


def test_ratio_text_says_faster_or_slower_for_paradexctl(peers: ModuleType) -> None:
    assert peers.ratio_text(10.0, 40.0, higher_is_better=False) == "4.00x faster"
    assert peers.ratio_text(40.0, 10.0, higher_is_better=False) == "4.00x slower"
    assert peers.ratio_text(30_000.0, 10_000.0, higher_is_better=True) == "3.00x faster"
    assert peers.ratio_text(0.0, 1.0, higher_is_better=True) == "n/a"


def test_alternate_swaps_the_order_every_round(peers: ModuleType) -> None:
    calls: list[str] = []

    def side(name: str) -> float:
        calls.append(name)
        return float(len(calls))

    got = peers.alternate({"a": lambda: side("a"), "b": lambda: side("b")}, 3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert got == {"a": [3.0, 6.0, 7.0], "b": [4.0, 5.0, 8.0]}


def test_help_and_a_missing_peer_venv_need_no_sdk(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "--peers-python" in out.stdout
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), "--peers-python", str(tmp_path / "python")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "make bench-peers" in missing.stderr and "Traceback" not in missing.stderr

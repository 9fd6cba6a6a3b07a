#!/usr/bin/env python3
"""Start-up time of `paradexctl --version` and `--help`, against real floors and peers.

Run: .venv/bin/python bench/startup.py [--runs N] [--peers-python PATH]

Prints the median and p10-p90 wall time of each command over N fresh processes (interleaved
so that machine noise hits all alike):

* ``python -c pass``, the interpreter's own start, always: ``--version`` is compared with it
  (paradexctl answers ``--version`` before importing typer, so a ratio against a typer app
  would only say that typer was skipped; the time above the bare interpreter is what counts);
* a bare typer app's ``--help``: ``paradexctl --help`` must render through typer, goal <= 1.5x;
* ``paradex-cli --help`` (paradex-cli 0.2.1, which has no ``--version``) and its
  interpreter's ``python -c pass``, when the peer virtualenv exists (``make bench-peers``
  builds ``.venv-peers``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_APP = '''
import typer

app = typer.Typer(add_completion=False, rich_markup_mode=None)


def _version(value: bool) -> None:
    if value:
        print("bare 0.0.0")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True)) -> None:
    """A bare typer app."""


@app.command()
def hello() -> None:
    """Say hello."""
    print("hello")


app()
'''


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--peers-python",
        default=str(Path(__file__).resolve().parents[1] / ".venv-peers" / "bin" / "python"),
        help="the peer virtualenv's python (paradex-cli); skipped when absent",
    )
    args = parser.parse_args()
    py = sys.executable
    exe = str(Path(py).with_name("paradexctl"))
    peer_cli = Path(args.peers_python).with_name("paradex-cli")
    with tempfile.TemporaryDirectory() as tmp:
        bare = os.path.join(tmp, "bare.py")
        Path(bare).write_text(BARE_APP)
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "paradexctl --version": [exe, "--version"],
            "paradexctl --help": [exe, "--help"],
            "bare typer --help": [py, bare, "--help"],
        }
        if peer_cli.exists():
            cases["python3.10 -c pass (peer)"] = [args.peers_python, "-c", "pass"]
            cases["paradex-cli --help"] = [str(peer_cli), "--help"]
        for cmd in cases.values():  # warm the page cache and .pyc files
            timed(cmd)
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                samples[name].append(timed(cmd))
    med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    one, five, _ = os.getloadavg()
    print(
        f"runs per command: {args.runs} (wall time, fresh process; "
        f"load average {one:.2f} {five:.2f} on {os.cpu_count()} CPUs)"
    )
    for k, v in samples.items():
        s = sorted(x * 1000 for x in v)
        p10, p90 = s[round(0.1 * (len(s) - 1))], s[round(0.9 * (len(s) - 1))]
        print(f"  {k:28s} median {med[k]:7.1f} ms  (p10-p90 {p10:6.1f}-{p90:6.1f})")
    floor = med["python -c pass"]
    print(
        f"  paradexctl --version above python -c pass: {med['paradexctl --version'] - floor:6.1f} ms"
        f"  ({med['paradexctl --version'] / floor:.2f}x the bare interpreter)"
    )
    ratio = med["paradexctl --help"] / med["bare typer --help"]
    verdict = "ok" if ratio <= 1.5 else "OVER GOAL"
    print(f"  ratio paradexctl/bare typer --help {ratio:5.2f}x  (goal <= 1.5x: {verdict})")
    if "paradex-cli --help" in med:
        ours = med["paradexctl --help"] - floor
        peer = med["paradex-cli --help"] - med["python3.10 -c pass (peer)"]
        print(
            f"  paradex-cli --help / paradexctl --help: "
            f"{med['paradex-cli --help'] / med['paradexctl --help']:.2f}x; above each "
            f"interpreter: {peer:.1f} vs {ours:.1f} ms ({peer / ours:.2f}x)"
        )
    else:
        print(f"  (no {peer_cli}: run `make bench-peers` once to compare with paradex-cli)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Start-up time of `paradexctl --version` and `--help` against a bare typer app.

Run: .venv/bin/python bench/startup.py [--runs N]

Prints the median wall time of each command over N fresh processes (interleaved so that
machine noise hits both alike) and the ratio paradexctl / bare typer. Goal: <= 1.5x.
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
    args = parser.parse_args()
    py = sys.executable
    exe = str(Path(py).with_name("paradexctl"))
    with tempfile.TemporaryDirectory() as tmp:
        bare = os.path.join(tmp, "bare.py")
        Path(bare).write_text(BARE_APP)
        cases = {
            "paradexctl --version": [exe, "--version"],
            "paradexctl --help": [exe, "--help"],
            "bare typer --version": [py, bare, "--version"],
            "bare typer --help": [py, bare, "--help"],
        }
        for cmd in cases.values():  # warm the page cache and .pyc files
            timed(cmd)
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                samples[name].append(timed(cmd))
    med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    print(f"runs per command: {args.runs} (median wall time, fresh process)")
    for k, v in med.items():
        print(f"  {k:24s} {v:7.1f} ms")
    for what in ("--version", "--help"):
        ratio = med[f"paradexctl {what}"] / med[f"bare typer {what}"]
        verdict = "ok" if ratio <= 1.5 else "OVER GOAL"
        print(f"  ratio paradexctl/bare {what:10s} {ratio:5.2f}x  (goal <= 1.5x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

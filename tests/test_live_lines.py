"""scripts/live_lines.py: the size of the live wiring is measured, and no thread runs there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "live_lines.py"
#: the code lines (not blank, not only a comment) of the live wiring after issue 11's
#: refactors (1,708), with room for the work merged beside it; a copy of a consumer's
#: wiring would be far over
MAX_CODE_LINES = 1750


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_the_live_wiring_is_counted_and_within_its_size() -> None:
    done = _run("--max", str(MAX_CODE_LINES))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    for name in ("feed", "stream", "collect", "smoke", "orders"):
        assert f"paradexctl/paradex/{name}.py" in rows
    physical, code, logic = (int(n) for n in rows["total"])
    assert logic < code < physical <= 2 * MAX_CODE_LINES
    assert "threads" not in done.stdout  # none runs its own event loop


def test_a_limit_below_the_count_fails() -> None:
    done = _run("--max", "10")
    assert done.returncode == 1 and "over the limit" in done.stdout

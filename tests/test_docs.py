"""Generated docs and completion scripts must match the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.main import get_command

from paradexctl.cli.main import load_commands

ROOT = Path(__file__).resolve().parents[1]


def test_generated_docs_and_completions_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_command_has_help_text() -> None:
    missing = []

    def walk(cmd, path):  # type: ignore[no-untyped-def]
        if not (cmd.help or "").strip():
            missing.append(" ".join(path))
        for name, child in (getattr(cmd, "commands", None) or {}).items():
            walk(child, [*path, name])

    walk(get_command(load_commands()), ["paradexctl"])
    assert missing == []


def test_every_exit_code_is_documented() -> None:
    from paradexctl.errors import EXIT_CODES

    text = (ROOT / "docs" / "exit-codes.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in text


def test_completion_command_prints_the_shipped_script() -> None:
    for shell in ("bash", "zsh", "fish"):
        proc = subprocess.run(
            [sys.executable, "-m", "paradexctl", "completion", shell],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0
        assert proc.stdout == (ROOT / "completions" / f"paradexctl.{shell}").read_text()
        assert "_PARADEXCTL_COMPLETE" in proc.stdout

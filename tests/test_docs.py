"""Generated docs and completion scripts must match the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
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


def _gen_docs():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_exit_code_is_documented() -> None:
    from paradexctl import errors

    _gen_docs().import_all_modules()  # error classes defined outside errors.py count too
    text = (ROOT / "docs" / "exit-codes.md").read_text()
    assert errors.EXIT_CODES == errors.exit_codes()
    assert sorted(errors.EXIT_CODES) == [0, 1, 2, 3, 4, 5, 6, 7, 74, 130]
    assert errors.EXIT_CODES[2] == errors.UsageError.summary  # the parent's, not a child's
    for code in errors.exit_codes():
        assert f"| {code} |" in text
    for cls in errors.error_classes():
        assert cls.exit_code >= 0 and cls.kind
        assert f"| {cls.exit_code} |" in text, cls
    for cls in errors.documented_classes():
        assert f"`{cls.__name__}` | `{cls.kind}` |" in text, cls


def test_a_new_error_class_is_picked_up_without_editing_a_list() -> None:
    import gc

    from paradexctl import errors

    class Bogus(errors.ConfigError):
        exit_code = 9
        kind = "bogus"
        summary = "a made-up failure"

    try:
        assert Bogus in errors.error_classes()
        assert errors.exit_codes()[9] == "a made-up failure"
        assert Bogus in errors.documented_classes()
        text = _gen_docs().exit_codes_md()
        assert "| 9 | a made-up failure | `Bogus` | `bogus` |" in text
        assert text.index("| 9 |") < text.index("| 70 |") < text.index("| 130 |")
    finally:
        del Bogus
        gc.collect()
    assert 9 not in errors.exit_codes()


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


def test_the_man_page_renders_without_warnings_and_has_every_command() -> None:
    import shutil
    import subprocess

    from paradexctl.cli.main import COMMAND_TABLE

    page = (ROOT / "docs" / "man" / "paradexctl.1").read_text()
    for name in COMMAND_TABLE:
        assert f"\n.SS paradexctl {name}\n" in page, name
    assert "\n.SH EXIT STATUS\n" in page and "\n.B 7\n" in page
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    done = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(ROOT / "docs/man/paradexctl.1")],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")


def test_the_wheel_installs_the_man_page() -> None:
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shared = meta["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared == {"docs/man/paradexctl.1": "share/man/man1/paradexctl.1"}

"""The CLI edge: global options, lazy imports, error reporting and the exit-code contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paradexctl import __version__, errors
from paradexctl.cli import config as cli_config
from paradexctl.cli import main as cli_main

HEAVY = ("httpx", "websockets", "starlette", "uvicorn", "rich")
#: the sim modules a command's registration may import: the fault table, standard library only
LIGHT_SIM = ("paradexctl.sim", "paradexctl.sim.faults")


def _run(
    *args: str, env: dict[str, str] | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "paradexctl", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["config", "--help"]])
def test_help_and_version_do_not_import_heavy_modules(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from paradexctl.cli.main import main\n"
        f"rc = main({argv!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r} or m.startswith('paradexctl.signing') or m.startswith('paradexctl.sim'))\n"
        # the sim's fault table (stdlib only) declares the `sim` command's flags
        f"heavy = [m for m in heavy if m not in {LIGHT_SIM!r}]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    heavy_line = [ln for ln in proc.stdout.splitlines() if ln.startswith("HEAVY=")][-1]
    assert heavy_line == "HEAVY=", f"imported on {argv}: {heavy_line}"


def test_version_prints_package_version() -> None:
    proc = _run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"paradexctl {__version__}"


def test_unknown_option_is_usage_error_exit_2() -> None:
    proc = _run("--no-such-flag")
    assert proc.returncode == 2
    assert proc.stderr == "paradexctl: no such option: --no-such-flag (see 'paradexctl --help')\n"
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_invalid_output_format_is_exit_2() -> None:
    proc = _run("-o", "xml", "config", "show")
    assert proc.returncode == 2
    assert "table, json, ndjson" in proc.stderr


@pytest.mark.parametrize(
    "exc",
    [
        errors.CheckFailed("mismatch"),
        errors.UsageError("bad input"),
        errors.ValidationError("price off tick"),
        errors.ConfigError("no key"),
        errors.ExchangeRejected("rejected", code="ORDER_IS_CLOSED", status=400),
        errors.ExchangeUnavailable("down"),
        errors.OutcomeUnknown("order outcome unknown for client_id abc", client_id="abc"),
        errors.Interrupted("interrupted"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_error_class_exits_with_its_code_through_the_cli_edge(
    exc: errors.ParadexctlError,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise exc

    monkeypatch.setattr(cli_config, "load_config", boom)
    rc = cli_main.main(["config", "profiles"])
    assert rc == exc.exit_code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"paradexctl: {exc.message}"
    assert "Traceback" not in captured.err


def test_error_is_json_on_stderr_with_explicit_json_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise errors.OutcomeUnknown("outcome unknown for client_id c-1", client_id="c-1")

    monkeypatch.setattr(cli_config, "load_config", boom)
    rc = cli_main.main(["-o", "json", "config", "profiles"])
    assert rc == 6
    err = json.loads(capsys.readouterr().err)
    assert err == {
        "type": "error",
        "error": "outcome_unknown",
        "exit_code": 6,
        "message": "outcome unknown for client_id c-1",
        "details": {"client_id": "c-1"},
    }


def test_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_config, "load_config", boom)
    assert cli_main.main(["config", "profiles"]) == 130


def test_unexpected_exception_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli_config, "load_config", boom)
    assert cli_main.main(["config", "profiles"]) == cli_main.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaboom" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["-o", "ndjson", "config", "show"],
        ["-o", "json", "config", "show"],
        ["-o", "table", "config", "show"],
        ["--version"],
        ["-q", "--version"],
        ["--help"],
        ["config", "--help"],
        ["completion", "bash"],
        ["sign", "auth", "--timestamp", "1", "-o", "table"],
    ],
)
def test_broken_pipe_exits_quietly(tmp_path: Path, argv: list[str]) -> None:
    # The reader goes away before paradexctl writes (as with `| head`): no traceback, status 0.
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path),
        "PARADEX_L2_PRIVATE_KEY": "0x1234",
        "PARADEX_ACCOUNT_ADDRESS": "0x1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "paradexctl", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # closed long before the child has imported anything
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""


def test_default_output_is_json_when_piped(tmp_path: Path) -> None:
    proc = _run("config", "show", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["profile"] == "default"


def test_command_map_matches_what_each_module_registers() -> None:
    # main() imports only the module of the command being run; the map must be exact.
    import importlib

    import typer
    from typer.main import get_command

    for module in cli_main.COMMAND_MODULES:
        probe = typer.Typer()

        @probe.command("_probe_anchor")
        def _anchor() -> None:  # a second command keeps typer from collapsing the group
            """Anchor."""

        importlib.import_module(f"paradexctl.cli.{module}").register(probe)
        names = set(get_command(probe).commands) - {"_probe_anchor"}  # type: ignore[attr-defined]
        expected = {cmd for cmd, mod in cli_main.COMMANDS.items() if mod == module}
        assert names == expected, module


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["--env", "local", "-o", "json", "order", "place"], "order"),
        (["--profile=x", "stream"], "stream"),
        (["-v", "-q", "markets"], "markets"),
        (["--help"], None),
    ],
)
def test_command_name_skips_root_options(argv: list[str], name: str | None) -> None:
    assert cli_main._command_name(argv) == name


def test_command_table_summaries_match_the_real_commands() -> None:
    from typer._click import Context
    from typer.main import get_command

    root = get_command(cli_main.load_commands())
    ctx = Context(root, info_name="paradexctl")
    real = {n: root.get_command(ctx, n).get_short_help_str(10_000) for n in root.list_commands(ctx)}
    # (the order is checked by the help comparison below, in fresh processes)
    assert {n: s for n, (_m, s) in cli_main.COMMAND_TABLE.items()} == real


def test_root_help_without_loading_modules_equals_the_fully_loaded_help() -> None:
    lazy = _run("--help")
    code = (
        "from paradexctl.cli import main as m\n"
        "m.load_commands()\n"
        "raise SystemExit(m.main(['--help']))\n"
    )
    full = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert lazy.returncode == full.returncode == 0
    assert lazy.stdout == full.stdout
    assert "Commands:" in lazy.stdout and "reconcile" in lazy.stdout


def _complete(shell: str, line: str) -> subprocess.CompletedProcess[str]:
    words = line.split(" ")
    env = {
        "_PARADEXCTL_COMPLETE": f"complete_{shell}",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1),
        "_TYPER_COMPLETE_ARGS": line,
        "_TYPER_COMPLETE_FISH_ACTION": "get-args",
    }
    return _run(env=env)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_at_run_time_offers_matching_commands(shell: str) -> None:
    proc = _complete(shell, "paradexctl si")
    assert proc.returncode == 0, proc.stderr
    assert "not supported" not in proc.stdout + proc.stderr
    if shell == "bash":
        assert sorted(proc.stdout.split()) == ["sign", "sim"]
    else:
        assert '"sign"' in proc.stdout or "\nsign" in "\n" + proc.stdout
        assert '"sim"' in proc.stdout or "\nsim" in "\n" + proc.stdout
        assert "markets" not in proc.stdout


def test_completion_at_run_time_completes_subcommands() -> None:
    proc = _complete("bash", "paradexctl sign o")
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["onboarding", "order"]


def test_shipped_bash_script_fills_compreply(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    exe = tmp_path / "paradexctl"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m paradexctl "$@"\n')
    exe.chmod(0o755)
    script = Path(__file__).parent.parent / "completions" / "paradexctl.bash"
    cmd = (
        f"source {script}; COMP_WORDS=(paradexctl si); COMP_CWORD=1; "
        "_paradexctl_completion paradexctl; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    proc = subprocess.run([bash, "-c", cmd], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["sign", "sim"]

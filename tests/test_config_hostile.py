"""config.toml writes that fail, and key_command output that holds the key (issue 12)."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest

from paradexctl import config
from paradexctl.cli.main import main

KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"
HEX = KEY[2:]
ADDR = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in config.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


# -- a config.toml that cannot be written ----------------------------------------------------


def test_config_init_on_a_full_disk_is_a_config_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # the disk fills while config.toml is written
    capsys.readouterr()
    assert main(["config", "init", "--env", "testnet"]) == 3
    err = capsys.readouterr().err
    assert "cannot write" in err and "No space left on device" in err
    assert "internal error" not in err
    assert not config.config_path().exists()
    assert list(config.config_dir().glob(".config.toml.*")) == []  # no temp file left


def test_config_set_on_a_full_disk_keeps_the_old_file(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "init", "--env", "testnet"]) == 0
    before = config.config_path().read_text()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    capsys.readouterr()
    assert main(["config", "set", "env", "local"]) == 3
    assert "the configuration was not changed" in capsys.readouterr().err
    assert config.config_path().read_text() == before


# -- key_command stderr holding the key ------------------------------------------------------


def _grouped(digits: str, size: int, sep: str = " ") -> str:
    return sep.join(digits[i : i + size] for i in range(0, len(digits), size))


@pytest.mark.parametrize(
    "shown",
    [
        HEX[:28] + " " + HEX[28:],  # the key split by a space: 28 + 34 digits
        "0x" + HEX[:28] + " - " + HEX[28:],
        _grouped(HEX, 4),
        _grouped(HEX, 8, ":"),
        _grouped(HEX[:28], 4),  # only a prefix, in groups (stdout holds the key)
        "key=" + HEX[:20] + "... tail " + HEX[-12:],  # a prefix and a suffix
        HEX[10:26],  # a piece
    ],
)
def test_key_command_stderr_never_shows_a_piece_of_the_key(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    shown: str,
) -> None:
    script = (
        "import sys; print(sys.argv[1]); "
        "sys.stderr.write('cannot unlock: ' + sys.argv[2] + '\\n'); sys.exit(4)"
    )
    cmd = f"{sys.executable} -c \"{script}\" {KEY} '{shown}'"
    monkeypatch.setenv("PARADEX_KEY_COMMAND", cmd)
    monkeypatch.setenv("PARADEX_ACCOUNT_ADDRESS", ADDR)
    capsys.readouterr()
    assert main(["sign", "onboarding"]) == 3
    err = capsys.readouterr().err
    assert "exited with status 4" in err and "cannot unlock: " in err
    # neither the command line shown nor its stderr holds 4+ digits of the key in a row
    for run in "".join(c if c in "0123456789abcdef" else " " for c in err.lower()).split():
        assert not (len(run) >= 4 and run in HEX), (run, err)


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "printf: 2026-12-03 error 0x1f in a bad cafe (exit 4)"
    assert config.redact(text) == text
    assert config.redact(text, KEY) == text
    assert config.redact("printf " + KEY) == "printf <redacted>"
    assert config.redact(_grouped(HEX, 4)) == "<redacted>"

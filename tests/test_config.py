"""Profiles, precedence and credentials (config.py and `paradexctl config`)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from paradexctl import config
from paradexctl.cli.main import main
from paradexctl.errors import ConfigError, UsageError

KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"
ADDR = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in config.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_precedence_flag_over_env_over_profile_over_default(home: Path) -> None:
    cfg = {"profiles": {"p": {"env": "nightly", "account_address": "0xprofile"}}}
    environ = {"PARADEX_ENV": "local", "PARADEX_ACCOUNT_ADDRESS": "0xenv"}
    s = config.resolve_settings(profile="p", env="prod", environ=environ, config=cfg)
    assert (s.env, s.origins["env"]) == ("prod", "flag")
    assert (s.account_address, s.origins["account_address"]) == ("0xenv", "env")
    s = config.resolve_settings(profile="p", environ={}, config=cfg)
    assert (s.env, s.origins["env"]) == ("nightly", "profile")
    assert (s.account_address, s.origins["account_address"]) == ("0xprofile", "profile")
    s = config.resolve_settings(environ={}, config={"profiles": {}})
    assert (s.env, s.origins["env"]) == ("testnet", "default")
    assert s.api_url == "https://api.testnet.paradex.trade/v1"


def test_local_env_points_at_the_sim_and_urls_can_be_overridden(home: Path) -> None:
    s = config.resolve_settings(env="local", environ={}, config={"profiles": {}})
    assert s.api_url.startswith("http://127.0.0.1:")
    assert not s.real_money
    s = config.resolve_settings(
        env="prod", api_url="http://127.0.0.1:1/v1/", environ={}, config={"profiles": {}}
    )
    assert s.api_url == "http://127.0.0.1:1/v1"
    assert s.real_money


def test_unknown_profile_from_flag_is_usage_error(home: Path) -> None:
    # exit 2, as for `config use nope` (issue 17, item 5)
    with pytest.raises(UsageError, match="profile 'nope' does not exist"):
        config.resolve_settings(profile="nope", environ={}, config={"profiles": {"a": {}}})


def test_unknown_env_is_usage_error(home: Path) -> None:
    with pytest.raises(UsageError, match="unknown environment 'mainnet'"):
        config.resolve_settings(env="mainnet", environ={}, config={"profiles": {}})


def test_missing_key_names_the_variable_to_set(home: Path) -> None:
    s = config.resolve_settings(environ={}, config={"profiles": {}})
    with pytest.raises(ConfigError, match="PARADEX_L2_PRIVATE_KEY"):
        config.load_private_key_text(s, environ={})


def test_key_from_env_var(home: Path) -> None:
    environ = {"PARADEX_L2_PRIVATE_KEY": KEY}
    s = config.resolve_settings(environ=environ, config={"profiles": {}})
    assert s.key_source == config.KeySource("env", "PARADEX_L2_PRIVATE_KEY")
    assert config.load_private_key_text(s, environ=environ) == KEY


def test_world_readable_key_file_is_refused_with_chmod_fix(home: Path) -> None:
    key_file = home / "k.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    s = config.resolve_settings(key_file=str(key_file), environ={}, config={"profiles": {}})
    with pytest.raises(ConfigError) as err:
        config.load_private_key_text(s, environ={})
    assert "chmod 600" in str(err.value)
    assert KEY not in str(err.value)
    key_file.chmod(0o600)
    assert config.load_private_key_text(s, environ={}) == KEY


def test_group_readable_key_file_is_refused(home: Path) -> None:
    key_file = home / "k.key"
    key_file.write_text(KEY)
    key_file.chmod(0o640)
    s = config.resolve_settings(key_file=str(key_file), environ={}, config={"profiles": {}})
    with pytest.raises(ConfigError, match="readable by group or others"):
        config.load_private_key_text(s, environ={})


def test_key_command_stdout_is_the_key_and_failures_do_not_leak_stdout(home: Path) -> None:
    ok = f"{sys.executable} -c \"print('{KEY}')\""
    s = config.resolve_settings(environ={"PARADEX_KEY_COMMAND": ok}, config={"profiles": {}})
    assert config.load_private_key_text(s, environ={"PARADEX_KEY_COMMAND": ok}) == KEY
    secret_file = home / "secret"
    secret_file.write_text(KEY)
    bad = f'{sys.executable} -c "import sys; print(open(sys.argv[1]).read()); sys.exit(3)" {secret_file}'
    s = config.resolve_settings(environ={"PARADEX_KEY_COMMAND": bad}, config={"profiles": {}})
    with pytest.raises(ConfigError) as err:
        config.load_private_key_text(s, environ={})
    assert "exited with status 3" in str(err.value)
    assert KEY not in str(err.value)


def test_config_file_written_0600_and_private_key_needs_consent(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "set", "env", "local"]) == 0
    path = config.config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["config", "set", "private_key", KEY]) == 2
    assert KEY not in path.read_text()
    capsys.readouterr()
    assert main(["-o", "json", "config", "set", "private_key", KEY, "--allow-plaintext-key"]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err
    assert KEY not in captured.out and KEY not in captured.err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_config_show_never_prints_the_key(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "set", "private_key", KEY, "--allow-plaintext-key"]) == 0
    assert main(["config", "set", "account_address", ADDR]) == 0
    capsys.readouterr()
    for fmt in ("json", "table", "ndjson"):
        assert main(["-o", fmt, "config", "show"]) == 0
        captured = capsys.readouterr()
        assert KEY not in captured.out + captured.err
        assert KEY[2:] not in captured.out + captured.err
    assert main(["-o", "json", "config", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["account_address"] == ADDR
    assert shown["key_source"].startswith("config.toml profile")


def test_init_profiles_and_use(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["config", "init", "--profile", "a", "--env", "local", "--account-address", ADDR]) == 0
    )
    assert main(["config", "init", "--profile", "b", "--env", "testnet"]) == 0
    assert main(["config", "init", "--profile", "b"]) == 2  # exists, no --force
    capsys.readouterr()
    assert main(["-o", "json", "config", "profiles"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["profile"], r["current"]) for r in rows] == [("a", True), ("b", False)]
    assert main(["config", "use", "b"]) == 0
    assert main(["config", "use", "zzz"]) == 2
    capsys.readouterr()
    assert main(["-o", "json", "config", "show"]) == 0
    assert json.loads(capsys.readouterr().out)["env"] == "testnet"


def test_config_init_does_not_prompt_without_a_tty(home: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "cfg2")}
    proc = subprocess.run(
        [sys.executable, "-m", "paradexctl", "config", "init"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["env"] == "testnet"


def test_invalid_toml_is_config_error(home: Path) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("this is = = not toml")
    assert main(["config", "show"]) == 3


def test_config_init_subkey_needs_the_main_account_address(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["config", "init", "--profile", "sub", "--subkey", "--env", "local"]) == 2
    err = capsys.readouterr().err
    assert "subkey cannot derive its account address" in err
    assert "--account-address" in err
    assert not config.config_path().exists()
    argv = ["-o", "json", "config", "init", "--profile", "sub", "--subkey"]
    assert main([*argv, "--account-address", ADDR]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["subkey"] is True and written["account_address"] == ADDR
    assert main(["-o", "json", "config", "show", "--profile", "sub"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["subkey"] is True and shown["account_address"] == ADDR


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("subkey", "maybe", "subkey must be true or false"),
        ("account_address", "12345", "0x-prefixed hex"),
        ("account_address", "0x" + "1" * 65, "0x-prefixed hex"),
    ],
)
def test_config_set_refuses_malformed_values(
    home: Path, capsys: pytest.CaptureFixture[str], key: str, value: str, needle: str
) -> None:
    capsys.readouterr()
    assert main(["config", "set", key, value]) == 2
    assert needle in capsys.readouterr().err
    assert not config.config_path().exists()


@pytest.mark.parametrize(("value", "stored"), [("true", True), ("no", False), ("1", True)])
def test_config_set_subkey_accepts_booleans(home: Path, value: str, stored: bool) -> None:
    assert main(["config", "set", "subkey", value]) == 0
    assert config.load_config()["profiles"]["default"]["subkey"] is stored


def _plaintext_config(mode: int) -> Path:
    assert main(["config", "set", "private_key", KEY, "--allow-plaintext-key"]) == 0
    assert main(["config", "set", "account_address", ADDR]) == 0
    path = config.config_path()
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_readable_config_with_plaintext_key_is_refused_with_chmod_fix(
    home: Path, capsys: pytest.CaptureFixture[str], mode: int
) -> None:
    path = _plaintext_config(mode)
    capsys.readouterr()
    assert main(["sign", "onboarding", "-o", "json"]) == 3
    captured = capsys.readouterr()
    message = json.loads(captured.err)["message"]
    assert "plaintext private_key" in message
    assert f"chmod 600 {path}" in message
    assert captured.out == ""
    assert KEY[2:] not in captured.err.lower()
    path.chmod(0o600)
    assert main(["sign", "onboarding", "-o", "json"]) == 0
    assert KEY[2:] not in capsys.readouterr().out.lower()


def test_readable_config_without_a_key_in_it_is_not_refused(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _plaintext_config(0o644)
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", KEY)  # the key comes from elsewhere
    assert main(["sign", "onboarding", "-o", "json"]) == 0


def test_redact_replaces_long_hex_runs_only() -> None:
    assert config.redact(f"echo {KEY}") == "echo <redacted>"
    assert config.redact("x" + "a" * 32 + "y") == "x<redacted>y"
    assert config.redact("pass show paradex/0xabc123") == "pass show paradex/0xabc123"
    assert config.redact("a" * 31) == "a" * 31


def test_key_command_embedding_the_key_is_never_echoed(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a failing command that embeds the key and prints it to stderr
    cmd = f"{sys.executable} -c \"import sys; sys.stderr.write('bad key {KEY}\\n'); sys.exit(4)\""
    monkeypatch.setenv("PARADEX_KEY_COMMAND", cmd)
    monkeypatch.setenv("PARADEX_ACCOUNT_ADDRESS", ADDR)
    capsys.readouterr()
    assert main(["sign", "onboarding"]) == 3
    err = capsys.readouterr().err
    assert "exited with status 4" in err and "bad key <redacted>" in err
    assert KEY[2:] not in err.lower() and KEY[2:34] not in err.lower()
    for fmt in ("json", "table"):
        assert main(["-o", fmt, "config", "show"]) == 0
        captured = capsys.readouterr()
        assert "<redacted>" in captured.out
        assert KEY[2:34] not in (captured.out + captured.err).lower()
    # a command that embeds the key but prints nothing usable: invalid-key message
    monkeypatch.setenv("PARADEX_KEY_COMMAND", f"echo not-a-key {KEY}")
    assert main(["sign", "onboarding"]) == 3
    err = capsys.readouterr().err
    assert "invalid private key" in err and KEY[2:34] not in err.lower()


def test_key_command_in_profile_is_redacted_in_config_init_and_set(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["-o", "json", "config", "init", "--key-command", f"echo {KEY}"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["key_command"] == "echo <redacted>"
    assert main(["-o", "json", "config", "set", "key_command", f"printf {KEY}"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["value"] == "printf <redacted>"
    assert KEY[2:34] not in (captured.out + captured.err).lower()


def test_directory_as_key_file_is_named_as_such(home: Path) -> None:
    d = home / "keys"
    d.mkdir(mode=0o755)
    s = config.resolve_settings(key_file=str(d), environ={}, config={"profiles": {}})
    with pytest.raises(ConfigError) as err:
        config.load_private_key_text(s, environ={})
    assert err.value.exit_code == 3
    assert "is a directory" in err.value.message
    assert "chmod" not in err.value.message


def test_key_file_path_with_a_key_in_it_is_redacted(home: Path) -> None:
    s = config.resolve_settings(key_file=f"/nonexistent/{KEY}", environ={}, config={"profiles": {}})
    with pytest.raises(ConfigError) as err:
        config.load_private_key_text(s, environ={})
    assert "does not exist" in err.value.message
    assert KEY[2:34] not in err.value.message.lower()

"""``paradexctl doctor``: each check's row and the exit code, against the sim (a key, no key,
a lax key file, a clock off, an unreachable REST, a release window) and the file-mode check
and the WebSocket probe on their own."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import write_profile

from paradexctl.cli.main import main
from paradexctl.paradex import ws as wsmod
from paradexctl.paradex.doctor import check_file_mode, probe_ws

NAMES = ["config", "environment", "credential", "rest", "system_state", "clock", "auth",
         "jwt_cache", "websocket"]  # fmt: skip


class Cli:
    def __init__(self, capsys: Any) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, dict[str, Any], str]:
        self.capsys.readouterr()
        code = main(["-o", "json", *args])
        cap = self.capsys.readouterr()
        return code, json.loads(cap.out), cap.err

    def rows(self, *args: str) -> tuple[int, dict[str, tuple[str, str]], str]:
        code, report, err = self(*args)
        assert [c["check"] for c in report["checks"]] == NAMES
        return code, {c["check"]: (c["status"], c["detail"]) for c in report["checks"]}, err


@pytest.fixture
def cli(sim: Any, capsys: Any, sim_cli_env: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    sim_cli_env.delenv("PARADEX_L2_PRIVATE_KEY", raising=False)
    write_profile(tmp_path / "config", retry_attempts=1, ws_open_timeout_s=5)
    return Cli(capsys)


pytestmark = pytest.mark.e2e


def test_without_credentials_the_public_checks_pass_and_the_rest_is_skipped(cli: Cli) -> None:
    code, rows, _ = cli.rows("doctor")
    assert code == 0
    assert {k for k, (st, _) in rows.items() if st == "skip"} == {"credential", "auth", "jwt_cache"}
    assert rows["websocket"][0] == "ok" and "connected" in rows["websocket"][1]
    assert rows["config"] == ("ok", rows["config"][1]) and "config.toml" in rows["config"][1]


def test_with_a_key_every_check_passes_and_no_secret_is_shown(
    cli: Cli, sim: Any, sim_account: Any, sim_cli_env: pytest.MonkeyPatch
) -> None:
    priv, _, address = sim_account(sim)
    sim_cli_env.setenv("PARADEX_L2_PRIVATE_KEY", hex(priv))
    code, report, err = cli("doctor")
    assert code == 0 and report["ok"] is True, err
    rows = {c["check"]: c for c in report["checks"]}
    assert all(c["status"] == "ok" for c in rows.values()), rows
    assert address in rows["auth"]["detail"]
    assert "subscribed account" in rows["websocket"]["detail"]
    assert "(mode 0600)" in rows["jwt_cache"]["detail"]
    assert rows["rest"]["ms"] is not None and rows["rest"]["ms"] >= 0
    text = json.dumps(report) + err
    assert hex(priv)[2:] not in text and "eyJ" not in text


def test_a_key_file_others_can_read_fails_with_the_fix(
    cli: Cli, sim: Any, sim_account: Any, sim_cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    priv, _, _ = sim_account(sim)
    key = tmp_path / "lax.key"
    key.write_text(hex(priv))
    key.chmod(0o644)
    sim_cli_env.setenv("PARADEX_L2_KEY_FILE", str(key))
    code, rows, err = cli.rows("doctor")
    assert code == 1 and "DOCTOR: 1 failed (credential)" in err
    assert rows["credential"][0] == "fail" and f"chmod 600 {key}" in rows["credential"][1]
    assert rows["auth"][0] == "skip" and rows["rest"][0] == "ok"


def test_a_clock_off_the_exchange_s_fails_the_clock_check(cli: Cli, sim: Any) -> None:
    sim.admin.advance_time(60_000)
    code, rows, _ = cli.rows("doctor")
    assert code == 1
    assert rows["clock"][0] == "fail" and "behind the exchange's" in rows["clock"][1]


def test_a_release_window_is_a_warning_not_a_failure(cli: Cli, sim: Any) -> None:
    sim.admin.system("post_only")
    code, rows, _ = cli.rows("doctor")
    assert code == 0 and rows["system_state"] == ("warn", "system state post_only")


def test_an_unreachable_rest_api_fails_and_skips_what_needs_it(
    cli: Cli, sim_cli_env: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sim_cli_env.setenv("PARADEX_API_URL", f"http://127.0.0.1:{port}/v1")
    code, rows, _ = cli.rows("doctor")
    assert code == 1 and rows["rest"][0] == "fail" and str(port) in rows["rest"][1]
    assert all(rows[n][0] == "skip" for n in ("system_state", "clock", "auth", "websocket"))


# ----------------------------------------------------------------------------- the parts


def test_the_file_mode_check(tmp_path: Path) -> None:
    f = tmp_path / "k"
    assert check_file_mode("x", f, "key file", required=False).status == "skip"
    assert check_file_mode("x", f, "key file", required=True).status == "fail"
    f.write_text("1")
    f.chmod(0o600)
    assert check_file_mode("x", f, "key file", required=True).status == "ok"
    f.chmod(0o640)
    lax = check_file_mode("x", f, "key file", required=True)
    assert lax.status == "fail" and "-rw-r-----" in lax.detail
    assert check_file_mode("x", tmp_path, "key file", required=True).status == "fail"


def test_the_websocket_probe_reports_a_refused_upgrade_as_a_failure() -> None:
    class Refused:
        def __init__(self, url: str, channels: list[str], **kw: Any) -> None:
            self.queue = kw["queue"]

        async def run(self) -> None:
            await self.queue.put(wsmod.Disconnected("HTTP 503 at the upgrade", None, 0))

        def stop(self) -> None:
            pass

    check = asyncio.run(probe_ws("ws://x.invalid/ws", [], jwt=None, timeout=1,
                                 ws_factory=Refused))  # fmt: skip
    assert (check.name, check.status) == ("websocket", "fail")
    assert "HTTP 503 at the upgrade" in check.detail


def test_the_websocket_probe_gives_up_at_its_deadline() -> None:
    class Silent:
        def __init__(self, url: str, channels: list[str], **kw: Any) -> None:
            pass

        async def run(self) -> None:
            await asyncio.Event().wait()

        def stop(self) -> None:
            pass

    check = asyncio.run(probe_ws("ws://x.invalid/ws", ["account"], jwt=None, timeout=0.05,
                                 ws_factory=Silent))  # fmt: skip
    assert check.status == "fail" and "no answer within" in check.detail


def test_a_path_holding_a_key_is_redacted_and_a_keyless_lax_config_only_warns(
    cli: Cli, sim_cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hexkey = "ab" * 32
    key = tmp_path / f"{hexkey}.key"
    key.write_text("0x1")
    key.chmod(0o644)
    sim_cli_env.setenv("PARADEX_L2_KEY_FILE", str(key))
    cfg = tmp_path / "config" / "paradexctl" / "config.toml"
    cfg.chmod(0o644)  # readable by others, but it holds no key
    code, report, err = cli("doctor")
    rows = {c["check"]: c for c in report["checks"]}
    assert hexkey not in json.dumps(report) + err and "<redacted>" in rows["credential"]["detail"]
    assert rows["config"]["status"] == "warn" and rows["credential"]["status"] == "fail"
    assert code == 1


def test_jq_reads_the_json_shape_on_a_terminal_too(cli: Cli, capsys: Any) -> None:
    capsys.readouterr()
    code = main(["--jq", "[.checks[].check] | length", "doctor"])
    out = capsys.readouterr().out
    assert (code, out) == (0, "9\n")

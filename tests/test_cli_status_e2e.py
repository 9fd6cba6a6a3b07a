"""The exchange's system state end to end against the sim: ``paradexctl status`` (its report
and exit codes), order entry in a release window (refused or warned before signing), and
``smoke`` / ``reconcile`` with the state first and ``--wait-ok``."""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import write_profile

from paradexctl.cli.main import main
from paradexctl.sim.testing import new_account

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"


class Cli:
    def __init__(self, sim: Any, capsys: Any, monkeypatch: Any) -> None:
        self.sim = sim
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        cap = self.capsys.readouterr()
        return code, cap.out, cap.err

    def login_key(self) -> Any:
        acct = new_account(self.sim.http_url)
        self.monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", hex(acct.private_key))
        return acct

    def orders(self, address: str) -> list[Any]:
        return [o for o in self.sim.sim.engine.orders.values() if o.account == address]


@pytest.fixture
def cli(sim: Any, capsys: Any, sim_cli_env: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    sim_cli_env.delenv("PARADEX_L2_PRIVATE_KEY", raising=False)
    write_profile(tmp_path / "config", retry_attempts=2, lookup_rounds=2)
    return Cli(sim, capsys, sim_cli_env)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- status


def test_status_without_credentials_reports_the_exchange_and_exits_0(cli: Cli) -> None:
    before = int(time.time() * 1000)
    code, out, err = cli("-o", "json", "status")
    assert code == 0, err
    report = json.loads(out)
    assert report["system_state"] == "ok"
    assert report["env"] == "local" and report["api_url"] == cli.sim.http_url
    assert report["ws_url"] == cli.sim.ws_url
    assert before <= report["local_time"] <= int(time.time() * 1000)
    assert abs(report["clock_skew_ms"]) < 5_000 and report["round_trip_ms"] >= 0
    assert report["server_time"] - report["local_time"] == report["clock_skew_ms"]
    assert (report["authenticated"], report["key_source"], report["credential"]) == (
        None, None, None,
    )  # fmt: skip


def test_status_with_a_key_authenticates_and_never_prints_the_key(cli: Cli) -> None:
    acct = cli.login_key()
    code, out, err = cli("-o", "json", "status")
    assert code == 0, err
    report = json.loads(out)
    assert report["authenticated"] is True and report["jwt_from"] == "login"
    assert report["account"] == acct.address
    assert report["key_source"] == "environment variable PARADEX_L2_PRIVATE_KEY"
    assert report["credential"] == "full key"
    assert report["jwt_expires_at"] > time.time() * 1000
    key_hex = hex(acct.private_key)[2:]
    assert key_hex not in out and key_hex not in err
    # a second run takes the cached token, which the private read still proves
    code, out, _ = cli("-o", "json", "status")
    assert code == 0 and json.loads(out)["jwt_from"] == "cache"


def test_status_with_a_key_that_is_not_onboarded_reports_it_and_exits_4(cli: Cli) -> None:
    cli.monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", hex(0x1234567))
    code, out, err = cli("-o", "json", "status")
    assert code == 4, err
    report = json.loads(out)
    assert report["authenticated"] is False and "NOT_ONBOARDED" in report["auth_error"]
    assert json.loads(err.strip().splitlines()[-1])["exit_code"] == 4


@pytest.mark.parametrize("state", ["maintenance", "cancel_only", "post_only"])
def test_status_in_a_release_window_prints_the_report_and_exits_7(cli: Cli, state: str) -> None:
    cli.sim.admin.system(state)
    code, out, err = cli("-o", "json", "status")
    assert code == 7
    assert json.loads(out)["system_state"] == state
    error = json.loads(err.strip().splitlines()[-1])
    assert (error["error"], error["details"]) == ("system_state", {"system_state": state})


def test_status_names_a_clock_that_is_off_the_exchange_s(cli: Cli) -> None:
    cli.sim.admin.advance_time(60_000)  # the exchange is a minute ahead of us
    code, out, err = cli("status")
    assert code == 0
    assert 55_000 < json.loads(out)["clock_skew_ms"] < 65_000
    assert "local clock is" in err and "behind the exchange's" in err


def test_status_against_an_unreachable_exchange_exits_5(cli: Cli) -> None:
    cli.monkeypatch.setenv("PARADEX_API_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    code, out, err = cli("status")
    assert code == 5 and out == ""
    assert "Traceback" not in err


def test_wait_ok_gives_up_at_its_deadline_with_exit_7(cli: Cli) -> None:
    cli.sim.admin.system("cancel_only")
    started = time.monotonic()
    code, out, err = cli("status", "--wait-ok", "0.3")
    assert code == 7
    assert "system state cancel_only: waiting for ok" in err  # it did wait
    assert "still so after waiting 0.3 s" in err
    assert json.loads(out)["system_state"] == "cancel_only"  # the report, all the same
    assert time.monotonic() - started < 5


# ----------------------------------------------------------------------------- order entry


@pytest.mark.parametrize("state", ["cancel_only", "maintenance"])
def test_order_place_in_a_stopping_state_sends_nothing_and_exits_7(cli: Cli, state: str) -> None:
    acct = cli.login_key()
    cli.sim.admin.system(state)
    code, out, err = cli("order", "place", BTC, "buy", "0.01", "--price", "50000")
    assert code == 7 and out == ""
    assert f"system state {state}" in err and "not signed or sent" in err
    assert cli.orders(acct.address) == []


def test_order_batch_and_modify_in_cancel_only_send_nothing(cli: Cli, tmp_path: Path) -> None:
    acct = cli.login_key()
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "0.01", "--price", "50000")
    assert code == 0, err
    placed = json.loads(out)
    cli.sim.admin.system("cancel_only")
    batch = tmp_path / "orders.ndjson"
    batch.write_text(
        json.dumps({"market": BTC, "side": "buy", "size": "0.01", "price": "50000"}) + "\n"
    )
    code, _, err = cli("order", "place", "--batch", str(batch))
    assert code == 7, err
    code, _, err = cli("order", "modify", placed["order_id"], "--price", "50100")
    assert code == 7, err
    orders = cli.orders(acct.address)
    assert [(o.id, str(o.price)) for o in orders] == [(placed["order_id"], "50000")]
    # cancelling is what cancel_only is for
    code, _, err = cli("order", "cancel", placed["order_id"])
    assert code == 0, err


def test_order_place_dry_run_does_not_read_the_system_state(cli: Cli) -> None:
    cli.login_key()
    cli.sim.admin.system("cancel_only")
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "0.01", "--price", "50000",
                         "--dry-run")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["dry_run"] is True


def test_order_place_in_post_only_warns_about_a_gtc_order_and_sends_a_post_only_one(
    cli: Cli,
) -> None:
    acct = cli.login_key()
    cli.sim.admin.system("post_only")
    code, _, err = cli("order", "place", BTC, "buy", "0.01", "--price", "50000")
    assert "is not POST_ONLY and will likely be rejected" in err
    assert code == 4 and "SYSTEM_STATUS_POST_ONLY" in err  # the exchange's answer, shown
    assert cli.orders(acct.address) == []
    code, _, err = cli("-o", "json", "order", "place", BTC, "buy", "0.01", "--price", "50000",
                       "--tif", "post-only")  # fmt: skip
    assert code == 0, err
    assert "will likely be rejected" not in err  # no warning this time
    assert [o.instruction for o in cli.orders(acct.address)] == ["POST_ONLY"]


# ----------------------------------------------------------------------------- smoke, reconcile


def test_smoke_in_maintenance_exits_7_places_nothing_and_writes_a_skipped_case(
    cli: Cli, tmp_path: Path
) -> None:
    acct = cli.login_key()
    cli.sim.admin.system("maintenance")
    junit = tmp_path / "smoke.xml"
    code, _, err = cli("-o", "json", "smoke", "--timeout", "2", "--junit", str(junit))
    assert code == 7, err
    assert "the smoke test did not run" in err
    assert cli.orders(acct.address) == []
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("skipped")) == ("1", "1")
    (case,) = suite.findall("testcase")
    skipped = case.find("skipped")
    assert case.get("name") == "system_state" and skipped is not None
    assert "system state maintenance" in (skipped.get("message") or "")


def test_smoke_against_an_unreachable_exchange_exits_5_with_a_failed_case(
    cli: Cli, tmp_path: Path
) -> None:
    cli.login_key()
    cli.monkeypatch.setenv("PARADEX_API_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    junit = tmp_path / "smoke.xml"
    code, _, err = cli("smoke", "--timeout", "2", "--junit", str(junit))
    assert code == 5, err
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    (case,) = suite.findall("testcase")
    assert case.get("name") == "system_state" and case.find("failure") is not None


def test_modifying_a_post_only_order_in_post_only_is_taken(cli: Cli) -> None:
    acct = cli.login_key()
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "0.01", "--price", "50000",
                         "--tif", "post-only")  # fmt: skip
    assert code == 0, err
    oid = json.loads(out)["order_id"]
    cli.sim.admin.system("post_only")
    code, _, err = cli("order", "modify", oid, "--price", "50100")
    assert code == 0, err
    assert "will likely be rejected" not in err
    assert [str(o.price) for o in cli.orders(acct.address)] == ["50100"]


def test_reconcile_wait_ok_waits_for_the_state_and_refuses_a_replay(
    cli: Cli, tmp_path: Path
) -> None:
    cli.login_key()
    cli.sim.admin.system("post_only")
    code, _, err = cli("reconcile", "--wait-ok", "0.2", "--window", "0.2", "--grace", "0.1")
    assert code == 7, err
    cli.sim.admin.system("ok")
    code, _, err = cli("reconcile", "--wait-ok", "5", "--window", "0.2", "--grace", "0.1")
    assert code == 0, err
    replay = tmp_path / "r.ndjson"
    replay.write_text("")
    code, _, err = cli("reconcile", "--replay", str(replay), "--wait-ok", "1")
    assert code == 2 and "--wait-ok and --replay cannot be combined" in err


# ----------------------------------------------------------------------------- --jq


def test_jq_shapes_a_list_and_a_report_and_fails_early(cli: Cli) -> None:
    cli.login_key()
    code, out, err = cli("order", "place", BTC, "buy", "0.01", "--price", "50000",
                         "--client-id", "jq-1")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("orders", "list", "--jq", ".[] | .client_id")
    assert (code, out) == (0, "jq-1\n"), err
    code, out, err = cli("--jq", "[.[] | .seq_no | type]", "orders", "list")
    assert (code, out) == (0, '["string"]\n'), err  # a sequence number is beyond 2**53
    code, out, _ = cli("status", "--jq", ".system_state")
    assert (code, out) == (0, "ok\n")
    code, out, err = cli("orders", "list", "--jq", ".[")
    assert code == 2 and out == "" and "--jq '.['" in err and "syntax error" in err
    code, _, err = cli("reconcile", "--jq", ".", "--window", "0.1")
    assert code == 2 and "--jq filters a command's result" in err

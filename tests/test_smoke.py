"""``paradexctl smoke`` against the sim: it passes; a fault breaks a step (exit 1, the table
names the step and why); SIGINT exits 130; and in every case no order is left open.

Plus the JUnit XML writer, offline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from conftest import default_sigint, write_profile

from paradexctl.cli.main import main
from paradexctl.cli.smoke import junit_xml
from paradexctl.paradex import smoke as smoke_mod
from paradexctl.paradex.smoke import STEPS, Step
from paradexctl.sim.testing import new_account

BTC = "BTC-USD-PERP"


class Env:
    def __init__(self, sim: Any, capsys: Any, tmp_path: Any) -> None:
        self.sim = sim
        self.capsys = capsys
        self.tmp = tmp_path
        self.acct = new_account(sim.http_url)

    def env(self) -> dict[str, str]:
        return {
            "XDG_CONFIG_HOME": str(self.tmp / "config"),
            "XDG_CACHE_HOME": str(self.tmp / "cache"),
            "PARADEX_ENV": "local",
            "PARADEX_API_URL": self.sim.http_url,
            "PARADEX_WS_URL": self.sim.ws_url,
            "PARADEX_L2_PRIVATE_KEY": hex(self.acct.private_key),
            "COLUMNS": "250",
        }

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        cap = self.capsys.readouterr()
        return code, cap.out, cap.err

    def open_orders(self) -> list[Any]:
        engine = self.sim.sim.engine
        return [o for o in engine.orders.values()
                if o.account == self.acct.address and o.status != "CLOSED"]  # fmt: skip

    def orders(self) -> list[Any]:
        return [o for o in self.sim.sim.engine.orders.values() if o.account == self.acct.address]


@pytest.fixture
def env(sim, capsys, tmp_path, monkeypatch) -> Env:
    e = Env(sim, capsys, tmp_path)
    for k, v in e.env().items():
        monkeypatch.setenv(k, v)
    write_profile(tmp_path / "config", retry_base_ms=5, retry_attempts=2, lookup_rounds=2)
    for var in ("PARADEX_ACCOUNT_ADDRESS", "PARADEXCTL_PROFILE", "PARADEX_SUBKEY"):
        monkeypatch.delenv(var, raising=False)
    return e


def steps_by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in report["steps"]}


@pytest.mark.e2e
def test_smoke_passes_and_leaves_nothing(env, tmp_path):
    junit = tmp_path / "smoke.xml"
    code, out, err = env.run("-o", "json", "smoke", "--timeout", "5", "--window", "0.5",
                             "--grace", "0.5", "--junit", str(junit))  # fmt: skip
    assert code == 0, out + err
    report = json.loads(out)
    assert report["ok"] is True
    steps = steps_by_name(report)
    assert list(steps) == [name for name, _ in STEPS]
    assert all(s["status"] == "passed" for s in steps.values())
    assert "CONSISTENT" in steps["reconcile"]["detail"]
    # what it placed: one post-only BUY, minimum size, far below the mark, modified, cancelled
    (order,) = env.orders()
    assert order.status == "CLOSED" and order.cancel_reason == "USER_CANCELED"
    assert order.instruction == "POST_ONLY" and order.side == "BUY"
    assert str(order.size) == "0.001" and order.price < 97000 * 0.98
    assert report["order_id"] == order.id
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(STEPS))
    assert suite.get("failures") == "0" and suite.get("skipped") == "0"


@pytest.mark.e2e
def test_smoke_table_output(env):
    code, out, _ = env.run("-o", "table", "smoke", "--timeout", "5", "--window", "0.3",
                           "--grace", "0.3")  # fmt: skip
    assert code == 0
    assert out.rstrip().splitlines()[-1].startswith("SMOKE PASSED: 12 steps")
    assert "ws_closed" in out and "duration_ms" in out


@pytest.mark.e2e
def test_ws_drop_breaks_the_ack_step_and_the_order_is_cancelled(env, tmp_path):
    env.sim.admin.faults(ws_drop_rate=1.0)
    junit = tmp_path / "smoke.xml"
    code, out, err = env.run("-o", "json", "smoke", "--timeout", "1", "--junit", str(junit))
    assert code == 1
    steps = steps_by_name(json.loads(out))
    assert steps["place"]["status"] == "passed"
    assert steps["ws_ack"]["status"] == "failed"
    assert "no WebSocket update showing the order OPEN" in steps["ws_ack"]["detail"]
    assert {steps[n]["status"] for n in ("rest", "modify", "reconcile")} == {"skipped"}
    assert steps["cleanup"]["status"] == "passed" and "cancelled" in steps["cleanup"]["detail"]
    assert "SMOKE FAILED at ws_ack" in err
    assert env.orders() and env.open_orders() == []
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("skipped") == "6"
    case = next(c for c in suite.iter("testcase") if c.get("name") == "ws_ack")
    failure = case.find("failure")
    assert failure is not None and "OPEN" in (failure.get("message") or "")


@pytest.mark.e2e
def test_failure_prints_the_step_table_and_exits_1(env):
    """The table a person sees on a terminal (-o table) when a fault breaks a step: every step
    with its status and timing, the failed step's reason, the cleanup, then the verdict."""
    env.sim.admin.faults(ws_drop_rate=1.0)
    code, out, _ = env.run("-o", "table", "smoke", "--timeout", "1")
    assert code == 1
    lines = out.rstrip().splitlines()
    header = next(ln for ln in lines if "step" in ln and "status" in ln)
    names = [c.strip() for c in header.split("┃")[1:-1]]
    assert {"step", "status", "duration_ms"} <= set(names)

    def row(step: str) -> dict[str, str]:
        line = next(ln for ln in lines if ln.startswith("│") and f" {step} " in ln)
        cells = [c.strip() for c in line.split("│")[1:-1]]
        return dict(zip(names, cells, strict=True))

    for name, _ in STEPS:
        assert row(name)["step"] == name
    assert row("place")["status"] == "passed"
    assert row("ws_ack")["status"] == "failed"
    assert "OPEN" in row("ws_ack")["detail"]  # the failed step's reason
    assert row("modify")["status"] == "skipped"
    assert row("cleanup")["status"] == "passed" and "cancelled" in row("cleanup")["detail"]
    assert row("place")["duration_ms"].isdigit()
    assert lines[-1].startswith("SMOKE FAILED at ws_ack")
    assert env.orders() and env.open_orders() == []  # nothing left behind


@pytest.mark.e2e
def test_rest_5xx_beyond_the_budget_breaks_a_step_and_the_order_is_cancelled(env, monkeypatch):
    original = smoke_mod.SmokeRun._place

    async def place_then_break_rest(self: Any) -> str:
        result = await original(self)
        env.sim.admin.faults(rest_5xx=2)  # the next two REST calls: one call's whole budget
        return result

    monkeypatch.setattr(smoke_mod.SmokeRun, "_place", place_then_break_rest)
    code, out, _ = env.run("-o", "json", "smoke", "--timeout", "2")
    assert code == 1
    steps = steps_by_name(json.loads(out))
    assert steps["rest"]["status"] == "failed"
    assert "ExchangeUnavailable" in steps["rest"]["detail"] and "503" in steps["rest"]["detail"]
    assert steps["cleanup"]["status"] == "passed"
    assert env.orders() and env.open_orders() == []


@pytest.mark.e2e
def test_placement_with_a_lost_answer_is_found_by_client_id_and_cancelled(env, monkeypatch):
    from paradexctl.errors import ExchangeUnavailable
    from paradexctl.paradex import orders

    original = orders.submit_order

    def placed_but_answer_lost(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)  # the exchange has the order...
        raise ExchangeUnavailable("connection reset (injected)")  # ...the client never knew

    monkeypatch.setattr(orders, "submit_order", placed_but_answer_lost)
    code, out, _ = env.run("-o", "json", "smoke", "--timeout", "2")
    assert code == 1
    report = json.loads(out)
    steps = steps_by_name(report)
    assert steps["place"]["status"] == "failed" and "injected" in steps["place"]["detail"]
    (order,) = env.orders()
    assert steps["cleanup"]["status"] == "passed" and order.id in steps["cleanup"]["detail"]
    assert order.status == "CLOSED" and report["client_id"] == order.client_id


@pytest.mark.e2e
def test_unknown_market_fails_before_placing(env):
    code, out, _ = env.run("-o", "json", "smoke", "--market", "NOPE-USD-PERP", "--timeout", "1")
    assert code == 1
    steps = steps_by_name(json.loads(out))
    assert steps["markets"]["status"] == "failed" and "unknown market" in steps["markets"]["detail"]
    assert steps["cleanup"]["detail"] == "nothing was placed"
    assert env.orders() == []


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_sigint_mid_run_exits_130_and_leaves_no_open_order(env):
    env.sim.admin.faults(ws_drop_rate=1.0)  # the run then waits in ws_ack: time to interrupt
    proc_env = dict(os.environ)
    proc_env.update(env.env())
    proc = subprocess.Popen(
        [sys.executable, "-m", "paradexctl", "-o", "json", "smoke", "--timeout", "120"],
        env=proc_env,
        preexec_fn=default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not env.orders():  # wait until the order exists on the exchange
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the smoke run never placed its order"
            time.sleep(0.05)
        assert env.open_orders()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)  # bounds a hang; the cleanup runs first
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    report = json.loads(out)
    assert report["interrupted"] is True and report["ok"] is False
    steps = steps_by_name(report)
    assert steps["cleanup"]["status"] == "passed"
    assert env.open_orders() == []


# -- JUnit, offline --------------------------------------------------------------------------


def test_junit_xml_shape_and_escaping():
    steps = [Step(name, title) for name, title in STEPS]
    steps[0].status, steps[0].duration_ms, steps[0].detail = "passed", 120, "account 0x1"
    steps[1].status, steps[1].duration_ms = "failed", 2500
    steps[1].detail = 'unexpected <price> & "size"'
    steps[-1].status, steps[-1].detail = "passed", "nothing was placed"
    text = junit_xml(steps, timestamp="2026-01-01T00:00:00")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>')
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        str(len(STEPS)), "1", str(len(STEPS) - 3))  # fmt: skip
    assert suite.get("time") == "2.620" and suite.get("timestamp") == "2026-01-01T00:00:00"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["markets"].find("failure")
    assert failure is not None and failure.get("message") == 'unexpected <price> & "size"'
    assert cases["auth"].get("time") == "0.120"
    assert cases["place"].find("skipped") is not None


@pytest.mark.e2e
def test_smoke_decides_the_same_live_and_on_its_recorded_records(env: Env) -> None:
    """The smoke run's state manager, fed by the live feed, makes the same decisions as a fresh
    one fed the records that feed yielded (the one path of every live consumer)."""
    import contextlib

    from paradexctl.cli._session import live_feed, open_session
    from paradexctl.config import resolve_settings
    from paradexctl.core.reconcile import ReconcileOptions, reconcile
    from paradexctl.core.recording import apply_record
    from paradexctl.core.state import StateManager
    from paradexctl.errors import ParadexctlError
    from paradexctl.paradex.smoke import SmokeOptions, SmokeRun

    def watched(log: list[tuple[str, str, str, bool]]) -> StateManager:
        class Watched(StateManager):
            def apply(self, update: Any, *args: Any, **kw: Any) -> Any:
                d = super().apply(update, *args, **kw)
                log.append((d.kind.value, d.key, d.reason.value, d.accepted))
                return d

        return Watched()

    seen: list[Any] = []

    @contextlib.asynccontextmanager
    async def feed(**options: Any) -> Any:
        async with live_feed(session, settings, **options) as f:
            inner = f.records

            async def tee() -> Any:
                async for r in inner():
                    seen.append(r)
                    yield r

            f.records = tee
            yield f

    async def no_reconcile(market: str, window_s: float, grace_s: float) -> Any:
        return reconcile([], ReconcileOptions(market=market))

    live: list[tuple[str, str, str, bool]] = []
    settings = resolve_settings()
    with open_session(settings) as session:
        run = SmokeRun(
            session,
            feed=feed,
            options=SmokeOptions(market=BTC, timeout=10, reconcile_window=0, reconcile_grace=0),
            reconcile=no_reconcile,
        )
        run.state = watched(live)
        steps = run.run()
    assert all(s.status == "passed" for s in steps), [(s.name, s.status, s.detail) for s in steps]
    assert any(type(r).__name__ == "WsFrame" for r in seen) and live

    replayed: list[tuple[str, str, str, bool]] = []
    again = watched(replayed)
    for rec in seen:
        with contextlib.suppress(ParadexctlError, ValueError):  # as the smoke's consumer does
            apply_record(again, rec)
    assert replayed == live
    assert set(again.orders) == set(run.state.orders) and run.order_id in run.state.orders
    for key in run.state.orders:
        assert again.get("order", key).payload == run.state.get("order", key).payload

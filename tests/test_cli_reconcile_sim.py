"""``paradexctl reconcile`` live against the sim: each mismatch kind produced by a fault, exit 1;
a chaos run (duplicates, reconnects, REST staleness inside the grace window, a random order
flow) consistent, exit 0; a live run and its replay give the same report, byte for byte.

Faults are scripted on the collection's marks (``window_start``, ``window_end``...) through
``main(on_mark=)``, so their timing relative to the snapshots is exact.

``PARADEXCTL_REGEN_DATA=1`` also writes each scenario's recording to ``tests/data/`` (the
shipped examples) with its expected report (``*.report.json``, from a replay).
"""

from __future__ import annotations

import json
import os
import random
import stat
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import write_profile

from paradexctl.cli.main import main
from paradexctl.sim.testing import SimAccount, login, modify_body, new_account, order_body

pytestmark = pytest.mark.e2e

BTC = "BTC-USD-PERP"
ETH = "ETH-USD-PERP"
DATA = Path(__file__).parent / "data"
WINDOW = "0.8"
GRACE = "0.4"


class Rig:
    """An onboarded sim account, a REST client on it, and the CLI wired to the sim."""

    def __init__(self, sim: Any, capsys: Any, monkeypatch: Any) -> None:
        self.sim = sim
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.acct: SimAccount = new_account(sim.http_url)
        self.jwt = login(sim.http_url, self.acct)
        self.http = httpx.Client(
            base_url=sim.http_url, headers={"Authorization": f"Bearer {self.jwt}"}, timeout=10
        )
        self.script: dict[str, list[Callable[[], None]]] = {}

    # -- the account's traffic ------------------------------------------------------------

    def place(self, side: str = "BUY", price: str = "30000", size: str = "0.010",
              market: str = BTC) -> dict[str, Any]:  # fmt: skip
        resp = self.http.post("/orders", json=order_body(self.acct, market, side, size, price))
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def cancel(self, order_id: str) -> None:
        resp = self.http.delete(f"/orders/{order_id}")
        assert resp.status_code in (200, 204), resp.text

    def modify(self, order: dict[str, Any], price: str) -> None:
        body = modify_body(self.acct, order["id"], order["market"], order["side"],
                           order["size"], price)  # fmt: skip
        resp = self.http.put(f"/orders/{order['id']}", json=body)
        assert resp.status_code == 200, resp.text

    def on(self, mark: str, action: Callable[[], None]) -> None:
        """Run ``action`` (synchronously, on the collector's loop) when ``mark`` is recorded."""
        self.script.setdefault(mark, []).append(action)

    # -- running the CLI ------------------------------------------------------------------

    def _hook(self, name: str) -> None:
        for action in self.script.pop(name, []):
            action()

    def cli(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args), on_mark=self._hook)
        cap = self.capsys.readouterr()
        return code, cap.out, cap.err

    def reconcile(self, tmp: Path, *extra: str, name: str = "run") -> tuple[int, dict[str, Any],
                                                                          Path]:  # fmt: skip
        rec = tmp / f"{name}.ndjson"
        code, out, err = self.cli("-o", "json", "reconcile", "--window", WINDOW, "--grace", GRACE,
                                  "--record", str(rec), *extra)  # fmt: skip
        assert code in (0, 1), err
        report = json.loads(out)
        assert report["exit_status"] == code
        # the replay gives the same report, byte for byte
        code2, out2, _ = self.cli("-o", "json", "reconcile", "--replay", str(rec), *extra)
        assert (code2, out2) == (code, out)
        if os.environ.get("PARADEXCTL_REGEN_DATA") == "1" and name != "run":
            DATA.mkdir(exist_ok=True)
            target = DATA / f"reconcile_{name}.ndjson"
            target.write_text(rec.read_text(encoding="utf-8"), encoding="utf-8")
            (DATA / f"reconcile_{name}.report.json").write_text(out, encoding="utf-8")
        return code, report, rec


@pytest.fixture
def rig(sim, capsys, sim_cli_env) -> Rig:
    monkeypatch = sim_cli_env
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), ws_backoff_base_ms=20)
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), ws_backoff_cap_ms=60)
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), ws_stable_after_s=0.1)
    r = Rig(sim, capsys, monkeypatch)
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", hex(r.acct.private_key))
    yield r
    r.http.close()


def kinds(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(row["entity"], row["key"]): row["kind"] for row in report["rows"]}


def failing_kinds(report: dict[str, Any]) -> set[str]:
    return {row["kind"] for row in report["rows"] if row["failing"]}


# -- a clean account -----------------------------------------------------------------------


def test_clean_account_is_consistent(rig, tmp_path):
    order = rig.place()
    rig.place(side="SELL", price="90000")  # crosses the book (mark 97000): a fill and a position
    rig.on("window_start", lambda: rig.cancel(order["id"]))
    code, report, _ = rig.reconcile(tmp_path, "--show-matches", name="clean")
    assert code == 0, report["rows"]
    assert report["verdict"] == "consistent" and report["failing"] == 0
    assert kinds(report)[("orders", order["id"])] == "match"
    assert report["counts"]["total"]["match"] >= 4  # orders, position, balance, fill


# -- one fault per mismatch kind -------------------------------------------------------------


def test_rest_staleness_beyond_grace_is_stale_rest(rig, tmp_path):
    """Seed race, persisting: WS says CLOSED, REST (stale by 10 s) still says OPEN."""
    order = rig.place()
    rig.sim.admin.advance_time(20_000)  # the order is old enough to be in the stale REST view
    rig.sim.admin.staleness(orders=10_000, order=10_000)
    rig.on("window_start", lambda: rig.cancel(order["id"]))
    code, report, _ = rig.reconcile(tmp_path, name="stale_rest")
    assert code == 1
    row = next(r for r in report["rows"] if r["key"] == order["id"])
    assert row["kind"] == "stale_rest" and row["failing"]
    assert row["ws"]["value"]["status"] == "CLOSED" and row["rest"]["value"]["status"] == "OPEN"
    assert row["ws"]["exchange_ts"] > row["rest"]["exchange_ts"]


def test_dropped_ws_update_is_ws_gap(rig, tmp_path):
    order = rig.place()

    def drop_then_cancel() -> None:
        rig.sim.admin.faults(ws_drop_rate=1.0)
        rig.cancel(order["id"])

    rig.on("window_start", drop_then_cancel)
    code, report, _ = rig.reconcile(tmp_path, "--entities", "orders", name="ws_gap")
    assert code == 1
    row = next(r for r in report["rows"] if r["key"] == order["id"])
    assert row["kind"] == "ws_gap" and row["failing"]
    assert row["rest"]["value"]["status"] == "CLOSED"  # from the lookup by id
    assert "rest_lookup_at" in row.get("extra", {})


def test_missed_position_change_is_ws_gap_while_the_mark_moves(rig, tmp_path):
    """The WS misses a fill's position update; the mark then moves, which bumps the position's
    last_updated_at on REST until snapshot 2. The size changed early in the window: ws_gap."""

    def trade_drop_trade() -> None:
        rig.place(side="SELL", price="90000")  # a short position, seen on WS
        rig.sim.admin.faults(ws_drop_rate=1.0)
        rig.place(side="SELL", price="90000")  # the position grows; WS never says so

    rig.on("window_start", trade_drop_trade)
    rig.on("window_end", lambda: rig.sim.admin.mark_price(BTC, "97010"))
    rig.on("grace_end", lambda: rig.sim.admin.mark_price(BTC, "97020"))
    code, report, _ = rig.reconcile(tmp_path, "--entities", "positions")
    row = next(r for r in report["rows"] if r["entity"] == "positions" and r["key"] == BTC
               and r["kind"] != "invariant_position")  # fmt: skip
    assert row["kind"] == "ws_gap", row
    assert Decimal(row["ws"]["value"]["size"]) != Decimal(row["rest"]["value"]["size"])
    assert row["rest"]["exchange_ts"] > report["window"]["snapshot2_boundary_at"] - 400
    assert code == 1


def test_order_never_on_ws_is_missing_in_ws(rig, tmp_path):
    placed: list[str] = []

    def drop_then_place() -> None:
        rig.sim.admin.faults(ws_drop_rate=1.0)
        placed.append(rig.place(price="31000")["id"])

    rig.on("window_start", drop_then_place)
    code, report, _ = rig.reconcile(tmp_path, "--entities", "orders", name="missing_in_ws")
    assert code == 1
    assert kinds(report)[("orders", placed[0])] == "missing_in_ws"
    assert failing_kinds(report) == {"missing_in_ws"}


def test_order_rest_never_lists_is_missing_in_rest(rig, tmp_path):
    placed: list[str] = []
    rig.sim.admin.staleness(orders=60_000, order=60_000)
    rig.on("window_start", lambda: placed.append(rig.place(price="32000")["id"]))
    code, report, _ = rig.reconcile(tmp_path, "--entities", "orders", name="missing_in_rest")
    assert code == 1
    row = next(r for r in report["rows"] if r["key"] == placed[0])
    assert row["kind"] == "missing_in_rest" and row["rest"] is None
    assert row["ws"]["value"]["status"] == "OPEN"
    assert row["extra"]["rest_lookup_at"] > 0  # looked up by id: not found


def test_update_inside_grace_is_pending_and_fails_only_with_strict(rig, tmp_path):
    order = rig.place()
    rig.sim.admin.advance_time(20_000)
    rig.sim.admin.staleness(orders=10_000, order=10_000)
    timer = threading.Timer(0.15, rig.cancel, (order["id"],))  # well inside the grace window
    rig.on("window_end", timer.start)
    rig.on("grace_end", timer.join)
    code, report, rec = rig.reconcile(tmp_path, name="pending")
    assert code == 0, report["rows"]
    assert kinds(report)[("orders", order["id"])] == "pending"
    code, out, err = rig.cli("-o", "json", "reconcile", "--replay", str(rec), "--strict")
    assert code == 1 and json.loads(out)["failing"] == 1 and "MISMATCH" in err


def test_unreported_deposit_breaks_the_balance_invariant(rig, tmp_path):
    rig.on("window_start", lambda: rig.sim.admin.deposit(rig.acct.address, "250"))
    code, report, _ = rig.reconcile(tmp_path, name="invariant_balance")
    assert code == 1
    row = next(r for r in report["rows"] if r["kind"] == "invariant_balance")
    assert row["entity"] == "balances" and row["key"] == "USDC"
    assert row["extra"]["change"] == "250" and row["extra"]["expected_change"] == "0"
    # --fail-on orders: the balance break is reported but does not fail the run
    code, out, _ = rig.cli("-o", "json", "reconcile", "--replay", str(tmp_path / "invariant_balance.ndjson"),
                           "--fail-on", "orders")  # fmt: skip
    assert code == 0 and json.loads(out)["rows"][0]["failing"] is False


def test_ws_content_mutated_at_the_same_time_is_a_conflict(rig, tmp_path):
    """The sim's WS order notifications carry another price than the order has, with the same
    timestamps: two contents for one exchange time."""
    placed: list[dict[str, Any]] = []

    def mutate_then_place() -> None:
        rig.sim.admin.faults(ws_mutate_orders=2)  # the placement's NEW and OPEN frames
        placed.append(rig.place(price="33000"))

    rig.on("window_start", mutate_then_place)
    code, report, _ = rig.reconcile(tmp_path, "--entities", "orders")
    assert code == 1
    assert rig.sim.admin.state()["faults"]["injected"]["ws_mutated"] >= 1
    row = next(r for r in report["rows"] if r["key"] == placed[0]["id"])
    assert row["kind"] == "conflict" and row["failing"]
    assert row["ws"]["exchange_ts"] == row["rest"]["exchange_ts"]
    assert Decimal(row["ws"]["value"]["price"]) == Decimal(row["rest"]["value"]["price"]) + 1
    assert row["rule"] == "conflict"
    assert failing_kinds(report) == {"conflict"}


def test_position_change_without_a_fill_breaks_the_position_invariant(rig, tmp_path):
    rig.place(side="SELL", price="90000")  # crosses the book: a fill and a short position
    adjust = {"account": rig.acct.address, "market": BTC, "size_delta": "0.004"}

    def adjust_position() -> None:
        resp = rig.sim.admin.client.post("/position-adjust", json=adjust)
        assert resp.status_code == 200, resp.text

    rig.on("window_start", adjust_position)
    code, report, _ = rig.reconcile(tmp_path)
    assert code == 1
    row = next(r for r in report["rows"] if r["kind"] == "invariant_position")
    assert row["entity"] == "positions" and row["key"] == BTC and row["failing"]
    assert Decimal(row["extra"]["change"]) == Decimal("0.004")
    assert Decimal(row["extra"]["fills_signed_sum"]) == 0
    assert row["rule"] == "invariant" and row["rest"]["value"]["size"] == row["extra"]["after"]
    assert failing_kinds(report) == {"invariant_position"}


# -- chaos: consistent ---------------------------------------------------------------------


def test_chaos_run_reports_zero_mismatches(rig, tmp_path):
    rng = random.Random(7)
    live: list[dict[str, Any]] = [rig.place(price=str(30000 + 10 * i)) for i in range(4)]
    rig.sim.admin.staleness(default=150)  # stale REST, well inside the 0.4 s grace window
    rig.sim.admin.faults(ws_duplicate_rate=0.3, ws_jitter_ms=20)

    def flow() -> None:  # spread over the window, across the forced reconnects
        for _ in range(6):
            time.sleep(0.05)
            action = rng.choice(["place", "cancel", "modify", "fill"])
            if action == "place" or not live:
                side = rng.choice(["BUY", "SELL"])
                base = 29000 if side == "BUY" else 120000  # far from the 97000 mark: resting
                live.append(rig.place(side=side, price=str(base + rng.randrange(100))))
            elif action == "cancel":
                rig.cancel(live.pop(rng.randrange(len(live)))["id"])
            elif action == "modify":
                o = live[rng.randrange(len(live))]
                rig.modify(o, str(Decimal(o["price"]) - 1))
            else:
                rig.sim.admin.force_fill(live.pop(rng.randrange(len(live)))["id"])

    flow_thread = threading.Thread(target=flow)
    rig.on("window_start", lambda: rig.sim.admin.faults(ws_disconnect_every_s=0.3))
    rig.on("window_start", flow_thread.start)
    rig.on("grace_end", flow_thread.join)  # normally long done: the loop is not blocked
    rig.on("grace_end", lambda: rig.sim.admin.faults(ws_disconnect_every_s=0))
    code, report, rec = rig.reconcile(tmp_path, "--window", "1.5", name="chaos")
    assert code == 0, [r for r in report["rows"] if r["failing"]]
    text = rec.read_text()
    assert '"name":"disconnected"' in text  # the chaos did happen
    assert report["failing"] == 0


# -- files and errors ------------------------------------------------------------------------


def test_recording_is_private_and_holds_no_secret(rig, tmp_path):
    rig.place()
    _, _, rec = rig.reconcile(tmp_path, "--window", "0.2", "--grace", "0.1")
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600
    text = rec.read_text()
    jwts = [json.loads(p.read_text()).get("jwt", "")
            for p in (tmp_path / "cache").rglob("jwt-*.json")]  # fmt: skip
    assert jwts and all(j and j not in text for j in jwts)
    assert hex(rig.acct.private_key)[2:] not in text
    assert "bearer" not in text.lower()


def test_missing_key_exits_3_and_unknown_account_exits_4(rig, monkeypatch):
    monkeypatch.delenv("PARADEX_L2_PRIVATE_KEY")
    code, out, err = rig.cli("reconcile", "--window", "0", "--grace", "0")
    assert code == 3 and out == "" and "PARADEX_L2_PRIVATE_KEY" in err
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", hex(12345))  # a key never onboarded
    code, out, err = rig.cli("reconcile", "--window", "0", "--grace", "0")
    assert code == 4 and "NOT_ONBOARDED" in err

"""The seed's four REST/WebSocket races as shipped scenarios (``scenarios/``), each replayed on
the manual clock against paradexctl's merge (:class:`StateManager` fed through
:func:`apply_record`, the path of ``stream``, ``reconcile`` and ``order place --wait``) and
against a naive last-write-wins client written here. paradexctl must end right; the naive
client must end wrong, which proves that the scenario reproduces the race.

Then: a 24-hour scenario in seconds of wall time; the manual clock; snapshot, restore, reset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from paradexctl.core.recording import RestSnapshot, WsFrame, apply_record
from paradexctl.core.state import StateManager
from paradexctl.sim.app import SimOptions
from paradexctl.sim.scenario import Scenario, ScenarioError, load, parse
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import SimAccount, login, order_body

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
CHANNELS = ("orders.ALL", "positions", "balance_events", "fills.ALL")


def start(name: str, **options: Any) -> SimServer:
    sc = load(SCENARIOS / name)
    opts = sc.configured(SimOptions(warm_tables=None, verify_workers=0, **options))
    return SimServer(opts).start()


@pytest.fixture
def scenario_sim(request: pytest.FixtureRequest) -> Iterator[SimServer]:
    server = start(request.param)
    try:
        yield server
    finally:
        server.stop()


def alice(server: SimServer) -> SimAccount:
    sc = server.sim.options.scenario
    assert sc is not None
    a = sc.accounts["alice"]
    assert a.private_key is not None
    return SimAccount(a.private_key, a.public_key, a.address)


def now_ms(server: SimServer) -> int:
    return int(server.http.get("/system/time").json()["server_time"])


def advance(server: SimServer, ms: int) -> int:
    r = server.admin.client.post("/time/advance", json={"ms": ms})
    assert r.status_code == 200, r.text
    return int(r.json()["now_ms"])


class Session:
    """alice, logged in (on the sim's clock), with a WebSocket subscribed to her channels."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.acct = alice(server)
        self.jwt = login(server.http_url, self.acct, now_s=now_ms(server) // 1000)
        self.headers = {"Authorization": f"Bearer {self.jwt}"}
        self._ws_cm = connect(server.ws_url)
        self.ws: ClientConnection = self._ws_cm.__enter__()
        self._rpc("auth", {"bearer": self.jwt})
        for ch in CHANNELS:
            self._rpc("subscribe", {"channel": ch})

    def _rpc(self, method: str, params: dict[str, Any]) -> None:
        self.ws.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv(timeout=10))
            if msg.get("id") == 1:
                assert "error" not in msg, msg
                return
        raise AssertionError(f"no reply to {method}")

    def frames_until(self, done: Any, received_at: int) -> list[WsFrame]:
        """WS notifications (as recording frames received at ``received_at``) until one
        satisfies ``done(channel, data)``; deadline 10 s."""
        out: list[WsFrame] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            frame = WsFrame.from_notification(msg, received_at)
            if frame is None:
                continue
            out.append(frame)
            if done(frame.channel, frame.data):
                return out
        raise AssertionError("the scenario's WebSocket update did not arrive")

    def rest(self, endpoint: str, at: int) -> RestSnapshot:
        r = self.server.http.get(f"/{endpoint}", headers=self.headers)
        assert r.status_code == 200, r.text
        return RestSnapshot(endpoint, at, at, r.json())

    def close(self) -> None:
        self._ws_cm.__exit__(None, None, None)


class Paradexctl:
    """paradexctl's one merge: a :class:`StateManager` fed every record by ``apply_record``."""

    def __init__(self) -> None:
        self.sm = StateManager(grace_ms=5000)

    def feed(self, record: WsFrame | RestSnapshot) -> None:
        apply_record(self.sm, record)

    def position(self, market: str) -> Decimal:
        p = self.sm.position(market)
        return Decimal(0) if p is None else p.size

    def order_status(self, order_id: str) -> str | None:
        o = self.sm.order(order_id)
        return None if o is None else o.status

    def has_open_order(self, market: str) -> bool:
        return self.sm.has_open_order(market)

    def balance(self) -> Decimal:
        b = self.sm.balance("USDC")
        assert b is not None
        return b.size

    def may_cancel(self, order_id: str) -> bool:
        return self.sm.check_cancellable(order_id).allowed


class Naive:
    """The seed's ❌ BAD client: every update, from either source, overwrites (last write wins)."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, dict[str, Any]] = {}
        self.balances: dict[str, str] = {}

    def feed(self, record: WsFrame | RestSnapshot) -> None:
        if isinstance(record, WsFrame):
            ch, d = record.channel, record.data
            if ch.startswith("orders."):
                self.orders[d["id"]] = d
            elif ch == "positions":
                self.positions[d["market"]] = d
            elif ch == "balance_events":
                self.balances[d["settlement_asset_name"]] = d["settlement_asset_balance_after"]
            return
        rows = record.data["results"]
        if record.endpoint == "orders":
            for d in rows:
                self.orders[d["id"]] = d
        elif record.endpoint == "positions":
            for d in rows:
                self.positions[d["market"]] = d
        elif record.endpoint == "balance":
            for d in rows:
                self.balances[d["token"]] = d["size"]

    def position(self, market: str) -> Decimal:
        p = self.positions.get(market)
        return Decimal(0) if p is None else Decimal(p["size"])

    def order_status(self, order_id: str) -> str | None:
        o = self.orders.get(order_id)
        return None if o is None else str(o["status"])

    def has_open_order(self, market: str) -> bool:
        return any(o["market"] == market and o["status"] != "CLOSED" for o in self.orders.values())

    def balance(self) -> Decimal:
        return Decimal(self.balances["USDC"])

    def may_cancel(self, order_id: str) -> bool:
        return self.order_status(order_id) not in (None, "CLOSED")


Client = Paradexctl | Naive


def play(server: SimServer, client: Client, done: Any, endpoints: tuple[str, ...]) -> Session:
    """The race on the manual clock: the scenario's event fires at t0+10 s and its WS update
    is fed at once; 1 s later the client polls REST (5 s stale) and feeds that too."""
    server.admin.reset()  # the scenario's starting state, its clock at the start again
    s = Session(server)
    t = advance(server, 10_000)
    for frame in s.frames_until(done, t):
        client.feed(frame)
    t = advance(server, 1_000)
    for endpoint in endpoints:
        client.feed(s.rest(endpoint, t))
    return s


def _closed(channel: str, d: Any) -> bool:
    return channel.startswith("orders.") and d["status"] == "CLOSED"


def _position(size: str) -> Any:
    return lambda ch, d: ch == "positions" and Decimal(d["size"]) == Decimal(size)


def _order_id(server: SimServer, client_id: str) -> str:
    acct = alice(server).address
    for oid, o in list(server.sim.engine.orders.items()):
        if o.client_id == client_id and o.account == acct:
            return oid
    raise AssertionError(f"no order {client_id}")


@pytest.mark.parametrize("scenario_sim", ["race-1-stale-position.toml"], indirect=True)
def test_race_1_stale_position_overwrite(scenario_sim: SimServer) -> None:
    """WS: position 0.01 BTC; REST (later, stale): 0. paradexctl keeps 0.01; LWW says 0."""
    final: dict[str, Decimal] = {}
    for client in (Paradexctl(), Naive()):
        s = play(scenario_sim, client, _position("0.01"), ("positions",))
        s.close()
        final[type(client).__name__] = client.position("BTC-USD-PERP")
    truth = scenario_sim.admin.state()["accounts"][alice(scenario_sim).address]["positions"]
    assert [p["size"] for p in truth] == ["0.01"]
    assert final == {"Paradexctl": Decimal("0.01"), "Naive": Decimal(0)}


@pytest.mark.parametrize("scenario_sim", ["race-2-order-status.toml"], indirect=True)
def test_race_2_order_status_confusion(scenario_sim: SimServer) -> None:
    """WS: order CLOSED (filled); REST (later, stale): OPEN. LWW believes it open and sends a
    cancel the exchange refuses; paradexctl keeps it CLOSED and does not send one."""
    outcome: dict[str, tuple[str | None, int | None]] = {}
    for client in (Paradexctl(), Naive()):
        s = play(scenario_sim, client, _closed, ("orders",))
        oid = _order_id(scenario_sim, "ask-1")
        status = None
        if client.may_cancel(oid):  # the strategy: cancel the order if it is still working
            status = scenario_sim.http.delete(f"/orders/{oid}", headers=s.headers).status_code
        s.close()
        outcome[type(client).__name__] = (client.order_status(oid), status)
    assert outcome["Paradexctl"] == ("CLOSED", None)
    naive_status, cancel = outcome["Naive"]
    assert naive_status == "OPEN"
    assert cancel is not None and cancel >= 400  # the exchange refused: the order is filled


@pytest.mark.parametrize("scenario_sim", ["race-3-double-execution.toml"], indirect=True)
def test_race_3_double_execution(scenario_sim: SimServer) -> None:
    """The strategy holds 0.01 BTC: with no open order and less than that, it buys the rest.
    REST /orders is current, /positions stale: LWW buys again (0.02 on the exchange);
    paradexctl, keeping the WS position, buys nothing (0.01)."""
    held: dict[str, str] = {}
    target = Decimal("0.01")
    for client in (Paradexctl(), Naive()):
        s = play(scenario_sim, client, _position("0.01"), ("orders", "positions"))
        need = target - client.position("BTC-USD-PERP")
        if need > 0 and not client.has_open_order("BTC-USD-PERP"):
            body = order_body(s.acct, "BTC-USD-PERP", "BUY", str(need), ts=now_ms(scenario_sim))
            r = scenario_sim.http.post("/orders", json=body, headers=s.headers)
            assert r.status_code == 201, r.text
        s.close()
        truth = scenario_sim.admin.state()["accounts"][s.acct.address]["positions"]
        held[type(client).__name__] = truth[0]["size"]
    assert held == {"Paradexctl": "0.01", "Naive": "0.02"}


@pytest.mark.parametrize("scenario_sim", ["race-4-balance-mismatch.toml"], indirect=True)
def test_race_4_balance_mismatch(scenario_sim: SimServer) -> None:
    """WS: 99,000 USDC after a funding payment; REST (later, stale): 100,000. paradexctl
    keeps 99,000; LWW thinks it has 1,000 more than it does."""

    def funding(ch: str, d: Any) -> bool:
        return ch == "balance_events" and d["type"] == "FUNDING"

    final = {}
    for client in (Paradexctl(), Naive()):
        play(scenario_sim, client, funding, ("balance",)).close()
        final[type(client).__name__] = client.balance()
    truth = scenario_sim.admin.state()["accounts"][alice(scenario_sim).address]["balance"]
    assert Decimal(truth) == Decimal("99000")
    assert final == {"Paradexctl": Decimal("99000"), "Naive": Decimal("100000")}


# ----------------------------------------------------------------------------- the 24-hour day


def test_a_24_hour_scenario_runs_in_seconds_on_the_manual_clock() -> None:
    server = start("day-24h.toml")
    try:
        acct = alice(server)
        t0 = now_ms(server)
        jwt = login(server.http_url, acct, now_s=t0 // 1000)
        headers = {"Authorization": f"Bearer {jwt}"}
        assert server.http.get("/balance", headers=headers).status_code == 200
        status = {}
        began = time.monotonic()
        # five minutes at a time: the walk (one step a minute) still takes every step, as
        # an advance runs up to 10 walk periods
        for minute in range(5, 24 * 60 + 1, 5):
            advance(server, 300_000)
            if minute in (11 * 60 + 10, 12 * 60):  # in and after the maintenance window
                status[minute] = server.http.get("/system/state").json()["status"]
        wall = time.monotonic() - began
        print(f"24 h of sim time (288 advances) in {wall:.2f} s of wall time")
        assert wall < 30, f"24 hours took {wall:.1f} s"
        assert now_ms(server) == t0 + 86_400_000
        assert status == {11 * 60 + 10: "maintenance", 12 * 60: "ok"}
        # time-driven things followed the clock: the JWT expired (lifetime 300 s) ...
        assert server.http.get("/balance", headers=headers).status_code == 401
        truth = server.admin.state()
        a = truth["accounts"][acct.address]
        # ... the timeline ran: the dip-bid filled at 22:00, the deposit came, and the long
        # paid funding at 08:00 (0.5 * 96600 * 0.0001) and 16:00 (0.5 * 97400 * 0.0001), 24:00
        assert a["fills"] == 1
        assert [p["size"] for p in a["positions"]] == ["0.6"]
        assert Decimal(a["balance"]) < Decimal("102500") - Decimal("4.83") - Decimal("4.87")
        # ... the walk moved the mark between the hourly marks
        assert truth["marks"]["BTC-USD-PERP"] not in ("97000", "97400", "96600")
        # ... and the 5xx burst switched on at 20:00 was switched off before any REST call
        assert truth["faults"]["rest_5xx"] == 0
        assert server.sim.timeline_next == 32
    finally:
        server.stop()


# ----------------------------------------------------------------------------- the clock


def test_manual_clock_stands_still_and_moves_only_when_advanced() -> None:
    server = start("race-1-stale-position.toml")
    try:
        t0 = now_ms(server)
        assert now_ms(server) == t0  # frozen: no wall time reaches it
        assert server.admin.state()["clock"] == "manual"
        assert advance(server, 1234) == t0 + 1234 == now_ms(server)
        # the fill of the timeline (t0 + 10 s) has not happened yet, then happens at its time
        oid = _order_id(server, "bid-1")
        assert server.sim.engine.orders[oid].status == "OPEN"
        advance(server, 8766)
        o = server.sim.engine.orders[oid]
        assert (o.status, o.last_updated_at) == ("CLOSED", t0 + 10_000)
    finally:
        server.stop()


def test_jwt_expiry_follows_the_manual_clock() -> None:
    server = start("race-1-stale-position.toml", jwt_lifetime_s=60)
    try:
        jwt = login(server.http_url, alice(server), now_s=now_ms(server) // 1000)
        h = {"Authorization": f"Bearer {jwt}"}
        advance(server, 59_000)
        assert server.http.get("/account", headers=h).status_code == 200
        advance(server, 1_000)
        r = server.http.get("/account", headers=h)
        assert r.status_code == 401 and "expired" in r.json()["message"]
    finally:
        server.stop()


def test_maintenance_window_and_faults_follow_the_timeline() -> None:
    doc = {
        "sim": {"clock": "manual", "mark_walk_ms": 0},
        "timeline": [
            {"at_ms": 1000, "event": "maintenance", "on": True},
            {"at_ms": 2000, "event": "faults", "set": {"rest_5xx": 1}},
            {"at_ms": 3000, "event": "maintenance", "on": False},
            {"at_ms": 4000, "event": "maintenance", "on": True, "status": "cancel_only"},
            {"at_ms": 5000, "event": "maintenance", "on": True, "status": "post_only"},
            {"at_ms": 6000, "event": "maintenance", "on": False},
        ],
    }
    opts = parse(doc).configured(SimOptions(warm_tables=None, verify_workers=0))
    with SimServer(opts) as server:
        state = lambda: server.http.get("/system/state")  # noqa: E731
        assert state().json() == {"status": "ok"}
        advance(server, 1000)
        assert state().json() == {"status": "maintenance"}
        advance(server, 1000)
        assert state().status_code == 503  # the fault switched on at t=2000
        advance(server, 1000)
        assert state().json() == {"status": "ok"}
        # a release window: cancel_only, then post_only, then ok
        for expected in ("cancel_only", "post_only", "ok"):
            advance(server, 1000)
            assert state().json() == {"status": expected}
            assert server.admin.state()["system_status"] == expected


# ----------------------------------------------------------------------------- snapshots


def test_snapshot_restore_gives_the_same_future() -> None:
    """Snapshot, run on (walk, timeline, an order), restore, run the same again: same state."""
    server = start("day-24h.toml")
    try:
        acct = alice(server)
        snap = server.admin.client.get("/snapshot").json()
        assert snap["engine"]["accounts"][0]["address"] == acct.address

        def run() -> dict[str, Any]:
            jwt = login(server.http_url, acct, now_s=now_ms(server) // 1000)
            body = order_body(acct, "BTC-USD-PERP", "SELL", "0.1", ts=now_ms(server))
            r = server.http.post("/orders", json=body, headers={"Authorization": f"Bearer {jwt}"})
            assert r.status_code == 201, r.text
            for _ in range(30):
                advance(server, 1_200_000)  # 10 hours, 20 minutes at a time
            return dict(server.admin.state(), ws_sent=0)

        first = run()
        r = server.admin.client.post("/restore", json=snap)
        assert r.status_code == 200, r.text
        assert now_ms(server) == snap["now_ms"]
        assert server.admin.client.get("/snapshot").json() == snap
        assert run() == first
    finally:
        server.stop()


def test_restore_refuses_a_bad_snapshot_and_changes_nothing() -> None:
    server = start("race-1-stale-position.toml")
    try:
        before = server.admin.client.get("/snapshot").json()
        for bad, word in [
            ({"version": 9}, "version"),
            ({"version": 1}, "engine"),
            (dict(before, timeline_next=99), "timeline_next"),
            (dict(before, staleness_ms={"nope": 1}), "staleness"),
            (dict(before, faults={"ws_drop_rate": 2}), "ws_drop_rate"),
        ]:
            r = server.admin.client.post("/restore", json=bad)
            assert r.status_code == 400, r.text
            msg = r.json()["message"]
            assert word in msg and "\n" not in msg
        assert server.admin.client.get("/snapshot").json() == before
    finally:
        server.stop()


def test_reset_returns_to_the_scenario_start() -> None:
    server = start("race-2-order-status.toml")
    try:
        start_snap = server.admin.client.get("/snapshot").json()
        advance(server, 20_000)  # the fill happens
        assert server.admin.client.get("/snapshot").json() != start_snap
        server.admin.reset()
        assert server.admin.client.get("/snapshot").json() == start_snap
    finally:
        server.stop()


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"bogus": 1}, "scenario.bogus: unknown field"),
        ({"sim": {"clock": "sundial"}}, "sim.clock: must be one of wall, manual"),
        ({"markets": [{"symbol": "DOGE-USD-PERP"}]}, "markets[0].symbol: unknown market"),
        ({"accounts": [{"name": "a"}]}, "accounts.a: needs private_key"),
        ({"accounts": [{"name": "a", "private_key": "zz"}]}, "accounts.a.private_key: must be"),
        (
            {"accounts": [{"name": "a", "public_key": hex(2**252)}]},
            "accounts.a.public_key: is not a valid Stark public key",
        ),
        (
            {"accounts": [{"name": "a", "private_key": "0x1", "balance": 1.5}]},
            "accounts.a.balance: must be a decimal string",
        ),
        ({"timeline": [{"at_ms": 1, "event": "quake"}]}, "timeline[0].event: must be one of"),
        ({"timeline": [{"event": "maintenance", "on": True}]}, "timeline[0].at_ms: is required"),
        (
            {"timeline": [{"at_ms": 1, "event": "maintenance", "on": True, "status": "ok"}]},
            "timeline[0].status: must be one of maintenance, cancel_only, post_only",
        ),
        (
            {"timeline": [{"at_ms": 1, "event": "mark", "market": "BTC-USD-PERP"}]},
            "timeline[0].price: is required for a mark event",
        ),
        (
            {"timeline": [{"at_ms": 1, "event": "deposit", "account": "bob", "amount": "1"}]},
            "timeline[0].account: no account named 'bob'",
        ),
        (
            {"timeline": [{"at_ms": 1, "event": "faults", "set": {"ws_drop_rate": 2}}]},
            "timeline[0].set: ",
        ),
    ],
)
def test_scenario_errors_name_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse(doc)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_every_shipped_scenario_loads() -> None:
    shipped = sorted(SCENARIOS.glob("*.toml")) + sorted(SCENARIOS.glob("*.json"))
    assert len(shipped) >= 5
    for path in shipped:
        assert isinstance(load(path), Scenario)


def test_json_scenario_is_read_like_toml(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"sim": {"clock": "manual"}, "markets": [{"symbol": "SOL-USD-PERP"}]}))
    sc = load(p)
    assert sc.clock == "manual" and list(sc.markets) == ["SOL-USD-PERP"]


@pytest.mark.e2e
def test_cli_bad_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text('[[timeline]]\nat_ms = -5\nevent = "mark"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "paradexctl", "sim", "--port", "0", "--scenario", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "timeline[0].at_ms" in lines[0], proc.stderr


def test_scenario_account_setup_rejection_names_the_order() -> None:
    doc = {
        "markets": [{"symbol": "BTC-USD-PERP", "mark": "97000"}],
        "accounts": [
            {
                "name": "a",
                "private_key": "0x2",
                "orders": [
                    {"market": "BTC-USD-PERP", "side": "BUY", "size": "0.00001", "price": "1"}
                ],
            }
        ],
    }
    opts = parse(doc).configured(SimOptions(warm_tables=None, verify_workers=0))
    with pytest.raises(ScenarioError, match=r"accounts\.a\.orders\[0\]: "):
        SimServer(opts)


@pytest.mark.e2e
def test_race_2_through_the_cli_cancel_exits_4_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``paradexctl order cancel`` of the order the WebSocket saw fill, while REST still
    lists it OPEN: the one-shot command has no WS history, sends the cancel, and the
    exchange's refusal is exit 4 ``ORDER_IS_CLOSED`` (docs/trading.md), never a crash; the
    fill stands."""
    from conftest import write_profile

    from paradexctl.cli.main import main

    server = start("race-2-order-status.toml")
    try:
        acct = alice(server)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        monkeypatch.setenv("PARADEX_ENV", "local")
        monkeypatch.setenv("PARADEX_API_URL", server.http_url)
        monkeypatch.setenv("PARADEX_WS_URL", server.ws_url)
        monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", hex(acct.private_key))
        for var in ("PARADEX_ACCOUNT_ADDRESS", "PARADEXCTL_PROFILE", "PARADEX_SUBKEY"):
            monkeypatch.delenv(var, raising=False)
        write_profile(tmp_path / "config", retry_base_ms=5, lookup_rounds=3)
        oid = _order_id(server, "ask-1")
        advance(server, 11_000)  # filled at t0 + 10 s; REST (5 s stale) still shows OPEN
        assert server.sim.engine.orders[oid].status == "CLOSED"
        capsys.readouterr()
        code = main(["-o", "json", "order", "get", oid])
        out = capsys.readouterr().out
        assert code == 0 and json.loads(out)["status"] == "OPEN"  # the stale REST answer
        code = main(["-o", "json", "order", "cancel", oid])
        err = capsys.readouterr().err
        assert code == 4, err
        assert json.loads(err)["details"]["code"] == "ORDER_IS_CLOSED"
        o = server.sim.engine.orders[oid]
        assert (o.status, o.remaining) == ("CLOSED", Decimal(0))
    finally:
        server.stop()


def test_sim_clock_modes() -> None:
    from paradexctl.sim.clock import SimClock

    wall = [1000.0]
    c = SimClock("wall", wall=lambda: wall[0])
    assert c.now_ms() == 1_000_000 and not c.manual
    wall[0] += 1.5
    c.offset_ms = 10
    assert c.now_ms() == 1_001_510
    m = SimClock("manual", wall=lambda: wall[0])
    frozen = m.now_ms()
    wall[0] += 100
    assert m.now_ms() == frozen and m.manual
    m.offset_ms = 7
    assert (m.now_ms(), m.now_us()) == (frozen + 7, (frozen + 7) * 1000)
    assert SimClock("manual", start_ms=5).now_ms() == 5
    with pytest.raises(ValueError, match="clock must be one of"):
        SimClock("sundial")


def test_scheduled_disconnects_follow_the_manual_clock() -> None:
    """``ws_disconnect_every_s`` counts sim time: nothing happens while the clock stands
    still; an advance past the period closes the WebSocket (1012)."""
    from websockets.exceptions import ConnectionClosed

    doc = {"sim": {"clock": "manual", "mark_walk_ms": 0, "faults": {"ws_disconnect_every_s": 60}}}
    opts = parse(doc).configured(SimOptions(warm_tables=None, verify_workers=0, tick_ms=10))
    with SimServer(opts) as server, connect(server.ws_url) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "method": "subscribe", "id": 1,
                            "params": {"channel": "markets_summary"}}))  # fmt: skip
        # the ticker runs every 10 ms; after a second of wall time, still connected
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                ws.recv(timeout=0.1)
            except TimeoutError:
                pass
        assert server.sim.faults.injected["ws_disconnects"] == 0
        advance(server, 60_000)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clock", "sundial"], "--clock must be wall or manual"),
        (["--scenario", "SCEN", "--state", "STATE"], "--scenario and --state cannot be combined"),
        (["--scenario", "MISSING"], "cannot read"),
    ],
)
def test_cli_clock_and_scenario_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    scen = tmp_path / "s.toml"
    scen.write_text('[sim]\nclock = "manual"\n')
    subst = {"SCEN": str(scen), "STATE": str(tmp_path / "st.json"), "MISSING": str(tmp_path / "x")}
    argv = [subst.get(a, a) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "paradexctl", "sim", "--port", "0", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

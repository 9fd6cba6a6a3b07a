"""End to end: the real CLI (in process, ``main([...])``) against the real sim over loopback.

Every command and option of issue 6, in table and json output, plus the never-place-twice
faults (accept-then-timeout, truly lost), 5xx bursts and 429s within and beyond the budget.
"""

from __future__ import annotations

import json
import os
import stat
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import write_profile
from stderr_text import stderr_text

from paradexctl.cli.main import main

pytestmark = pytest.mark.e2e

BTC = "BTC-USD-PERP"
ETH = "ETH-USD-PERP"


class Cli:
    def __init__(self, sim, capsys, priv: int, address: str) -> None:
        self.sim = sim
        self.capsys = capsys
        self.priv = priv
        self.address = address

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        cap = self.capsys.readouterr()
        return code, cap.out, cap.err

    def json(self, *args: str):
        code, out, err = self("-o", "json", *args)
        assert code == 0, err
        return json.loads(out)

    def orders_with_client_id(self, client_id: str) -> list:
        return [o for o in self.sim.sim.engine.orders.values() if o.client_id == client_id]


def make_cli(sim, sim_account, capsys, sim_cli_env) -> Cli:
    """A :class:`Cli` for a fresh onboarded sim account, with temporary XDG dirs."""
    priv, _pub, address = sim_account(sim)
    sim_cli_env.setenv("PARADEX_L2_PRIVATE_KEY", hex(priv))
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), lookup_rounds=3)
    sim_cli_env.setenv("COLUMNS", "400")  # wide rich tables in captured output
    return Cli(sim, capsys, priv, address)


@pytest.fixture
def cli(sim, sim_account, capsys, sim_cli_env) -> Cli:
    return make_cli(sim, sim_account, capsys, sim_cli_env)


def place(cli: Cli, *args: str) -> dict:
    return cli.json("order", "place", *args)


# -- queries --------------------------------------------------------------------------------


def test_markets_table_and_json(cli):
    rows = cli.json("markets")
    assert {m["symbol"] for m in rows} >= {BTC, ETH}
    one = cli.json("markets", BTC)
    assert one["price_tick_size"] == "0.1" and one["order_size_increment"] == "0.001"
    code, out, _ = cli("markets", "-o", "table")
    assert code == 0 and "price_tick_size" in out and BTC in out
    code, out, _ = cli("markets", BTC, "--refresh", "-o", "table")
    assert code == 0 and "min_notional" in out
    code, _, err = cli("markets", "BTC-USD-PERPX")
    assert code == 2 and "did you mean BTC-USD-PERP" in err


def test_markets_cached_with_0600_files(cli, tmp_path):
    cli.json("markets")
    files = list((tmp_path / "cache" / "paradexctl").glob("markets-*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_bbo(cli):
    b = cli.json("bbo", BTC)
    assert Decimal(b["bid"]) < Decimal(b["ask"])
    code, out, _ = cli("-o", "table", "bbo", BTC)
    assert code == 0 and "bid_size" in out
    code, _, _err = cli("bbo", "NOPE-USD-PERP")
    assert code == 4


def test_account_balances_positions(cli):
    a = cli.json("account")
    assert a["account"] == cli.address and a["status"] == "ACTIVE"
    assert cli.json("balances")[0]["token"] == "USDC"
    assert cli.json("positions") == []
    place(cli, BTC, "buy", "0.01", "--type", "market", "--wait", "filled")
    pos = cli.json("positions")
    assert pos[0]["market"] == BTC and Decimal(pos[0]["size"]) == Decimal("0.01")
    for cmd in ("account", "balances", "positions"):
        code, out, _ = cli(cmd, "-o", "table")
        assert code == 0 and out.strip()
    code, out, _ = cli("positions", "-o", "ndjson")
    assert json.loads(out.splitlines()[0])["market"] == BTC


def test_onboard_new_account_and_not_onboarded_hint(sim, cli, monkeypatch):
    from paradexctl.sim.testing import new_account

    fresh = new_account(sim.http_url, onboard=False)
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", hex(fresh.private_key))
    code, _, err = cli("account")
    assert code == 4 and "paradexctl account onboard" in err
    out = cli.json("account", "onboard")
    assert out["account"] == fresh.address and out["onboarded"] is True
    assert cli.json("account")["account"] == fresh.address


def test_fills_with_market_since_limit(cli):
    for _ in range(3):
        place(cli, BTC, "buy", "0.01", "--type", "market", "--wait", "filled")
    place(cli, ETH, "sell", "0.01", "--type", "market", "--wait", "filled")
    assert len(cli.json("fills")) >= 4
    btc = cli.json("fills", "--market", BTC)
    assert btc and all(f["market"] == BTC for f in btc)
    assert len(cli.json("fills", "--limit", "2")) == 2
    assert cli.json("fills", "--since", "1h")
    assert cli.json("fills", "--since", "2999-01-01T00:00:00Z") == []
    code, out, _ = cli("fills", "-o", "table", "--limit", "1")
    assert code == 0 and "liquidity" in out
    code, _, _err = cli("fills", "--since", "yesterday-ish")
    assert code == 2


def test_orders_list_open_history_filters(cli):
    resting = place(cli, BTC, "buy", "0.01", "--price", "90000", "--wait", "open")
    place(cli, ETH, "buy", "0.01", "--price", "3000", "--wait", "open")
    filled = place(cli, BTC, "buy", "0.01", "--type", "market", "--wait", "filled")
    open_ids = {o["id"] for o in cli.json("orders", "list")}
    assert resting["order_id"] in open_ids and filled["order_id"] not in open_ids
    assert {o["market"] for o in cli.json("orders", "list", "--open", "--market", ETH)} == {ETH}
    assert cli.json("orders", "list", "--status", "open", "--limit", "1").__len__() == 1
    hist = cli.json("orders", "list", "--history", "--status", "CLOSED")
    assert [o["id"] for o in hist] == [filled["order_id"]]
    assert len(cli.json("orders", "list", "--history", "--limit", "2")) == 2
    assert len(cli.json("orders", "list", "--history", "--since", "10m")) == 3
    assert cli.json("orders", "list", "--history", "--market", ETH)[0]["market"] == ETH
    code, out, _ = cli("orders", "list", "-o", "table")
    assert code == 0 and "remaining_size" in out
    code, _, _err = cli("orders", "list", "--open", "--history")
    assert code == 2
    code, _, _ = cli("orders", "list", "--status", "CLOSED")
    assert code == 2


def test_orders_history_pagination_reaches_the_limit(cli):
    for _ in range(4):
        place(cli, BTC, "buy", "0.001", "--price", "90000")
    rows = cli.json("orders", "list", "--history", "--limit", "3")
    assert len(rows) == 3


def test_order_get_by_id_and_client_id(cli):
    r = place(
        cli, BTC, "buy", "0.01", "--price", "90000", "--client-id", "mine-1", "--wait", "open"
    )
    assert cli.json("order", "get", r["order_id"])["client_id"] == "mine-1"
    assert cli.json("order", "get", "--client-id", "mine-1")["id"] == r["order_id"]
    code, out, _ = cli("order", "get", r["order_id"], "-o", "table")
    assert code == 0 and "mine-1" in out
    code, _, err = cli("order", "get", "--client-id", "nobody")
    assert code == 4 and "nobody" in err
    code, _, _ = cli("order", "get")
    assert code == 2


# -- placing --------------------------------------------------------------------------------


def test_place_limit_is_acknowledged_and_prints_client_id(cli):
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "0.01", "--price", "90000")
    assert code == 0
    data = json.loads(out)
    assert data["outcome"] == "acknowledged" and data["client_id"].startswith("pctl-")
    assert "acknowledged" in err and data["client_id"] in err
    assert "placed" not in err and "filled" not in err.replace("open or filled", "")
    assert len(cli.orders_with_client_id(data["client_id"])) == 1


def test_place_table_output(cli):
    code, out, _err = cli("order", "place", BTC, "sell", "0.01", "--price", "99000", "-o", "table")
    assert code == 0 and "acknowledged" in out and "client_id" in out


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (["--type", "market", "--wait", "filled"], lambda o: o["remaining_size"] == "0"),
        (["--price", "90000", "--tif", "post-only", "--wait", "open"],
         lambda o: o["instruction"] == "POST_ONLY"),
        (["--price", "99000", "--tif", "ioc", "--wait", "closed"],
         lambda o: o["instruction"] == "IOC" and o["status"] == "CLOSED"),
        (["--type", "stop-limit", "--price", "99000", "--trigger-price", "98000",
          "--wait", "open"], lambda o: o["status"] == "UNTRIGGERED"),
        (["--type", "stop-market", "--trigger-price", "98000", "--wait", "accepted"],
         lambda o: o["type"] == "STOP_MARKET" and o["trigger_price"] == "98000"),
    ],
)  # fmt: skip
def test_place_types_and_tifs(cli, args, check):
    r = place(cli, BTC, "buy", "0.01", *args)
    assert check(r["order"]), r


def test_place_reduce_only_and_client_id(cli):
    place(cli, BTC, "buy", "0.02", "--type", "market", "--wait", "filled")
    r = place(cli, BTC, "sell", "0.01", "--type", "market", "--reduce-only", "--client-id",
              "ro-1", "--wait", "filled")  # fmt: skip
    assert r["client_id"] == "ro-1" and r["order"]["flags"] == ["REDUCE_ONLY"]


def test_dry_run_signs_and_sends_nothing(cli):
    data = place(cli, BTC, "buy", "0.01", "--price", "90000", "--client-id", "dry-1", "--dry-run")
    assert data["dry_run"] is True and data["method"] == "POST"
    assert data["url"].endswith("/orders")
    body = data["body"]
    assert body["client_id"] == "dry-1" and body["price"] == "90000"
    assert body["signature"].startswith('["')
    assert cli.orders_with_client_id("dry-1") == []
    code, _out, err = cli("order", "place", BTC, "buy", "0.01", "--price", "90000", "--dry-run",
                         "-o", "table")  # fmt: skip
    assert code == 0 and "nothing was sent" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["0.01", "--price", "90000.05"], "nearest valid prices: 90000.0 or 90000.1"),
        (["0.0105", "--price", "90000"], "nearest valid sizes: 0.010 or 0.011"),
        (["0.0001", "--price", "90000"], "size increment"),
        (["0.001", "--price", "5000"], "smallest valid size at this price is 0.002"),
        (["0.01"], "needs --price"),
        (["0", "--price", "90000"], "size must be positive"),
        (["nan", "--price", "90000"], "not a finite number"),
        (["0.01", "--price", "90000.000000001"], "more than 8 decimals"),
        (["0.01", "--type", "market", "--price", "1"], "takes no --price"),
        (["0.01", "--type", "bogus"], "--type"),
        (["1e30", "--price", "90000"], "far above any market's maximum order size"),
        (["500", "--price", "90000"], "above BTC-USD-PERP's maximum order size"),
        (["0.01", "--price", "1e30"], "far above any market's prices"),
    ],
)
def test_validation_exit_2_and_nothing_sent(cli, args, needle):
    code, _, err = cli("order", "place", BTC, "buy", *args, "--client-id", "bad-1")
    assert code == 2, err
    assert needle in err
    assert cli.orders_with_client_id("bad-1") == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--type", "market"], "x mark price 180) is below SOL-USD-PERP's minimum of 10; "
         "the smallest valid size at this mark price is 0.06"),
        (["--type", "stop-market", "--trigger-price", "190"],
         "x trigger price 190) is below SOL-USD-PERP's minimum of 10; "
         "the smallest valid size at this trigger price is 0.06"),
    ],
)  # fmt: skip
def test_min_notional_of_market_orders_is_checked_before_sending(cli, args, needle):
    for extra in ([], ["--dry-run"]):
        code, out, err = cli("order", "place", "SOL-USD-PERP", "buy", "0.01", *args,
                             "--client-id", "mn-1", *extra)  # fmt: skip
        assert code == 2, err
        assert needle in err and out == ""
    assert cli.orders_with_client_id("mn-1") == []
    # the suggested size is accepted
    r = place(cli, "SOL-USD-PERP", "buy", "0.06", *args)
    assert r["outcome"] == "acknowledged"


def test_unknown_market_exit_2(cli):
    code, _, err = cli("order", "place", "DOGE-USD-PERP", "buy", "1", "--price", "1")
    assert code == 2 and "unknown market" in err


def test_late_rejection_with_wait_is_exit_4_and_without_wait_acknowledged(cli):
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "50", "--price", "90000",
                         "--wait", "open")  # fmt: skip
    assert code == 4
    assert "NOT_ENOUGH_MARGIN" in err and "rejected after being acknowledged" in err
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "50", "--price", "90000")
    assert code == 0 and json.loads(out)["outcome"] == "acknowledged"
    assert "not yet confirmed" in err


def test_wait_confirms_through_websocket_when_rest_lags(cli):
    # the sim's REST view of single orders lags 4 s; the WebSocket is live
    cli.sim.admin.staleness(order=4000)
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "0.01", "--price", "90000",
                         "--wait", "open", "--timeout", "3")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["status"] == "OPEN"
    assert "confirmed through the WebSocket" in err


def test_wait_falls_back_to_rest_when_websocket_unreachable(cli, monkeypatch):
    monkeypatch.setenv("PARADEX_WS_URL", "ws://127.0.0.1:9/v1")
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "0.01", "--type", "market",
                         "--wait", "filled", "--timeout", "5")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["order"]["remaining_size"] == "0"
    assert "confirmed through REST" in err
    assert err.count("WebSocket unavailable") == 1, err


def test_wait_timeout_exit_5_with_last_state(cli):
    # a resting limit order never fills: waiting for 'filled' times out
    code, _, err = cli("order", "place", BTC, "buy", "0.01", "--price", "90000", "--wait",
                       "filled", "--timeout", "0.5")  # fmt: skip
    assert code == 5 and "last known status OPEN" in err


def test_huge_size_in_modify_and_batch_is_exit_2(cli, tmp_path):
    r = place(cli, BTC, "buy", "0.01", "--price", "90000", "--wait", "open")
    code, _, err = cli("order", "modify", r["order_id"], "--size", "1e30")
    assert code == 2 and "maximum order size" in err, err
    assert cli.json("order", "get", r["order_id"])["size"] == "0.01"
    f = tmp_path / "huge.ndjson"
    f.write_text(json.dumps({"market": BTC, "side": "buy", "size": "1e30", "price": "90000",
                             "client_id": "huge-1"}) + "\n")  # fmt: skip
    code, _, err = cli("order", "place", "--batch", str(f))
    assert code == 2 and ":1:" in err and "maximum order size" in err, err
    assert "internal error" not in err
    assert cli.orders_with_client_id("huge-1") == []


# -- modify and cancel ----------------------------------------------------------------------


def test_modify_price_and_size(cli):
    r = place(cli, BTC, "buy", "0.01", "--price", "90000", "--wait", "open")
    m = cli.json("order", "modify", r["order_id"], "--price", "90100.5", "--size", "0.02")
    assert m["price"] == "90100.5" and m["size"] == "0.02"
    code, out, _ = cli("order", "modify", r["order_id"], "--price", "90200", "-o", "table")
    assert code == 0 and "90200" in out
    code, _, err = cli("order", "modify", r["order_id"], "--price", "90200.01")
    assert code == 2 and "nearest valid prices" in err
    code, _, _ = cli("order", "modify", r["order_id"])
    assert code == 2


def test_cancel_by_id_client_id_and_refuse_closed(cli):
    a = place(cli, BTC, "buy", "0.01", "--price", "90000", "--wait", "open")
    b = place(cli, BTC, "buy", "0.01", "--price", "90000", "--client-id", "cx-1", "--wait", "open")
    out = cli.json("order", "cancel", a["order_id"])
    assert out["status"] == "QUEUED_FOR_CANCELLATION"
    code, out, _ = cli("order", "cancel", "--client-id", "cx-1", "-o", "table")
    assert code == 0 and "QUEUED_FOR_CANCELLATION" in out
    for oid in (a["order_id"], b["order_id"]):
        assert cli.json("order", "get", oid)["status"] == "CLOSED"
    # cancelling a CLOSED order is refused locally with ORDER_IS_CLOSED (exit 4)
    code, _, err = cli("-o", "json", "order", "cancel", a["order_id"])
    assert code == 4
    assert json.loads(err)["details"]["code"] == "ORDER_IS_CLOSED"
    assert "not sending a cancel" in json.loads(err)["message"]


def test_cancel_all_with_market(cli):
    place(cli, BTC, "buy", "0.01", "--price", "90000", "--wait", "open")
    place(cli, ETH, "buy", "0.01", "--price", "3000", "--wait", "open")
    rows = cli.json("order", "cancel-all", "--market", BTC)
    assert [r["market"] for r in rows] == [BTC]
    assert {o["market"] for o in cli.json("orders", "list")} == {ETH}
    code, out, _ = cli("order", "cancel-all", "-o", "table")
    assert code == 0 and ETH in out
    assert cli.json("orders", "list") == []


# -- batch ----------------------------------------------------------------------------------


def test_batch_chunks_partial_failure_exit_4(cli, tmp_path):
    f = tmp_path / "orders.ndjson"
    lines = [
        {"market": BTC, "side": "buy", "size": "0.01", "price": "90000", "client_id": "b-1"},
        {"market": ETH, "side": "sell", "size": "0.01", "price": "4000", "client_id": "b-2"},
        {"market": BTC, "side": "buy", "size": "0.01", "price": "90000", "client_id": "b-3"},
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    rows = cli.json("order", "place", "--batch", str(f), "--chunk-size", "2")
    assert [r["outcome"] for r in rows] == ["acknowledged"] * 3
    assert all(len(cli.orders_with_client_id(f"b-{i}")) == 1 for i in (1, 2, 3))
    # a second batch reusing b-1 (still open): the exchange refuses that order's chunk
    lines2 = [
        {"market": BTC, "side": "buy", "size": "0.01", "price": "90000", "client_id": "b-4"},
        {"market": BTC, "side": "buy", "size": "0.01", "price": "90000", "client_id": "b-1"},
        {"market": BTC, "side": "buy", "size": "0.01", "price": "90000", "client_id": "b-5"},
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines2))
    code, out, err = cli("-o", "json", "order", "place", "--batch", str(f), "--chunk-size", "1")
    rows = json.loads(out)
    assert code == 4, err
    assert [r["outcome"] for r in rows] == ["acknowledged", "rejected", "acknowledged"]
    assert rows[1]["error"].startswith("DUPLICATED_CLIENT_ID")
    code, out, err = cli("-o", "json", "order", "place", "--batch", str(f), "--chunk-size", "3")
    rows = json.loads(out)
    assert code == 4 and all(r["outcome"] == "rejected" for r in rows)
    assert "because of line" in rows[2]["error"] or "because of line" in rows[1]["error"]
    code, out, _ = cli("-o", "table", "order", "place", "--batch", str(f), "--dry-run")
    assert code == 0 and "/orders/batch" in out


def _grid(n: int, prefix: str) -> str:
    return "".join(
        json.dumps({"market": BTC, "side": "buy", "size": "0.001",
                    "price": str(90000 + i), "client_id": f"{prefix}{i}"}) + "\n"
        for i in range(n)
    )  # fmt: skip


def test_batch_dry_run_prints_the_chunked_requests_to_be_sent(cli, tmp_path):
    f = tmp_path / "grid.ndjson"
    f.write_text(_grid(12, "dr-"))
    reqs = cli.json("order", "place", "--batch", str(f), "--dry-run")  # default --chunk-size 10
    assert [r["request"] for r in reqs] == [1, 2]
    assert [len(r["body"]) for r in reqs] == [10, 2]
    assert reqs[1]["lines"] == [11, 12]
    assert all(r["method"] == "POST" and r["url"].endswith("/orders/batch") for r in reqs)
    first = reqs[0]["body"][0]
    assert first["client_id"] == "dr-0" and first["price"] == "90000"
    assert first["signature"].startswith('["') and isinstance(first["signature_timestamp"], int)
    reqs = cli.json("order", "place", "--batch", str(f), "--dry-run", "--chunk-size", "5")
    assert [len(r["body"]) for r in reqs] == [5, 5, 2]
    code, out, err = cli("-o", "table", "order", "place", "--batch", str(f), "--dry-run")
    assert code == 0 and "/orders/batch" in out and "2 request(s) of at most 10" in err
    assert not any(o.client_id.startswith("dr-") for o in cli.sim.sim.engine.orders.values())


def test_chunk_size_is_capped_at_50(cli, tmp_path):
    f = tmp_path / "grid.ndjson"
    f.write_text(_grid(2, "cap-"))
    code, _, err = cli("order", "place", "--batch", str(f), "--chunk-size", "51")
    assert code == 2 and "--chunk-size" in err and "50" in err
    assert cli.orders_with_client_id("cap-0") == []
    rows = cli.json("order", "place", "--batch", str(f), "--chunk-size", "50")
    assert [r["outcome"] for r in rows] == ["acknowledged"] * 2


def test_batch_invalid_line_exit_2_nothing_sent(cli, tmp_path):
    f = tmp_path / "bad.ndjson"
    f.write_text(
        json.dumps({"market": BTC, "side": "buy", "size": "0.01", "price": "90000",
                    "client_id": "v-1"}) + "\n"
        + json.dumps({"market": BTC, "side": "buy", "size": "0.01", "price": "90000.05"}) + "\n"
    )  # fmt: skip
    code, _, err = cli("order", "place", "--batch", str(f))
    assert code == 2 and ":2:" in err and "nearest valid prices" in err
    assert cli.orders_with_client_id("v-1") == []


# -- never place twice, retries ---------------------------------------------------------------


def test_accept_then_timeout_reports_placed_and_sim_holds_one(cli, monkeypatch):
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), timeout_s=1)
    cli.json("markets")  # warm the caches, so the fault hits the POST
    cli.json("account")
    # the sim executes the order and holds the answer past the client's 1 s timeout
    cli.sim.admin.faults(accept_then_timeout=1, timeout_hold_s=3)
    code, out, err = cli("-o", "json", "order", "place", BTC, "buy", "0.01", "--price", "90000",
                         "--client-id", "att-1")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["outcome"] == "recovered" and data["order_id"]
    assert "found by client_id" in err
    assert f"recovered: the POST failed, but order {data['order_id']} (client_id att-1)" in err
    assert "acknowledged" not in err and "not yet confirmed" not in err
    assert len(cli.orders_with_client_id("att-1")) == 1


def test_truly_lost_exits_6_naming_client_id(cli):
    cli.json("markets")
    cli.json("account")
    # the POST gets a 503 and is not executed; lookups then find nothing
    cli.sim.admin.faults(rest_5xx_order_writes=1, rest_5xx_status=503)
    code, _, err = cli("order", "place", BTC, "buy", "0.01", "--price", "90000",
                       "--client-id", "lost-1")  # fmt: skip
    assert code == 6
    assert "lost-1" in err and "NOT re-sent" in err
    assert cli.orders_with_client_id("lost-1") == []


def test_reused_client_id_with_lost_post_is_exit_6_not_a_false_recovery(cli):
    old = place(cli, BTC, "buy", "0.01", "--price", "90000", "--client-id", "reuse-1",
                "--wait", "open")  # fmt: skip
    cli.json("order", "cancel", old["order_id"])
    assert cli.json("order", "get", old["order_id"])["status"] == "CLOSED"
    # the POST of a different order with the same client_id gets a 503 and is not executed
    cli.sim.admin.faults(rest_5xx_order_writes=1, rest_5xx_status=503)
    code, out, err = cli("order", "place", BTC, "sell", "0.02", "--price", "99000",
                         "--client-id", "reuse-1")  # fmt: skip
    assert code == 6, (out, err)
    assert "reuse-1" in err and "different order with this client_id" in err
    assert old["order_id"] in err and "NOT re-sent" in err
    assert out == ""
    assert [o.side for o in cli.orders_with_client_id("reuse-1")] == ["BUY"]


def test_accept_then_timeout_with_a_reused_client_id_recovers_the_new_order(cli, monkeypatch):
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), timeout_s=1)
    old = place(cli, BTC, "buy", "0.01", "--price", "90000", "--client-id", "reuse-2",
                "--wait", "open")  # fmt: skip
    cli.json("order", "cancel", old["order_id"])
    cli.sim.admin.faults(accept_then_timeout=1, timeout_hold_s=3)
    code, out, err = cli("-o", "json", "order", "place", BTC, "sell", "0.02", "--price",
                         "99000", "--client-id", "reuse-2")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["outcome"] == "recovered" and data["order_id"] != old["order_id"]
    assert data["order"]["side"] == "SELL" and data["order"]["size"] == "0.02"
    assert len(cli.orders_with_client_id("reuse-2")) == 2


def test_5xx_burst_and_429_survived_within_budget(cli):
    cli.sim.admin.faults(rest_5xx=2)
    assert cli.json("bbo", BTC)["market"] == BTC
    cli.sim.admin.faults(rest_429=2, retry_after_s=0)
    assert cli.json("positions") == []
    state = cli.sim.admin.faults()
    assert state["injected"]["rest_5xx"] >= 2 and state["injected"]["rest_429"] >= 2


def test_429_on_place_is_retried_and_places_exactly_once(cli):
    cli.json("markets")
    cli.json("account")
    cli.sim.admin.faults(rest_429=2, retry_after_s=0)
    data = place(cli, BTC, "buy", "0.01", "--price", "90000", "--client-id", "rl-1")
    assert data["outcome"] == "acknowledged"
    assert len(cli.orders_with_client_id("rl-1")) == 1
    # the advisory state read (one try) took the first, the POST the second and was retried
    assert cli.sim.admin.state()["faults"]["injected"]["rest_429"] == 2


def test_5xx_burst_on_the_state_read_and_the_place_then_lookup_finds_nothing_not_resent(cli):
    cli.json("markets")
    cli.json("account")
    # the system state read (one try: advisory) gets a 503 and is skipped with a warning, the
    # POST gets a 503 (not executed), the first lookup a 503 (retried)
    cli.sim.admin.faults(rest_5xx=2, rest_5xx_order_writes=1)
    code, _, err = cli("order", "place", BTC, "buy", "0.01", "--price", "90000",
                       "--client-id", "burst-1")  # fmt: skip
    assert code == 6 and "burst-1" in err
    assert "system state could not be read" in err and "sending anyway" in err
    assert cli.orders_with_client_id("burst-1") == []
    assert cli.sim.admin.state()["faults"]["injected"]["rest_5xx"] == 3


def test_exceeded_budget_exit_5(cli):
    cli.sim.admin.faults(rest_5xx=20)
    code, _, err = cli("bbo", BTC)
    assert code == 5 and "after 4 attempts" in err
    cli.sim.admin.faults(rest_5xx=0, rest_429=20, retry_after_s=0)
    code, _, err = cli("markets", "--refresh")
    assert code == 5 and "429" in err


# -- auth cache -----------------------------------------------------------------------------


def test_jwt_cached_0600_and_reused_across_invocations(cli, tmp_path):
    cli.json("account")
    files = list((tmp_path / "cache" / "paradexctl").glob("jwt-*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    first = files[0].read_text()
    mtime = files[0].stat().st_mtime_ns
    cli.json("balances")
    assert files[0].read_text() == first and files[0].stat().st_mtime_ns == mtime
    # a garbled cached token gets a 401, one re-auth and one retry
    data = json.loads(first)
    data["jwt"] = "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.x"
    files[0].write_text(json.dumps(data))
    assert cli.json("balances")[0]["token"] == "USDC"
    assert json.loads(files[0].read_text())["jwt"] != data["jwt"]


def test_verbose_trace_has_no_secrets(cli):
    code, _, err = cli("-v", "-o", "json", "order", "place", BTC, "buy", "0.01", "--price",
                       "90000")  # fmt: skip
    assert code == 0
    assert "> POST" in err and "/orders" in err
    assert "eyJ" not in err
    assert hex(cli.priv)[2:] not in err
    assert '"signature":"***"' in stderr_text(err).replace(" ", "")


def test_address_derivation_matches_sim(cli, monkeypatch):
    # no address configured: derived from the key and /system/config's class hashes
    assert cli.json("account")["account"] == cli.address
    monkeypatch.setenv("PARADEX_SUBKEY", "1")
    code, _, err = cli("account")
    assert code == 3 and "subkey" in err


def test_help_does_not_import_httpx():
    import subprocess
    import sys

    code = (
        "import sys; from paradexctl.cli.main import load_commands; load_commands(); "
        "assert 'httpx' not in sys.modules, 'httpx imported'; "
        "assert 'paradexctl.signing' not in sys.modules"
    )
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=Path(__file__).parent.parent)  # fmt: skip
    assert p.returncode == 0, p.stderr


# -- self-trade prevention ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "maker_closed", "taker_closed"),
    [
        (None, False, True),  # the exchange's default: EXPIRE_TAKER, not sent
        ("expire-maker", True, False),
        ("EXPIRE_BOTH", True, True),
    ],
)
def test_stp_decides_which_side_of_a_self_trade_is_cancelled(cli, flag, maker_closed, taker_closed):
    ask = Decimal(cli.json("bbo", BTC)["ask"])
    inside = str(ask - Decimal("0.1"))
    maker = place(cli, BTC, "sell", "0.01", "--price", inside, "--tif", "post-only")
    args = ["--stp", flag] if flag else []
    body = cli.json("order", "place", BTC, "buy", "0.01", "--price", str(ask), *args,
                    "--dry-run")["body"]  # fmt: skip
    assert body.get("stp") == (None if flag is None else flag.upper().replace("-", "_"))
    taker = place(cli, BTC, "buy", "0.01", "--price", str(ask), *args)
    # the sim matches within the POST: both orders are final once it answered
    orders = {o.id: o for o in cli.sim.sim.engine.orders.values()}
    m, t = orders[maker["order_id"]], orders[taker["order_id"]]
    assert (m.status == "CLOSED", m.cancel_reason) == (
        maker_closed, "SELF_TRADE" if maker_closed else "",
    )  # fmt: skip
    assert (t.status == "CLOSED" and t.cancel_reason == "SELF_TRADE") == taker_closed
    assert m.remaining == Decimal("0.01")  # the maker never traded with its own account


def test_an_unknown_stp_mode_is_refused_before_any_request(cli):
    code, out, err = cli("order", "place", BTC, "buy", "0.01", "--price", "90000",
                         "--stp", "expire-nobody")  # fmt: skip
    assert code == 2 and out == ""
    assert "--stp 'expire-nobody': choose expire-maker, expire-taker, expire-both" in err


# -- leverage and margin type ---------------------------------------------------------------


def test_account_margin_shows_and_sets_leverage_checked_against_the_market(cli):
    code, out, err = cli("-o", "json", "account", "margin")
    assert code == 0 and json.loads(out) == [] and "no open positions" in err
    rows = cli.json("account", "margin", "--market", BTC)
    assert rows == [{"market": BTC, "leverage": 10, "isolated_margin_leverage": 10,
                     "margin_type": "CROSS"}]  # fmt: skip
    # above the market's maximum (1 / imf_base = 10): exit 2, nothing sent
    code, out, err = cli("account", "margin", "set", BTC, "--leverage", "11")
    assert code == 2 and "allows at most 10x" in err and out == ""
    assert cli.json("account", "margin", "--market", BTC)[0]["leverage"] == 10
    dry = cli.json("account", "margin", "set", BTC, "--leverage", "4", "--dry-run")
    assert dry["body"] == {"leverage": 4, "margin_type": "CROSS"}  # the mode kept as it is
    assert cli.sim.sim.engine.margin == {}
    done = cli.json("account", "margin", "set", BTC, "--leverage", "4", "--mode", "isolated")
    assert (done["leverage"], done["margin_type"]) == (4, "ISOLATED")
    assert cli.sim.sim.engine.margin[(cli.address, BTC)] == (4, "ISOLATED")
    code, _, err = cli("account", "margin", "set", BTC, "--leverage", "2", "--mode", "hedge")
    assert code == 2 and "choose cross or isolated" in err
    # a position's market is listed without --market
    place(cli, BTC, "buy", "0.01", "--type", "market", "--wait", "filled")
    assert [r["market"] for r in cli.json("account", "margin")] == [BTC]
    # (that the leverage drives the sim's margin is tests/test_sim_engine.py's)

"""End to end against the sim: the options and output formats of the trading and account
commands that ``test_cli_orders_e2e.py`` does not reach (table output of onboard, history,
get, cancel and --wait; --open --since; cursor following past one page; the default chunk
size; --batch from stdin; a batch under accept-then-timeout; REST-only waiting)."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from conftest import write_profile
from stderr_text import stderr_text
from test_cli_orders_e2e import BTC, ETH, Cli, make_cli, place

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(sim, sim_account, capsys, sim_cli_env) -> Cli:
    return make_cli(sim, sim_account, capsys, sim_cli_env)


def _lines(n: int, prefix: str, market: str = BTC, price: int = 90000) -> str:
    return "".join(
        json.dumps({"market": market, "side": "buy", "size": "0.001" if market == BTC else "0.01",
                    "price": str(price + i), "client_id": f"{prefix}{i}"}) + "\n"
        for i in range(n)
    )  # fmt: skip


def _batch_posts(err: str) -> int:
    return len(re.findall(r"^> POST \S+/orders/batch$", stderr_text(err), flags=re.M))


def test_onboard_table_output_with_ethereum_account(sim, cli: Cli, monkeypatch):
    from paradexctl.sim.testing import new_account

    fresh = new_account(sim.http_url, onboard=False)
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", hex(fresh.private_key))
    code, out, err = cli("-o", "table", "account", "onboard", "--ethereum-account",
                         "0x0000000000000000000000000000000000000001")  # fmt: skip
    assert code == 0, err
    assert fresh.address in out and "onboarded" in out
    assert cli.json("account")["account"] == fresh.address


def test_orders_list_history_table_and_open_since(cli: Cli):
    r = place(cli, BTC, "buy", "0.01", "--price", "90000", "--client-id", "hist-1",
              "--wait", "open")  # fmt: skip
    cli.json("order", "cancel", r["order_id"])
    cli.json("order", "get", r["order_id"])  # CLOSED by now (the sim cancels at once)
    code, out, err = cli("-o", "table", "orders", "list", "--history")
    assert code == 0, err
    assert "hist-1" in out and "CLOSED" in out and "USER_CANCELED" in out
    code, out, _ = cli("-o", "table", "orders", "list", "--history", "--status", "closed")
    assert code == 0 and "hist-1" in out
    # --open --since filters the open orders by created_at, on the client side
    live = place(cli, ETH, "buy", "0.01", "--price", "3000", "--wait", "open")
    assert [o["id"] for o in cli.json("orders", "list", "--open", "--since", "10m")] == [
        live["order_id"]
    ]
    assert cli.json("orders", "list", "--open", "--since", "2999-01-01T00:00:00Z") == []


def test_orders_history_follows_cursors_across_pages_up_to_the_limit(cli: Cli, tmp_path):
    # 150 orders: more than one page of 100 (two markets: at most 100 open per market)
    f = tmp_path / "many.ndjson"
    f.write_text(_lines(75, "pg-b-") + _lines(75, "pg-e-", market=ETH, price=3000))
    rows = cli.json("order", "place", "--batch", str(f), "--chunk-size", "50")
    assert len(rows) == 150 and {r["outcome"] for r in rows} == {"acknowledged"}
    code, out, err = cli("-v", "-o", "json", "orders", "list", "--history", "--limit", "120")
    assert code == 0, err
    got = json.loads(out)
    assert len(got) == 120 and len({o["id"] for o in got}) == 120
    gets = re.findall(r"^> GET \S+/orders-history\S*$", stderr_text(err), flags=re.M)
    assert len(gets) == 2 and "cursor=" in gets[1] and "page_size=20" in gets[1]
    assert len(cli.json("orders", "list", "--history", "--limit", "500")) == 150


def test_order_get_by_client_id_table_and_market(cli: Cli):
    r = place(cli, ETH, "buy", "0.01", "--price", "3000", "--client-id", "gm-1", "--wait", "open")
    code, out, _ = cli("-o", "table", "order", "get", "--client-id", "gm-1")
    assert code == 0 and r["order_id"] in out and "gm-1" in out
    assert cli.json("order", "get", "--client-id", "gm-1", "--market", ETH)["id"] == r["order_id"]
    code, _, err = cli("order", "get", "--client-id", "nobody", "--market", ETH)
    assert code == 4 and "nobody" in err


def test_cancel_variants_in_table_and_json(cli: Cli):
    a = place(cli, BTC, "buy", "0.01", "--price", "90000", "--wait", "open")
    place(cli, ETH, "buy", "0.01", "--price", "3000", "--client-id", "cj-1", "--wait", "open")
    code, out, _ = cli("-o", "table", "order", "cancel", a["order_id"], "--yes")
    assert code == 0 and a["order_id"] in out and "QUEUED_FOR_CANCELLATION" in out
    out = cli.json("order", "cancel", "--client-id", "cj-1", "--market", ETH)
    assert out["client_id"] == "cj-1" and out["market"] == ETH
    assert out["status"] == "QUEUED_FOR_CANCELLATION"
    assert cli.json("order", "get", "--client-id", "cj-1")["status"] == "CLOSED"


def test_cancel_all_market_table_and_all_json(cli: Cli):
    b = place(cli, BTC, "buy", "0.01", "--price", "90000", "--wait", "open")
    e = place(cli, ETH, "buy", "0.01", "--price", "3000", "--wait", "open")
    code, out, err = cli("-o", "table", "order", "cancel-all", "--market", BTC, "--yes")
    assert code == 0 and b["order_id"] in out and e["order_id"] not in out
    assert "1 open order(s) queued" in err
    rows = cli.json("order", "cancel-all")
    assert [r["id"] for r in rows] == [e["order_id"]]
    assert cli.json("orders", "list") == []


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--type", "limit", "--price", "90000", "--tif", "gtc", "--wait", "open"], "OPEN"),
        (["--type", "market", "--wait", "filled"], "CLOSED"),
        (["--price", "90000", "--tif", "post-only", "--wait", "accepted"], "OPEN"),
        (["--type", "stop-limit", "--price", "99000", "--trigger-price", "98000",
          "--wait", "open"], "UNTRIGGERED"),
    ],
)  # fmt: skip
def test_place_with_wait_in_table_output(cli: Cli, args, status):
    code, out, err = cli("-o", "table", "order", "place", BTC, "buy", "0.01", *args,
                         "--client-id", "tw-1", "--timeout", "10", "--yes")  # fmt: skip
    assert code == 0, err
    assert "tw-1" in out and status in out
    wanted = args[args.index("--wait") + 1]
    assert f"(client_id tw-1) is {wanted}" in err


def test_rest_only_waiting_with_wait_ws_0(cli: Cli, monkeypatch):
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), wait_ws=0)
    code, out, err = cli("-v", "-o", "json", "order", "place", BTC, "buy", "0.01", "--type",
                         "market", "--wait", "filled", "--timeout", "10")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["order"]["remaining_size"] == "0"
    assert "confirmed through REST" in err and "WebSocket unavailable" not in err
    assert "ws://" not in err  # no WebSocket was opened
    assert re.search(r"^> GET \S+/orders/\d+$", stderr_text(err), flags=re.M)


def test_default_chunk_size_is_10(cli: Cli, tmp_path):
    f = tmp_path / "twelve.ndjson"
    f.write_text(_lines(12, "ch-"))
    code, out, err = cli("-v", "-o", "json", "order", "place", "--batch", str(f), "--yes")
    assert code == 0, err
    assert _batch_posts(err) == 2
    assert [r["outcome"] for r in json.loads(out)] == ["acknowledged"] * 12
    assert all(len(cli.orders_with_client_id(f"ch-{i}")) == 1 for i in range(12))


def test_batch_from_stdin_in_table_output(cli: Cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(_lines(3, "in-")))
    code, out, err = cli("-o", "table", "order", "place", "--batch", "-")
    assert code == 0, err
    assert all(f"in-{i}" in out for i in range(3)) and "acknowledged" in out
    assert "3 acknowledged or recovered, 0 rejected, 0 not sent, 0 unknown" in err
    assert all(len(cli.orders_with_client_id(f"in-{i}")) == 1 for i in range(3))


def test_batch_under_accept_then_timeout_is_recovered_not_resent(cli: Cli, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), timeout_s=1)
    cli.json("markets")
    cli.json("account")
    f = tmp_path / "att.ndjson"
    f.write_text(_lines(3, "bat-"))
    cli.sim.admin.faults(accept_then_timeout=1, timeout_hold_s=3)
    code, out, err = cli("-v", "-o", "json", "order", "place", "--batch", str(f),
                         "--chunk-size", "2")  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)
    assert [r["outcome"] for r in rows] == ["recovered", "recovered", "acknowledged"]
    assert _batch_posts(err) == 2  # the timed-out chunk was not re-sent
    assert all(len(cli.orders_with_client_id(f"bat-{i}")) == 1 for i in range(3))

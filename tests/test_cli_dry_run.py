"""``--dry-run`` on the commands that change an existing order (issue 17, item 8): ``order
modify``, ``order cancel`` and ``order cancel-all`` check (and, for modify, sign), print the
request, and send nothing: the order on the sim is unchanged afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest

from paradexctl.cli.main import main

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(sim: Any, sim_account: Any, sim_cli_env: pytest.MonkeyPatch, capsys: Any) -> Any:
    priv, _pub, address = sim_account(sim)
    sim_cli_env.setenv("PARADEX_L2_PRIVATE_KEY", hex(priv))
    sim_cli_env.setenv("PARADEX_ACCOUNT_ADDRESS", address)

    def run(*args: str) -> tuple[int, Any, str]:
        capsys.readouterr()
        code = main([*args, "-o", "json"])
        cap = capsys.readouterr()
        return code, (json.loads(cap.out) if cap.out.strip() else None), cap.err

    return run


def _open_order(cli: Any) -> dict[str, Any]:
    code, placed, err = cli(
        "order", "place", "BTC-USD-PERP", "buy", "0.01", "--price", "1000", "--wait", "open"
    )
    assert code == 0, err
    code, order, err = cli("order", "get", placed["order_id"])
    assert code == 0 and order["status"] == "OPEN", err
    return order


def test_modify_dry_run_prints_the_signed_put_and_sends_nothing(cli: Any) -> None:
    order = _open_order(cli)
    code, shown, err = cli("order", "modify", order["id"], "--price", "1001", "--dry-run")
    assert code == 0, err  # before: "no such option: --dry-run", exit 2
    assert shown["dry_run"] is True and shown["method"] == "PUT"
    assert shown["url"].endswith(f"/orders/{order['id']}")
    assert shown["body"]["price"] == "1001" and shown["body"]["signature"]
    assert [json.loads(x)["type"] for x in err.splitlines()] == ["info"]
    code, after, _ = cli("order", "get", order["id"])
    assert after["price"] == order["price"]  # not modified


def test_cancel_dry_run_checks_and_sends_nothing(cli: Any) -> None:
    order = _open_order(cli)
    code, shown, err = cli("order", "cancel", order["id"], "--dry-run")
    assert code == 0, err
    assert shown["dry_run"] is True and shown["method"] == "DELETE"
    assert shown["url"].endswith(f"/orders/{order['id']}")
    code, shown, err = cli("order", "cancel", "--client-id", order["client_id"], "--dry-run")
    assert code == 0 and shown["id"] == order["id"], err
    code, after, _ = cli("order", "get", order["id"])
    assert after["status"] == "OPEN"


def test_cancel_all_dry_run_lists_what_it_would_cancel(cli: Any) -> None:
    order = _open_order(cli)
    code, shown, err = cli("order", "cancel-all", "--market", "BTC-USD-PERP", "--dry-run")
    assert code == 0, err
    assert shown["method"] == "DELETE" and shown["params"] == {"market": "BTC-USD-PERP"}
    assert [o["id"] for o in shown["orders"]] == [order["id"]]
    code, after, _ = cli("order", "get", order["id"])
    assert after["status"] == "OPEN"

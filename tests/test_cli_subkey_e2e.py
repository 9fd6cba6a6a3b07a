"""End to end: the CLI configured with a trade-only subkey (``PARADEX_SUBKEY=1``, the subkey as
``PARADEX_L2_PRIVATE_KEY``, the main account's ``PARADEX_ACCOUNT_ADDRESS``) against the sim,
which verifies the subkey's signatures. Orders act on the main account (checked in the sim's
own state); onboarding is refused (exit 2 locally, exit 4 from the exchange)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import write_profile

from paradexctl.cli.main import main
from paradexctl.sim.server import SimServer
from paradexctl.sim.testing import SimAccount, new_account, new_subkey

pytestmark = pytest.mark.e2e

BTC = "BTC-USD-PERP"


class Cli:
    def __init__(self, capsys: Any) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        cap = self.capsys.readouterr()
        return code, cap.out, cap.err

    def json(self, *args: str) -> Any:
        code, out, err = self("-o", "json", *args)
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def env(sim_cli_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), lookup_rounds=3)
    return sim_cli_env


def use_subkey(env: pytest.MonkeyPatch, sub: SimAccount, *, flag: bool = True) -> None:
    env.setenv("PARADEX_L2_PRIVATE_KEY", hex(sub.private_key))
    env.setenv("PARADEX_ACCOUNT_ADDRESS", sub.address)  # the main account's address
    if flag:
        env.setenv("PARADEX_SUBKEY", "1")
    else:
        env.delenv("PARADEX_SUBKEY", raising=False)


def cached_jwt_claims(tmp_path: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted((tmp_path / "cache" / "paradexctl").glob("jwt-*.json")):
        part = json.loads(f.read_text())["jwt"].split(".")[1]
        out.append(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
    return out


def open_orders(sim: SimServer, address: str) -> list[dict[str, Any]]:
    return sim.admin.state()["accounts"][address]["open_orders"]  # type: ignore[no-any-return]


def test_subkey_places_lists_and_cancels_for_the_main_account(
    sim: SimServer, env: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    main_acct = new_account(sim.http_url)
    sub = new_subkey(sim.http_url, main_acct.address)
    use_subkey(env, sub)
    cli = Cli(capsys)

    placed = cli.json(
        "order", "place", BTC, "buy", "0.01", "--price", "90000",
        "--client-id", "sub-1", "--wait", "open",
    )  # fmt: skip
    oid = placed["order_id"]
    # the sim's truth: the order rests on the main account
    assert [o["id"] for o in open_orders(sim, main_acct.address)] == [oid]
    assert sim.sim.engine.orders[oid].account == main_acct.address
    # the CLI authenticated with the subkey: its JWT is a subkey token of the main account
    [c] = cached_jwt_claims(tmp_path)
    assert c["sub"] == main_acct.address and c["subkey"] == sub.public_key

    rows = cli.json("orders", "list", "--open")
    assert [(r["id"], r["client_id"]) for r in rows] == [(oid, "sub-1")]

    out = cli.json("order", "cancel", oid)
    assert out["status"] == "QUEUED_FOR_CANCELLATION"
    assert open_orders(sim, main_acct.address) == []
    assert sim.sim.engine.orders[oid].status == "CLOSED"
    assert cli.json("orders", "list", "--open") == []


def test_subkey_cannot_onboard(
    sim: SimServer, env: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    main_acct = new_account(sim.http_url)
    sub = new_subkey(sim.http_url, main_acct.address)
    cli = Cli(capsys)
    accounts = set(sim.admin.state()["accounts"])

    # configured as a subkey: refused before anything is sent (exit 2)
    use_subkey(env, sub)
    code, out, err = cli("account", "onboard")
    assert (code, out) == (2, "")
    assert err == "paradexctl: a subkey cannot onboard an account; onboard with the main key\n"
    code, _, err = cli("-o", "json", "account", "onboard")
    assert code == 2 and json.loads(err)["error"] == "usage"

    # the same key not flagged as a subkey: the exchange refuses it (exit 4, its code shown)
    use_subkey(env, sub, flag=False)
    code, out, err = cli("-o", "json", "account", "onboard")
    assert code == 4 and out == ""
    body = json.loads(err)
    assert body["details"]["code"] == "INVALID_TOKEN_SCOPE"
    assert "subkey cannot onboard" in body["message"]
    assert set(sim.admin.state()["accounts"]) == accounts


def test_unregistered_subkey_is_refused(
    sim: SimServer, env: pytest.MonkeyPatch, capsys: Any
) -> None:
    main_acct = new_account(sim.http_url)
    stranger = new_subkey(sim.http_url, main_acct.address, register=False)
    use_subkey(env, stranger)
    code, out, err = Cli(capsys)("-o", "json", "orders", "list", "--open")
    assert code == 4 and out == ""
    assert json.loads(err)["details"]["code"] == "INVALID_SUBKEY"


def test_main_key_and_subkey_do_not_share_a_cached_jwt(
    sim: SimServer, env: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    """The main key's cached JWT is not reused for the subkey (same profile and account):
    the exchange checks an order's signature against the key that authenticated."""
    main_acct = new_account(sim.http_url)
    sub = new_subkey(sim.http_url, main_acct.address)
    cli = Cli(capsys)
    env.setenv("PARADEX_L2_PRIVATE_KEY", hex(main_acct.private_key))
    env.setenv("PARADEX_ACCOUNT_ADDRESS", main_acct.address)
    assert cli.json("orders", "list", "--open") == []  # caches the main key's JWT
    use_subkey(env, sub)
    placed = cli.json("order", "place", BTC, "buy", "0.01", "--price", "90000", "--wait", "open")
    assert [o["id"] for o in open_orders(sim, main_acct.address)] == [placed["order_id"]]
    claims = cached_jwt_claims(tmp_path)
    assert sorted(c.get("subkey", "main") for c in claims) == sorted(["main", sub.public_key])

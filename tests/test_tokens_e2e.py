"""Read-only API tokens end to end against the sim: the sim's token API and scope, and the
CLI with a token as its only credential (reads work, every write is refused locally with
exit 3, the token is never printed), plus ``auth tokens create / list / revoke``."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import write_profile

from paradexctl.cli.main import main
from paradexctl.sim.testing import Trader, login, new_subkey

pytestmark = pytest.mark.e2e
BTC = "BTC-USD-PERP"


def create_token(trader: Trader, **body: Any) -> dict[str, Any]:
    """``POST /account/tokens`` as the published ``CreateToken``: the ``CreateTokenResponse``."""
    full = {"name": "t", "token_type": "api_key", "expiry_duration": 86_400, **body}
    r = trader.http.post("/account/tokens", json=full)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- the sim


def test_a_read_only_token_reads_and_is_refused_every_write(sim: Any) -> None:
    trader = Trader(sim.http_url)
    try:
        trader.place_ok(BTC, "BUY", "0.01", "90000", client_id="t-1")
        made = create_token(trader, name="cron", expiry_duration=3600)
        meta = made["api_token"]
        assert (meta["name"], meta["kind"], meta["revoked_at"]) == ("cron", "api_key", 0)
        assert meta["expiry_at"] - meta["created_at"] == 3_600 * 10**9  # ns
        ro = httpx.Client(base_url=sim.http_url, headers={
            "Authorization": f"Bearer {made['token']}"}, timeout=10)  # fmt: skip
        with ro:
            assert [o["client_id"] for o in ro.get("/orders").json()["results"]] == ["t-1"]
            assert ro.get("/account").status_code == 200
            r = ro.delete("/orders", params={"market": BTC})
            assert (r.status_code, r.json()["error"]) == (403, "INVALID_TOKEN_SCOPE")
            r = ro.post("/account/tokens", json={"name": "x", "token_type": "api_key",
                                                  "expiry_duration": 60})  # fmt: skip
            assert r.status_code == 403
            # the listing never holds the token
            listed = ro.get("/account/tokens").json()["results"]
            assert [t["lookup_id"] for t in listed] == [meta["lookup_id"]]
            assert "token" not in listed[0] and made["token"] not in json.dumps(listed)
            assert ro.get("/account/tokens", params={"kind": "jwt"}).json()["results"] == []
            # revoked: refused at once
            r = trader.http.delete(f"/account/tokens/{meta['lookup_id']}")
            assert r.status_code == 200 and r.json() == {"lookup_id": meta["lookup_id"]}
            r = ro.get("/orders")
            assert r.status_code == 401 and "revoked" in r.json()["message"]
            assert trader.http.get("/account/tokens").json()["results"][0]["revoked_at"]
        assert len([o for o in sim.sim.engine.orders.values() if o.status != "CLOSED"]) == 1
    finally:
        trader.close()


def test_token_requests_the_sim_refuses(sim: Any) -> None:
    trader = Trader(sim.http_url)
    try:
        for body, message in (
            ({"token_type": "admin"}, "token_type must be one of api_key, jwt"),
            ({"expiry_duration": 10}, "expiry_duration must be in"),
            ({"expiry_duration": "1h"}, "expiry_duration must be an integer"),
            ({"name": 5}, "name is required"),
            ({"name": ""}, "name is required"),
        ):
            full = {"name": "t", "token_type": "api_key", "expiry_duration": 600, **body}
            r = trader.http.post("/account/tokens", json=full)
            assert r.status_code == 400 and message in r.json()["message"], (body, r.text)
        r = trader.http.delete("/account/tokens/tok-nope")
        assert r.status_code == 404
        sub = new_subkey(sim.http_url, trader.acct.address)
        r = httpx.post(f"{sim.http_url}/account/tokens", json={"name": "s",
                       "token_type": "api_key", "expiry_duration": 60},
                       headers={"Authorization": f"Bearer {login(sim.http_url, sub)}"})  # fmt: skip
        assert (r.status_code, r.json()["error"]) == (403, "INVALID_TOKEN_SCOPE")
    finally:
        trader.close()


def test_a_read_only_token_subscribes_on_the_websocket_but_cannot_trade(sim: Any) -> None:
    trader = Trader(sim.http_url)
    try:
        token = create_token(trader)["token"]

        async def session() -> list[dict[str, Any]]:
            async with websockets.connect(sim.ws_url) as ws:
                for i, (method, params) in enumerate([
                    ("auth", {"bearer": token}),
                    ("subscribe", {"channel": "orders.ALL"}),
                    ("order.cancel_all", {}),
                ]):  # fmt: skip
                    await ws.send(json.dumps(
                        {"jsonrpc": "2.0", "id": i, "method": method, "params": params}))  # fmt: skip
                replies: list[dict[str, Any]] = []
                while len(replies) < 3:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if "id" in msg:
                        replies.append(msg)
                return sorted(replies, key=lambda m: m["id"])

        auth, sub, cancel = asyncio.run(session())
        assert "result" in auth and "result" in sub, (auth, sub)
        assert cancel["error"]["code"] == 40300 and "read-only" in cancel["error"]["message"]
    finally:
        trader.close()


# ----------------------------------------------------------------------------- the CLI


class Cli:
    def __init__(self, capsys: Any) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        cap = self.capsys.readouterr()
        return code, cap.out, cap.err


@pytest.fixture
def token_cli(
    sim: Any, capsys: Any, sim_cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Cli, Trader, str]:
    """A CLI whose only credential is a read-only token of a trader with one open order."""
    trader = Trader(sim.http_url)
    trader.place_ok(BTC, "BUY", "0.01", "90000", client_id="ro-1")
    token = create_token(trader, name="cli")["token"]
    sim_cli_env.delenv("PARADEX_L2_PRIVATE_KEY", raising=False)
    sim_cli_env.setenv("PARADEX_API_TOKEN", token)
    write_profile(tmp_path / "config", retry_attempts=2)
    yield Cli(capsys), trader, token
    trader.close()


def test_with_a_token_reads_work_and_the_account_comes_from_the_token(token_cli: Any) -> None:
    cli, trader, token = token_cli
    code, out, err = cli("-v", "-o", "json", "orders", "list")
    assert code == 0, err
    assert [o["client_id"] for o in json.loads(out)] == ["ro-1"]
    assert token not in out and token not in err  # -v traces redact the Authorization header
    code, out, err = cli("-o", "json", "status")
    assert code == 0, err
    report = json.loads(out)
    assert (report["credential"], report["authenticated"], report["jwt_from"]) == (
        "read-only token", True, "token",
    )  # fmt: skip
    assert report["account"] == trader.acct.address
    assert report["key_source"] == "environment variable PARADEX_API_TOKEN"
    assert report["jwt_expires_at"] > 0 and token not in out + err
    code, out, err = cli("-o", "json", "reconcile", "--window", "0.2", "--grace", "0.1")
    assert code == 0, err


@pytest.mark.parametrize(
    "args",
    [
        ["order", "place", BTC, "buy", "0.01", "--price", "90000"],
        ["order", "modify", "1", "--price", "90010"],
        ["order", "cancel", "--client-id", "ro-1"],
        ["order", "cancel", "--client-id", "ro-1", "--dry-run"],
        ["order", "cancel-all", "--market", BTC],
        ["smoke", "--timeout", "1"],
        ["account", "onboard"],
        ["auth", "tokens", "create", "--read-only", "--save-to", "{tmp}/never.token"],
        ["auth", "tokens", "revoke", "lk-1"],
    ],
    ids=["place", "modify", "cancel", "cancel-dry-run", "cancel-all", "smoke", "onboard",
         "tokens-create", "tokens-revoke"],
)  # fmt: skip
def test_with_a_token_every_write_is_refused_locally_with_exit_3_sending_nothing(
    token_cli: Any, args: list[str], tmp_path: Path
) -> None:
    cli, trader, token = token_cli
    code, out, err = cli("-v", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 3, err
    assert "read-only API token" in err and "nothing was sent" in err
    assert token not in out + err
    # -v traces every request as "> METHOD URL": none was made
    assert not [ln for ln in err.splitlines() if ln.lstrip().startswith("> ")], err
    assert not (tmp_path / "never.token").exists()
    open_orders = trader.http.get("/orders").json()["results"]
    assert [o["client_id"] for o in open_orders] == ["ro-1"]  # nothing cancelled or placed


def test_a_revoked_token_is_exit_4_naming_it(token_cli: Any) -> None:
    cli, trader, _ = token_cli
    (made,) = trader.http.get("/account/tokens").json()["results"]
    assert trader.http.delete(f"/account/tokens/{made['lookup_id']}").status_code == 200
    code, _, err = cli("orders", "list")
    assert code == 4 and "revoked" in err


def test_auth_tokens_create_saves_0600_never_prints_it_then_list_and_revoke(
    sim: Any, capsys: Any, sim_cli_env: pytest.MonkeyPatch, sim_account: Any, tmp_path: Path
) -> None:
    priv, _, address = sim_account(sim)
    sim_cli_env.setenv("PARADEX_L2_PRIVATE_KEY", hex(priv))
    cli = Cli(capsys)
    target = tmp_path / "cron.token"
    code, out, err = cli("-o", "json", "auth", "tokens", "create", "--read-only",
                         "--name", "cron", "--save-to", str(target))  # fmt: skip
    assert code == 0, err
    made = json.loads(out)
    token = target.read_text().strip()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert token and token not in out + err and made["saved_to"] == str(target)
    # a second create never overwrites the file
    code, _, err = cli("auth", "tokens", "create", "--read-only", "--save-to", str(target))
    assert code == 2 and "the file exists" in err
    code, _, err = cli("auth", "tokens", "create", "--save-to", str(tmp_path / "x"))
    assert code == 2 and "--read-only" in err
    # the saved token works as a credential from a file
    sim_cli_env.delenv("PARADEX_L2_PRIVATE_KEY")
    sim_cli_env.setenv("PARADEX_API_TOKEN_FILE", str(target))
    code, out, err = cli("-o", "json", "status")
    assert code == 0 and json.loads(out)["account"] == address, err
    assert json.loads(out)["key_source"] == f"token file {target}"
    code, out, err = cli("-o", "json", "auth", "tokens", "list")
    assert code == 0, err
    assert [(t["lookup_id"], t["name"], t["revoked_at"]) for t in json.loads(out)] == [
        (made["lookup_id"], "cron", 0)
    ]
    assert token not in out
    sim_cli_env.delenv("PARADEX_API_TOKEN_FILE")
    sim_cli_env.setenv("PARADEX_L2_PRIVATE_KEY", hex(priv))
    code, out, err = cli("-o", "json", "auth", "tokens", "revoke", made["lookup_id"])
    assert code == 0 and json.loads(out) == {"lookup_id": made["lookup_id"], "revoked": True}, err
    listed = trader_tokens(sim, priv)
    assert [t["revoked_at"] > 0 for t in listed] == [True]
    code, _, err = cli("auth", "tokens", "revoke", "tok-unknown")
    assert code == 4 and "NOT_FOUND" in err


def trader_tokens(sim: Any, priv: int) -> list[dict[str, Any]]:
    """The tokens of the account of ``priv``, listed with its own login."""
    from paradexctl import signing
    from paradexctl.sim.auth import derive_address, norm_hex
    from paradexctl.sim.testing import SimAccount

    pub = norm_hex(signing.private_to_public(priv))
    acct = SimAccount(priv, pub, derive_address(pub))
    r = httpx.get(f"{sim.http_url}/account/tokens",
                  headers={"Authorization": f"Bearer {login(sim.http_url, acct)}"})  # fmt: skip
    return r.json()["results"]  # type: ignore[no-any-return]


def test_a_token_file_readable_by_others_is_refused(
    sim: Any, capsys: Any, sim_cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "loose.token"
    target.write_text("a.b.c\n")
    target.chmod(0o644)
    sim_cli_env.delenv("PARADEX_L2_PRIVATE_KEY", raising=False)
    sim_cli_env.setenv("PARADEX_API_TOKEN_FILE", str(target))
    code, _, err = Cli(capsys)("orders", "list")
    assert code == 3 and "token file" in err and "readable by group or others" in err


def test_a_token_beats_a_key_from_the_environment_but_not_a_key_file_flag(
    token_cli: Any, sim_account: Any, sim: Any, tmp_path: Path
) -> None:
    cli, trader, _ = token_cli
    priv, _, address = sim_account(sim)
    cli_env = os.environ
    assert "PARADEX_API_TOKEN" in cli_env
    os.environ["PARADEX_L2_PRIVATE_KEY"] = hex(priv)
    try:
        code, out, err = cli("-o", "json", "status")
        assert code == 0, err
        assert json.loads(out)["credential"] == "read-only token"
        assert json.loads(out)["account"] == trader.acct.address
        assert "using the token" in err
        code, _, err = cli("order", "cancel-all", "--market", BTC)
        assert code == 3 and "read-only API token" in err
    finally:
        del os.environ["PARADEX_L2_PRIVATE_KEY"]
    key_file = tmp_path / "k.key"
    key_file.write_text(hex(priv))
    key_file.chmod(0o600)
    # --key-file (a flag: more specific than any token) signs
    code, out, err = cli("-o", "json", "sign", "auth", "--key-file", str(key_file),
                         "--account", address)  # fmt: skip
    assert code == 0, err
    assert hex(priv)[2:] not in out + err


def test_a_token_for_another_account_than_account_address_is_exit_3(
    token_cli: Any, sim_cli_env: pytest.MonkeyPatch
) -> None:
    cli, _, _ = token_cli
    sim_cli_env.setenv("PARADEX_ACCOUNT_ADDRESS", "0x1234")
    code, _, err = cli("orders", "list")
    assert code == 3 and "the API token is for account" in err and "0x1234" in err


@pytest.mark.parametrize(
    ("token", "message"),
    [("tök€n", "only printable ASCII"), ("two words", "not one word"), ("\x07bell", "ASCII")],
)
def test_a_token_no_token_could_be_is_exit_3(
    sim: Any, capsys: Any, sim_cli_env: pytest.MonkeyPatch, token: str, message: str
) -> None:
    sim_cli_env.delenv("PARADEX_L2_PRIVATE_KEY", raising=False)
    sim_cli_env.setenv("PARADEX_API_TOKEN", token)
    code, _, err = Cli(capsys)("balances")
    assert code == 3 and message in err and "Traceback" not in err


def test_an_expired_token_is_exit_3_before_any_request(
    sim: Any, capsys: Any, sim_cli_env: pytest.MonkeyPatch
) -> None:
    import base64

    claims = base64.urlsafe_b64encode(b'{"sub": "0x1", "exp": 1000}').decode().rstrip("=")
    sim_cli_env.delenv("PARADEX_L2_PRIVATE_KEY", raising=False)
    sim_cli_env.setenv("PARADEX_API_TOKEN", f"e30.{claims}.sig")
    code, _, err = Cli(capsys)("-v", "positions")
    assert code == 3 and "the API token expired at 1970-01-01 00:16:40 UTC" in err
    assert not [ln for ln in err.splitlines() if ln.lstrip().startswith("> ")]


def test_a_token_command_is_run_and_never_shown_even_in_pieces(
    token_cli: Any, sim_cli_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cli, _, token = token_cli
    sim_cli_env.delenv("PARADEX_API_TOKEN")
    script = tmp_path / "tok.sh"
    script.write_text(f"#!/bin/sh\necho {token}\n")
    script.chmod(0o700)
    sim_cli_env.setenv("PARADEX_TOKEN_COMMAND", str(script))
    code, out, err = cli("-o", "json", "orders", "list")
    assert code == 0 and [o["client_id"] for o in json.loads(out)] == ["ro-1"], err
    # a failing command whose stderr holds the token in 12-character pieces
    half = len(token) // 2
    bad = tmp_path / "bad.sh"
    bad.write_text(
        f"#!/bin/sh\necho {token}\necho 'no luck: {token[:12]} {token[12:24]}' >&2\nexit 3\n"
    )
    bad.chmod(0o700)
    sim_cli_env.setenv("PARADEX_TOKEN_COMMAND", f"{bad} --token {token[:half]}")
    code, out, err = cli("-o", "json", "config", "show")
    code2, _, err2 = cli("orders", "list")
    assert code2 == 3 and "exited with status 3" in err2 and "no luck" in err2
    for piece in (token[:12], token[12:24], token[:half]):
        assert piece not in out + err + err2, piece

"""CLI tests with respx (the transport passed to ``main(transport=)``): prod safety and
the edge cases the sim cannot easily produce."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from conftest import write_profile

from paradexctl.cli.main import main

KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"
ADDRESS = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"
PROD = "https://api.prod.paradex.trade/v1"
MARKET = {
    "symbol": "BTC-USD-PERP",
    "price_tick_size": "0.1",
    "order_size_increment": "0.001",
    "min_notional": "10",
    "max_order_size": "100",
}


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", KEY)
    monkeypatch.setenv("PARADEX_ACCOUNT_ADDRESS", ADDRESS)
    for var in ("PARADEX_ENV", "PARADEX_API_URL", "PARADEXCTL_PROFILE", "PARADEX_SUBKEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def router(env):
    with respx.mock(base_url=PROD, assert_all_called=False) as r:
        # order entry reads the system state before signing (test_cli_status_e2e.py)
        r.get("/system/state").respond(200, json={"status": "ok"})
        _TRANSPORT[:] = [httpx.MockTransport(r.handler)]
        try:
            yield r
        finally:
            _TRANSPORT.clear()


#: the router fixture's transport, passed to main() (the CLI has no global seam)
_TRANSPORT: list[Any] = []


def run(capsys, *args):
    capsys.readouterr()
    code = main(list(args), transport=_TRANSPORT[0] if _TRANSPORT else None)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.parametrize(
    "args",
    [
        ["order", "place", "BTC-USD-PERP", "buy", "0.01", "--price", "90000"],
        ["order", "place", "BTC-USD-PERP", "sell", "0.01", "--type", "market"],
        ["order", "modify", "123", "--price", "90000"],
        ["order", "cancel", "123"],
        ["order", "cancel", "--client-id", "abc"],
        ["order", "cancel-all"],
        ["order", "cancel-all", "--market", "BTC-USD-PERP"],
        ["account", "onboard"],
    ],
)
def test_prod_without_tty_and_without_yes_sends_nothing(router, capsys, args):
    code, out, err = run(capsys, "--env", "prod", *args)
    assert code == 2
    assert "--yes" in err and "nothing was sent" in err
    assert router.calls.call_count == 0
    assert out == ""


def test_prod_batch_without_yes_sends_nothing(router, capsys, tmp_path):
    f = tmp_path / "b.ndjson"
    f.write_text('{"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "90000"}\n')
    code, _, _ = run(capsys, "--env", "prod", "order", "place", "--batch", str(f))
    assert code == 2 and router.calls.call_count == 0


def test_prod_with_yes_places(router, capsys):
    router.get("/markets").respond(200, json={"results": [MARKET]})
    router.post(url__regex=r".*/auth/0x[0-9a-f]+$").respond(
        200, json={"jwt_token": "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.x"}
    )
    post = router.post("/orders").mock(
        side_effect=lambda req: httpx.Response(
            201, json={**json.loads(req.content), "id": "77", "status": "NEW"}
        )
    )
    code, out, err = run(capsys, "--env", "prod", "-o", "json", "order", "place",
                         "BTC-USD-PERP", "buy", "0.01", "--price", "90000", "--yes")  # fmt: skip
    assert code == 0, err
    assert post.call_count == 1
    sent = json.loads(post.calls.last.request.content)
    assert sent["client_id"] == json.loads(out)["client_id"]
    assert sent["price"] == "90000" and sent["size"] == "0.01"


def test_prod_dry_run_needs_no_confirmation_and_posts_nothing(router, capsys):
    router.get("/markets").respond(200, json={"results": [MARKET]})
    code, out, _ = run(capsys, "--env", "prod", "-o", "json", "order", "place", "BTC-USD-PERP",
                       "buy", "0.01", "--price", "90000", "--dry-run")  # fmt: skip
    assert code == 0
    assert json.loads(out)["url"] == PROD + "/orders"
    assert [c.request.method for c in router.calls] == ["GET"]


def test_local_validation_happens_before_any_request(router, capsys):
    code, _, err = run(capsys, "--env", "prod", "order", "place", "BTC-USD-PERP", "buy", "0.01",
                       "--yes")  # fmt: skip
    assert code == 2 and "needs --price" in err
    assert router.calls.call_count == 0


def test_exchange_error_in_json_mode_carries_code(router, capsys):
    router.get("/bbo/BTC-USD-PERP").respond(
        400, json={"error": "MARKET_NOT_FOUND", "message": "market not found"}
    )
    code, _, err = run(capsys, "--env", "prod", "-o", "json", "bbo", "BTC-USD-PERP")
    assert code == 4
    e = json.loads(err)
    assert e["details"]["code"] == "MARKET_NOT_FOUND" and "market not found" in e["message"]


def test_batch_uncertain_exit_6_lists_unknown_client_ids(router, capsys, tmp_path, monkeypatch):
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), lookup_rounds=1)
    router.get("/markets").respond(200, json={"results": [MARKET]})
    router.post(url__regex=r".*/auth/0x[0-9a-f]+$").respond(
        200, json={"jwt_token": "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.x"}
    )
    router.post("/orders/batch").mock(side_effect=httpx.ReadTimeout("slow"))
    router.get(url__regex=r".*/orders/by_client_id/.*").respond(
        400, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": "-"}
    )
    router.get("/orders-history").respond(200, json={"results": []})
    f = tmp_path / "b.ndjson"
    f.write_text(
        '{"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "90000",'
        ' "client_id": "u-1"}\n'
    )
    code, out, err = run(capsys, "-o", "json", "--env", "prod", "order", "place", "--batch",
                         str(f), "--yes")  # fmt: skip
    assert code == 6
    assert json.loads(out)[0]["outcome"] == "unknown"
    assert "u-1" in err


def _batch_file(tmp_path, n, **extra):
    base = {"market": "BTC-USD-PERP", "side": "buy", "size": "0.01", "price": "90000"}
    f = tmp_path / "b.ndjson"
    f.write_text("".join(json.dumps({**base, "client_id": f"c-{i}", **extra}) + "\n"
                         for i in range(n)))  # fmt: skip
    return f


def _auth_and_markets(router):
    router.get("/markets").respond(200, json={"results": [MARKET]})
    router.post(url__regex=r".*/auth/0x[0-9a-f]+$").respond(
        200, json={"jwt_token": "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.x"}
    )


def _ack(req):
    body = json.loads(req.content)
    orders = [{**b, "id": "id-" + b["client_id"], "status": "NEW"} for b in body]
    return httpx.Response(201, json={"orders": orders, "errors": []})


def test_batch_unavailable_chunk_prints_every_row_then_exit_5(router, capsys, tmp_path,
                                                              monkeypatch):  # fmt: skip
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), retry_base_ms=0)
    _auth_and_markets(router)
    answers = iter([None])

    def batch(req):
        if next(answers, "refused") is None:
            return _ack(req)
        raise httpx.ConnectError("connection refused")

    post = router.post("/orders/batch").mock(side_effect=batch)
    f = _batch_file(tmp_path, 5)
    code, out, err = run(capsys, "-o", "json", "--env", "prod", "order", "place", "--batch",
                         str(f), "--chunk-size", "2", "--yes")  # fmt: skip
    assert code == 5, err
    rows = json.loads(out)
    assert [r["outcome"] for r in rows] == ["acknowledged"] * 2 + ["not_sent"] * 3
    assert [r["order_id"] for r in rows[:2]] == ["id-c-0", "id-c-1"]
    assert post.call_count == 1 + 4  # chunk 1, then chunk 2 four times (connect errors)
    e = json.loads(err.strip().splitlines()[-1])
    assert e["exit_code"] == 5 and "c-2, c-3, c-4" in e["message"]


def test_batch_unknown_and_not_sent_exit_6(router, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), retry_base_ms=0)
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), lookup_rounds=1)
    _auth_and_markets(router)
    calls = []

    def batch(req):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow")
        return httpx.Response(429, json={"error": "RATE_LIMITED", "message": "-"},
                              headers={"retry-after": "0"})  # fmt: skip

    router.post("/orders/batch").mock(side_effect=batch)
    router.get(url__regex=r".*/orders/by_client_id/.*").respond(
        400, json={"error": "CLIENT_ORDER_ID_NOT_FOUND", "message": "-"}
    )
    router.get("/orders-history").respond(200, json={"results": []})
    f = _batch_file(tmp_path, 3)
    code, out, err = run(capsys, "-o", "table", "--env", "prod", "order", "place", "--batch",
                         str(f), "--chunk-size", "2", "--yes")  # fmt: skip
    assert code == 6, err
    lines = [ln for ln in out.splitlines() if "│ c-" in ln]
    assert len(lines) == 3, out
    assert "unknown" in lines[0] and "unknown" in lines[1] and "not_sent" in lines[2]
    assert "c-0, c-1" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "1e400"])
def test_timeout_must_be_positive_and_finite_before_anything_is_sent(router, capsys, value):
    code, out, err = run(capsys, "--env", "prod", "order", "place", "BTC-USD-PERP", "buy",
                         "0.01", "--price", "90000", "--wait", "open", "--timeout", value,
                         "--yes")  # fmt: skip
    assert code == 2, err
    assert "--timeout" in err and "positive, finite" in err
    assert router.calls.call_count == 0 and out == ""


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--type", "market"], "--type"),
        (["--type", "limit"], "--type"),  # even the default, when given
        (["--tif", "ioc"], "--tif"),
        (["--reduce-only"], "--reduce-only"),
        (["--price", "90000"], "--price"),
        (["--trigger-price", "90000"], "--trigger-price"),
        (["--client-id", "x"], "--client-id"),
        (["--wait", "open"], "--wait"),
        (["--timeout", "5"], "--timeout"),
        (["--reduce-only", "--tif", "ioc"], "--tif, --reduce-only"),
    ],
)
def test_batch_refuses_single_order_options_instead_of_ignoring_them(router, capsys, tmp_path,
                                                                     flags, named):  # fmt: skip
    f = _batch_file(tmp_path, 1)
    code, out, err = run(capsys, "--env", "prod", "order", "place", "--batch", str(f), *flags,
                         "--yes")  # fmt: skip
    assert code == 2, err
    assert f"{named} cannot be used with --batch" in err
    assert router.calls.call_count == 0 and out == ""


def test_batch_refuses_positional_order_arguments(router, capsys, tmp_path):
    f = _batch_file(tmp_path, 1)
    code, _, err = run(capsys, "order", "place", "BTC-USD-PERP", "--batch", str(f))
    assert code == 2 and "give no MARKET" in err
    assert router.calls.call_count == 0


def test_wait_with_dry_run_is_refused(router, capsys):
    code, _, err = run(capsys, "order", "place", "BTC-USD-PERP", "buy", "0.01", "--price",
                       "90000", "--dry-run", "--wait", "open")  # fmt: skip
    assert code == 2 and "--wait cannot be used with --dry-run" in err
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["BTC-USD-PERP", "buy", "-0.01", "--price", "90000"],
         "size -0.01 is negative: sizes must be positive, the side (buy or sell) gives the "
         "direction (e.g. 'sell 0.01' instead of 'buy -0.01')"),
        (["BTC-USD-PERP", "sell", "--", "-1"], "'buy 1' instead of 'sell -1'"),
        (["BTC-USD-PERP", "buy", "0.01", "--pricee", "9"], "no such option: --pricee"),
        (["--pricee", "9", "BTC-USD-PERP", "buy", "0.01"], "no such option: --pricee"),
        (["BTC-USD-PERP", "buy", "0.01", "surplus"], "unexpected extra argument(s): surplus"),
    ],
)  # fmt: skip
def test_negative_size_and_unknown_options_have_clear_messages(router, capsys, args, needle):
    code, out, err = run(capsys, "--env", "prod", "order", "place", *args, "--yes")
    assert code == 2, err
    assert needle in err and out == ""
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("cid", "needle"),
    [
        ("", "client_id must not be empty"),
        ("a\x01b", "control character U+0001"),
        ("tab\there", "control character U+0009"),
        ("x" * 65, "65 bytes; at most 64"),
        ("é" * 33, "66 bytes; at most 64"),
    ],
)
def test_bad_client_ids_are_refused_before_anything_is_sent(router, capsys, tmp_path, cid,
                                                            needle):  # fmt: skip
    code, _, err = run(capsys, "--env", "prod", "order", "place", "BTC-USD-PERP", "buy", "0.01",
                       "--price", "90000", "--client-id", cid, "--yes")  # fmt: skip
    assert code == 2 and needle in err, err
    f = _batch_file(tmp_path, 1, client_id=cid)
    code, _, err = run(capsys, "--env", "prod", "order", "place", "--batch", str(f), "--yes")
    assert code == 2 and needle in err and ":1:" in err, err
    for cmd in (["order", "get"], ["order", "cancel", "--yes"]):
        code, _, err = run(capsys, "--env", "prod", *cmd, "--client-id", cid)
        assert code == 2 and needle in err, err
    assert router.calls.call_count == 0


def test_longest_client_id_is_accepted():
    from paradexctl.paradex.orders import check_client_id

    assert check_client_id("x" * 64) == "x" * 64
    assert check_client_id("é" * 32) == "é" * 32


@pytest.mark.parametrize(
    "args",
    [
        ["order", "place", "BTC-USD-PERP", "buy", "0.01", "--price", "90000", "--yes"],
        ["order", "place", "BTC-USD-PERP", "buy", "0.01", "--price", "90000", "--dry-run"],
        ["smoke", "--yes"],
    ],
)
def test_no_key_exits_3_before_any_request(router, capsys, monkeypatch, args):
    monkeypatch.delenv("PARADEX_L2_PRIVATE_KEY")
    code, _out, err = run(capsys, "--env", "prod", *args)
    assert code == 3, err
    assert "no private key" in err
    assert router.calls.call_count == 0


def test_no_key_batch_exits_3_before_any_request(router, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("PARADEX_L2_PRIVATE_KEY")
    f = _batch_file(tmp_path, 1)
    code, _, err = run(capsys, "--env", "prod", "order", "place", "--batch", str(f), "--yes")
    assert code == 3 and "no private key" in err
    assert router.calls.call_count == 0


def test_lower_case_market_is_normalised_and_signed_upper_case(router, capsys):
    router.get("/markets").respond(200, json={"results": [MARKET]})
    code, out, err = run(capsys, "--env", "prod", "-o", "json", "order", "place",
                         "btc-usd-perp", "buy", "0.01", "--price", "90000", "--dry-run")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["body"]["market"] == "BTC-USD-PERP"

"""``paradexctl sign``: the vectors' inputs (key and account from the environment) must print
the vectors' signatures, bodies and headers exactly; bad input exits 2, a bad key exits 3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from paradexctl.cli.main import main

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
KEY = "0x543b6cf6c91817a87174aaea4fb370ac1c694e864d7740d728f8344d53e815"
ADDRESS = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"
#: 2^251 + 17*2^192 + 1, one past the largest field element.
OUT_OF_RANGE_ADDRESS = "0x800000000000011000000000000000000000000000000000000000000000001"
ORDER_ARGS = ["--market", "BTC-USD-PERP", "--side", "BUY", "--size", "0.015"]


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", KEY)
    monkeypatch.setenv("PARADEX_ACCOUNT_ADDRESS", ADDRESS)
    for var in (
        "PARADEX_ENV",
        "PARADEX_API_URL",
        "PARADEXCTL_PROFILE",
        "PARADEX_SUBKEY",
        "PARADEX_L2_KEY_FILE",
        "PARADEX_KEY_COMMAND",
    ):
        monkeypatch.delenv(var, raising=False)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def sign_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "sign", *args, "-o", "json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def _vector(name: str) -> dict[str, Any]:
    path = VECTORS_DIR / name
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _check_signature(result: dict[str, Any], vec: dict[str, Any]) -> None:
    assert result["message_hash"] == vec["message_hash"]
    assert result["signature"]["r"] == vec["signature"]["r"]
    assert result["signature"]["s"] == vec["signature"]["s"]
    assert result["signature"]["r_hex"] == vec["signature"]["r_hex"]
    assert result["signature"]["s_hex"] == vec["signature"]["s_hex"]
    assert result["signature"]["value"] == vec["signature_header_value"]
    assert result["typed_data"] == vec["typed_data"]
    assert result["public_key"] == vec["account"]["l2_public_key"]
    assert result["account"] == vec["account"]["l2_address"]


@pytest.mark.parametrize(
    "name",
    ["order_limit_buy_btc_k2.json", "order_limit_sell_eth_k2.json", "order_market_buy_eth_k2.json"],
)
def test_sign_order_reproduces_vector(capsys: pytest.CaptureFixture[str], name: str) -> None:
    vec = _vector(name)
    inp = vec["inputs"]
    args = [
        "order",
        "--market",
        inp["market"],
        "--side",
        inp["side"].lower(),
        "--type",
        inp["type"],
        "--size",
        inp["size"],
        "--timestamp",
        str(inp["signature_timestamp_ms"]),
        "--client-id",
        inp["client_id"],
        "--instruction",
        inp["instruction"],
    ]
    if inp["type"] != "MARKET":
        args += ["--price", inp["price"]]
    if inp["reduce_only"]:
        args.append("--reduce-only")
    result = sign_json(capsys, *args)
    _check_signature(result, vec)
    assert result["request"] == {"method": "POST", "path": "/v1/orders"}
    expected = {k: v for k, v in vec["rest_body_POST_v1_orders"].items() if v is not None}
    assert result["body"] == expected


def test_sign_order_refuses_excess_precision(capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vector("order_limit_sell_btc_excess_precision_k2.json")
    inp = vec["inputs"]
    code, out, err = run(
        capsys,
        "sign",
        "order",
        "--market",
        inp["market"],
        "--side",
        inp["side"],
        "--size",
        inp["size"],
        "--price",
        "100000",
    )
    assert code == 2
    assert out == ""
    assert "0.123456789 has more than 8 decimal places" in err
    assert "nothing was signed" in err
    code, _, err = run(capsys, "sign", "order", *ORDER_ARGS, "--price", inp["price"])
    assert code == 2
    assert "100000.000000019" in err


def test_sign_modify_reproduces_vector(capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vector("modify_order_k2.json")
    inp = vec["inputs"]
    result = sign_json(
        capsys,
        "modify",
        "--order-id",
        inp["id"],
        "--market",
        inp["market"],
        "--side",
        inp["side"],
        "--type",
        inp["type"],
        "--size",
        inp["size"],
        "--price",
        inp["price"],
        "--timestamp",
        str(inp["signature_timestamp_ms"]),
        "--client-id",
        vec["rest_body_PUT_v1_orders_id"]["client_id"],
        "--instruction",
        vec["rest_body_PUT_v1_orders_id"]["instruction"],
    )
    _check_signature(result, vec)
    assert result["request"] == {"method": "PUT", "path": f"/v1/orders/{inp['id']}"}
    expected = {k: v for k, v in vec["rest_body_PUT_v1_orders_id"].items() if v is not None}
    assert result["body"] == expected


def test_sign_modify_body_without_optional_fields(capsys: pytest.CaptureFixture[str]) -> None:
    result = sign_json(
        capsys, "modify", "--order-id", "7", *ORDER_ARGS, "--price", "100", "--timestamp", "5"
    )
    assert result["body"] == {
        "id": "7",
        "market": "BTC-USD-PERP",
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.015",
        "price": "100",
        "signature": result["signature"]["value"],
        "signature_timestamp": 5,
    }


@pytest.mark.parametrize("order_type", ["STOP_LIMIT", "TAKE_PROFIT_LIMIT", "STOP_LOSS_LIMIT"])
def test_every_limit_type_signs_its_price(
    capsys: pytest.CaptureFixture[str], order_type: str
) -> None:
    base = ["order", *ORDER_ARGS, "--type", order_type, "--timestamp", "1"]
    result = sign_json(capsys, *base, "--price", "100", "--trigger-price", "99")
    assert result["body"]["price"] == "100"
    assert result["body"]["trigger_price"] == "99"
    assert result["typed_data"]["message"]["price"] == str(100 * 10**8)
    assert result["typed_data"]["message"]["orderType"] == order_type
    code, _, err = run(capsys, "sign", *base)
    assert code == 2 and f"a {order_type} order needs --price" in err


@pytest.mark.parametrize("order_type", ["MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"])
def test_market_types_sign_price_zero(capsys: pytest.CaptureFixture[str], order_type: str) -> None:
    result = sign_json(capsys, "order", *ORDER_ARGS, "--type", order_type, "--timestamp", "1")
    assert result["typed_data"]["message"]["price"] == "0"
    assert "price" not in result["body"]


def test_thousand_unit_market_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    result = sign_json(
        capsys,
        "order",
        "--market",
        "kBONK-USD-PERP",
        "--side",
        "BUY",
        "--size",
        "100",
        "--price",
        "0.02",
    )
    assert result["body"]["market"] == "kBONK-USD-PERP"


def test_sign_auth_reproduces_vector(capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vector("auth_k2.json")
    inp = vec["inputs"]
    result = sign_json(
        capsys,
        "auth",
        "--timestamp",
        str(inp["timestamp"]),
        "--expiration",
        str(inp["expiration"]),
    )
    _check_signature(result, vec)
    assert result["headers"] == vec["http_headers"]
    assert result["request"]["path"] == "/v1/auth/" + vec["account"]["l2_public_key"]


def test_sign_auth_default_expiration(capsys: pytest.CaptureFixture[str]) -> None:
    result = sign_json(capsys, "auth", "--timestamp", "1000")
    assert result["headers"]["PARADEX-SIGNATURE-EXPIRATION"] == str(1000 + 30 * 60)
    code, _, err = run(capsys, "sign", "auth", "--timestamp", "1000", "--expiration", "999")
    assert code == 2 and "before" in err


def test_sign_onboarding_reproduces_vector(capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vector("onboarding_k2.json")
    result = sign_json(
        capsys,
        "onboarding",
        "--ethereum-account",
        vec["http_headers"]["PARADEX-ETHEREUM-ACCOUNT"],
    )
    _check_signature(result, vec)
    assert result["headers"] == vec["http_headers"]
    assert result["body"] == {"public_key": vec["account"]["l2_public_key"]}


def test_chain_id_flag_accepts_name_or_hex(capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vector("onboarding_k2.json")
    by_hex = sign_json(
        capsys, "onboarding", "--chain-id", vec["account"]["chain"]["domain_chainId_hex"]
    )
    by_name = sign_json(capsys, "onboarding", "--chain-id", "PRIVATE_SN_POTC_SEPOLIA")
    assert by_hex["signature"] == by_name["signature"]
    assert by_hex["signature"]["value"] == vec["signature_header_value"]
    other = sign_json(capsys, "onboarding", "--chain-id", "PRIVATE_SN_PARACLEAR_MAINNET")
    assert other["message_hash"] != by_name["message_hash"]
    code, _, err = run(capsys, "sign", "onboarding", "--chain-id", "X" * 40)
    assert code == 2 and "chain-id" in err


def test_env_selects_default_chain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--env", "prod", "sign", "onboarding", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["chain_id"] == "PRIVATE_SN_PARACLEAR_MAINNET"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["order", *ORDER_ARGS], "needs --price"),
        (["order", *ORDER_ARGS, "--type", "MARKET", "--price", "1"], "do not pass --price"),
        (["order", "--market", "BTC-USD-PERP", "--side", "up", "--size", "1"], "BUY or SELL"),
        (["order", *ORDER_ARGS, "--price", "abc"], "not a decimal"),
        (["order", *ORDER_ARGS, "--price", "-1"], "non-negative"),
        (["order", *ORDER_ARGS, "--price", "NaN"], "non-negative finite"),
        (
            ["order", "--market", "M" * 20 + "-" + "M" * 20, *ORDER_ARGS[2:], "--price", "1"],
            "31",
        ),
        (["modify", "--order-id", "abc", *ORDER_ARGS, "--price", "1"], "numeric order id"),
        (["onboarding", "--account", "12345"], "0x-prefixed hex"),
        (
            ["onboarding", "--account", OUT_OF_RANGE_ADDRESS],
            "not a field element",
        ),
        (["order", *ORDER_ARGS[:-1], "0", "--price", "1"], "--size must be greater than 0"),
        (["order", *ORDER_ARGS[:-1], "0.000", "--type", "MARKET"], "--size must be greater"),
        (["order", *ORDER_ARGS, "--price", "0"], "--price must be greater than 0"),
        (["order", *ORDER_ARGS, "--price", "1", "--instruction", "bogus"], "GTC, POST_ONLY"),
        (
            ["order", "--market", "BTCUSD", "--side", "BUY", "--size", "1", "--price", "1"],
            "not a market symbol",
        ),
        (["order", *ORDER_ARGS, "--price", "1", "--chain-id", ""], "--chain-id is empty"),
        (["onboarding", "--chain-id", "  "], "--chain-id is empty"),
        (["modify", "--order-id", "1", *ORDER_ARGS[:-1], "0", "--price", "1"], "--size must be"),
        (["modify", "--order-id", "1", *ORDER_ARGS, "--price", "0"], "--price must be greater"),
        (
            ["modify", "--order-id", "1", *ORDER_ARGS, "--price", "1", "--instruction", "X"],
            "--instruction must be one of",
        ),
        (
            [
                "modify",
                "--order-id",
                "1",
                "--market",
                "eth_usd_perp",
                *ORDER_ARGS[2:],
                "--price",
                "1",
            ],
            "not a market symbol",
        ),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run(capsys, "sign", *args)
    assert code == 2, err
    assert out == ""
    assert needle in err


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("0x0", "zero"),
        ("0xnothex", "not a hexadecimal"),
        ("0x800000000000010ffffffffffffffffb781126dcae7b2321e66a241adc64d2f", "curve order"),
        ("0x9999999999999999999999999999999999999999999999999999999999999999", "curve order"),
    ],
)
def test_invalid_key_exits_3_without_echo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: str, problem: str
) -> None:
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", key)
    code, out, err = run(capsys, "sign", "order", *ORDER_ARGS, "--price", "1", "-o", "json")
    assert code == 3
    assert out == ""
    assert problem in json.loads(err)["message"]
    assert key[2:] not in err.lower() or len(key) < 6


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["order", *ORDER_ARGS, "--price", "0"], 2, "--price must be greater than 0"),
        (["modify", "--order-id", "x", *ORDER_ARGS, "--price", "1"], 2, "numeric order id"),
        (["auth", "--timestamp", "10", "--expiration", "5"], 2, "before"),
        (["onboarding", "--chain-id", ""], 2, "--chain-id is empty"),
    ],
)
def test_errors_are_json_on_stderr_with_command_level_json(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, needle: str
) -> None:
    rc, out, err = run(capsys, "sign", *args, "-o", "json")
    assert rc == code
    assert out == ""
    obj = json.loads(err)
    assert obj["exit_code"] == code
    assert needle in obj["message"]


def test_key_error_is_json_with_command_level_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", "0x0")
    for sub in (["onboarding"], ["auth"], ["order", *ORDER_ARGS, "--price", "1"]):
        rc, out, err = run(capsys, "sign", *sub, "-o", "json")
        assert rc == 3 and out == ""
        obj = json.loads(err)
        assert obj["exit_code"] == 3 and "zero" in obj["message"]


def test_missing_key_and_account_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARADEX_L2_PRIVATE_KEY")
    code, _, err = run(capsys, "sign", "onboarding")
    assert code == 3 and "no private key" in err
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", KEY)
    monkeypatch.delenv("PARADEX_ACCOUNT_ADDRESS")
    code, _, err = run(capsys, "sign", "onboarding")
    assert code == 3 and "account address" in err
    result = sign_json(capsys, "onboarding", "--account", ADDRESS)
    assert result["account"] == ADDRESS


def test_key_file_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vec = _vector("onboarding_k2.json")
    key_file = tmp_path / "k"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    result = sign_json(capsys, "onboarding", "--key-file", str(key_file))
    assert result["signature"]["value"] == vec["signature_header_value"]


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vector("auth_k2.json")
    inp = vec["inputs"]
    code, out, err = run(
        capsys,
        "sign",
        "auth",
        "--timestamp",
        str(inp["timestamp"]),
        "--expiration",
        str(inp["expiration"]),
        "-o",
        "table",
    )
    assert code == 0, err
    assert "PARADEX-STARKNET-SIGNATURE" in out
    assert vec["signature"]["r"][:20] in out
    assert KEY[2:] not in out


def test_sign_help_does_not_import_the_signer() -> None:
    code = (
        "import sys\n"
        "from paradexctl.cli.main import main\n"
        "rc = main(['sign', 'order', '--help'])\n"
        "assert not [m for m in sys.modules if m.startswith('paradexctl.signing')], 'signer'\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--market" in proc.stdout

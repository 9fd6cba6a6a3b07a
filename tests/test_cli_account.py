"""CLI helpers for the account commands: --since parsing, environment knobs, output shape."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from conftest import write_profile

from paradexctl.cli._session import parse_since
from paradexctl.cli.main import main
from paradexctl.errors import UsageError

NOW = 1_800_000_000_000
BASE = "https://api.testnet.paradex.trade/v1"
ADDRESS = "0x129c135ed63df9353885e292be4426b8ed6122b13c6c0e1bb787288a1f5adfa"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - 30 * 60_000),
        ("2h", NOW - 2 * 3_600_000),
        ("1.5d", NOW - 129_600_000),
        ("1700000000", 1_700_000_000_000),
        ("1700000000123", 1_700_000_000_123),
        ("2026-01-31T12:00:00Z", 1_769_860_800_000),
        ("2026-01-31T12:00:00", 1_769_860_800_000),
        ("2026-01-31T13:00:00+01:00", 1_769_860_800_000),
        (None, None),
    ],
)
def test_parse_since(text, expected):
    assert parse_since(text, NOW) == expected


def test_parse_since_rejects_garbage():
    with pytest.raises(UsageError) as ei:
        parse_since("last tuesday", NOW)
    assert "30m" in ei.value.message


@pytest.fixture
def router(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PARADEX_ENV", "testnet")
    monkeypatch.setenv("PARADEX_ACCOUNT_ADDRESS", ADDRESS)
    monkeypatch.setenv("PARADEX_L2_PRIVATE_KEY", "0x1234")
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), retry_base_ms=0)
    with respx.mock(base_url=BASE, assert_all_called=False) as r:
        r.post(url__regex=r".*/auth/0x[0-9a-f]+$").respond(
            200, json={"jwt_token": "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.x"}
        )
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


def test_fills_sends_start_at_and_follows_cursors(router, capsys):
    pages = iter([
        {"results": [{"id": "1"}, {"id": "2"}], "next": "c1"},
        {"results": [{"id": "3"}], "next": None},
    ])  # fmt: skip
    fills = router.get("/fills").mock(side_effect=lambda req: httpx.Response(200, json=next(pages)))
    code, out, err = run(capsys, "-o", "json", "fills", "--market", "BTC-USD-PERP",
                         "--since", "1700000000", "--limit", "3")  # fmt: skip
    assert code == 0, err
    assert [f["id"] for f in json.loads(out)] == ["1", "2", "3"]
    first = fills.calls[0].request.url.params
    assert first["market"] == "BTC-USD-PERP" and first["start_at"] == "1700000000000"
    assert fills.calls[1].request.url.params["cursor"] == "c1"


def test_retry_attempts_knob(router, capsys, monkeypatch):
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), retry_attempts=2)
    route = router.get("/balance").respond(503)
    code, _, err = run(capsys, "balances")
    assert code == 5 and route.call_count == 2 and "after 2 attempts" in err
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), retry_attempts="many")
    code, _, err = run(capsys, "balances")
    assert code == 2 and "retry_attempts = 'many' is not a number" in err


def test_ndjson_output_one_object_per_line(router, capsys):
    router.get("/balance").respond(
        200, json={"results": [{"token": "USDC", "size": "1.50"}, {"token": "ETH", "size": "2"}]}
    )
    code, out, _ = run(capsys, "balances", "-o", "ndjson")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"token": "USDC", "size": "1.50"},
        {"token": "ETH", "size": "2"},
    ]

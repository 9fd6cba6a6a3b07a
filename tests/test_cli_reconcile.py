"""``paradexctl reconcile --replay`` on the shipped recordings (``tests/data/reconcile_*.ndjson``):
byte-identical reports against the stored expected ones, the right exit codes, the table and
Prometheus outputs, and the usage errors. No network.

Most recordings were produced from the sim with a fault (``tests/test_cli_reconcile_sim.py``,
``PARADEXCTL_REGEN_DATA=1``); the shipped ``conflict`` and ``invariant_position`` ones are
built here by :func:`handmade` (``tests/data/README.md``), small and readable; the sim produces
both kinds too (``ws_mutate_orders``, ``/_sim/position-adjust``: tested live).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import write_profile

from paradexctl.cli.main import main
from paradexctl.core.recording import Mark, Meta, Record, RestSnapshot, WsFrame, to_line

DATA = Path(__file__).parent / "data"
RECORDINGS = sorted(p.name[len("reconcile_") : -len(".ndjson")]
                    for p in DATA.glob("reconcile_*.ndjson"))  # fmt: skip
BTC = "BTC-USD-PERP"
ACCOUNT = "0x5eed"


def run(capsys: Any, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "300")
    for var in ("PARADEXCTL_PROFILE", "PARADEX_ENV", "PARADEX_API_URL", "PARADEX_WS_URL"):
        monkeypatch.delenv(var, raising=False)


# -- hand-made recordings ------------------------------------------------------------------


def _order(status: str, remaining: str, updated: int, seq: int) -> dict[str, Any]:
    return {
        "id": "9001", "client_id": "hand-1", "account": ACCOUNT, "market": BTC, "side": "BUY",
        "type": "LIMIT", "size": "0.010", "remaining_size": remaining, "price": "30000",
        "status": status, "cancel_reason": "", "instruction": "GTC", "created_at": 1000,
        "last_updated_at": updated, "seq_no": seq,
    }  # fmt: skip


def _position(size: str, updated: int, seq: int) -> dict[str, Any]:
    return {
        "id": f"{ACCOUNT}-{BTC}", "account": ACCOUNT, "market": BTC, "status": "OPEN",
        "side": "LONG", "size": size, "average_entry_price": "30000", "created_at": 500,
        "last_updated_at": updated, "seq_no": seq,
    }  # fmt: skip


def _fill(fid: str, size: str, created: int) -> dict[str, Any]:
    return {
        "id": fid, "order_id": "9001", "account": ACCOUNT, "market": BTC, "side": "BUY",
        "liquidity": "MAKER", "price": "30000", "size": size, "fee": "0", "fill_type": "FILL",
        "realized_pnl": "0", "realized_funding": "0", "created_at": created,
    }  # fmt: skip


def _meta(entities: list[str]) -> Meta:
    return Meta({"tool": "paradexctl reconcile", "entities": entities, "market": None,
                 "window_ms": 1000, "grace_ms": 400, "handmade": True})  # fmt: skip


def handmade() -> dict[str, list[Record]]:
    """The recordings no sim fault can produce, built from the exchange's shapes."""
    conflict: list[Record] = [
        _meta(["orders"]),
        Mark("subscribed", {"at": 10_000, "attempt": 0}),
        RestSnapshot("orders", 10_000, 10_005, {"results": [_order("OPEN", "0.010", 9_000, 5)]}),
        Mark("window_start", {"at": 10_006}),
        # WS and REST disagree about the state at the same exchange time (11_000)
        WsFrame(11_010, "orders.ALL", _order("OPEN", "0.004", 11_000, 1_000_007)),
        Mark("window_end", {"at": 11_006}),
        Mark("grace_end", {"at": 11_406}),
        RestSnapshot("orders", 11_406, 11_410, {"results": [_order("OPEN", "0.005", 11_000, 6)]}),
        Mark("done", {"at": 11_411}),
    ]
    fills_params = {"start_at": 0}
    invariant_position: list[Record] = [
        _meta(["positions", "fills"]),
        Mark("subscribed", {"at": 10_000, "attempt": 0}),
        RestSnapshot("positions", 10_000, 10_004, {"results": [_position("0.020", 9_000, 3)]}),
        RestSnapshot("fills", 10_000, 10_006, {"results": []}, fills_params),
        Mark("window_start", {"at": 10_007}),
        # the position grows by 0.030, but only one fill of 0.010 exists anywhere
        WsFrame(10_510, "fills.ALL", _fill("f-1", "0.010", 10_500)),
        WsFrame(10_511, "positions", _position("0.050", 10_500, 1_000_004)),
        Mark("window_end", {"at": 11_007}),
        Mark("grace_end", {"at": 11_407}),
        RestSnapshot("positions", 11_407, 11_410, {"results": [_position("0.050", 10_500, 4)]}),
        RestSnapshot(
            "fills", 11_407, 11_412, {"results": [_fill("f-1", "0.010", 10_500)]}, fills_params
        ),
        Mark("done", {"at": 11_413}),
    ]
    return {"conflict": conflict, "invariant_position": invariant_position}


def test_handmade_recordings_are_the_shipped_ones():
    for name, records in handmade().items():
        text = "".join(to_line(r) + "\n" for r in records)
        path = DATA / f"reconcile_{name}.ndjson"
        if os.environ.get("PARADEXCTL_REGEN_DATA") == "1":
            path.write_text(text, encoding="utf-8")
        assert path.read_text(encoding="utf-8") == text


# -- replays of the shipped recordings -------------------------------------------------------


def test_one_recording_per_kind_is_shipped():
    assert {"clean", "stale_rest", "ws_gap", "missing_in_rest", "missing_in_ws", "conflict",
            "pending", "invariant_position", "invariant_balance"} <= set(RECORDINGS)  # fmt: skip


@pytest.mark.parametrize("name", RECORDINGS)
def test_replay_gives_the_stored_report_byte_for_byte(capsys, name, tmp_path, monkeypatch):
    if os.environ.get("PARADEXCTL_REGEN_DATA") == "1":
        code, out, _ = run(capsys, "-o", "json", "reconcile", "--replay",
                           str(DATA / f"reconcile_{name}.ndjson"))  # fmt: skip
        (DATA / f"reconcile_{name}.report.json").write_text(out, encoding="utf-8")
    expected = (DATA / f"reconcile_{name}.report.json").read_text(encoding="utf-8")
    want = json.loads(expected)
    for _ in range(2):  # and again: nothing carried over between runs
        code, out, err = run(capsys, "-o", "json", "reconcile", "--replay",
                             str(DATA / f"reconcile_{name}.ndjson"))  # fmt: skip
        assert out == expected
        assert code == want["exit_status"]
    # the kind the recording is named after is the one it shows
    total = want["counts"]["total"]
    if name in ("clean", "chaos"):
        assert code == 0 and want["failing"] == 0
    else:
        assert total[name] >= 1
        assert code == (0 if name == "pending" else 1)
        if code == 1:
            assert err.startswith('{"type": "error", "error": "check_failed", "exit_code": 1')


def test_each_kind_row_names_both_sides_and_the_rule(capsys):
    _, out, _ = run(capsys, "-o", "json", "reconcile", "--replay",
                    str(DATA / "reconcile_stale_rest.ndjson"))  # fmt: skip
    row = next(r for r in json.loads(out)["rows"] if r["kind"] == "stale_rest")
    assert row["ws"]["source"] == "ws" and row["rest"]["source"] == "rest"
    assert row["ws"]["value"]["status"] == "CLOSED" and row["rest"]["value"]["status"] == "OPEN"
    assert {"exchange_ts", "received_at", "seq_no"} <= set(row["ws"])
    assert row["rule"] and row["detail"]


def test_conflict_and_invariant_position_rows(capsys):
    code, out, _ = run(capsys, "-o", "json", "reconcile", "--replay",
                       str(DATA / "reconcile_conflict.ndjson"))  # fmt: skip
    row = json.loads(out)["rows"][0]
    assert code == 1 and row["kind"] == "conflict"
    assert row["ws"]["exchange_ts"] == row["rest"]["exchange_ts"] == 11_000
    assert row["ws"]["value"]["remaining_size"] != row["rest"]["value"]["remaining_size"]
    code, out, _ = run(capsys, "-o", "json", "reconcile", "--replay",
                       str(DATA / "reconcile_invariant_position.ndjson"))  # fmt: skip
    row = next(r for r in json.loads(out)["rows"] if r["kind"] == "invariant_position")
    assert code == 1
    assert row["extra"]["change"] == "0.030" and row["extra"]["fills_signed_sum"] == "0.010"


# -- options on a replay ---------------------------------------------------------------------


def test_options_default_to_the_recording_and_flags_override(capsys):
    rec = str(DATA / "reconcile_stale_rest.ndjson")
    _, out, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec)
    assert json.loads(out)["options"]["grace_ms"] == 400  # from the recording's header
    # a grace window longer than the whole run: the WS update is recent, so pending
    code, out, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec, "--grace", "60")
    report = json.loads(out)
    assert code == 0 and report["counts"]["total"]["pending"] == 1
    code, _, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec, "--grace", "60",
                     "--strict")  # fmt: skip
    assert code == 1


def test_entities_and_fail_on(capsys):
    rec = str(DATA / "reconcile_invariant_balance.ndjson")
    code, out, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec, "--entities", "orders")
    assert code == 0 and set(json.loads(out)["counts"]) == {"total", "orders"}
    code, out, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec,
                       "--fail-on", "orders,positions")  # fmt: skip
    assert code == 0 and json.loads(out)["counts"]["total"]["invariant_balance"] == 1
    code, _, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec, "--fail-on", "balances")
    assert code == 1


def test_market_restricts_orders_positions_fills_not_balances(capsys):
    rec = str(DATA / "reconcile_clean.ndjson")
    _, out, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec, "--show-matches",
                    "--market", "ETH-USD-PERP")  # fmt: skip
    report = json.loads(out)
    assert [(r["entity"], r["key"]) for r in report["rows"]] == [("balances", "USDC")]
    assert report["options"]["market"] == "ETH-USD-PERP"


def test_show_matches_lists_match_rows(capsys):
    rec = str(DATA / "reconcile_clean.ndjson")
    _, out, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec)
    assert json.loads(out)["rows"] == []
    _, out, _ = run(capsys, "-o", "json", "reconcile", "--replay", rec, "--show-matches")
    rows = json.loads(out)["rows"]
    assert rows and {r["kind"] for r in rows} == {"match"}


# -- table and Prometheus --------------------------------------------------------------------


def test_table_ends_with_the_verdict_line(capsys):
    code, out, err = run(capsys, "-o", "table", "reconcile", "--replay",
                         str(DATA / "reconcile_ws_gap.ndjson"))  # fmt: skip
    assert code == 1
    lines = out.rstrip("\n").splitlines()
    assert lines[-1].startswith("MISMATCH: 1 failing; ws_gap=1")
    assert "ws_gap" in out and "FAIL" in out and "status=CLOSED" in out
    assert err.startswith("paradexctl: reconcile: MISMATCH")
    code, out, err = run(capsys, "-o", "table", "reconcile", "--replay",
                         str(DATA / "reconcile_clean.ndjson"))  # fmt: skip
    assert code == 0 and out.splitlines() == ["CONSISTENT: 0 failing; match=4"] and err == ""


def test_table_puts_a_value_only_under_the_source_that_saw_it(capsys, tmp_path):
    """A fill only REST listed: its value is in the rest column, the ws column stays empty."""
    rec = tmp_path / "fill_rest_only.ndjson"
    records: list[Record] = [
        _meta(["fills"]),
        Mark("subscribed", {"at": 10_000, "attempt": 0}),
        RestSnapshot("fills", 10_000, 10_006, {"results": []}, {"start_at": 0}),
        RestSnapshot(
            "fills", 11_407, 11_412, {"results": [_fill("f-77", "0.010", 10_500)]}, {"start_at": 0}
        ),
        Mark("done", {"at": 11_413}),
    ]
    rec.write_text("".join(to_line(r) + "\n" for r in records), encoding="utf-8")
    code, out, _ = run(capsys, "-o", "table", "reconcile", "--replay", str(rec))
    assert code == 1
    header = next(ln for ln in out.splitlines() if "entity" in ln and "detail" in ln)
    names = [c.strip() for c in header.strip("┃ ").split("┃")]
    line = next(ln for ln in out.splitlines() if "f-77" in ln)
    cells = dict(zip(names, (c.strip() for c in line.strip("│ ").split("│")), strict=True))
    assert cells["kind"] == "missing_in_ws"
    assert cells["ws"] == ""
    assert "size=0.010" in cells["rest"] and "@10500" in cells["rest"]
    assert cells["rule"] == "new"


def test_prometheus_file(capsys, tmp_path):
    prom = tmp_path / "textfile" / "paradexctl.prom"
    prom.parent.mkdir()
    code, _, _ = run(capsys, "-o", "json", "reconcile", "--replay",
                     str(DATA / "reconcile_stale_rest.ndjson"), "--prometheus", str(prom))  # fmt: skip
    assert code == 1
    text = prom.read_text()
    assert 'paradexctl_reconcile_rows{entity="orders",kind="stale_rest"} 1' in text
    assert "paradexctl_reconcile_failing 1" in text
    assert "paradexctl_reconcile_exit_status 1" in text
    stamp = [ln for ln in text.splitlines() if ln.startswith("paradexctl_reconcile_last_run")]
    assert len(stamp) == 1 and int(stamp[0].split()[1]) > 1_700_000_000
    assert os.listdir(prom.parent) == ["paradexctl.prom"]  # no temporary file left behind
    for line in text.splitlines():  # every sample line is "name{labels} value"
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            assert name and value.isdigit()


# -- errors ----------------------------------------------------------------------------------


def test_usage_errors(capsys, tmp_path):
    rec = str(DATA / "reconcile_clean.ndjson")
    code, _, err = run(capsys, "reconcile", "--replay", str(tmp_path / "nope.ndjson"))
    assert code == 2 and "nope.ndjson" in err
    code, _, err = run(capsys, "reconcile", "--replay", rec, "--record", str(tmp_path / "x"))
    assert code == 2 and "cannot be combined" in err
    code, _, err = run(capsys, "reconcile", "--replay", rec, "--entities", "orders,trades")
    assert code == 2 and "trades" in err
    code, _, err = run(capsys, "reconcile", "--replay", rec, "--fail-on", "fills")
    assert code == 2 and "--fail-on" in err
    bad = tmp_path / "bad.ndjson"
    bad.write_text(Path(rec).read_text().splitlines()[0] + "\n{not json\n")
    code, _, err = run(capsys, "reconcile", "--replay", str(bad))
    assert code == 2 and "line 2" in err
    # valid JSON, but an order without a status: an unreadable row (issue 12), not a usage error
    malformed = tmp_path / "malformed.ndjson"
    malformed.write_text('{"v":1,"type":"ws","received_at":5,"channel":"orders.ALL",'
                         '"data":{"id":"1","last_updated_at":4}}\n')  # fmt: skip
    code, _, err = run(capsys, "reconcile", "--replay", str(malformed))
    assert code == 1 and "unreadable=1" in err
    code, _, err = run(capsys, "reconcile", "--replay", rec, "--prometheus",
                       str(tmp_path / "missing-dir" / "x.prom"))  # fmt: skip
    assert code == 2 and "--prometheus" in err


def test_unreachable_exchange_exits_5(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PARADEX_ENV", "local")
    monkeypatch.setenv("PARADEX_API_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PARADEX_WS_URL", "ws://127.0.0.1:9/v1")
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), ws_backoff_base_ms=1)
    write_profile(Path(os.environ["XDG_CONFIG_HOME"]), ws_backoff_cap_ms=5)
    prom = tmp_path / "r.prom"
    code, out, err = run(capsys, "reconcile", "--window", "0", "--grace", "0",
                         "--prometheus", str(prom))  # fmt: skip
    assert code == 5 and out == ""
    assert "WebSocket" in err
    text = prom.read_text()  # an alert can tell "unreachable" from "stale"
    assert "paradexctl_reconcile_exit_status 5" in text and "_rows{" not in text

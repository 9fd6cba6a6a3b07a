"""core.recording: the NDJSON record/replay format and its one path into the StateManager."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from paradexctl.core.recording import (
    Mark,
    Meta,
    RecordingError,
    RestSnapshot,
    WsFrame,
    apply_record,
    parse_line,
    read_records,
    to_line,
    updates_from_record,
    ws_channel_kind,
)
from paradexctl.core.state import Kind, Reason, Source, StateManager

T0 = 1_718_958_000_000


def order(oid: str, status: str = "OPEN", ts: int = T0, seq: int = 1, **extra):
    return {"id": oid, "market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT",
            "size": "0.100", "remaining_size": "0.100", "price": "70784.50", "status": status,
            "last_updated_at": ts, "seq_no": seq, **extra}  # fmt: skip


LINES = [
    '{"v":1,"type":"meta","tool":"paradexctl","env":"sim","grace_ms":5000}',
    '{"v":1,"type":"ws","received_at":1718958000010,"channel":"orders.ALL",'
    '"data":{"id":"a","market":"BTC-USD-PERP","side":"BUY","type":"LIMIT","size":"0.100",'
    '"price":"70784.50","status":"OPEN","last_updated_at":1718958000000,"seq_no":7}}',
    '{"v":1,"type":"rest","endpoint":"orders","boundary_at":1718958000020,'
    '"received_at":1718958000357,"params":{"market":"BTC-USD-PERP"},"data":{"results":[]}}',
    '{"v":1,"type":"mark","name":"window_end","at":1718958005000}',
]


def test_lines_round_trip_byte_for_byte():
    records = list(read_records(LINES))
    assert [type(r) for r in records] == [Meta, WsFrame, RestSnapshot, Mark]
    assert [to_line(r) for r in records] == LINES
    ws = records[1]
    assert isinstance(ws, WsFrame) and ws.data["size"] == "0.100"


def test_json_numbers_are_decimals_never_floats_and_survive():
    line = '{"v":1,"type":"ws","received_at":1,"channel":"x","data":{"p":1.10,"q":[2.500,3]}}'
    rec = parse_line(line)
    assert isinstance(rec, WsFrame) and rec.data["p"] == Decimal("1.10")
    assert to_line(rec) == line


def test_unicode_and_escapes_survive():
    rec = WsFrame(5, "orders.ALL", {"client_id": 'é"\n\u2028'})
    assert parse_line(to_line(rec)) == rec


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "invalid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"v":2,"type":"ws"}', "unsupported format version 2"),
        ('{"v":1,"type":"nope"}', "unknown record type 'nope'"),
        ('{"v":1,"type":"ws","received_at":"1","channel":"c","data":{}}', "'received_at'"),
        ('{"v":1,"type":"ws","received_at":1,"channel":"c"}', "no 'data'"),
        ('{"v":1,"type":"rest","endpoint":"orders","received_at":1,"data":{}}', "boundary_at"),
        ('{"v":1,"type":"ws","received_at":1,"channel":"c","data":{"x":NaN}}', "invalid JSON"),
    ],
)
def test_malformed_lines_name_the_problem_and_line(line, message):
    with pytest.raises(RecordingError, match=message):
        parse_line(line)
    with pytest.raises(RecordingError, match="line 2"):
        list(read_records([LINES[0], line]))


def test_mark_without_version_is_accepted_and_blank_lines_skipped():
    recs = list(read_records(['{"type":"mark","name":"window_end"}', "", "\n"]))
    assert recs == [Mark("window_end", {})]


def test_meta_refuses_secret_looking_fields():
    with pytest.raises(RecordingError, match="secret"):
        to_line(Meta({"jwt": "eyJ..."}))
    with pytest.raises(RecordingError, match="secret"):
        to_line(Meta({"l2_private_key": "0x1"}))


def test_channel_mapping():
    assert ws_channel_kind("orders.ALL") is Kind.ORDER
    assert ws_channel_kind("orders.BTC-USD-PERP") is Kind.ORDER
    assert ws_channel_kind("fills.ALL") is Kind.FILL
    assert ws_channel_kind("positions") is Kind.POSITION
    assert ws_channel_kind("account") is Kind.ACCOUNT
    assert ws_channel_kind("balance_events") is Kind.BALANCE
    assert ws_channel_kind("tradebusts") is Kind.TRADEBUST
    assert ws_channel_kind("bbo.BTC-USD-PERP") is None


def test_updates_from_ws_and_rest_records():
    (u,) = updates_from_record(WsFrame(T0 + 10, "orders.ALL", order("a")), replayed=True)
    assert (u.kind, u.source, u.key, u.received_at, u.replayed) == (
        Kind.ORDER, Source.WS, "a", T0 + 10, True)  # fmt: skip
    ev = {"settlement_asset_name": "USDC", "settlement_asset_balance_after": "5", "created_at": 9}
    (b,) = updates_from_record(WsFrame(T0, "balance_events", ev))
    assert b.kind is Kind.BALANCE and b.payload["size"] == "5" and b.exchange_ts == 9
    rest = RestSnapshot("positions", T0, T0 + 5, {"results": [{"market": "M", "size": "1"}]})
    (p,) = updates_from_record(rest)
    assert p.kind is Kind.POSITION and p.source is Source.REST
    assert updates_from_record(RestSnapshot("markets", T0, T0, {"results": []})) == []
    assert updates_from_record(WsFrame(T0, "bbo.X", {})) == []
    assert updates_from_record(Mark("x")) == []
    with pytest.raises(RecordingError, match="results"):
        updates_from_record(RestSnapshot("fills", T0, T0, {"oops": 1}))


def test_apply_record_is_the_one_path_listings_lookups_and_frames():
    sm = StateManager()
    apply_record(sm, WsFrame(T0 + 10, "orders.ALL", order("a")))
    apply_record(sm, WsFrame(T0 + 11, "orders.ALL", order("b", market="ETH-USD-PERP")))
    ds = apply_record(
        sm,
        RestSnapshot("orders", T0 + 100, T0 + 400, {"results": []}, {"market": "BTC-USD-PERP"}),
    )
    assert [(d.key, d.reason) for d in ds] == [("a", Reason.UNCONFIRMED)]
    lookup = RestSnapshot(
        "order", T0 + 500, T0 + 10_000, order("a", "CLOSED", T0 + 50, 3), {"order_id": "a"}
    )
    (d,) = apply_record(sm, lookup)
    assert d.accepted and sm.is_terminal("a") and sm.unconfirmed == frozenset()
    (nf,) = apply_record(sm, RestSnapshot("order", T0, T0 + 1, None, {"order_id": "zz"}))
    assert nf.reason is Reason.NOT_FOUND
    (acct,) = apply_record(sm, RestSnapshot("account", T0, T0 + 1, {"updated_at": 1}))
    assert acct.kind is Kind.ACCOUNT and acct.accepted


def test_replay_gives_the_same_decisions_as_live():
    lines = [to_line(r) for r in [
        WsFrame(T0 + 10, "orders.ALL", order("a", seq=2, ts=T0 + 5)),
        RestSnapshot("orders", T0 + 1, T0 + 357, {"results": [order("a", seq=1)]}),
        WsFrame(T0 + 20, "orders.ALL", order("a", "CLOSED", T0 + 15, 3)),
        RestSnapshot("orders", T0 + 30, T0 + 400, {"results": [order("a", seq=2, ts=T0 + 5)]}),
    ]]  # fmt: skip

    def run(replayed: bool) -> str:
        sm = StateManager()
        out = []
        for rec in read_records(lines):
            for d in apply_record(sm, rec, replayed=replayed):
                j = d.to_json()
                j.pop("replayed", None)
                out.append(j)
        return json.dumps([out, sm.snapshot()], sort_keys=True)

    live, replay = run(False), run(True)
    assert live == replay
    assert [d["reason"] for d in json.loads(live)[0]] == ["new", "ws_recent", "newer", "terminal"]


# -- hostile lines (issue 11) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("[" * 50_000 + "]" * 50_000, id="deep-array"),
        pytest.param('{"a":' * 50_000 + "1" + "}" * 50_000, id="deep-object"),
        pytest.param("[" * 50_000, id="deep-unterminated"),
    ],
)
def test_a_line_nested_50000_levels_deep_is_a_recording_error(data):
    line = '{"v":1,"type":"ws","received_at":1,"channel":"orders.ALL","data":' + data + "}"
    with pytest.raises(RecordingError, match=r"line 2: invalid JSON.*nested deeper than 64"):
        list(read_records([LINES[0], line]))
    with pytest.raises(RecordingError, match="nested deeper than 64"):
        parse_line(line.encode())


def test_a_line_at_the_nesting_limit_is_read():
    data = "[" * 63 + "1" + "]" * 63  # the record object itself is the 64th level
    line = '{"v":1,"type":"ws","received_at":1,"channel":"c","data":' + data + "}"
    assert isinstance(parse_line(line), WsFrame)
    with pytest.raises(RecordingError, match="nested deeper"):
        parse_line(line.replace("[1]", "[[1]]"))


def test_bad_utf8_in_a_line_is_a_recording_error():
    with pytest.raises(RecordingError, match="invalid JSON"):
        parse_line(b'{"v":1,"type":"mark","name":"\xff"}')
